//! Taking a message in: everything that depends on the message alone (its summary, the
//! JSON of its record, its checksum) is done before the index lock, which is held only to
//! take the id, write the record and index it; then the sync, the `.eml` mirror, retention
//! and the announcement, outside it. Sessions call this off the async worker threads.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::index::{self, Body};
use super::{Store, StoreError, Summary, log, mirror};
use crate::mail::{Deliver, DeliverError, DeliverFuture, Incoming};

impl Store {
    /// Stores a message and announces it; returns once it is written (and synced, in
    /// fsync mode). With an upstream log, the log has it first: a message the log refused
    /// is not kept here either.
    pub fn insert(&self, incoming: Incoming) -> Result<Arc<Summary>, StoreError> {
        let mut summary = Summary::new(0, &incoming);
        if let Some(upstream) = &self.upstream {
            let capture = upstream
                .append(&incoming, &summary)
                .map_err(StoreError::Upstream)?;
            summary.capture = Some(capture);
        }
        self.keep(incoming, summary).map(|(summary, _)| summary)
    }

    /// Stores a message read back from the capture log under its capture id; `None` when
    /// the store holds that capture already (a replay, or this replica's own copy).
    pub fn insert_captured(
        &self,
        incoming: Incoming,
        capture: String,
    ) -> Result<Option<Arc<Summary>>, StoreError> {
        let mut summary = Summary::new(0, &incoming);
        summary.capture = Some(capture);
        let (summary, new) = self.keep(incoming, summary)?;
        Ok(new.then_some(summary))
    }

    /// Writes and indexes a message; with a capture id the store holds already, the one it
    /// holds (and `false`).
    fn keep(
        &self,
        incoming: Incoming,
        mut summary: Summary,
    ) -> Result<(Arc<Summary>, bool), StoreError> {
        let Incoming {
            raw, transcript, ..
        } = incoming;
        let raw = Arc::new(raw);
        let pending = self
            .log
            .as_ref()
            .map(|_| log::Pending::new(index::message_head(&summary, &transcript), &raw));
        let (summary, seq) = {
            // Ids are taken under the write lock, so the log's order is the id order and no
            // reader sees a later id before an earlier one.
            let mut index = self.write_index();
            if let Some(had) = (summary.capture.as_ref())
                .and_then(|c| index.captures.get(c))
                .and_then(|id| index.messages.get(id))
            {
                return Ok((had.0.clone(), false));
            }
            summary.id = index.next_id;
            let (body, seq) = if let (Some(log), Some(pending)) = (&self.log, &pending) {
                let tail = index::message_tail(summary.id);
                let appended = log
                    .append_pending(pending, tail.as_bytes())
                    .map_err(StoreError::Write)?;
                (Body::disk(appended.span), appended.seq)
            } else {
                let transcript = Arc::new(transcript);
                let memory = Body::Memory {
                    raw: raw.clone(),
                    transcript,
                };
                (memory, 0)
            };
            let summary = Arc::new(summary);
            index.next_id += 1;
            self.live_bytes
                .fetch_add(body.log_bytes(), std::sync::atomic::Ordering::Relaxed);
            index.add(summary.clone(), body);
            (summary, seq)
        };
        self.settle(summary, seq, &raw).map(|s| (s, true))
    }

    /// After an insert: sync (fsync mode), mirror, retention, then the announcement, which
    /// happens (or is skipped, on failure) either way, or later ids would wait forever.
    fn settle(
        &self,
        summary: Arc<Summary>,
        seq: u64,
        raw: &[u8],
    ) -> Result<Arc<Summary>, StoreError> {
        // Outside the index lock, so writers that arrive meanwhile share the next sync.
        let kept = match &self.log {
            Some(log) => log.sync_to(seq).map_err(StoreError::Write),
            None => Ok(()),
        }
        .and_then(|()| match &self.eml_dir {
            Some(dir) => mirror::write(dir, summary.id, raw).map_err(StoreError::Write),
            None => Ok(()),
        })
        // Retention runs before the announcement, so no listener can be told of a message
        // and then find the store over its limits (or a waiter lose its pin mid-eviction).
        .and_then(|()| {
            if self.retention.max_count.is_some_and(|max| self.len() > max) {
                self.enforce_retention()?;
            }
            Ok(())
        });
        self.news
            .finished(summary.id, kept.is_ok().then(|| summary.clone()));
        kept.map(|()| summary)
    }

    /// [`Store::insert`] as a session calls it: a panic on one message (a parser bug) is
    /// that message's 451, not the sink's end.
    fn insert_guarded(&self, message: Incoming) -> Result<String, DeliverError> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.insert(message))) {
            // A replica's id is its capture id, the one every reader shows.
            Ok(Ok(summary)) => Ok(summary
                .capture
                .clone()
                .unwrap_or_else(|| summary.id.to_string())),
            Ok(Err(StoreError::Upstream(why))) => {
                tracing::warn!(cause = %why, "the capture log did not take a message; answered 451");
                Err(DeliverError::Upstream)
            }
            Ok(Err(err)) => {
                tracing::error!(cause = %err, source = ?std::error::Error::source(&err), "store write failed");
                Err(DeliverError::Write)
            }
            Err(_) => {
                tracing::error!("storing a message panicked; the message was refused");
                Err(DeliverError::Panicked)
            }
        }
    }
}

impl Deliver for Store {
    fn deliver(&self, message: Incoming) -> DeliverFuture<'_> {
        Box::pin(async move {
            // Parsing, writing and syncing are blocking work: on a multi-thread runtime the
            // worker hands its other tasks on first, so no session or API call waits on a
            // disk. (A current-thread runtime, as in unit tests, has no one to hand them to.)
            let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread;
            if multi_thread {
                tokio::task::block_in_place(|| self.insert_guarded(message))
            } else {
                self.insert_guarded(message)
            }
        })
    }
}
