//! What a produce run sends: events from files, the catalog's fixtures, generated events or
//! raw lines, checked up front (nothing is sent when any input is bad) and repeated to a count.

use serde_json::Value;

use crate::catalog::TopicLayout;
use crate::catalog::generate::Generator;
use crate::catalog::{Catalog, Violation};
use crate::event::{self, InputError, source};
use crate::record::{self, Outgoing};

/// Where events come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// Event files (or consumed-record JSON lines); `-` is stdin.
    Files(Vec<String>),
    /// The catalog's sample fixtures.
    Fixtures,
    /// Generated events.
    Generate { seed: Option<u64> },
    /// Lines sent as they are, unchecked.
    Raw(Vec<String>),
}

/// Everything that decides the messages.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub input: Input,
    /// Only these types (empty: all).
    pub types: Vec<String>,
    /// Total to send; input repeats to reach it. `None`: each input once (generated: one of
    /// each type).
    pub count: Option<u64>,
    pub layout: TopicLayout,
    /// The topic given with `--topic`, which also overrides consumed records' own topics.
    pub topic_override: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// The messages to send, made lazily so a run of millions does not sit in memory.
pub struct Plan {
    pub total: u64,
    pub messages: Box<dyn Iterator<Item = Outgoing> + Send>,
}

/// One checked input item, already a message; events remember that they are events so a
/// repeat can get a fresh id.
#[derive(Clone)]
struct Item {
    message: Outgoing,
    /// The event in mailtest's envelope; `None` for records and raw lines.
    event: Option<Value>,
}

pub fn build(settings: PlanSettings, catalog: &Catalog) -> Result<Plan, InputError> {
    for ty in &settings.types {
        if catalog.get(ty).is_none() {
            return Err(InputError::Other(format!(
                "unknown event type `{ty}` (known: {})",
                catalog.names().join(", ")
            )));
        }
    }
    let items = match &settings.input {
        Input::Generate { seed } => return Ok(generated(&settings, catalog, *seed)),
        Input::Files(paths) => from_files(paths, &settings, catalog)?,
        Input::Fixtures => from_fixtures(&settings, catalog)?,
        Input::Raw(paths) => raw_lines(paths, &settings)?,
    };
    if items.is_empty() {
        return Err(InputError::Other("the input holds no events".into()));
    }
    let total = settings.count.unwrap_or(items.len() as u64);
    let len = items.len() as u64;
    let catalog = catalog.clone();
    let messages = (0..total).map(move |i| {
        let item = &items[(i % len) as usize];
        let Some(event) = item.event.as_ref().filter(|_| i >= len) else {
            return item.message.clone();
        };
        // A repeated event gets a fresh id, or consumers would rightly drop it as a duplicate.
        let mut value = event.clone();
        value["event_id"] = Value::String(uuid::Uuid::new_v4().to_string());
        to_message(&value, None, &settings, &catalog)
    });
    Ok(Plan {
        total,
        messages: Box::new(messages),
    })
}

fn to_message(
    event: &Value,
    payload: Option<&[u8]>,
    settings: &PlanSettings,
    catalog: &Catalog,
) -> Outgoing {
    event_message(event, payload, &settings.layout, &settings.headers, catalog)
}

/// The message of an event in mailtest's envelope: sent in its type's wire format when the
/// type has one (`payload`, the event's own text, is sent as it is when there is one).
pub fn event_message(
    event: &Value,
    payload: Option<&[u8]>,
    layout: &TopicLayout,
    extra: &[(String, String)],
    catalog: &Catalog,
) -> Outgoing {
    let ty = event
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(task) = catalog
        .celery()
        .and_then(|c| crate::celery::message::TaskMessage::for_event(c, event))
    {
        // A Celery task, as kombu's Kafka transport writes it: on the topic named after its
        // queue, with no key.
        let headers = extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        return Outgoing {
            topic: task.queue.clone(),
            key: None,
            headers,
            payload: task.kafka_value(),
        };
    }
    let topic = layout.topic_for(ty);
    let Some((kind, format)) = catalog
        .get(ty)
        .and_then(|t| t.format.as_deref().map(|f| (t, f)))
    else {
        return record::message_from_event(event, payload, topic, extra);
    };
    let (wire, mut headers) = format.from_envelope(event, kind.wire_type());
    headers.extend(extra.iter().cloned());
    let payload = payload.map_or_else(
        || serde_json::to_vec(&wire).expect("JSON values serialize"),
        <[u8]>::to_vec,
    );
    record::message_in_format(event, payload, topic, &headers)
}

