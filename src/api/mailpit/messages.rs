//! Mailpit's message routes: list, search, read state, delete, one message, its headers,
//! source and parts.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as With};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::json::{Message, MessageSummary, MessagesSummary, Route};
use super::{Search, State, bad_request, field, ids, json, not_found, ok, strings};
use crate::store::Summary;

pub fn routes() -> Router<State> {
    Router::new()
        .route("/api/v1/messages", get(list).put(set_read).delete(delete))
        .route("/api/v1/search", get(search).delete(delete_search))
        .route("/api/v1/message/{id}", get(message))
        .route("/api/v1/message/{id}/headers", get(headers))
        .route("/api/v1/message/{id}/raw", get(raw))
        .route("/api/v1/message/{id}/part/{part}", get(part))
}

/// Paging and search parameters; values Mailpit would not parse fall back as it does.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    start: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    query: Option<String>,
    tz: Option<String>,
    dl: Option<String>,
    /// `/view/{ID}.html?embed=1`: links open outside the frame.
    pub embed: Option<String>,
    /// `link-check?follow=true`: follow redirects.
    pub follow: Option<String>,
}

impl Params {
    fn start(&self) -> usize {
        self.start
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// `None`: no limit (`limit=0`).
    fn limit(&self) -> Option<usize> {
        match self.limit.as_deref().and_then(|l| l.parse::<i64>().ok()) {
            Some(0) => None,
            Some(n) if n > 0 => Some(n as usize),
            _ => Some(50),
        }
    }

    fn before(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = self.before.as_deref()?;
        let search = Search::parse(&format!("before:{text}"), self.tz.as_deref());
        search.before()
    }

    pub fn query(&self) -> Option<&str> {
        self.query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
    }
}

/// The page of `found` after `start`, with the counts Mailpit gives around it.
async fn page(
    state: &State,
    found: Vec<Arc<Summary>>,
    start: usize,
    limit: Option<usize>,
    route: Route,
) -> Response {
    let all = state.store.list(&crate::store::Query::default());
    let unread = |list: &mut dyn Iterator<Item = &Arc<Summary>>| list.filter(|s| !s.read).count();
    let messages_unread = unread(&mut found.iter());
    let messages_count = found.len();
    let shown: Vec<Arc<Summary>> = found
        .into_iter()
        .skip(if limit.is_none() && route == Route::List {
            0
        } else {
            start
        })
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let mut facts = Vec::with_capacity(shown.len());
    for s in &shown {
        if let Some(f) = state.facts(s).await {
            facts.push((s.clone(), f));
        }
    }
    let body = MessagesSummary {
        total: all.len(),
        unread: unread(&mut all.iter()),
        count: facts.len(),
        messages_count,
        messages_unread,
        start,
        tags: state.store.tags(),
        messages: facts
            .iter()
            .map(|(s, f)| MessageSummary::new(s, f, route))
            .collect(),
    };
    json(&body)
}

async fn list(With(state): With<State>, Query(p): Query<Params>) -> Response {
    let found = state.search(Search::default(), p.before()).await;
    page(&state, found, p.start(), p.limit(), Route::List).await
}

async fn search(With(state): With<State>, Query(p): Query<Params>) -> Response {
    let Some(query) = p.query() else {
        return bad_request("Error: no search query");
    };
    let found = state
        .search(Search::parse(query, p.tz.as_deref()), p.before())
        .await;
    // Mailpit pages search results in memory: `limit=0` shows none.
    let limit = Some(p.limit().unwrap_or(0));
    page(&state, found, p.start(), limit, Route::Search).await
}

async fn delete_search(With(state): With<State>, Query(p): Query<Params>) -> Response {
    let Some(query) = p.query() else {
        return bad_request("Error: no search query");
    };
    let found = state
        .search(Search::parse(query, p.tz.as_deref()), None)
        .await;
    let ids: Vec<u64> = found.iter().map(|s| s.id).collect();
    match state.store.delete(&ids) {
        Ok(_) => ok(),
        Err(e) => bad_request(e.to_string()),
    }
}

/// `PUT /api/v1/messages`: `{"IDs": [...], "Read": bool}` or `{"Search": "...", "Read":
/// bool}`; neither ids nor a search means every message (so `{}` marks all unread).
async fn set_read(With(state): With<State>, Query(p): Query<Params>, body: Bytes) -> Response {
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        // Go's decoder says `EOF` of an empty body.
        Err(_) if body.is_empty() => return bad_request("EOF"),
        Err(e) => return bad_request(e.to_string()),
    };
    let read = field(&body, "Read")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let listed = strings(&body, "IDs");
    let query = field(&body, "Search")
        .and_then(|s| s.as_str())
        .unwrap_or_default();
    if !listed.is_empty() && !query.trim().is_empty() {
        return bad_request("You may specify either IDs or a search query, not both");
    }
    let targets: Vec<u64> = if listed.is_empty() {
        let search = Search::parse(query, p.tz.as_deref());
        let found = state.search(search, None).await;
        found.iter().map(|s| s.id).collect()
    } else {
        ids(&listed)
    };
    match state.store.update_flags(&targets, |s| s.read = read) {
        Ok(_) => ok(),
        Err(e) => bad_request(e.to_string()),
    }
}

