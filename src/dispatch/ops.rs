//! Operations: the counters and latencies dispatch keeps, and the HTTP endpoints that show
//! them (`/healthz`, `/readyz`, Prometheus `/metrics`).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;

/// Latency samples kept for the quantiles: the most recent ones.
const WINDOW: usize = 100_000;

/// What dispatch has done, shared by every partition worker.
#[derive(Default)]
pub struct Metrics {
    pub consumed: AtomicU64,
    pub sent: AtomicU64,
    /// Attempts beyond the first.
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Redelivered events whose email had already been sent.
    pub duplicates: AtomicU64,
    pub via_fallback: AtomicU64,
    /// Set while the consumer has partitions assigned (or the group is settled).
    pub kafka_ready: AtomicBool,
    pub smtp_ready: AtomicBool,
    latencies: Mutex<VecDeque<f64>>,
}

/// A point-in-time copy of the metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub consumed: u64,
    pub sent: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub duplicates: u64,
    pub via_fallback: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
}

impl Metrics {
    /// Records the time from the event's Kafka timestamp to the SMTP server's 250.
    pub fn latency(&self, ms: f64) {
        let mut l = self.latencies.lock().expect("latency lock");
        if l.len() == WINDOW {
            l.pop_front();
        }
        l.push_back(ms);
    }

    fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
        if sorted.is_empty() {
            return None;
        }
        let i = ((sorted.len() - 1) as f64 * q).round() as usize;
        Some(sorted[i])
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut sorted: Vec<f64> = self
            .latencies
            .lock()
            .expect("latency lock")
            .iter()
            .copied()
            .collect();
        sorted.sort_by(f64::total_cmp);
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            consumed: n(&self.consumed),
            sent: n(&self.sent),
            retried: n(&self.retried),
            dead_lettered: n(&self.dead_lettered),
            duplicates: n(&self.duplicates),
            via_fallback: n(&self.via_fallback),
            latency_p50_ms: Self::quantile(&sorted, 0.5),
            latency_p99_ms: Self::quantile(&sorted, 0.99),
        }
    }

    /// The Prometheus text format.
    pub fn prometheus(&self) -> String {
        let s = self.snapshot();
        let mut out = String::new();
        let counters = [
            ("consumed", "Events read from Kafka", s.consumed),
            ("sent", "Emails accepted by an SMTP server", s.sent),
            ("retried", "SMTP attempts beyond the first", s.retried),
            (
                "dead_lettered",
                "Events sent to the dead-letter topic",
                s.dead_lettered,
            ),
            (
                "duplicates",
                "Redelivered events not sent again",
                s.duplicates,
            ),
            (
                "via_fallback",
                "Emails sent through the fallback server",
                s.via_fallback,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP mailtest_dispatch_{name}_total {help}.");
            let _ = writeln!(out, "# TYPE mailtest_dispatch_{name}_total counter");
            let _ = writeln!(out, "mailtest_dispatch_{name}_total {value}");
        }
        let _ = writeln!(
            out,
            "# HELP mailtest_dispatch_latency_ms Kafka timestamp to SMTP acceptance, recent events."
        );
        let _ = writeln!(out, "# TYPE mailtest_dispatch_latency_ms summary");
        for (q, v) in [("0.5", s.latency_p50_ms), ("0.99", s.latency_p99_ms)] {
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "mailtest_dispatch_latency_ms{{quantile=\"{q}\"}} {v:.3}"
                );
            }
        }
        out
    }
}

/// The operations endpoints.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move { m.prometheus() }),
        )
        .with_state(metrics)
}

async fn ready(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    let kafka = m.kafka_ready.load(Ordering::Relaxed);
    let smtp = m.smtp_ready.load(Ordering::Relaxed);
    let body = format!("kafka: {}\nsmtp: {}\n", yes(kafka), yes(smtp));
    let status = if kafka && smtp {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

fn yes(b: bool) -> &'static str {
    if b { "ready" } else { "not ready" }
}
