//! The store's side of a shared capture log: the upstream every message is written to
//! first, deletions read back from the log, and the probes the API reports on.

use std::sync::Arc;

use super::{Probe, Store, StoreError, Upstream};

impl Store {
    /// The same store, writing every message to `upstream` before keeping it.
    #[must_use]
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Self {
        self.probes.push(upstream.clone());
        self.upstream = Some(upstream);
        self
    }

    /// The same store, with `probe` reported through `/readyz` and `/metrics`.
    #[must_use]
    pub fn with_probe(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probes.push(probe);
        self
    }

    /// What reports on the capture log, if anything.
    pub fn probes(&self) -> &[Arc<dyn Probe>] {
        &self.probes
    }

    /// Deletes the messages with these capture ids from this store alone (a deletion read
    /// from the log); returns how many it held.
    pub fn forget_captures(&self, captures: &[String]) -> Result<usize, StoreError> {
        let ids: Vec<u64> = {
            let index = self.read_index();
            captures
                .iter()
                .filter_map(|c| index.captures.get(c).copied())
                .collect()
        };
        Ok(self.remove(&ids)?.len())
    }
}
