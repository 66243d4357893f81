//! The sink's HTTP API over the store: list, search, read, delete, a server-side wait, an
//! event stream, health and metrics. It reads and changes the store only through the
//! store's own methods; SMTP is never touched.

mod checks;
mod events;
mod guard;
pub mod mailhog;
pub mod mailpit;
pub mod providers;
mod routes;
mod search;
mod view;
mod web;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use guard::HostPolicy;

use crate::smtp::faults::FaultSet;
use crate::store::Store;

/// API settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// When set, every route but `/healthz` and `/readyz` needs `Authorization: Bearer
    /// <token>` (or `?token=` on the routes a browser reaches without headers: the event
    /// stream, downloads and the message frame).
    pub token: Option<String>,
    /// The longest a `wait` may be asked to wait.
    pub max_wait: Duration,
    /// The `Host` names answered to (loopback ones always).
    pub hosts: HostPolicy,
    /// Where a captured message may be released to, and to whom.
    pub release: Arc<crate::outbound::release::Targets>,
    /// Mailpit's chaos API may set fault rules (`--enable-chaos`).
    pub chaos: bool,
    /// The HTML, link and spam checks, with what they may reach.
    pub checks: Arc<crate::checks::Checker>,
    /// The API keys the providers' send APIs accept, by name; empty: any key.
    pub provider_keys: Vec<providers::ProviderKey>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            token: None,
            max_wait: Duration::from_secs(300),
            hosts: HostPolicy::default(),
            release: Arc::default(),
            chaos: false,
            checks: Arc::default(),
            provider_keys: Vec::new(),
        }
    }
}

/// A failed request: its status and `{"error": "..."}`.
type ApiError = (StatusCode, axum::Json<serde_json::Value>);

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    (
        status,
        axum::Json(serde_json::json!({"error": message.into()})),
    )
}

/// A 500 for a failure the client cannot fix; the cause goes to the log, since the answer
/// names only what failed.
fn internal(what: &str, cause: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(%cause, "{what}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what}: {cause}"),
    )
}

/// Runs `work` (reading a message from disk, decoding its MIME parts) on tokio's blocking
/// pool: a large or hostile message then never stalls the async workers that serve other
/// requests and the SMTP sessions.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| internal("request handler failed", &e))?
}

/// A UTC time as Go's `time.Time` writes it in JSON, at `precision` (Mailpit keeps
/// milliseconds, MailHog nanoseconds): trailing zeros of the fraction dropped, `Z`.
fn go_time(t: chrono::DateTime<chrono::Utc>, precision: chrono::SecondsFormat) -> String {
    let text = t.to_rfc3339_opts(precision, true);
    match text.split_once('.') {
        Some((head, frac)) => {
            let digits = frac.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{digits}Z")
            }
        }
        None => text,
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub faults: Arc<FaultSet>,
    pub settings: Arc<ApiSettings>,
    pub http_requests: Arc<AtomicU64>,
}

/// The API's routes over `store`, with `faults` changeable through it.
pub fn router(store: Arc<Store>, faults: Arc<FaultSet>, settings: ApiSettings) -> Router {
    let state = AppState {
        store,
        faults,
        settings: Arc::new(settings),
        http_requests: Arc::new(AtomicU64::new(0)),
    };
    let protected = routes::api()
        .merge(checks::routes())
        .merge(view::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::token));
    // The providers' routes authenticate with the providers' own keys, not the API token.
    Router::new()
        .merge(routes::health())
        .merge(web::routes())
        .merge(providers::routes())
        .merge(protected)
        .layer(middleware::from_fn_with_state(state.clone(), guard::origin))
        .with_state(state)
}

/// Which other tool's API a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Mailpit,
    MailHog,
}

/// Mailpit's or MailHog's API over `store` (see `mailpit/`, `mailhog/`), behind the same
/// Host, cross-site and token guards as the native API (a token may also come as a Basic
/// password, the way those tools' clients send credentials).
pub fn compat_router(
    flavour: Flavour,
    store: Arc<Store>,
    faults: Arc<FaultSet>,
    settings: ApiSettings,
) -> Router {
    let state = AppState {
        store: store.clone(),
        faults,
        settings: Arc::new(settings.clone()),
        http_requests: Arc::new(AtomicU64::new(0)),
    };
    let router = match flavour {
        Flavour::Mailpit => mailpit::router(store, state.faults.clone(), settings),
        Flavour::MailHog => mailhog::router(store, state.faults.clone(), settings),
    };
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::token))
        .layer(middleware::from_fn_with_state(state, guard::origin))
}

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Connections served at once; one more is closed at once, so idle sockets can never
    /// use up the file descriptors SMTP sessions need.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (and a kept-alive
    /// connection may sit idle before its next request).
    pub header_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` with the default limits until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve_with(listener, router, HttpLimits::default(), shutdown).await
}

/// Serves one connection until it ends, or until `stop`: then requests in flight finish
/// and the connection closes.
async fn drive<C>(
    conn: C,
    mut stop: watch::Receiver<bool>,
    peer: std::net::SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    C: std::future::Future<Output = Result<(), hyper::Error>> + GracefulUpgrade,
{
    let mut conn = std::pin::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => Some(ended),
        _ = stop.wait_for(|stop| *stop) => None,
    };
    let ended = if let Some(ended) = ended {
        ended
    } else {
        conn.as_mut().shutdown_gracefully();
        conn.await
    };
    if let Err(err) = ended {
        tracing::debug!(cause = %err, %peer, "API connection ended with an error");
    }
    drop(permit);
}

/// hyper's upgradable HTTP/1 connection, which can be asked to finish and close.
trait GracefulUpgrade {
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>);
}

impl<I, S> GracefulUpgrade for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Serves `router` on `listener` until `shutdown` turns true, then lets requests in flight
/// finish for a moment (event streams are told to end by the same signal).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        // Finished connections are reaped as others come.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::error!(cause = %err, "API accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "API connection limit reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        // `with_upgrades`: the Mailpit API's event websocket upgrades the connection.
        let conn = http
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .with_upgrades();
        connections.spawn(drive(conn, shutdown.clone(), peer, permit));
    }
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        tracing::debug!("API connections still open after the drain timeout");
        connections.abort_all();
    }
    Ok(())
}
