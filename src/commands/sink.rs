//! `mailtest sink`: the capture SMTP server over a store, and `sink list|show` to read one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use crate::api::{ApiSettings, HostPolicy};
use crate::cli::{
    BareLfArg, MessageFilterArgs, OutputFormat, SinkAction, SinkArgs, SinkExportArgs, SinkListArgs,
    SinkShowArgs, StoreArgs,
};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::release::Targets;
use crate::settings::{self, ConfigFile, SettingsError};
use crate::sink::Sink;
use crate::smtp::auth::AuthPolicy;
use crate::smtp::faults::FaultSet;
use crate::smtp::{BareLf, ServerSettings, SessionConfig, tls};
use crate::store::{Query, Retention, Store};

pub async fn run(mut args: SinkArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    match &mut args.action {
        Some(SinkAction::List(list)) => {
            list.store.dir = Some(store_dir(&list.store, config));
            self::list(list, printer)
        }
        Some(SinkAction::Show(show)) => {
            show.store.dir = Some(store_dir(&show.store, config));
            self::show(show, printer)
        }
        Some(SinkAction::Export(export)) => {
            export.store.dir = Some(store_dir(&export.store, config));
            self::export(export, printer)
        }
        None => {
            // Flags and environment (clap) over the config file over the defaults.
            let file = &config.sink;
            args.smtp = Some(pick(
                args.smtp.as_ref(),
                file.smtp.as_ref(),
                settings::DEFAULT_SMTP,
            ));
            args.http = Some(pick(
                args.http.as_ref(),
                file.http.as_ref(),
                settings::DEFAULT_HTTP,
            ));
            args.max_size = Some(pick(
                args.max_size.as_ref(),
                file.max_size.as_ref(),
                settings::DEFAULT_MAX_SIZE,
            ));
            args.faults = args.faults.take().or_else(|| file.faults.clone());
            if args.release_to.is_empty() {
                args.release_to = file
                    .release_to
                    .iter()
                    .map(|(name, url)| format!("{name}={url}"))
                    .collect();
            }
            args.release_allow = args
                .release_allow
                .take()
                .or_else(|| file.release_allow.clone());
            args.store.dir = Some(store_dir(&args.store, config));
            serve(args, printer).await
        }
    }
}

fn pick(flag: Option<&String>, file: Option<&String>, default: &str) -> String {
    flag.or(file)
        .map_or_else(|| default.to_owned(), String::clone)
}

fn store_dir(args: &StoreArgs, config: &ConfigFile) -> PathBuf {
    args.dir
        .clone()
        .or_else(|| config.sink.store.clone())
        .unwrap_or_else(|| PathBuf::from(settings::DEFAULT_STORE))
}

/// A value [`run`] has resolved.
fn resolved<T: ?Sized + ToOwned>(value: Option<&T>) -> &T {
    value.expect("resolved in run")
}

async fn bind(flag: &str, addr: SocketAddr, printer: &Printer) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| SettingsError::invalid(flag, format!("cannot listen on `{addr}`: {e}")))?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        printer.warn(&format!("{flag} `{bound}` is reachable from other hosts"));
    }
    Ok(listener)
}

fn server_settings(args: &SinkArgs) -> Result<(SocketAddr, ServerSettings)> {
    let addr = settings::listen_addr("--smtp", resolved(args.smtp.as_deref()), args.allow_remote)?;
    let session = SessionConfig {
        hostname: args.hostname.clone(),
        max_size: settings::parse_size("--max-size", resolved(args.max_size.as_deref()))?,
        timeout: settings::parse_duration("--idle-timeout", &args.idle_timeout)?,
        tls: tls_config(args)?,
        auth: auth_policy(args)?,
        faults: Arc::new(fault_set(args)?),
        bare_lf: match args.bare_lf {
            BareLfArg::Keep => BareLf::Keep,
            BareLfArg::Reject => BareLf::Reject,
        },
        auth_before_tls: args.auth_before_tls,
        ..SessionConfig::default()
    };
    let settings = ServerSettings {
        session,
        max_connections: args.max_connections.max(1),
        ..ServerSettings::default()
    };
    Ok((addr, settings))
}

fn tls_config(args: &SinkArgs) -> Result<Option<Arc<rustls::ServerConfig>>> {
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
    Ok(config
        .transpose()
        .map_err(|e| SettingsError::invalid("TLS", e.to_string()))?)
}

fn fault_set(args: &SinkArgs) -> Result<FaultSet> {
    let faults = FaultSet::default();
    if let Some(path) = &args.faults {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))
            .map_err(|e| SettingsError::invalid("--faults", format!("{e:#}")))?;
        let invalid =
            |m: String| SettingsError::invalid("--faults", format!("{}: {m}", path.display()));
        let rules = FaultSet::parse(&text).map_err(invalid)?;
        faults.set(rules).map_err(invalid)?;
    }
    Ok(faults)
}

