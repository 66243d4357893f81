//! The API's handlers. JSON in and out; errors as `{"error": "..."}` with a fitting status.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::search;
use super::{ApiError, AppState, error};
use crate::mail::parsed;
use crate::smtp::faults::{FaultRules, FaultSet};
use crate::store::{Query, Summary};

pub fn health() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
}

/// Ready unless the capture log (a replica's, a reader's) is out of reach: a load balancer
/// then sends mail to replicas that can take it.
async fn ready(State(state): State<AppState>) -> Response {
    let unready: Vec<String> = (state.store.probes().iter())
        .filter_map(|p| p.unready())
        .collect();
    if unready.is_empty() {
        return "ready\n".into_response();
    }
    let body = format!("unready: {}\n", unready.join("; "));
    (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
}

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages", get(list).delete(delete_matching))
        .route("/api/v1/messages/{id}", get(one).delete(delete_one))
        .route("/api/v1/messages/{id}/raw", get(raw))
        .route("/api/v1/messages/{id}/transcript", get(transcript))
        .route(
            "/api/v1/messages/{id}/release",
            axum::routing::post(release),
        )
        .route("/api/v1/wait", get(wait))
        .route("/api/v1/events", get(super::events::events))
        .route(
            "/api/v1/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/api/v1/intake", get(intake))
        .route("/api/v1/intake/pause", axum::routing::post(pause))
        .route("/api/v1/intake/resume", axum::routing::post(resume))
        .route("/metrics", get(metrics))
}

/// Query parameters of list, delete and wait: the store's query plus paging and waiting.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    since: Option<u64>,
    mailbox: Option<String>,
    to: Option<String>,
    from: Option<String>,
    subject: Option<String>,
    header: Option<String>,
    text: Option<String>,
    /// The search box's language: `to:bob subject:"reset" words` (see `search.rs`).
    q: Option<String>,
    /// List: only messages older than this id (paging back from the newest).
    before: Option<u64>,
    /// At most this many (list: default 1000).
    limit: Option<usize>,
    /// Wait: how many matches to wait for (default 1).
    count: Option<usize>,
    /// Wait: how long, such as `30s` (default 30 s).
    timeout: Option<String>,
    /// Checked by the token middleware; accepted here so such requests parse.
    #[serde(rename = "token")]
    _token: Option<String>,
}

impl Params {
    fn query(&self) -> Result<Query, ApiError> {
        let mut query = self.plain_query();
        if let Some(q) = &self.q {
            let searched = search::parse(q)
                .and_then(|more| search::merge(&mut query, more))
                .map_err(|e| error(StatusCode::BAD_REQUEST, format!("q: {e}")));
            searched?;
        }
        Ok(query)
    }

    fn plain_query(&self) -> Query {
        Query {
            since: self.since,
            mailbox: self.mailbox.clone(),
            to: self.to.clone(),
            from: self.from.clone(),
            subject: self.subject.clone(),
            header: self.header.clone(),
            text: self.text.clone(),
        }
    }
}

fn params(
    result: Result<QueryParams<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Params, ApiError> {
    result
        .map(|QueryParams(p)| p)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))
}

async fn list(
    State(state): State<AppState>,
    query: Result<QueryParams<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = params(query)?;
    let all = state.store.list_off_thread(&p.query()?).await;
    let limit = p.limit.unwrap_or(1000);
    // With a cursor, page forward from it; without, the newest `limit` (below `before`).
    let (page, more): (Vec<&Arc<Summary>>, bool) = if p.since.is_some() {
        (all.iter().take(limit).collect(), all.len() > limit)
    } else {
        let older = all.partition_point(|s| p.before.is_none_or(|b| s.id < b));
        let start = older.saturating_sub(limit);
        (all[start..older].iter().collect(), start > 0)
    };
    Ok(Json(
        json!({"total": all.len(), "more": more, "messages": page}),
    ))
}

