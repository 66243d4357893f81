//! Resolved settings: flags over `MAILTEST_*` environment (both through clap) over the
//! config file over defaults, validated once so commands never see clap types.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::{Catalog, DEFAULT_PER_TYPE, DEFAULT_TOPIC, TopicLayout};
use crate::cli::KafkaArgs;
use crate::exit_code::ErrorKind;
use crate::kafka::{Connection, parse_key_value};

mod broker;
mod consume;
mod dispatch;
mod file;
mod produce;
mod render;
pub mod show;
mod sink;
mod smoke;
mod verify;

pub use crate::value::{ByteSize, HostPort, Span};
pub use broker::{EmbeddedBroker, broker};
pub use consume::{Consume, consume};
pub use dispatch::{Dispatch, dispatch};
pub use file::{ConfigFile, DispatchConfig, SinkConfig};
pub use produce::{Produce, produce};
pub use render::{Render, RenderMode, render};
pub use sink::{Capture, Sink, sink, store_dir};
pub use smoke::{Smoke, smoke};
pub use verify::{MailSource, Verify, verify};

/// Where Kafka commands connect when nothing says otherwise.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const CONFIG_FILE: &str = "mailtest.yaml";
/// Where the sink listens, and where dispatch sends, when nothing says otherwise.
pub const DEFAULT_SMTP: &str = "127.0.0.1:1025";
pub const DEFAULT_HTTP: &str = "127.0.0.1:8025";
pub const DEFAULT_STORE: &str = ".mailtest/store";
pub const DEFAULT_MAX_SIZE: ByteSize = ByteSize(25 * 1024 * 1024);
pub const DEFAULT_GROUP: &str = "mailtest-dispatch";

/// Bad flags or config, reported with where they came from (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(crate::located::Located),
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
}

impl SettingsError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadInput
    }
}

impl SettingsError {
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// Parses a size such as `25MiB`, `10MB`, `512KB` or `1000` (bytes).
pub fn parse_size(what: &str, text: &str) -> Result<u64, SettingsError> {
    text.parse::<ByteSize>()
        .map(|s| s.0)
        .map_err(|m| SettingsError::invalid(what, format!("`{text}`: {m}")))
}

/// The Kafka connection and catalog every Kafka command resolves the same way.
pub fn kafka(args: &KafkaArgs, file: &ConfigFile) -> Result<(Connection, Catalog), SettingsError> {
    let connection = connection(
        args.brokers.as_deref(),
        &args.property,
        args.timeout.or(file.timeout),
        file,
    )?;
    let catalog_dir = args.catalog.as_deref().or(file.catalog.as_deref());
    Ok((connection, load_catalog(catalog_dir)?))
}

/// A cluster connection from the flags (`-b`, `-X`, `--timeout`) over the config file.
pub fn connection(
    brokers: Option<&str>,
    property: &[String],
    timeout: Option<Span>,
    file: &ConfigFile,
) -> Result<Connection, SettingsError> {
    let brokers = brokers
        .map(str::to_owned)
        .or_else(|| file.brokers.clone())
        .unwrap_or_else(|| DEFAULT_BROKERS.to_owned());
    if brokers.trim().is_empty() {
        return Err(SettingsError::invalid(
            "--brokers",
            "no bootstrap servers given",
        ));
    }
    let mut properties = Vec::new();
    for (key, value) in &file.kafka {
        properties.push((key.clone(), yaml_scalar(key, value)?));
    }
    for text in property {
        properties.push(parse_key_value(text).map_err(|m| SettingsError::invalid("-X", m))?);
    }
    Ok(Connection {
        brokers,
        properties,
        timeout: timeout.map_or(DEFAULT_TIMEOUT, |s| s.0),
    })
}

/// Parses `--var NAME=VALUE` flags.
pub fn vars(pairs: &[String]) -> Result<std::collections::BTreeMap<String, String>, SettingsError> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    SettingsError::invalid("--var", format!("`{pair}`: expected NAME=VALUE"))
                })
        })
        .collect()
}

/// Parses a listen address; anything but loopback needs `--allow-remote`.
pub fn listen_addr(
    flag: &str,
    text: &str,
    allow_remote: bool,
) -> Result<std::net::SocketAddr, SettingsError> {
    let addr: std::net::SocketAddr = text
        .parse()
        .map_err(|e| SettingsError::invalid(flag, format!("`{text}`: {e} (expected IP:PORT)")))?;
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(SettingsError::invalid(
            flag,
            format!("`{addr}` is not a loopback address; pass --allow-remote to serve other hosts"),
        ));
    }
    Ok(addr)
}

/// A server to connect to, from config-file text (flags parse through clap).
pub fn host_port(what: &str, text: &str) -> Result<HostPort, SettingsError> {
    text.parse()
        .map_err(|m| SettingsError::invalid(what, format!("`{text}`: {m}")))
}

/// Parses `--header k=v` flags.
pub fn headers(flags: &[String]) -> Result<Vec<(String, String)>, SettingsError> {
    flags
        .iter()
        .map(|h| parse_key_value(h).map_err(|m| SettingsError::invalid("--header", m)))
        .collect()
}

/// Loads the catalog, mapping its errors into settings errors' exit class.
pub fn load_catalog(dir: Option<&Path>) -> Result<Catalog, SettingsError> {
    Catalog::load(dir).map_err(|e| SettingsError::invalid("catalog", e.to_string()))
}

pub(crate) fn yaml_scalar(key: &str, value: &serde_norway::Value) -> Result<String, SettingsError> {
    use serde_norway::Value as Y;
    match value {
        Y::String(s) => Ok(s.clone()),
        Y::Bool(b) => Ok(b.to_string()),
        Y::Number(n) => Ok(n.to_string()),
        _ => Err(SettingsError::invalid(
            format!("config `kafka.{key}`"),
            "expected a string, number or boolean",
        )),
    }
}

/// Where produced events go: `--topic` (a name, or a pattern with `{type}`) over
/// `--topic-per-type` over the config file's `topic` and `topic_per_type` (a `topic` there
/// wins over its `topic_per_type`).
pub fn topic_layout(topic: Option<&str>, per_type: bool, file: &ConfigFile) -> TopicLayout {
    if let Some(topic) = topic {
        return TopicLayout::parse(topic);
    }
    if per_type {
        return TopicLayout::PerType(DEFAULT_PER_TYPE.to_owned());
    }
    configured_layout(file).unwrap_or_else(|| TopicLayout::Single(DEFAULT_TOPIC.to_owned()))
}

/// The topics a reader (consume, dispatch) subscribes to: those given (patterns expanded),
/// else the config file's layout; empty when neither names any (the command's default).
pub fn topics_to_read(given: &[String], file: &ConfigFile, catalog: &Catalog) -> Vec<String> {
    if !given.is_empty() {
        return crate::catalog::expand_topics(given, catalog);
    }
    configured_layout(file).map_or_else(Vec::new, |layout| layout.topics(catalog))
}

/// The layout the config file names, if it names one.
pub fn configured_layout(file: &ConfigFile) -> Option<TopicLayout> {
    match (&file.topic, file.topic_per_type) {
        (Some(topic), _) => Some(TopicLayout::parse(topic)),
        (None, Some(true)) => Some(TopicLayout::PerType(DEFAULT_PER_TYPE.to_owned())),
        _ => None,
    }
}
