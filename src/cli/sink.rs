//! `mailtest sink` and its `list`, `show` and `export` actions.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputFormat;
use crate::value::{ByteSize, Span};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SinkArgs {
    #[command(subcommand)]
    pub action: Option<SinkAction>,
    /// SMTP address to listen on [default: 127.0.0.1:1025]
    #[arg(long, env = "MAILTEST_SMTP", value_name = "ADDR")]
    pub smtp: Option<String>,
    /// HTTP API address [default: 127.0.0.1:8025]
    #[arg(long, env = "MAILTEST_HTTP", value_name = "ADDR")]
    pub http: Option<String>,
    /// Also serve Mailpit's API (v1) on this address, so suites written for Mailpit run
    /// unchanged with this as their base URL
    #[arg(long, env = "MAILTEST_MAILPIT", value_name = "ADDR")]
    pub mailpit: Option<String>,
    /// Let Mailpit's link check request loopback and private addresses (refused by default,
    /// so a message cannot make the sink reach into its network), as Mailpit's own flag
    #[arg(long)]
    pub allow_internal_http_requests: bool,
    /// Score messages with this SpamAssassin daemon (`HOST:PORT` of `spamd`, or
    /// `unix:/path`): Mailpit's `sa-check` route and the inbox's spam tab, as Mailpit's flag
    #[arg(long, env = "MAILTEST_SPAMASSASSIN", value_name = "ADDR")]
    pub enable_spamassassin: Option<String>,
    /// Accept only this key on the providers' send APIs (SendGrid, SES, ...), under this
    /// name (which becomes the mailbox of what it sends), repeatable; default: any key
    #[arg(
        long = "provider-key",
        env = "MAILTEST_PROVIDER_KEYS",
        value_name = "NAME=KEY",
        value_delimiter = ','
    )]
    pub provider_keys: Vec<String>,
    /// Let Mailpit's chaos API (`/api/v1/chaos`) set fault rules, as Mailpit's own flag
    #[arg(long)]
    pub enable_chaos: bool,
    /// Also serve MailHog's API (v1 and v2) on this address, for suites written for MailHog
    #[arg(long, env = "MAILTEST_MAILHOG", value_name = "ADDR")]
    pub mailhog: Option<String>,
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
    pub retain_age: Option<Span>,
    /// Also keep every message as `DIR/<id>.eml`, for mail clients and tools that read files
    /// (files of deleted or evicted messages are removed)
    #[arg(long, value_name = "DIR")]
    pub eml_dir: Option<PathBuf>,
    /// Keep messages in memory only (nothing survives a restart)
    #[arg(long, conflicts_with = "dir")]
    pub memory: bool,
    /// Also sync every acknowledged message to disk, in batches (survives power loss)
    #[arg(long, conflicts_with = "memory")]
    pub fsync: bool,
    /// Largest message accepted, such as `25MB` (larger ones get 552) [default: 25MiB]
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<ByteSize>,
    /// Sessions at once; more are told 421
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_connections: usize,
    /// How long a client may stay silent
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub idle_timeout: Span,
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
    /// Offer AUTH before STARTTLS too (with TLS on, AUTH is offered only after it)
    #[arg(long)]
    pub auth_before_tls: bool,
    /// What a line ending in a bare LF gets: `keep` stores the message byte for byte and
    /// flags it (`bare_lf`); `reject` answers 550 and closes, as postfix's
    /// `smtpd_forbid_bare_newline = yes`
    #[arg(long, value_enum, default_value_t = BareLfArg::Keep, value_name = "POLICY")]
    pub bare_lf: BareLfArg,
    /// A server the API may release captured mail to, as `NAME=smtp://[user:pass@]host:port`
    /// with `?tls=none|opportunistic|required` and `&insecure=true`; repeatable. Without
    /// one, nothing can leave the sink
    #[arg(long, value_name = "NAME=URL", hide_env_values = true)]
    pub release_to: Vec<String>,
    /// Recipients (a regular expression over the whole address) a message may be released
    /// to besides its own envelope recipients
    #[arg(long, value_name = "REGEX")]
    pub release_allow: Option<String>,
    /// Scripted faults (YAML rules); replaceable at runtime through the API
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Allow listening on an address other than loopback (the API then answers to any
    /// `Host` name)
    #[arg(long)]
    pub allow_remote: bool,
    /// Also answer API requests for this `Host` name (besides loopback names and the
    /// `--http` host); refused otherwise, against DNS rebinding
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Write `MAILTEST_SMTP=<addr>` and `MAILTEST_HTTP=<url>` to this file once listening
    /// (shell-sourceable)
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    #[command(flatten)]
    pub capture: CaptureArgs,
}

/// A sink beyond one machine: replicas that write to a Kafka topic, readers of it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Capture log (Kafka)")]
pub struct CaptureArgs {
    /// Be a replica: write every accepted message to this Kafka topic and answer 250 only
    /// once the broker acknowledged it (451 otherwise). The local store is then a cache,
    /// in memory unless --store is given
    #[arg(long, env = "MAILTEST_CAPTURE_TOPIC", value_name = "TOPIC")]
    pub capture_topic: Option<String>,
    /// Be a reader: build the store from this topic (the mail of every replica), and
    /// capture this sink's own mail into it too
    #[arg(long, value_name = "TOPIC", conflicts_with = "capture_topic")]
    pub from_topic: Option<String>,
    /// Kafka bootstrap servers of the capture topic [default: 127.0.0.1:9092]
    #[arg(short, long, env = "MAILTEST_BROKERS", value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,
    /// A librdkafka property for the capture log's clients, repeatable
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,
    /// How long a message may wait for the broker's acknowledgement before its client is
    /// told 451
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub capture_timeout: Span,
    /// This replica's name in its records [default: the host name and SMTP port]
    #[arg(long, value_name = "NAME")]
    pub replica_name: Option<String>,
}

/// `--bare-lf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BareLfArg {
    Keep,
    Reject,
}

/// Where a store lives.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Store directory [default: .mailtest/store]
    #[arg(long = "store", env = "MAILTEST_STORE", value_name = "DIR")]
    pub dir: Option<PathBuf>,
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
