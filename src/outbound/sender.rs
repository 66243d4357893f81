//! Sending over SMTP with lettre (reused connections, optional STARTTLS and AUTH), with
//! retries on temporary failures (4xx replies, connection errors): exponential backoff with
//! jitter, up to a limit, switching to a fallback server when the primary stays unreachable.

use std::time::Duration;

use std::sync::Mutex;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::value::HostPort;

/// How to reach one SMTP server.
#[derive(Debug, Clone)]
pub struct Relay {
    pub addr: HostPort,
    pub tls: TlsMode,
    /// Accept any certificate (a test server's self-signed one).
    pub insecure: bool,
    pub auth: Option<(String, String)>,
}

/// STARTTLS towards a server mail is sent to (dispatch's, a release target).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain SMTP.
    None,
    /// STARTTLS when the server offers it.
    #[default]
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

/// How one attempt failed.
enum Attempt {
    /// 5xx.
    Permanent(String),
    /// 4xx: the server is there but not now.
    Busy(String),
    /// No answer: connection refused, reset, timed out, TLS failed.
    Unreachable(String),
}

/// One server, with the connections to it that are idle.
struct Transport {
    server: Relay,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
}

pub struct Sender {
    primary: Transport,
    fallback: Option<Transport>,
    retry: Retry,
}

impl Sender {
    pub fn new(primary: &Relay, fallback: Option<&Relay>, retry: Retry) -> Self {
        Self {
            primary: Transport::new(primary),
            fallback: fallback.map(Transport::new),
            retry,
        }
    }

    /// Whether the primary server answers (for readiness).
    pub async fn reachable(&self) -> bool {
        match self.primary.connect().await {
            Ok(mut conn) => {
                let _ = conn.quit().await;
                true
            }
            Err(_) => false,
        }
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
            match target.send(envelope, raw).await {
                Ok(reply) => {
                    return Ok(Sent {
                        attempts: attempt,
                        via_fallback: use_fallback,
                        reply,
                    });
                }
                Err(Attempt::Permanent(reply)) => return Err(Failure::Permanent(reply)),
                Err(Attempt::Busy(reply)) => {
                    unreachable_in_a_row = 0;
                    last = reply;
                }
                Err(Attempt::Unreachable(reason)) => {
                    unreachable_in_a_row += 1;
                    last = reason;
                }
            }
            tracing::debug!(attempt, error = %last, "temporary SMTP failure, will retry");
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

impl Transport {
    fn new(server: &Relay) -> Self {
        Self {
            server: server.clone(),
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A new connection: TCP with Nagle off (lettre writes the final `.` on its own, and
    /// Nagle with delayed ACKs would hold it for 40 ms), EHLO, STARTTLS, AUTH.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Attempt> {
        let unreachable =
            |e: &dyn std::fmt::Display| Attempt::Unreachable(format!("{}: {e}", self.server.addr));
        let stream = tokio::time::timeout(
            Duration::from_secs(30),
            TcpStream::connect((self.server.addr.host.as_str(), self.server.addr.port)),
        )
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&e))?;
        let _ = stream.set_nodelay(true);
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(|e| self.classify(&e))?;
        let tls = match self.server.tls {
            TlsMode::None => false,
            TlsMode::Opportunistic => conn.can_starttls(),
            TlsMode::Required => true,
        };
        if tls {
            let params = TlsParameters::builder(self.server.addr.host.clone())
                .dangerous_accept_invalid_certs(self.server.insecure)
                .dangerous_accept_invalid_hostnames(self.server.insecure)
                .build()
                .map_err(|e| unreachable(&e))?;
            conn.starttls(params, &self.hello)
                .await
                .map_err(|e| self.classify(&e))?;
        }
        if let Some((user, password)) = &self.server.auth {
            let credentials = Credentials::new(user.clone(), password.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| self.classify(&e))?;
        }
        Ok(conn)
    }

    /// One attempt, on an idle connection when there is one. A reused connection the
    /// server has since closed gets one immediate retry on a fresh one.
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<String, Attempt> {
        let reused = self.idle.lock().expect("idle lock").pop();
        let fresh = reused.is_none();
        let mut conn = match reused {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match conn.send(envelope, raw).await {
            Ok(response) => {
                self.idle.lock().expect("idle lock").push(conn);
                Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ))
            }
            Err(e) => {
                conn.abort().await;
                let attempt = self.classify(&e);
                if !fresh && matches!(attempt, Attempt::Unreachable(_)) {
                    let mut conn = self.connect().await?;
                    let response = conn
                        .send(envelope, raw)
                        .await
                        .map_err(|e| self.classify(&e))?;
                    self.idle.lock().expect("idle lock").push(conn);
                    return Ok(format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    ));
                }
                Err(attempt)
            }
        }
    }

    fn classify(&self, e: &lettre::transport::smtp::Error) -> Attempt {
        let text = match e.status() {
            Some(code) => format!("{} replied {code}: {e}", self.server.addr),
            None => format!("{}: {e}", self.server.addr),
        };
        if e.is_permanent() {
            Attempt::Permanent(text)
        } else if e.is_transient() {
            Attempt::Busy(text)
        } else {
            Attempt::Unreachable(text)
        }
    }
}
