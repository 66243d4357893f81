//! A sink replica's writer: every message the sink accepts is written to the capture topic
//! (`acks=all`, idempotent) and the client hears 250 only once the broker acknowledged
//! it; otherwise 451, and the capture is voided in the log, since a write that timed out
//! may still land. A keeper thread watches the broker (for `/readyz`) and writes forget
//! records (voids, and deletions made through this node's API) until the log has them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::metrics::{self, Histogram};
use super::record::{self, Meta, Reason};
use super::{CaptureSettings, key_of};
use crate::kafka::KafkaError;
use crate::mail::Incoming;
use crate::store::{Probe, Summary, Upstream};

/// How often the keeper looks at the broker and writes pending forget records.
const KEEPER_TICK: Duration = Duration::from_millis(250);

type Ack = SyncSender<Result<(), String>>;

/// Hands each delivery report to the thread waiting for it.
struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Ack>;

    fn delivery(&self, result: &DeliveryResult<'_>, ack: Self::DeliveryOpaque) {
        let _ = ack.send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string()));
    }
}

/// A running replica writer; [`Replica::upstream`] is what the store writes through.
pub struct Replica {
    inner: Arc<Inner>,
    keeper: Option<JoinHandle<()>>,
}

struct Inner {
    producer: ThreadedProducer<Reports>,
    settings: CaptureSettings,
    /// This process's part of every capture id: ids stay unique across replicas and
    /// restarts without any coordination.
    boot: String,
    seq: AtomicU64,
    /// Partitions of the topic, to spread a large message's chunks over.
    partitions: AtomicU64,
    /// Why the broker is unreachable, or `None` while it answers.
    down: Mutex<Option<String>>,
    forgets: Mutex<Vec<(String, String, Reason)>>,
    /// Forget records taken off the queue and not yet acknowledged.
    forgets_in_flight: AtomicU64,
    appended: AtomicU64,
    failed: AtomicU64,
    latency: Histogram,
    stop: AtomicBool,
}

impl Replica {
    /// Connects and starts the keeper; fails if the producer cannot be made (a bad `-X`).
    pub fn start(settings: CaptureSettings) -> Result<Self, KafkaError> {
        let timeout = settings.timeout.as_millis().to_string();
        let tuned = [
            ("message.timeout.ms", timeout.as_str()),
            // A message waits for no batch: each SMTP client waits for its own 250.
            ("linger.ms", "0"),
            ("compression.type", "lz4"),
            ("message.max.bytes", "2000000"),
        ];
        let producer = settings.connection.producer_with(Reports, &tuned)?;
        let boot = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let inner = Arc::new(Inner {
            producer,
            settings,
            boot,
            seq: AtomicU64::new(0),
            partitions: AtomicU64::new(0),
            down: Mutex::new(Some("not connected yet".to_owned())),
            forgets: Mutex::new(Vec::new()),
            forgets_in_flight: AtomicU64::new(0),
            appended: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency: Histogram::default(),
            stop: AtomicBool::new(false),
        });
        inner.probe();
        let keeper = std::thread::Builder::new()
            .name("mailtest-capture".into())
            .spawn({
                let inner = inner.clone();
                move || inner.keep()
            })
            .map_err(|e| KafkaError::Internal(format!("cannot start a thread: {e}")))?;
        Ok(Self {
            inner,
            keeper: Some(keeper),
        })
    }

    /// What the store writes every message through.
    pub fn upstream(&self) -> Arc<dyn Upstream> {
        self.inner.clone()
    }

    /// Why the log is unreachable now, if it is.
    pub fn unreachable(&self) -> Option<String> {
        self.inner.down.lock().ok()?.clone()
    }

    /// Stops the keeper after it wrote what forget records it can.
    pub fn stop(mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(keeper) = self.keeper.take() {
            keeper.thread().unpark();
            let _ = keeper.join();
        }
        let _ = self.inner.producer.flush(Duration::from_secs(5));
    }
}

