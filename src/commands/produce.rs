//! `mailtest produce`: turn flags into a plan and a pace, send, and summarise.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::celery::Sent;
use crate::celery::results::{Outcomes, Watch};
use crate::cli::{OutputFormat, ProduceArgs};
use crate::exit_code::Outcome;
use crate::kafka::KafkaError;
use crate::outbound::fallback;
use crate::outbound::sender::{Relay, Retry, Sender, TlsMode};
use crate::printer::Printer;
use crate::produce::plan;
use crate::produce::robustness::{CaseReport, Fate, Step};
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
    if !settings.poison.is_empty() {
        return robustness(plan, &settings, printer).await;
    }
    // Subscribed before the first task goes, so no result can come unseen.
    let watch = match &settings.celery_results {
        Some((url, _)) => Some(Watch::start(url, settings.connection.timeout).await?),
        None => None,
    };
    let sent = Sent::default();
    let mut plan = plan;
    if watch.is_some() {
        plan.messages = crate::celery::noting_tasks(plan.messages, sent.clone());
    }
    let produced = send(plan, &settings, printer).await?;
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
    let tasks = match (watch, &settings.celery_results) {
        (Some(watch), Some((_, timeout))) => {
            printer.status("waiting for the tasks' results");
            let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
            Some(watch.wait(&sent, Instant::now() + *timeout).await?)
        }
        _ => None,
    };
    report(&summary, tasks.as_ref(), settings.output, printer)?;
    Ok(if summary.interrupted {
        Outcome::Interrupted
    } else if summary.failed > 0
        || summary.undelivered > 0
        || tasks.is_some_and(|t| !t.all_succeeded())
    {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

/// Sends the plan's messages at the settings' pace, with a progress bar.
async fn send(
    plan: plan::Plan,
    settings: &settings::Produce,
    printer: &Printer,
) -> Result<Result<Deliveries, KafkaError>> {
    let pace = Pace {
        rate: settings.rate,
        flush_timeout: Duration::from_secs(35).max(settings.connection.timeout),
    };
    let progress = printer.progress(Some(plan.total), "producing");
    let stop = super::interrupt_flag();
    let connection = settings.connection.clone();
    if let Some(url) = &settings.amqp {
        let timeout = connection.timeout;
        let sent = produce::amqp::run(url, timeout, plan.messages, &pace, &progress, &stop).await?;
        return Ok(Ok(sent));
    }
    tokio::task::spawn_blocking(move || {
        produce::run(&connection, plan.messages, &pace, &progress, &stop)
    })
    .await
    .context("the producer thread failed")
}

/// `--poison`: each case and its canary sent in turn, watched at the result backend; a
/// worker that stopped answering fails the run.
async fn robustness(
    mut plan: plan::Plan,
    settings: &settings::Produce,
    printer: &Printer,
) -> Result<Outcome> {
    let (url, timeout) = settings
        .celery_results
        .as_ref()
        .context("--poison needs --celery-results")?;
    let (queue, good) = plan
        .messages
        .find_map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).ok()?;
            v["headers"]["task"].is_string().then_some((m.topic, v))
        })
        .ok_or_else(|| {
            settings::SettingsError::invalid(
                "--poison",
                "none of the event types chosen is a task in celery.yaml",
            )
        })?;
    let watch = Watch::start(url, settings.connection.timeout).await?;
    printer.status(&format!(
        "{} robustness cases to `{queue}`, each followed by a canary task (celery.accumulate)",
        settings.poison.len()
    ));
    let mut reports = Vec::new();
    let mut alive = true;
    for &case in &settings.poison {
        let step = Step::new(case, &good, &queue);
        if !alive {
            reports.push(step.not_reached());
            continue;
        }
        let messages = step.messages();
        let plan = plan::Plan {
            total: messages.len() as u64,
            messages: Box::new(messages.into_iter()),
        };
        let sent = send(plan, settings, printer).await??;
        if sent.delivered < sent.sent {
            let why: Vec<&str> = sent.errors.keys().map(String::as_str).collect();
            anyhow::bail!("case `{}` was not sent: {}", case.name(), why.join("; "));
        }
        let report = step.observe(&watch, *timeout).await?;
        alive = report.worker == Fate::Answered;
        reports.push(report);
    }
    report_robustness(&reports, settings.output, printer)?;
    Ok(if alive {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn report_robustness(
    reports: &[CaseReport],
    output: OutputFormat,
    printer: &Printer,
) -> Result<()> {
    if output == OutputFormat::Json {
        printer.data(&serde_json::to_string(
            &serde_json::json!({ "cases": reports }),
        )?)?;
    }
    // What each case breaks is in the JSON report and the README; the table stays narrow.
    let mut table = printer.table(&["case", "task result", "worker after"]);
    for r in reports {
        let result = match (&r.state, r.worker) {
            (_, Fate::NotReached) => "not sent".to_owned(),
            (None, _) => "no result".to_owned(),
            (Some(state), _) if r.error.is_empty() => state.clone(),
            (Some(state), _) => format!("{state}: {}", r.error),
        };
        let worker = match r.worker {
            Fate::Answered => "took the next task",
            Fate::StoppedAnswering => "STOPPED answering",
            Fate::NotReached => "-",
        };
        table.add_row(vec![r.case, &result, worker]);
    }
    printer.table_out(&table);
    if let Some(r) = reports.iter().find(|r| r.worker == Fate::StoppedAnswering) {
        printer.warn(&format!(
            "the worker stopped answering after case `{}`; the message may still be queued, \
             and each worker that takes it may stop the same way (`celery purge` removes it)",
            r.case
        ));
    }
    Ok(())
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

fn report(
    summary: &Deliveries,
    tasks: Option<&Outcomes>,
    output: OutputFormat,
    printer: &Printer,
) -> Result<()> {
    if output == OutputFormat::Json {
        let mut value = serde_json::to_value(summary)?;
        if let Some(tasks) = tasks {
            value["tasks"] = serde_json::to_value(tasks)?;
        }
        printer.data(&value.to_string())?;
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
    if let Some(tasks) = tasks {
        report_tasks(tasks, printer);
    }
    Ok(())
}

/// The tasks' states (`SUCCESS`, `FAILURE`, ..., `PENDING`: no result) and result latency,
/// and each task that did not succeed with the error its worker stored.
fn report_tasks(tasks: &Outcomes, printer: &Printer) {
    let mut table = printer.table(&["task state", "tasks"]);
    for (state, n) in &tasks.states {
        table.add_row(vec![state.clone(), n.to_string()]);
    }
    printer.table_out(&table);
    printer.status(&format!(
        "task results: p50 {:.0} ms, p99 {:.0} ms after sending",
        tasks.latency_p50_ms, tasks.latency_p99_ms
    ));
    for p in &tasks.problems {
        let error = if p.error.is_empty() {
            "no result stored"
        } else {
            &p.error
        };
        printer.warn(&format!("task {} {}: {error}", p.id, p.state));
    }
}
