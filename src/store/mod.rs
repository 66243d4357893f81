//! The message store, the hub of the sink: SMTP sessions insert, the API and the CLI read,
//! and waiters and event streams hear of each new message. Messages live in an append-only
//! log on disk (see `log.rs`) or, with `--memory`, only in memory; the index of summaries
//! is always in memory and raw bytes are read from disk on demand, so memory stays small.

mod captured;
mod compact;
pub mod flags;
mod herald;
mod index;
mod insert;
mod log;
mod mirror;
mod retention;
pub mod summary;
mod upstream;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::exit_code::ErrorKind;

pub use compact::Compacted;
pub use mirror::write_file;
pub use retention::Retention;
pub use summary::{Query, Summary};
pub use upstream::{Probe, Upstream};

use index::{Body, Entry, Index};
use retention::{PinGuard, Pins};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at `{path}`")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to the store")]
    Write(#[source] std::io::Error),
    #[error("cannot read message {id} from the store")]
    Read {
        id: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("no message {0}")]
    NotFound(u64),
    /// The capture log did not take the message (its reason).
    #[error("the capture log did not take the message: {0}")]
    Upstream(String),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Open { .. } => ErrorKind::BadInput,
            Self::Write(_) | Self::Read { .. } | Self::NotFound(_) => ErrorKind::Failed,
            Self::Upstream(_) => ErrorKind::Unavailable,
        }
    }
}

/// The store; share it with `Arc`.
pub struct Store {
    log: Option<log::Log>,
    fsync: bool,
    index: RwLock<Index>,
    news: herald::Herald<Arc<Summary>>,
    /// Ids of messages deleted (by a client or by retention), for the inbox's live view.
    removals: broadcast::Sender<Arc<Vec<u64>>>,
    /// Messages whose flags changed (read, tags), for event streams.
    updates: broadcast::Sender<Arc<Vec<Arc<Summary>>>>,
    retention: Retention,
    pins: Pins,
    evicted: std::sync::atomic::AtomicU64,
    /// Dead bytes in the log that start a compaction (when they also outweigh live ones).
    compact_floor: u64,
    /// Meta and raw bytes of the messages in the log, kept as they come and go.
    live_bytes: std::sync::atomic::AtomicU64,
    /// Where each message is also kept as `<id>.eml`, if anywhere.
    eml_dir: Option<std::path::PathBuf>,
    /// The shared capture log every message goes to first, if any.
    upstream: Option<Arc<dyn Upstream>>,
    /// What reports through `/readyz` and `/metrics` besides the store.
    probes: Vec<Arc<dyn Probe>>,
}

impl Store {
    /// A store that keeps nothing on disk.
    pub fn memory() -> Self {
        Self::with(None, Index::default())
    }

