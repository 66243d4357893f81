//! Kafka as the capture log, for sinks beyond one machine: replicas write every message
//! they accept to a topic before answering 250 (`replica.rs`), and readers build a store of
//! all replicas' mail from it (`reader.rs`), which serves the API, waits, the inbox and
//! the compatible APIs as a local store does. `record.rs` is the records' format,
//! `assemble.rs` puts large messages back together. See `docs/scaling.md`.

pub mod assemble;
mod metrics;
mod reader;
pub mod record;
mod replica;

use std::time::Duration;

pub use reader::{Reader, ReaderStatus, read_to_end};
pub use replica::Replica;

use crate::kafka::Connection;
use crate::store::Summary;

/// Where and how a replica writes.
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    pub connection: Connection,
    pub topic: String,
    /// How long a message may wait for the broker's acknowledgement before its client
    /// hears 451.
    pub timeout: Duration,
    /// This replica's name in each record (`--replica-name`).
    pub replica: String,
}

/// The record key of a captured message: its mailbox (a test run's mail then stays in one
/// partition, in order), else its first recipient.
pub fn key_of(summary: &Summary) -> String {
    summary
        .mailbox
        .clone()
        .or_else(|| summary.envelope.rcpt_to.first().cloned())
        .unwrap_or_default()
}
