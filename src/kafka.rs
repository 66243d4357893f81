//! Kafka clients: configuration from settings, producer and consumer construction, and the
//! errors that map to exit codes. rdkafka types stay behind this module and its users.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, ProducerContext};

use crate::exit_code::ErrorKind;

/// How to reach the cluster: bootstrap servers and any librdkafka properties (`-X`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub brokers: String,
    /// librdkafka properties, applied after mailtest's defaults so they win.
    pub properties: Vec<(String, String)>,
    /// How long to wait for the cluster to answer before giving up.
    pub timeout: Duration,
}

/// Kafka failures, each of the kind its exit code follows.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("cannot reach Kafka at `{brokers}` within {}", humantime::format_duration(*.timeout))]
    Unreachable {
        brokers: String,
        timeout: Duration,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("invalid Kafka property: {0}")]
    Config(String),
    #[error("topic `{0}` does not exist")]
    NoTopic(String),
    /// The embedded broker or a client's own thread failed (not the user's doing).
    #[error("{0}")]
    Internal(String),
    #[error("{context}")]
    Client {
        context: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

impl KafkaError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::Unavailable,
            Self::Config(_) | Self::NoTopic(_) => ErrorKind::BadInput,
            Self::Client { .. } | Self::Internal(_) => ErrorKind::Failed,
        }
    }

    pub fn client(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Self::Client {
            context: context.into(),
            source,
        }
    }
}

/// Producer defaults a careful team sets: nothing acknowledged before every in-sync replica
/// has it, no duplicates on retry, compressed batches that wait a moment to fill. The codec
/// and the partitioner are chosen so mailtest writes a topic as the team's own clients do:
/// gzip is the one codec every Kafka client reads with nothing added (a plain aiokafka
/// consumer cannot read zstd, lz4 or snappy), and `murmur2_random` puts a key on the
/// partition the Java client, aiokafka and kafka-python choose (librdkafka's own default,
/// CRC32, agrees with them on about one key in three).
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("acks", "all"),
    ("enable.idempotence", "true"),
    ("compression.type", "gzip"),
    ("partitioner", "murmur2_random"),
    ("linger.ms", "10"),
    ("message.timeout.ms", "30000"),
];

/// Consumer-group timing for mailtest's own group members on the embedded broker.
/// librdkafka's mock cluster puts a group whose last member left into a rebalance that
/// lasts that member's `session.timeout.ms` less one second (`rdkafka_mock_cgrp.c`,
/// `rd_kafka_mock_cgrp_classic_rebalance`: the group is left "joining", not "empty"), and a
/// member that joins meanwhile waits it out: 44 s with the 45 s default, so a restarted
/// consumer sat idle that long. 6 s, the least a real broker accepts by default
/// (`group.min.session.timeout.ms`), makes it 5 s; `-X` still overrides both.
pub const EMBEDDED_GROUP_TIMING: &[(&str, &str)] = &[
    ("session.timeout.ms", "6000"),
    ("heartbeat.interval.ms", "1000"),
];

/// The cluster id prefix of librdkafka's mock cluster, which `mailtest broker` and `smoke`
/// run as the embedded broker.
const MOCK_CLUSTER_ID: &str = "mockCluster";

