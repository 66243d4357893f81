//! The email event envelope shared by produce, consume, render and dispatch, and its checks.

mod locate;
pub mod source;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{Catalog, Fixture, Meta, Violation, schema};

pub use source::{InputError, Problem, SourceEvent};

/// One email event, as the app under test emits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub occurred_at: chrono::DateTime<chrono::FixedOffset>,
    pub schema_version: u32,
    pub recipient: Recipient,
    pub locale: String,
    pub data: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub email: String,
    pub name: String,
}

/// The envelope fields every event has, in the order they are checked.
const ENVELOPE: &[&str] = &[
    "event_id",
    "event_type",
    "occurred_at",
    "schema_version",
    "recipient",
    "locale",
    "data",
];

/// Everything wrong with `value` as an event of the catalog; empty when it is valid.
pub fn check(value: &Value, catalog: &Catalog) -> Vec<Violation> {
    let mut out = Vec::new();
    let Value::Object(map) = value else {
        out.push(Violation::new(
            "",
            format!(
                "expected an event object, found {}",
                schema::describe(value)
            ),
        ));
        return out;
    };
    for name in ENVELOPE {
        if map.get(*name).is_none_or(Value::is_null) {
            out.push(Violation::new(*name, "required field is missing"));
        }
    }
    check_envelope(map, &mut out);
    let Some(Value::String(event_type)) = map.get("event_type") else {
        return out;
    };
    let Some(ty) = catalog.get(event_type) else {
        out.push(Violation::new(
            "event_type",
            format!(
                "unknown event type `{event_type}` (known: {})",
                catalog.names().join(", ")
            ),
        ));
        return out;
    };
    if let Some(Value::Number(v)) = map.get("schema_version")
        && v.as_u64()
            .is_some_and(|v| v > u64::from(ty.schema.schema_version))
    {
        out.push(Violation::new(
            "schema_version",
            format!(
                "version {v} is newer than the catalog's `{event_type}` schema (version {})",
                ty.schema.schema_version
            ),
        ));
    }
    if let Some(Value::Object(data)) = map.get("data") {
        schema::check_fields(&ty.schema.data, data, "data", &mut out);
    }
    out
}

fn check_envelope(map: &Map<String, Value>, out: &mut Vec<Violation>) {
    use crate::catalog::Kind;
    let expect = |name: &str, kind: Kind, out: &mut Vec<Violation>| {
        if let Some(v) = map.get(name).filter(|v| !v.is_null())
            && !schema::check_kind(kind, v)
        {
            let found = schema::describe(v);
            out.push(Violation::new(
                name,
                format!("expected {}, found {found}", kind.name()),
            ));
        }
    };
    expect("event_id", Kind::Uuid, out);
    expect("event_type", Kind::String, out);
    expect("occurred_at", Kind::Datetime, out);
    expect("schema_version", Kind::Integer, out);
    expect("locale", Kind::String, out);
    expect("recipient", Kind::Object, out);
    expect("data", Kind::Object, out);
    if let Some(Value::Object(recipient)) = map.get("recipient") {
        match recipient.get("email") {
            Some(Value::String(email)) if schema::is_email(email) => {}
            Some(other) => out.push(Violation::new(
                "recipient.email",
                format!("expected email address, found {}", schema::describe(other)),
            )),
            None => out.push(Violation::new(
                "recipient.email",
                "required field is missing",
            )),
        }
        if !matches!(recipient.get("name"), Some(Value::String(_))) {
            out.push(Violation::new("recipient.name", "expected string"));
        }
    }
    if let Some(Value::String(locale)) = map.get("locale")
        && !is_locale(locale)
    {
        out.push(Violation::new(
            "locale",
            format!("`{locale}` is not a language tag such as `en` or `de-CH`"),
        ));
    }
}

fn is_locale(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let lang = parts.next().unwrap_or("");
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl Event {
    /// Converts a value that [`check`] found valid.
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }
}

