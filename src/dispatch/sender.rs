//! Sending over SMTP with lettre (pooled connections, optional STARTTLS and AUTH), with
//! retries on temporary failures (4xx replies, connection errors): exponential backoff with
//! jitter, up to a limit, switching to a fallback server when the primary stays unreachable.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;
use tokio::sync::watch;

/// How to reach one SMTP server.
#[derive(Debug, Clone)]
pub struct Server {
    /// `host:port`.
    pub addr: String,
    pub tls: TlsMode,
    /// Accept any certificate (a test server's self-signed one).
    pub insecure: bool,
    pub auth: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP.
    None,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS or fail.
    Required,
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
    /// Connection failures in a row after which the fallback server is tried.
    pub fallback_after: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 8,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
            fallback_after: 2,
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A 5xx reply: the server will never take it.
    Permanent(String),
    /// Temporary failures until the attempts ran out.
    Exhausted(String),
    /// Shutting down: not sent, to be redelivered.
    Stopped,
}

/// What a successful send took.
#[derive(Debug, Clone)]
pub struct Sent {
    pub attempts: u32,
    pub via_fallback: bool,
    pub reply: String,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid SMTP server `{0}`: expected HOST:PORT")]
pub struct ServerError(pub String);

struct Transport {
    addr: String,
    smtp: AsyncSmtpTransport<Tokio1Executor>,
}

pub struct Sender {
    primary: Transport,
    fallback: Option<Transport>,
    retry: Retry,
}

impl Sender {
    pub fn new(
        primary: &Server,
        fallback: Option<&Server>,
        retry: Retry,
    ) -> Result<Self, ServerError> {
        Ok(Self {
            primary: transport(primary)?,
            fallback: fallback.map(transport).transpose()?,
            retry,
        })
    }

    /// Whether the primary server answers (for readiness).
    pub async fn reachable(&self) -> bool {
        self.primary.smtp.test_connection().await.unwrap_or(false)
    }

    /// Sends `raw` to the envelope's recipients, retrying temporary failures.
    pub async fn send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Sent, Failure> {
        let mut unreachable_in_a_row = 0;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts {
            let use_fallback =
                self.fallback.is_some() && unreachable_in_a_row >= self.retry.fallback_after;
            let target = if use_fallback {
                self.fallback.as_ref().expect("checked")
            } else {
                &self.primary
            };
            match target.smtp.send_raw(envelope, raw).await {
                Ok(response) => {
                    let reply = format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    );
                    return Ok(Sent {
                        attempts: attempt,
                        via_fallback: use_fallback,
                        reply,
                    });
                }
                Err(e) if e.is_permanent() => {
                    return Err(Failure::Permanent(describe(&target.addr, &e)));
                }
                Err(e) => {
                    // A 4xx means the server is there but busy; anything else, not reachable.
                    if e.is_transient() {
                        unreachable_in_a_row = 0;
                    } else {
                        unreachable_in_a_row += 1;
                    }
                    last = describe(&target.addr, &e);
                    tracing::debug!(attempt, error = %last, "temporary SMTP failure, will retry");
                }
            }
            if attempt == self.retry.attempts {
                break;
            }
            let delay = self.backoff(attempt);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return Err(Failure::Stopped),
            }
        }
        Err(Failure::Exhausted(format!(
            "{} attempts, last: {last}",
            self.retry.attempts
        )))
    }

    /// Exponential backoff with jitter: a random delay in the upper half of `base * 2^n`,
    /// capped, so retries from many partitions do not arrive together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry.base.saturating_mul(1 << (attempt - 1).min(20));
        let ceiling = exp.min(self.retry.max);
        let half = ceiling / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

fn describe(addr: &str, e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("{addr} replied {code}: {e}"),
        None => format!("{addr}: {e}"),
    }
}

fn transport(server: &Server) -> Result<Transport, ServerError> {
    let (host, port) = server
        .addr
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>().ok()?,
            ))
        })
        .ok_or_else(|| ServerError(server.addr.clone()))?;
    let params = || {
        TlsParameters::builder(host.to_owned())
            .dangerous_accept_invalid_certs(server.insecure)
            .dangerous_accept_invalid_hostnames(server.insecure)
            .build()
            .map_err(|_| ServerError(server.addr.clone()))
    };
    let tls = match server.tls {
        TlsMode::None => Tls::None,
        TlsMode::Opportunistic => Tls::Opportunistic(params()?),
        TlsMode::Required => Tls::Required(params()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let Some((user, password)) = &server.auth {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(Transport {
        addr: server.addr.clone(),
        smtp: builder.build(),
    })
}
