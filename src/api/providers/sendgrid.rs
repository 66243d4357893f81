//! SendGrid's v3 `POST /v3/mail/send`: `Authorization: Bearer KEY`, one message stored per
//! personalization (its own recipients, subject and headers over the request's), `202`
//! with an empty body and `X-Message-Id`, and errors as `{"errors": [{"message", "field",
//! "help"}]}` with SendGrid's own texts. Substitutions, dynamic template data, categories,
//! custom arguments, `send_at` and the template id are kept as sent, not applied: a test
//! checks what the service asked SendGrid to do. Sandbox mode validates and stores nothing,
//! as SendGrid's does.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::{AppState, Caller, Fault, caller, fault, random_id, store};
use crate::mail::ApiSend;
use crate::mail::compose::{Email, File, mailbox};

const HELP: &str = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";

/// One message to store, with what the request carried besides the mail.
type Send = (Email, Map<String, Value>);

/// One of SendGrid's errors.
struct Problem {
    message: String,
    field: Option<String>,
    help: Option<String>,
}

fn problem(message: impl Into<String>, field: &str, anchor: &str) -> Problem {
    Problem {
        message: message.into(),
        field: Some(field.to_owned()),
        help: Some(format!("{HELP}#{anchor}")),
    }
}

fn errors(status: StatusCode, problems: &[Problem]) -> Response {
    let list: Vec<Value> = problems
        .iter()
        .map(|p| json!({"message": p.message, "field": p.field, "help": p.help}))
        .collect();
    let body = json!({ "errors": list }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn plain(status: StatusCode, message: &str) -> Response {
    errors(
        status,
        &[Problem {
            message: message.into(),
            field: None,
            help: None,
        }],
    )
}

pub async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => return unread(&e),
    };
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let key = match caller(&state, key) {
        Caller::Known(name) => name,
        Caller::Missing | Caller::Refused => {
            return plain(
                StatusCode::UNAUTHORIZED,
                "The provided authorization grant is invalid, expired, or revoked",
            );
        }
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return plain(StatusCode::BAD_REQUEST, "Bad Request");
    };
    let emails = match read(&request) {
        Ok(emails) => emails,
        Err(problems) => return errors(StatusCode::BAD_REQUEST, &problems),
    };
    if request.pointer("/mail_settings/sandbox_mode/enable") == Some(&Value::Bool(true)) {
        return StatusCode::OK.into_response();
    }
    for (email, _) in &emails {
        let first = email.recipients().into_iter().next();
        match fault(&state, "sendgrid", first.as_deref(), body.len()).await {
            Some(Fault::Throttle) => return throttled(),
            Some(Fault::Error) => {
                return plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
            None => {}
        }
    }
    if let Err(refused) = keep(&state, emails, key).await {
        return refused;
    }
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(id) = HeaderValue::from_str(&random_id(22)) {
        response.headers_mut().insert("X-Message-Id", id);
    }
    response
}

/// Stores each personalization's message.
async fn keep(state: &AppState, emails: Vec<Send>, key: Option<String>) -> Result<(), Response> {
    for (email, metadata) in emails {
        let api = ApiSend {
            provider: "sendgrid".into(),
            endpoint: "POST /v3/mail/send".into(),
            key: key.clone(),
            metadata,
        };
        let incoming = email
            .incoming(api, ([127, 0, 0, 1], 0).into())
            .map_err(|e| plain(StatusCode::BAD_REQUEST, &e))?;
        store(state, incoming).await.map_err(|e| {
            tracing::error!(cause = %e, "a SendGrid send was not stored");
            plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        })?;
    }
    Ok(())
}

/// A body that could not be read: too large (SendGrid takes up to 30 MB), or cut short.
fn unread(e: &BytesRejection) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let message = "The JSON payload you have included in your request is too large.";
        return plain(e.status(), message);
    }
    plain(e.status(), &e.body_text())
}

