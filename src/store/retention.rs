//! Retention: keep at most N messages, or none older than an age. Evictions are logged and
//! counted (never silent), and skip messages a running wait has matched (pinned), so a
//! waiter never answers with a message that is already gone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::StoreError;

/// How much the store keeps; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_count: Option<usize>,
    pub max_age: Option<Duration>,
}

/// Message ids held by running waits, with how many waits hold each.
#[derive(Debug, Default)]
pub struct Pins(Mutex<HashMap<u64, usize>>);

impl Pins {
    pub fn pin(&self, id: u64) {
        *self.0.lock().expect("pins lock").entry(id).or_default() += 1;
    }

    pub fn unpin(&self, ids: &[u64]) {
        let mut pins = self.0.lock().expect("pins lock");
        for id in ids {
            if let Some(n) = pins.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    pins.remove(id);
                }
            }
        }
    }

    pub fn is_pinned(&self, id: u64) -> bool {
        self.0.lock().expect("pins lock").contains_key(&id)
    }
}

/// Unpins a wait's matches when the wait ends, however it ends.
pub struct PinGuard<'a> {
    pins: &'a Pins,
    ids: Vec<u64>,
}

impl<'a> PinGuard<'a> {
    pub fn new(pins: &'a Pins) -> Self {
        Self {
            pins,
            ids: Vec::new(),
        }
    }

    pub fn pin(&mut self, id: u64) {
        self.pins.pin(id);
        self.ids.push(id);
    }
}

impl Drop for PinGuard<'_> {
    fn drop(&mut self) {
        self.pins.unpin(&self.ids);
    }
}

impl super::Store {
    /// Evicts what retention no longer allows, oldest first, skipping pinned messages;
    /// returns how many went. Runs after each insert and (for age) now and then.
    pub fn enforce_retention(&self) -> Result<usize, StoreError> {
        let Retention { max_count, max_age } = self.retention;
        if max_count.is_none() && max_age.is_none() {
            return Ok(0);
        }
        let oldest_allowed = max_age
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .map(|age| chrono::Utc::now() - age);
        let victims: Vec<u64> = {
            let index = self.read_index();
            let mut over = index
                .messages
                .len()
                .saturating_sub(max_count.unwrap_or(usize::MAX));
            let mut victims = Vec::new();
            for (s, _) in index.messages.values() {
                // Without an age limit, the oldest unpinned `over` are all there is to find:
                // stop there instead of walking the whole index on every insert.
                if oldest_allowed.is_none() && over == 0 {
                    break;
                }
                let too_old = oldest_allowed.is_some_and(|t| s.received_at < t);
                if (too_old || over > 0) && !self.pins.is_pinned(s.id) {
                    over = over.saturating_sub(1);
                    victims.push(s.id);
                }
            }
            victims
        };
        if victims.is_empty() {
            return Ok(0);
        }
        let gone = self.remove(&victims)?.len();
        let before = self
            .evicted
            .fetch_add(gone as u64, std::sync::atomic::Ordering::Relaxed);
        // Said once loudly, then counted (metrics: mailtest_messages_evicted_total).
        if before == 0 {
            tracing::warn!(
                evicted = gone,
                "retention started evicting the oldest messages"
            );
        } else {
            tracing::debug!(
                evicted = gone,
                total = before + gone as u64,
                "retention evicted"
            );
        }
        Ok(gone)
    }
}
