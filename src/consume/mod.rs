//! Reading topics: where to start, with or without a consumer group, stopping at the end or
//! after a count, and which messages to keep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};

pub mod amqp;
mod ends;
mod filter;

pub use filter::Filter;

use ends::{EndTracker, TimeGate};

use crate::kafka::{Connection, KafkaError};
use crate::record::Received;

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
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |m: &str| format!("`{text}`: {m}");
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
    let mut reader = Reader {
        connection,
        options,
        consumer: &consumer,
        ends: EndTracker::default(),
        time_gate: TimeGate::new(options.start),
        stats: Stats::default(),
        started: Instant::now(),
    };
    if options.group.is_none() {
        assign(connection, &consumer, options, &mut reader.ends)?;
    }
    // Since when the cluster has been out of reach, mid-run.
    let mut outage: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            reader.stats.interrupted = true;
            break;
        }
        let go_on = match consumer.poll(Duration::from_millis(100)) {
            None | Some(Err(RdError::PartitionEOF(_))) => reader.idle(handler)?,
            Some(Err(err)) if transient(&err) => {
                let since = *outage.get_or_insert_with(|| {
                    tracing::warn!("lost the connection to Kafka ({err}); reconnecting");
                    Instant::now()
                });
                // Reading to the end cannot end while the cluster is away: give up like at
                // the start. Tailing waits for it, as a consumer of a real cluster would.
                if options.exit_at_end && since.elapsed() > connection.timeout {
                    return Err(connection.unreachable(err).into());
                }
                reader.idle(handler)?
            }
            Some(Err(err)) => return Err(KafkaError::client("error while consuming", err).into()),
            Some(Ok(msg)) => {
                if outage.take().is_some() {
                    tracing::info!("connected to Kafka again");
                }
                reader.message(&msg, handler)?
            }
        };
        if !go_on {
            break;
        }
    }
    if options.group.is_some() && reader.stats.received > 0 {
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .map_err(|e| KafkaError::client("cannot commit offsets", e))?;
    }
    Ok(reader.stats)
}

/// Errors librdkafka recovers from by itself (it reconnects and retries): a broker gone for a
/// while, a leader moving.
fn transient(err: &RdError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let code = match err {
        RdError::MessageConsumption(code) | RdError::Global(code) => *code,
        _ => return false,
    };
    matches!(
        code,
        Code::AllBrokersDown
            | Code::BrokerTransportFailure
            | Code::NetworkException
            | Code::RequestTimedOut
            | Code::OperationTimedOut
            | Code::LeaderNotAvailable
            | Code::NotLeaderForPartition
            | Code::CoordinatorNotAvailable
            | Code::NotCoordinator
    )
}

/// The state of one read.
struct Reader<'a> {
    connection: &'a Connection,
    options: &'a Options,
    consumer: &'a BaseConsumer,
    ends: EndTracker,
    time_gate: TimeGate,
    stats: Stats,
    started: Instant,
}

impl Reader<'_> {
    /// Nothing new for a moment: flush, and check whether the end is reached. Says whether
    /// to go on.
    fn idle(&mut self, handler: &mut dyn Handler) -> anyhow::Result<bool> {
        handler.idle()?;
        if !self.options.exit_at_end {
            return Ok(true);
        }
        let group = self.options.group.is_some();
        if self.ends.all_done(self.connection, self.consumer, group)? {
            return Ok(false);
        }
        let waited = self.started.elapsed() > self.connection.timeout + Duration::from_secs(10);
        if group && self.ends.is_empty() && waited {
            anyhow::bail!(
                "no partitions were assigned to the group within {}",
                humantime::format_duration(self.connection.timeout)
            );
        }
        Ok(true)
    }

    /// One message: hand it on, store its offset in a group, count it. Says whether to go on.
    fn message(
        &mut self,
        msg: &rdkafka::message::BorrowedMessage<'_>,
        handler: &mut dyn Handler,
    ) -> anyhow::Result<bool> {
        self.stats.received += 1;
        self.ends
            .consumed(msg.topic(), msg.partition(), msg.offset());
        let received = to_received(msg);
        if !self.time_gate.pass(&received) {
            return Ok(true);
        }
        let accepted = handler.message(received)?;
        if self.options.group.is_some() {
            self.consumer
                .store_offset_from_message(msg)
                .map_err(|e| KafkaError::client("cannot store offset", e))?;
        }
        if accepted {
            self.stats.accepted += 1;
        }
        Ok(self.options.count.is_none_or(|n| self.stats.accepted < n))
    }
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
