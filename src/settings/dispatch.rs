//! `dispatch`'s settings, resolved: flags and `MAILTEST_*` over the config file's
//! `dispatch:` (and `sink:` for the SMTP address) over the defaults.

use std::path::PathBuf;

use super::{
    ConfigFile, DEFAULT_GROUP, DEFAULT_SMTP, SettingsError, host_port, kafka, topics_to_read,
};
use crate::catalog::Catalog;
use crate::cli::{DispatchArgs, SmtpTls};
use crate::kafka::Connection;
use crate::outbound::sender::{Relay, Retry, TlsMode};
use crate::value::HostPort;

/// Everything `mailtest dispatch` runs with.
pub struct Dispatch {
    pub connection: Connection,
    pub catalog: Catalog,
    /// The team's templates folder; `None`: the built-in templates.
    pub templates: Option<PathBuf>,
    pub group: String,
    /// Empty: the catalog's default topics.
    pub topics: Vec<String>,
    pub dlq_topic: String,
    pub concurrency: usize,
    pub smtp: Relay,
    pub fallback: Option<Relay>,
    pub retry: Retry,
    /// Where the idempotency ledger lives; `None`: in memory only (`--no-state`).
    pub state: Option<PathBuf>,
    /// The health and metrics address.
    pub http: String,
    pub ready_file: Option<PathBuf>,
}

impl From<SmtpTls> for TlsMode {
    fn from(tls: SmtpTls) -> Self {
        match tls {
            SmtpTls::None => Self::None,
            SmtpTls::Opportunistic => Self::Opportunistic,
            SmtpTls::Required => Self::Required,
        }
    }
}

pub fn dispatch(args: &DispatchArgs, file: &ConfigFile) -> Result<Dispatch, SettingsError> {
    let (connection, catalog) = kafka(&args.kafka, file)?;
    let topics = topics_to_read(&args.topics, file, &catalog);
    let server = |addr: HostPort| Relay {
        addr,
        tls: args.smtp_tls.into(),
        insecure: args.smtp_insecure,
        auth: args.smtp_user.clone().zip(args.smtp_password.clone()),
    };
    let smtp = match &args.smtp {
        Some(addr) => addr.clone(),
        None => host_port(
            "dispatch.smtp",
            file.dispatch_smtp().unwrap_or(DEFAULT_SMTP),
        )?,
    };
    let group = args
        .group
        .clone()
        .or_else(|| file.dispatch.group.clone())
        .unwrap_or_else(|| DEFAULT_GROUP.to_owned());
    let retry = Retry {
        attempts: args.max_attempts.max(1),
        base: args.retry_base.0,
        ..Retry::default()
    };
    Ok(Dispatch {
        connection,
        catalog,
        templates: args.templates.clone().or_else(|| file.templates.clone()),
        group,
        topics,
        dlq_topic: args.dlq_topic.clone(),
        concurrency: args.concurrency,
        smtp: server(smtp),
        fallback: args.fallback_smtp.clone().map(server),
        retry,
        state: (!args.no_state).then(|| args.state.clone()),
        http: args.http.clone(),
        ready_file: args.ready_file.clone(),
    })
}
