//! `produce`'s settings, resolved: the connection, what to send (the plan's settings), at
//! what pace, and where to send mail instead when Kafka cannot be reached.

use std::path::PathBuf;

use super::{ConfigFile, HostPort, SettingsError, headers, kafka, topic_layout};
use crate::catalog::{Catalog, TYPE_PLACEHOLDER};
use crate::celery::poison::Case;
use crate::cli::{OutputFormat, ProduceArgs};
use crate::kafka::Connection;
use crate::produce::plan::{Input, PlanSettings};

/// Everything `mailtest produce` runs with.
pub struct Produce {
    pub connection: Connection,
    pub catalog: Catalog,
    pub plan: PlanSettings,
    /// Events per second; `None`: as fast as the broker takes them.
    pub rate: Option<f64>,
    /// Print the events instead of sending them.
    pub dry_run: bool,
    /// With Kafka unreachable, render and send each email here instead.
    pub fallback_smtp: Option<HostPort>,
    /// The templates the fallback renders with; `None`: the built-in ones.
    pub templates: Option<PathBuf>,
    pub output: OutputFormat,
    /// Send the Celery tasks to RabbitMQ at this URL instead of Kafka.
    pub amqp: Option<String>,
    /// Wait for each Celery task's result in this Redis backend, this long after sending.
    pub celery_results: Option<(String, std::time::Duration)>,
    /// Robustness mode: these malformed tasks, each with a canary (empty: normal sending).
    pub poison: Vec<Case>,
}

pub fn produce(args: &ProduceArgs, file: &ConfigFile) -> Result<Produce, SettingsError> {
    let (connection, catalog) = kafka(&args.kafka, file)?;
    if let Some(r) = args.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(SettingsError::invalid(
            "--rate",
            format!("`{r}`: expected a positive number of events per second"),
        ));
    }
    if args.count == Some(0) {
        return Err(SettingsError::invalid("--count", "must be at least 1"));
    }
    let input = if args.raw {
        Input::Raw(args.files.clone())
    } else if args.fixtures {
        Input::Fixtures
    } else if args.files.is_empty() {
        Input::Generate { seed: args.seed }
    } else {
        Input::Files(args.files.clone())
    };
    let plan = PlanSettings {
        input,
        types: types(args, &catalog)?,
        count: args.count,
        layout: topic_layout(args.topic.as_deref(), args.topic_per_type, file),
        // A raw record keeps its own topic unless one topic is named for all.
        topic_override: args.topic.clone().filter(|t| !t.contains(TYPE_PLACEHOLDER)),
        headers: headers(&args.headers)?,
    };
    Ok(Produce {
        connection,
        catalog,
        plan,
        rate: args.rate,
        dry_run: args.dry_run,
        fallback_smtp: args.fallback_smtp.clone(),
        templates: args.templates.clone().or_else(|| file.templates.clone()),
        output: args.output,
        celery_results: args
            .celery_results
            .clone()
            .map(|url| (url, args.results_timeout.0)),
        amqp: args.amqp.clone(),
        poison: poison(args)?,
    })
}

/// The robustness cases `--poison` names (`all`: each that the transport can carry).
fn poison(args: &ProduceArgs) -> Result<Vec<Case>, SettingsError> {
    let Some(names) = &args.poison else {
        return Ok(Vec::new());
    };
    let amqp = args.amqp.is_some();
    if names.iter().any(|n| n == "all") {
        return Ok(Case::ALL
            .into_iter()
            .filter(|c| !(amqp && c.kafka_only()))
            .collect());
    }
    names
        .iter()
        .map(|name| match Case::parse(name) {
            Some(c) if amqp && c.kafka_only() => Err(SettingsError::invalid(
                "--poison",
                format!("`{name}` is a case of Kafka only: RabbitMQ sets delivery tags itself"),
            )),
            Some(c) => Ok(c),
            None => {
                let known: Vec<&str> = Case::ALL.iter().map(|c| c.name()).collect();
                Err(SettingsError::invalid(
                    "--poison",
                    format!(
                        "`{name}` is no robustness case; the cases: all, {}",
                        known.join(", ")
                    ),
                ))
            }
        })
        .collect()
}

/// The types to send: `--type`, else all; to RabbitMQ, which takes tasks only, the types
/// `celery.yaml` makes tasks of. The Celery flags need a catalog with one.
fn types(args: &ProduceArgs, catalog: &Catalog) -> Result<Vec<String>, SettingsError> {
    let flag = match (&args.amqp, &args.celery_results) {
        (Some(_), _) => Some("--amqp"),
        (None, Some(_)) => Some("--celery-results"),
        (None, None) => None,
    };
    match (flag, catalog.celery()) {
        (Some(flag), None) => Err(SettingsError::invalid(
            flag,
            "the catalog makes no Celery tasks: give --catalog a folder with a celery.yaml",
        )),
        (_, Some(celery)) if args.amqp.is_some() && args.types.is_empty() => {
            Ok(celery.tasks.keys().cloned().collect())
        }
        _ => Ok(args.types.clone()),
    }
}
