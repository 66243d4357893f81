//! Realistic, varied and repeatable sample events generated from a schema.
//!
//! Strings follow the field's `generate` pattern: literal text with placeholders such as
//! `{first_name}`, `{token}`, `{int:1-9}`, `{seq:06}` or `{pick:a|b|c}`. The same seed gives
//! the same events, event ids included, which is how redelivery and idempotency get tested.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use indexmap::IndexMap;
use rand::{Rng, SeedableRng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::EventType;
use super::schema::{Field, Kind};
use super::words;

/// Makes events; one generator numbers its events 1, 2, 3... in `{seq}`.
pub struct Generator {
    rng: ChaCha8Rng,
    seq: u64,
    now: DateTime<Utc>,
}

/// The person an event is addressed to, shared by the envelope and `{recipient_*}` placeholders.
struct Person {
    first: &'static str,
    last: &'static str,
    email: String,
}

impl Generator {
    /// A generator; `seed` makes the output repeatable, `None` draws a fresh seed.
    pub fn new(seed: Option<u64>) -> Self {
        Self::at(seed, Utc::now())
    }

    /// A generator whose timestamps are relative to `now` instead of the clock: with a
    /// seed, its output is the same to the byte.
    pub fn at(seed: Option<u64>, now: DateTime<Utc>) -> Self {
        let rng = match seed {
            Some(seed) => ChaCha8Rng::seed_from_u64(seed),
            None => ChaCha8Rng::from_os_rng(),
        };
        Self { rng, seq: 0, now }
    }

    /// One event of `ty`, with a unique recipient and event id.
    pub fn event(&mut self, ty: &EventType) -> Value {
        self.seq += 1;
        let person = self.person();
        let event_id = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
        let locale = if self.rng.random_bool(0.7) {
            "en"
        } else {
            "de"
        };
        // Spread occurred_at over the last minute so events are not all at one instant.
        let occurred = self.now - Duration::milliseconds(self.rng.random_range(0..60_000));
        let data = self.fields(&ty.schema.data, &person);
        json!({
            "event_id": event_id.to_string(),
            "event_type": ty.schema.event_type,
            "occurred_at": occurred.to_rfc3339_opts(SecondsFormat::Millis, true),
            "schema_version": ty.schema.schema_version,
            "recipient": {"email": person.email, "name": format!("{} {}", person.first, person.last)},
            "locale": locale,
            "data": data,
        })
    }

    fn person(&mut self) -> Person {
        let (first, first_ascii) = *words::FIRST_NAMES.choose(&mut self.rng).expect("names");
        let (last, last_ascii) = *words::LAST_NAMES.choose(&mut self.rng).expect("names");
        let domain = words::DOMAINS.choose(&mut self.rng).expect("domains");
        let email = format!("{first_ascii}.{last_ascii}.{}@{domain}", self.seq).to_lowercase();
        Person { first, last, email }
    }

    fn fields(&mut self, fields: &IndexMap<String, Field>, person: &Person) -> Value {
        let mut out = Map::new();
        for (name, field) in fields {
            // Optional fields are present most of the time, so both shapes get exercised.
            if !field.required && self.rng.random_bool(0.2) {
                continue;
            }
            out.insert(name.clone(), self.value(field, person));
        }
        // Totals are filled last, from the items generated beside them, so they add up.
        for (name, field) in fields {
            if field.generate.as_deref() == Some("{items_total}") && out.contains_key(name) {
                out.insert(name.clone(), json!(format!("{:.2}", items_total(&out))));
            }
        }
        Value::Object(out)
    }

    fn value(&mut self, field: &Field, person: &Person) -> Value {
        if let Some(choices) = &field.one_of
            && let Some(choice) = choices.choose(&mut self.rng)
        {
            return choice.clone();
        }
        match field.kind {
            Kind::Array => {
                let min = field.min_items.unwrap_or(1);
                let max = field.max_items.unwrap_or(min.max(3)).max(min);
                let n = self.rng.random_range(min..=max);
                let items = (0..n).map(|_| self.item(field, person)).collect();
                Value::Array(items)
            }
            Kind::Object => match &field.fields {
                Some(fields) => self.fields(fields, person),
                None => Value::Object(Map::new()),
            },
            kind => self.scalar(kind, field, person),
        }
    }

    fn item(&mut self, field: &Field, person: &Person) -> Value {
        if let Some(fields) = &field.items {
            return self.fields(fields, person);
        }
        let spec = Field {
            kind: field.of.unwrap_or(Kind::String),
            ..field.clone()
        };
        self.scalar(spec.kind, &spec, person)
    }

    fn scalar(&mut self, kind: Kind, field: &Field, person: &Person) -> Value {
        if let Some(pattern) = &field.generate {
            let text = self.expand(pattern, person);
            return match kind {
                Kind::Integer => text.parse::<i64>().map_or(Value::String(text), Value::from),
                _ => Value::String(text),
            };
        }
        let min = field.min.unwrap_or(0.0);
        let max = field.max.unwrap_or(100.0).max(min);
        match kind {
            Kind::Integer => json!(self.rng.random_range(min as i64..=max as i64)),
            Kind::Decimal => json!(format!("{:.2}", self.rng.random_range(min..=max))),
            Kind::Number => json!((self.rng.random_range(min..=max) * 100.0).round() / 100.0),
            Kind::Boolean => json!(self.rng.random_bool(0.5)),
            Kind::Email => json!(person.email),
            Kind::Url => json!(self.expand("https://app.example.com/{word}/{token}", person)),
            Kind::Uuid => json!(uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()),
            Kind::Datetime => {
                // For timestamps, min and max are hours from now (a link's expiry, a delivery date).
                let hours = self
                    .rng
                    .random_range(field.min.unwrap_or(1.0)..=field.max.unwrap_or(72.0));
                let at = self.now + Duration::minutes((hours * 60.0) as i64);
                json!(at.to_rfc3339_opts(SecondsFormat::Secs, true))
            }
            _ => json!(self.expand("{word}", person)),
        }
    }

    /// Fills a `generate` pattern; unknown placeholders are kept as written.
    fn expand(&mut self, pattern: &str, person: &Person) -> String {
        let mut out = String::with_capacity(pattern.len() + 16);
        let mut rest = pattern;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let token = &rest[start + 1..start + len];
            match self.placeholder(token, person) {
                Some(text) => out.push_str(&text),
                None => out.push_str(&rest[start..=start + len]),
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        out
    }

    fn placeholder(&mut self, token: &str, person: &Person) -> Option<String> {
        let (name, arg) = token.split_once(':').unwrap_or((token, ""));
        let pick =
            |rng: &mut ChaCha8Rng, list: &[&str]| (*list.choose(rng).expect("list")).to_owned();
        Some(match name {
            "seq" => match arg.strip_prefix('0').and_then(|w| w.parse::<usize>().ok()) {
                Some(width) => format!("{:0width$}", self.seq),
                None => self.seq.to_string(),
            },
            "first_name" => person.first.to_owned(),
            "last_name" => person.last.to_owned(),
            "full_name" => format!("{} {}", person.first, person.last),
            "items_total" => "0.00".to_owned(),
            "recipient_email" => person.email.clone(),
            "username" => format!(
                "{}{}",
                person.email.split('.').next()?,
                self.rng.random_range(1..999)
            ),
            "token" => self.token(32),
            "hex" => self.hex(arg.parse().unwrap_or(8)),
            "int" => {
                let (lo, hi) = arg.split_once('-')?;
                let (lo, hi): (i64, i64) = (lo.parse().ok()?, hi.parse().ok()?);
                self.rng.random_range(lo..=hi.max(lo)).to_string()
            }
            "pick" => pick(&mut self.rng, &arg.split('|').collect::<Vec<_>>()),
            "word" => pick(&mut self.rng, words::WORDS),
            "product" => pick(&mut self.rng, words::PRODUCTS),
            "company" => pick(&mut self.rng, words::COMPANIES),
            "city" => pick(&mut self.rng, words::CITIES),
            "role" => pick(&mut self.rng, words::ROLES),
            "ip" => format!("203.0.113.{}", self.rng.random_range(1..255)),
            _ => return None,
        })
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
            .collect()
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.rng.random_range(0..16)]))
            .collect()
    }
}

/// The sum of `quantity * unit_price` over the `items` array of an order.
fn items_total(order: &Map<String, Value>) -> f64 {
    let number = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    };
    order
        .get("items")
        .and_then(Value::as_array)
        .map_or(0.0, |items| {
            items
                .iter()
                .map(|i| number(i.get("quantity")) * number(i.get("unit_price")))
                .sum()
        })
}
