//! Resend's `POST /emails` and `POST /emails/batch`: `Authorization: Bearer KEY`,
//! recipients as a string or a list, attachments as base64 or as a list of bytes, answers
//! `{"id"}` (a batch `{"data": [{"id"}]}`), errors as `{"statusCode", "message", "name"}`
//! with Resend's names (`missing_api_key`, `invalid_api_key`, `validation_error`,
//! `missing_required_field`, `rate_limit_exceeded` with its rate-limit headers). Every
//! answer is JSON, which Resend's SDKs require. Tags, `scheduled_at` and the
//! `Idempotency-Key` are kept with the message.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::{AppState, Caller, Fault, caller, fault, pairs, store};
use crate::mail::ApiSend;
use crate::mail::compose::{Email, File, mailbox_list};

/// Resend's error: status, message, name.
type Failure = (StatusCode, String, &'static str);

fn failure((status, message, name): Failure) -> Response {
    let body = json!({"statusCode": status.as_u16(), "message": message, "name": name});
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        for (k, v) in [
            ("ratelimit-limit", "2"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1"),
            ("retry-after", "1"),
        ] {
            response
                .headers_mut()
                .insert(k, HeaderValue::from_static(v));
        }
    }
    response
}

fn ok(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The caller's key name, or Resend's 401 or 403.
fn who(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, Failure> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match caller(state, key) {
        Caller::Known(name) => Ok(name),
        Caller::Missing => Err((
            StatusCode::UNAUTHORIZED,
            "Missing API key in the authorization header.".into(),
            "missing_api_key",
        )),
        Caller::Refused => Err((
            StatusCode::FORBIDDEN,
            "API key is invalid".into(),
            "invalid_api_key",
        )),
    }
}

/// A request's body and key, or why Resend would refuse it before reading the email.
fn opened(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Bytes, Option<String>), Failure> {
    let body = body.map_err(|e| (e.status(), e.body_text(), "validation_error"))?;
    Ok((body, who(state, headers)?))
}

pub async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (body, key) = match opened(&state, &headers, body) {
        Ok(opened) => opened,
        Err(refused) => return failure(refused),
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return failure((
            StatusCode::BAD_REQUEST,
            "Invalid JSON body.".into(),
            "validation_error",
        ));
    };
    let idempotency = headers.get("Idempotency-Key").and_then(|v| v.to_str().ok());
    match one(
        &state,
        &request,
        key,
        "POST /emails",
        idempotency,
        body.len(),
    )
    .await
    {
        Ok(id) => ok(&json!({ "id": id })),
        Err(f) => failure(f),
    }
}

pub async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (body, key) = match opened(&state, &headers, body) {
        Ok(opened) => opened,
        Err(refused) => return failure(refused),
    };
    let Ok(Value::Array(messages)) = serde_json::from_slice::<Value>(&body) else {
        return failure((
            StatusCode::BAD_REQUEST,
            "Invalid JSON body: expected an array of emails.".into(),
            "validation_error",
        ));
    };
    // Checked first, as Resend's strict mode does: one bad email sends none.
    if let Some(Err(f)) = messages.iter().map(read).find(Result::is_err) {
        return failure(f);
    }
    let mut ids = Vec::new();
    for m in &messages {
        match one(
            &state,
            m,
            key.clone(),
            "POST /emails/batch",
            None,
            body.len() / messages.len().max(1),
        )
        .await
        {
            Ok(id) => ids.push(json!({ "id": id })),
            Err(f) => return failure(f),
        }
    }
    ok(&json!({ "data": ids }))
}

