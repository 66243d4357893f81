//! `sink`'s settings, resolved: flags and `MAILTEST_*` over the config file's `sink:` over
//! the defaults, parsed and checked once (addresses, sizes, durations, TLS files, fault
//! rules, release targets).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::{
    ConfigFile, DEFAULT_HTTP, DEFAULT_MAX_SIZE, DEFAULT_SMTP, DEFAULT_STORE, SettingsError,
    listen_addr,
};
use crate::api::{ApiSettings, HostPolicy};
use crate::capture::CaptureSettings;
use crate::cli::{BareLfArg, CaptureArgs, SinkArgs, StoreArgs};
use crate::outbound::release::Targets;
use crate::smtp::auth::AuthPolicy;
use crate::smtp::faults::FaultSet;
use crate::smtp::{BareLf, ServerSettings, SessionConfig, tls};
use crate::store::Retention;

/// Everything `mailtest sink` serves with.
pub struct Sink {
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    /// Mailpit's and MailHog's APIs, when asked for.
    pub mailpit: Option<SocketAddr>,
    pub mailhog: Option<SocketAddr>,
    pub server: ServerSettings,
    pub api: ApiSettings,
    /// The store's folder; `None`: in memory (`--memory`).
    pub store: Option<PathBuf>,
    pub fsync: bool,
    pub eml_dir: Option<PathBuf>,
    pub retention: Retention,
    pub ready_file: Option<PathBuf>,
    /// The capture log, when this sink is a replica or a reader of one.
    pub capture: Option<Capture>,
}

/// A sink beyond one machine.
pub struct Capture {
    /// What this sink writes every message to.
    pub log: CaptureSettings,
    /// Whether it also builds its store from the topic (`--from-topic`).
    pub read: bool,
}

/// A replica's cache, when it keeps one in memory: the newest messages, so its API can
/// still show what it took without growing with the load.
const REPLICA_CACHE: usize = 10_000;

pub fn sink(args: &SinkArgs, file: &ConfigFile) -> Result<Sink, SettingsError> {
    let conf = &file.sink;
    let smtp = args.smtp.as_deref().or(conf.smtp.as_deref());
    let smtp = listen_addr("--smtp", smtp.unwrap_or(DEFAULT_SMTP), args.allow_remote)?;
    let http = args.http.as_deref().or(conf.http.as_deref());
    let http = listen_addr("--http", http.unwrap_or(DEFAULT_HTTP), args.allow_remote)?;
    let compat = |flag: &str, given: Option<&str>| {
        given
            .map(|a| listen_addr(flag, a, args.allow_remote))
            .transpose()
    };
    let mailpit = compat(
        "--mailpit",
        args.mailpit.as_deref().or(conf.mailpit.as_deref()),
    )?;
    let mailhog = compat(
        "--mailhog",
        args.mailhog.as_deref().or(conf.mailhog.as_deref()),
    )?;
    let max_size = args.max_size.or(conf.max_size).unwrap_or(DEFAULT_MAX_SIZE);
    let capture = capture(&args.capture, file, smtp)?;
    let (store, retention) = keeping(args, file, capture.as_ref());
    let session = SessionConfig {
        hostname: args.hostname.clone(),
        max_size: max_size.0,
        timeout: args.idle_timeout.0,
        tls: tls_config(args)?,
        auth: auth_policy(args)?,
        faults: Arc::new(fault_set(args.faults.as_ref().or(conf.faults.as_ref()))?),
        bare_lf: match args.bare_lf {
            BareLfArg::Keep => BareLf::Keep,
            BareLfArg::Reject => BareLf::Reject,
        },
        auth_before_tls: args.auth_before_tls,
        ..SessionConfig::default()
    };
    Ok(Sink {
        smtp,
        http,
        mailpit,
        mailhog,
        server: ServerSettings {
            session,
            max_connections: args.max_connections.max(1),
            ..ServerSettings::default()
        },
        api: api(args, file, http)?,
        store,
        fsync: args.fsync,
        eml_dir: args.eml_dir.clone(),
        retention,
        ready_file: args.ready_file.clone(),
        capture,
    })
}

/// Where messages are kept and for how long. A replica's store is a cache: in memory and
/// bounded, unless a folder or a limit is named.
fn keeping(
    args: &SinkArgs,
    file: &ConfigFile,
    capture: Option<&Capture>,
) -> (Option<PathBuf>, Retention) {
    let cache_only =
        capture.is_some_and(|c| !c.read) && args.store.dir.is_none() && file.sink.store.is_none();
    let store = (!args.memory && !cache_only).then(|| store_dir(&args.store, file));
    let retention = Retention {
        max_count: args.retain_count.or(cache_only.then_some(REPLICA_CACHE)),
        max_age: args.retain_age.map(|a| a.0),
    };
    (store, retention)
}

