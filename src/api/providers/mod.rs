//! Email providers' send APIs on the sink's HTTP port, under the providers' own paths, so
//! a service that sends through SendGrid, Amazon SES, Postmark, Resend or Mailgun is tested
//! by pointing its SDK's endpoint at the sink. Each send is built into the MIME the
//! provider would deliver and stored like an SMTP capture, with the provider and what the
//! request carried besides the mail (tags, categories, custom arguments, template) kept in
//! its envelope. Requests are authenticated as each provider does (any key, unless
//! `--provider-key` names the accepted ones), answered in the provider's formats, and the
//! sink's fault rules can answer with each provider's throttling or server error.

mod mailgun;
mod postmark;
mod resend;
mod sendgrid;
mod ses;
mod ses_query;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;

use super::AppState;
use crate::mail::Incoming;
use crate::smtp::faults::Moment;

/// A key `--provider-key NAME=KEY` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderKey {
    pub name: String,
    pub key: String,
}

/// The providers' routes; each takes requests up to its provider's size limit.
pub fn routes() -> Router<AppState> {
    const MIB: usize = 1 << 20;
    Router::new()
        .route(
            "/v3/{domain}/messages",
            post(mailgun::messages).layer(DefaultBodyLimit::max(25 * MIB + MIB)),
        )
        .route(
            "/v3/{domain}/messages.mime",
            post(mailgun::mime).layer(DefaultBodyLimit::max(25 * MIB + MIB)),
        )
        .route(
            "/v3/mail/send",
            post(sendgrid::send).layer(DefaultBodyLimit::max(30 * MIB + MIB)),
        )
        .route(
            "/email",
            post(postmark::send).layer(DefaultBodyLimit::max(10 * MIB + MIB)),
        )
        .route(
            "/email/batch",
            post(postmark::batch).layer(DefaultBodyLimit::max(50 * MIB)),
        )
        .route(
            "/emails",
            post(resend::send).layer(DefaultBodyLimit::max(40 * MIB + MIB)),
        )
        .route(
            "/emails/batch",
            post(resend::batch).layer(DefaultBodyLimit::max(40 * MIB + MIB)),
        )
        .route(
            "/",
            post(ses_query::query).layer(DefaultBodyLimit::max(40 * MIB + MIB)),
        )
        .route(
            "/v2/email/outbound-emails",
            post(ses::send_v2).layer(DefaultBodyLimit::max(40 * MIB + MIB)),
        )
}

/// Who sent: the key's name when keys are restricted, else the key itself, which then
/// also names the mailbox, as an SMTP AUTH user does.
pub enum Caller {
    Known(Option<String>),
    /// No key given.
    Missing,
    /// A key that is not among those accepted.
    Refused,
}

/// Checks `key` (as the request gave it) against the accepted keys.
pub fn caller(state: &AppState, key: Option<&str>) -> Caller {
    let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
        return Caller::Missing;
    };
    let keys = &state.settings.provider_keys;
    if keys.is_empty() {
        return Caller::Known(Some(key.to_owned()));
    }
    match keys.iter().find(|k| k.key == key) {
        Some(k) => Caller::Known(Some(k.name.clone())),
        None => Caller::Refused,
    }
}

/// What a fault rule asks of a send, if one fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The provider's rate-limit answer.
    Throttle,
    /// The provider's server error.
    Error,
}

/// Runs the sink's fault rules for a send of `provider` to `first` (its first recipient)
/// of `size` bytes; waits a rule's delay first.
pub async fn fault(
    state: &AppState,
    provider: &str,
    first: Option<&str>,
    size: usize,
) -> Option<Fault> {
    let effect = state.faults.check(&Moment {
        on: provider,
        address: first,
        size: Some(size as u64),
    })?;
    if let Some(delay) = effect.delay {
        tokio::time::sleep(delay).await;
    }
    match effect.api.as_deref() {
        Some("throttle") => Some(Fault::Throttle),
        Some("error") => Some(Fault::Error),
        _ => None,
    }
}

/// Stores a send; the new message's id.
pub async fn store(state: &AppState, incoming: Incoming) -> Result<u64, String> {
    let store = state.store.clone();
    let stored = tokio::task::spawn_blocking(move || store.insert(incoming))
        .await
        .map_err(|e| e.to_string())?;
    stored.map(|s| s.id).map_err(|e| e.to_string())
}

/// A list of `{name, value}` objects (`name` and `value` as the provider spells them) as
/// pairs, in order: tags, headers. Entries without a string name are left out.
pub fn pairs(
    list: &serde_json::Value,
    name: &str,
    value: &str,
) -> Vec<(String, serde_json::Value)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e[name].as_str()?.to_owned(), e[value].clone())))
        .collect()
}

/// Pairs whose values are text, as headers are.
pub fn text_pairs(list: &serde_json::Value, name: &str, value: &str) -> Vec<(String, String)> {
    pairs(list, name, value)
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
        .collect()
}

/// A provider-style id: `len` random lowercase letters and digits.
pub fn random_id(len: usize) -> String {
    let uuid =
        uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string();
    uuid[..len.min(uuid.len())].to_owned()
}
