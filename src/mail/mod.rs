//! Mail as mailtest holds it, apart from any protocol: the envelope and the incoming message
//! a session hands on, the [`Deliver`] seam between SMTP (or any ingest) and the store, and
//! (in `parsed`) a stored message parsed into headers, bodies, attachments, links and lints.

pub mod compose;
pub mod parsed;
pub mod thumb;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// The SMTP envelope and session facts of one message: what headers cannot tell (BCC
/// recipients, the client, ESMTP extensions used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The reverse path; empty for the null sender `<>`.
    pub mail_from: String,
    /// Every RCPT TO, in order, including those in no header (BCC).
    pub rcpt_to: Vec<String>,
    /// The EHLO or HELO name.
    pub helo: String,
    pub esmtp: bool,
    pub smtputf8: bool,
    pub body_8bit: bool,
    /// A line of the message ended in a bare LF instead of CR LF (a client bug: RFC 5321
    /// 2.3.8); the message is kept byte for byte as sent.
    #[serde(default)]
    pub bare_lf: bool,
    pub tls: bool,
    /// The AUTH identity, when the client authenticated.
    pub auth: Option<String>,
    pub client: SocketAddr,
    /// Sent through a provider's HTTP API (SendGrid, SES, ...), not SMTP: which, and what
    /// the request carried besides the mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiSend>,
}

impl Envelope {
    /// The fields an HTTP API fills in the same way for every message it takes: no SMTP
    /// session, no TLS, no AUTH, a loopback client.
    pub fn api_default() -> Self {
        Self {
            mail_from: String::new(),
            rcpt_to: Vec::new(),
            helo: String::new(),
            esmtp: false,
            smtputf8: false,
            body_8bit: true,
            bare_lf: false,
            tls: false,
            auth: None,
            client: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            api: None,
        }
    }
}

/// A send through a provider's HTTP API, as captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiSend {
    /// `sendgrid`, `ses`, `postmark`, `resend` or `mailgun`.
    pub provider: String,
    /// The route called: `POST /v3/mail/send`.
    pub endpoint: String,
    /// The name of the API key it authenticated with (`--provider-keys`), else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What the request carried besides the mail: tags, categories, custom arguments,
    /// template id and data, as the provider names them.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A message the server accepted the data of, before it is answered with 250.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub envelope: Envelope,
    /// The message exactly as received, dot-unstuffed.
    pub raw: Vec<u8>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The session's commands and replies up to this message (AUTH data redacted).
    pub transcript: Vec<String>,
}

/// Whether `bytes` have an LF not preceded by CR.
pub fn has_bare_lf(bytes: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', bytes).any(|i| i == 0 || bytes[i - 1] != b'\r')
}

/// Why a message was not kept. Each is temporary for the client (SMTP 451): it may send
/// again. The cause is logged where it happened, never sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// Writing failed (a full disk, an I/O error, a store turned read-only).
    #[error("Cannot store the message, try again later")]
    Write,
    /// Keeping the message panicked (a parser bug): that message is refused, the server
    /// goes on.
    #[error("Cannot store the message, try again later")]
    Panicked,
    /// The shared capture log (Kafka, `--capture-topic`) did not acknowledge the message
    /// in time: nothing was acknowledged that the log may not have.
    #[error("Cannot write the message to the capture log, try again later")]
    Upstream,
}

/// The result of handing a message on: its id, or why it was not kept.
pub type DeliverFuture<'a> =
    Pin<Box<dyn Future<Output = Result<String, DeliverError>> + Send + 'a>>;

/// Where accepted messages go. The session answers 250 only once this returns `Ok`, so a
/// store that writes before returning never acknowledges what it could lose.
pub trait Deliver: Send + Sync {
    fn deliver(&self, message: Incoming) -> DeliverFuture<'_>;
}
