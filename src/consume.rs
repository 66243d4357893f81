//! Reading topics: where to start, with or without a consumer group, stopping at the end or
//! after a count, and which messages to keep.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use crate::kafka::{Connection, KafkaError};
use crate::record::Received;
use crate::settings::SettingsError;

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
    /// The last N messages of each partition.
    Tail(i64),
    Offset(i64),
    /// The first message at or after this time (milliseconds since the epoch).
    Time(i64),
}

impl std::str::FromStr for StartAt {
    type Err = SettingsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |m: &str| SettingsError::invalid("--from", format!("`{text}`: {m}"));
        match text {
            "beginning" | "earliest" => Ok(Self::Beginning),
            "end" | "latest" => Ok(Self::End),
            _ if text.starts_with('@') => chrono::DateTime::parse_from_rfc3339(&text[1..])
                .map(|t| Self::Time(t.timestamp_millis()))
                .map_err(|e| bad(&format!("not an RFC 3339 time ({e})"))),
            _ if text.starts_with('-') => match text[1..].parse::<i64>() {
                Ok(n) if n > 0 => Ok(Self::Tail(n)),
                _ => Err(bad("expected -N with N a positive count")),
            },
            _ => text
                .parse::<i64>()
                .ok()
                .filter(|o| *o >= 0)
                .map(Self::Offset)
                .ok_or_else(|| bad("expected beginning, end, -N, an offset or @time")),
        }
    }
}

/// What to read and when to stop.
#[derive(Debug, Clone)]
pub struct Options {
    pub topics: Vec<String>,
    pub start: StartAt,
    pub group: Option<String>,
    pub exit_at_end: bool,
    /// Stop after this many messages have been passed to the handler and accepted.
    pub count: Option<u64>,
}

/// How a read ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub received: u64,
    pub accepted: u64,
    pub interrupted: bool,
}

type TopicPartition = (String, i32);

/// What receives the messages of a read.
pub trait Handler {
    /// Takes one message and says whether it counted (passed the filters); an error, such
    /// as a closed stdout, ends the read.
    fn message(&mut self, msg: Received) -> anyhow::Result<bool>;