/// SendGrid's 429, with its rate-limit headers.
fn throttled() -> Response {
    let mut response = plain(StatusCode::TOO_MANY_REQUESTS, "too many requests");
    let reset = (chrono::Utc::now().timestamp() + 1).to_string();
    for (name, value) in [
        ("X-RateLimit-Limit", "600".to_owned()),
        ("X-RateLimit-Remaining", "0".to_owned()),
        ("X-RateLimit-Reset", reset),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// The messages a request sends, one per personalization, each with what it carried
/// besides the mail; or SendGrid's errors.
fn read(request: &Value) -> Result<Vec<Send>, Vec<Problem>> {
    let mut problems = Vec::new();
    let from = sender(request, &mut problems);
    let personalizations = request["personalizations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if personalizations.is_empty() {
        problems.push(problem(
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
            "-Personalizations-Errors",
        ));
    }
    let template = request["template_id"].as_str().is_some();
    let (text, html) = contents(request);
    if !template && text.is_none() && html.is_none() {
        problems.push(problem("Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.", "content", "message.content"));
    }
    let base = Email {
        from,
        reply_to: reply_to(request),
        text,
        html,
        headers: header_list(&request["headers"]),
        files: attachments(request, &mut problems),
        ..Email::default()
    };
    let out: Vec<_> = personalizations
        .iter()
        .enumerate()
        .map(|(i, p)| personalize(&base, request, i, p, &mut problems))
        .collect();
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The request's `from`, or the problem with it.
fn sender(request: &Value, problems: &mut Vec<Problem>) -> Option<lettre::message::Mailbox> {
    match address(&request["from"]) {
        Some(Ok(m)) => Some(m),
        Some(Err(())) => {
            problems.push(problem(
                "The from email does not contain a valid address.",
                "from.email",
                "message.from",
            ));
            None
        }
        None => {
            problems.push(problem("The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {\"email\" : \"example@example.com\"}  or {\"email\" : \"example@example.com\", \"name\" : \"Example Recipient\"}.", "from.email", "message.from"));
            None
        }
    }
}

/// The message of personalization `i` (`p`): its recipients, subject and headers over the
/// request's (`base`), with what it carried besides the mail.
fn personalize(
    base: &Email,
    request: &Value,
    i: usize,
    p: &Value,
    problems: &mut Vec<Problem>,
) -> Send {
    let subject = p["subject"].as_str().or(request["subject"].as_str());
    if subject.is_none() && request["template_id"].as_str().is_none() {
        problems.push(problem("The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.", "subject", "message.subject"));
    }
    let mut email = Email {
        subject: subject.unwrap_or_default().to_owned(),
        message_id: format!("{}@sendgrid.mailtest", random_id(22)),
        ..base.clone()
    };
    email.headers.extend(header_list(&p["headers"]));
    for (field, list) in [
        ("to", &mut email.to),
        ("cc", &mut email.cc),
        ("bcc", &mut email.bcc),
    ] {
        for (j, a) in p[field].as_array().into_iter().flatten().enumerate() {
            match address(a) {
                Some(Ok(m)) => list.push(m),
                _ => problems.push(problem(
                    "Does not contain a valid address.",
                    &format!("personalizations.{i}.{field}.{j}.email"),
                    "message.personalizations",
                )),
            }
        }
    }
    if email.to.is_empty() {
        problems.push(problem("The to array is required for all personalization objects, and must have at least one email object with a valid email address.", &format!("personalizations.{i}.to"), "message.personalizations.to"));
    }
    (email, metadata(request, p))
}

/// `{"email", "name"}`: `None` when absent, `Some(Err)` when no valid address.
fn address(value: &Value) -> Option<Result<lettre::message::Mailbox, ()>> {
    let email = value.get("email")?.as_str()?;
    Some(mailbox(email, value["name"].as_str()).map_err(|_| ()))
}

fn reply_to(request: &Value) -> Vec<lettre::message::Mailbox> {
    let list = request["reply_to_list"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![request["reply_to"].clone()]);
    list.iter().filter_map(|a| address(a)?.ok()).collect()
}

/// The first `text/plain` and `text/html` blocks of `content`.
fn contents(request: &Value) -> (Option<String>, Option<String>) {
    let block = |kind: &str| {
        request["content"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind))
            })
            .and_then(|c| c["value"].as_str())
            .map(str::to_owned)
    };
    (block("text/plain"), block("text/html"))
}

fn header_list(headers: &Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect()
}

fn attachments(request: &Value, problems: &mut Vec<Problem>) -> Vec<File> {
    let mut files = Vec::new();
    for (i, a) in request["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let data = a["content"].as_str().and_then(|c| {
            base64::engine::general_purpose::STANDARD
                .decode(c.trim())
                .ok()
        });
        let Some(data) = data else {
            problems.push(problem(
                "The attachment content must be base64 encoded.",
                &format!("attachments.{i}.content"),
                "message.attachments.content",
            ));
            continue;
        };
        let inline = a["disposition"].as_str() == Some("inline");
        files.push(File {
            name: a["filename"].as_str().unwrap_or_default().to_owned(),
            content_type: a["type"].as_str().map(str::to_owned),
            data,
            content_id: a["content_id"]
                .as_str()
                .filter(|_| inline)
                .map(str::to_owned),
        });
    }
    files
}

/// What the request asked of SendGrid besides the mail, the personalization's over the
/// request's, as sent.
fn metadata(request: &Value, p: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for key in [
        "template_id",
        "categories",
        "batch_id",
        "asm",
        "ip_pool_name",
        "send_at",
        "custom_args",
    ] {
        if let Some(v) = request.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    for key in [
        "substitutions",
        "dynamic_template_data",
        "custom_args",
        "send_at",
    ] {
        if let Some(v) = p.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    out
}
