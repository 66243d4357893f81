//! An event type's schema: the fields its `data` carries, their kinds, and how to check a value.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// One event type's schema, as written in `<catalog>/<type>/schema.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub event_type: String,
    #[serde(default = "first_version")]
    pub schema_version: u32,
    #[serde(default)]
    pub description: String,
    /// How the type is written where the wire format puts the type (`verification` for
    /// `email_verification`); default: its name.
    #[serde(default)]
    pub wire_type: Option<String>,
    /// The fields of the event's `data` object, in the order generated events list them.
    pub data: IndexMap<String, Field>,
}

fn first_version() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// One field of `data` (or of an object or array item inside it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// The only values allowed.
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    /// Bounds for numbers (and for generated integers and decimals).
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub min_items: Option<usize>,
    #[serde(default)]
    pub max_items: Option<usize>,
    /// For `array`: the fields of each item, when items are objects.
    #[serde(default)]
    pub items: Option<IndexMap<String, Field>>,
    /// For `array`: the kind of each item, when items are scalars.
    #[serde(default)]
    pub of: Option<Kind>,
    /// For `object`: its fields.
    #[serde(default)]
    pub fields: Option<IndexMap<String, Field>>,
    /// A pattern for generated values, such as `ORD-{seq:06}` (see `generate.rs`).
    #[serde(default)]
    pub generate: Option<String>,
}

/// The kinds a field can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    String,
    Integer,
    /// A decimal amount, as a JSON number or a string such as `"49.90"` (money).
    Decimal,
    Number,
    Boolean,
    Email,
    Url,
    /// An RFC 3339 timestamp.
    Datetime,
    Uuid,
    Array,
    Object,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Email => "email address",
            Self::Url => "http(s) URL",
            Self::Datetime => "RFC 3339 timestamp",
            Self::Uuid => "UUID",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

/// One thing wrong with an event: the dotted path of the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

impl Violation {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Checks every field of `fields` in the object `value`, adding what is wrong to `out`.
pub fn check_fields(
    fields: &IndexMap<String, Field>,
    value: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<Violation>,
) {
    for (name, field) in fields {
        let child = join(path, name);
        match value.get(name) {
            None | Some(Value::Null) if field.required => {
                out.push(Violation::new(child, "required field is missing"));
            }
            None | Some(Value::Null) => {}
            Some(v) => check_value(field, v, &child, out),
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Checks one value against its field spec.
pub fn check_value(field: &Field, value: &Value, path: &str, out: &mut Vec<Violation>) {
    if !check_kind(field.kind, value) {
        out.push(Violation::new(
            path,
            format!("expected {}, found {}", field.kind.name(), describe(value)),
        ));
        return;
    }
    if let Some(allowed) = &field.one_of
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        out.push(Violation::new(
            path,
            format!("{} is not one of {}", value, list.join(", ")),
        ));
    }
    check_bounds(field, value, path, out);
    match field.kind {
        Kind::Array => check_items(field, value, path, out),
        Kind::Object => {
            if let (Some(fields), Value::Object(map)) = (&field.fields, value) {
                check_fields(fields, map, path, out);
            }
        }
        _ => {}
    }
}

fn check_bounds(field: &Field, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(n) = numeric(value) else { return };
    if let Some(min) = field.min.filter(|min| n < *min) {
        out.push(Violation::new(
            path,
            format!("{n} is below the minimum {min}"),
        ));
    }
    if let Some(max) = field.max.filter(|max| n > *max) {
        out.push(Violation::new(
            path,
            format!("{n} is above the maximum {max}"),
        ));
    }
}

fn check_items(field: &Field, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Value::Array(items) = value else { return };
    if let Some(min) = field.min_items.filter(|min| items.len() < *min) {
        out.push(Violation::new(
            path,
            format!("has {} items, at least {min} required", items.len()),
        ));
    }
    if let Some(max) = field.max_items.filter(|max| items.len() > *max) {
        out.push(Violation::new(
            path,
            format!("has {} items, at most {max} allowed", items.len()),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        if let Some(fields) = &field.items {
            match item {
                Value::Object(map) => check_fields(fields, map, &item_path, out),
                other => out.push(Violation::new(
                    item_path,
                    format!("expected object, found {}", describe(other)),
                )),
            }
        } else if let Some(kind) = field.of
            && !check_kind(kind, item)
        {
            out.push(Violation::new(
                item_path,
                format!("expected {}, found {}", kind.name(), describe(item)),
            ));
        }
    }
}

/// The numeric value of a number or of a decimal string.
fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if is_decimal(s) => s.parse().ok(),
        _ => None,
    }
}

/// Whether `value` has the shape of `kind`.
pub fn check_kind(kind: Kind, value: &Value) -> bool {
    match (kind, value) {
        (Kind::String, Value::String(_))
        | (Kind::Number | Kind::Decimal, Value::Number(_))
        | (Kind::Boolean, Value::Bool(_))
        | (Kind::Array, Value::Array(_))
        | (Kind::Object, Value::Object(_)) => true,
        (Kind::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Kind::Decimal, Value::String(s)) => is_decimal(s),
        (Kind::Email, Value::String(s)) => is_email(s),
        (Kind::Url, Value::String(s)) => is_url(s),
        (Kind::Datetime, Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        (Kind::Uuid, Value::String(s)) => uuid::Uuid::parse_str(s).is_ok(),
        _ => false,
    }
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !frac.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A deliberately small check: one `@`, something on each side, no white space or brackets.
/// Full RFC 5321 validation belongs to the SMTP server that receives the mail.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || "<>()[],;\"".contains(c))
}

fn is_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !s.chars().any(char::is_whitespace)
    })
}

/// A short description of a value for messages: its kind and, when short, the value.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() <= 40 => format!("string {value}"),
        Value::String(_) => "a string".into(),
        Value::Array(a) => format!("array of {}", a.len()),
        Value::Object(_) => "object".into(),
    }
}
