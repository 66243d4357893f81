//! Compaction: deleted and evicted messages leave dead records in the log; once they
//! outweigh the live ones (and pass a floor), the log is rewritten with the live records
//! only and swapped in by rename, so a crash leaves the old log or the new one, whole.

use serde::Serialize;

use super::flags::Flags;
use super::index::Index;
use super::log::Span;
use super::{Body, Entry, Store, StoreError};

/// Dead bytes below this are left alone: rewriting costs more than they do.
pub const DEFAULT_FLOOR: u64 = 64 * 1024 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Compacted {
    pub messages: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl Store {
    /// Rewrites the log with the live messages only. Readers and writers wait meanwhile.
    pub fn compact(&self) -> Result<Option<Compacted>, StoreError> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        let mut index = self.write_index();
        let bytes_before = log.len();
        // Ids stay unique across restarts: the next one is written first, as the newest
        // messages may be among the deleted.
        let flags = index
            .messages
            .values()
            .map(|(summary, _)| Flags::of(summary))
            .filter(|f| !f.is_default())
            .collect();
        let head = serde_json::to_vec(&Entry::Mark {
            next_id: index.next_id,
            flags,
        })
        .expect("serializes");
        let spans = disk_spans(&index);
        let moved = log.compact(&head, &spans).map_err(StoreError::Write)?;
        let mut moved = moved.into_iter();
        for (_, body) in index.messages.values_mut() {
            if let Body::Disk {
                meta_at,
                meta_len,
                at,
                ..
            } = body
                && let Some(new_at) = moved.next()
            {
                *at = new_at;
                *meta_at = new_at - *meta_len;
            }
        }
        let done = Compacted {
            messages: index.messages.len(),
            bytes_before,
            bytes_after: log.len(),
        };
        tracing::info!(
            messages = done.messages,
            bytes_before = done.bytes_before,
            bytes_after = done.bytes_after,
            "compacted the store"
        );
        Ok(Some(done))
    }

    /// Compacts when dead records outweigh live ones and pass the floor.
    pub(super) fn maybe_compact(&self) -> Result<(), StoreError> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        let live = self.live_bytes.load(std::sync::atomic::Ordering::Relaxed);
        let dead = log.len().saturating_sub(live);
        if dead > self.compact_floor && dead > live {
            self.compact()?;
        }
        Ok(())
    }
}

/// Where each message kept on disk is in the log, in id order.
fn disk_spans(index: &Index) -> Vec<Span> {
    index
        .messages
        .values()
        .filter_map(|(_, body)| match body {
            Body::Disk {
                meta_at,
                meta_len,
                at,
                len,
            } => Some(Span {
                meta_at: *meta_at,
                meta_len: *meta_len,
                raw_at: *at,
                raw_len: *len,
            }),
            Body::Memory { .. } => None,
        })
        .collect()
}
