//! `consume`'s settings, resolved: the connection, where to start, which topics and which
//! events to show, and how.

use super::{ConfigFile, SettingsError, headers, kafka, topics_to_read};
use crate::catalog::Catalog;
use crate::cli::{ConsumeArgs, ConsumeFormat};
use crate::consume::{Filter, StartAt};
use crate::kafka::Connection;

/// Everything `mailtest consume` runs with.
pub struct Consume {
    pub connection: Connection,
    pub catalog: Catalog,
    /// Empty: the catalog's topics that exist (patterns are expanded already).
    pub topics: Vec<String>,
    pub start: StartAt,
    pub group: Option<String>,
    pub exit_at_end: bool,
    pub count: Option<u64>,
    pub filter: Filter,
    pub format: ConsumeFormat,
    /// Read these RabbitMQ queues at this URL, without consuming, instead of Kafka.
    pub amqp: Option<(String, Vec<String>)>,
}

pub fn consume(args: &ConsumeArgs, file: &ConfigFile) -> Result<Consume, SettingsError> {
    let (connection, catalog) = kafka(&args.kafka, file)?;
    let topics = topics_to_read(&args.topics, file, &catalog);
    let start: StartAt = args
        .from
        .parse()
        .map_err(|m: String| SettingsError::invalid("--from", m))?;
    if args.group.is_some() && !matches!(start, StartAt::Beginning | StartAt::End) {
        return Err(SettingsError::invalid(
            "--from",
            "with --group, only `beginning` or `end` (where a new group starts); committed offsets decide the rest",
        ));
    }
    let amqp = args.amqp.clone().map(|url| (url, queues(args, &catalog)));
    Ok(Consume {
        connection,
        catalog,
        topics,
        start,
        group: args.group.clone(),
        exit_at_end: args.exit_at_end,
        count: args.count,
        filter: Filter {
            types: args.types.clone(),
            tasks: args.tasks.clone(),
            to: args.to.clone(),
            headers: headers(&args.headers)?,
        },
        format: args.format,
        amqp,
    })
}

/// The queues to read: those named, else the queues of the catalog's Celery tasks, else
/// Celery's default.
fn queues(args: &ConsumeArgs, catalog: &Catalog) -> Vec<String> {
    if !args.queues.is_empty() {
        return args.queues.clone();
    }
    let Some(celery) = catalog.celery() else {
        return vec!["celery".to_owned()];
    };
    let mut queues: Vec<String> = Vec::new();
    for task in celery.tasks.values() {
        let queue = celery.queue_of(task).to_owned();
        if !queues.contains(&queue) {
            queues.push(queue);
        }
    }
    queues
}
