//! The sink's HTTP API over the store: list, search, read, delete, a server-side wait, an
//! event stream, health and metrics. It reads and changes the store only through the
//! store's own methods; SMTP is never touched.

mod events;
mod guard;
pub mod parsed;
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
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            token: None,
            max_wait: Duration::from_secs(300),
            hosts: HostPolicy::default(),
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
        .merge(view::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::token));
    Router::new()
        .merge(routes::health())
        .merge(web::routes())
        .merge(protected)
        .layer(middleware::from_fn_with_state(state.clone(), guard::origin))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
