//! One partition's worker. Events of one key (the recipient) are handled in order, events
//! of different keys at once up to a limit, since one SMTP transaction at a time per
//! partition leaves the machine idle between round trips. The partition's offset is stored
//! only up to the first event not yet handled, so a crash or a rebalance re-reads (never
//! skips) what was in flight.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Context, Handled, Handler, Lanes, Partition, QUEUE_HIGH, single};

pub(super) struct Worker {
    pub p: Partition,
    pub rx: mpsc::UnboundedReceiver<(u64, OwnedMessage)>,
    pub queued: Arc<AtomicUsize>,
    pub consumer: Arc<BaseConsumer<Context>>,
    pub lanes: Arc<Lanes>,
    pub paused: Arc<Mutex<HashSet<Partition>>>,
    /// Events in flight at once.
    pub concurrency: usize,
}

/// An event handled (or given up at shutdown).
struct Done {
    epoch: u64,
    offset: i64,
    key: Option<Vec<u8>>,
    stopped: bool,
}

/// What is in flight under the current assignment, for storing offsets.
#[derive(Default)]
struct Track {
    epoch: u64,
    pending: BTreeSet<i64>,
    highest_done: Option<i64>,
    stored: Option<i64>,
}

impl Track {
    /// The highest offset below which everything dispatched is handled.
    fn committable(&self) -> Option<i64> {
        match self.pending.first() {
            Some(&first) => Some(first - 1).filter(|o| self.highest_done.is_some_and(|h| *o <= h)),
            None => self.highest_done,
        }
    }
}

impl Worker {
    pub async fn run(mut self, handler: Arc<Handler>, stop: watch::Receiver<bool>) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        // Per key: the last event dispatched, and the signal that it is done.
        let mut chains: HashMap<Vec<u8>, (i64, oneshot::Receiver<()>)> = HashMap::new();
        let mut track = Track::default();
        let (mut in_flight, mut closed, mut stopping) = (0usize, false, false);
        while !(closed && in_flight == 0) {
            tokio::select! {
                biased;
                Some(done) = done_rx.recv() => {
                    in_flight -= 1;
                    if let Some(key) = &done.key
                        && chains.get(key).is_some_and(|(o, _)| *o == done.offset)
                    {
                        chains.remove(key);
                    }
                    stopping |= done.stopped;
                    self.finish(&mut track, &done);
                    // Counted down after the offset is stored: a revoke waits for this.
                    self.lanes.add_busy(&self.p, -1);
                }
                next = self.rx.recv(), if !closed && in_flight < self.concurrency => {
                    let Some((epoch, record)) = next else {
                        closed = true;
                        continue;
                    };
                    self.dequeued();
                    // A partition handed to another consumer is theirs now: they read it
                    // again from the last commit. After a stop, nothing new starts.
                    stopping |= *stop.borrow();
                    if stopping || self.lanes.epoch(&self.p) != epoch {
                        continue;
                    }
                    if track.epoch != epoch {
                        track = Track { epoch, ..Track::default() };
                    }
                    // Events without a key carry no order among themselves (Kafka spreads
                    // them over partitions anyway), so they do not wait for each other.
                    let key = record.key().map(<[u8]>::to_vec);
                    let (signal, wait) = oneshot::channel();
                    let before = key
                        .clone()
                        .and_then(|k| chains.insert(k, (record.offset(), wait)).map(|(_, w)| w));
                    track.pending.insert(record.offset());
                    in_flight += 1;
                    self.lanes.add_busy(&self.p, 1);
                    let job = Job { epoch, key, before, signal, done: done_tx.clone() };
                    tokio::spawn(job.run(handler.clone(), record, stop.clone()));
                }
            }
        }
    }

    /// Resumes a paused partition once its queue has drained.
    fn dequeued(&self) {
        let left = self.queued.fetch_sub(1, Ordering::Relaxed) - 1;
        if left < QUEUE_HIGH / 10 && self.paused.lock().expect("paused lock").remove(&self.p) {
            let _ = self.consumer.resume(&single(&self.p));
        }
    }

    fn finish(&self, track: &mut Track, done: &Done) {
        // Completions from an older assignment, or an event given up at shutdown, move
        // nothing: the next owner reads those again.
        if done.epoch != track.epoch || done.stopped || self.lanes.epoch(&self.p) != done.epoch {
            return;
        }
        track.pending.remove(&done.offset);
        track.highest_done = track.highest_done.max(Some(done.offset));
        let Some(offset) = track.committable() else {
            return;
        };
        if track.stored.is_some_and(|s| s >= offset) {
            return;
        }
        match self.consumer.store_offset(&self.p.0, self.p.1, offset) {
            Ok(()) => track.stored = Some(offset),
            Err(e) => tracing::debug!(error = %e, "offset not stored (partition revoked?)"),
        }
    }
}

/// One event: waits for the previous event of its key, then is handled.
struct Job {
    epoch: u64,
    key: Option<Vec<u8>>,
    before: Option<oneshot::Receiver<()>>,
    signal: oneshot::Sender<()>,
    done: mpsc::UnboundedSender<Done>,
}

impl Job {
    async fn run(
        self,
        handler: Arc<Handler>,
        record: OwnedMessage,
        mut stop: watch::Receiver<bool>,
    ) {
        if let Some(before) = self.before {
            // Sent or dropped: either way the previous event of this key is over.
            let _ = before.await;
        }
        let stopped =
            *stop.borrow() || handler.handle(&record, &mut stop).await == Handled::Stopped;
        let _ = self.signal.send(());
        let _ = self.done.send(Done {
            epoch: self.epoch,
            offset: record.offset(),
            key: self.key,
            stopped,
        });
    }
}