/// `DELETE /api/v1/messages`: the listed ids; no body, a body Mailpit cannot read, or no
/// ids delete every message, as in Mailpit.
async fn delete(With(state): With<State>, body: Bytes) -> Response {
    let listed = serde_json::from_slice::<serde_json::Value>(&body)
        .map(|b| strings(&b, "IDs"))
        .unwrap_or_default();
    let targets = if listed.is_empty() {
        state
            .store
            .list(&crate::store::Query::default())
            .iter()
            .map(|s| s.id)
            .collect()
    } else {
        ids(&listed)
    };
    match state.store.delete(&targets) {
        Ok(_) => ok(),
        Err(e) => bad_request(e.to_string()),
    }
}

/// One message; opening it marks it read, as in Mailpit.
async fn message(
    With(state): With<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    let summary = state.resolve(&id, p.query(), p.tz.as_deref()).await?;
    let Some(facts) = state.facts(&summary).await else {
        return Ok(not_found());
    };
    let _ = state.store.update_flags(&[summary.id], |s| s.read = true);
    let summary = state.store.get(summary.id).unwrap_or(summary);
    Ok(json(&Message::new(&summary, &facts)))
}

/// The headers as Go's `net/mail` gives them: canonical names, raw values, in order.
async fn headers(
    With(state): With<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    let summary = state.resolve(&id, p.query(), p.tz.as_deref()).await?;
    let raw = state.raw(&summary)?;
    let Ok((parsed, _)) = mailparse::parse_headers(&raw) else {
        return Ok(bad_request("malformed MIME header"));
    };
    let mut map = std::collections::BTreeMap::<String, Vec<String>>::new();
    for h in &parsed {
        let value = String::from_utf8_lossy(h.get_value_raw()).replace("\r\n", "");
        let value = value
            .split('\n')
            .map(str::trim_start)
            .collect::<Vec<_>>()
            .join(" ");
        map.entry(canonical(&h.get_key()))
            .or_default()
            .push(value.trim().to_owned());
    }
    Ok(json(&map))
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: each dash-separated word capitalised.
fn canonical(key: &str) -> String {
    key.split('-')
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

async fn raw(
    With(state): With<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    let summary = state.resolve(&id, p.query(), p.tz.as_deref()).await?;
    let raw = state.raw(&summary)?;
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        raw,
    )
        .into_response();
    if p.dl.as_deref().is_some_and(|d| d == "1" || d == "true") {
        let disposition = format!("attachment; filename=\"{}.eml\"", summary.id);
        if let Ok(value) = disposition.parse() {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}

/// What Go's `url.PathEscape` escapes: controls, space and the characters a path segment
/// cannot hold.
const PATH_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A part by Mailpit's part id, decoded, under its own content type.
async fn part(
    With(state): With<State>,
    Path((id, part)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    let summary = state.resolve(&id, p.query(), p.tz.as_deref()).await?;
    let Some(facts) = state.facts(&summary).await else {
        return Ok(not_found());
    };
    let Some(found) = facts
        .inline
        .iter()
        .chain(&facts.attachments)
        .find(|a| a.part_id == part)
    else {
        return Ok(not_found());
    };
    let raw = state.raw(&summary)?;
    let Some(bytes) = super::parts::part_bytes(&raw, &part) else {
        return Ok(not_found());
    };
    let disposition = format!(
        "inline; filename=\"{}\"",
        percent_encoding::utf8_percent_encode(&found.file_name, PATH_ESCAPE)
    );
    let content_type = found.content_type.clone();
    let mut response = (StatusCode::OK, bytes).into_response();
    if let (Ok(t), Ok(d)) = (content_type.parse(), disposition.parse()) {
        response.headers_mut().insert(header::CONTENT_TYPE, t);
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, d);
    }
    Ok(response)
}
