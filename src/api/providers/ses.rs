//! Amazon SES v2 `SendEmail` (`POST /v2/email/outbound-emails`, AWS's REST-JSON protocol):
//! simple content built into MIME, raw content stored byte for byte, template content kept
//! with its data. Requests are signed with SigV4 by the SDK; the sink reads the access key
//! id from the signature and checks it, not the signature (it has no secrets to check
//! with). Answers `{"MessageId"}`; errors carry their code in `x-amzn-ErrorType`, as
//! botocore reads them. SES v1's query protocol is in `ses_query.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::{AppState, Caller, Fault, caller, fault, pairs, random_id, store, text_pairs};
use crate::mail::compose::{Email, File, raw_incoming};
use crate::mail::{ApiSend, Incoming};

const ENDPOINT: &str = "POST /v2/email/outbound-emails";

/// The access key id of a SigV4 `Authorization` header (`Credential=AKID/date/...`).
pub(super) fn access_key(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    credential.split('/').next()
}

/// An SES message id: `0100` and hex, as SES's look.
pub(super) fn message_id() -> String {
    format!("0100{}-{}-000000", random_id(12), uuid::Uuid::new_v4())
}

/// An error as the REST-JSON protocol sends it.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "message": message }).to_string();
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::HeaderName::from_static("x-amzn-errortype"), code),
    ];
    (status, headers, body).into_response()
}

fn bad(message: impl AsRef<str>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "BadRequestException",
        message.as_ref(),
    )
}

pub async fn send_v2(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => return error(e.status(), "RequestEntityTooLargeException", &e.body_text()),
    };
    let key = match who(&state, &headers) {
        Ok(key) => key,
        Err(refused) => return error(StatusCode::FORBIDDEN, refused.0, refused.1),
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "The request body is not valid JSON.",
        );
    };
    let api = ApiSend {
        provider: "ses".into(),
        endpoint: ENDPOINT.into(),
        key,
        metadata: metadata(&request),
    };
    let incoming = match incoming(&request, api) {
        Ok(incoming) => incoming,
        Err(message) => return bad(message),
    };
    let first = incoming.envelope.rcpt_to.first().cloned();
    match fault(&state, "ses", first.as_deref(), body.len()).await {
        Some(Fault::Throttle) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Maximum sending rate exceeded.",
        ),
        Some(Fault::Error) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "An internal error occurred.",
        ),
        None => match store(&state, incoming).await {
            Ok(_) => sent(),
            Err(e) => {
                tracing::error!(cause = %e, "an SES send was not stored");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "Service is unavailable, try again later.",
                )
            }
        },
    }
}

/// The caller's key name, or the code and message of SES's refusal.
fn who(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<String>, (&'static str, &'static str)> {
    match caller(state, access_key(headers)) {
        Caller::Known(name) => Ok(name),
        Caller::Missing => Err((
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )),
        Caller::Refused => Err((
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )),
    }
}

/// SES's answer to a send: the message id, and a request id in its header.
fn sent() -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let headers = [
        (header::CONTENT_TYPE, "application/json".to_owned()),
        (
            header::HeaderName::from_static("x-amzn-requestid"),
            request_id,
        ),
    ];
    let body = json!({ "MessageId": message_id() }).to_string();
    (StatusCode::OK, headers, body).into_response()
}

