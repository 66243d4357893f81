//! The golden comparison (`matches_render`): render the template for the event that caused
//! a message and compare it with what was delivered, as a readable diff. Catches a service
//! that sends a stale or wrong template.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mailparse::MailHeaderMap;
use similar::TextDiff;

use super::kafka::KafkaEvents;
use super::message::{Content, Message};
use super::spec::{By, Golden};
use crate::catalog::Catalog;
use crate::event::Event;
use crate::render::{Renderer, message::EVENT_ID_HEADER};

/// Renders expected mail with the user's templates and catalog.
pub struct GoldenRenderer {
    renderer: Renderer,
    catalog: Catalog,
    /// Event files are found relative to the expectations file.
    base: PathBuf,
    /// Events known by id besides the fixtures (those `smoke` produced).
    events: HashMap<String, Event>,
    kafka: Option<KafkaEvents>,
}

impl GoldenRenderer {
    pub fn new(renderer: Renderer, catalog: Catalog, base: &Path) -> Self {
        Self {
            renderer,
            catalog,
            base: base.to_owned(),
            events: HashMap::new(),
            kafka: None,
        }
    }

    /// Also knows `events` by their ids, for `matches_render: true`.
    #[must_use]
    pub fn with_events(mut self, events: impl IntoIterator<Item = Event>) -> Self {
        self.events
            .extend(events.into_iter().map(|e| (e.event_id.to_string(), e)));
        self
    }

    /// Also finds events on Kafka: for `from: kafka`, and for `matches_render: true` when
    /// the id is neither a fixture's nor a known event's (a format without ids, whose ids
    /// dispatch derives from where each record was).
    #[must_use]
    pub fn with_kafka(mut self, kafka: KafkaEvents) -> Self {
        self.kafka = Some(kafka);
        self
    }

    /// Ok when `m` is what the templates render for its event; else the differences.
    pub fn check(&self, m: &Message, golden: &Golden) -> Result<(), String> {
        let content = m.content()?;
        let header = |name: &str| {
            let headers = mailparse::parse_headers(&content.raw)
                .map(|(h, _)| h)
                .unwrap_or_default();
            headers.get_first_value(name).map(|v| v.trim().to_owned())
        };
        let candidates = match golden {
            Golden::On(false) => return Ok(()),
            Golden::On(true) => {
                let id = header(EVENT_ID_HEADER).ok_or_else(|| {
                    format!(
                        "matches_render: no {EVENT_ID_HEADER} header; name a fixture or event file"
                    )
                })?;
                vec![self.event_by_id(&id)?]
            }
            Golden::Fixture { fixture } => vec![self.fixture_by_name(fixture)?],
            Golden::Event { event } => vec![self.event_file(event)?],
            Golden::Kafka {
                by, header: name, ..
            } => {
                let kafka = self.kafka.as_ref().ok_or(
                    "matches_render: `from: kafka` needs a cluster (--brokers or MAILTEST_BROKERS)",
                )?;
                let found = match by {
                    By::Id => {
                        let name = name.as_deref().unwrap_or(EVENT_ID_HEADER);
                        let id = header(name).ok_or_else(|| {
                            format!("matches_render: the message has no {name} header")
                        })?;
                        kafka.by_id(&id).map(|e| vec![e])
                    }
                    // The envelope's recipients, else `To`.
                    By::Key => match &m.envelope {
                        Some(env) if !env.rcpt_to.is_empty() => kafka.by_recipients(&env.rcpt_to),
                        _ => kafka.by_recipients(&m.to),
                    },
                };
                found.map_err(|e| format!("matches_render: {e}"))?
            }
        };
        // Of several events with the message's key, the one it was made from matches; when
        // none does, the newest is compared, as the likeliest cause.
        let mut last = Ok(());
        for event in candidates.iter().rev() {
            last = self.compare(m, content, event);
            if last.is_ok() {
                return last;
            }
        }
        last
    }

    fn compare(&self, m: &Message, content: &Content, event: &Event) -> Result<(), String> {
        let expected = self
            .renderer
            .render(event)
            .map_err(|e| format!("matches_render: {e}"))?;
        let subject = m.subject.clone().unwrap_or_default();
        let mut diffs = Vec::new();
        if subject != expected.subject {
            diffs.push(format!(
                "subject is {subject:?}, the template renders {:?}",
                expected.subject
            ));
        }
        let text = content.parsed.text.clone().unwrap_or_default();
        diffs.extend(diff("text", &expected.text, &text));
        let html = content.parsed.html.clone().unwrap_or_default();
        diffs.extend(diff("html", &expected.html, &html));
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(diffs.join("\n"))
        }
    }

    fn event_by_id(&self, id: &str) -> Result<Event, String> {
        if let Some(event) = self.events.get(id) {
            return Ok(event.clone());
        }
        let fixture = self
            .catalog
            .types()
            .flat_map(|t| &t.fixtures)
            .filter_map(|f| crate::event::from_fixture(f, &self.catalog).ok())
            .find(|e| e.event_id.to_string() == id);
        match (fixture, &self.kafka) {
            (Some(event), _) => Ok(event),
            (None, Some(kafka)) => kafka.by_id(id).map_err(|e| format!("matches_render: {e}")),
            (None, None) => Err(format!(
                "matches_render: event {id} is not a catalog fixture; name a fixture or event \
                 file, or read it from Kafka (`from: kafka` with --brokers)"
            )),
        }
    }

    fn fixture_by_name(&self, name: &str) -> Result<Event, String> {
        let fixture = self
            .catalog
            .types()
            .flat_map(|t| &t.fixtures)
            .find(|f| f.name == name)
            .ok_or_else(|| format!("matches_render: no fixture `{name}`"))?;
        crate::event::from_fixture(fixture, &self.catalog)
            .map_err(|(_, e)| format!("matches_render: `{}`: {e}", fixture.path))
    }

    /// An event file in the catalog's format, relative to the expectations file.
    fn event_file(&self, file: &Path) -> Result<Event, String> {
        let path = self.base.join(file);
        let shown = path.display();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("matches_render: cannot read `{shown}`: {e}"))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("matches_render: `{shown}`: {e}"))?;
        crate::event::decode(&value, &crate::catalog::Meta::default(), &self.catalog)
            .map(|d| d.event)
            .map_err(|p| format!("matches_render: `{shown}`: {}", crate::event::describe(&p)))
    }
}

/// A unified diff of a part, with line endings and trailing space normalised (transfer
/// encodings change those, not what a reader sees); at most 12 changed lines shown.
fn diff(part: &str, expected: &str, delivered: &str) -> Option<String> {
    let norm = |s: &str| -> String {
        s.replace("\r\n", "\n")
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    };
    let (expected, delivered) = (norm(expected), norm(delivered));
    if expected == delivered {
        return None;
    }
    let diff = TextDiff::from_lines(&expected, &delivered);
    let body: Vec<String> = diff
        .unified_diff()
        .context_radius(1)
        .header("rendered", "delivered")
        .to_string()
        .lines()
        .take(16)
        .map(str::to_owned)
        .collect();
    Some(format!(
        "{part} differs from the template:\n{}",
        body.join("\n")
    ))
}
