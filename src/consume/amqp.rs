//! Reading RabbitMQ queues without consuming them: each message is taken with `basic.get`
//! and left unacknowledged, and closing the channel at the end hands every one back to its
//! queue, in its place. This is how RabbitMQ's own management UI shows messages ("Nack
//! message requeue true"). Returned messages carry the `redelivered` flag.
//!
//! While the read lasts, the messages it holds are not given to the queue's consumers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lapin::options::BasicGetOptions;

use super::{Handler, Stats};
use crate::amqp::{AmqpError, Delivered, connect, envelope};
use crate::record::Received;

/// Reads `queues` at `url` in turn to their current end (or `count` messages), handing
/// each message to `handler` as kombu's envelope; the queue is the topic, the position in
/// it the offset.
pub async fn peek(
    url: &str,
    queues: &[String],
    timeout: Duration,
    count: Option<u64>,
    stop: &AtomicBool,
    handler: &mut impl Handler,
) -> anyhow::Result<Stats> {
    let connection = connect(url, timeout).await?;
    let mut stats = Stats::default();
    for queue in queues {
        let refused = |e: lapin::Error| AmqpError::Refused {
            what: format!("reading queue `{queue}`"),
            reason: e.to_string(),
        };
        // One channel per queue: a missing queue closes the channel it was asked on.
        let channel = connection.create_channel().await.map_err(refused)?;
        let mut position = 0i64;
        while count.is_none_or(|n| stats.accepted < n) {
            if stop.load(Ordering::Relaxed) {
                stats.interrupted = true;
                break;
            }
            let got = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(refused)?;
            let Some(got) = got else { break };
            let d = &got.delivery;
            let from = Delivered {
                exchange: d.exchange.as_str(),
                routing_key: d.routing_key.as_str(),
                delivery_tag: d.delivery_tag,
                redelivered: d.redelivered,
            };
            let value = envelope(&d.data, &d.properties, &from);
            let timestamp = d.properties.timestamp().map(|t| t as i64 * 1000);
            stats.received += 1;
            let msg = Received {
                topic: queue.clone(),
                partition: 0,
                offset: position,
                timestamp,
                key: None,
                headers: Vec::new(),
                payload: serde_json::to_vec(&value)?,
            };
            position += 1;
            if handler.message(msg)? {
                stats.accepted += 1;
            }
        }
        handler.idle()?;
        // Closing without acknowledging puts every message read back in the queue.
        let _ = channel.close(200, "read, not consumed".into()).await;
    }
    let _ = connection.close(200, "done".into()).await;
    Ok(stats)
}
