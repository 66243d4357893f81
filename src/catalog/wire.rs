//! Wire formats: how the system under test writes its events, read from a catalog folder's
//! `format.yaml`. A format says where each part of an event lives (a path into the JSON
//! payload, a Kafka header, the topic name, or a fixed value) and where the schema's `data`
//! fields are (the top level for flat events). Events are turned into mailtest's envelope
//! to be checked and rendered, and envelopes into the team's shape to be produced, so every
//! command speaks the team's dialect and only this file knows it.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::TYPE_PLACEHOLDER;

/// Where one part of an event lives on the wire. Exactly one of `path`, `header`, `topic`
/// and `value` says where; `default` stands in when the event lacks it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// A dotted path into the JSON payload: `email`, `user.email`.
    pub path: Option<String>,
    /// A Kafka header.
    pub header: Option<String>,
    /// The topic name, matched against a pattern with `{type}` (for the type only).
    pub topic: Option<String>,
    /// The same value for every event.
    pub value: Option<String>,
    /// The value when the event does not carry one.
    pub default: Option<String>,
}

/// Where the recipient is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientPlaces {
    pub email: Place,
    pub name: Option<Place>,
}

/// A team's event format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFormat {
    /// Where the event type is; each type's wire name is its `wire_type` (default: its
    /// name).
    #[serde(rename = "type")]
    pub event_type: Place,
    /// Where the event id is; events without one get an id derived from where they were
    /// read (topic, partition, offset), the same on every read.
    pub id: Option<Place>,
    pub recipient: RecipientPlaces,
    pub locale: Option<Place>,
    /// When the event happened (RFC 3339).
    pub time: Option<Place>,
    /// Where the schema's `data` fields are: `.` for the top level, else a path.
    #[serde(default = "top_level")]
    pub data: String,
}

fn top_level() -> String {
    ".".to_owned()
}

/// What a Kafka record says besides its payload, for places outside the payload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta<'a> {
    pub topic: Option<&'a str>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub headers: &'a [(String, Vec<u8>)],
    /// The event's type (its wire name) when where it was read says it, as a fixture's
    /// folder does, for formats that keep the type outside the payload (in the topic).
    pub event_type: Option<&'a str>,
}

/// Names ids derived from a record's place (RFC 4122 version 5, in this namespace).
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d61_696c_7465_7374_8000_0000_0000_0001);

impl<'a> Meta<'a> {
    /// Where a Kafka record was read.
    pub fn record(
        topic: &'a str,
        partition: i32,
        offset: i64,
        timestamp: Option<i64>,
        headers: &'a [(String, Vec<u8>)],
    ) -> Self {
        Self {
            topic: Some(topic),
            partition: Some(partition),
            offset: Some(offset),
            timestamp,
            headers,
            event_type: None,
        }
    }
}

impl Place {
    /// The value at this place, as text; `None` when the event does not carry it.
    pub fn read(&self, payload: &Value, meta: &Meta) -> Option<String> {
        let found = if let Some(path) = &self.path {
            lookup(payload, path).and_then(text)
        } else if let Some(name) = &self.header {
            meta.headers
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
        } else if let Some(pattern) = &self.topic {
            meta.topic.and_then(|t| type_from_topic(pattern, t))
        } else {
            self.value.clone()
        };
        found.or_else(|| self.default.clone())
    }

    /// Where a problem with this place is reported: its payload path, else its header.
    fn shown(&self) -> Option<String> {
        self.path
            .clone()
            .or_else(|| self.header.as_ref().map(|h| format!("header `{h}`")))
    }
}

