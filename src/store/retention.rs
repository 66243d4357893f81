//! Retention: keep at most N messages, or none older than an age. Evictions are logged and
//! counted (never silent), and skip messages a running wait has matched (pinned), so a
//! waiter never answers with a message that is already gone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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
