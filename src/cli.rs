//! The command line as clap types. Parsing only: `settings.rs` turns these into settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Run the whole pipeline in one process (not yet available)
    Smoke(PendingArgs),
    /// List the event catalog: types, their fields and fixtures
    Catalog(CatalogArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
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
    pub timeout: Option<String>,
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
    /// Write the bootstrap address to this file once the broker is ready
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
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
    /// Send every event to this topic
    #[arg(short, long, value_name = "TOPIC", conflicts_with = "topic_per_type")]
    pub topic: Option<String>,
    /// One topic per event type (`email-events.<type>`) instead of one shared topic
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
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Topic to read, repeatable [default: the catalog's topics that exist]
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
    /// Only events to this recipient address
    #[arg(long, value_name = "EMAIL")]
    pub to: Option<String>,
    /// Only messages with this header value, repeatable
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = ConsumeFormat::Pretty)]
    pub format: ConsumeFormat,
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
#[command(args_conflicts_with_subcommands = true)]
pub struct SinkArgs {
    #[command(subcommand)]
    pub action: Option<SinkAction>,
    /// SMTP address to listen on
    #[arg(
        long,
        env = "MAILTEST_SMTP",
        default_value = "127.0.0.1:1025",
        value_name = "ADDR"
    )]
    pub smtp: String,
    /// HTTP API address
    #[arg(
        long,
        env = "MAILTEST_HTTP",
        default_value = "127.0.0.1:8025",
        value_name = "ADDR"
    )]
    pub http: String,
    /// Require this token on the API (`Authorization: Bearer <token>`)
    #[arg(
        long,
        env = "MAILTEST_API_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Keep at most this many messages (the oldest go first; evictions are counted)
    #[arg(long, value_name = "N")]
    pub retain_count: Option<usize>,
    /// Keep no message older than this, such as `24h`
    #[arg(long, value_name = "DURATION")]
    pub retain_age: Option<String>,
    /// Keep messages in memory only (nothing survives a restart)
    #[arg(long, conflicts_with = "dir")]
    pub memory: bool,
    /// Also sync every acknowledged message to disk, in batches (survives power loss)
    #[arg(long, conflicts_with = "memory")]
    pub fsync: bool,
    /// Largest message accepted, such as `25MB` (larger ones get 552)
    #[arg(long, default_value = "25MiB", value_name = "BYTES")]
    pub max_size: String,
    /// Sessions at once; more are told 421
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,
    /// How long a client may stay silent
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub idle_timeout: String,
    /// The name the server greets with
    #[arg(long, default_value = "mailtest.localhost")]
    pub hostname: String,
    /// Offer STARTTLS with a self-signed certificate made at start
    #[arg(long)]
    pub tls: bool,
    /// Offer STARTTLS with this PEM certificate chain (with --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept only these AUTH credentials (`user:password,...`); default: anyone
    #[arg(
        long,
        env = "MAILTEST_AUTH_USERS",
        value_name = "USER:PASS,...",
        hide_env_values = true
    )]
    pub auth_users: Option<String>,
    /// Refuse mail (530) until the client authenticates
    #[arg(long, conflicts_with = "no_auth")]
    pub auth_required: bool,
    /// Do not offer AUTH
    #[arg(long)]
    pub no_auth: bool,
    /// Scripted faults (YAML rules); replaceable at runtime through the API
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Allow listening on an address other than loopback
    #[arg(long)]
    pub allow_remote: bool,
    /// Write `MAILTEST_SMTP=<addr>` and `MAILTEST_HTTP=<url>` to this file once listening
    /// (shell-sourceable)
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

/// Where a store lives.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Store directory
    #[arg(
        long = "store",
        env = "MAILTEST_STORE",
        default_value = ".mailtest/store",
        value_name = "DIR"
    )]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum SinkAction {
    /// List the messages in a store, oldest first
    List(SinkListArgs),
    /// Print one stored message exactly as received
    Show(SinkShowArgs),
    /// Write stored messages as `.eml` files, for any mail client or tool
    Export(SinkExportArgs),
}

#[derive(Debug, Args)]
pub struct SinkExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Folder to write `<id>.eml` files into (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub filter: MessageFilterArgs,
}

#[derive(Debug, Args)]
pub struct SinkListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub filter: MessageFilterArgs,
    /// Listing format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Which stored messages a command works on.
#[derive(Debug, Args, Clone)]
pub struct MessageFilterArgs {
    /// Only messages to this address (envelope or `To`)
    #[arg(long, value_name = "EMAIL")]
    pub to: Option<String>,
    /// Only messages in this mailbox (test run)
    #[arg(long, value_name = "NAME")]
    pub mailbox: Option<String>,
    /// Only messages whose subject contains this
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// Only messages with this header (`Name`) or whose header contains a value (`Name: text`)
    #[arg(long, value_name = "HEADER")]
    pub header: Option<String>,
    /// Only messages whose subject or decoded text or HTML contains this
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
}

