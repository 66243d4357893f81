//! One event, from Kafka record to email: parse, check against the catalog, skip if already
//! sent, render, send; anything that can never succeed goes to the dead-letter topic with the
//! reason in its headers, so one poison event never stops the service.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::Message as _;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;

use super::ledger::Ledger;
use super::ops::Metrics;
use crate::catalog::Catalog;
use crate::event;
use crate::outbound::sender::{Failure, Sender};
use crate::render::Renderer;

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Sent,
    /// Its email had been sent before (a redelivery).
    Duplicate,
    DeadLettered,
    /// Shutting down mid-retry: not done, the offset is not committed.
    Stopped,
}

/// Everything a partition worker needs to handle events.
pub struct Handler {
    pub catalog: Catalog,
    pub renderer: Renderer,
    pub sender: Sender,
    pub ledger: Arc<Ledger>,
    pub metrics: Arc<Metrics>,
    pub dlq: FutureProducer,
    pub dlq_topic: String,
}

/// Why an event is dead-lettered: the stage that refused it, and what it said.
struct Dead {
    stage: &'static str,
    reason: String,
}

fn dead(stage: &'static str, reason: impl std::fmt::Display) -> Dead {
    Dead {
        stage,
        reason: reason.to_string(),
    }
}

impl Handler {
    pub async fn handle(&self, record: &OwnedMessage, stop: &mut watch::Receiver<bool>) -> Handled {
        self.metrics.consumed.fetch_add(1, Ordering::Relaxed);
        match self.deliver(record, stop).await {
            Ok(handled) => handled,
            Err(d) => {
                tracing::warn!(stage = d.stage, reason = %d.reason, topic = record.topic(),
                    partition = record.partition(), offset = record.offset(), "dead-lettering an event");
                if self.dead_letter(record, &d, stop).await {
                    self.metrics.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    Handled::DeadLettered
                } else {
                    Handled::Stopped
                }
            }
        }
    }

    async fn deliver(
        &self,
        record: &OwnedMessage,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Handled, Dead> {
        let payload = record.payload().unwrap_or_default();
        let value: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| dead("parse", format!("not JSON: {e}")))?;
        let headers = record_headers(record);
        let meta = crate::catalog::Meta::record(
            record.topic(),
            record.partition(),
            record.offset(),
            record.timestamp().to_millis(),
            &headers,
        );
        let event = event::decode(&value, &meta, &self.catalog)
            .map_err(|problems| dead("schema", event::describe(&problems)))?
            .event;
        let id = event.event_id.to_string();
        if self.ledger.contains(&id) {
            self.metrics.duplicates.fetch_add(1, Ordering::Relaxed);
            return Ok(Handled::Duplicate);
        }
        let email = self
            .renderer
            .compose(&event)
            .map_err(|e| dead("template", e))?;
        let raw = email.formatted();
        if let Err(e) = self.ledger.begin(&id) {
            tracing::error!(error = %e, event_id = %id, "cannot note the send in the ledger");
        }
        match self.sender.send(email.envelope(), &raw, stop).await {
            Ok(sent) => {
                // Recorded before the offset is stored: a redelivery finds it.
                if let Err(e) = self.ledger.record(&id) {
                    tracing::error!(error = %e, event_id = %id, "sent, but could not record it");
                }
                self.metrics.sent.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .retried
                    .fetch_add(u64::from(sent.attempts - 1), Ordering::Relaxed);
                if sent.via_fallback {
                    self.metrics.via_fallback.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(ms) = record.timestamp().to_millis() {
                    let now = chrono::Utc::now().timestamp_millis();
                    self.metrics.latency((now - ms).max(0) as f64);
                }
                tracing::debug!(event_id = %id, reply = %sent.reply, attempts = sent.attempts, "sent");
                Ok(Handled::Sent)
            }
            Err(Failure::Permanent(reply)) => Err(dead("smtp-permanent", reply)),
            Err(Failure::Exhausted(reason)) => Err(dead("smtp-temporary", reason)),
            Err(Failure::Stopped) => Ok(Handled::Stopped),
        }
    }

    /// Produces the record, unchanged, to the dead-letter topic with the reason in headers;
    /// retries until it is stored or the service stops (false).
    async fn dead_letter(
        &self,
        record: &OwnedMessage,
        d: &Dead,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut headers = OwnedHeaders::new();
        if let Some(original) = record.headers() {
            for h in original.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let source = format!(
            "{}/{}/{}",
            record.topic(),
            record.partition(),
            record.offset()
        );
        for (key, value) in [
            ("mailtest-dlq-stage", d.stage),
            ("mailtest-dlq-reason", d.reason.as_str()),
            ("mailtest-dlq-source", source.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        loop {
            let mut out = FutureRecord::to(&self.dlq_topic).headers(headers.clone());
            if let Some(p) = record.payload() {
                out = out.payload(p);
            }
            if let Some(k) = record.key() {
                out = out.key(k);
            }
            match self.dlq.send(out, Duration::from_secs(30)).await {
                Ok(_) => return true,
                Err((e, _)) => {
                    tracing::error!(error = %e, "cannot write to the dead-letter topic; retrying");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.wait_for(|s| *s) => return false,
            }
        }
    }
}

/// A record's headers as name and bytes (values absent are empty).
fn record_headers(record: &OwnedMessage) -> Vec<(String, Vec<u8>)> {
    record.headers().map_or_else(Vec::new, |headers| {
        headers
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                )
            })
            .collect()
    })
}