/// The capture log's settings, from `--capture-topic` or `--from-topic` and `-b`/`-X`.
fn capture(
    args: &CaptureArgs,
    file: &ConfigFile,
    smtp: SocketAddr,
) -> Result<Option<Capture>, SettingsError> {
    let (topic, read) = match (&args.capture_topic, &args.from_topic) {
        (Some(topic), _) => (topic, false),
        (None, Some(topic)) => (topic, true),
        (None, None) => return Ok(None),
    };
    if topic.trim().is_empty() {
        return Err(SettingsError::invalid(
            "--capture-topic",
            "the topic name is empty",
        ));
    }
    let connection = super::connection(args.brokers.as_deref(), &args.property, None, file)?;
    let replica = args.replica_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_or_else(|_| "localhost".to_owned(), |h| h.trim().to_owned());
        format!("{host}:{}", smtp.port())
    });
    let log = CaptureSettings {
        connection,
        topic: topic.clone(),
        timeout: args.capture_timeout.0,
        replica,
    };
    Ok(Some(Capture { log, read }))
}

/// The store folder `sink` and `sink list|show|export` use.
pub fn store_dir(args: &StoreArgs, file: &ConfigFile) -> PathBuf {
    args.dir
        .clone()
        .or_else(|| file.sink.store.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
}

fn api(args: &SinkArgs, file: &ConfigFile, http: SocketAddr) -> Result<ApiSettings, SettingsError> {
    let conf = &file.sink;
    let release_to: Vec<String> = if args.release_to.is_empty() {
        let configured = conf.release_to.iter();
        configured
            .map(|(name, url)| format!("{name}={url}"))
            .collect()
    } else {
        args.release_to.clone()
    };
    let allow = args
        .release_allow
        .as_deref()
        .or(conf.release_allow.as_deref());
    let targets = Targets::parse(&release_to, allow)
        .map_err(|e| SettingsError::invalid("--release-to", e.to_string()))?;
    let mut names = args.allow_host.clone();
    names.push(http.ip().to_string());
    Ok(ApiSettings {
        token: args.api_token.clone(),
        hosts: HostPolicy {
            any: args.allow_remote,
            names,
        },
        release: Arc::new(targets),
        chaos: args.enable_chaos,
        checks: Arc::new(crate::checks::Checker::new(
            args.enable_spamassassin.clone(),
            args.allow_internal_http_requests,
        )),
        provider_keys: provider_keys(&args.provider_keys)?,
        ..ApiSettings::default()
    })
}

/// `NAME=KEY` pairs.
fn provider_keys(
    pairs: &[String],
) -> Result<Vec<crate::api::providers::ProviderKey>, SettingsError> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, key)) if !name.trim().is_empty() && !key.trim().is_empty() => {
                Ok(crate::api::providers::ProviderKey {
                    name: name.trim().to_owned(),
                    key: key.trim().to_owned(),
                })
            }
            _ => Err(SettingsError::invalid(
                "--provider-key",
                format!("`{pair}`: expected NAME=KEY"),
            )),
        })
        .collect()
}

fn tls_config(args: &SinkArgs) -> Result<Option<Arc<rustls::ServerConfig>>, SettingsError> {
    let config = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::from_files(cert, key)),
        _ if args.tls => {
            let names = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                args.hostname.clone(),
            ];
            Some(tls::self_signed(&names))
        }
        _ => None,
    };
    config
        .transpose()
        .map_err(|e| SettingsError::invalid("TLS", e.to_string()))
}

fn fault_set(path: Option<&PathBuf>) -> Result<FaultSet, SettingsError> {
    let faults = FaultSet::default();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let message = format!("cannot read `{}`: {e}", path.display());
            SettingsError::invalid("--faults", message)
        })?;
        let invalid =
            |m: String| SettingsError::invalid("--faults", format!("{}: {m}", path.display()));
        let rules = FaultSet::parse(&text).map_err(invalid)?;
        faults.set(rules).map_err(invalid)?;
    }
    Ok(faults)
}

fn auth_policy(args: &SinkArgs) -> Result<Option<AuthPolicy>, SettingsError> {
    if args.no_auth {
        return Ok(None);
    }
    let users = match &args.auth_users {
        Some(text) => Some(
            AuthPolicy::parse_users(text).map_err(|m| SettingsError::invalid("--auth-users", m))?,
        ),
        None => None,
    };
    Ok(Some(AuthPolicy {
        users,
        required: args.auth_required,
    }))
}
