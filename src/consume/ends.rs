//! Knowing when a read is done (`--exit-at-end`) and where a time-based read starts.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{StartAt, TopicPartition};
use crate::kafka::{Connection, KafkaError};
use crate::record::Received;

/// For `--from @time`: drops each partition's messages until the first one stamped at or
/// after the time, as Kafka's own offset-by-time lookup would start.
pub(super) struct TimeGate {
    since: Option<i64>,
    open: HashSet<TopicPartition>,
}

impl TimeGate {
    pub(super) fn new(start: StartAt) -> Self {
        let since = match start {
            StartAt::Time(ms) => Some(ms),
            _ => None,
        };
        Self {
            since,
            open: HashSet::new(),
        }
    }

    pub(super) fn pass(&mut self, msg: &Received) -> bool {
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
pub(super) struct EndTracker {
    /// Partition to its end offset; removed once reached.
    pending: HashMap<TopicPartition, i64>,
    known: HashSet<TopicPartition>,
}

impl EndTracker {
    pub(super) fn track(&mut self, tp: TopicPartition, start: i64, high: i64) {
        self.known.insert(tp.clone());
        if start < high {
            self.pending.insert(tp, high);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    pub(super) fn consumed(&mut self, topic: &str, partition: i32, offset: i64) {
        let key = (topic.to_owned(), partition);
        if self.pending.get(&key).is_some_and(|end| offset + 1 >= *end) {
            self.pending.remove(&key);
        }
    }

    /// Whether every partition is read to its end; in a group, first learns new assignments.
    pub(super) fn all_done(
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