impl Inner {
    fn keep(&self) {
        let mut probed = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::park_timeout(KEEPER_TICK);
            if probed.elapsed() >= Duration::from_secs(1) {
                self.probe();
                probed = Instant::now();
            }
            self.write_forgets();
        }
        self.write_forgets();
    }

    /// Asks the broker for the topic: reachable or not, and how many partitions.
    fn probe(&self) {
        let topic = self.settings.topic.as_str();
        let found = self
            .producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(2));
        let down = match found {
            Ok(metadata) => {
                let count = crate::kafka::partitions(&metadata, topic).map_or(0, |p| p.len());
                self.partitions.store(count as u64, Ordering::Relaxed);
                None
            }
            Err(err) => Some(err.to_string()),
        };
        if let Ok(mut state) = self.down.lock() {
            match (&*state, &down) {
                (None, Some(why)) => tracing::warn!(cause = %why, "the capture log is unreachable"),
                (Some(_), None) => tracing::info!(topic, "the capture log is reachable"),
                _ => {}
            }
            *state = down;
        }
    }

    /// Writes the pending forget records, one per key and reason; keeps what failed.
    fn write_forgets(&self) {
        let pending = {
            let mut queue = self.forgets.lock().expect("forgets lock");
            self.forgets_in_flight
                .store(queue.len() as u64, Ordering::Relaxed);
            std::mem::take(&mut *queue)
        };
        if pending.is_empty() {
            return;
        }
        let mut groups: Vec<((String, Reason), Vec<String>)> = Vec::new();
        for (key, capture, reason) in &pending {
            match groups
                .iter_mut()
                .find(|(k, _)| k.0 == *key && k.1 == *reason)
            {
                Some((_, captures)) => captures.push(capture.clone()),
                None => groups.push(((key.clone(), *reason), vec![capture.clone()])),
            }
        }
        let (ack, acks) = sync_channel(groups.len());
        let mut sent = 0;
        for ((key, reason), captures) in &groups {
            let (names, payload) = record::forget(captures, *reason);
            if self.send((&names, &payload), key.as_bytes(), None, &ack) {
                sent += 1;
            }
        }
        drop(ack);
        let written = sent == groups.len() && self.wait(&acks, sent).is_ok();
        let mut queue = self.forgets.lock().expect("forgets lock");
        if !written {
            // Written twice at worst: forgetting is idempotent.
            queue.extend(pending);
        }
        // Under the queue's lock, so the gauge never shows the records neither here nor there.
        self.forgets_in_flight.store(0, Ordering::Relaxed);
    }

    /// Queues one record; `false` if librdkafka refused it (its queue full).
    fn send(
        &self,
        encoded: (&[(&str, Vec<u8>)], &[u8]),
        key: &[u8],
        partition: Option<i32>,
        ack: &Ack,
    ) -> bool {
        let (names, payload) = encoded;
        let mut headers = OwnedHeaders::new_with_capacity(names.len());
        for (name, value) in names {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut record = BaseRecord::with_opaque_to(&self.settings.topic, Box::new(ack.clone()))
            .key(key)
            .payload(payload)
            .headers(headers);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        self.producer.send(record).is_ok()
    }

    /// Waits for `count` delivery reports; the first failure, if any.
    fn wait(&self, acks: &Receiver<Result<(), String>>, count: usize) -> Result<(), String> {
        // librdkafka reports every message by `message.timeout.ms`; the margin is for it.
        let deadline = Instant::now() + self.settings.timeout + Duration::from_secs(2);
        for _ in 0..count {
            let left = deadline.saturating_duration_since(Instant::now());
            match acks.recv_timeout(left) {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Err(why),
                Err(_) => return Err("no delivery report in time".to_owned()),
            }
        }
        Ok(())
    }

    /// Chunks (if the message needs them) spread over the partitions, then the message
    /// record under the mailbox's key; each step waits for the broker's acknowledgement.
    fn write(&self, capture: &str, key: &str, incoming: &Incoming) -> Result<(), String> {
        let raw = incoming.raw.as_slice();
        let chunks = record::chunks_for(raw.len()) as usize;
        let queue_full = || "the producer's queue is full".to_owned();
        if chunks > 0 {
            let partitions = self.partitions.load(Ordering::Relaxed);
            let spread = u64::from(crc32fast::hash(capture.as_bytes()));
            let (ack, acks) = sync_channel(chunks);
            for (i, bytes) in raw.chunks(record::CHUNK).enumerate() {
                let partition = (partitions > 0)
                    .then(|| i32::try_from((spread + i as u64) % partitions).unwrap_or(0));
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                let names = record::chunk_headers(capture, index);
                if !self.send((&names, bytes), capture.as_bytes(), partition, &ack) {
                    return Err(queue_full());
                }
            }
            drop(ack);
            self.wait(&acks, chunks)?;
        }
        let meta = Meta::of(incoming, &self.settings.replica);
        let (ack, acks) = sync_channel(1);
        let (names, payload) = record::message(capture, &meta, raw);
        if !self.send((&names, &payload), key.as_bytes(), None, &ack) {
            return Err(queue_full());
        }
        self.wait(&acks, 1)
    }
}

