//! `mailtest dispatch`: runs the reference notification service until SIGTERM or Ctrl-C,
//! then finishes the events in hand, commits and leaves the group.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::cli::DispatchArgs;
use crate::dispatch::ledger::Ledger;
use crate::dispatch::{self, Handler, Metrics, Service, Subscription};
use crate::exit_code::Outcome;
use crate::outbound::sender::Sender;
use crate::printer::Printer;
use crate::render::{Renderer, Templates};
use crate::settings::{self, ConfigFile, SettingsError};

pub async fn run(args: DispatchArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let settings = settings::dispatch(&args, config)?;
    let listener = tokio::net::TcpListener::bind(&settings.http)
        .await
        .map_err(|e| {
            let message = format!("cannot listen on `{}`: {e}", settings.http);
            SettingsError::invalid("--http", message)
        })?;
    let http = format!("http://{}", listener.local_addr()?);
    let (smtp, group) = (settings.smtp.addr.clone(), settings.group.clone());
    let ready_file = settings.ready_file.clone();
    let stop = super::StopSignal::listen()?;
    let (service, metrics, topics) = start(settings)?;
    tokio::spawn(serve_ops(listener, metrics, service.stopping()));
    if let Some(path) = &ready_file {
        super::write_ready_file(path, &format!("MAILTEST_DISPATCH_HTTP={http}"))?;
    }
    printer.status(&format!(
        "dispatching {topics} topics in group `{group}` to {smtp}; health and metrics at {http}; Ctrl-C stops"
    ));
    let done = service
        .run_until(stop.recv())
        .await
        .context("dispatch stopped")?;
    printer.status(&format!(
        "stopped: {} consumed, {} sent, {} retried, {} dead-lettered, {} duplicates skipped",
        done.consumed, done.sent, done.retried, done.dead_lettered, done.duplicates
    ));
    Ok(Outcome::Success)
}

/// Starts the service: its handler (templates, sender, ledger, dead-letter producer) and
/// consumer; with its metrics and how many topics it reads.
fn start(settings: settings::Dispatch) -> Result<(Service, Arc<Metrics>, usize)> {
    let templates = Templates::load(settings.templates.as_deref(), settings.catalog.dir())?;
    let sender = Sender::new(&settings.smtp, settings.fallback.as_ref(), settings.retry);
    let ledger = match &settings.state {
        Some(dir) => Ledger::open(dir)?,
        None => Ledger::memory(),
    };
    let topics = if settings.topics.is_empty() {
        dispatch::default_topics(&settings.catalog)
    } else {
        settings.topics
    };
    let metrics = Arc::new(Metrics::default());
    let handler = Arc::new(Handler {
        dlq: settings.connection.future_producer()?,
        dlq_topic: settings.dlq_topic,
        catalog: settings.catalog,
        renderer: Renderer::new(templates),
        sender,
        ledger: Arc::new(ledger),
        metrics: metrics.clone(),
    });
    let count = topics.len();
    let service = Service::start(
        Subscription {
            concurrency: settings.concurrency,
            connection: settings.connection,
            group: settings.group,
            topics,
        },
        handler,
    );
    Ok((service, metrics, count))
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
