//! The sink's HTTP API over the store: list, search, read, delete, a server-side wait, an
//! event stream, health and metrics. It reads and changes the store only through the
//! store's own methods; SMTP is never touched.

mod events;
pub mod parsed;
mod routes;
mod search;
mod view;
mod web;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::smtp::faults::FaultSet;
use crate::store::Store;

/// API settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// When set, every route but `/healthz` and `/readyz` needs `Authorization: Bearer
    /// <token>` (or `?token=` for browsers' `EventSource`, which cannot send headers).
    pub token: Option<String>,
    /// The longest a `wait` may be asked to wait.
    pub max_wait: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            token: None,
            max_wait: Duration::from_secs(300),
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
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(routes::health())
        .merge(web::routes())
        .merge(protected)
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

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state
        .http_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(token) = &state.settings.token else {
        return next.run(request).await;
    };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let in_query = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.strip_prefix("token=") == Some(token.as_str()))
    });
    if bearer == Some(token.as_str()) || in_query {
        return next.run(request).await;
    }
    let body = axum::Json(serde_json::json!({"error": "a valid API token is required"}));
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        body,
    )
        .into_response()
}
