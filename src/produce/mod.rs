//! Sending messages to Kafka at a count and rate, tracking every delivery report, and the
//! summary of what was delivered where and how fast.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use serde::Serialize;

pub mod amqp;
pub mod plan;
pub mod robustness;

use crate::kafka::{Connection, KafkaError};
use crate::record::Outgoing;

/// Pace and limits of one run.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// Messages per second; `None` sends as fast as the broker takes them.
    pub rate: Option<f64>,
    /// How long to wait at the end for outstanding deliveries.
    pub flush_timeout: Duration,
}

/// What happened to every message of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Deliveries {
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Messages still unacknowledged when the run ended (interrupted or flush timed out).
    pub undelivered: u64,
    pub elapsed_ms: u64,
    pub per_second: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// Delivered count by `topic/partition`.
    pub partitions: BTreeMap<String, u64>,
    /// Failure reasons and how often each was seen.
    pub errors: BTreeMap<String, u64>,
    pub interrupted: bool,
}

/// Delivery bookkeeping shared with librdkafka's callback thread.
struct Tracker {
    start: Instant,
    state: Mutex<Tally>,
}

/// Deliveries counted so far (also for tasks sent to RabbitMQ).
#[derive(Default)]
pub struct Tally {
    delivered: u64,
    failed: u64,
    partitions: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    /// Delivery latencies in microseconds.
    latencies: Vec<u32>,
}

impl Tally {
    /// How many were delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// One send's outcome: where it went, or why it failed; its latency counted from `at`.
    pub fn count(&mut self, (at, outcome): (Instant, Result<String, String>)) {
        match outcome {
            Ok(place) => {
                self.delivered += 1;
                let micros = at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                self.latencies.push(micros);
                *self.partitions.entry(place).or_default() += 1;
            }
            Err(reason) => {
                self.failed += 1;
                *self.errors.entry(reason).or_default() += 1;
            }
        }
    }
}

impl ClientContext for Tracker {}

impl ProducerContext for Tracker {
    /// Nanoseconds from the run's start to when the message was handed to librdkafka.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: usize) {
        let latency =
            (self.start.elapsed().as_nanos() as u64).saturating_sub(sent_at as u64) / 1000;
        let mut tally = self.state.lock().expect("tally lock");
        match result {
            Ok(msg) => {
                tally.delivered += 1;
                tally
                    .latencies
                    .push(latency.min(u64::from(u32::MAX)) as u32);
                *tally
                    .partitions
                    .entry(format!("{}/{}", msg.topic(), msg.partition()))
                    .or_default() += 1;
            }
            Err((err, _)) => {
                tally.failed += 1;
                *tally.errors.entry(err.to_string()).or_default() += 1;
            }
        }
    }
}

/// Sends `messages` (of which there are `total`, for the progress bar) and reports on them.
/// Returns [`KafkaError::Unreachable`] when the cluster does not answer before sending.
pub fn run(
    connection: &Connection,
    messages: impl Iterator<Item = Outgoing>,
    pace: &Pace,
    progress: &ProgressBar,
    stop: &AtomicBool,
) -> Result<Deliveries, KafkaError> {
    let tracker = Tracker {
        start: Instant::now(),
        state: Mutex::default(),
    };
    let producer = connection.producer(tracker)?;
    connection.metadata(producer.client(), None)?;
    let start = producer.context().start;
    let sent = send_all(&producer, messages, pace, progress, stop)?;
    let interrupted = stop.load(Ordering::Relaxed);
    let flush = if interrupted {
        Duration::from_secs(5)
    } else {
        pace.flush_timeout
    };
    // A flush that times out leaves messages undelivered; they are counted, not hidden.
    let _ = producer.flush(flush);
    let elapsed = start.elapsed();
    let undelivered = producer.in_flight_count().max(0) as u64;
    progress.finish_and_clear();
    let tally = std::mem::take(&mut *producer.context().state.lock().expect("tally lock"));
    Ok(summarize(tally, sent, undelivered, elapsed, interrupted))
}

/// Sends every message at the pace asked; returns how many were handed to librdkafka.
fn send_all(
    producer: &BaseProducer<Tracker>,
    messages: impl Iterator<Item = Outgoing>,
    pace: &Pace,
    progress: &ProgressBar,
    stop: &AtomicBool,
) -> Result<u64, KafkaError> {
    let mut start = producer.context().start;
    let interval = pace
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let mut sent = 0u64;
    for message in messages {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(interval) = interval {
            wait_until(
                producer,
                start + interval.mul_f64(sent.saturating_sub(1) as f64),
                stop,
            );
        }
        send(producer, &message, stop)?;
        sent += 1;
        if sent == 1 && interval.is_some() {
            // A paced run starts once the first event is delivered: until librdkafka has
            // its connection and producer id (up to half a second), events would only
            // queue, and arrive in a burst that is not the rate asked for.
            let _ = producer.flush(pace.flush_timeout);
            start = Instant::now();
        }
        // Serving delivery reports now and then is enough; after every send it costs ~25%.
        if sent.is_multiple_of(64) {
            producer.poll(Duration::ZERO);
        }
        if sent.is_multiple_of(256) {
            let delivered = producer
                .context()
                .state
                .lock()
                .expect("tally lock")
                .delivered;
            progress.set_position(delivered);
        }
    }
    Ok(sent)
}

/// Hands one message to librdkafka, waiting while its queue is full.
fn send(
    producer: &BaseProducer<Tracker>,
    message: &Outgoing,
    stop: &AtomicBool,
) -> Result<(), KafkaError> {
    let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
    for (key, value) in &message.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    let sent_at = producer.context().start.elapsed().as_nanos() as usize;
    let mut record = BaseRecord::with_opaque_to(&message.topic, sent_at)
        .payload(&message.payload)
        .headers(headers);
    if let Some(key) = &message.key {
        record = record.key(key);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if !stop.load(Ordering::Relaxed) =>
            {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((err, _)) => {
                return Err(KafkaError::client(
                    format!("cannot send to topic `{}`", message.topic),
                    err,
                ));
            }
        }
    }
}

/// Serves delivery reports until `deadline`, for a steady rate.
fn wait_until(producer: &BaseProducer<Tracker>, deadline: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        producer.poll(deadline - now);
    }
}

pub fn summarize(
    mut tally: Tally,
    sent: u64,
    undelivered: u64,
    elapsed: Duration,
    interrupted: bool,
) -> Deliveries {
    tally.latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if tally.latencies.is_empty() {
            return 0.0;
        }
        let rank =
            ((p * tally.latencies.len() as f64).ceil() as usize).clamp(1, tally.latencies.len());
        f64::from(tally.latencies[rank - 1]) / 1000.0
    };
    let secs = elapsed.as_secs_f64().max(1e-9);
    Deliveries {
        sent,
        delivered: tally.delivered,
        failed: tally.failed,
        undelivered,
        elapsed_ms: elapsed.as_millis() as u64,
        per_second: (tally.delivered as f64 / secs * 10.0).round() / 10.0,
        latency_p50_ms: percentile(0.50),
        latency_p99_ms: percentile(0.99),
        latency_max_ms: percentile(1.0),
        partitions: tally.partitions,
        errors: tally.errors,
        interrupted,
    }
}
