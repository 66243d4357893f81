//! Mailgun's `POST /v3/{domain}/messages` and `/v3/{domain}/messages.mime`: HTTP Basic
//! auth as `api:KEY`, the fields as a multipart or URL-encoded form (`from`, `to`, `cc`,
//! `bcc` repeated or comma-separated, `subject`, `text`, `html`, `attachment` and `inline`
//! files, `o:tag`, `h:X-...` headers, `v:...` variables), answers `{"id": "<...@domain>",
//! "message": "Queued. Thank you."}`, errors as `{"message"}` (401 a plain `Forbidden`).
//! Tags, options, variables, the template and the domain are kept with the message.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::{AppState, Caller, Fault, caller, fault, store};
use crate::mail::compose::{Email, File, mailbox_list, raw_incoming};
use crate::mail::{ApiSend, Incoming};

/// One form field: text, or a file.
enum Field {
    Text(String),
    File(File),
}

type Form = Vec<(String, Field)>;

/// The largest request taken (Mailgun's limit is 25 MB of message).
pub const LIMIT: usize = 26 << 20;

fn answer(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn forbidden() -> Response {
    (StatusCode::UNAUTHORIZED, "Forbidden").into_response()
}

/// The key of `Authorization: Basic base64(api:KEY)`.
fn basic_key(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.strip_prefix("Basic ")?)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, key)| key.to_owned())
}

pub async fn messages(state: State<AppState>, domain: Path<String>, request: Request) -> Response {
    handle(state, domain, request, false).await
}

pub async fn mime(state: State<AppState>, domain: Path<String>, request: Request) -> Response {
    handle(state, domain, request, true).await
}

