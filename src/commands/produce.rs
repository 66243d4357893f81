//! `mailtest produce`: turn flags into a plan and a pace, send, and summarise.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::{OutputFormat, ProduceArgs};
use crate::exit_code::Outcome;
use crate::kafka::KafkaError;
use crate::outbound::fallback;
use crate::outbound::sender::{Relay, Retry, Sender, TlsMode};
use crate::printer::Printer;
use crate::produce::plan;
use crate::produce::{self, Deliveries, Pace};
use crate::render::{Renderer, Templates};
use crate::settings::{self, ConfigFile, HostPort};

pub async fn run(args: ProduceArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let settings = settings::produce(&args, config)?;
    let plan = plan::build(settings.plan.clone(), &settings.catalog)?;
    if settings.dry_run {
        for message in plan.messages {
            printer.data(&String::from_utf8_lossy(&message.payload))?;
        }
        return Ok(Outcome::Success);
    }
    let pace = Pace {
        rate: settings.rate,
        flush_timeout: Duration::from_secs(35).max(settings.connection.timeout),
    };
    let progress = printer.progress(Some(plan.total), "producing");
    let stop = super::interrupt_flag();
    let connection = settings.connection.clone();
    let produced = tokio::task::spawn_blocking(move || {
        produce::run(&connection, plan.messages, &pace, &progress, &stop)
    })
    .await
    .context("the producer thread failed")?;
    let summary = match (produced, &settings.fallback_smtp) {
        (Err(err @ KafkaError::Unreachable { .. }), Some(smtp)) => {
            printer.warn(&format!(
                "{err:#}; sending each email straight to {smtp} instead"
            ));
            // The same events again, from the start: none reached Kafka.
            let plan = plan::build(settings.plan.clone(), &settings.catalog)?;
            return fallback(plan, smtp, &settings, printer).await;
        }
        (produced, _) => produced?,
    };
    report(&summary, settings.output, printer)?;
    Ok(if summary.interrupted {
        Outcome::Interrupted
    } else if summary.failed > 0 || summary.undelivered > 0 {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

/// Kafka is unreachable: every event rendered and sent over SMTP, with dispatch's retries.
async fn fallback(
    plan: plan::Plan,
    smtp: &HostPort,
    settings: &settings::Produce,
    printer: &Printer,
) -> Result<Outcome> {
    let templates = Templates::load(settings.templates.as_deref(), settings.catalog.dir())?;
    let server = Relay {
        addr: smtp.clone(),
        tls: TlsMode::None,
        insecure: false,
        auth: None,
    };
    let sender = Sender::new(&server, None, Retry::default());
    let (stop, mut stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop.send(true);
        }
    });
    let done = fallback::send_all(
        plan.messages,
        &settings.catalog,
        &Renderer::new(templates),
        &sender,
        &mut stopping,
    )
    .await;
    if settings.output == OutputFormat::Json {
        printer.data(&serde_json::to_string(&done)?)?;
    }
    for (id, reason) in &done.failed {
        printer.warn(&format!("event {id} not sent: {reason}"));
    }
    printer.status(&format!(
        "sent {} emails straight to {smtp}; {} failed",
        done.sent,
        done.failed.len()
    ));
    Ok(if done.failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn report(summary: &Deliveries, output: OutputFormat, printer: &Printer) -> Result<()> {
    if output == OutputFormat::Json {
        printer.data(&serde_json::to_string(summary)?)?;
    }
    let mut table = printer.table(&[
        "delivered",
        "failed",
        "undelivered",
        "events/s",
        "p50 ms",
        "p99 ms",
        "time",
    ]);
    table.add_row(vec![
        summary.delivered.to_string(),
        summary.failed.to_string(),
        summary.undelivered.to_string(),
        format!("{:.0}", summary.per_second),
        format!("{:.2}", summary.latency_p50_ms),
        format!("{:.2}", summary.latency_p99_ms),
        format!("{:.2}s", summary.elapsed_ms as f64 / 1000.0),
    ]);
    printer.table_out(&table);
    if !summary.partitions.is_empty() {
        let mut parts = printer.table(&["topic/partition", "delivered"]);
        for (tp, n) in &summary.partitions {
            parts.add_row(vec![tp.clone(), n.to_string()]);
        }
        printer.table_out(&parts);
    }
    for (reason, n) in &summary.errors {
        printer.warn(&format!("{n} events failed: {reason}"));
    }
    if summary.undelivered > 0 {
        printer.warn(&format!(
            "{} events were not acknowledged before the end",
            summary.undelivered
        ));
    }
    Ok(())
}
