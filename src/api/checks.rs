//! The native API's checks of one message, for the inbox's tabs and scripts: client
//! support of the HTML, link status and spam score, in the same shapes as Mailpit's
//! routes (one report type each, shared with `verify`).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::routes::read_raw;
use super::{ApiError, AppState, error};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages/{id}/checks/html", get(html))
        .route("/api/v1/messages/{id}/checks/links", get(links))
        .route("/api/v1/messages/{id}/checks/spam", get(spam))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkParams {
    /// Follow redirects, each hop checked.
    #[serde(default)]
    follow: bool,
}

async fn html(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Response, ApiError> {
    let raw = read_raw(&state, id).await?;
    let html = crate::mail::parsed::parse(&raw).html.unwrap_or_default();
    if html.trim().is_empty() {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the message has no HTML part",
        ));
    }
    Ok(Json(state.settings.checks.html(html).await).into_response())
}

async fn links(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(p): Query<LinkParams>,
) -> Result<Response, ApiError> {
    let raw = read_raw(&state, id).await?;
    Ok(Json(state.settings.checks.links(&raw, p.follow).await).into_response())
}

async fn spam(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Response, ApiError> {
    let raw = read_raw(&state, id).await?;
    match state.settings.checks.spam(&raw).await {
        Some(report) => Ok(Json(report).into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            "the spam check is off: start the sink with --enable-spamassassin HOST:PORT",
        )),
    }
}
