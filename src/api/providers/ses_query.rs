//! Amazon SES v1 (`POST /`, AWS's query protocol, as boto3's `ses` client and older SDKs
//! send it): `SendEmail` (`Source`, `Destination.ToAddresses.member.N`, `Message.Subject.Data`,
//! `Message.Body.Text.Data`, ...) and `SendRawEmail` (`RawMessage.Data` in base64), answered
//! in SES's XML, errors as `<ErrorResponse>` with the code botocore reads (`Throttling`
//! when a fault rule throttles).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::ses::{access_key, message_id};
use super::{AppState, Caller, Fault, caller, fault, store};
use crate::mail::compose::{Email, raw_incoming};
use crate::mail::{ApiSend, Incoming};

const NS: &str = "http://ses.amazonaws.com/doc/2010-12-01/";

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let (kind, id) = (
        if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        },
        uuid::Uuid::new_v4(),
    );
    let message = escape(message);
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>"
        ),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub async fn query(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(e) => return error(e.status(), "RequestEntityTooLarge", &e.body_text()),
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let action = get("Action").unwrap_or_default().to_owned();
    if action != "SendEmail" && action != "SendRawEmail" {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {action} for version 2010-12-01"),
        );
    }
    let key = match who(&state, &headers) {
        Ok(key) => key,
        Err(refused) => return *refused,
    };
    let api = ApiSend {
        provider: "ses".into(),
        endpoint: format!("POST / {action}"),
        key,
        metadata: metadata(&form),
    };
    let built = if action == "SendRawEmail" {
        raw(&form, api)
    } else {
        simple(&form, api)
    };
    let incoming = match built {
        Ok(incoming) => incoming,
        Err(message) => return error(StatusCode::BAD_REQUEST, "MessageRejected", &message),
    };
    deliver(&state, incoming, &action, body.len()).await
}

/// Stores a send unless a fault rule answers instead; SES's XML answer.
async fn deliver(state: &AppState, incoming: Incoming, action: &str, size: usize) -> Response {
    let first = incoming.envelope.rcpt_to.first().cloned();
    let (status, code, message) = match fault(state, "ses", first.as_deref(), size).await {
        Some(Fault::Throttle) => (
            StatusCode::BAD_REQUEST,
            "Throttling",
            "Maximum sending rate exceeded.",
        ),
        Some(Fault::Error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "An internal error occurred.",
        ),
        None => match store(state, incoming).await {
            Ok(_) => {
                let (id, request) = (message_id(), uuid::Uuid::new_v4());
                return xml(
                    StatusCode::OK,
                    format!(
                        "<{action}Response xmlns=\"{NS}\"><{action}Result><MessageId>{id}</MessageId></{action}Result><ResponseMetadata><RequestId>{request}</RequestId></ResponseMetadata></{action}Response>"
                    ),
                );
            }
            Err(e) => {
                tracing::error!(cause = %e, "an SES send was not stored");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "Service is unavailable, try again later.",
                )
            }
        },
    };
    error(status, code, message)
}

/// The caller's key name, or SES's refusal.
fn who(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, Box<Response>> {
    match caller(state, access_key(headers)) {
        Caller::Known(name) => Ok(name),
        Caller::Missing => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ))),
        Caller::Refused => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ))),
    }
}

/// The values of a list parameter: `prefix.member.1`, `prefix.member.2`, ...
fn members(form: &[(String, String)], prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|n| {
            let key = format!("{prefix}.member.{n}");
            form.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
        })
        .collect()
}

fn simple(form: &[(String, String)], api: ApiSend) -> Result<Incoming, String> {
    let get = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let parse = |a: &str| a.parse().map_err(|_| format!("Illegal address: {a}"));
    let source = get("Source").ok_or("Missing required header 'From'.")?;
    let list = |prefix: &str| {
        members(form, prefix)
            .iter()
            .map(|a| parse(a))
            .collect::<Result<Vec<_>, _>>()
    };
    let email = Email {
        from: Some(parse(&source)?),
        to: list("Destination.ToAddresses")?,
        cc: list("Destination.CcAddresses")?,
        bcc: list("Destination.BccAddresses")?,
        reply_to: list("ReplyToAddresses")?,
        subject: get("Message.Subject.Data").unwrap_or_default(),
        text: get("Message.Body.Text.Data"),
        html: get("Message.Body.Html.Data"),
        message_id: format!("{}@email.amazonses.com", message_id()),
        ..Email::default()
    };
    if email.recipients().is_empty() {
        return Err("Missing final '@domain'".into());
    }
    email.incoming(api, ([127, 0, 0, 1], 0).into())
}

fn raw(form: &[(String, String)], api: ApiSend) -> Result<Incoming, String> {
    let get = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let data = get("RawMessage.Data").ok_or("RawMessage is required")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| "RawMessage.Data is not base64")?;
    raw_incoming(
        bytes,
        get("Source"),
        members(form, "Destinations"),
        api,
        ([127, 0, 0, 1], 0).into(),
    )
}

fn metadata(form: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut tags = Map::new();
    for n in 1.. {
        let get = |field: &str| {
            form.iter()
                .find(|(k, _)| *k == format!("Tags.member.{n}.{field}"))
                .map(|(_, v)| v.clone())
        };
        match (get("Name"), get("Value")) {
            (Some(name), Some(value)) => {
                tags.insert(name, json!(value));
            }
            _ => break,
        }
    }
    if !tags.is_empty() {
        out.insert("tags".into(), Value::Object(tags));
    }
    if let Some((_, set)) = form.iter().find(|(k, _)| k == "ConfigurationSetName") {
        out.insert("configuration_set".into(), json!(set));
    }
    out
}
