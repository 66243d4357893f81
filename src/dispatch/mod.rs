//! `dispatch`: the reference notification service. A consumer group reads the catalog's
//! topics; each partition has its own worker, so a partition stuck retrying never blocks the
//! others and per-key order holds; an offset is stored only once its event is handled (sent,
//! skipped as a duplicate, or dead-lettered), and committed from there: at least once.

pub mod handle;
pub mod ledger;
pub mod ops;
pub mod service;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::Message as _;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::OwnedMessage;
use tokio::sync::{mpsc, watch};

use crate::kafka::{Connection, KafkaError};
pub use handle::{Handled, Handler};
pub use ops::{Metrics, Snapshot};
pub use service::Service;

/// A partition's queue is paused past this many waiting events, resumed under a tenth.
const QUEUE_HIGH: usize = 1000;

type Partition = (String, i32);

/// A partition worker's queue: each event with the epoch it was fetched under.
type Queue = mpsc::UnboundedSender<(u64, OwnedMessage)>;

/// One partition as the workers see it.
#[derive(Default, Clone, Copy)]
struct Lane {
    /// Bumped at every revoke: events fetched under an older assignment are stale, as the
    /// next owner (maybe this process again) reads them anew from the last commit. Handling
    /// a stale one could store an offset past events that were skipped.
    epoch: u64,
    /// Events in flight.
    busy: usize,
}

/// What every partition worker can see of the others.
#[derive(Default)]
struct Lanes {
    state: Mutex<HashMap<Partition, Lane>>,
    idle: Condvar,
}

impl Lanes {
    fn add_busy(&self, p: &Partition, delta: isize) {
        let mut state = self.state.lock().expect("lanes lock");
        let lane = state.entry(p.clone()).or_default();
        lane.busy = lane.busy.saturating_add_signed(delta);
        self.idle.notify_all();
    }

    fn epoch(&self, p: &Partition) -> u64 {
        self.state
            .lock()
            .expect("lanes lock")
            .get(p)
            .map_or(0, |l| l.epoch)
    }

    /// Makes what is queued for `parts` stale and waits (bounded) for their workers to
    /// finish the events in flight, so their offsets are stored before the partition moves.
    fn revoke(&self, parts: &[Partition]) {
        let mut state = self.state.lock().expect("lanes lock");
        for p in parts {
            state.entry(p.clone()).or_default().epoch += 1;
        }
        let busy = |s: &HashMap<Partition, Lane>| {
            parts.iter().any(|p| s.get(p).is_some_and(|l| l.busy > 0))
        };
        let _ = self
            .idle
            .wait_timeout_while(state, Duration::from_secs(10), |s| busy(s));
    }
}

/// Rebalance hooks: finish and commit before partitions move, so the next owner starts
/// after what this process has sent.
struct Context {
    lanes: Arc<Lanes>,
    metrics: Arc<Metrics>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.lanes.revoke(&parts(tpl));
            // Async: the request goes out on the coordinator connection ahead of the next
            // JoinGroup, which the broker handles in order; a sync commit would block this
            // callback (and shutdown) for as long as the broker is away.
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Async) {
                tracing::debug!(error = %e, "nothing to commit before the rebalance");
            }
            self.metrics.kafka_ready.store(false, Ordering::Relaxed);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.metrics.kafka_ready.store(true, Ordering::Relaxed);
            tracing::info!(partitions = tpl.count(), "partitions assigned");
        }
    }
}