/// One email: stored, and its id; or Resend's error.
async fn one(
    state: &AppState,
    request: &Value,
    key: Option<String>,
    endpoint: &str,
    idempotency: Option<&str>,
    size: usize,
) -> Result<String, Failure> {
    let email = read(request)?;
    let first = email.recipients().into_iter().next();
    match fault(state, "resend", first.as_deref(), size).await {
        Some(Fault::Throttle) => return Err((StatusCode::TOO_MANY_REQUESTS, "Too many requests. Please limit the number of requests per second. Or contact support to increase rate limit.".into(), "rate_limit_exceeded")),
        Some(Fault::Error) => return Err((StatusCode::INTERNAL_SERVER_ERROR, "An unexpected error occurred.".into(), "application_error")),
        None => {}
    }
    let mut metadata = metadata(request);
    if let Some(k) = idempotency {
        metadata.insert("idempotency_key".into(), json!(k));
    }
    let api = ApiSend {
        provider: "resend".into(),
        endpoint: endpoint.into(),
        key,
        metadata,
    };
    let id = email
        .message_id
        .trim_end_matches("@resend.mailtest")
        .to_owned();
    let invalid = |e: String| (StatusCode::UNPROCESSABLE_ENTITY, e, "validation_error");
    let incoming = email
        .incoming(api, ([127, 0, 0, 1], 0).into())
        .map_err(invalid)?;
    store(state, incoming).await.map_err(|e| {
        tracing::error!(cause = %e, "a Resend send was not stored");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred.".into(),
            "application_error",
        )
    })?;
    Ok(id)
}

fn missing(field: &str) -> Failure {
    let message = format!("Missing `{field}` field.");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        message,
        "missing_required_field",
    )
}

/// The addresses in `field`, a string or a list of strings.
fn addresses(request: &Value, field: &str) -> Result<Vec<lettre::message::Mailbox>, Failure> {
    let joined = match &request[field] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    mailbox_list(&joined).map_err(|_| {
        let message = format!("Invalid `{field}` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.");
        (StatusCode::UNPROCESSABLE_ENTITY, message, "validation_error")
    })
}

fn read(request: &Value) -> Result<Email, Failure> {
    let from = addresses(request, "from")?
        .into_iter()
        .next()
        .ok_or_else(|| missing("from"))?;
    let to = addresses(request, "to")?;
    if to.is_empty() {
        return Err(missing("to"));
    }
    let subject = request["subject"]
        .as_str()
        .ok_or_else(|| missing("subject"))?;
    let text = |key: &str| request[key].as_str().map(str::to_owned);
    Ok(Email {
        from: Some(from),
        to,
        cc: addresses(request, "cc")?,
        bcc: addresses(request, "bcc")?,
        reply_to: addresses(request, "reply_to")?,
        subject: subject.to_owned(),
        text: text("text"),
        html: text("html"),
        headers: request["headers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
        files: files(&request["attachments"])?,
        message_id: format!("{}@resend.mailtest", uuid::Uuid::new_v4()),
    })
}

/// Attachments with their content as base64 or as a list of byte values.
fn files(list: &Value) -> Result<Vec<File>, Failure> {
    let bad = |name: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Invalid attachment `{name}`: its content is neither base64 nor a list of bytes."
            ),
            "validation_error",
        )
    };
    list.as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let name = a["filename"].as_str().unwrap_or_default();
            let data = match &a["content"] {
                Value::String(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| bad(name))?,
                Value::Array(bytes) => bytes
                    .iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| bad(name))?,
                _ => return Err(bad(name)),
            };
            let id = a["content_id"].as_str().or(a["inline_content_id"].as_str());
            Ok(File {
                name: name.to_owned(),
                content_type: a["content_type"].as_str().map(str::to_owned),
                data,
                content_id: id.map(str::to_owned),
            })
        })
        .collect()
}

fn metadata(request: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let tags: Map<String, Value> = pairs(&request["tags"], "name", "value")
        .into_iter()
        .collect();
    if !tags.is_empty() {
        out.insert("tags".into(), Value::Object(tags));
    }
    if let Some(at) = request.get("scheduled_at") {
        out.insert("scheduled_at".into(), at.clone());
    }
    out
}
