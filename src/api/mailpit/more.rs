//! Mailpit's other routes: tags, release (through the sink's configured targets only),
//! info and web UI settings, health, and the rendered views.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as With};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::json;

use super::messages::Params;
use super::{State, bad_request, field, ids, json, ok, strings, text};

pub fn routes() -> Router<State> {
    Router::new()
        .route("/api/v1/tags", get(tags).put(set_tags))
        .route("/api/v1/tags/{tag}", put(rename_tag).delete(delete_tag))
        .route("/api/v1/message/{id}/release", post(release))
        .route("/api/v1/info", get(info))
        .route("/api/v1/webui", get(webui))
        .route("/livez", get(|| async { StatusCode::OK }))
        .route("/readyz", get(|| async { StatusCode::OK }))
        .route("/view/latest", get(view_latest))
        .route("/view/{file}", get(view))
}

async fn tags(With(state): With<State>) -> Response {
    json(&state.store.tags())
}

/// Mailpit's tag rule: other characters become spaces, at most 100 bytes.
fn clean_tag(tag: &str) -> String {
    let kept: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "- _.@".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut tag = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    tag.truncate(100);
    tag
}

/// `PUT /api/v1/tags`: `{"IDs": [...], "Tags": [...]}` replaces the tags of those messages.
async fn set_tags(With(state): With<State>, body: Bytes) -> Response {
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) if body.is_empty() => return bad_request("EOF"),
        Err(e) => return bad_request(e.to_string()),
    };
    let known = state.store.tags();
    // An existing tag keeps its spelling; duplicates (any case) are dropped.
    let mut wanted: Vec<String> = Vec::new();
    for tag in strings(&body, "Tags")
        .iter()
        .map(|t| clean_tag(t))
        .filter(|t| !t.is_empty())
    {
        let tag = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(&tag))
            .cloned()
            .unwrap_or(tag);
        if !wanted.iter().any(|w| w.eq_ignore_ascii_case(&tag)) {
            wanted.push(tag);
        }
    }
    match state
        .store
        .update_flags(&ids(&strings(&body, "IDs")), |s| s.tags.clone_from(&wanted))
    {
        Ok(_) => ok(),
        Err(e) => bad_request(e.to_string()),
    }
}

/// `PUT /api/v1/tags/{tag}` with `{"Name": "new"}`: renames a tag everywhere.
async fn rename_tag(With(state): With<State>, Path(tag): Path<String>, body: Bytes) -> Response {
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e.to_string()),
    };
    let name = clean_tag(
        field(&body, "Name")
            .and_then(|n| n.as_str())
            .unwrap_or_default(),
    );
    if name.is_empty() {
        return bad_request(format!("invalid tag name: {name}"));
    }
    if name == tag {
        return ok();
    }
    let known = state.store.tags();
    if !known.iter().any(|k| k.eq_ignore_ascii_case(&tag)) {
        return bad_request(format!("tag not found: {tag}"));
    }
    if known
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&name) && !k.eq_ignore_ascii_case(&tag))
    {
        return bad_request(format!("tag already exists: {name}"));
    }
    retag(&state, &tag, Some(&name))
}

async fn delete_tag(With(state): With<State>, Path(tag): Path<String>) -> Response {
    if !state
        .store
        .tags()
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&tag))
    {
        return bad_request(format!("tag not found: {tag}"));
    }
    retag(&state, &tag, None)
}

/// Replaces `tag` (any case) with `new`, or removes it, on every message carrying it.
fn retag(state: &State, tag: &str, new: Option<&str>) -> Response {
    let carrying: Vec<u64> = state
        .store
        .list(&crate::store::Query::default())
        .iter()
        .filter(|s| s.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
        .map(|s| s.id)
        .collect();
    let changed = state.store.update_flags(&carrying, |s| {
        s.tags.retain(|t| !t.eq_ignore_ascii_case(tag));
        s.tags.extend(new.map(str::to_owned));
    });
    match changed {
        Ok(_) => ok(),
        Err(e) => bad_request(e.to_string()),
    }
}

/// `POST /api/v1/message/{ID}/release` with `{"To": [...]}` (or the bare list some clients
/// send): through the sink's configured target, to the message's own recipients or those
/// `--release-allow` admits, never anywhere else.
async fn release(With(state): With<State>, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(summary) = id.parse().ok().and_then(|id| state.store.get(id)) else {
        return super::not_found();
    };
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(e.to_string()),
    };
    let to: Vec<String> = match &body {
        serde_json::Value::Array(_) => strings(&json!({"To": body}), "To"),
        _ => strings(&body, "To"),
    };
    if to.is_empty() {
        return bad_request("No valid addresses found");
    }
    let targets = &state.settings.release;
    let Some((_, target)) = targets.named.iter().next() else {
        return bad_request("Failed: message relay is not enabled (mailtest sink --release-to)");
    };
    let own = &summary.envelope.rcpt_to;
    let refused: Vec<&String> = to
        .iter()
        .filter(|r| !own.contains(r) && !targets.allow.as_ref().is_some_and(|a| a.is_match(r)))
        .collect();
    if !refused.is_empty() {
        let list = refused
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return bad_request(format!(
            "Failed: Address(es) do not match the allowlist: {list}"
        ));
    }
    let Ok(raw) = state.store.raw(summary.id) else {
        return super::not_found();
    };
    let from = &summary.envelope.mail_from;
    match crate::outbound::release::release(&raw, from, &to, target, targets.timeout).await {
        Ok(_) => ok(),
        Err(e) => bad_request(format!("SMTP error: {e}")),
    }
}

