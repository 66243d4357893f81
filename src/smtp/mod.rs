//! The capture SMTP server: command parser, session state machine and accept loop. It
//! knows nothing of storage: each accepted message is handed to a [`Deliver`] (the store).

pub mod auth;
pub mod command;
mod conn;
pub mod faults;
mod lines;
pub mod server;
pub mod session;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use server::{Server, ServerSettings};
pub use session::SessionConfig;

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
    pub tls: bool,
    /// The AUTH identity, when the client authenticated.
    pub auth: Option<String>,
    pub client: SocketAddr,
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

/// The result of handing a message on: its id, or a reason for a temporary failure.
pub type DeliverFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Where accepted messages go. The session answers 250 only once this returns `Ok`, so a
/// store that writes before returning never acknowledges what it could lose.
pub trait Deliver: Send + Sync {
    fn deliver(&self, message: Incoming) -> DeliverFuture<'_>;
}
