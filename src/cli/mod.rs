//! The command line as clap types. Parsing only: `settings.rs` turns these into settings.
//! Kafka commands live here; the sink and the mail commands in the submodules.

mod mail;
mod sink;

pub use mail::*;
pub use sink::*;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::value::{HostPort, Span};

/// Test the email path of an event-driven backend before production: Kafka events in,
/// captured SMTP mail out, without one real email leaving the machine.
#[derive(Debug, Parser)]
#[command(name = "mailtest", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr: no progress, no summaries
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colour; `NO_COLOR` set means never under `auto`
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Config file [default: ./mailtest.yaml if present]
    #[arg(long, global = true, env = "MAILTEST_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Lay this profile of the config file over its other settings
    #[arg(long, global = true, env = "MAILTEST_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an embedded Kafka broker (librdkafka's mock cluster) with the catalog's topics
    Broker(BrokerArgs),
    /// Publish email events (from files, fixtures, or generated) to Kafka
    Produce(ProduceArgs),
    /// Read email events from Kafka topics
    Consume(ConsumeArgs),
    /// Render email templates: previews, `.eml`, a gallery of every template, live preview, lints
    Render(RenderArgs),
    /// Capture SMTP server with a durable store and an HTTP API (`sink list|show` read a store)
    Sink(Box<SinkArgs>),
    /// Check captured mail against YAML expectations (a live sink, a store, or .eml files)
    Verify(VerifyArgs),
    /// The reference notification service: Kafka events to rendered email over SMTP
    Dispatch(Box<DispatchArgs>),
    /// Run the whole pipeline in one process: broker, sink, dispatch, produce, verify
    Smoke(Box<SmokeArgs>),
    /// List the event catalog: types, their fields and fixtures
    Catalog(CatalogArgs),
    /// Show the settings in effect and where each comes from
    Config(ConfigArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Write a man page for mailtest and each subcommand into a directory
    Man(ManArgs),
}