    /// Called when no message came for a moment: a chance to flush buffered output.
    fn idle(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Reads until the end, the count, or `stop`, handing messages to `handler`.
pub fn run(
    connection: &Connection,
    options: &Options,
    stop: &AtomicBool,
    handler: &mut dyn Handler,
) -> anyhow::Result<Stats> {
    let consumer = open(connection, options)?;
    let mut ends = EndTracker::default();
    if options.group.is_none() {
        assign(connection, &consumer, options, &mut ends)?;
    }
    let mut stats = Stats::default();
    let started = Instant::now();
    let mut time_gate = TimeGate::new(options.start);
    loop {
        if stop.load(Ordering::Relaxed) {
            stats.interrupted = true;
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None | Some(Err(RdError::PartitionEOF(_))) => {
                handler.idle()?;
                if options.exit_at_end
                    && ends.all_done(connection, &consumer, options.group.is_some())?
                {
                    break;
                }
                if options.exit_at_end
                    && options.group.is_some()
                    && ends.is_empty()
                    && started.elapsed() > connection.timeout + Duration::from_secs(10)
                {
                    anyhow::bail!(
                        "no partitions were assigned to group within {:?}",
                        connection.timeout
                    );
                }
            }
            Some(Err(err)) => return Err(KafkaError::client("error while consuming", err).into()),
            Some(Ok(msg)) => {
                stats.received += 1;
                ends.consumed(msg.topic(), msg.partition(), msg.offset());
                let received = to_received(&msg);
                if !time_gate.pass(&received) {
                    continue;
                }
                let accepted = handler.message(received)?;
                if options.group.is_some() {
                    consumer
                        .store_offset_from_message(&msg)
                        .map_err(|e| KafkaError::client("cannot store offset", e))?;
                }
                if accepted {
                    stats.accepted += 1;
                    if options.count.is_some_and(|n| stats.accepted >= n) {
                        break;
                    }
                }
            }
        }
    }
    if options.group.is_some() && stats.received > 0 {
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .map_err(|e| KafkaError::client("cannot commit offsets", e))?;
    }
    Ok(stats)
}

/// Those of `candidates` that exist on the cluster (the default topic list); an error when
/// none does.
pub fn existing_topics(
    connection: &Connection,
    candidates: &[String],
) -> Result<Vec<String>, KafkaError> {
    let consumer: BaseConsumer = connection.consumer(None, &[], DefaultConsumerContext)?;
    let metadata = connection.metadata(consumer.client(), None)?;
    let found: Vec<String> = candidates
        .iter()
        .filter(|t| crate::kafka::partitions(&metadata, t).is_some())
        .cloned()
        .collect();
    if found.is_empty() {
        return Err(KafkaError::NoTopic(
            candidates.first().cloned().unwrap_or_default(),
        ));
    }
    Ok(found)
}

fn open(connection: &Connection, options: &Options) -> Result<BaseConsumer, KafkaError> {
    let reset = match options.start {
        StartAt::End => "latest",
        _ => "earliest",
    };
    let extra = [
        ("enable.auto.commit", "true"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", reset),
    ];
    let extra: &[(&str, &str)] = if options.group.is_some() {
        &extra
    } else {
        &extra[2..]
    };
    let consumer: BaseConsumer =
        connection.consumer(options.group.as_deref(), extra, DefaultConsumerContext)?;
    connection.metadata(consumer.client(), None)?;
    if options.group.is_some() {
        let topics: Vec<&str> = options.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| KafkaError::client("cannot subscribe", e))?;
    }
    Ok(consumer)
}

/// Assigns every partition of the topics at the start position, recording their ends.
fn assign(
    connection: &Connection,
    consumer: &BaseConsumer,
    options: &Options,
    ends: &mut EndTracker,
) -> Result<(), KafkaError> {
    let metadata = connection.metadata(consumer.client(), None)?;
    let mut list = TopicPartitionList::new();
    for topic in &options.topics {
        let partitions = crate::kafka::partitions(&metadata, topic)
            .ok_or_else(|| KafkaError::NoTopic(topic.clone()))?;
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, connection.timeout)
                .map_err(|e| {
                    KafkaError::client(format!("cannot read the offsets of `{topic}`"), e)
                })?;
            let offset = match options.start {
                // Brokers that cannot look offsets up by time (the mock cluster) answer
                // End; reading from the start lets the time gate find the first message.
                StartAt::Time(ms) => match time_offset(connection, consumer, topic, partition, ms)?
                {
                    Offset::Offset(o) => Offset::Offset(o),
                    _ => Offset::Beginning,
                },
                StartAt::Beginning => Offset::Beginning,
                StartAt::End => Offset::End,
                StartAt::Tail(n) => Offset::Offset((high - n).max(low)),
                StartAt::Offset(o) => Offset::Offset(o),
            };
            let start = match offset {
                Offset::Offset(o) => o,
                Offset::End => high,
                _ => low,
            };
            ends.track((topic.clone(), partition), start, high);
            list.add_partition_offset(topic, partition, offset)
                .map_err(|e| KafkaError::client("cannot build assignment", e))?;
        }
    }
    consumer
        .assign(&list)
        .map_err(|e| KafkaError::client("cannot assign partitions", e))
}

fn time_offset(
    connection: &Connection,
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    millis: i64,
) -> Result<Offset, KafkaError> {
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset(topic, partition, Offset::Offset(millis))
        .map_err(|e| KafkaError::client("cannot build time query", e))?;
    let found = consumer
        .offsets_for_times(query, connection.timeout)
        .map_err(|e| {
            KafkaError::client(format!("cannot look up offsets by time in `{topic}`"), e)
        })?;
    Ok(found
        .find_partition(topic, partition)
        .map_or(Offset::End, |p| p.offset()))
}

/// For `--from @time`: drops each partition's messages until the first one stamped at or
/// after the time, as Kafka's own offset-by-time lookup would start.
struct TimeGate {
    since: Option<i64>,
    open: std::collections::HashSet<TopicPartition>,
}

impl TimeGate {
    fn new(start: StartAt) -> Self {
        let since = match start {
            StartAt::Time(ms) => Some(ms),
            _ => None,
        };
        Self {
            since,
            open: std::collections::HashSet::new(),
        }
    }

    fn pass(&mut self, msg: &Received) -> bool {
        let Some(since) = self.since else { return true };
        let key = (msg.topic.clone(), msg.partition);
        if self.open.contains(&key) {
            return true;
        }
        if msg.timestamp.is_some_and(|t| t >= since) {
            self.open.insert(key);
            return true;
        }
        false
    }
}

