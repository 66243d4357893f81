//! Releasing a captured message to a real SMTP server, only ever on an explicit request:
//! the sink itself never delivers anything onward.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

/// Release failures.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("invalid SMTP server `{0}`: expected HOST:PORT")]
    Server(String),
    #[error("invalid address: {0}")]
    Address(String),
    #[error("the SMTP server refused the message or could not be reached: {0}")]
    Send(String),
}

/// STARTTLS towards the server released to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsChoice {
    /// Plain SMTP.
    None,
    /// STARTTLS when the server offers it.
    #[default]
    Opportunistic,
    /// STARTTLS or fail.
    Required,
}

/// The SMTP server to release to, and how to talk to it.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `host:port`.
    pub server: String,
    pub tls: TlsChoice,
    /// Accept any certificate (a test server's self-signed one).
    pub insecure: bool,
    /// AUTH user and password.
    pub credentials: Option<(String, String)>,
}

/// Sends `raw` unchanged to `target` from `from` to `to`; returns the server's reply.
pub async fn release(
    raw: &[u8],
    from: &str,
    to: &[String],
    target: &Target,
) -> Result<String, ReleaseError> {
    let server = target.server.as_str();
    let (host, port) = server
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>().ok()?,
            ))
        })
        .ok_or_else(|| ReleaseError::Server(server.to_owned()))?;
    let from = if from.is_empty() {
        None
    } else {
        Some(
            from.parse()
                .map_err(|e| ReleaseError::Address(format!("`{from}`: {e}")))?,
        )
    };
    let to = to
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| ReleaseError::Address(format!("`{a}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(from, to).map_err(|e| ReleaseError::Address(e.to_string()))?;
    let params = || {
        TlsParameters::builder(host.to_owned())
            .dangerous_accept_invalid_certs(target.insecure)
            .dangerous_accept_invalid_hostnames(target.insecure)
            .build()
            .map_err(|e| ReleaseError::Server(format!("{server}: {e}")))
    };
    let tls = match target.tls {
        TlsChoice::None => Tls::None,
        TlsChoice::Opportunistic => Tls::Opportunistic(params()?),
        TlsChoice::Required => Tls::Required(params()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let Some((user, password)) = &target.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let transport = builder.build();
    // lettre ends the data with CRLF "." CRLF whatever the message ends with; a message that
    // already ends in CRLF would arrive with one more, so that one is left to lettre.
    let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let response = transport
        .send_raw(&envelope, body)
        .await
        .map_err(|e| ReleaseError::Send(e.to_string()))?;
    Ok(format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}