fn found(state: &AppState, id: u64) -> Result<Arc<Summary>, ApiError> {
    state
        .store
        .get(id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no message {id}")))
}

async fn one(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let summary = found(&state, id)?;
    let store = state.store.clone();
    super::blocking(move || {
        let raw = store
            .raw(id)
            .map_err(|e| super::internal("reading the message failed", &e))?;
        let parsed = parsed::parse(&raw);
        let bcc = bcc(&summary, &parsed.headers);
        Ok(Json(
            json!({"summary": summary, "message": parsed, "bcc": bcc}),
        ))
    })
    .await
}

/// Envelope recipients named in no `To` or `Cc` header: the blind copies.
fn bcc(summary: &Summary, headers: &[(String, String)]) -> Vec<String> {
    let named: String = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("to") || k.eq_ignore_ascii_case("cc"))
        .map(|(_, v)| v.to_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    summary
        .envelope
        .rcpt_to
        .iter()
        .filter(|r| !named.contains(&r.to_lowercase()))
        .cloned()
        .collect()
}

async fn raw(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Response, ApiError> {
    let raw = read_raw(&state, id).await?;
    let disposition = format!("attachment; filename=\"message-{id}.eml\"");
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            // Never rendered as HTML by a browser that guesses types.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        raw,
    )
        .into_response())
}

/// A stored message's bytes, read off the async workers; 404 when there is none.
pub(super) async fn read_raw(state: &AppState, id: u64) -> Result<Vec<u8>, ApiError> {
    found(state, id)?;
    let store = state.store.clone();
    super::blocking(move || {
        store
            .raw(id)
            .map_err(|e| super::internal("reading the message failed", &e))
    })
    .await
}

async fn transcript(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Vec<String>>, ApiError> {
    found(&state, id)?;
    state
        .store
        .transcript(id)
        .map(Json)
        .map_err(|e| super::internal("reading the transcript failed", &e))
}

/// Where to release a message to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseTo {
    /// One of the targets the sink was started with (`--release-to NAME=URL`); may be left
    /// out when there is one.
    target: Option<String>,
    /// Recipients; default: the message's own envelope recipients. Others must match
    /// `--release-allow`.
    to: Option<Vec<String>>,
}

/// Sends a stored message on, unchanged, to a release target the operator configured:
/// never to a server or recipients the caller picks (that would be an open relay).
async fn release(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    body: Result<Json<ReleaseTo>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(asked) = body.map_err(|e| {
        let hint = "; a release names a `target` the sink was started with (--release-to)";
        error(StatusCode::BAD_REQUEST, format!("{}{hint}", e.body_text()))
    })?;
    let summary = found(&state, id)?;
    let targets = &state.settings.release;
    let (name, target) = pick_target(targets, asked.target.as_deref())?;
    let own = &summary.envelope.rcpt_to;
    let to = asked.to.unwrap_or_else(|| own.clone());
    for rcpt in &to {
        let allowed =
            own.contains(rcpt) || targets.allow.as_ref().is_some_and(|a| a.is_match(rcpt));
        if !allowed {
            let why = format!(
                "`{rcpt}` is not one of the message's recipients, nor allowed by --release-allow"
            );
            return Err(error(StatusCode::FORBIDDEN, why));
        }
    }
    let raw = read_raw(&state, id).await?;
    let from = &summary.envelope.mail_from;
    match crate::outbound::release::release(&raw, from, &to, target, targets.timeout).await {
        Ok(reply) => Ok(Json(
            json!({"released": id, "target": name, "to": to, "reply": reply}),
        )),
        Err(e @ crate::outbound::release::ReleaseError::Send(_)) => {
            tracing::warn!(cause = %e, target = name, "release failed");
            Err(error(StatusCode::BAD_GATEWAY, e.to_string()))
        }
        Err(e) => Err(error(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// The target a release names, or the only one there is.
fn pick_target<'t>(
    targets: &'t crate::outbound::release::Targets,
    name: Option<&str>,
) -> Result<(&'t str, &'t crate::outbound::release::Target), ApiError> {
    let names = || targets.named.keys().cloned().collect::<Vec<_>>().join(", ");
    match name {
        _ if targets.named.is_empty() => Err(error(
            StatusCode::FORBIDDEN,
            "no release target is configured: start the sink with --release-to NAME=smtp://host:port",
        )),
        Some(name) => targets
            .named
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v))
            .ok_or_else(|| {
                let why = format!("no release target `{name}`; there are: {}", names());
                error(StatusCode::NOT_FOUND, why)
            }),
        None if targets.named.len() == 1 => {
            let (k, v) = targets.named.iter().next().expect("one target");
            Ok((k.as_str(), v))
        }
        None => Err(error(
            StatusCode::BAD_REQUEST,
            format!("name a `target`: one of {}", names()),
        )),
    }
}

async fn delete_one(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    match state.store.delete(&[id]) {
        Ok(0) => Err(error(StatusCode::NOT_FOUND, format!("no message {id}"))),
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(super::internal("deleting failed", &e)),
    }
}

/// Deletes every message matching the query; with no query, clears the store.
async fn delete_matching(
    State(state): State<AppState>,
    query: Result<QueryParams<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = params(query)?;
    let found = state.store.list_off_thread(&p.query()?).await;
    let ids: Vec<u64> = found.iter().map(|s| s.id).collect();
    let deleted = state
        .store
        .delete(&ids)
        .map_err(|e| super::internal("deleting failed", &e))?;
    Ok(Json(json!({"deleted": deleted})))
}

/// Waits on the server until `count` messages match, so tests never poll or sleep.
async fn wait(
    State(state): State<AppState>,
    query: Result<QueryParams<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let p = params(query)?;
    let timeout = match p.timeout.as_deref() {
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| error(StatusCode::BAD_REQUEST, format!("timeout `{text}`: {e}")))?,
        None => Duration::from_secs(30),
    };
    if timeout > state.settings.max_wait {
        let max = humantime::format_duration(state.settings.max_wait);
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("timeout is over the maximum of {max}"),
        ));
    }
    let count = p.count.unwrap_or(1).max(1);
    let query = p.query()?;
    let found = state.store.wait(&query, count, timeout).await;
    let met = found.len() >= count;
    let status = if met {
        StatusCode::OK
    } else {
        StatusCode::REQUEST_TIMEOUT
    };
    let mut body = json!({"messages": found, "count": found.len(), "wanted": count});
    if !met {
        body["error"] = json!(format!(
            "timed out after {}: {} of {count} messages matched",
            humantime::format_duration(timeout),
            found.len()
        ));
    }
    Ok((status, Json(body)).into_response())
}

