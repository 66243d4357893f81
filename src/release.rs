//! Releasing a captured message to a real SMTP server, only ever on an explicit request:
//! the sink itself never delivers anything onward.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

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

/// Sends `raw` unchanged to `server` (`host:port`, plain SMTP or STARTTLS if offered and
/// verifiable) from `from` to `to`; returns the server's reply.
pub async fn release(
    raw: &[u8],
    from: &str,
    to: &[String],
    server: &str,
) -> Result<String, ReleaseError> {
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
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .timeout(Some(Duration::from_secs(30)))
        .build();
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
