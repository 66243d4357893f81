//! The seams between the store and a shared capture log (`capture/`): an upstream that
//! takes every message before the store keeps it, and probes that report on anything
//! feeding or fed by the store, for `/readyz` and `/metrics`. The store knows nothing of
//! Kafka; the log's side implements these.

use std::sync::Arc;

use super::Summary;
use crate::mail::Incoming;

/// Something that reports its health and figures through the sink's API.
pub trait Probe: Send + Sync {
    /// Why the sink cannot do its work now (the log unreachable), if it cannot.
    fn unready(&self) -> Option<String>;
    /// Prometheus text lines (with their `# HELP` and `# TYPE`).
    fn metrics(&self) -> String;
}

/// A log every message is written to before the store keeps it (and before the client
/// hears 250); the local store is then a cache of what this replica captured.
pub trait Upstream: Probe {
    /// Writes the message and blocks until the log has it for good; returns its capture
    /// id (unique across replicas), or why it could not (the client then hears 451).
    fn append(&self, incoming: &Incoming, summary: &Summary) -> Result<String, String>;
    /// Tells the log these captured messages were deleted by a client, so every reader
    /// deletes them too. Does not wait.
    fn forget(&self, gone: &[Arc<Summary>]);
}