impl WireFormat {
    /// The event in mailtest's envelope, for `catalog_type` whose wire name the payload
    /// carried: checked and rendered from there.
    pub fn to_envelope(&self, payload: &Value, meta: &Meta, catalog_type: &str) -> Value {
        let read = |place: &Option<Place>| place.as_ref().and_then(|p| p.read(payload, meta));
        let id = read(&self.id).map_or_else(|| derived_id(payload, meta), |id| stable_id(&id));
        let time = read(&self.time)
            .or_else(|| {
                meta.timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| t.to_rfc3339())
            })
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
        let email = self.recipient.email.read(payload, meta);
        let name = read(&self.recipient.name).unwrap_or_default();
        let data = if self.data == "." {
            payload.clone()
        } else {
            lookup(payload, &self.data).cloned().unwrap_or(Value::Null)
        };
        json!({
            "event_id": id,
            "event_type": catalog_type,
            "occurred_at": time,
            "schema_version": 1,
            "recipient": {"email": email, "name": name},
            "locale": read(&self.locale).unwrap_or_else(|| "en".to_owned()),
            "data": data,
        })
    }

    /// An envelope (a generated event, a fixture) in this format, with the headers the
    /// format reads; `wire_type` is how the type is written.
    pub fn from_envelope(&self, event: &Value, wire_type: &str) -> (Value, Vec<(String, String)>) {
        let mut payload = match (&self.data[..], event.get("data")) {
            (".", Some(Value::Object(data))) => Value::Object(data.clone()),
            (path, Some(data)) if path != "." => {
                let mut out = Value::Object(Map::new());
                put(&mut out, path, data.clone());
                out
            }
            _ => Value::Object(Map::new()),
        };
        let mut headers = Vec::new();
        let text = |pointer: &str| event.pointer(pointer).and_then(text);
        // The type, id and address are the event's own; a name, locale or time that the
        // data already holds at the same path (`username` as name and field) stays as is.
        let parts = [
            (Some(&self.event_type), Some(wire_type.to_owned()), true),
            (self.id.as_ref(), text("/event_id"), true),
            (Some(&self.recipient.email), text("/recipient/email"), true),
            (self.recipient.name.as_ref(), text("/recipient/name"), false),
            (self.locale.as_ref(), text("/locale"), false),
            (self.time.as_ref(), text("/occurred_at"), false),
        ];
        for (place, value, overwrite) in parts {
            let (Some(place), Some(value)) = (place, value) else {
                continue;
            };
            if let Some(path) = &place.path {
                if overwrite || lookup(&payload, path).is_none() {
                    put(&mut payload, path, Value::String(value));
                }
            } else if let Some(name) = &place.header {
                headers.push((name.clone(), value));
            }
        }
        (payload, headers)
    }

    /// An envelope field's path (as `check` reports it) on the wire, for messages that name
    /// the team's own field: `recipient.email` is `email` in a flat format.
    pub fn wire_path(&self, envelope_path: &str) -> String {
        let place = match envelope_path {
            "recipient.email" => Some(&self.recipient.email),
            "recipient.name" => self.recipient.name.as_ref(),
            "locale" => self.locale.as_ref(),
            "occurred_at" => self.time.as_ref(),
            "event_id" => self.id.as_ref(),
            "event_type" => Some(&self.event_type),
            _ => None,
        };
        if let Some(shown) = place.and_then(Place::shown) {
            return shown;
        }
        match envelope_path.strip_prefix("data") {
            Some(rest) if self.data == "." => rest.trim_start_matches('.').to_owned(),
            Some(rest) => format!("{}{rest}", self.data),
            None => envelope_path.to_owned(),
        }
    }
}