impl Upstream for Inner {
    fn append(&self, incoming: &Incoming, summary: &Summary) -> Result<String, String> {
        let started = Instant::now();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let capture = format!("{}-{seq}", self.boot);
        let key = key_of(summary);
        match self.write(&capture, &key, incoming) {
            Ok(()) => {
                self.latency.observe(started.elapsed());
                self.appended.fetch_add(1, Ordering::Relaxed);
                Ok(capture)
            }
            Err(why) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let void = (key, capture, Reason::Void);
                self.forgets.lock().expect("forgets lock").push(void);
                Err(why)
            }
        }
    }

    fn forget(&self, gone: &[Arc<Summary>]) {
        let mut forgets = self.forgets.lock().expect("forgets lock");
        for summary in gone {
            if let Some(capture) = &summary.capture {
                forgets.push((key_of(summary), capture.clone(), Reason::Deleted));
            }
        }
    }
}

impl Probe for Inner {
    fn unready(&self) -> Option<String> {
        let why = self.down.lock().ok()?.clone()?;
        let CaptureSettings {
            topic, connection, ..
        } = &self.settings;
        Some(format!(
            "the capture log (`{topic}` at {}) is unreachable: {why}",
            connection.brokers
        ))
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        let up = u8::from(self.down.lock().is_ok_and(|d| d.is_none()));
        let queued = self.forgets.lock().map_or(0, |f| f.len() as u64);
        let pending = queued + self.forgets_in_flight.load(Ordering::Relaxed);
        let counter = |out: &mut String, name, help, value: &AtomicU64| {
            metrics::write(out, "counter", name, help, value.load(Ordering::Relaxed));
        };
        counter(
            &mut out,
            "mailtest_capture_appended_total",
            "Messages the capture log acknowledged (answered 250).",
            &self.appended,
        );
        counter(
            &mut out,
            "mailtest_capture_failed_total",
            "Messages the capture log did not acknowledge in time (answered 451).",
            &self.failed,
        );
        self.latency.write(
            &mut out,
            "mailtest_capture_append_seconds",
            "Time from a message's end to the capture log's acknowledgement.",
        );
        let help = "Whether the capture log's broker answers (1) or not (0).";
        metrics::write(&mut out, "gauge", "mailtest_capture_log_up", help, up);
        let help = "Forget records (voids, deletions) waiting to be written.";
        metrics::write(
            &mut out,
            "gauge",
            "mailtest_capture_forgets_pending",
            help,
            pending,
        );
        out
    }
}