/// Whether a payload has mailtest's envelope shape (a `recipient` object and `data`), so a
/// built-in type's event is read as one next to a catalog in the team's format.
fn is_envelope(payload: &Value) -> bool {
    payload.get("recipient").is_some_and(Value::is_object) && payload.get("data").is_some()
}

/// Problems as one line: `` `field`: message; ... ``.
pub fn describe(problems: &[Violation]) -> String {
    let list: Vec<String> = problems
        .iter()
        .map(|v| format!("`{}`: {}", v.path, v.message))
        .collect();
    list.join("; ")
}

/// A fixture's event (JSON, in the catalog's wire format or the envelope): the event, or
/// the line and text of what is wrong with it.
pub fn from_fixture(fixture: &Fixture, catalog: &Catalog) -> Result<Event, (usize, String)> {
    let value: Value =
        serde_json::from_str(&fixture.text).map_err(|e| (e.line(), e.to_string()))?;
    decode(&value, &fixture_meta(fixture, catalog), catalog)
        .map(|d| d.event)
        .map_err(|problems| (0, describe(&problems)))
}

/// Where a fixture was read: its folder names its type, for formats that keep the type in
/// the topic.
pub fn fixture_meta<'a>(fixture: &'a Fixture, catalog: &'a Catalog) -> Meta<'a> {
    let folder = fixture.name.split('/').next().unwrap_or_default();
    Meta {
        event_type: catalog
            .get(folder)
            .map(crate::catalog::EventType::wire_type),
        ..Meta::default()
    }
}

/// An event as it was read, in mailtest's envelope (`envelope`), whatever its wire format.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub event: Event,
    pub envelope: Value,
}

/// Reads `payload` as an event of the catalog in the team's wire format when the catalog
/// has one and the payload carries one of its types, else as mailtest's envelope; every
/// problem is reported at the team's own field names.
pub fn decode(payload: &Value, meta: &Meta, catalog: &Catalog) -> Result<Decoded, Vec<Violation>> {
    let (envelope, problems) = read(payload, meta, catalog);
    if !problems.is_empty() {
        return Err(problems);
    }
    let event =
        Event::deserialize(&*envelope).map_err(|e| vec![Violation::new("", e.to_string())])?;
    Ok(Decoded {
        event,
        envelope: envelope.into_owned(),
    })
}

/// `payload` in mailtest's envelope (borrowed when it is one already, as every event of the
/// built-in catalog is: consume reads each message through here) and what is wrong with it,
/// at the team's own field names.
pub fn read<'v>(
    payload: &'v Value,
    meta: &Meta,
    catalog: &Catalog,
) -> (Cow<'v, Value>, Vec<Violation>) {
    let in_format = catalog.format().and_then(|f| {
        let wire_type = f
            .event_type
            .read(payload, meta)
            .or_else(|| meta.event_type.map(str::to_owned))?;
        Some((f, wire_type))
    });
    let Some((format, wire_type)) = in_format else {
        return (Cow::Borrowed(payload), check(payload, catalog));
    };
    let Some(ty) = catalog.by_wire_type(&wire_type) else {
        if is_envelope(payload) {
            return (Cow::Borrowed(payload), check(payload, catalog));
        }
        let known: Vec<&str> = catalog
            .types()
            .filter(|t| t.format.is_some())
            .map(crate::catalog::EventType::wire_type)
            .collect();
        let message = format!(
            "unknown event type `{wire_type}` (known: {})",
            known.join(", ")
        );
        let problem = Violation::new(format.wire_path("event_type"), message);
        return (Cow::Borrowed(payload), vec![problem]);
    };
    let envelope = format.to_envelope(payload, meta, ty.name());
    let mut problems = check(&envelope, catalog);
    for problem in &mut problems {
        problem.path = format.wire_path(&problem.path);
    }
    (Cow::Owned(envelope), problems)
}
