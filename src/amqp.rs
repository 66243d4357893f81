//! RabbitMQ (AMQP 0-9-1, through lapin), as Celery's kombu uses it: connecting, its errors,
//! and the one conversion both ways between a task as AMQP sends it (body, properties,
//! headers as a field table) and kombu's virtual-transport envelope, the form the rest of
//! mailtest reads tasks in (it is what a task is on Kafka).

use std::time::Duration;

use base64::Engine;
use lapin::types::{AMQPValue, FieldArray, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{Map, Value, json};

use crate::exit_code::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("cannot reach RabbitMQ at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("RabbitMQ refused {what}: {reason}")]
    Refused { what: String, reason: String },
}

impl AmqpError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::Unavailable,
            Self::Refused { .. } => ErrorKind::Failed,
        }
    }
}

/// Connects to `url`, waiting at most `timeout`.
pub async fn connect(url: &str, timeout: Duration) -> Result<Connection, AmqpError> {
    let unreachable = |reason: String| AmqpError::Unreachable {
        url: redacted(url),
        reason,
    };
    let connect = Connection::connect(url, ConnectionProperties::default());
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| unreachable(format!("no answer in {}s", timeout.as_secs())))?
        .map_err(|e| unreachable(e.to_string()))
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A JSON value as the AMQP field value kombu's `amqp` library writes for it.
pub fn field(value: &Value) -> AMQPValue {
    match value {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => n.as_i64().map_or_else(
            || AMQPValue::Double(n.as_f64().unwrap_or_default()),
            AMQPValue::LongLongInt,
        ),
        Value::String(s) => AMQPValue::LongString(s.as_str().into()),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(field).collect::<Vec<_>>(),
        )),
        Value::Object(map) => AMQPValue::FieldTable(table(map)),
    }
}

/// A JSON object as an AMQP field table.
pub fn table(map: &Map<String, Value>) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in map {
        table.insert(ShortString::from(k.as_str()), field(v));
    }
    table
}

/// An AMQP field value as JSON, as kombu reads it into Python.
pub fn json_of(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::DecimalValue(d) => json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(json_of).collect())
        }
        AMQPValue::Timestamp(t) => json!(t),
        AMQPValue::FieldTable(t) => json_of_table(t),
        AMQPValue::ByteArray(b) => {
            json!(base64::engine::general_purpose::STANDARD.encode(b.as_slice()))
        }
        AMQPValue::Void => Value::Null,
    }
}

fn json_of_table(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json_of(v)))
            .collect(),
    )
}

/// Where a message came from, for its envelope.
pub struct Delivered<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub delivery_tag: u64,
    pub redelivered: bool,
}

/// A message read from a queue as kombu's envelope: the body in base64, the headers and
/// properties it came with (a property it lacks is left out).
pub fn envelope(body: &[u8], props: &BasicProperties, from: &Delivered<'_>) -> Value {
    let text = |s: &Option<ShortString>| s.as_ref().map(|s| json!(s.as_str()));
    let mut v = json!({
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "headers": props.headers().as_ref().map_or(json!({}), json_of_table),
        "properties": {
            "delivery_info": {"exchange": from.exchange, "routing_key": from.routing_key},
            "body_encoding": "base64",
            "delivery_tag": from.delivery_tag,
            "redelivered": from.redelivered,
        },
    });
    if let Some(t) = text(props.content_type()) {
        v["content-type"] = t;
    }
    if let Some(e) = text(props.content_encoding()) {
        v["content-encoding"] = e;
    }
    let p = &mut v["properties"];
    for (name, value) in [
        ("correlation_id", text(props.correlation_id())),
        ("reply_to", text(props.reply_to())),
        ("delivery_mode", props.delivery_mode().map(|m| json!(m))),
        ("priority", props.priority().map(|m| json!(m))),
        ("timestamp", props.timestamp().map(|t| json!(t))),
    ] {
        if let Some(value) = value {
            p[name] = value;
        }
    }
    v
}

/// The body and AMQP properties of a message from kombu's envelope, the inverse of
/// [`envelope`]: the base64 body decoded, the headers as AMQP headers.
pub fn from_envelope(envelope: &Value) -> Result<(Vec<u8>, BasicProperties), String> {
    let props = &envelope["properties"];
    let body = match envelope["body"].as_str() {
        Some(b) if props["body_encoding"] == "base64" => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| e.to_string())?,
        Some(b) => b.as_bytes().to_vec(),
        None => return Err("a message without a body".to_owned()),
    };
    let Value::Object(headers) = &envelope["headers"] else {
        return Err("a task without headers".to_owned());
    };
    let table = table(headers);
    // A property the envelope lacks stays unset, as kombu leaves it (the robustness cases
    // drop some on purpose).
    let text = |v: &Value| v.as_str().map(ShortString::from);
    let mut properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_priority(0)
        .with_headers(table);
    if let Some(t) = text(&envelope["content-type"]) {
        properties = properties.with_content_type(t);
    }
    if let Some(e) = text(&envelope["content-encoding"]) {
        properties = properties.with_content_encoding(e);
    }
    if let Some(c) = text(&props["correlation_id"]) {
        properties = properties.with_correlation_id(c);
    }
    if let Some(r) = text(&props["reply_to"]) {
        properties = properties.with_reply_to(r);
    }
    Ok((body, properties))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_go_to_amqp_and_back_unchanged() {
        let headers = json!({"task": "a.b", "id": "t-1", "retries": 0, "timelimit": [null, 3.5],
            "ignore_result": false, "stamps": {"k": ["v"]}});
        let Value::Object(map) = &headers else {
            unreachable!()
        };
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(table(map));
        let from = Delivered {
            exchange: "",
            routing_key: "celery",
            delivery_tag: 7,
            redelivered: false,
        };
        let v = envelope(b"[[], {}, {}]", &props, &from);
        assert_eq!(v["headers"], headers);
        assert_eq!(v["content-type"], "application/json");
        assert!(v.get("content-encoding").is_none());
        assert_eq!(v["properties"]["delivery_info"]["routing_key"], "celery");
        let task = crate::celery::decode_task(&v).unwrap();
        assert_eq!(
            (task["task"].as_str(), task["queue"].as_str()),
            (Some("a.b"), Some("celery"))
        );
    }
}