async fn handle(
    State(state): State<AppState>,
    Path(domain): Path<String>,
    request: Request,
    mime: bool,
) -> Response {
    let key = match caller(&state, basic_key(&request).as_deref()) {
        Caller::Known(name) => name,
        Caller::Missing | Caller::Refused => return forbidden(),
    };
    let form = match read_form(request).await {
        Ok(form) => form,
        Err((status, message)) => return answer(status, &message),
    };
    let endpoint = format!(
        "POST /v3/{domain}/messages{}",
        if mime { ".mime" } else { "" }
    );
    let api = ApiSend {
        provider: "mailgun".into(),
        endpoint,
        key,
        metadata: metadata(&form, &domain),
    };
    let built = if mime {
        from_mime(&form, api)
    } else {
        from_fields(&form, &domain, api)
    };
    let incoming = match built {
        Ok(incoming) => incoming,
        Err(message) => return answer(StatusCode::BAD_REQUEST, &message),
    };
    let first = incoming.envelope.rcpt_to.first().cloned();
    match fault(&state, "mailgun", first.as_deref(), incoming.raw.len()).await {
        Some(Fault::Throttle) => return answer(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        Some(Fault::Error) => {
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
        None => {}
    }
    if let Err(e) = store(&state, incoming).await {
        tracing::error!(cause = %e, "a Mailgun send was not stored");
        return answer(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    let id = format!(
        "<{}.{}@{domain}>",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        super::random_id(16)
    );
    let body = json!({ "id": id, "message": "Queued. Thank you." }).to_string();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The form's fields, from a multipart or URL-encoded body.
async fn read_form(request: Request) -> Result<Form, (StatusCode, String)> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/"));
    if !multipart {
        let body = axum::body::to_bytes(request.into_body(), LIMIT)
            .await
            .map_err(|_| {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Request entity too large".to_owned(),
                )
            })?;
        return Ok(url::form_urlencoded::parse(&body)
            .into_owned()
            .map(|(k, v)| (k, Field::Text(v)))
            .collect());
    }
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(|e| (e.status(), e.body_text()))?;
    let mut form = Vec::new();
    while let Some(part) = parts
        .next_field()
        .await
        .map_err(|e| (e.status(), e.body_text()))?
    {
        let name = part.name().unwrap_or_default().to_owned();
        let file = part.file_name().map(str::to_owned);
        let content_type = part.content_type().map(str::to_owned);
        let data = part
            .bytes()
            .await
            .map_err(|e| (e.status(), e.body_text()))?;
        let field = match file {
            Some(filename) => Field::File(File {
                name: filename,
                content_type,
                data: data.to_vec(),
                content_id: None,
            }),
            None => Field::Text(String::from_utf8_lossy(&data).into_owned()),
        };
        form.push((name, field));
    }
    Ok(form)
}

fn texts<'a>(form: &'a Form, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    form.iter()
        .filter(move |(k, _)| k == name)
        .filter_map(|(_, f)| match f {
            Field::Text(t) => Some(t.as_str()),
            Field::File(_) => None,
        })
}

fn from_fields(form: &Form, domain: &str, api: ApiSend) -> Result<Incoming, String> {
    let first = |name: &str| texts(form, name).next().map(str::to_owned);
    let list = |name: &str| mailbox_list(&texts(form, name).collect::<Vec<_>>().join(","));
    let from = first("from").ok_or("'from' parameter is missing")?;
    let from = mailbox_list(&from)?
        .into_iter()
        .next()
        .ok_or("'from' parameter is missing")?;
    let to = list("to")?;
    if to.is_empty() {
        return Err("'to' parameter is missing".into());
    }
    let (text, html) = (first("text"), first("html"));
    if text.is_none() && html.is_none() && first("template").is_none() {
        return Err(
            "Need at least one of 'text', 'html' or 'template' parameters specified".into(),
        );
    }
    let files = form
        .iter()
        .filter_map(|(k, f)| match f {
            Field::File(file) if k == "attachment" => Some(file.clone()),
            Field::File(file) if k == "inline" => Some(File {
                content_id: Some(file.name.clone()),
                ..file.clone()
            }),
            _ => None,
        })
        .collect();
    let headers = form
        .iter()
        .filter_map(|(k, f)| match f {
            Field::Text(v) => Some((k.strip_prefix("h:")?.to_owned(), v.clone())),
            Field::File(_) => None,
        })
        .collect();
    let email = Email {
        from: Some(from),
        to,
        cc: list("cc")?,
        bcc: list("bcc")?,
        subject: first("subject").unwrap_or_default(),
        text,
        html,
        headers,
        files,
        message_id: format!("{}@{domain}", uuid::Uuid::new_v4().simple()),
        ..Email::default()
    };
    email.incoming(api, ([127, 0, 0, 1], 0).into())
}

fn from_mime(form: &Form, api: ApiSend) -> Result<Incoming, String> {
    let to: Vec<String> = texts(form, "to")
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    if to.is_empty() {
        return Err("'to' parameter is missing".into());
    }
    let raw = form
        .iter()
        .find_map(|(k, f)| match f {
            Field::File(file) if k == "message" => Some(file.data.clone()),
            Field::Text(text) if k == "message" => Some(text.clone().into_bytes()),
            _ => None,
        })
        .ok_or("'message' parameter is missing")?;
    raw_incoming(raw, None, to, api, ([127, 0, 0, 1], 0).into())
}

/// Tags, options, variables and the template, as sent, with the domain.
fn metadata(form: &Form, domain: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("domain".into(), json!(domain));
    let tags: Vec<&str> = texts(form, "o:tag").collect();
    if !tags.is_empty() {
        out.insert("tags".into(), json!(tags));
    }
    let (mut options, mut variables) = (Map::new(), Map::new());
    for (k, f) in form {
        let Field::Text(v) = f else { continue };
        if let Some(o) = k.strip_prefix("o:").filter(|o| *o != "tag") {
            options.insert(o.to_owned(), json!(v));
        } else if let Some(name) = k.strip_prefix("v:") {
            variables.insert(
                name.to_owned(),
                serde_json::from_str(v).unwrap_or_else(|_| json!(v)),
            );
        } else if k == "template" || k == "t:variables" {
            out.insert(
                k.trim_start_matches("t:").to_owned(),
                serde_json::from_str(v).unwrap_or_else(|_| json!(v)),
            );
        }
    }
    for (name, map) in [("options", options), ("variables", variables)] {
        if !map.is_empty() {
            out.insert(name.into(), Value::Object(map));
        }
    }
    out
}
