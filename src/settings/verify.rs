//! `verify`'s settings, resolved: the expectations file with the flags laid over what it
//! says (timeout, mailbox), where the mail is read from, and how the report is written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    ConfigFile, DEFAULT_HTTP, SettingsError, connection, load_catalog, topics_to_read, vars,
};
use crate::catalog::Catalog;
use crate::cli::{OutputFormat, VerifyArgs};
use crate::kafka::Connection;

/// Where `verify` reads captured mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailSource {
    /// A running sink's API, with its token.
    Sink { url: String, token: Option<String> },
    /// A store folder, read once.
    Store(PathBuf),
    /// `.eml` files or Maildir folders, read once.
    Files(Vec<PathBuf>),
    /// A capture topic, read to its end.
    Topic {
        connection: Connection,
        topic: String,
    },
}

/// Everything `mailtest verify` runs with.
pub struct Verify {
    /// The expectations file.
    pub file: PathBuf,
    /// Over the file's `timeout`.
    pub timeout: Option<Duration>,
    /// Over the file's `mailbox`.
    pub mailbox: Option<String>,
    /// Over the file's `vars`.
    pub vars: BTreeMap<String, String>,
    /// The team's templates folder for golden comparisons; `None`: the built-in ones.
    pub templates: Option<PathBuf>,
    pub catalog: Catalog,
    /// Where `matches_render` reads events from Kafka, when a cluster is named (`-b`,
    /// `MAILTEST_BROKERS`, the config file), and the topics (empty: the catalog's that exist).
    pub kafka: Option<Connection>,
    pub topics: Vec<String>,
    pub source: MailSource,
    pub watch: bool,
    pub output: OutputFormat,
    pub junit: Option<PathBuf>,
    /// The SpamAssassin daemon `spam_check` scores with.
    pub spamd: Option<String>,
    /// Celery's result backend, for the `celery:` task states.
    pub celery_results: Option<String>,
}

pub fn verify(args: &VerifyArgs, file: &ConfigFile) -> Result<Verify, SettingsError> {
    let source = if let Some(topic) = &args.capture_topic {
        let connection = connection(args.brokers.as_deref(), &args.property, file.timeout, file)?;
        MailSource::Topic {
            connection,
            topic: topic.clone(),
        }
    } else if let Some(dir) = &args.store {
        MailSource::Store(dir.clone())
    } else if !args.eml.is_empty() {
        MailSource::Files(args.eml.clone())
    } else {
        let url = args
            .sink
            .as_deref()
            .or(file.sink.http.as_deref())
            .unwrap_or(DEFAULT_HTTP);
        MailSource::Sink {
            url: http_url(url),
            token: args.api_token.clone(),
        }
    };
    let catalog = load_catalog(args.catalog.as_deref().or(file.catalog.as_deref()))?;
    let named = args.brokers.is_some() || file.brokers.is_some();
    let kafka = named
        .then(|| connection(args.brokers.as_deref(), &args.property, file.timeout, file))
        .transpose()?;
    Ok(Verify {
        topics: topics_to_read(&args.topics, file, &catalog),
        kafka,
        file: args.file.clone(),
        timeout: args.timeout.map(|t| t.0),
        mailbox: args.mailbox.clone(),
        vars: vars(&args.vars)?,
        templates: args.templates.clone().or_else(|| file.templates.clone()),
        catalog,
        source,
        watch: args.watch,
        spamd: args.spamassassin.clone(),
        celery_results: args.celery_results.clone(),
        output: args.output,
        junit: args.junit.clone(),
    })
}

/// A sink's API address as a URL: `127.0.0.1:8025` (as the sink's own `--http` and the
/// config file's `sink.http` write it) or a whole URL.
fn http_url(text: &str) -> String {
    if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    }
}
