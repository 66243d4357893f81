//! A reader of the capture log: one thread reads every partition of the topic (joining no
//! consumer group, so readers never rebalance each other), puts captures together and
//! stores each under its capture id, which makes a replay harmless. With a store on disk,
//! the offsets read are saved beside it after the messages are, so a restart resumes
//! where it stopped; in memory, it reads the topic from its start.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::assemble::{Assembler, Done};
use super::metrics;
use super::record::{self, Reason};
use crate::kafka::{Connection, KafkaError};
use crate::store::{Probe, Store};

/// A capture whose records stop coming (its replica died between chunks) is dropped after
/// this long.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// A reader's progress, shared with the API (`/readyz`, `/metrics`) and with waiters.
#[derive(Default)]
pub struct ReaderStatus {
    topic: String,
    down: Mutex<Option<String>>,
    lag: Mutex<BTreeMap<i32, i64>>,
    records: AtomicU64,
    stored: AtomicU64,
    forgotten: AtomicU64,
    skipped: AtomicU64,
    lost: AtomicU64,
    caught_up: (Mutex<bool>, Condvar),
}

impl ReaderStatus {
    pub fn new(topic: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            down: Mutex::new(Some("not connected yet".to_owned())),
            ..Self::default()
        }
    }

    /// Waits until every partition was read to its end once, or `timeout`; whether it was.
    pub fn wait_caught_up(&self, timeout: Duration) -> bool {
        let (lock, ready) = &self.caught_up;
        let guard = lock.lock().expect("status lock");
        let (guard, _) = ready
            .wait_timeout_while(guard, timeout, |caught| !*caught)
            .expect("status lock");
        *guard
    }

    fn set_caught_up(&self) {
        let (lock, ready) = &self.caught_up;
        *lock.lock().expect("status lock") = true;
        ready.notify_all();
    }

    fn set_down(&self, why: Option<String>) {
        if let Ok(mut down) = self.down.lock() {
            *down = why;
        }
    }
}

impl Probe for ReaderStatus {
    fn unready(&self) -> Option<String> {
        let why = self.down.lock().ok()?.clone()?;
        Some(format!(
            "cannot read the capture log `{}`: {why}",
            self.topic
        ))
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "records",
                "Records read from the capture log.",
                &self.records,
            ),
            (
                "stored",
                "Messages stored from the capture log.",
                &self.stored,
            ),
            (
                "forgotten",
                "Messages deleted by forget records.",
                &self.forgotten,
            ),
            (
                "skipped",
                "Records that were not mailtest captures.",
                &self.skipped,
            ),
            (
                "lost",
                "Offsets the broker dropped before they were read.",
                &self.lost,
            ),
        ] {
            let name = format!("mailtest_reader_{name}_total");
            metrics::write(&mut out, "counter", &name, help, load(value));
        }
        let lag = self.lag.lock().map_or(0, |l| l.values().sum::<i64>());
        let help = "Records in the capture log not read yet, over all partitions.";
        metrics::write(&mut out, "gauge", "mailtest_reader_lag", help, lag);
        out
    }
}

/// A running reader.
pub struct Reader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the reader thread owns.
struct Run {
    /// Shared with the loop, so a record borrowed from it can be taken while `self` changes.
    consumer: Arc<BaseConsumer>,
    connection: Connection,
    topic: String,
    store: Arc<Store>,
    status: Arc<ReaderStatus>,
    assembler: Assembler,
    /// The next offset to read, per assigned partition.
    next: HashMap<i32, i64>,
    /// Partitions read to their end since the last record.
    at_end: HashMap<i32, bool>,
    offsets_file: Option<PathBuf>,
}

