//! A Kafka message as mailtest moves it: what `produce` sends and the JSON form `consume`
//! prints (one object per line), which `produce` accepts back for a round trip.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

/// A record to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
}

/// A message read from a topic.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, as the broker or producer stamped it.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The payload parsed as JSON, when it is JSON.
    pub fn json_payload(&self) -> Option<Value> {
        serde_json::from_slice(&self.payload).ok()
    }

    /// The JSON line form: `topic, partition, offset, timestamp, key, headers` and the payload
    /// as `payload` (JSON), `payload_text` (other UTF-8) or `payload_base64` (binary).
    pub fn to_json(&self, parsed: Option<&Value>, schema_errors: &[String]) -> Value {
        let timestamp = self
            .timestamp
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Value::String(String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        let mut out = json!({
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": timestamp,
            "key": self.key.as_deref().map(String::from_utf8_lossy),
            "headers": headers,
        });
        let map = out.as_object_mut().expect("object");
        match (parsed, std::str::from_utf8(&self.payload)) {
            (Some(value), _) => map.insert("payload".into(), value.clone()),
            (None, Ok(text)) => map.insert("payload_text".into(), text.into()),
            (None, Err(_)) => {
                map.insert("payload_base64".into(), BASE64.encode(&self.payload).into())
            }
        };
        if !schema_errors.is_empty() {
            map.insert("schema_errors".into(), json!(schema_errors));
        }
        out
    }
}

/// Whether a JSON object is the consumed-record form rather than an event.
pub fn is_record(value: &Value) -> bool {
    value.get("topic").is_some_and(Value::is_string)
        && value.get("partition").is_some()
        && ["payload", "payload_text", "payload_base64"]
            .iter()
            .any(|k| value.get(*k).is_some())
}

/// Turns the consumed-record form back into a message; `topic` overrides the record's.
pub fn message_from_record(value: &Value, topic: Option<&str>) -> Result<Outgoing, String> {
    let topic = topic
        .or_else(|| value.get("topic").and_then(Value::as_str))
        .ok_or("record has no `topic`")?
        .to_owned();
    let key = match value.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone().into_bytes()),
        Some(_) => return Err("record `key` must be a string or null".into()),
    };
    let mut headers = Vec::new();
    if let Some(Value::Object(map)) = value.get("headers") {
        for (k, v) in map {
            let text = v
                .as_str()
                .ok_or_else(|| format!("header `{k}` must be a string"))?;
            headers.push((k.clone(), text.as_bytes().to_vec()));
        }
    }
    let payload = if let Some(v) = value.get("payload") {
        serde_json::to_vec(v).map_err(|e| e.to_string())?
    } else if let Some(Value::String(text)) = value.get("payload_text") {
        text.clone().into_bytes()
    } else if let Some(Value::String(b64)) = value.get("payload_base64") {
        BASE64
            .decode(b64)
            .map_err(|e| format!("`payload_base64`: {e}"))?
    } else {
        return Err("record has no payload".into());
    };
    Ok(Outgoing {
        topic,
        key,
        headers,
        payload,
    })
}

/// The message for an event in a team's wire format: keyed by recipient, with the headers
/// the format writes (`headers`) and a JSON content type.
pub fn message_in_format(
    envelope: &Value,
    payload: Vec<u8>,
    topic: String,
    headers: &[(String, String)],
) -> Outgoing {
    let mut all: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    all.push(("content-type".into(), b"application/json".to_vec()));
    Outgoing {
        topic,
        key: envelope
            .pointer("/recipient/email")
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec()),
        headers: all,
        payload,
    }
}

/// The message for a valid event: keyed by recipient (so one user's events stay in order),
/// with the headers consumers route on.
/// `payload` is the event's JSON text when the input already had it; `None` serializes `event`.
pub fn message_from_event(
    event: &Value,
    payload: Option<&[u8]>,
    topic: String,
    extra: &[(String, String)],
) -> Outgoing {
    let field = |name: &str| {
        event
            .get(name)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    let mut headers: IndexMap<String, Vec<u8>> = IndexMap::new();
    for name in ["event_type", "event_id", "schema_version"] {
        if let Some(value) = field(name) {
            headers.insert(name.to_owned(), value.into_bytes());
        }
    }
    headers.insert("content-type".into(), b"application/json".to_vec());
    for (k, v) in extra {
        headers.insert(k.clone(), v.clone().into_bytes());
    }
    let key = event
        .pointer("/recipient/email")
        .and_then(Value::as_str)
        .map(|s| s.as_bytes().to_vec());
    Outgoing {
        topic,
        key,
        headers: headers.into_iter().collect(),
        payload: payload.map_or_else(
            || serde_json::to_vec(event).expect("JSON values serialize"),
            <[u8]>::to_vec,
        ),
    }
}
