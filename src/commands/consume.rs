//! `mailtest consume`: read topics and print each event as readable text, JSON or raw bytes,
//! flagging (never dropping) events that fail their schema.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use console::style;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::cli::{ConsumeArgs, ConsumeFormat};
use crate::consume::{self, Filter, Options};
use crate::event;
use crate::exit_code::Outcome;
use crate::printer::Printer;
use crate::record::Received;
use crate::settings::{self, ConfigFile};

pub async fn run(args: ConsumeArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let settings = settings::consume(&args, config)?;
    let stop = super::interrupt_flag();
    let stats = if let Some((url, queues)) = settings.amqp.clone() {
        let (timeout, count) = (settings.connection.timeout, settings.count);
        let mut shower = Shower::stdout(settings);
        let stats = consume::amqp::peek(&url, &queues, timeout, count, &stop, &mut shower).await?;
        shower.out.flush()?;
        stats
    } else {
        read_kafka(settings, stop).await?
    };
    printer.status(&format!(
        "{} messages read, {} shown",
        stats.received, stats.accepted
    ));
    Ok(if stats.interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Success
    })
}

async fn read_kafka(
    settings: settings::Consume,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<consume::Stats> {
    tokio::task::spawn_blocking(move || {
        let options = options(&settings)?;
        let connection = settings.connection.clone();
        let mut shower = Shower::stdout(settings);
        let stats = consume::run(&connection, &options, &stop, &mut shower)?;
        shower.out.flush()?;
        anyhow::Ok(stats)
    })
    .await
    .context("the consumer thread failed")?
}

/// What to read: the topics given, or the catalog's topics that exist.
fn options(settings: &settings::Consume) -> Result<Options> {
    let topics = if settings.topics.is_empty() {
        consume::existing_topics(&settings.connection, &settings.catalog.topics())?
    } else {
        settings.topics.clone()
    };
    Ok(Options {
        topics,
        start: settings.start,
        group: settings.group.clone(),
        exit_at_end: settings.exit_at_end,
        count: settings.count,
    })
}

/// Writes the messages that pass the filter to stdout, buffered, flushed when idle.
struct Shower<W: Write> {
    out: W,
    filter: Filter,
    catalog: Catalog,
    format: ConsumeFormat,
}

impl<W: Write> consume::Handler for Shower<W> {
    fn message(&mut self, msg: Received) -> Result<bool> {
        // Raw output without payload filters never needs the JSON parsed.
        let parse = self.format != ConsumeFormat::Raw || self.filter.needs_payload();
        let parsed = if parse { msg.json_payload() } else { None };
        if let Some(task) = parsed.as_ref().and_then(crate::celery::decode_task) {
            return self.task(&msg, &task);
        }
        if !self.filter.task_matches(None) {
            return Ok(false);
        }
        // Read in the team's wire format (or the envelope): filters go by the event's type
        // and recipient wherever the format keeps them.
        // No copy for an event in the envelope already, the common case on this hot path.
        let read = parsed.as_ref().map(|value| {
            let meta = crate::catalog::Meta::record(
                &msg.topic,
                msg.partition,
                msg.offset,
                msg.timestamp,
                &msg.headers,
            );
            event::read(value, &meta, &self.catalog)
        });
        let envelope = match &read {
            Some((envelope, problems)) if problems.is_empty() => Some(&**envelope),
            _ => parsed.as_ref(),
        };
        if !self.filter.matches(&msg, envelope) {
            return Ok(false);
        }
        match self.format {
            ConsumeFormat::Raw => self.line(&msg.payload)?,
            ConsumeFormat::Json => {
                let errors = schema_errors(read.as_ref().map(|(_, problems)| problems.as_slice()));
                self.json_line(&msg.to_json(parsed.as_ref(), &errors))?;
            }
            ConsumeFormat::Pretty => {
                let errors = schema_errors(read.as_ref().map(|(_, problems)| problems.as_slice()));
                writeln!(self.out, "{}", pretty(&msg, parsed.as_ref(), &errors))?;
            }
        }
        Ok(true)
    }

    fn idle(&mut self) -> Result<()> {
        Ok(self.out.flush()?)
    }
}

impl Shower<BufWriter<std::io::StdoutLock<'static>>> {
    fn stdout(settings: settings::Consume) -> Self {
        Self {
            out: BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
            filter: settings.filter,
            catalog: settings.catalog,
            format: settings.format,
        }
    }
}

impl<W: Write> Shower<W> {
    /// One record's output line.
    fn line(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.out.write_all(b"\n")
    }

    /// One record as a JSON line, written straight into the buffer.
    fn json_line(&mut self, value: &Value) -> Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        Ok(self.out.write_all(b"\n")?)
    }

    /// A Celery task: shown decoded (name, id, arguments), with no schema to fail, and
    /// kept by `--task` and header filters; event filters (type, recipient) pass no task.
    fn task(&mut self, msg: &Received, task: &Value) -> Result<bool> {
        let name = task["task"].as_str();
        let event_filters = !self.filter.types.is_empty() || self.filter.to.is_some();
        if event_filters || !self.filter.task_matches(name) || !self.filter.matches(msg, None) {
            return Ok(false);
        }
        match self.format {
            ConsumeFormat::Raw => self.line(&msg.payload)?,
            ConsumeFormat::Json => {
                self.json_line(&msg.to_json(Some(task), &[]))?;
            }
            ConsumeFormat::Pretty => {
                let place = format!("{}[{}]@{}", msg.topic, msg.partition, msg.offset);
                let line = format!(
                    "{} {} {}[{}]\n  args {}  kwargs {}",
                    style(place).dim(),
                    style("task").cyan(),
                    style(name.unwrap_or_default()).bold(),
                    task["id"].as_str().unwrap_or_default(),
                    task["args"],
                    task["kwargs"],
                );
                writeln!(self.out, "{line}")?;
            }
        }
        Ok(true)
    }
}

/// What is wrong with a payload as a catalog event, as `field: message` lines.
fn schema_errors(problems: Option<&[crate::catalog::Violation]>) -> Vec<String> {
    match problems {
        None => vec!["payload is not JSON".to_owned()],
        Some(problems) => problems
            .iter()
            .map(|v| {
                if v.path.is_empty() {
                    v.message.clone()
                } else {
                    format!("{}: {}", v.path, v.message)
                }
            })
            .collect(),
    }
}

fn pretty(msg: &Received, parsed: Option<&Value>, errors: &[String]) -> String {
    let time = msg
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let key = msg
        .key
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let mut out = format!(
        "{} {} {}",
        style(format!("{}[{}]@{}", msg.topic, msg.partition, msg.offset))
            .cyan()
            .bold(),
        style(time).dim(),
        style(format!("key={key}")).dim()
    );
    let headers: Vec<String> = msg
        .headers
        .iter()
        .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
        .collect();
    if !headers.is_empty() {
        out.push_str(&format!("\n  {}", style(headers.join(" ")).dim()));
    }
    for error in errors {
        out.push_str(&format!("\n  {} {error}", style("schema:").yellow().bold()));
    }
    let body = match parsed {
        Some(value) => serde_json::to_string_pretty(value).unwrap_or_default(),
        None => String::from_utf8_lossy(&msg.payload).into_owned(),
    };
    for line in body.lines() {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out.push('\n');
    out
}
