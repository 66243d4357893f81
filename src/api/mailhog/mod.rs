//! MailHog's HTTP API (v1 and v2, as MailHog 1.0 serves them) over the sink's store, on a
//! listener of its own (`--mailhog`), so suites written for MailHog run unchanged. Shapes,
//! content types (`text/json` where MailHog says so) and empty bodies follow MailHog's
//! source (`MailHog-Server/api`, `mailhog/data`); where MailHog drops the connection (an
//! unknown id on a download) this answers 404 instead.

mod events;
mod jim;
mod json;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::ApiSettings;
use crate::store::{Store, Summary};
pub use json::Message;

#[derive(Clone)]
struct Shared {
    store: Arc<Store>,
    faults: Arc<crate::smtp::faults::FaultSet>,
    settings: Arc<ApiSettings>,
    monkey: Arc<std::sync::Mutex<jim::Monkey>>,
}

/// MailHog's routes over `store`; Jim sets `faults`.
pub fn router(
    store: Arc<Store>,
    faults: Arc<crate::smtp::faults::FaultSet>,
    settings: ApiSettings,
) -> Router {
    let shared = Shared {
        store,
        faults,
        settings: Arc::new(settings),
        monkey: Arc::default(),
    };
    Router::new()
        .route("/api/v1/messages", get(v1_list).delete(delete_all))
        .route("/api/v1/messages/{id}", get(v1_one).delete(delete_one))
        .route("/api/v1/messages/{id}/download", get(download))
        .route("/api/v1/messages/{id}/mime/part/{n}/download", get(part))
        .route(
            "/api/v1/messages/{id}/release",
            axum::routing::post(release),
        )
        .route("/api/v2/messages", get(v2_list))
        .route("/api/v2/search", get(search))
        .route(
            "/api/v2/jim",
            get(jim::get)
                .post(jim::post)
                .put(jim::put)
                .delete(jim::delete),
        )
        .route("/api/v2/outgoing-smtp", get(outgoing))
        .route("/api/v1/events", get(events::sse))
        .route("/api/v2/websocket", get(events::websocket))
        .with_state(shared)
}

