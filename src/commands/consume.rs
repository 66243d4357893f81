//! `mailtest consume`: read topics and print each event as readable text, JSON or raw bytes,
//! flagging (never dropping) events that fail their schema.

use anyhow::{Context, Result};
use console::style;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::cli::{ConsumeArgs, ConsumeFormat};
use crate::consume::{self, Filter, Options, StartAt};
use crate::event;
use crate::exit_code::Outcome;
use crate::kafka::parse_key_value;
use crate::printer::Printer;
use crate::record::Received;
use crate::settings::{self, ConfigFile, SettingsError};

pub async fn run(args: ConsumeArgs, config: &ConfigFile, printer: &Printer) -> Result<Outcome> {
    let (connection, catalog) = settings::kafka(&args.kafka, config)?;
    let start: StartAt = args.from.parse()?;
    if args.group.is_some() && !matches!(start, StartAt::Beginning | StartAt::End) {
        return Err(SettingsError::invalid(
            "--from",
            "with --group, only `beginning` or `end` (where a new group starts); committed offsets decide the rest",
        )
        .into());
    }
    let filter = Filter {
        types: args.types.clone(),
        to: args.to.clone(),
        headers: args
            .headers
            .iter()
            .map(|h| parse_key_value(h).map_err(|m| SettingsError::invalid("--header", m)))
            .collect::<Result<_, _>>()?,
    };
    let format = args.format;
    let printer_for_loop = printer.clone();
    let stop = super::interrupt_flag();
    let stats = tokio::task::spawn_blocking(move || {
        let topics = if args.topics.is_empty() {
            consume::existing_topics(&connection, &catalog.topics())?
        } else {
            args.topics.clone()
        };
        let options = Options {
            topics,
            start,
            group: args.group.clone(),
            exit_at_end: args.exit_at_end,
            count: args.count,
        };
        consume::run(&connection, &options, &stop, |msg| {
            show(&msg, &filter, &catalog, format, &printer_for_loop)
        })
    })
    .await
    .context("the consumer thread failed")??;
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

/// Prints one message if it passes the filter; says whether it did.
fn show(
    msg: &Received,
    filter: &Filter,
    catalog: &Catalog,
    format: ConsumeFormat,
    printer: &Printer,
) -> Result<bool> {
    let parsed = msg.json_payload();
    if !filter.matches(msg, parsed.as_ref()) {
        return Ok(false);
    }
    match format {
        ConsumeFormat::Raw => printer.data_bytes(&msg.payload)?,
        ConsumeFormat::Json => {
            let errors = schema_errors(parsed.as_ref(), catalog);
            printer.data(&msg.to_json(parsed.as_ref(), &errors).to_string())?;
        }
        ConsumeFormat::Pretty => {
            let errors = schema_errors(parsed.as_ref(), catalog);
            printer.data(&pretty(msg, parsed.as_ref(), &errors))?;
        }
    }
    Ok(true)
}

/// What is wrong with a payload as a catalog event, as `field: message` lines.
fn schema_errors(parsed: Option<&Value>, catalog: &Catalog) -> Vec<String> {
    match parsed {
        None => vec!["payload is not JSON".to_owned()],
        Some(value) => event::check(value, catalog)
            .into_iter()
            .map(|v| {
                if v.path.is_empty() {
                    v.message
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