async fn info(With(state): With<State>) -> Response {
    let all = state.store.list(&crate::store::Query::default());
    let mut tags = std::collections::BTreeMap::<String, u64>::new();
    for tag in all.iter().flat_map(|s| &s.tags) {
        *tags.entry(tag.clone()).or_default() += 1;
    }
    json(&json!({
        "Version": concat!("mailtest ", env!("CARGO_PKG_VERSION")),
        "LatestVersion": "disabled",
        "Database": "mailtest store",
        "DatabaseSize": all.iter().map(|s| s.size).sum::<u64>(),
        "Messages": all.len(),
        "Unread": all.iter().filter(|s| !s.read).count(),
        "Tags": tags,
        "RuntimeStats": {
            "Uptime": 0, "Memory": 0, "MessagesDeleted": state.store.evicted(),
            "SMTPAccepted": all.len(), "SMTPAcceptedSize": all.iter().map(|s| s.size).sum::<u64>(),
            "SMTPRejected": 0, "SMTPIgnored": 0
        }
    }))
}

async fn webui(With(state): With<State>) -> Response {
    let relay = state.settings.release.named.iter().next();
    json(&json!({
        "Label": "mailtest",
        "MessageRelay": {
            "Enabled": relay.is_some(),
            "SMTPServer": relay.map(|(_, t)| format!("{}:{}", t.host, t.port)).unwrap_or_default(),
            "ReturnPath": "", "AllowedRecipients": "", "BlockedRecipients": "",
            "OverrideFrom": "", "PreserveMessageIDs": false, "RecipientAllowlist": ""
        },
        "SpamAssassin": state.settings.checks.spamd.is_some(),
        "ChaosEnabled": state.settings.chaos,
        "DuplicatesIgnored": false,
        "HideDeleteAllButton": false
    }))
}

/// `/view/latest`: a redirect to the newest message's page, as Mailpit does.
async fn view_latest(With(state): With<State>, Query(p): Query<Params>) -> Response {
    // Mailpit answers 302 Found.
    let to = match state.resolve("latest", p.query(), None).await {
        Ok(s) => format!("/view/{}", s.id),
        Err(_) => "/".to_owned(),
    };
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// `/view/{ID}.html` and `/view/{ID}.txt`: the bodies as a page; opening marks read.
async fn view(
    With(state): With<State>,
    Path(file): Path<String>,
    Query(p): Query<Params>,
) -> Response {
    let Some((id, ext)) = file.rsplit_once('.') else {
        return super::not_found();
    };
    let Ok(summary) = state.resolve(id, p.query(), None).await else {
        return text(StatusCode::NOT_FOUND, "Message not found");
    };
    let Some(facts) = state.facts(&summary).await else {
        return text(StatusCode::NOT_FOUND, "Message not found");
    };
    let _ = state.store.update_flags(&[summary.id], |s| s.read = true);
    let (content_type, body) = match ext {
        "txt" => ("text/plain; charset=utf-8", facts.text.clone()),
        "html" if facts.html.is_empty() => {
            return text(
                StatusCode::NOT_FOUND,
                "This message does not contain a HTML part",
            );
        }
        "html" => {
            let embed = p.embed.as_deref().is_some_and(|e| e == "1" || e == "true");
            ("text/html; charset=utf-8", page(summary.id, &facts, embed))
        }
        _ => return super::not_found(),
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The HTML as Mailpit's view serves it: `cid:` references pointing at the parts' URLs,
/// and with `embed=1` every link opening outside the frame.
fn page(id: u64, facts: &super::Facts, embed: bool) -> String {
    let mut html = facts.html.clone();
    for part in facts.inline.iter().chain(&facts.attachments) {
        if !part.content_id.is_empty() {
            let url = format!("/api/v1/message/{id}/part/{}", part.part_id);
            html = html.replace(&format!("cid:{}", part.content_id), &url);
        }
    }
    if embed {
        html = html
            .replace("<a ", "<a target=\"_blank\" rel=\"noreferrer noopener\" ")
            .replace("<A ", "<A target=\"_blank\" rel=\"noreferrer noopener\" ");
    }
    html
}