/// Connection flags shared by every Kafka command.
#[derive(Debug, Args, Clone)]
pub struct KafkaArgs {
    /// Bootstrap servers, such as `127.0.0.1:9092`
    #[arg(short, long, env = "MAILTEST_BROKERS", value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,
    /// A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,
    /// How long to wait for the broker before giving up (exit 3)
    #[arg(long, env = "MAILTEST_TIMEOUT", value_name = "DURATION")]
    pub timeout: Option<Span>,
    /// A catalog directory that adds or replaces event types
    #[arg(long, env = "MAILTEST_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Number of brokers in the cluster
    #[arg(long = "brokers", default_value_t = 1, value_name = "N")]
    pub broker_count: u16,
    /// Partitions of each topic created
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub partitions: u16,
    /// Serve the first broker on this address (the next brokers on the following ports)
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// How long a new consumer group waits for more members before its first assignment
    /// (Kafka's `group.initial.rebalance.delay.ms`; brokers default to 3s)
    #[arg(long, default_value = "0s", value_name = "DURATION")]
    pub group_join_delay: Span,
    /// Write the bootstrap address to this file once the broker is ready
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// More topics to create, repeatable; a pattern with `{type}` names one per catalog
    /// type (`{type}` for topics named after the types)
    #[arg(short, long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// A catalog directory whose types also get topics
    #[arg(long, env = "MAILTEST_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Event files (JSON, JSON Lines, YAML; `-` for stdin); none means generate events
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Send the catalog's sample fixtures
    #[arg(long, conflicts_with = "files")]
    pub fixtures: bool,
    /// Only these event types (generated or fixtures), repeatable
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// How many events to send; input is repeated, with fresh event ids, to reach it
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,
    /// Events per second (default: as fast as the broker takes them)
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Seed for generated events: the same seed gives the same events and event ids
    #[arg(long)]
    pub seed: Option<u64>,
    /// Send every event to this topic, or to a topic per type named by a pattern with
    /// `{type}`: `email-events.{type}`, or `{type}` for topics named after the types
    #[arg(short, long, value_name = "TOPIC", conflicts_with = "topic_per_type")]
    pub topic: Option<String>,
    /// One topic per event type (`email-events.{type}`) instead of one shared topic
    #[arg(long)]
    pub topic_per_type: bool,
    /// An extra header on every message, repeatable
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Print the events as JSON Lines instead of sending them
    #[arg(long)]
    pub dry_run: bool,
    /// Send input lines as they are, unchecked, to see how consumers treat garbage
    #[arg(long, conflicts_with_all = ["fixtures", "seed"])]
    pub raw: bool,
    /// Summary format on stdout (text goes to stderr)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// When Kafka cannot be reached, render each event and send it straight to this SMTP
    /// server instead (as services that fall back on direct mail do)
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["dry_run", "raw"])]
    pub fallback_smtp: Option<HostPort>,
    /// Templates for --fallback-smtp [default: built in]
    #[arg(
        long,
        env = "MAILTEST_TEMPLATES",
        value_name = "DIR",
        requires = "fallback_smtp"
    )]
    pub templates: Option<PathBuf>,
    /// Send the Celery tasks of a catalog with `celery.yaml` to RabbitMQ at this AMQP URL
    /// (`amqp://user:pass@host:5672/vhost`) instead of Kafka, with publisher confirms
    #[arg(long, env = "MAILTEST_AMQP", value_name = "URL", conflicts_with_all = ["dry_run", "raw", "fallback_smtp"])]
    pub amqp: Option<String>,
    /// With a catalog whose `celery.yaml` makes events Celery tasks: wait for every task's
    /// result in this Redis result backend (`redis://host:port/db`) and report the states
    #[arg(long, env = "MAILTEST_CELERY_RESULTS", value_name = "URL", conflicts_with_all = ["dry_run", "raw"])]
    pub celery_results: Option<String>,
    /// How long to wait for the tasks' results after the last is sent
    #[arg(
        long,
        default_value = "30s",
        value_name = "DURATION",
        requires = "celery_results"
    )]
    pub results_timeout: Span,
    /// Robustness mode: send malformed Celery tasks made from one of the catalog's
    /// (`--poison` for every case, `--poison=no-id,bad-json` for some), each followed by a
    /// canary task, and report what the worker did with each; --results-timeout is the
    /// wait for each canary
    #[arg(
        long,
        value_name = "CASES",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "all",
        value_delimiter = ',',
        requires = "celery_results"
    )]
    pub poison: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Topic to read, repeatable; a pattern with `{type}` names one per catalog type
    /// [default: the config file's `topic`, else the catalog's topics that exist]
    #[arg(short, long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Where to start: beginning, end, -N (last N per partition), an offset, or @RFC3339-time
    #[arg(
        long,
        value_name = "POSITION",
        default_value = "beginning",
        allow_hyphen_values = true
    )]
    pub from: String,
    /// Join this consumer group and commit offsets (resumes where the group left off)
    #[arg(short, long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Exit once every partition is read to its end
    #[arg(short, long)]
    pub exit_at_end: bool,
    /// Exit after printing this many messages
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,
    /// Only events of this type, repeatable
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only Celery tasks of this name (`app.tasks.send_welcome_email_task`), repeatable
    #[arg(long = "task", value_name = "NAME")]
    pub tasks: Vec<String>,
    /// Only events to this recipient address
    #[arg(long, value_name = "EMAIL")]
    pub to: Option<String>,
    /// Only messages with this header value, repeatable
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = ConsumeFormat::Pretty)]
    pub format: ConsumeFormat,
    /// Read RabbitMQ queues at this AMQP URL instead of Kafka topics, without consuming:
    /// every message read goes back to its queue
    #[arg(long, env = "MAILTEST_AMQP", value_name = "URL", conflicts_with_all = ["group", "topics"])]
    pub amqp: Option<String>,
    /// With --amqp: a queue to read, repeatable [default: the catalog's Celery queues, else
    /// `celery`]
    #[arg(long = "queue", value_name = "QUEUE", requires = "amqp")]
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsumeFormat {
    /// Readable, with a header line per message
    Pretty,
    /// One JSON object per line, accepted back by `produce`
    Json,
    /// The payload bytes alone, one message per line
    Raw,
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// A catalog directory that adds or replaces event types
    #[arg(long, env = "MAILTEST_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Print the listing as JSON
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print every setting from the environment, the config file (and profile) and the
    /// defaults, with its source; flags win over all of these
    Show {
        /// A table, or one JSON object per setting
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write `mailtest.1`, `mailtest-produce.1`, ... into (created)
    #[arg(value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for
    pub shell: clap_complete::Shell,
}
