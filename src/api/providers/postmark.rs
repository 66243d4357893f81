//! Postmark's `POST /email` and `POST /email/batch`: `X-Postmark-Server-Token`, addresses
//! as comma-separated strings, answers `{"To", "SubmittedAt", "MessageID", "ErrorCode": 0,
//! "Message": "OK"}`, errors as `{"ErrorCode", "Message"}` with Postmark's codes (10 a bad
//! token, 300 an invalid request, 402 invalid JSON, 429 the rate limit). A batch answers
//! each message on its own, as Postmark's does. `Tag`, `Metadata`, `MessageStream` and the
//! tracking settings are kept with the message.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::{AppState, Caller, Fault, caller, fault, store, text_pairs};
use crate::mail::ApiSend;
use crate::mail::compose::{Email, File, mailbox_list};

fn answer(status: StatusCode, body: &Value) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json")];
    (status, headers, body.to_string()).into_response()
}

fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    answer(status, &json!({"ErrorCode": code, "Message": message}))
}

/// The caller's key name, or Postmark's 401.
fn who(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, Box<Response>> {
    let token = headers
        .get("X-Postmark-Server-Token")
        .and_then(|v| v.to_str().ok());
    match caller(state, token) {
        Caller::Known(name) => Ok(name),
        Caller::Missing | Caller::Refused => Err(Box::new(failure(
            StatusCode::UNAUTHORIZED,
            10,
            "The Server Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token.",
        ))),
    }
}

/// A request's body and key, or Postmark's answer to a body it could not read or a token
/// it refuses.
fn opened(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Bytes, Option<String>), Box<Response>> {
    let body = body.map_err(|e| Box::new(failure(e.status(), 300, &e.body_text())))?;
    Ok((body, who(state, headers)?))
}

pub async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (body, key) = match opened(&state, &headers, body) {
        Ok(opened) => opened,
        Err(refused) => return *refused,
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            402,
            "Received invalid JSON input.",
        );
    };
    match one(&state, &request, key, "POST /email", body.len()).await {
        Ok(ok) => answer(StatusCode::OK, &ok),
        Err((status, error)) => answer(status, &error),
    }
}

pub async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (body, key) = match opened(&state, &headers, body) {
        Ok(opened) => opened,
        Err(refused) => return *refused,
    };
    let Ok(Value::Array(messages)) = serde_json::from_slice::<Value>(&body) else {
        return failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            402,
            "Received invalid JSON input.",
        );
    };
    let mut answers = Vec::with_capacity(messages.len());
    for m in &messages {
        match one(
            &state,
            m,
            key.clone(),
            "POST /email/batch",
            body.len() / messages.len().max(1),
        )
        .await
        {
            Ok(ok) => answers.push(ok),
            // Throttling and server errors are the whole request's, as Postmark's are.
            Err((status, error)) if status != StatusCode::UNPROCESSABLE_ENTITY => {
                return answer(status, &error);
            }
            Err((_, error)) => answers.push(error),
        }
    }
    answer(StatusCode::OK, &Value::Array(answers))
}

/// One message: stored, and Postmark's answer for it; or the status and error.
async fn one(
    state: &AppState,
    request: &Value,
    key: Option<String>,
    endpoint: &str,
    size: usize,
) -> Result<Value, (StatusCode, Value)> {
    let invalid = |message: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"ErrorCode": 300, "Message": message}),
        )
    };
    let email = read(request).map_err(invalid)?;
    let first = email.recipients().into_iter().next();
    match fault(state, "postmark", first.as_deref(), size).await {
        Some(Fault::Throttle) => {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                json!({"ErrorCode": 429, "Message": "Rate Limit Exceeded"}),
            ));
        }
        Some(Fault::Error) => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"ErrorCode": 500, "Message": "Internal Server Error"}),
            ));
        }
        None => {}
    }
    let api = ApiSend {
        provider: "postmark".into(),
        endpoint: endpoint.into(),
        key,
        metadata: metadata(request),
    };
    let id = email
        .message_id
        .trim_end_matches("@postmark.mailtest")
        .to_owned();
    let incoming = email
        .incoming(api, ([127, 0, 0, 1], 0).into())
        .map_err(invalid)?;
    store(state, incoming).await.map_err(|e| {
        tracing::error!(cause = %e, "a Postmark send was not stored");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ErrorCode": 503, "Message": "Service Unavailable"}),
        )
    })?;
    Ok(json!({
        "To": request["To"].as_str().unwrap_or_default(),
        "SubmittedAt": chrono::Local::now().to_rfc3339(),
        "MessageID": id,
        "ErrorCode": 0,
        "Message": "OK",
    }))
}

fn read(request: &Value) -> Result<Email, String> {
    let text = |key: &str| request[key].as_str().filter(|s| !s.is_empty());
    let list = |key: &str| mailbox_list(text(key).unwrap_or_default());
    let from = text("From").ok_or("Invalid 'From' address: ''.")?;
    let from = mailbox_list(from)?
        .into_iter()
        .next()
        .ok_or("Invalid 'From' address: ''.")?;
    let email = Email {
        from: Some(from),
        to: list("To")?,
        cc: list("Cc")?,
        bcc: list("Bcc")?,
        reply_to: list("ReplyTo")?,
        subject: text("Subject").unwrap_or_default().to_owned(),
        text: text("TextBody").map(str::to_owned),
        html: text("HtmlBody").map(str::to_owned),
        headers: text_pairs(&request["Headers"], "Name", "Value"),
        files: files(&request["Attachments"])?,
        message_id: format!("{}@postmark.mailtest", uuid::Uuid::new_v4()),
    };
    if email.recipients().is_empty() {
        return Err("Zero recipients specified".into());
    }
    if email.text.is_none() && email.html.is_none() {
        return Err("Provide either email TextBody or HtmlBody or both.".into());
    }
    Ok(email)
}

fn files(list: &Value) -> Result<Vec<File>, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let name = a["Name"].as_str().unwrap_or_default();
            let data = base64::engine::general_purpose::STANDARD
                .decode(a["Content"].as_str().unwrap_or_default())
                .map_err(|_| format!("Attachment '{name}' is not valid base64."))?;
            Ok(File {
                name: name.to_owned(),
                content_type: a["ContentType"].as_str().map(str::to_owned),
                data,
                content_id: a["ContentID"]
                    .as_str()
                    .map(|c| c.trim_start_matches("cid:").to_owned()),
            })
        })
        .collect()
}

fn metadata(request: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, name) in [
        ("Tag", "tag"),
        ("Metadata", "metadata"),
        ("MessageStream", "message_stream"),
        ("TrackOpens", "track_opens"),
        ("TrackLinks", "track_links"),
    ] {
        if let Some(v) = request.get(key).filter(|v| !v.is_null()) {
            out.insert(name.to_owned(), v.clone());
        }
    }
    out
}
