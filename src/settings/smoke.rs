//! `smoke`'s settings, resolved: the user's cluster or none (the embedded one), the sink's
//! addresses, the scenario and templates to load, and how the report is written.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigFile, DEFAULT_SMTP, SettingsError, kafka, listen_addr, topic_layout, vars};
use crate::catalog::{Catalog, TopicLayout};
use crate::cli::{OutputFormat, SmokeArgs};
use crate::kafka::Connection;

/// Everything `mailtest smoke` runs with.
pub struct Smoke {
    /// The user's cluster; `None` starts the embedded one.
    pub kafka: Option<Connection>,
    /// Client properties, for the embedded cluster too.
    pub properties: Vec<(String, String)>,
    pub catalog: Catalog,
    /// The scenario file; `None`: the built-in one.
    pub scenario: Option<PathBuf>,
    /// Over the scenario's `timeout`.
    pub wait: Option<Duration>,
    /// The team's templates folder; `None`: the built-in ones.
    pub templates: Option<PathBuf>,
    pub layout: TopicLayout,
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    /// Run the reference dispatcher; `false` when the user's own service consumes and sends.
    pub dispatch: bool,
    /// Over the scenario's `vars`.
    pub vars: BTreeMap<String, String>,
    /// Leave everything up after the run, until a stop signal.
    pub keep: bool,
    pub ready_file: Option<PathBuf>,
    pub output: OutputFormat,
    pub junit: Option<PathBuf>,
    /// The team's service or worker, a shell command smoke starts and stops.
    pub worker: Option<String>,
    /// Celery's result backend, for the scenario's `celery:` states.
    pub celery_results: Option<String>,
}

pub fn smoke(args: &SmokeArgs, file: &ConfigFile) -> Result<Smoke, SettingsError> {
    let given = args.kafka.brokers.is_some() || file.brokers.is_some();
    let (connection, catalog) = kafka(&args.kafka, file)?;
    // Celery tasks are run by the team's worker, never by the reference dispatcher.
    let dispatch = !args.no_dispatch && args.worker.is_none() && catalog.celery().is_none();
    // A service the user starts sends to the port every other command defaults to; the
    // reference dispatcher, or a worker smoke starts and tells, to any free port.
    let default_smtp = if !dispatch && args.worker.is_none() {
        DEFAULT_SMTP
    } else {
        "127.0.0.1:0"
    };
    let smtp = args.smtp_listen.as_deref().unwrap_or(default_smtp);
    let http = args.http_listen.as_deref().unwrap_or("127.0.0.1:0");
    Ok(Smoke {
        properties: connection.properties.clone(),
        kafka: given.then_some(connection),
        catalog,
        scenario: args.scenario.clone(),
        wait: args.wait.map(|w| w.0),
        templates: args.templates.clone().or_else(|| file.templates.clone()),
        layout: topic_layout(args.topic.as_deref(), args.topic_per_type, file),
        smtp: listen_addr("--smtp-listen", smtp, args.allow_remote)?,
        http: listen_addr("--http-listen", http, args.allow_remote)?,
        dispatch,
        vars: vars(&args.vars)?,
        keep: args.keep,
        ready_file: args.ready_file.clone(),
        output: args.output,
        junit: args.junit.clone(),
        worker: args.worker.clone(),
        celery_results: args.celery_results.clone(),
    })
}
