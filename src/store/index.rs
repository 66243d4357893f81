//! The in-memory index of the store and the log records it is built from.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Summary;
use super::flags::Flags;
use super::log;

/// What one log record holds.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Entry {
    /// The transcript is kept in the log only, not in the index: it is the largest part of
    /// a summary and rarely read.
    Message {
        summary: Box<Summary>,
        transcript: Vec<String>,
        /// The id, written last by [`message_tail`] (the summary's own is 0 then); older
        /// records have it in the summary only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    Deleted {
        ids: Vec<u64>,
    },
    /// Written first by a compaction: ids continue from here, and the flags of the messages
    /// that follow (their records are copied as they were written, before any flag).
    Mark {
        next_id: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        flags: Vec<Flags>,
    },
    /// Read state and tags, whole, of the messages named.
    Flags {
        flags: Vec<Flags>,
    },
}

/// How every message record starts ([`message_head`]).
const MESSAGE_PREFIX: &[u8] = br#"{"kind":"message","summary":"#;

/// A message record's parts the index needs; the transcript is skipped, not kept.
#[derive(Deserialize)]
struct MessageRecord {
    summary: Box<Summary>,
    #[serde(default)]
    id: Option<u64>,
}

/// Where a message's raw bytes (and its log record) are.
pub(super) enum Body {
    Disk {
        meta_at: u64,
        meta_len: u64,
        at: u64,
        len: u64,
    },
    Memory {
        raw: Arc<Vec<u8>>,
        transcript: Arc<Vec<String>>,
    },
}

/// A message record's meta up to its id: `{"kind":"message","summary":..,"transcript":..,`
/// made before the index lock is taken; [`message_tail`] closes it.
pub(super) fn message_head(summary: &Summary, transcript: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 + transcript.len() * 40);
    out.extend_from_slice(br#"{"kind":"message","summary":"#);
    serde_json::to_writer(&mut out, summary).expect("a summary serializes");
    out.extend_from_slice(br#","transcript":"#);
    serde_json::to_writer(&mut out, transcript).expect("strings serialize");
    out.extend_from_slice(br#","id":"#);
    out
}

/// The end of a message record's meta: its id.
pub(super) fn message_tail(id: u64) -> String {
    format!("{id}}}")
}

impl Body {
    pub fn disk(span: log::Span) -> Self {
        Self::Disk {
            meta_at: span.meta_at,
            meta_len: span.meta_len,
            at: span.raw_at,
            len: span.raw_len,
        }
    }

    /// Meta and raw bytes in the log (none in memory).
    pub fn log_bytes(&self) -> u64 {
        match self {
            Self::Disk { meta_len, len, .. } => meta_len + len,
            Self::Memory { .. } => 0,
        }
    }
}

pub(super) struct Index {
    pub messages: BTreeMap<u64, (Arc<Summary>, Body)>,
    pub next_id: u64,
    /// Message ids by capture id, for the messages that have one: a reader skips a capture
    /// it already holds (a replay after a restart, its own replica's copy).
    pub captures: HashMap<String, u64>,
    /// Flags from a compaction's mark, for the message records after it.
    pending: HashMap<u64, Flags>,
}

impl Default for Index {
    fn default() -> Self {
        Self {
            messages: BTreeMap::new(),
            next_id: 1,
            captures: HashMap::new(),
            pending: HashMap::new(),
        }
    }
}

impl Index {
    /// Applies one log record read back from disk.
    pub fn apply(&mut self, record: &log::Record) {
        // Message records, nearly all of a log, skip serde's buffering of internally tagged
        // enums, which copies each record (transcript included) into a tree first.
        if record.meta.starts_with(MESSAGE_PREFIX) {
            match serde_json::from_slice::<MessageRecord>(&record.meta) {
                Ok(m) => self.apply_message(m.summary, m.id, record),
                Err(err) => tracing::warn!(cause = %err, "skipped an unreadable store record"),
            }
            return;
        }
        match serde_json::from_slice::<Entry>(&record.meta) {
            Ok(Entry::Message { summary, id, .. }) => self.apply_message(summary, id, record),
            Ok(Entry::Mark { next_id, flags }) => {
                self.next_id = self.next_id.max(next_id);
                self.pending = flags.into_iter().map(|f| (f.id, f)).collect();
            }
            Ok(Entry::Flags { flags }) => {
                for flag in flags {
                    if let Some((summary, _)) = self.messages.get_mut(&flag.id) {
                        flag.apply(Arc::make_mut(summary));
                    }
                }
            }
            Ok(Entry::Deleted { ids }) => {
                for id in ids {
                    self.remove(id);
                }
            }
            Err(err) => tracing::warn!(cause = %err, "skipped an unreadable store record"),
        }
    }
}

impl Index {
    fn apply_message(&mut self, mut summary: Box<Summary>, id: Option<u64>, record: &log::Record) {
        if let Some(id) = id {
            summary.id = id;
        }
        if let Some(flags) = self.pending.remove(&summary.id) {
            flags.apply(&mut summary);
        }
        self.next_id = self.next_id.max(summary.id + 1);
        let meta_len = record.meta.len() as u64;
        let body = Body::Disk {
            meta_at: record.raw_at - meta_len,
            meta_len,
            at: record.raw_at,
            len: record.raw_len,
        };
        self.add(Arc::new(*summary), body);
    }

    /// Indexes a message (and its capture id).
    pub fn add(&mut self, summary: Arc<Summary>, body: Body) {
        if let Some(capture) = &summary.capture {
            self.captures.insert(capture.clone(), summary.id);
        }
        self.messages.insert(summary.id, (summary, body));
    }

    /// Drops a message from the index; what it was.
    pub fn remove(&mut self, id: u64) -> Option<(Arc<Summary>, Body)> {
        let gone = self.messages.remove(&id)?;
        if let Some(capture) = &gone.0.capture {
            self.captures.remove(capture);
        }
        Some(gone)
    }
}
