//! `smoke`: the whole chain in one process. Starts the embedded broker (or uses the user's),
//! the sink and the reference dispatcher (unless the user's own service does that part),
//! produces the scenario's events, and verifies the mail that comes out. The same pieces as
//! `mailtest broker`, `sink` and `dispatch`, composed: [`Pipeline::start`], then
//! [`Pipeline::run`].

pub mod scenario;
mod start;
pub mod worker;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::broker::Broker;
use crate::catalog::Catalog;
use crate::catalog::TopicLayout;
use crate::dispatch::{Service, Snapshot};
use crate::event::{Event, InputError};
use crate::exit_code::ErrorKind;
use crate::kafka::{Connection, KafkaError};
use crate::produce::{self, Pace};
use crate::render::{Renderer, Templates};
use crate::sink::Sink;
use crate::verify::golden::GoldenRenderer;
use crate::verify::kafka::KafkaEvents;
use crate::verify::{self, Source};
pub use scenario::Scenario;

/// Why a smoke run could not run (a run whose checks fail is a [`Report`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("cannot start the embedded broker")]
    Broker(#[source] KafkaError),
    #[error("cannot listen on `{addr}` for {what}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the dispatcher")]
    Dispatch(#[source] KafkaError),
    #[error("the scenario's events are not valid")]
    Events(#[source] InputError),
    #[error("cannot produce the scenario's events")]
    Produce(#[source] KafkaError),
    #[error("cannot read the captured mail")]
    Verify(#[source] verify::SourceError),
    #[error(transparent)]
    Worker(#[from] worker::WorkerError),
    #[error(transparent)]
    Results(#[from] crate::celery::results::ResultsError),
}

impl SmokeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Bind { .. } => ErrorKind::BadInput,
            Self::Broker(e) | Self::Dispatch(e) | Self::Produce(e) => e.kind(),
            Self::Events(e) => e.kind(),
            Self::Verify(e) => e.kind(),
            Self::Worker(_) => ErrorKind::Failed,
            Self::Results(e) => e.kind(),
        }
    }
}

/// Everything a run needs, resolved.
pub struct Setup {
    /// The user's cluster; `None` starts the embedded one, with these client properties.
    pub kafka: Option<Connection>,
    pub properties: Vec<(String, String)>,
    pub catalog: Catalog,
    pub templates: Templates,
    pub scenario: Scenario,
    pub layout: TopicLayout,
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    /// Run the reference dispatcher; `false` when the user's own service consumes and sends.
    pub dispatch: bool,
    /// Values for the scenario's `{{ name }}` placeholders, over its own `vars`.
    pub vars: BTreeMap<String, String>,
    /// The team's service or worker, a shell command started and stopped by the run.
    pub worker: Option<String>,
    /// Celery's result backend: task states, and a started worker's readiness.
    pub celery_results: Option<String>,
}

/// One step of the run, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub detail: String,
    pub ms: u64,
}

/// What a run did and found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub passed: bool,
    pub steps: Vec<Step>,
    pub produced: u64,
    pub captured: usize,
    /// The reference dispatcher's counts, when it ran.
    pub dispatch: Option<Snapshot>,
    pub verify: verify::Report,
    pub elapsed_ms: u64,
}

/// The pieces a run started; kept up after the run for `--keep`, then stopped.
pub struct Pipeline {
    pub broker: Option<Broker>,
    pub bootstrap: String,
    pub sink: Sink,
    pub dispatch: Option<Service>,
    pub worker: Option<worker::Worker>,
    connection: Connection,
    /// The scenario's events, checked before anything started.
    events: Vec<Value>,
    steps: Vec<Step>,
    started: Instant,
}

/// Records a step that began at `at` and tells the caller.
fn record(
    steps: &mut Vec<Step>,
    on_step: &dyn Fn(&Step),
    step: &'static str,
    detail: String,
    at: Instant,
) {
    let s = Step {
        step,
        detail,
        ms: at.elapsed().as_millis() as u64,
    };
    on_step(&s);
    steps.push(s);
}

impl Pipeline {
    /// Checks the scenario's events, then starts the broker (unless the user's is given),
    /// the sink and the dispatcher (unless the user's service does that part).
    pub async fn start(settings: &Setup, on_step: &dyn Fn(&Step)) -> Result<Self, SmokeError> {
        let started = Instant::now();
        let events = settings
            .scenario
            .events(&settings.catalog)
            .map_err(SmokeError::Events)?;
        let mut steps = Vec::new();
        let t = Instant::now();
        let (broker, connection) = start::kafka(settings)?;
        let bootstrap = connection.brokers.clone();
        let what = if broker.is_some() {
            "embedded"
        } else {
            "yours"
        };
        record(
            &mut steps,
            on_step,
            "broker",
            format!("{what}, at {bootstrap}"),
            t,
        );
        let t = Instant::now();
        let sink = start::sink(settings).await?;
        let detail = format!("SMTP {}, API {}", sink.smtp, sink.url());
        record(&mut steps, on_step, "sink", detail, t);
        let t = Instant::now();
        let dispatch = if settings.dispatch {
            Some(start::dispatch(settings, &connection, &sink)?)
        } else {
            None
        };
        let detail = match (&dispatch, &settings.worker) {
            (Some(_), _) => format!("reference service, sending to {}", sink.smtp),
            (None, Some(_)) => format!("your worker's, told to send to {}", sink.smtp),
            (None, None) => format!("yours, expected to send to {}", sink.smtp),
        };
        record(&mut steps, on_step, "dispatch", detail, t);
        let worker = match &settings.worker {
            Some(command) => {
                let t = Instant::now();
                let (worker, detail) = start::worker(settings, command, &connection, &sink).await?;
                record(&mut steps, on_step, "worker", detail, t);
                Some(worker)
            }
            None => None,
        };
        Ok(Self {
            broker,
            bootstrap,
            sink,
            dispatch,
            worker,
            connection,
            events,
            steps,
            started,
        })
    }

    /// Produces the scenario's events and verifies the mail that comes out.
    pub async fn run(
        &mut self,
        settings: &Setup,
        on_step: &dyn Fn(&Step),
    ) -> Result<Report, SmokeError> {
        let t = Instant::now();
        let events = std::mem::take(&mut self.events);
        let (produced, detail) = produce_events(
            &self.connection,
            &settings.layout,
            &events,
            &settings.catalog,
        )
        .await?;
        record(&mut self.steps, on_step, "produce", detail, t);
        let t = Instant::now();
        let verdict = check(settings, &self.sink, &self.connection, events).await?;
        let captured = self.sink.store.len();
        let met = verdict.verdicts.iter().filter(|v| v.passed).count();
        let detail = format!(
            "{captured} emails captured; {met} of {} expectations met",
            verdict.verdicts.len()
        );
        record(&mut self.steps, on_step, "verify", detail, t);
        Ok(Report {
            scenario: settings.scenario.name.clone(),
            passed: verdict.passed,
            steps: self.steps.clone(),
            produced,
            captured,
            dispatch: self.dispatch.as_ref().map(Service::snapshot),
            verify: verdict,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        })
    }

    /// Stops the worker, dispatch (draining), the sink, then the broker.
    pub async fn stop(self) -> Option<Snapshot> {
        if let Some(worker) = self.worker {
            worker.stop().await;
        }
        let snapshot = match self.dispatch {
            Some(service) => service.stop().await.ok(),
            None => None,
        };
        self.sink.stop().await;
        drop(self.broker);
        snapshot
    }
}

/// Produces `events`; returns how many were delivered and a line saying where.
async fn produce_events(
    connection: &Connection,
    layout: &TopicLayout,
    events: &[Value],
    catalog: &Catalog,
) -> Result<(u64, String), SmokeError> {
    let messages: Vec<_> = events
        .iter()
        .map(|e| crate::produce::plan::event_message(e, None, layout, &[], catalog))
        .collect();
    let summary = send(connection, messages).await?;
    let topics: std::collections::BTreeSet<_> = summary
        .partitions
        .keys()
        .filter_map(|p| p.rsplit_once('/').map(|(t, _)| t.to_owned()))
        .collect();
    let mut line = format!(
        "{} of {} events delivered to {}",
        summary.delivered,
        events.len(),
        topics.into_iter().collect::<Vec<_>>().join(", ")
    );
    if summary.failed + summary.undelivered > 0 {
        line.push_str(&format!(
            "; {} failed, {} undelivered",
            summary.failed, summary.undelivered
        ));
    }
    Ok((summary.delivered, line))
}

/// Sends `messages` and waits for the broker to have them.
async fn send(
    connection: &Connection,
    messages: Vec<crate::record::Outgoing>,
) -> Result<produce::Deliveries, SmokeError> {
    let connection = connection.clone();
    tokio::task::spawn_blocking(move || {
        let pace = Pace {
            rate: None,
            flush_timeout: Duration::from_secs(30).max(connection.timeout),
        };
        let progress = indicatif::ProgressBar::hidden();
        produce::run(
            &connection,
            messages.into_iter(),
            &pace,
            &progress,
            &AtomicBool::new(false),
        )
    })
    .await
    .map_err(|e| SmokeError::Produce(KafkaError::Internal(format!("producer thread: {e}"))))?
    .map_err(SmokeError::Produce)
}

/// Verifies the scenario's expectations against the sink, through its API as any client.
async fn check(
    settings: &Setup,
    sink: &Sink,
    connection: &Connection,
    events: Vec<Value>,
) -> Result<verify::Report, SmokeError> {
    let spec = &settings.scenario.spec;
    let produced: Vec<Event> = events
        .into_iter()
        .filter_map(|e| serde_json::from_value(e).ok())
        .collect();
    let ids: Vec<String> = produced.iter().map(|e| e.event_id.to_string()).collect();
    let golden = GoldenRenderer::new(
        Renderer::new(settings.templates.clone()),
        settings.catalog.clone(),
        &settings.scenario.base,
    )
    .with_events(produced)
    // Events in a format without ids are known by the ids dispatch derives from where each
    // record landed: read back from the topics.
    .with_kafka(KafkaEvents::new(
        connection.clone(),
        settings.layout.topics(&settings.catalog),
        settings.catalog.clone(),
    ));
    let golden_check = |m: &verify::message::Message, g: &verify::spec::Golden| golden.check(m, g);
    let mut source = Source::sink(&sink.url(), None, spec.mailbox.as_deref())
        .await
        .map_err(SmokeError::Verify)?;
    // Task states: those of this run's tasks alone (a task's id is its event's).
    let mut checks =
        verify::checks::Checks::default().with_celery_results(settings.celery_results.clone());
    if settings.catalog.celery().is_some() {
        checks = checks.with_celery_tasks(ids);
    }
    verify::run(spec, &mut source, &settings.vars, &golden_check, &checks)
        .await
        .map_err(SmokeError::Verify)
}