async fn get_faults(State(state): State<AppState>) -> Json<FaultRules> {
    Json(state.faults.rules())
}

/// Replaces the fault rules (a YAML or JSON body); counters start over.
async fn put_faults(
    State(state): State<AppState>,
    body: String,
) -> Result<Json<FaultRules>, ApiError> {
    let rules = FaultSet::parse(&body).map_err(|m| error(StatusCode::BAD_REQUEST, m))?;
    state
        .faults
        .set(rules)
        .map_err(|m| error(StatusCode::BAD_REQUEST, m))?;
    Ok(Json(state.faults.rules()))
}

async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    let _ = state.faults.set(FaultRules::default());
    StatusCode::NO_CONTENT
}

async fn intake(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"paused": state.faults.paused()}))
}

/// Pauses intake: new connections and new transactions get 421 until resumed.
async fn pause(State(state): State<AppState>) -> Json<serde_json::Value> {
    state.faults.set_paused(true);
    Json(json!({"paused": true}))
}

async fn resume(State(state): State<AppState>) -> Json<serde_json::Value> {
    state.faults.set_paused(false);
    Json(json!({"paused": false}))
}

/// Prometheus text metrics.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stored = state.store.len();
    let evicted = state.store.evicted();
    let requests = state.http_requests.load(Ordering::Relaxed);
    let body = format!(
        "# HELP mailtest_messages_stored Messages currently in the store.\n\
         # TYPE mailtest_messages_stored gauge\n\
         mailtest_messages_stored {stored}\n\
         # HELP mailtest_messages_evicted_total Messages removed by retention.\n\
         # TYPE mailtest_messages_evicted_total counter\n\
         mailtest_messages_evicted_total {evicted}\n\
         # HELP mailtest_http_requests_total API requests served.\n\
         # TYPE mailtest_http_requests_total counter\n\
         mailtest_http_requests_total {requests}\n"
    );
    let mut body = body;
    for probe in state.store.probes() {
        body.push_str(&probe.metrics());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
