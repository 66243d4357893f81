//! The mail commands: `render`, `verify`, `dispatch` and `smoke`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{KafkaArgs, OutputFormat};
use crate::value::{HostPort, Span};

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
    /// Read the mail from this capture topic (where `sink --capture-topic` replicas
    /// write), to its end, with -b and -X
    #[arg(long, value_name = "TOPIC", conflicts_with_all = ["store", "eml", "sink", "watch"])]
    pub capture_topic: Option<String>,
    /// `.eml` files or Maildir folders instead of a sink (checked once, no waiting)
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub eml: Vec<PathBuf>,
    /// How long to wait for the expectations, overriding the file's `timeout`
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Span>,
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
    /// A catalog directory for `matches_render` fixtures, formats and templates
    #[arg(long, env = "MAILTEST_CATALOG", value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Kafka, for `matches_render` with `from: kafka` (the events behind the mail)
    #[arg(short, long, env = "MAILTEST_BROKERS", value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,
    /// A librdkafka property, repeatable (`-X security.protocol=SASL_SSL`)
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub property: Vec<String>,
    /// The topics holding those events, repeatable; `{type}` patterns allowed [default: the
    /// catalog's topics]
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// The SpamAssassin daemon that scores mail for `spam_check` (`HOST:PORT` of `spamd`, or
    /// `unix:/path`)
    #[arg(long, env = "MAILTEST_SPAMASSASSIN", value_name = "ADDR")]
    pub spamassassin: Option<String>,
    /// Celery's Redis result backend (`redis://host:port/db`), for the file's `celery:` task
    /// states
    #[arg(long, env = "MAILTEST_CELERY_RESULTS", value_name = "URL")]
    pub celery_results: Option<String>,
}

#[derive(Debug, Args)]
pub struct DispatchArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The consumer group; processes in one group share the partitions
    /// [default: mailtest-dispatch]
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Topics to consume, repeatable; a pattern with `{type}` names one per catalog type
    /// [default: the config file's `topic`, else `email-events` and `email-events.{type}`]
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Where events that can never be sent go, with the reason in headers
    #[arg(long, default_value = "email-events.dlq", value_name = "TOPIC")]
    pub dlq_topic: String,
    /// The SMTP server to send through [default: the config file's `dispatch.smtp` or
    /// `sink.smtp`, else 127.0.0.1:1025]
    #[arg(long, env = "MAILTEST_SMTP", value_name = "HOST:PORT")]
    pub smtp: Option<HostPort>,
    /// A second SMTP server, used when the first stays unreachable
    #[arg(long, value_name = "HOST:PORT")]
    pub fallback_smtp: Option<HostPort>,
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
    /// Emails in flight at once per partition; events for one recipient stay in order
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Attempts per email before it is dead-lettered (temporary failures only)
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_attempts: u32,
    /// The first retry delay; each next one doubles (with jitter), up to 10 s
    #[arg(long, default_value = "200ms", value_name = "DURATION")]
    pub retry_base: Span,
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

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The scenario: events to produce and expectations to meet [default: every fixture of
    /// every event type, `fixtures/scenarios/default.yaml`]
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Without `--brokers` (or `brokers:` in the config file), an embedded broker
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The sink's SMTP address [default: a free loopback port; `127.0.0.1:1025` with
    /// --no-dispatch]
    #[arg(long, value_name = "ADDR")]
    pub smtp_listen: Option<String>,
    /// The sink's API address [default: a free loopback port]
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<String>,
    /// Allow --smtp-listen and --http-listen on an address other than loopback
    #[arg(long)]
    pub allow_remote: bool,
    /// Do not run the reference dispatcher: your own service consumes the events and sends
    /// the mail to --smtp-listen
    #[arg(long)]
    pub no_dispatch: bool,
    /// Produce to this topic, or to a topic per type named by a pattern with `{type}`
    /// (`{type}`, `events.{type}`) [default: the config file's `topic`, else `email-events`]
    #[arg(short, long, value_name = "TOPIC", conflicts_with = "topic_per_type")]
    pub topic: Option<String>,
    /// Produce to one topic per event type (`email-events.{type}`)
    #[arg(long)]
    pub topic_per_type: bool,
    /// Leave the broker, sink and dispatcher up after the run, until Ctrl-C
    #[arg(long)]
    pub keep: bool,
    /// How long to wait for the mail [default: the scenario's `timeout`, else 30s]
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<Span>,
    /// Set a variable for the scenario's `{{ name }}` placeholders (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Templates directory [default: built in]
    #[arg(long, env = "MAILTEST_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Print the report as a table or as one JSON object
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write the verification as JUnit XML to this file
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write `MAILTEST_BROKERS`, `MAILTEST_SMTP` and `MAILTEST_HTTP` to this file once the
    /// pipeline is up (shell-sourceable), before producing
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Your service or Celery worker, a shell command started once the broker and sink are
    /// up (with their addresses in `MAILTEST_*` variables) and stopped after the run; the
    /// reference dispatcher does not run
    #[arg(long, value_name = "COMMAND")]
    pub worker: Option<String>,
    /// Celery's Redis result backend (`redis://host:port/db`): the scenario's `celery:`
    /// task states are read there, and a started worker is ready once it runs a first task
    #[arg(long, env = "MAILTEST_CELERY_RESULTS", value_name = "URL")]
    pub celery_results: Option<String>,
}