/// JSON with the content type MailHog gives the route.
fn json<T: serde::Serialize>(value: &T, content_type: &'static str) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// An answer with no body, as MailHog gives deletes and releases.
fn empty(status: StatusCode) -> Response {
    (status, [(header::CONTENT_TYPE, "text/json")]).into_response()
}

/// Every message, newest first, read whole.
fn newest_first(store: &Store) -> Vec<Arc<Summary>> {
    let mut all = store.list(&crate::store::Query::default());
    all.reverse();
    all
}

async fn messages(shared: &Shared, summaries: Vec<Arc<Summary>>) -> Vec<Message> {
    let store = shared.store.clone();
    tokio::task::spawn_blocking(move || {
        summaries
            .iter()
            .filter_map(|s| Some(Message::new(s, &store.raw(s.id).ok()?)))
            .collect()
    })
    .await
    .unwrap_or_default()
}

fn find(shared: &Shared, id: &str) -> Option<Arc<Summary>> {
    id.parse().ok().and_then(|id| shared.store.get(id))
}

async fn v1_list(State(shared): State<Shared>) -> Response {
    let all: Vec<_> = newest_first(&shared.store).into_iter().take(1000).collect();
    json(&messages(&shared, all).await, "text/json")
}

/// An unknown id is `null`, as MailHog's memory storage answers.
async fn v1_one(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let found = match find(&shared, &id) {
        Some(s) => messages(&shared, vec![s]).await.pop(),
        None => None,
    };
    json(&found, "text/json")
}

async fn delete_all(State(shared): State<Shared>) -> Response {
    let ids: Vec<u64> = newest_first(&shared.store).iter().map(|s| s.id).collect();
    match shared.store.delete(&ids) {
        Ok(_) => empty(StatusCode::OK),
        Err(_) => empty(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn delete_one(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    match find(&shared, &id).map(|s| shared.store.delete(&[s.id])) {
        Some(Ok(_)) => empty(StatusCode::OK),
        _ => empty(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The message as stored (MailHog rebuilds it from its parsed headers; the bytes as
/// received are what a test wants).
async fn download(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(raw) = find(&shared, &id).and_then(|s| shared.store.raw(s.id).ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let disposition = format!("attachment; filename=\"{id}.eml\"");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "message/rfc822".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        raw,
    )
        .into_response()
}

/// A top-level MIME part by its index in `MIME.Parts`, with the part's own headers; a
/// base64 body decoded, as MailHog does.
async fn part(State(shared): State<Shared>, Path((id, n)): Path<(String, usize)>) -> Response {
    let Some(summary) = find(&shared, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(message) = messages(&shared, vec![summary]).await.pop() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(part) = message
        .mime
        .and_then(|m| m.parts)
        .and_then(|mut p| (n < p.len()).then(|| p.swap_remove(n)))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    let default = format!("attachment; filename=\"{id}-part-{n}\"");
    if let Ok(value) = default.parse() {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    for (name, values) in &part.headers {
        let (Ok(name), Some(Ok(value))) = (
            header::HeaderName::try_from(name.as_str()),
            values.first().map(|v| header::HeaderValue::from_str(v)),
        ) else {
            continue;
        };
        headers.insert(name, value);
    }
    let base64 = part
        .headers
        .get("Content-Transfer-Encoding")
        .and_then(|v| v.first())
        .is_some_and(|e| e.eq_ignore_ascii_case("base64"));
    let body = if base64 {
        use base64::Engine;
        let compact: String = part.body.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .unwrap_or_default()
    } else {
        part.body.into_bytes()
    };
    *response.body_mut() = axum::body::Body::from(body);
    response
}

#[derive(Deserialize)]
struct Page {
    start: Option<String>,
    limit: Option<String>,
    kind: Option<String>,
    query: Option<String>,
}

impl Page {
    /// MailHog's paging: values that are not positive numbers fall back; at most 250.
    fn window(&self) -> (usize, usize) {
        let positive = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|n| *n > 0)
        };
        (
            positive(&self.start).unwrap_or(0),
            positive(&self.limit).unwrap_or(50).min(250),
        )
    }
}

async fn listed(
    shared: &Shared,
    found: Vec<Arc<Summary>>,
    page: &Page,
    kind: &'static str,
) -> Response {
    let (start, limit) = page.window();
    let total = found.len();
    let shown: Vec<_> = found.into_iter().skip(start).take(limit).collect();
    let items = messages(shared, shown).await;
    let body =
        serde_json::json!({"total": total, "count": items.len(), "start": start, "items": items});
    json(&body, kind)
}

async fn v2_list(State(shared): State<Shared>, Query(page): Query<Page>) -> Response {
    let all = newest_first(&shared.store);
    listed(&shared, all, &page, "text/json").await
}

/// `kind=from|to|containing`: a case-insensitive substring of the envelope or the header
/// (`from`, `to`), or of the body or any header value (`containing`).
async fn search(State(shared): State<Shared>, Query(page): Query<Page>) -> Response {
    let (Some(kind), Some(query)) = (
        page.kind.clone(),
        page.query.clone().filter(|q| !q.is_empty()),
    ) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if !["from", "to", "containing"].contains(&kind.as_str()) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let needle = query.to_lowercase();
    let all = newest_first(&shared.store);
    let store = shared.store.clone();
    let found = tokio::task::spawn_blocking(move || {
        all.into_iter()
            .filter(|s| {
                let Ok(raw) = store.raw(s.id) else {
                    return false;
                };
                let message = Message::new(s, &raw);
                matches(&message, &kind, &needle)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    listed(&shared, found, &page, "application/json").await
}

fn matches(message: &Message, kind: &str, needle: &str) -> bool {
    let has = |text: &str| text.to_lowercase().contains(needle);
    let header = |name: &str| {
        message
            .content
            .headers
            .get(name)
            .is_some_and(|v| v.iter().any(|v| has(v)))
    };
    match kind {
        "from" => has(&message.raw.from) || header("From"),
        "to" => message.raw.to.iter().any(|t| has(t)) || header("To"),
        _ => {
            has(&message.content.body) || message.content.headers.values().flatten().any(|v| has(v))
        }
    }
}

/// MailHog's release names a server; here it must be one of the sink's `--release-to`
/// targets (by host and port), and the recipient the message's own or one
/// `--release-allow` admits.
async fn release(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/json")],
            "Error decoding request body",
        )
            .into_response();
    };
    let field = |name: &str| {
        super::mailpit::field(&body, name)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default()
    };
    let Some(summary) = find(&shared, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let targets = &shared.settings.release;
    let (host, port, email) = (field("Host"), field("Port"), field("Email"));
    let target = targets
        .named
        .values()
        .find(|t| t.host == host && t.port.to_string() == port);
    let allowed = summary.envelope.rcpt_to.contains(&email)
        || targets.allow.as_ref().is_some_and(|a| a.is_match(&email));
    let (Some(target), true) = (target, allowed) else {
        return empty(StatusCode::BAD_REQUEST);
    };
    let Ok(raw) = shared.store.raw(summary.id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let from = &summary.envelope.mail_from;
    match crate::outbound::release::release(&raw, from, &[email], target, targets.timeout).await {
        Ok(_) => empty(StatusCode::OK),
        Err(_) => empty(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The release servers, as MailHog lists its saved ones (never a password).
async fn outgoing(State(shared): State<Shared>) -> Response {
    let servers: serde_json::Map<String, serde_json::Value> = shared
        .settings
        .release
        .named
        .iter()
        .map(|(name, t)| {
            let entry = serde_json::json!({"Name": name, "Save": true, "Email": "", "Host": t.host, "Port": t.port.to_string(), "Username": t.credentials.as_ref().map(|(u, _)| u.clone()).unwrap_or_default(), "Password": "", "Mechanism": ""});
            (name.clone(), entry)
        })
        .collect();
    json(&servers, "application/json")
}
