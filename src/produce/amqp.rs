//! Sending Celery tasks to RabbitMQ (AMQP 0-9-1, through lapin) as kombu publishes them: to the
//! default exchange with the queue as routing key, the task headers as AMQP headers,
//! `application/json` in UTF-8, persistent, priority 0. Publisher confirms count a task
//! as sent only once the broker has it; `mandatory` makes a task no queue takes come back
//! as a failure, never counted. The queue is declared as Celery declares it (durable, no
//! arguments) when it is missing, and left as it is when it exists.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
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
    let mut declared: Vec<String> = Vec::new();
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
        if !declared.contains(&message.topic) {
            declare(&connection, &message.topic).await?;
            declared.push(message.topic.clone());
        }
        waiting.push(publish(&channel, message));
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

/// Makes sure `queue` exists: a queue that is there is left as declared (quorum, TTL...),
/// as a second declaration with other arguments would be refused; a missing one is made
/// as Celery makes it. A passive check closes its channel when the queue is missing, so it
/// runs on a channel of its own.
async fn declare(connection: &Connection, queue: &str) -> Result<(), AmqpError> {
    let refused = |e: lapin::Error| AmqpError::Refused {
        what: format!("declaring queue `{queue}`"),
        reason: e.to_string(),
    };
    let probe = connection.create_channel().await.map_err(refused)?;
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
    let channel = connection.create_channel().await.map_err(refused)?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await
        .map_err(refused)?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

/// One publish and its confirm: `Ok(queue)` once the broker has it, else why not.
async fn publish(channel: &Channel, message: Outgoing) -> (Instant, Result<String, String>) {
    let at = Instant::now();
    let (body, properties) = match unwrap_envelope(&message.payload) {
        Ok(parts) => parts,
        Err(why) => return (at, Err(why)),
    };
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let queue = message.topic;
    let confirm = channel
        .basic_publish("".into(), queue.as_str().into(), options, &body, properties)
        .await;
    let outcome = match confirm {
        Err(e) => Err(e.to_string()),
        Ok(confirm) => match confirm.await {
            Ok(Confirmation::Ack(None)) => Ok(queue),
            Ok(Confirmation::Ack(Some(_))) => {
                Err(format!("no queue `{queue}` took it (unroutable)"))
            }
            Ok(Confirmation::Nack(_)) => Err("the broker refused it (nack)".to_owned()),
            Ok(Confirmation::NotRequested) => Err("no confirm".to_owned()),
            Err(e) => Err(e.to_string()),
        },
    };
    (at, outcome)
}

/// The body and AMQP properties of a task from kombu's envelope (what the plan makes for
/// Kafka): the base64 body decoded, the task headers as AMQP headers.
fn unwrap_envelope(payload: &[u8]) -> Result<(Vec<u8>, BasicProperties), String> {
    let envelope: Value = serde_json::from_slice(payload)
        .map_err(|_| "not a Celery task (its type has no task in celery.yaml)".to_owned())?;
    let props = &envelope["properties"];
    let body = match envelope["body"].as_str() {
        Some(b) if props["body_encoding"] == "base64" => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| e.to_string())?,
        Some(b) => b.as_bytes().to_vec(),
        None => return Err("not a Celery task (its type has no task in celery.yaml)".to_owned()),
    };
    let Value::Object(headers) = &envelope["headers"] else {
        return Err("a task without headers".to_owned());
    };
    let table = crate::amqp::table(headers);
    // A property the envelope lacks stays unset, as kombu leaves it (the robustness cases
    // drop some on purpose).
    let text = |v: &Value| v.as_str().map(ShortString::from);
    let mut properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_priority(0)
        .with_headers(table);
    if let Some(t) = text(&envelope["content-type"]) {
        properties = properties.with_content_type(t);
    }
    if let Some(e) = text(&envelope["content-encoding"]) {
        properties = properties.with_content_encoding(e);
    }
    if let Some(c) = text(&props["correlation_id"]) {
        properties = properties.with_correlation_id(c);
    }
    if let Some(r) = text(&props["reply_to"]) {
        properties = properties.with_reply_to(r);
    }
    Ok((body, properties))
}
