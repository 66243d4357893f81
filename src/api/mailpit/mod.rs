//! Mailpit's HTTP API (v1, as of Mailpit 1.30) over the sink's store, on a listener of its
//! own (`--mailpit`), so a suite written for Mailpit runs with nothing changed but its base
//! URL. Routes, JSON shapes, status codes, plain-text errors and read-on-open follow
//! Mailpit's source (`server/apiv1`, `internal/storage`); read state and tags are the
//! store's flags, so they survive restarts and every flavour of the API sees them.

mod chaos;
mod checks;
mod events;
mod json;
mod messages;
mod model;
mod more;
mod parts;
mod search;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiSettings;
use crate::store::{Store, Summary};
pub use model::Facts;
pub use search::Search;

/// What the handlers share.
#[derive(Clone)]
pub struct State {
    pub store: Arc<Store>,
    pub faults: Arc<crate::smtp::faults::FaultSet>,
    pub settings: Arc<ApiSettings>,
    facts: Arc<Mutex<Cache>>,
}

/// Facts read, by message id, and about how many bytes they hold.
#[derive(Default)]
struct Cache {
    facts: HashMap<u64, Arc<Facts>>,
    bytes: usize,
}

/// Bytes of facts kept at most (bodies are a message's largest part); past this the cache
/// starts over, as facts are cheap to read again.
const CACHED_BYTES: usize = 32 * 1024 * 1024;

/// The Mailpit API's routes over `store`.
pub fn router(
    store: Arc<Store>,
    faults: Arc<crate::smtp::faults::FaultSet>,
    settings: ApiSettings,
) -> Router {
    let state = State {
        store,
        faults,
        settings: Arc::new(settings),
        facts: Arc::default(),
    };
    messages::routes()
        .merge(more::routes())
        .merge(checks::routes())
        .route("/api/events", axum::routing::get(events::events))
        .route(
            "/api/v1/chaos",
            axum::routing::get(chaos::get).put(chaos::put),
        )
        .route("/api/v1/send", axum::routing::post(send::send))
        .with_state(state)
}

impl State {
    /// The facts of a stored message, read (off the async workers) on first use.
    pub async fn facts(&self, summary: &Arc<Summary>) -> Option<Arc<Facts>> {
        if let Some(found) = self.cached(summary.id) {
            return Some(found);
        }
        let (state, summary) = (self.clone(), summary.clone());
        tokio::task::spawn_blocking(move || state.facts_now(&summary))
            .await
            .ok()
            .flatten()
    }

    fn cached(&self, id: u64) -> Option<Arc<Facts>> {
        let cache = self
            .facts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.facts.get(&id).cloned()
    }

    /// The facts of a message, on this thread.
    fn facts_now(&self, summary: &Summary) -> Option<Arc<Facts>> {
        if let Some(found) = self.cached(summary.id) {
            return Some(found);
        }
        let raw = self.store.raw(summary.id).ok()?;
        let facts = Arc::new(Facts::read(&raw, &summary.envelope));
        let mut cache = self
            .facts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let size = facts.weight();
        if cache.bytes + size > CACHED_BYTES {
            *cache = Cache::default();
        }
        cache.bytes += size;
        cache.facts.insert(summary.id, facts.clone());
        Some(facts)
    }

    /// Every message matching `search`, newest first. Facts read on the way are only
    /// cached (within its bound): a search over many messages never holds all of theirs.
    pub async fn search(
        &self,
        search: Search,
        before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Vec<Arc<Summary>> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut all = state.store.list(&crate::store::Query::default());
            all.reverse();
            all.into_iter()
                .filter(|s| before.is_none_or(|b| s.received_at < b))
                .filter_map(|s| {
                    let facts = if search.needs_facts() {
                        Some(state.facts_now(&s)?)
                    } else {
                        None
                    };
                    search.matches(&s, facts.as_deref()).then_some(s)
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// A message's bytes, or Mailpit's 404 when it went meanwhile.
    // The error is the handler's answer, returned with `?` straight away.
    #[allow(clippy::result_large_err)]
    pub fn raw(&self, summary: &Summary) -> Result<Vec<u8>, Response> {
        self.store.raw(summary.id).map_err(|_| not_found())
    }

    /// The message `id` names: a number, or `latest` (the newest, matching `query` if
    /// given). Mailpit's 404s: `404 page not found`, and `Message not found` for `latest`.
    pub async fn resolve(
        &self,
        id: &str,
        query: Option<&str>,
        tz: Option<&str>,
    ) -> Result<Arc<Summary>, Response> {
        if id == "latest" {
            let search = Search::parse(query.unwrap_or_default(), tz);
            let found = self.search(search, None).await.into_iter().next();
            return found.ok_or_else(|| text(StatusCode::NOT_FOUND, "Message not found"));
        }
        id.parse::<u64>()
            .ok()
            .and_then(|id| self.store.get(id))
            .ok_or_else(not_found)
    }
}

/// A plain-text answer, as Mailpit writes its errors and `ok`s (no trailing newline).
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body.into()).into_response()
}

pub fn ok() -> Response {
    text(StatusCode::OK, "ok")
}

pub fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found")
}

pub fn bad_request(message: impl Into<String>) -> Response {
    text(StatusCode::BAD_REQUEST, message)
}

/// JSON as Go's encoder writes it: a trailing newline, `application/json`.
pub fn json<T: serde::Serialize>(value: &T) -> Response {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A JSON body's field, its name matched regardless of case as Go's decoder matches it.
pub fn field<'v>(body: &'v serde_json::Value, name: &str) -> Option<&'v serde_json::Value> {
    body.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A field holding a list of strings (`IDs`, `Tags`).
pub fn strings(body: &serde_json::Value, name: &str) -> Vec<String> {
    field(body, name)
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Message ids from a body's strings; ones that are not ours are left out, as Mailpit
/// ignores unknown ids.
pub fn ids(list: &[String]) -> Vec<u64> {
    list.iter().filter_map(|i| i.parse().ok()).collect()
}
