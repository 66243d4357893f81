//! The golden comparison (`matches_render`): render the template for the event that caused
//! a message and compare it with what was delivered, as a readable diff. Catches a service
//! that sends a stale or wrong template.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mailparse::MailHeaderMap;
use similar::TextDiff;

use super::message::Message;
use super::spec::Golden;
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
}

impl GoldenRenderer {
    pub fn new(renderer: Renderer, catalog: Catalog, base: &Path) -> Self {
        Self {
            renderer,
            catalog,
            base: base.to_owned(),
            events: HashMap::new(),
        }
    }

    /// Also knows `events` by their ids, for `matches_render: true`.
    #[must_use]
    pub fn with_events(mut self, events: impl IntoIterator<Item = Event>) -> Self {
        self.events
            .extend(events.into_iter().map(|e| (e.event_id.to_string(), e)));
        self
    }

    /// Ok when `m` is what the templates render for its event; else the differences.
    pub fn check(&self, m: &Message, golden: &Golden) -> Result<(), String> {
        let content = m.content()?;
        let event = match golden {
            Golden::On(false) => return Ok(()),
            Golden::On(true) => {
                let headers = mailparse::parse_headers(&content.raw)
                    .map(|(h, _)| h)
                    .unwrap_or_default();
                let id = headers.get_first_value(EVENT_ID_HEADER).ok_or_else(|| {
                    format!(
                        "matches_render: no {EVENT_ID_HEADER} header; name a fixture or event file"
                    )
                })?;
                self.fixture_by_id(id.trim())?
            }
            Golden::Fixture { fixture } => self.fixture_by_name(fixture)?,
            Golden::Event { event } => {
                let path = self.base.join(event);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!("matches_render: cannot read `{}`: {e}", path.display())
                })?;
                serde_json::from_str(&text)
                    .map_err(|e| format!("matches_render: `{}`: {e}", path.display()))?
            }
        };
        let expected = self
            .renderer
            .render(&event)
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

    fn fixture_by_id(&self, id: &str) -> Result<Event, String> {
        if let Some(event) = self.events.get(id) {
            return Ok(event.clone());
        }
        self.catalog
            .types()
            .flat_map(|t| &t.fixtures)
            .filter_map(|f| crate::event::from_fixture(f, &self.catalog).ok())
            .find(|e| e.event_id.to_string() == id)
            .ok_or_else(|| {
                format!("matches_render: event {id} is not a catalog fixture; name a fixture or event file")
            })
    }

    fn fixture_by_name(&self, name: &str) -> Result<Event, String> {
        let fixture = self
            .catalog
            .types()
            .flat_map(|t| &t.fixtures)
            .find(|f| f.name == name)
            .ok_or_else(|| format!("matches_render: no fixture `{name}`"))?;
        serde_json::from_str(&fixture.text).map_err(|e| format!("matches_render: `{name}`: {e}"))
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
