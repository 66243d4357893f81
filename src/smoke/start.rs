//! How each piece of a smoke run starts: the broker (the user's or an embedded one), the
//! sink, the reference dispatcher, and the user's own worker.

use std::sync::Arc;
use std::time::Duration;

use super::{Setup, SmokeError, send, worker};
use crate::api::ApiSettings;
use crate::broker::{Broker, BrokerSettings};
use crate::catalog::DEFAULT_TOPIC;
use crate::celery::results::Watch;
use crate::dispatch::ledger::Ledger;
use crate::dispatch::{self, Handler, Metrics, Service};
use crate::kafka::Connection;
use crate::outbound::sender::{Relay, Retry, Sender, TlsMode};
use crate::render::Renderer;
use crate::sink::Sink;
use crate::smtp::ServerSettings;
use crate::store::Store;

/// The user's cluster, or a fresh embedded one with the catalog's topics.
pub(super) fn kafka(settings: &Setup) -> Result<(Option<Broker>, Connection), SmokeError> {
    if let Some(connection) = &settings.kafka {
        return Ok((None, connection.clone()));
    }
    // Created up front with their partitions: the built-in layouts, the run's own (topics
    // named after the types, say) and the dead letters.
    let topics = crate::catalog::unique_topics(
        settings
            .catalog
            .topics()
            .into_iter()
            .chain(settings.layout.topics(&settings.catalog))
            .chain([format!("{DEFAULT_TOPIC}.dlq")]),
    );
    let broker = Broker::start(&BrokerSettings {
        brokers: 1,
        partitions: 3,
        topics,
        ..BrokerSettings::default()
    })
    .map_err(SmokeError::Broker)?;
    let connection = Connection {
        brokers: broker.bootstrap().to_owned(),
        properties: settings.properties.clone(),
        timeout: Duration::from_secs(10),
    };
    Ok((Some(broker), connection))
}

pub(super) async fn sink(settings: &Setup) -> Result<Sink, SmokeError> {
    let bind = |what, addr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SmokeError::Bind { what, addr, source })
    };
    let smtp = bind("SMTP", settings.smtp).await?;
    let http = bind("the API", settings.http).await?;
    Sink::start(
        smtp,
        http,
        Arc::new(Store::memory()),
        ServerSettings::default(),
        ApiSettings::default(),
    )
    .map_err(|source| SmokeError::Bind {
        what: "the sink",
        addr: settings.smtp,
        source,
    })
}

/// The reference dispatcher in a fresh group that starts at the topics' current end, so
/// events already on a shared cluster are not sent again.
pub(super) fn dispatch(
    settings: &Setup,
    connection: &Connection,
    sink: &Sink,
) -> Result<Service, SmokeError> {
    let group = format!("mailtest-smoke-{}", uuid::Uuid::new_v4().simple());
    let topics = settings.layout.topics(&settings.catalog);
    connection
        .start_group_at_end(&group, &topics)
        .map_err(SmokeError::Dispatch)?;
    let server = Relay {
        addr: sink.smtp.into(),
        tls: TlsMode::None,
        insecure: false,
        auth: None,
    };
    let sender = Sender::new(&server, None, Retry::default());
    let handler = Handler {
        dlq: connection.future_producer().map_err(SmokeError::Dispatch)?,
        dlq_topic: format!("{DEFAULT_TOPIC}.dlq"),
        catalog: settings.catalog.clone(),
        renderer: Renderer::new(settings.templates.clone()),
        sender,
        ledger: Arc::new(Ledger::memory()),
        metrics: Arc::new(Metrics::default()),
    };
    let settings = dispatch::Subscription {
        connection: connection.clone(),
        group,
        topics,
        concurrency: dispatch::DEFAULT_CONCURRENCY,
    };
    Ok(Service::start(settings, Arc::new(handler)))
}

/// How long a started worker has to run its first task.
const WORKER_READY: Duration = Duration::from_secs(60);

/// Starts the user's worker, told where everything is; with Celery tasks and their result
/// backend, waits until it has run a canary task. Returns it and the step's line.
pub(super) async fn worker(
    settings: &Setup,
    command: &str,
    connection: &Connection,
    sink: &Sink,
) -> Result<(worker::Worker, String), SmokeError> {
    let brokers = connection.brokers.clone();
    let mut env = vec![
        ("MAILTEST_BROKERS", brokers.clone()),
        (
            "MAILTEST_CELERY_BROKER",
            format!("confluentkafka://{brokers}"),
        ),
        ("MAILTEST_SMTP", sink.smtp.to_string()),
        ("MAILTEST_SMTP_HOST", sink.smtp.ip().to_string()),
        ("MAILTEST_SMTP_PORT", sink.smtp.port().to_string()),
        ("MAILTEST_HTTP", sink.url()),
    ];
    if let Some(url) = &settings.celery_results {
        env.push(("MAILTEST_CELERY_RESULTS", url.clone()));
    }
    let mut worker = worker::Worker::start(command, &env)?;
    let log = worker.log.display().to_string();
    let (Some(url), Some(celery)) = (&settings.celery_results, settings.catalog.celery()) else {
        return Ok((worker, format!("started, its log in {log}")));
    };
    let watch = Watch::start(url, connection.timeout).await?;
    let (id, payload) = crate::celery::poison::canary(&celery.queue, "mailtest-smoke");
    let canary = crate::record::Outgoing {
        topic: celery.queue.clone(),
        key: None,
        headers: Vec::new(),
        payload,
    };
    send(connection, vec![canary]).await?;
    if let Err(e) = worker.ready(&watch, &id, WORKER_READY).await {
        worker.stop().await;
        return Err(e.into());
    }
    Ok((
        worker,
        format!("ran a first task (celery.accumulate); its log in {log}"),
    ))
}
