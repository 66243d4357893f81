//! Mailpit's `POST /api/v1/send`: a message described in JSON (from, recipients, subject,
//! bodies, attachments, headers, tags) built into MIME and stored as if it came over SMTP,
//! so waits, `verify` and every API see it. Errors are JSON `{"Error": ...}`, as Mailpit's.

use axum::body::Bytes;
use axum::extract::State as With;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde_json::{Value, json};

use super::{State, field, strings};
use crate::mail::{Envelope, Incoming};

/// Headers the `Headers` field may not set: the message's own fields say them.
const RESTRICTED: &[&str] = &[
    "To",
    "From",
    "Cc",
    "Bcc",
    "Reply-To",
    "Date",
    "Subject",
    "Content-Type",
    "Mime-Version",
];

fn error(message: impl Into<String>) -> Response {
    let body = format!("{}\n", json!({"Error": message.into()}));
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

pub async fn send(With(state): With<State>, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(e.to_string()),
    };
    let built = match build(&body) {
        Ok(built) => built,
        Err(message) => return error(message),
    };
    let (message, envelope) = built;
    let incoming = Incoming {
        envelope,
        raw: message.formatted(),
        received_at: chrono::Utc::now(),
        transcript: vec!["API: POST /api/v1/send".to_owned()],
    };
    let tags = strings(&body, "Tags");
    // Off the async workers: with a capture log, storing waits for the broker.
    let store = state.store.clone();
    let stored = tokio::task::spawn_blocking(move || store.insert(incoming)).await;
    match stored
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(summary) => {
            if !tags.is_empty() {
                let _ = state
                    .store
                    .update_flags(&[summary.id], |s| s.tags.clone_from(&tags));
            }
            super::json(&json!({"ID": summary.id.to_string()}))
        }
        Err(e) => error(e),
    }
}

/// An address given as `{"Email": ..., "Name": ...}` or as a bare string.
fn mailbox(value: &Value, what: &str) -> Result<Mailbox, String> {
    let (email, name) = match value {
        Value::String(s) => (s.as_str(), None),
        other => (
            field(other, "Email")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            field(other, "Name").and_then(Value::as_str),
        ),
    };
    let address = email
        .parse()
        .map_err(|_| format!("invalid {what} address: {email}"))?;
    Ok(Mailbox::new(
        name.filter(|n| !n.is_empty()).map(str::to_owned),
        address,
    ))
}

fn mailboxes(body: &Value, key: &str, what: &str) -> Result<Vec<Mailbox>, String> {
    let Some(list) = field(body, key).and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter().map(|v| mailbox(v, what)).collect()
}

fn build(body: &Value) -> Result<(lettre::Message, Envelope), String> {
    let text = |key: &str| field(body, key).and_then(Value::as_str).unwrap_or_default();
    let from = field(body, "From").ok_or("error building message: from not set")?;
    let from = mailbox(from, "From")?;
    let (to, cc) = (mailboxes(body, "To", "To")?, mailboxes(body, "Cc", "Cc")?);
    let bcc = mailboxes(body, "Bcc", "Bcc")?;
    let reply_to = mailboxes(body, "ReplyTo", "Reply-To")?;
    if text("Subject").is_empty() {
        return Err("error building message: subject not set".into());
    }
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return Err("error building message: no recipients (to, cc, bcc) set".into());
    }
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .subject(text("Subject"));
    for m in &to {
        builder = builder.to(m.clone());
    }
    for m in &cc {
        builder = builder.cc(m.clone());
    }
    for m in &reply_to {
        builder = builder.reply_to(m.clone());
    }
    for (name, value) in field(body, "Headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if RESTRICTED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(format!("cannot overwrite header: \"{name}\""));
        }
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| format!("invalid header name: {name}"))?;
        let value = value.as_str().unwrap_or_default().to_owned();
        builder = builder.raw_header(HeaderValue::new(name, value));
    }
    let message = builder
        .multipart(parts(body)?)
        .map_err(|e| format!("error building message: {e}"))?;
    let envelope = Envelope {
        mail_from: from.email.to_string(),
        rcpt_to: to
            .iter()
            .chain(&cc)
            .chain(&bcc)
            .map(|m| m.email.to_string())
            .collect(),
        helo: "api".to_owned(),
        esmtp: true,
        body_8bit: true,
        ..Envelope::api_default()
    };
    Ok((message, envelope))
}

/// The bodies and attachments: `mixed` around `alternative` text and HTML, inline parts
/// (those with a `ContentID`) and files.
fn parts(body: &Value) -> Result<MultiPart, String> {
    let text = field(body, "Text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let html = field(body, "HTML")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut bodies = MultiPart::alternative().singlepart(SinglePart::plain(text.to_owned()));
    if !html.is_empty() {
        bodies = bodies.singlepart(SinglePart::html(html.to_owned()));
    }
    let mut mixed = MultiPart::mixed().multipart(bodies);
    for file in field(body, "Attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = field(file, "Filename")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let content = field(file, "Content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // A `data:...;base64,` prefix is allowed, as Mailpit allows it.
        let content = content.split_once(";base64,").map_or(content, |(_, c)| c);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .map_err(|e| format!("error decoding base64 attachment \"{name}\": {e}"))?;
        let kind = field(file, "ContentType")
            .and_then(Value::as_str)
            .and_then(|t| ContentType::parse(t).ok())
            .unwrap_or_else(|| ContentType::parse("application/octet-stream").expect("valid"));
        let part = match field(file, "ContentID").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Attachment::new_inline(id.to_owned()).body(bytes, kind),
            _ => Attachment::new(name.to_owned()).body(bytes, kind),
        };
        mixed = mixed.singlepart(part);
    }
    Ok(mixed)
}
