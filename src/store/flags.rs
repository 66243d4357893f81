//! Flags that clients set on stored messages: read or unread, and tags (what Mailpit's API
//! and inbox let users change). They live in each message's summary and are written to the
//! log as records of their own, whole (the new state, not a change), so reading the log
//! back in order gives the last state; a compaction carries them in its first record.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Entry, Store, StoreError, Summary};

/// One message's flags, as written to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    pub id: u64,
    #[serde(default)]
    pub read: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Flags {
    pub fn of(summary: &Summary) -> Self {
        Self {
            id: summary.id,
            read: summary.read,
            tags: summary.tags.clone(),
        }
    }

    pub fn is_default(&self) -> bool {
        !self.read && self.tags.is_empty()
    }

    pub fn apply(&self, summary: &mut Summary) {
        summary.read = self.read;
        summary.tags.clone_from(&self.tags);
    }
}

/// Tags as kept: trimmed, without empty ones, each once whatever its case (the first
/// spelling wins), sorted without regard to case, as Mailpit keeps them.
pub fn clean_tags(tags: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if !tag.is_empty() && !out.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            out.push(tag.to_owned());
        }
    }
    out.sort_by_key(|t| t.to_lowercase());
    out
}

impl Store {
    /// Changes the flags of the messages with these ids with `change`; returns how many
    /// changed. Unknown ids are left out.
    pub fn update_flags(
        &self,
        ids: &[u64],
        change: impl Fn(&mut Summary),
    ) -> Result<usize, StoreError> {
        let mut index = self.write_index();
        let mut changed: Vec<(u64, Summary)> = Vec::new();
        for id in ids {
            let Some((summary, _)) = index.messages.get(id) else {
                continue;
            };
            let mut next = Summary::clone(summary);
            change(&mut next);
            next.tags = clean_tags(std::mem::take(&mut next.tags));
            if Flags::of(&next) != Flags::of(summary) {
                changed.push((*id, next));
            }
        }
        if changed.is_empty() {
            return Ok(0);
        }
        if let Some(log) = &self.log {
            let flags = changed.iter().map(|(_, s)| Flags::of(s)).collect();
            let meta = serde_json::to_vec(&Entry::Flags { flags }).expect("serializes");
            let appended = log.append(&meta).map_err(StoreError::Write)?;
            log.sync_to(appended.seq).map_err(StoreError::Write)?;
        }
        let count = changed.len();
        let mut updated = Vec::with_capacity(count);
        for (id, next) in changed {
            let next = Arc::new(next);
            if let Some((summary, _)) = index.messages.get_mut(&id) {
                *summary = next.clone();
            }
            updated.push(next);
        }
        drop(index);
        let _ = self.updates.send(Arc::new(updated));
        Ok(count)
    }

    /// Every tag in use, sorted.
    pub fn tags(&self) -> Vec<String> {
        let index = self.read_index();
        clean_tags(
            index
                .messages
                .values()
                .flat_map(|(s, _)| s.tags.iter().cloned()),
        )
    }

    /// Summaries whose flags changed, as they change.
    pub fn subscribe_updates(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<Arc<Summary>>>> {
        self.updates.subscribe()
    }
}