fn generated(settings: &PlanSettings, catalog: &Catalog, seed: Option<u64>) -> Plan {
    let types: Vec<_> = catalog
        .types()
        .filter(|t| settings.types.is_empty() || settings.types.iter().any(|w| w == t.name()))
        .cloned()
        .collect();
    let total = settings.count.unwrap_or(types.len() as u64);
    let mut generator = Generator::new(seed);
    let settings = settings.clone();
    let catalog = catalog.clone();
    let messages = (0..total).map(move |i| {
        let event = generator.event(&types[(i % types.len() as u64) as usize]);
        to_message(&event, None, &settings, &catalog)
    });
    Plan {
        total,
        messages: Box::new(messages),
    }
}

fn wanted(settings: &PlanSettings, value: &Value) -> bool {
    settings.types.is_empty()
        || value
            .get("event_type")
            .and_then(Value::as_str)
            .is_some_and(|t| settings.types.iter().any(|w| w == t))
}

/// Checks events one at a time as they are read, keeping messages and all problems.
struct Checker<'a> {
    settings: &'a PlanSettings,
    catalog: &'a Catalog,
    items: Vec<Item>,
    problems: Vec<crate::event::Problem>,
}

impl<'a> Checker<'a> {
    fn new(settings: &'a PlanSettings, catalog: &'a Catalog) -> Self {
        Self {
            settings,
            catalog,
            items: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Adds an event from a file. One `--type` names the type of events whose format keeps
    /// it outside the payload (in the topic name).
    fn add(&mut self, src: &source::SourceEvent) -> Result<(), InputError> {
        let only = match &self.settings.types[..] {
            [one] => self
                .catalog
                .get(one)
                .map(crate::catalog::EventType::wire_type),
            _ => None,
        };
        let meta = crate::catalog::Meta {
            event_type: only,
            ..crate::catalog::Meta::default()
        };
        self.add_read(src, &meta)
    }

    /// Adds an event read where `meta` says (a fixture's folder names its type).
    fn add_read(
        &mut self,
        src: &source::SourceEvent,
        meta: &crate::catalog::Meta,
    ) -> Result<(), InputError> {
        if record::is_record(&src.value) {
            let message =
                record::message_from_record(&src.value, self.settings.topic_override.as_deref())
                    .map_err(|m| InputError::Invalid(vec![src.problem(&Violation::new("", m))]))?;
            self.items.push(Item {
                message,
                event: None,
            });
            return Ok(());
        }
        match event::decode(&src.value, meta, self.catalog) {
            Err(violations) => self
                .problems
                .extend(violations.iter().map(|v| src.problem(v))),
            Ok(decoded) if wanted(self.settings, &decoded.envelope) => {
                let payload = src.json_line().map(str::as_bytes);
                let message = to_message(&decoded.envelope, payload, self.settings, self.catalog);
                self.items.push(Item {
                    message,
                    event: Some(decoded.envelope),
                });
            }
            Ok(_) => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<Item>, InputError> {
        if self.problems.is_empty() {
            Ok(self.items)
        } else {
            Err(InputError::Invalid(self.problems))
        }
    }
}

fn from_files(
    paths: &[String],
    settings: &PlanSettings,
    catalog: &Catalog,
) -> Result<Vec<Item>, InputError> {
    let mut checker = Checker::new(settings, catalog);
    for path in paths {
        source::for_each_in_path(path, &mut |e| checker.add(&e))?;
    }
    checker.finish()
}

fn from_fixtures(settings: &PlanSettings, catalog: &Catalog) -> Result<Vec<Item>, InputError> {
    let mut checker = Checker::new(settings, catalog);
    for ty in catalog.types() {
        for fixture in &ty.fixtures {
            let ext = fixture.path.rsplit('.').next().unwrap_or("");
            let meta = event::fixture_meta(fixture, catalog);
            source::for_each(&fixture.path, &fixture.text, ext, &mut |e| {
                checker.add_read(&e, &meta)
            })?;
        }
    }
    checker.finish()
}

fn raw_lines(paths: &[String], settings: &PlanSettings) -> Result<Vec<Item>, InputError> {
    let topic = settings.layout.topic_for("raw");
    let mut items = Vec::new();
    let paths = if paths.is_empty() {
        vec!["-".to_owned()]
    } else {
        paths.to_vec()
    };
    for path in &paths {
        let text = read_text(path)?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let headers = settings.headers.iter();
            items.push(Item {
                message: Outgoing {
                    topic: topic.clone(),
                    key: None,
                    headers: headers
                        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                        .collect(),
                    payload: line.as_bytes().to_vec(),
                },
                event: None,
            });
        }
    }
    Ok(items)
}

fn read_text(path: &str) -> Result<String, InputError> {
    let err = |source| InputError::Read {
        path: path.to_owned(),
        source,
    };
    if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(err)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(err)
    }
}
