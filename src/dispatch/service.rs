//! Dispatch as one running piece, for `mailtest dispatch`, `mailtest smoke` and the tests:
//! the consume loop plus the SMTP readiness probe, stopped with one call that drains.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Handler, Snapshot, Subscription};
use crate::kafka::KafkaError;

/// A running dispatcher.
pub struct Service {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<Snapshot, KafkaError>>,
    probe: JoinHandle<()>,
    metrics: Arc<super::Metrics>,
}

impl Service {
    /// Starts consuming `settings.topics` in `settings.group` and handling with `handler`.
    pub fn start(settings: Subscription, handler: Arc<Handler>) -> Self {
        let (stop, shutdown) = watch::channel(false);
        let metrics = handler.metrics.clone();
        let probe = tokio::spawn(watch_smtp(handler.clone(), shutdown.clone()));
        let task = tokio::spawn(async move { super::run(&settings, handler, shutdown).await });
        Self {
            stop,
            task,
            probe,
            metrics,
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> Snapshot {
        self.metrics.snapshot()
    }

    /// A receiver that turns true when the service is told to stop.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Runs until `signal` (then stops as [`Service::stop`] does) or until the consume loop
    /// ends by itself, which only an error makes it do.
    pub async fn run_until(
        mut self,
        signal: impl Future<Output = ()>,
    ) -> Result<Snapshot, KafkaError> {
        tokio::select! {
            done = &mut self.task => {
                let _ = self.stop.send(true);
                let _ = self.probe.await;
                joined(done)
            }
            () = signal => self.stop().await,
        }
    }

    /// Finishes the events in hand, commits, leaves the group; the final counts.
    pub async fn stop(self) -> Result<Snapshot, KafkaError> {
        let _ = self.stop.send(true);
        let done = joined(self.task.await);
        let _ = self.probe.await;
        done
    }
}

fn joined(
    done: Result<Result<Snapshot, KafkaError>, tokio::task::JoinError>,
) -> Result<Snapshot, KafkaError> {
    done.unwrap_or_else(|e| {
        Err(KafkaError::Internal(format!(
            "the dispatch task failed: {e}"
        )))
    })
}

/// Keeps `/readyz`'s SMTP answer fresh: a connection test every 5 s.
async fn watch_smtp(handler: Arc<Handler>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let up = handler.sender.reachable().await;
        handler.metrics.smtp_ready.store(up, Ordering::Relaxed);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
