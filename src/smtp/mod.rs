//! The capture SMTP server: command parser, session state machine and accept loop. It
//! knows nothing of storage: each accepted message is handed to a [`crate::mail::Deliver`]
//! (the store).

pub mod auth;
pub mod command;
mod conn;
pub mod faults;
mod lines;
pub mod server;
pub mod session;
pub mod tls;

pub use server::{Server, ServerSettings};
pub use session::{BareLf, SessionConfig};
