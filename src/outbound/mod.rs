//! Mail leaving mailtest for an SMTP server: the sender with retries and a fallback server
//! (dispatch's path), releasing a captured message to an operator's target, and `produce
//! --fallback-smtp`'s path straight from events to SMTP when Kafka is down. The sink itself
//! never sends: only these do, each on an explicit setting.

pub mod fallback;
pub mod release;
pub mod sender;

/// An HTTP client builder (`verify`'s reads of a sink, Mailpit's link check). TLS uses
/// rustls with *ring*, the provider the rest of mailtest uses, made the process default
/// here once, since reqwest asks for a default.
pub fn http_client() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Another default installed first (by an embedding program) is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}
