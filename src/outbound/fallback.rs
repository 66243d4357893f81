//! `produce --fallback-smtp`: when Kafka cannot be reached, each event is rendered and sent
//! straight to an SMTP server, as services that fall back on direct mail do.

use serde::Serialize;
use tokio::sync::watch;

use crate::outbound::sender::{Failure, Sender};
use crate::record::Outgoing;
use crate::render::Renderer;

/// What the fallback did.
#[derive(Debug, Default, Serialize)]
pub struct Fallback {
    pub sent: u64,
    /// Event id (or position) and why, for each event that could not be sent.
    pub failed: Vec<(String, String)>,
}

/// Renders and sends every message's event; one that cannot be is reported, not retried
/// beyond the sender's own retries.
pub async fn send_all(
    messages: impl Iterator<Item = Outgoing>,
    catalog: &crate::catalog::Catalog,
    renderer: &Renderer,
    sender: &Sender,
    stop: &mut watch::Receiver<bool>,
) -> Fallback {
    let mut summary = Fallback::default();
    for (i, message) in messages.enumerate() {
        if *stop.borrow() {
            break;
        }
        let meta = crate::catalog::Meta {
            topic: Some(&message.topic),
            headers: &message.headers,
            ..crate::catalog::Meta::default()
        };
        let event = serde_json::from_slice::<serde_json::Value>(&message.payload)
            .map_err(|e| e.to_string())
            .and_then(|value| {
                crate::event::decode(&value, &meta, catalog)
                    .map(|d| d.event)
                    .map_err(|problems| crate::event::describe(&problems))
            });
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                summary
                    .failed
                    .push((format!("#{}", i + 1), format!("not an event: {e}")));
                continue;
            }
        };
        let id = event.event_id.to_string();
        let email = match renderer.compose(&event) {
            Ok(email) => email,
            Err(e) => {
                summary.failed.push((id, e.to_string()));
                continue;
            }
        };
        match sender
            .send(email.envelope(), &email.formatted(), stop)
            .await
        {
            Ok(_) => summary.sent += 1,
            Err(Failure::Permanent(reply) | Failure::Exhausted(reply)) => {
                summary.failed.push((id, reply));
            }
            Err(Failure::Stopped) => break,
        }
    }
    summary
}
