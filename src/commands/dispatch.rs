//! `mailtest dispatch`: runs the reference notification service until SIGTERM or Ctrl-C,
//! then finishes the events in hand, commits and leaves the group.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::cli::{DispatchArgs, SmtpTls};
use crate::dispatch::ledger::Ledger;
use crate::dispatch::sender::{Retry, Sender, Server, TlsMode};
use crate::dispatch::{self, Handler, Metrics, Service, Settings};
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::render::{Renderer, Templates};
use crate::settings::{self, ConfigFile, SettingsError};

pub async fn run(args: DispatchArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let (connection, catalog) = settings::kafka(&args.kafka, config)?;
    let templates = Templates::load(args.templates.as_deref().or(config.templates.as_deref()))?;
    let retry = Retry {
        attempts: args.max_attempts.max(1),
        base: settings::parse_duration("--retry-base", &args.retry_base)?,
        ..Retry::default()
    };
    let server = |addr: &str| Server {
        addr: addr.to_owned(),
        tls: match args.smtp_tls {
            SmtpTls::None => TlsMode::None,
            SmtpTls::Opportunistic => TlsMode::Opportunistic,
            SmtpTls::Required => TlsMode::Required,
        },
        insecure: args.smtp_insecure,
        auth: args.smtp_user.clone().zip(args.smtp_password.clone()),
    };
    let fallback = args.fallback_smtp.as_deref().map(server);
    let smtp = args
        .smtp
        .clone()
        .or_else(|| config.dispatch_smtp().map(str::to_owned))
        .unwrap_or_else(|| settings::DEFAULT_SMTP.to_owned());
    let group = args
        .group
        .clone()
        .or_else(|| config.dispatch.group.clone())
        .unwrap_or_else(|| settings::DEFAULT_GROUP.to_owned());
    let sender = Sender::new(&server(&smtp), fallback.as_ref(), retry)
        .map_err(|e| SettingsError::invalid("--smtp", e.to_string()))?;
    let ledger = if args.no_state {
        Ledger::memory()
    } else {
        Ledger::open(&args.state)?
    };
    let topics = if args.topics.is_empty() {
        dispatch::default_topics(&catalog)
    } else {
        args.topics.clone()
    };
    let metrics = Arc::new(Metrics::default());
    let handler = Arc::new(Handler {
        dlq: connection.future_producer()?,
        dlq_topic: args.dlq_topic.clone(),
        catalog,
        renderer: Renderer::new(templates),
        sender,
        ledger: Arc::new(ledger),
        metrics: metrics.clone(),
    });
    let listener = tokio::net::TcpListener::bind(&args.http)
        .await
        .map_err(|e| {
            SettingsError::invalid("--http", format!("cannot listen on `{}`: {e}", args.http))
        })?;
    let http = format!("http://{}", listener.local_addr()?);
    let settings = Settings {
        concurrency: args.concurrency,
        connection,
        group: group.clone(),
        topics,
    };
    let topic_count = settings.topics.len();
    let service = Service::start(settings, handler);
    tokio::spawn(serve_ops(listener, metrics.clone(), service.stopping()));
    if let Some(path) = &args.ready_file {
        super::write_ready_file(path, &format!("MAILTEST_DISPATCH_HTTP={http}"))?;
    }
    printer.status(&format!(
        "dispatching {topic_count} topics in group `{group}` to {smtp}; health and metrics at {http}; Ctrl-C stops"
    ));
    let done = service
        .run_until(super::stop_signal())
        .await
        .context("dispatch stopped")?;
    printer.status(&format!(
        "stopped: {} consumed, {} sent, {} retried, {} dead-lettered, {} duplicates skipped",
        done.consumed, done.sent, done.retried, done.dead_lettered, done.duplicates
    ));
    Ok(Outcome::Success)
}

async fn serve_ops(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = dispatch::ops::router(metrics);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await;
}
