//! The accept loop: takes a bound listener and a shutdown signal, caps connections, gives
//! each session a tracing span, and on shutdown lets sessions in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::session::{Session, SessionConfig};
use crate::mail::Deliver;

/// Server-wide settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub session: SessionConfig,
    /// Sessions at once; one more is told 421 and closed.
    pub max_connections: usize,
    /// How long shutdown waits for sessions in flight.
    pub drain_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// A running SMTP server.
pub struct Server;

impl Server {
    /// Serves `listener` until `shutdown` turns true, then drains sessions.
    pub async fn serve(
        listener: TcpListener,
        settings: ServerSettings,
        deliver: Arc<dyn Deliver>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let settings = Arc::new(settings);
        let permits = Arc::new(Semaphore::new(settings.max_connections));
        let mut sessions = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            // Reap finished sessions so the set does not grow with the connection count.
            while sessions.try_join_next().is_some() {}
            let (mut stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::error!(cause = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "connection limit reached");
                let _ = stream
                    .write_all(b"421 4.7.0 Too many connections, try later\r\n")
                    .await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (settings, deliver, shutdown) =
                (settings.clone(), deliver.clone(), shutdown.clone());
            let span = tracing::info_span!("smtp", %peer);
            sessions.spawn(
                async move {
                    let session =
                        Session::new(stream, peer, &settings.session, &*deliver, shutdown);
                    if let Err(err) = session.run().await {
                        tracing::debug!(cause = %err, "session ended with an error");
                    }
                    drop(permit);
                }
                .instrument(span),
            );
        }
        drain(sessions, settings.drain_timeout).await;
    }
}

async fn drain(mut sessions: JoinSet<()>, timeout: Duration) {
    let all = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(timeout, all).await.is_err() {
        tracing::warn!("sessions still open after the drain timeout; closing them");
    }
}

/// Binds `addr`; a helper so callers and tests bind port 0 the same way.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