fn parts(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// The topics dispatch reads when none are named: both layouts, so producers may use
/// either.
pub fn default_topics(catalog: &crate::catalog::Catalog) -> Vec<String> {
    std::iter::once(crate::catalog::DEFAULT_TOPIC.to_owned())
        .chain(
            catalog
                .names()
                .into_iter()
                .map(crate::catalog::per_type_topic),
        )
        .collect()
}

/// Where and how to consume.
pub struct Subscription {
    pub connection: Connection,
    pub group: String,
    pub topics: Vec<String>,
    /// Events in flight at once per partition (one key's events stay in order).
    pub concurrency: usize,
}

/// The default for [`Subscription::concurrency`].
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Consumes and dispatches until `shutdown`; then finishes the events in hand, commits,
/// and leaves the group.
pub async fn run(
    settings: &Subscription,
    handler: Arc<Handler>,
    shutdown: watch::Receiver<bool>,
) -> Result<Snapshot, KafkaError> {
    let lanes = Arc::new(Lanes::default());
    let context = Context {
        lanes: lanes.clone(),
        metrics: handler.metrics.clone(),
    };
    let consumer = subscribe(settings, context)?;
    let (fetched, mut records) = mpsc::channel(FETCHED);
    let poller = {
        let (consumer, lanes, stop) = (consumer.clone(), lanes.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name("dispatch-poll".into())
            .spawn(move || poll(&consumer, &lanes, &stop, &fetched))
            .expect("a thread for the Kafka poll loop")
    };
    let metrics = handler.metrics.clone();
    let mut router = Router {
        workers: HashMap::new(),
        tasks: Vec::new(),
        paused: Arc::default(),
        consumer: consumer.clone(),
        lanes,
        handler,
        shutdown: shutdown.clone(),
        concurrency: settings.concurrency.max(1),
    };
    let mut stop = shutdown;
    loop {
        let (epoch, record) = tokio::select! {
            r = records.recv() => match r { Some(r) => r, None => break },
            _ = stop.wait_for(|s| *s) => break,
        };
        router.route(epoch, record);
    }
    drop(records);
    router.finish().await;
    // The poll loop sees the stop (or the closed channel) within one poll timeout.
    let _ = tokio::task::spawn_blocking(move || poller.join()).await;
    close(consumer).await;
    Ok(metrics.snapshot())
}

/// A consumer in the group, subscribed to the topics, with the cluster reachable.
fn subscribe(
    settings: &Subscription,
    context: Context,
) -> Result<Arc<BaseConsumer<Context>>, KafkaError> {
    let extra = [
        ("enable.partition.eof", "false"),
        ("enable.auto.commit", "true"),
        // Offsets are stored by hand once an event is handled; only those are committed.
        ("enable.auto.offset.store", "false"),
        ("auto.commit.interval.ms", "500"),
        ("auto.offset.reset", "earliest"),
        // A notification service wants each event now, not in batches: a broker that
        // holds fetches open would otherwise add up to half a second (librdkafka's default).
        ("fetch.wait.max.ms", "10"),
    ];
    let consumer = settings
        .connection
        .consumer(Some(&settings.group), &extra, context)?;
    settings.connection.metadata(consumer.client(), None)?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| KafkaError::client("cannot subscribe", e))?;
    Ok(Arc::new(consumer))
}

/// Hands each record to its partition's worker, starting workers as partitions appear and
/// pausing a partition whose queue is long.
struct Router {
    workers: HashMap<Partition, (Queue, Arc<AtomicUsize>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    paused: Arc<Mutex<std::collections::HashSet<Partition>>>,
    consumer: Arc<BaseConsumer<Context>>,
    lanes: Arc<Lanes>,
    handler: Arc<Handler>,
    shutdown: watch::Receiver<bool>,
    concurrency: usize,
}

impl Router {
    fn route(&mut self, epoch: u64, record: OwnedMessage) {
        let p = (record.topic().to_owned(), record.partition());
        let (tx, queued) = self.workers.entry(p.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let queued = Arc::new(AtomicUsize::new(0));
            let worker = worker::Worker {
                p: p.clone(),
                rx,
                queued: queued.clone(),
                consumer: self.consumer.clone(),
                lanes: self.lanes.clone(),
                paused: self.paused.clone(),
                concurrency: self.concurrency,
            };
            let run = worker.run(self.handler.clone(), self.shutdown.clone());
            self.tasks.push(tokio::spawn(run));
            (tx, queued)
        });
        if queued.fetch_add(1, Ordering::Relaxed) + 1 >= QUEUE_HIGH
            && self.paused.lock().expect("paused lock").insert(p.clone())
        {
            let _ = self.consumer.pause(&single(&p));
        }
        let _ = tx.send((epoch, record));
    }

    /// Closes the queues and waits for the workers to finish what they hold.
    async fn finish(self) {
        drop(self.workers);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Records fetched and not yet handed to their partition's worker.
const FETCHED: usize = 1024;

/// How long one poll waits for a record before looking at the stop signal again.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// Polls Kafka on its own thread until `stop` or until nobody takes records any more. The
/// rebalance callbacks run inside `poll`, and a revoke waits there for the partition's
/// events in flight: on a thread of its own that wait never takes a tokio worker from the
/// workers it waits for. Each record is tagged with its partition's epoch right after the
/// poll that fetched it, so a revoke in between makes it stale.
fn poll(
    consumer: &BaseConsumer<Context>,
    lanes: &Lanes,
    stop: &watch::Receiver<bool>,
    fetched: &mpsc::Sender<(u64, OwnedMessage)>,
) {
    while !*stop.borrow() {
        match consumer.poll(POLL_TIMEOUT) {
            None => {}
            Some(Ok(record)) => {
                let record = record.detach();
                let epoch = lanes.epoch(&(record.topic().to_owned(), record.partition()));
                if fetched.blocking_send((epoch, record)).is_err() {
                    return;
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "Kafka error; the client reconnects by itself");
            }
        }
    }
}

/// How long leaving the group may take before the process leaves without it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Commits what was handled and leaves the group, within [`CLOSE_TIMEOUT`]: with the broker
/// gone, librdkafka would wait for it forever. Leaving without the last commit is safe: the
/// next owner reads again from the previous one, and the ledger skips what was sent.
async fn close(consumer: Arc<BaseConsumer<Context>>) {
    let closing = tokio::task::spawn_blocking(move || {
        if let Err(e) = consumer.commit_consumer_state(CommitMode::Async) {
            tracing::debug!(error = %e, "nothing left to commit");
        }
        consumer.unsubscribe();
        drop(consumer);
    });
    if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
        tracing::warn!("Kafka did not answer while leaving the group; left without a final commit");
    }
}

fn single(p: &Partition) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&p.0, p.1);
    tpl
}