/// How long to ask the cluster for its id before assuming it is not the embedded one.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Connection {
    /// Whether the cluster is the embedded broker, by its cluster id; `false` when it does
    /// not answer in time (creating the real client then reports that).
    pub fn is_embedded(&self) -> bool {
        let Ok(probe) = self.config(&[]).create::<BaseProducer>() else {
            return false;
        };
        rdkafka::producer::Producer::client(&probe)
            .fetch_cluster_id(PROBE_TIMEOUT.min(self.timeout))
            .is_some_and(|id| id.starts_with(MOCK_CLUSTER_ID))
    }

    fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        // librdkafka's own log lines go through `tracing` (target `librdkafka`).
        config.set_log_level(RDKafkaLogLevel::Info);
        config
    }

    /// A producer with [`PRODUCER_DEFAULTS`] under the user's properties.
    pub fn producer<C: ProducerContext>(&self, context: C) -> Result<BaseProducer<C>, KafkaError> {
        self.config(PRODUCER_DEFAULTS)
            .create_with_context(context)
            .map_err(config_error)
    }

    /// A producer with [`PRODUCER_DEFAULTS`], then `tuned` over them, then the user's
    /// properties over both.
    pub fn producer_with<C, P>(&self, context: C, tuned: &[(&str, &str)]) -> Result<P, KafkaError>
    where
        C: rdkafka::client::ClientContext,
        P: rdkafka::config::FromClientConfigAndContext<C>,
    {
        let mut defaults = PRODUCER_DEFAULTS.to_vec();
        defaults.extend_from_slice(tuned);
        self.config(&defaults)
            .create_with_context(context)
            .map_err(config_error)
    }

    /// A consumer; `group` joins a consumer group that commits, `None` reads without one.
    pub fn consumer<C: ConsumerContext>(
        &self,
        group: Option<&str>,
        extra: &[(&str, &str)],
        context: C,
    ) -> Result<BaseConsumer<C>, KafkaError> {
        // librdkafka's assign() needs a group id even when no group is joined; a reader
        // without `--group` gets a throwaway one and never commits under it.
        let reader_group = format!("mailtest-reader-{}", std::process::id());
        let mut defaults = vec![
            ("enable.partition.eof", "true"),
            ("enable.auto.commit", "false"),
            ("group.id", group.unwrap_or(&reader_group)),
        ];
        if group.is_some() && self.is_embedded() {
            defaults.extend_from_slice(EMBEDDED_GROUP_TIMING);
        }
        defaults.extend_from_slice(extra);
        self.config(&defaults)
            .create_with_context(context)
            .map_err(config_error)
    }

    /// An async producer with [`PRODUCER_DEFAULTS`] (dispatch's dead-letter writes).
    pub fn future_producer(&self) -> Result<rdkafka::producer::FutureProducer, KafkaError> {
        self.config(PRODUCER_DEFAULTS)
            .create()
            .map_err(config_error)
    }

    /// Cluster metadata (for one topic, or all), or [`KafkaError::Unreachable`] in time.
    pub fn metadata<C: ClientContext>(
        &self,
        client: &rdkafka::client::Client<C>,
        topic: Option<&str>,
    ) -> Result<Metadata, KafkaError> {
        client
            .fetch_metadata(topic, self.timeout)
            .map_err(|source| self.unreachable(source))
    }

    /// The cluster did not answer within the timeout; `source` says how it failed.
    pub fn unreachable(&self, source: rdkafka::error::KafkaError) -> KafkaError {
        KafkaError::Unreachable {
            brokers: self.brokers.clone(),
            timeout: self.timeout,
            source,
        }
    }
}

impl Connection {
    /// Commits, for `group`, the current end of every partition of `topics` that exists, so
    /// a new member of the group reads only what is produced from now on, whatever the
    /// topics already hold. Returns how many events were skipped that way.
    pub fn start_group_at_end(&self, group: &str, topics: &[String]) -> Result<i64, KafkaError> {
        use rdkafka::consumer::{CommitMode, Consumer, DefaultConsumerContext};
        let consumer = self.consumer(Some(group), &[], DefaultConsumerContext)?;
        let metadata = self.metadata(consumer.client(), None)?;
        let mut tpl = rdkafka::TopicPartitionList::new();
        let mut skipped = 0;
        for topic in topics {
            for p in partitions(&metadata, topic).unwrap_or_default() {
                let (low, high) =
                    consumer
                        .fetch_watermarks(topic, p, self.timeout)
                        .map_err(|e| {
                            KafkaError::client(format!("cannot read the end of `{topic}`"), e)
                        })?;
                skipped += high - low;
                tpl.add_partition_offset(topic, p, rdkafka::Offset::Offset(high))
                    .map_err(|e| KafkaError::client("bad offset", e))?;
            }
        }
        if tpl.count() > 0 {
            consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
                KafkaError::client(format!("cannot commit offsets for `{group}`"), e)
            })?;
        }
        Ok(skipped)
    }
}

fn config_error(err: rdkafka::error::KafkaError) -> KafkaError {
    match err {
        rdkafka::error::KafkaError::ClientConfig(_, message, key, value) => {
            let message = message.trim_end_matches('.');
            if key.is_empty() {
                KafkaError::Config(message.to_owned())
            } else {
                KafkaError::Config(format!("`{key}={value}`: {message}"))
            }
        }
        other => KafkaError::client("cannot create Kafka client", other),
    }
}

/// Parses `key=value` (for `-X` and `--header`).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected `key=value`, got `{text}`")),
    }
}

/// Partitions of `topic` according to `metadata`, if the topic exists without error.
pub fn partitions(metadata: &Metadata, topic: &str) -> Option<Vec<i32>> {
    let t = metadata.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    Some(
        t.partitions()
            .iter()
            .map(rdkafka::metadata::MetadataPartition::id)
            .collect(),
    )
}