fn auth_policy(args: &SinkArgs) -> Result<Option<AuthPolicy>> {
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

async fn serve(args: SinkArgs, printer: &Printer) -> Result<Outcome> {
    super::raise_open_file_limit();
    let (addr, settings) = server_settings(&args)?;
    let http_addr =
        settings::listen_addr("--http", resolved(args.http.as_deref()), args.allow_remote)?;
    let retention = Retention {
        max_count: args.retain_count,
        max_age: args
            .retain_age
            .as_deref()
            .map(|a| settings::parse_duration("--retain-age", a))
            .transpose()?,
    };
    let store = if args.memory {
        Store::memory()
    } else {
        Store::open(resolved(args.store.dir.as_deref()), args.fsync)?
    };
    let store = match &args.eml_dir {
        Some(dir) => store.with_eml_dir(dir)?,
        None => store,
    };
    let store = Arc::new(store.with_retention(retention));
    store.enforce_retention()?;
    let (smtp, http) = (
        bind("--smtp", addr, printer).await?,
        bind("--http", http_addr, printer).await?,
    );
    let mut names = args.allow_host.clone();
    names.push(http_addr.ip().to_string());
    let api = ApiSettings {
        token: args.api_token.clone(),
        hosts: HostPolicy {
            any: args.allow_remote,
            names,
        },
        release: Arc::new(
            Targets::parse(&args.release_to, args.release_allow.as_deref())
                .map_err(|e| SettingsError::invalid("--release-to", e.to_string()))?,
        ),
        ..ApiSettings::default()
    };
    let sink = Sink::start(smtp, http, store.clone(), settings, api)?;
    if let Some(path) = &args.ready_file {
        let contents = format!("MAILTEST_SMTP={}\nMAILTEST_HTTP={}", sink.smtp, sink.url());
        super::write_ready_file(path, &contents)?;
    }
    let kept = if args.memory {
        "in memory".to_owned()
    } else {
        format!("in `{}`", resolved(args.store.dir.as_deref()).display())
    };
    printer.status(&format!(
        "sink: SMTP on {}, inbox and API on {}/, {} messages kept {kept}; Ctrl-C stops",
        sink.smtp,
        sink.url(),
        store.len()
    ));
    let status = status_line(store.clone(), printer);
    // SIGTERM (a service manager, CI, `docker stop`) drains like Ctrl-C.
    super::stop_signal().await;
    status.abort();
    sink.stop().await;
    printer.status(&format!("sink: stopped with {} messages kept", store.len()));
    Ok(Outcome::Success)
}

/// A live one-line status on a terminal: messages stored and the recent rate.
fn status_line(store: Arc<Store>, printer: &Printer) -> tokio::task::JoinHandle<()> {
    let bar = printer.progress(None, "waiting for mail");
    tokio::spawn(async move {
        let (mut last, mut at) = (store.len(), Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = store.len();
            let rate = now.saturating_sub(last) as f64 / at.elapsed().as_secs_f64();
            bar.set_message(format!("{now} messages stored, {rate:.0}/s"));
            bar.tick();
            (last, at) = (now, Instant::now());
        }
    })
}

fn open(dir: &Path) -> Result<Store> {
    if !dir.join("messages.log").exists() {
        return Err(SettingsError::invalid(
            "--store",
            format!("`{}` holds no mailtest store", dir.display()),
        )
        .into());
    }
    Ok(Store::open_read_only(dir)?)
}

fn query(filter: &MessageFilterArgs) -> Query {
    Query {
        to: filter.to.clone(),
        mailbox: filter.mailbox.clone(),
        subject: filter.subject.clone(),
        header: filter.header.clone(),
        text: filter.text.clone(),
        ..Query::default()
    }
}

fn list(args: &SinkListArgs, printer: &Printer) -> Result<Outcome> {
    let store = open(resolved(args.store.dir.as_deref()))?;
    let found = store.list(&query(&args.filter));
    if args.output == OutputFormat::Json {
        for summary in &found {
            printer.data(&serde_json::to_string(&**summary)?)?;
        }
        return Ok(Outcome::Success);
    }
    let mut table = printer.table(&["id", "received", "from", "to (envelope)", "subject", "size"]);
    for s in &found {
        table.add_row(vec![
            s.id.to_string(),
            s.received_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            s.envelope.mail_from.clone(),
            s.envelope.rcpt_to.join(", "),
            s.subject.clone().unwrap_or_default(),
            s.size.to_string(),
        ]);
    }
    printer.data(&table.to_string())?;
    printer.status(&format!("{} of {} messages", found.len(), store.len()));
    Ok(Outcome::Success)
}

fn show(args: &SinkShowArgs, printer: &Printer) -> Result<Outcome> {
    let store = open(resolved(args.store.dir.as_deref()))?;
    let raw = store.raw(args.id).map_err(|_| {
        SettingsError::invalid("id", format!("no message {} in the store", args.id))
    })?;
    let _ = printer;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &raw)?;
    Ok(Outcome::Success)
}

fn export(args: &SinkExportArgs, printer: &Printer) -> Result<Outcome> {
    let store = open(resolved(args.store.dir.as_deref()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    let found = store.list(&query(&args.filter));
    for summary in &found {
        let raw = store.raw(summary.id)?;
        let name = format!("{}.eml", summary.id);
        // Whole files only, never written through a link planted in the folder.
        crate::store::write_file(&args.out, &name, &raw)
            .with_context(|| format!("cannot write `{}`", args.out.join(&name).display()))?;
    }
    printer.status(&format!(
        "{} messages written to `{}`",
        found.len(),
        args.out.display()
    ));
    Ok(Outcome::Success)
}