#[derive(Debug, Args)]
pub struct SinkShowArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The message id (from `sink list`)
    pub id: u64,
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
pub struct CompletionsArgs {
    /// The shell to print completions for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The event type to render (see `mailtest catalog`); taken from the event with --event
    #[arg(value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Render this event (JSON or YAML file, `-` for stdin) instead of a fixture
    #[arg(long, value_name = "FILE", conflicts_with = "fixture")]
    pub event: Option<PathBuf>,
    /// Which of the type's fixtures to render [default: default, else the first]
    #[arg(long, value_name = "NAME")]
    pub fixture: Option<String>,
    /// What to print: subject and text, one part, the whole MIME message, or JSON
    #[arg(long, value_enum, default_value_t = RenderFormat::Summary)]
    pub format: RenderFormat,
    /// Render every template with every fixture into a static gallery (needs --out)
    #[arg(long, requires = "out", conflicts_with_all = ["event_type", "event", "fixture", "check", "serve"])]
    pub all: bool,
    /// The gallery's directory (created; existing files are replaced)
    #[arg(long, value_name = "DIR", requires = "all")]
    pub out: Option<PathBuf>,
    /// Serve the gallery and reload it in the browser when a template or fixture changes
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8026",
          conflicts_with_all = ["event_type", "event", "fixture", "check"])]
    pub serve: Option<String>,
    /// With --serve: write `MAILTEST_RENDER=http://ADDR` to this file once listening
    #[arg(long, value_name = "FILE", requires = "serve")]
    pub ready_file: Option<PathBuf>,
    /// Lint every template with every fixture; exit 1 when there are errors
    #[arg(long, conflicts_with_all = ["event_type", "event", "fixture"])]
    pub check: bool,
    /// With --check: warnings fail too
    #[arg(long, requires = "check")]
    pub strict: bool,
    /// Templates directory (layout as in the built-in `templates/`) [default: built in]
    #[arg(long, env = "MAILTEST_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// A catalog directory that adds or replaces event types and fixtures
    #[arg(long, env = "MAILTEST_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The expectations file (YAML; see the README for every key)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A running sink's HTTP API [default: `http://127.0.0.1:8025`]
    #[arg(long, env = "MAILTEST_HTTP", value_name = "URL", conflicts_with_all = ["store", "eml"])]
    pub sink: Option<String>,
    /// A store directory instead of a running sink (checked once, no waiting)
    #[arg(long, value_name = "DIR", conflicts_with = "eml")]
    pub store: Option<PathBuf>,
    /// `.eml` files or Maildir folders instead of a sink (checked once, no waiting)
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub eml: Vec<PathBuf>,
    /// How long to wait for the expectations, overriding the file's `timeout`
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Only mail of this mailbox (test run), overriding the file's `mailbox`
    #[arg(long, value_name = "NAME")]
    pub mailbox: Option<String>,
    /// Set a variable for `{{ name }}` placeholders (repeatable), overriding the file's `vars`
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// The report: a table, or JSON with every verdict and extracted value
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write the report as JUnit XML to this file
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// The sink's API token
    #[arg(
        long,
        env = "MAILTEST_API_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// Run again each time mail arrives, until Ctrl-C (a live sink only)
    #[arg(long, conflicts_with_all = ["store", "eml", "junit"])]
    pub watch: bool,
    /// Templates for `matches_render` [default: built in]
    #[arg(long, env = "MAILTEST_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// A catalog directory for `matches_render` fixtures
    #[arg(long, env = "MAILTEST_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DispatchArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The consumer group; processes in one group share the partitions
    #[arg(long, default_value = "mailtest-dispatch", value_name = "NAME")]
    pub group: String,
    /// Topics to consume [default: `email-events` and `email-events.<type>` for every type]
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Where events that can never be sent go, with the reason in headers
    #[arg(long, default_value = "email-events.dlq", value_name = "TOPIC")]
    pub dlq_topic: String,
    /// The SMTP server to send through
    #[arg(
        long,
        env = "MAILTEST_SMTP",
        default_value = "127.0.0.1:1025",
        value_name = "HOST:PORT"
    )]
    pub smtp: String,
    /// A second SMTP server, used when the first stays unreachable
    #[arg(long, value_name = "HOST:PORT")]
    pub fallback_smtp: Option<String>,
    /// TLS towards the SMTP servers
    #[arg(long, value_enum, default_value_t = SmtpTls::None)]
    pub smtp_tls: SmtpTls,
    /// Accept any TLS certificate (a test server's self-signed one)
    #[arg(long)]
    pub smtp_insecure: bool,
    /// AUTH user for the SMTP servers
    #[arg(long, value_name = "USER", requires = "smtp_password")]
    pub smtp_user: Option<String>,
    /// AUTH password
    #[arg(
        long,
        env = "MAILTEST_SMTP_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,
    /// Attempts per email before it is dead-lettered (temporary failures only)
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_attempts: u32,
    /// The first retry delay; each next one doubles (with jitter), up to 10 s
    #[arg(long, default_value = "200ms", value_name = "DURATION")]
    pub retry_base: String,
    /// Templates directory [default: built in]
    #[arg(long, env = "MAILTEST_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Where the ids of sent events are kept (one process per directory)
    #[arg(long, default_value = ".mailtest/dispatch", value_name = "DIR")]
    pub state: PathBuf,
    /// Keep sent ids in memory only (a restart may send again)
    #[arg(long, conflicts_with = "state")]
    pub no_state: bool,
    /// Health, readiness and metrics endpoints
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    pub http: String,
    /// Write `MAILTEST_DISPATCH_HTTP=http://ADDR` to this file once running
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    /// Plain SMTP
    None,
    /// STARTTLS when offered
    Opportunistic,
    /// STARTTLS or fail
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    /// Subject, preheader, recipient, then the text part
    Summary,
    /// The subject line alone
    Subject,
    /// The HTML part, CSS inlined
    Html,
    /// The text part
    Text,
    /// The complete MIME message as it would be sent
    Eml,
    /// Every part as one JSON object (with --check: one finding per line)
    Json,
}

/// Arguments of commands that later releases fill in; accepted so `--help` works.
#[derive(Debug, Args)]
pub struct PendingArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}
