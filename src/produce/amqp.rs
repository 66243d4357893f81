//! Sending Celery tasks to RabbitMQ (AMQP 0-9-1, through lapin) as kombu publishes them: to the
//! default exchange with the queue as routing key, the task headers as AMQP headers,
//! `application/json` in UTF-8, persistent, priority 0. Publisher confirms count a task
//! as sent only once the broker has it; `mandatory` makes a task no queue takes come back
//! as a failure, never counted. The queue is declared as Celery declares it (durable, no
//! arguments) when it is missing, and left as it is when it exists.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use indicatif::ProgressBar;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use serde_json::Value;

use super::{Deliveries, Pace, Tally};
use crate::amqp::{AmqpError, connect};
use crate::record::Outgoing;

/// Publishes waiting for the broker at once, at most.
const IN_FLIGHT: usize = 512;

/// Publishes `messages` (kombu envelopes, as the plan makes them) at `url` and reports on
/// them as `produce` does for Kafka.
pub async fn run(
    url: &str,
    timeout: Duration,
    messages: impl Iterator<Item = Outgoing>,
    pace: &Pace,
    progress: &ProgressBar,
    stop: &AtomicBool,
) -> Result<Deliveries, AmqpError> {
    let connection = connect(url, timeout).await?;
    let channel = confirming_channel(&connection).await?;
    let start = Instant::now();
    let mut declared: Vec<(String, String)> = Vec::new();
    let mut tally = Tally::default();
    let mut waiting = futures_util::stream::FuturesUnordered::new();
    let mut sent = 0u64;
    let interval = pace.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    for message in messages {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(interval) = interval {
            tokio::time::sleep_until((start + interval.mul_f64(sent as f64)).into()).await;
        }
        match unwrap_envelope(message) {
            Err(why) => tally.count((Instant::now(), Err(why))),
            Ok(task) => {
                if !declared.contains(&task.target()) {
                    declare(&connection, &task).await?;
                    declared.push(task.target());
                }
                waiting.push(publish(&channel, task));
            }
        }
        sent += 1;
        while waiting.len() >= IN_FLIGHT {
            if let Some(done) = waiting.next().await {
                tally.count(done);
            }
        }
        progress.set_position(tally.delivered());
    }
    // Confirms still owed after the flush timeout are counted undelivered, not hidden.
    let _ = tokio::time::timeout(pace.flush_timeout, async {
        while let Some(done) = waiting.next().await {
            tally.count(done);
        }
    })
    .await;
    progress.finish_and_clear();
    let undelivered = waiting.len() as u64;
    let _ = connection.close(200, "done".into()).await;
    Ok(super::summarize(
        tally,
        sent,
        undelivered,
        start.elapsed(),
        stop.load(Ordering::Relaxed),
    ))
}

async fn confirming_channel(connection: &Connection) -> Result<Channel, AmqpError> {
    let refused = |e: lapin::Error| AmqpError::Refused {
        what: "a channel with publisher confirms".to_owned(),
        reason: e.to_string(),
    };
    let channel = connection.create_channel().await.map_err(refused)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(refused)?;
    Ok(channel)
}

/// Makes sure `task` can be delivered. Through the default exchange, its queue must
/// exist: a queue that is there is left as declared (quorum, TTL...), as a second
/// declaration with other arguments would be refused; a missing one is made as Celery
/// makes it. Through a named exchange, the exchange must exist (the team's worker declares
/// it and its bindings). A passive check closes its channel when what it asks for is
/// missing, so it runs on a channel of its own.
async fn declare(connection: &Connection, task: &Task) -> Result<(), AmqpError> {
    let probe = connection
        .create_channel()
        .await
        .map_err(|e| refused("a channel", &e))?;
    if !task.exchange.is_empty() {
        let what = format!("publishing to exchange `{}`", task.exchange);
        let passive = ExchangeDeclareOptions {
            passive: true,
            ..ExchangeDeclareOptions::default()
        };
        let kind = ExchangeKind::Direct;
        let checked = probe.exchange_declare(
            task.exchange.as_str().into(),
            kind,
            passive,
            FieldTable::default(),
        );
        checked.await.map_err(|e| refused(&what, &e))?;
        let _ = probe.close(200, "checked".into()).await;
        return Ok(());
    }
    let queue = task.queue.as_str();
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    if probe
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .is_ok()
    {
        let _ = probe.close(200, "checked".into()).await;
        return Ok(());
    }
    let what = format!("declaring queue `{queue}`");
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| refused(&what, &e))?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await
        .map_err(|e| refused(&what, &e))?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

fn refused(what: &str, e: &lapin::Error) -> AmqpError {
    AmqpError::Refused {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

/// One publish and its confirm: `Ok(queue)` once the broker has it, else why not.
async fn publish(channel: &Channel, task: Task) -> (Instant, Result<String, String>) {
    let at = Instant::now();
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = channel
        .basic_publish(
            task.exchange.as_str().into(),
            task.routing_key.as_str().into(),
            options,
            &task.body,
            task.properties,
        )
        .await;
    let outcome = match confirm {
        Err(e) => Err(e.to_string()),
        Ok(confirm) => match confirm.await {
            Ok(Confirmation::Ack(None)) => Ok(task.queue),
            Ok(Confirmation::Ack(Some(_))) if task.exchange.is_empty() => {
                Err(format!("no queue `{}` took it (unroutable)", task.queue))
            }
            Ok(Confirmation::Ack(Some(_))) => Err(format!(
                "exchange `{}` routed it to no queue (routing key `{}`)",
                task.exchange, task.routing_key
            )),
            Ok(Confirmation::Nack(_)) => Err("the broker refused it (nack)".to_owned()),
            Ok(Confirmation::NotRequested) => Err("no confirm".to_owned()),
            Err(e) => Err(e.to_string()),
        },
    };
    (at, outcome)
}

/// A task to publish, from kombu's envelope.
struct Task {
    body: Vec<u8>,
    properties: BasicProperties,
    exchange: String,
    routing_key: String,
    /// The queue it is meant for (the Kafka topic the plan chose).
    queue: String,
}

impl Task {
    /// What [`declare`] checks: its exchange, else its queue.
    fn target(&self) -> (String, String) {
        (self.exchange.clone(), self.queue.clone())
    }
}

/// The task in `message` (kombu's envelope, as the plan makes it for Kafka), to publish as
/// its `delivery_info` routes it.
fn unwrap_envelope(message: Outgoing) -> Result<Task, String> {
    let not_a_task = || "not a Celery task (its type has no task in celery.yaml)".to_owned();
    let envelope: Value = serde_json::from_slice(&message.payload).map_err(|_| not_a_task())?;
    if !envelope["body"].is_string() {
        return Err(not_a_task());
    }
    let (body, properties) = crate::amqp::from_envelope(&envelope)?;
    let info = &envelope["properties"]["delivery_info"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Ok(Task {
        body,
        properties,
        exchange: text(&info["exchange"]).unwrap_or_default(),
        routing_key: text(&info["routing_key"]).unwrap_or_else(|| message.topic.clone()),
        queue: message.topic,
    })
}