impl Reader {
    /// Starts reading `topic` into `store`; `offsets_file` (beside a store on disk) keeps
    /// the position across restarts.
    pub fn start(
        connection: &Connection,
        topic: &str,
        store: Arc<Store>,
        status: Arc<ReaderStatus>,
        offsets_file: Option<PathBuf>,
    ) -> Result<Self, KafkaError> {
        let extra = [("auto.offset.reset", "earliest")];
        let consumer = connection.consumer(None, &extra, DefaultConsumerContext)?;
        let mut run = Run {
            consumer: Arc::new(consumer),
            connection: connection.clone(),
            topic: topic.to_owned(),
            store,
            status,
            assembler: Assembler::default(),
            next: HashMap::new(),
            at_end: HashMap::new(),
            offsets_file,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("mailtest-reader".into())
            .spawn({
                let stop = stop.clone();
                move || run.run(&stop)
            })
            .map_err(|e| KafkaError::Internal(format!("cannot start a thread: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops reading, after saving the position.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Run {
    fn run(&mut self, stop: &AtomicBool) {
        let saved = self.load_offsets();
        let mut refreshed: Option<Instant> = None;
        let mut saved_at = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if refreshed.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                self.refresh(&saved);
                refreshed = Some(Instant::now());
            }
            let consumer = self.consumer.clone();
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(message)) => self.take(&message),
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(partition))) => {
                    self.at_end.insert(partition, true);
                    self.check_caught_up();
                }
                Some(Err(err)) => tracing::warn!(cause = %err, "reading the capture log"),
            }
            if saved_at.elapsed() >= Duration::from_secs(1) {
                self.assembler.expire(PENDING_TTL);
                self.save_offsets();
                saved_at = Instant::now();
            }
        }
        self.save_offsets();
    }

    /// Finds the topic's partitions (assigning new ones) and its end, for the lag.
    fn refresh(&mut self, saved: &HashMap<i32, i64>) {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), self.connection.timeout);
        let partitions = match metadata {
            Err(err) => return self.status.set_down(Some(err.to_string())),
            Ok(m) => crate::kafka::partitions(&m, &self.topic),
        };
        let Some(partitions) = partitions else {
            return self
                .status
                .set_down(Some("the topic does not exist".into()));
        };
        self.status.set_down(None);
        let mut added = TopicPartitionList::new();
        let new: Vec<i32> = (partitions.iter().copied())
            .filter(|p| !self.next.contains_key(p))
            .collect();
        for p in &new {
            let offset = saved
                .get(p)
                .map_or(Offset::Beginning, |o| Offset::Offset(*o));
            let _ = added.add_partition_offset(&self.topic, *p, offset);
            self.next.insert(*p, saved.get(p).copied().unwrap_or(0));
            self.at_end.insert(*p, false);
        }
        if added.count() > 0
            && let Err(err) = self.consumer.incremental_assign(&added)
        {
            tracing::error!(cause = %err, "cannot read the capture log's partitions");
        }
        let mut lag = BTreeMap::new();
        for p in partitions {
            let ends = self
                .consumer
                .fetch_watermarks(&self.topic, p, Duration::from_secs(1));
            if let Ok((_, high)) = ends {
                lag.insert(p, (high - self.next.get(&p).copied().unwrap_or(0)).max(0));
            }
        }
        *self.status.lag.lock().expect("lag lock") = lag;
    }

    /// One record: counted, put together, stored or forgotten.
    fn take(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) {
        let (partition, offset) = (message.partition(), message.offset());
        let expected = self.next.get(&partition).copied().unwrap_or(offset);
        if offset > expected {
            // Dropped by the broker's retention before this reader got to them.
            let lost = u64::try_from(offset - expected).unwrap_or(0);
            self.status.lost.fetch_add(lost, Ordering::Relaxed);
            tracing::error!(
                partition,
                from = expected,
                to = offset,
                "capture log records were gone before they were read"
            );
        }
        self.next.insert(partition, offset + 1);
        self.at_end.insert(partition, false);
        self.status.records.fetch_add(1, Ordering::Relaxed);
        let headers: Vec<(String, Vec<u8>)> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        match record::decode(&headers, message.payload().unwrap_or_default()) {
            Ok(piece) => {
                if let Some(done) = self.assembler.push((partition, offset), piece) {
                    self.apply(done);
                }
            }
            Err(err) => {
                self.status.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(partition, offset, cause = %err, "skipped a record of the capture log");
            }
        }
    }

    fn apply(&self, done: Done) {
        match done {
            Done::Message { capture, incoming } => {
                match self.store.insert_captured(*incoming, capture) {
                    Ok(Some(_)) => {
                        self.status.stored.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(None) => {}
                    Err(err) => tracing::error!(cause = %err, "cannot store a captured message"),
                }
            }
            Done::Forget { captures, reason } => match self.store.forget_captures(&captures) {
                Ok(gone) => {
                    self.status
                        .forgotten
                        .fetch_add(gone as u64, Ordering::Relaxed);
                    if reason == Reason::Void && gone > 0 {
                        tracing::info!(gone, "removed captures whose replica answered 451");
                    }
                }
                Err(err) => tracing::error!(cause = %err, "cannot delete forgotten captures"),
            },
            Done::Broken { capture, why } => {
                tracing::error!(%capture, %why, "dropped a capture whose chunks do not add up");
            }
        }
    }

    fn check_caught_up(&self) {
        if !self.at_end.is_empty()
            && self.at_end.values().all(|end| *end)
            && self.assembler.pending() == 0
        {
            self.status.set_caught_up();
        }
    }

    /// Where to resume: what was read, held back to the first record of any capture still
    /// being put together.
    fn resume_offsets(&self) -> BTreeMap<i32, i64> {
        let holds = self.assembler.holds();
        self.next
            .iter()
            .map(|(p, next)| (*p, holds.get(p).map_or(*next, |h| (*h).min(*next))))
            .collect()
    }

    fn load_offsets(&self) -> HashMap<i32, i64> {
        let Some(path) = &self.offsets_file else {
            return HashMap::new();
        };
        let Ok(text) = std::fs::read(path) else {
            return HashMap::new();
        };
        let saved: Option<SavedOffsets> = serde_json::from_slice(&text).ok();
        match saved {
            Some(s) if s.topic == self.topic => s.offsets.into_iter().collect(),
            _ => HashMap::new(),
        }
    }

    /// Written whole (a temporary file renamed over the old one), after the messages
    /// before these offsets were stored.
    fn save_offsets(&self) {
        let Some(path) = &self.offsets_file else {
            return;
        };
        let saved = SavedOffsets {
            topic: self.topic.clone(),
            offsets: self.resume_offsets(),
        };
        let json = serde_json::to_vec(&saved).expect("offsets serialize");
        let tmp = path.with_extension("tmp");
        if let Err(err) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::error!(cause = %err, "cannot save the capture log's offsets");
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedOffsets {
    topic: String,
    offsets: BTreeMap<i32, i64>,
}

/// Reads `topic` to its end into a store in memory (`verify --capture-topic`).
pub fn read_to_end(connection: &Connection, topic: &str) -> Result<Arc<Store>, KafkaError> {
    let probe = connection.consumer(None, &[], DefaultConsumerContext)?;
    let metadata = connection.metadata(probe.client(), Some(topic))?;
    if crate::kafka::partitions(&metadata, topic).is_none() {
        return Err(KafkaError::NoTopic(topic.to_owned()));
    }
    drop(probe);
    let status = Arc::new(ReaderStatus::new(topic));
    let store = Arc::new(Store::memory());
    let reader = Reader::start(connection, topic, store.clone(), status.clone(), None)?;
    let caught_up = status.wait_caught_up(connection.timeout);
    let why = status.unready();
    reader.stop();
    if caught_up {
        return Ok(store);
    }
    Err(match why {
        Some(why) => KafkaError::Internal(why),
        None => KafkaError::Internal(format!(
            "`{topic}` was not read to its end within {}",
            humantime::format_duration(connection.timeout)
        )),
    })
}