/// Knows each partition's end (its high watermark when it became ours) and whether it was
/// reached, so `--exit-at-end` stops at the end as it was, even while producers keep going.
#[derive(Default)]
struct EndTracker {
    /// Partition to its end offset; removed once reached.
    pending: HashMap<TopicPartition, i64>,
    known: std::collections::HashSet<TopicPartition>,
}

impl EndTracker {
    fn track(&mut self, tp: TopicPartition, start: i64, high: i64) {
        self.known.insert(tp.clone());
        if start < high {
            self.pending.insert(tp, high);
        }
    }

    fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    fn consumed(&mut self, topic: &str, partition: i32, offset: i64) {
        let key = (topic.to_owned(), partition);
        if self.pending.get(&key).is_some_and(|end| offset + 1 >= *end) {
            self.pending.remove(&key);
        }
    }

    /// Whether every partition is read to its end; in a group, first learns new assignments.
    fn all_done(
        &mut self,
        connection: &Connection,
        consumer: &BaseConsumer,
        group: bool,
    ) -> Result<bool, KafkaError> {
        if group {
            let assignment = consumer
                .assignment()
                .map_err(|e| KafkaError::client("cannot read assignment", e))?;
            if assignment.count() == 0 {
                return Ok(false);
            }
            let positions = consumer
                .position()
                .map_err(|e| KafkaError::client("cannot read positions", e))?;
            for element in assignment.elements() {
                let tp = (element.topic().to_owned(), element.partition());
                if self.known.contains(&tp) {
                    continue;
                }
                let (low, high) = consumer
                    .fetch_watermarks(&tp.0, tp.1, connection.timeout)
                    .map_err(|e| KafkaError::client("cannot read offsets", e))?;
                let committed = committed_offset(consumer, &tp, connection.timeout).unwrap_or(low);
                self.track(tp, committed, high);
            }
            for element in positions.elements() {
                if let Offset::Offset(position) = element.offset() {
                    let tp = (element.topic().to_owned(), element.partition());
                    if self.pending.get(&tp).is_some_and(|end| position >= *end) {
                        self.pending.remove(&tp);
                    }
                }
            }
        }
        Ok(!self.known.is_empty() && self.pending.is_empty())
    }
}

fn committed_offset(
    consumer: &BaseConsumer,
    tp: &TopicPartition,
    timeout: Duration,
) -> Option<i64> {
    let mut list = TopicPartitionList::new();
    list.add_partition(&tp.0, tp.1);
    let committed = consumer.committed_offsets(list, timeout).ok()?;
    match committed.find_partition(&tp.0, tp.1)?.offset() {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

fn to_received(msg: &rdkafka::message::BorrowedMessage<'_>) -> Received {
    let headers = msg
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    Received {
        topic: msg.topic().to_owned(),
        partition: msg.partition(),
        offset: msg.offset(),
        timestamp: msg.timestamp().to_millis(),
        key: msg.key().map(<[u8]>::to_vec),
        headers,
        payload: msg.payload().unwrap_or_default().to_vec(),
    }
}

/// Which messages to keep: by event type, recipient and header values.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub types: Vec<String>,
    pub to: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Filter {
    /// Whether deciding needs the payload parsed (headers and key alone do not).
    pub fn needs_payload(&self) -> bool {
        !self.types.is_empty() || self.to.is_some()
    }

    pub fn matches(&self, msg: &Received, payload: Option<&Value>) -> bool {
        let field = |path: &str| {
            payload
                .and_then(|p| p.pointer(path))
                .and_then(Value::as_str)
        };
        if !self.types.is_empty() {
            let header = msg.header("event_type").map(String::from_utf8_lossy);
            let ty = header.as_deref().or_else(|| field("/event_type"));
            if !ty.is_some_and(|t| self.types.iter().any(|w| w == t)) {
                return false;
            }
        }
        if let Some(to) = &self.to {
            let email = field("/recipient/email").map(str::to_owned).or_else(|| {
                msg.key
                    .as_deref()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
            });
            if !email.is_some_and(|e| e.eq_ignore_ascii_case(to)) {
                return false;
            }
        }
        self.headers
            .iter()
            .all(|(k, v)| msg.header(k).is_some_and(|h| h == v.as_bytes()))
    }
}