/// The message of a request, from its simple, raw or template content.
fn incoming(request: &Value, api: ApiSend) -> Result<Incoming, String> {
    let content = &request["Content"];
    let client = ([127, 0, 0, 1], 0).into();
    let destination = &request["Destination"];
    let list = |key: &str| -> Vec<String> { strings(&destination[key]) };
    if let Some(raw) = content.pointer("/Raw/Data").and_then(Value::as_str) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| "Content.Raw.Data is not base64")?;
        let rcpt: Vec<String> = ["ToAddresses", "CcAddresses", "BccAddresses"]
            .iter()
            .flat_map(|k| list(k))
            .collect();
        let from = request["FromEmailAddress"].as_str().map(str::to_owned);
        return raw_incoming(raw, from, rcpt, api, client);
    }
    let from = request["FromEmailAddress"]
        .as_str()
        .ok_or("Missing required field FromEmailAddress")?;
    let parse = |a: &str| a.parse().map_err(|_| format!("Illegal address: {a}"));
    let mut email = Email {
        from: Some(parse(from)?),
        message_id: format!("{}@email.amazonses.com", message_id()),
        ..Email::default()
    };
    for (key, field) in [
        ("ToAddresses", &mut email.to),
        ("CcAddresses", &mut email.cc),
        ("BccAddresses", &mut email.bcc),
    ] {
        *field = list(key)
            .iter()
            .map(|a| parse(a))
            .collect::<Result<_, _>>()?;
    }
    email.reply_to = strings(&request["ReplyToAddresses"])
        .iter()
        .map(|a| parse(a))
        .collect::<Result<_, _>>()?;
    if email.recipients().is_empty() {
        return Err("Missing final '@domain': no recipient given in Destination".into());
    }
    fill(&mut email, content)?;
    email.incoming(api, client)
}

/// The subject, bodies, headers and attachments of simple or template content.
fn fill(email: &mut Email, content: &Value) -> Result<(), String> {
    let part = if let Some(simple) = content.get("Simple") {
        email.subject = text(&simple["Subject"]).ok_or("Missing required field Subject")?;
        email.text = text(&simple.pointer("/Body/Text").cloned().unwrap_or_default());
        email.html = text(&simple.pointer("/Body/Html").cloned().unwrap_or_default());
        simple
    } else if let Some(template) = content.get("Template") {
        let inline = &template["TemplateContent"];
        inline["Subject"]
            .as_str()
            .unwrap_or_default()
            .clone_into(&mut email.subject);
        email.text = inline["Text"].as_str().map(str::to_owned);
        email.html = inline["Html"].as_str().map(str::to_owned);
        template
    } else {
        return Err("Content must be one of Simple, Raw or Template".into());
    };
    email.headers = text_pairs(&part["Headers"], "Name", "Value");
    email.files = attachments(&part["Attachments"])?;
    Ok(())
}

/// `{"Data": ...}`.
fn text(content: &Value) -> Option<String> {
    content["Data"].as_str().map(str::to_owned)
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn attachments(list: &Value) -> Result<Vec<File>, String> {
    let mut files = Vec::new();
    for a in list.as_array().into_iter().flatten() {
        let name = a["FileName"]
            .as_str()
            .ok_or("Missing required field FileName")?;
        let data = a["RawContent"]
            .as_str()
            .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            .ok_or("Missing required field RawContent")?;
        let inline = a["ContentDisposition"].as_str() == Some("INLINE");
        files.push(File {
            name: name.to_owned(),
            content_type: a["ContentType"].as_str().map(str::to_owned),
            data,
            content_id: a["ContentId"]
                .as_str()
                .filter(|_| inline)
                .map(str::to_owned),
        });
    }
    Ok(files)
}

/// Tags, configuration set and template, as sent.
fn metadata(request: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let tags: Map<String, Value> = pairs(&request["EmailTags"], "Name", "Value")
        .into_iter()
        .collect();
    if !tags.is_empty() {
        out.insert("tags".into(), Value::Object(tags));
    }
    if let Some(set) = request.get("ConfigurationSetName") {
        out.insert("configuration_set".into(), set.clone());
    }
    let template = request.pointer("/Content/Template");
    for (key, name) in [
        ("TemplateName", "template"),
        ("TemplateArn", "template_arn"),
    ] {
        if let Some(v) = template.and_then(|t| t.get(key)) {
            out.insert(name.into(), v.clone());
        }
    }
    if let Some(data) = template.and_then(|t| t["TemplateData"].as_str()) {
        let parsed = serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()));
        out.insert("template_data".into(), parsed);
    }
    out
}
