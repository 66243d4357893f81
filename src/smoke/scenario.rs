//! A smoke scenario: the events to produce and the expectations their mail must meet. The
//! file is an expectations file (see `verify::spec`) with an `events` section on top.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::event::source::{InputError, for_each_in_path};
use crate::verify::spec::{self, Expectation, Spec, SpecError};

/// The scenario `mailtest smoke` runs when none is given (also in `fixtures/scenarios/`).
pub const DEFAULT: &str = include_str!("../../fixtures/scenarios/default.yaml");
pub const DEFAULT_NAME: &str = "fixtures/scenarios/default.yaml";

/// A parsed scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// Where it came from, for messages (`fixtures/scenarios/default.yaml` when built in).
    pub file: String,
    /// Event files are found relative to this directory.
    pub base: PathBuf,
    pub events: Events,
    pub spec: Spec,
}

/// What to produce.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    /// `all`, or fixture names such as `welcome/default`; absent: all, unless `files` are
    /// given.
    #[serde(default)]
    pub fixtures: Option<Fixtures>,
    /// Event files (JSON, JSON Lines or YAML), relative to the scenario file.
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Fixtures {
    Keyword(String),
    Names(Vec<String>),
}

/// The file as written; the expectation keys are those of an expectations file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    events: Events,
    #[serde(default, deserialize_with = "spec::duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    mailbox: Option<String>,
    #[serde(default)]
    vars: IndexMap<String, String>,
    #[serde(default)]
    expect: Vec<Expectation>,
    /// Celery task states, as in an expectations file.
    #[serde(default)]
    celery: Option<crate::verify::celery::CelerySpec>,
}

impl Scenario {
    /// The built-in default scenario.
    pub fn builtin() -> Result<Self, SpecError> {
        Self::parse(DEFAULT_NAME, DEFAULT, Path::new("."))
    }

    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let (file, text) = spec::read(path)?;
        Self::parse(&file, &text, path.parent().unwrap_or(Path::new(".")))
    }

    pub fn parse(file: &str, text: &str, base: &Path) -> Result<Self, SpecError> {
        let parsed: File = spec::parse_yaml(file, text)?;
        if let Some(Fixtures::Keyword(word)) = &parsed.events.fixtures
            && word != "all"
            && word != "none"
        {
            return Err(SpecError::Semantic {
                file: file.to_owned(),
                message: format!(
                    "events.fixtures: `{word}`: expected `all`, `none` or a list of fixture names"
                ),
            });
        }
        let spec = Spec {
            timeout: parsed.timeout,
            mailbox: parsed.mailbox,
            vars: parsed.vars,
            expect: parsed.expect,
            celery: parsed.celery,
        };
        spec.check_names(file)?;
        Ok(Self {
            name: parsed.name.unwrap_or_else(|| file.to_owned()),
            description: parsed.description,
            file: file.to_owned(),
            base: base.to_owned(),
            events: parsed.events,
            spec,
        })
    }

    /// The events to produce, checked against the catalog, each with a fresh `event_id` so
    /// that a service with idempotency sends it again on every run.
    pub fn events(&self, catalog: &Catalog) -> Result<Vec<Value>, InputError> {
        let mut events = self.fixture_events(catalog)?;
        let mut problems = Vec::new();
        for file in &self.events.files {
            let path = self.base.join(file).display().to_string();
            for_each_in_path(&path, &mut |e| {
                let meta = crate::catalog::Meta::default();
                match crate::event::decode(&e.value, &meta, catalog) {
                    Ok(decoded) => events.push(decoded.envelope),
                    Err(violations) => problems.extend(violations.iter().map(|v| e.problem(v))),
                }
                Ok(())
            })?;
        }
        if !problems.is_empty() {
            return Err(InputError::Invalid(problems));
        }
        if events.is_empty() {
            return Err(InputError::Other(format!(
                "{}: the scenario produces no events",
                self.file
            )));
        }
        for event in &mut events {
            event["event_id"] = Value::String(uuid::Uuid::new_v4().to_string());
        }
        Ok(events)
    }

    fn fixture_events(&self, catalog: &Catalog) -> Result<Vec<Value>, InputError> {
        let fixtures = catalog.types().flat_map(|t| &t.fixtures);
        let chosen: Vec<_> = match &self.events.fixtures {
            None if !self.events.files.is_empty() => Vec::new(),
            None => fixtures.collect(),
            Some(Fixtures::Keyword(word)) if word == "all" => fixtures.collect(),
            Some(Fixtures::Keyword(_)) => Vec::new(),
            Some(Fixtures::Names(names)) => {
                let all: Vec<_> = fixtures.collect();
                let mut chosen = Vec::new();
                for name in names {
                    let found = all.iter().find(|f| &f.name == name).ok_or_else(|| {
                        let known: Vec<_> = all.iter().map(|f| f.name.as_str()).collect();
                        InputError::Other(format!(
                            "{}: events.fixtures: no fixture `{name}` (known: {})",
                            self.file,
                            known.join(", ")
                        ))
                    })?;
                    chosen.push(*found);
                }
                chosen
            }
        };
        chosen
            .into_iter()
            .map(|f| {
                crate::event::from_fixture(f, catalog)
                    .map(|event| serde_json::to_value(event).expect("events serialize"))
                    .map_err(|(_, e)| InputError::Other(format!("fixture `{}`: {e}", f.name)))
            })
            .collect()
    }
}