    /// Opens the store in `dir` for writing, reading back every message kept there.
    pub fn open(dir: &Path, fsync: bool) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: dir.display().to_string(),
            source,
        };
        let mut index = Index::default();
        let (log, opened) =
            log::Log::open(dir, fsync, &mut |r| index.apply(&r)).map_err(open_err)?;
        if opened.cut > 0 {
            tracing::warn!(
                bytes = opened.cut,
                "cut a torn record off the end of the store (never acknowledged)"
            );
        }
        if opened.damaged > 0 {
            tracing::error!(
                stretches = opened.damaged,
                bytes = opened.damaged_bytes,
                "the store has damaged records; they were skipped and every intact one kept"
            );
        }
        let mut store = Self::with(Some(log), index);
        store.fsync = fsync;
        Ok(store)
    }

    /// Opens the store in `dir` to read it, also while a sink writes to it.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: dir.display().to_string(),
            source,
        };
        let mut index = Index::default();
        let log = log::Log::open_read_only(dir, &mut |r| index.apply(&r)).map_err(open_err)?;
        Ok(Self::with(Some(log), index))
    }

    fn with(log: Option<log::Log>, index: Index) -> Self {
        let live = index.messages.values().map(|(_, b)| b.log_bytes()).sum();
        Self {
            log,
            fsync: false,
            news: herald::Herald::new(index.next_id),
            removals: broadcast::channel(64).0,
            updates: broadcast::channel(64).0,
            index: RwLock::new(index),
            retention: Retention::default(),
            pins: Pins::default(),
            evicted: std::sync::atomic::AtomicU64::new(0),
            compact_floor: compact::DEFAULT_FLOOR,
            live_bytes: std::sync::atomic::AtomicU64::new(live),
            eml_dir: None,
            upstream: None,
            probes: Vec::new(),
        }
    }

    /// The same store, keeping only what `retention` allows.
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The same store, compacting once this many dead bytes outweigh the live ones.
    #[must_use]
    pub fn with_compaction_floor(mut self, bytes: u64) -> Self {
        self.compact_floor = bytes;
        self
    }

    /// What this store keeps.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// How many messages retention has evicted since the store opened.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.read_index().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Summaries matching `query`, oldest first.
    pub fn list(&self, query: &Query) -> Vec<Arc<Summary>> {
        let candidates: Vec<Arc<Summary>> = {
            let index = self.read_index();
            let from = query.since.map_or(0, |s| s + 1);
            index
                .messages
                .range(from..)
                .map(|(_, (summary, _))| summary)
                .filter(|s| query.matches(s))
                .cloned()
                .collect()
        };
        if !query.needs_content() {
            return candidates;
        }
        candidates
            .into_iter()
            .filter(|s| self.content_matches(query, s.id))
            .collect()
    }

    /// `list`, on tokio's blocking pool when `query` reads message contents (decoding the
    /// MIME parts of many messages must not stall the async workers).
    pub async fn list_off_thread(self: &Arc<Self>, query: &Query) -> Vec<Arc<Summary>> {
        if !query.needs_content() {
            return self.list(query);
        }
        let (store, query) = (self.clone(), query.clone());
        tokio::task::spawn_blocking(move || store.list(&query))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(cause = %e, "a content search failed");
                Vec::new()
            })
    }

    /// `content_matches` on tokio's blocking pool when the query reads contents.
    async fn content_matches_off_thread(self: &Arc<Self>, query: &Query, id: u64) -> bool {
        if !query.needs_content() {
            return true;
        }
        let (store, query) = (self.clone(), query.clone());
        tokio::task::spawn_blocking(move || store.content_matches(&query, id))
            .await
            .unwrap_or(false)
    }

    /// The header and text conditions of `query` on one stored message; a message
    /// deleted or unreadable meanwhile does not match.
    fn content_matches(&self, query: &Query, id: u64) -> bool {
        !query.needs_content() || self.raw(id).is_ok_and(|raw| query.matches_content(&raw))
    }

    pub fn get(&self, id: u64) -> Option<Arc<Summary>> {
        self.read_index().messages.get(&id).map(|(s, _)| s.clone())
    }

    /// The message exactly as received.
    pub fn raw(&self, id: u64) -> Result<Vec<u8>, StoreError> {
        let index = self.read_index();
        match index.messages.get(&id) {
            None => Err(StoreError::NotFound(id)),
            Some((_, Body::Memory { raw, .. })) => Ok(raw.to_vec()),
            Some((_, Body::Disk { at, len, .. })) => {
                let log = self.log.as_ref().expect("disk bodies come from a log");
                log.read(*at, *len)
                    .map_err(|source| StoreError::Read { id, source })
            }
        }
    }

    /// The SMTP session transcript up to this message.
    pub fn transcript(&self, id: u64) -> Result<Vec<String>, StoreError> {
        let index = self.read_index();
        match index.messages.get(&id) {
            None => Err(StoreError::NotFound(id)),
            Some((_, Body::Memory { transcript, .. })) => Ok(transcript.to_vec()),
            Some((
                _,
                Body::Disk {
                    meta_at, meta_len, ..
                },
            )) => {
                let log = self.log.as_ref().expect("disk bodies come from a log");
                let read_err = |source| StoreError::Read { id, source };
                let meta = log.read(*meta_at, *meta_len).map_err(read_err)?;
                match serde_json::from_slice(&meta) {
                    Ok(Entry::Message { transcript, .. }) => Ok(transcript),
                    _ => Err(read_err(std::io::ErrorKind::InvalidData.into())),
                }
            }
        }
    }

    /// Deletes the messages with these ids, here and (with an upstream log) for every
    /// reader of it; returns how many there were.
    pub fn delete(&self, ids: &[u64]) -> Result<usize, StoreError> {
        let gone = self.remove(ids)?;
        if let Some(upstream) = &self.upstream {
            let captured: Vec<Arc<Summary>> = gone
                .iter()
                .filter(|s| s.capture.is_some())
                .cloned()
                .collect();
            if !captured.is_empty() {
                upstream.forget(&captured);
            }
        }
        Ok(gone.len())
    }

    /// Deletes the messages with these ids from this store alone (retention, a deletion
    /// read from the log); what went.
    fn remove(&self, ids: &[u64]) -> Result<Vec<Arc<Summary>>, StoreError> {
        let mut index = self.write_index();
        let present: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| index.messages.contains_key(id))
            .collect();
        if present.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(log) = &self.log {
            let meta = serde_json::to_vec(&Entry::Deleted {
                ids: present.clone(),
            })
            .expect("serializes");
            let appended = log.append(&meta).map_err(StoreError::Write)?;
            log.sync_to(appended.seq).map_err(StoreError::Write)?;
        }
        let mut gone = Vec::with_capacity(present.len());
        for id in &present {
            if let Some((summary, body)) = index.remove(*id) {
                self.live_bytes
                    .fetch_sub(body.log_bytes(), std::sync::atomic::Ordering::Relaxed);
                gone.push(summary);
            }
            if let Some(dir) = &self.eml_dir {
                mirror::remove(dir, *id);
            }
        }
        drop(index);
        let _ = self.removals.send(Arc::new(present));
        self.maybe_compact()?;
        Ok(gone)
    }

    /// The index to read. A panic elsewhere while it was held cannot leave it half-changed
    /// (each change is one insert or remove), so a poisoned lock is taken as it is.
    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a running wait holds this message (retention skips it).
    pub fn is_pinned(&self, id: u64) -> bool {
        self.pins.is_pinned(id)
    }

    /// How many are listening for new messages (running waits and event streams).
    pub fn watchers(&self) -> usize {
        self.news.receivers()
    }

    /// New messages as they arrive.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Summary>> {
        self.news.subscribe()
    }

    /// Ids of deleted messages as they go.
    pub fn subscribe_removals(&self) -> broadcast::Receiver<Arc<Vec<u64>>> {
        self.removals.subscribe()
    }

    /// Waits until `count` messages after `query.since` match, or `timeout` passes; returns
    /// the matches either way (fewer than `count` means it timed out). Subscribing before
    /// looking means no arrival can slip between the two; a message both listed and then
    /// announced is counted once.
    pub async fn wait(
        self: &Arc<Self>,
        query: &Query,
        count: usize,
        timeout: Duration,
    ) -> Vec<Arc<Summary>> {
        let mut news = self.subscribe();
        let mut pins = PinGuard::new(&self.pins);
        let mut found = self.list_off_thread(query).await;
        let mut seen: HashSet<u64> = found.iter().map(|s| s.id).collect();
        for s in &found {
            pins.pin(s.id);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while found.len() < count {
            match tokio::time::timeout_at(deadline, news.recv()).await {
                Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => break,
                Ok(Ok(summary)) => {
                    if !seen.contains(&summary.id)
                        && query.since.is_none_or(|s| summary.id > s)
                        && query.matches(&summary)
                        && self.content_matches_off_thread(query, summary.id).await
                    {
                        pins.pin(summary.id);
                        seen.insert(summary.id);
                        found.push(summary);
                    }
                }
                // Missed some announcements: look again at the index, which has them all.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    found = self.list_off_thread(query).await;
                    seen = found.iter().map(|s| s.id).collect();
                    for s in &found {
                        pins.pin(s.id);
                    }
                }
            }
        }
        found
    }
}
