//! Announces new messages in id order. Ids are taken in order, but writers finish (and sync)
//! in any order; a listener that resumes "after id N" (an SSE client's `Last-Event-ID`, a
//! wait's cursor) would lose a message announced after a higher one.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

/// Announces values of type `T` (message summaries) by their id.
pub struct Herald<T> {
    news: broadcast::Sender<T>,
    /// The next id to announce, and finished messages waiting for the ones before them
    /// (`None`: that id failed and is skipped).
    queue: Mutex<(u64, BTreeMap<u64, Option<T>>)>,
}

impl<T: Clone> Herald<T> {
    pub fn new(next_id: u64) -> Self {
        let (news, _) = broadcast::channel(1024);
        Self {
            news,
            queue: Mutex::new((next_id, BTreeMap::new())),
        }
    }

    /// Marks `id` finished: announces it (unless `summary` is `None`) and any later ones
    /// that were waiting for it, in order.
    pub fn finished(&self, id: u64, summary: Option<T>) {
        let mut queue = self.queue.lock().expect("herald lock");
        let (next, waiting) = &mut *queue;
        waiting.insert(id, summary);
        while let Some(done) = waiting.remove(next) {
            if let Some(summary) = done {
                let _ = self.news.send(summary);
            }
            *next += 1;
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<T> {
        self.news.subscribe()
    }

    pub fn receivers(&self) -> usize {
        self.news.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::Herald;

    #[test]
    fn announces_in_id_order_whatever_order_writers_finish_in() {
        let herald = Herald::new(1);
        let mut rx = herald.subscribe();
        herald.finished(2, Some(2));
        herald.finished(4, Some(4));
        assert!(rx.try_recv().is_err(), "2 waits for 1");
        herald.finished(1, Some(1));
        herald.finished(3, None); // a write that failed
        herald.finished(5, Some(5));
        let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, [1, 2, 4, 5]);
    }
}