/// `{type}` in a topic pattern, read off a topic name: `email-events.{type}` gives
/// `welcome` for `email-events.welcome`.
fn type_from_topic(pattern: &str, topic: &str) -> Option<String> {
    let (before, after) = pattern.split_once(TYPE_PLACEHOLDER)?;
    let name = topic.strip_prefix(before)?.strip_suffix(after)?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// An id as a UUID: itself when it is one, else the UUID it names (so `"42"` and
/// `"evt_7Hk"` ids serve for idempotency as they are).
fn stable_id(id: &str) -> String {
    uuid::Uuid::parse_str(id)
        .unwrap_or_else(|_| uuid::Uuid::new_v5(&ID_NAMESPACE, id.as_bytes()))
        .to_string()
}

/// The id of an event that carries none: from the record's topic, partition and offset,
/// else (a file) from its content.
fn derived_id(payload: &Value, meta: &Meta) -> String {
    let name = match (meta.topic, meta.partition, meta.offset) {
        (Some(topic), Some(partition), Some(offset)) => format!("{topic}/{partition}/{offset}"),
        _ => payload.to_string(),
    };
    uuid::Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).to_string()
}

fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| v.get(part))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Sets `path` in `value`, making the objects on the way.
fn put(value: &mut Value, path: &str, new: Value) {
    let mut at = value;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let map = at.as_object_mut().expect("made an object above");
        if parts.peek().is_none() {
            map.insert(part.to_owned(), new);
            return;
        }
        at = map.entry(part).or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat() -> WireFormat {
        serde_norway::from_str(
            "type: {path: event_type}\nrecipient: {email: {path: email}, name: {path: username}}\n\
             time: {path: timestamp}\nlocale: {header: lang, default: en}\n",
        )
        .unwrap()
    }

    #[test]
    fn a_flat_event_reads_into_the_envelope_and_back() {
        let wire = json!({"event_type": "verification", "email": "a@example.com",
            "username": "ann", "verification_link": "https://x.example/v", "timestamp": "2026-12-01T10:00:00Z"});
        let headers = [("lang".to_owned(), b"de".to_vec())];
        let meta = Meta {
            topic: Some("email-events"),
            partition: Some(2),
            offset: Some(41),
            headers: &headers,
            ..Meta::default()
        };
        let format = flat();
        let envelope = format.to_envelope(&wire, &meta, "email_verification");
        assert_eq!(envelope["event_type"], "email_verification");
        assert_eq!(
            envelope["recipient"],
            json!({"email": "a@example.com", "name": "ann"})
        );
        assert_eq!(
            (envelope["locale"].clone(), envelope["occurred_at"].clone()),
            (json!("de"), json!("2026-12-01T10:00:00Z"))
        );
        assert_eq!(envelope["data"]["verification_link"], "https://x.example/v");
        // No id on the wire: one derived from where the record was, the same every time.
        let again = format.to_envelope(&wire, &meta, "email_verification");
        assert_eq!(envelope["event_id"], again["event_id"]);
        let elsewhere = Meta {
            offset: Some(42),
            ..meta
        };
        assert_ne!(
            envelope["event_id"],
            format.to_envelope(&wire, &elsewhere, "x")["event_id"]
        );

        let (back, headers) = format.from_envelope(&envelope, "verification");
        assert_eq!(back, wire);
        assert_eq!(headers, [("lang".to_owned(), "de".to_owned())]);
        assert_eq!(format.wire_path("recipient.email"), "email");
        assert_eq!(
            format.wire_path("data.verification_link"),
            "verification_link"
        );
        assert_eq!(format.wire_path("locale"), "header `lang`");
    }

    #[test]
    fn types_come_from_topic_names_and_ids_from_any_text() {
        assert_eq!(
            type_from_topic("{type}", "account_locked").as_deref(),
            Some("account_locked")
        );
        assert_eq!(
            type_from_topic("events.{type}.v1", "events.welcome.v1").as_deref(),
            Some("welcome")
        );
        assert_eq!(type_from_topic("events.{type}", "other.welcome"), None);
        let uuid = "0b7f4f0e-2f7d-4a53-9a53-1f1e4c1d2e3f";
        assert_eq!(stable_id(uuid), uuid);
        assert_eq!(stable_id("evt_42"), stable_id("evt_42"));
        assert_ne!(stable_id("evt_42"), stable_id("evt_43"));
    }
}
