//! The event catalog: every event type's schema and sample fixtures, loaded from files.
//!
//! The built-in catalog is `fixtures/events/` compiled into the binary. A user's catalog
//! directory (same layout: `<type>/schema.yaml` and `<type>/*.json|*.yaml` fixtures) adds
//! types or replaces built-in ones, so a new event type needs files alone, no recompiling.

pub mod generate;
pub mod schema;
pub mod wire;
mod words;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use indexmap::IndexMap;

use crate::celery::CeleryFormat;
use crate::exit_code::ErrorKind;

pub use schema::{Field, Kind, Schema, Violation};
pub use wire::{Meta, WireFormat};

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/fixtures/events");

/// The default topic for the single-topic layout; per-type topics are `email-events.<type>`.
pub const DEFAULT_TOPIC: &str = "email-events";

/// Errors met while loading a catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog directory `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Schema(crate::located::Located),
    #[error("{file}: {problems}")]
    Celery { file: String, problems: String },
    #[error("{file}: schema names event type `{named}` but its folder is `{folder}`")]
    Mismatch {
        file: String,
        named: String,
        folder: String,
    },
}

impl CatalogError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadInput
    }
}

/// One event type: its schema, its sample events, and its wire format when its folder has
/// one (`None`: mailtest's envelope).
#[derive(Debug, Clone)]
pub struct EventType {
    pub schema: Schema,
    pub fixtures: Vec<Fixture>,
    pub format: Option<Arc<WireFormat>>,
}

impl EventType {
    pub fn name(&self) -> &str {
        &self.schema.event_type
    }

    /// How the type is written on the wire: its `wire_type`, else its name.
    pub fn wire_type(&self) -> &str {
        self.schema.wire_type.as_deref().unwrap_or(self.name())
    }
}

/// A sample event file: its display path (for messages) and its text.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `type/name`, the name users select it by.
    pub name: String,
    pub path: String,
    pub text: String,
}

/// All known event types, sorted by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    types: IndexMap<String, EventType>,
    /// The format of the user's catalog folder (`format.yaml`), shared by its types.
    format: Option<Arc<WireFormat>>,
    /// The user's catalog folder, where its other files (`templates.yaml`) are.
    dir: Option<PathBuf>,
    /// The folder's `celery.yaml`: events are enqueued as these Celery tasks.
    celery: Option<Arc<CeleryFormat>>,
}

/// A catalog folder's YAML file, if it is there.
fn read_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<Option<T>, CatalogError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_owned(),
        source,
    })?;
    let shown = path.display().to_string();
    serde_norway::from_str(&text).map(Some).map_err(|err| {
        CatalogError::Schema(crate::located::Located::yaml(&shown, Some(what), &err))
    })
}

impl Catalog {
    /// The built-in catalog, overlaid with the types found in `dir` when given.
    pub fn load(dir: Option<&Path>) -> Result<Self, CatalogError> {
        let mut catalog = Self::builtin()?;
        if let Some(dir) = dir {
            catalog.overlay(dir)?;
            catalog.dir = Some(dir.to_owned());
        }
        catalog.types.sort_keys();
        Ok(catalog)
    }

    /// The user's catalog folder, when one was loaded.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The catalog compiled into the binary.
    pub fn builtin() -> Result<Self, CatalogError> {
        let mut catalog = Self::default();
        for folder in BUILTIN.dirs() {
            let folder_name = folder.path().display().to_string();
            let mut files = Vec::new();
            for file in folder.files() {
                let name = file
                    .path()
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy();
                let text = file.contents_utf8().unwrap_or_default().to_owned();
                files.push((
                    name.into_owned(),
                    format!("fixtures/events/{}", file.path().display()),
                    text,
                ));
            }
            catalog.add(&folder_name, files)?;
        }
        catalog.types.sort_keys();
        Ok(catalog)
    }

    /// Adds (or replaces) the types found in a catalog directory.
    fn overlay(&mut self, dir: &Path) -> Result<(), CatalogError> {
        let read = |path: &Path| {
            std::fs::read_dir(path).map_err(|source| CatalogError::Read {
                path: path.to_owned(),
                source,
            })
        };
        if let Some(format) = read_yaml(&dir.join("format.yaml"), "invalid wire format")? {
            self.format = Some(Arc::new(format));
        }
        let mut folders: Vec<PathBuf> = read(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("schema.yaml").is_file())
            .collect();
        folders.sort();
        for folder in folders {
            let mut files = Vec::new();
            for entry in read(&folder)?.filter_map(Result::ok) {
                let path = entry.path();
                let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Read {
                    path: path.clone(),
                    source,
                })?;
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push((name, path.display().to_string(), text));
            }
            let folder_name = folder
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            self.add(&folder_name, files)?;
        }
        let celery_file = dir.join("celery.yaml");
        if let Some(celery) = read_yaml(&celery_file, "invalid Celery tasks")? {
            self.check_celery(&celery, &celery_file)?;
            self.celery = Some(Arc::new(celery));
        }
        Ok(())
    }

    /// Every task in `celery.yaml` is for a known type and takes its arguments from
    /// fields that type has.
    fn check_celery(&self, celery: &CeleryFormat, file: &Path) -> Result<(), CatalogError> {
        let mut wrong = Vec::new();
        for ty in celery.tasks.keys() {
            match self.types.get(ty) {
                Some(t) => {
                    let fields: Vec<String> = t.schema.data.keys().cloned().collect();
                    wrong.extend(celery.unknown_paths(ty, &fields));
                }
                None => wrong.push(format!("`{ty}` is no event type of the catalog")),
            }
        }
        if wrong.is_empty() {
            return Ok(());
        }
        Err(CatalogError::Celery {
            file: file.display().to_string(),
            problems: wrong.join("; "),
        })
    }

    /// Adds one type from its folder's files: `(file name, display path, text)`.
    fn add(
        &mut self,
        folder: &str,
        mut files: Vec<(String, String, String)>,
    ) -> Result<(), CatalogError> {
        files.sort();
        let Some((_, schema_path, schema_text)) =
            files.iter().find(|(name, ..)| name == "schema.yaml")
        else {
            return Ok(());
        };
        let schema = parse_schema(schema_path, schema_text)?;
        if schema.event_type != folder {
            return Err(CatalogError::Mismatch {
                file: schema_path.clone(),
                named: schema.event_type,
                folder: folder.to_owned(),
            });
        }
        let fixtures = files
            .iter()
            .filter(|(name, ..)| name != "schema.yaml" && is_event_file(name))
            .map(|(name, path, text)| Fixture {
                name: format!(
                    "{folder}/{}",
                    name.rsplit_once('.')
                        .map_or(name.as_str(), |(stem, _)| stem)
                ),
                path: path.clone(),
                text: text.clone(),
            })
            .collect();
        let format = self.format.clone();
        let ty = EventType {
            schema,
            fixtures,
            format,
        };
        self.types.insert(folder.to_owned(), ty);
        Ok(())
    }

    pub fn get(&self, event_type: &str) -> Option<&EventType> {
        self.types.get(event_type)
    }

    /// The user's wire format, when their catalog folder has one.
    pub fn format(&self) -> Option<&WireFormat> {
        self.format.as_deref()
    }

    /// The Celery tasks events are enqueued as, when the catalog folder has `celery.yaml`.
    pub fn celery(&self) -> Option<&CeleryFormat> {
        self.celery.as_deref()
    }

    /// The type of the user's format written `wire_type` on the wire.
    pub fn by_wire_type(&self, wire_type: &str) -> Option<&EventType> {
        self.types
            .values()
            .find(|t| t.format.is_some() && t.wire_type() == wire_type)
    }

    pub fn types(&self) -> impl Iterator<Item = &EventType> {
        self.types.values()
    }

    pub fn names(&self) -> Vec<&str> {
        self.types.keys().map(String::as_str).collect()
    }

    /// Every topic the catalog's events may travel on, in both layouts.
    pub fn topics(&self) -> Vec<String> {
        let mut topics = vec![DEFAULT_TOPIC.to_owned()];
        topics.extend(self.types.keys().map(|t| per_type_topic(t)));
        // Celery's Kafka transport reads each queue from the topic of its name.
        if let Some(celery) = &self.celery {
            for task in celery.tasks.values() {
                let queue = celery.queue_of(task).to_owned();
                if !topics.contains(&queue) {
                    topics.push(queue);
                }
            }
        }
        topics
    }
}

/// The placeholder a topic pattern names the event type with.
pub const TYPE_PLACEHOLDER: &str = "{type}";

/// The pattern of the built-in one-topic-per-type layout.
pub const DEFAULT_PER_TYPE: &str = "email-events.{type}";

/// Where events go: one topic for all, or a topic per type named by a pattern, such as
/// `email-events.{type}` or `{type}` alone (topics named `email_verification`,
/// `account_locked`, ... as many services name them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicLayout {
    /// Every event on one topic, its type in the `event_type` header.
    Single(String),
    /// A topic per type: the pattern with `{type}` replaced by the type's name.
    PerType(String),
}

impl TopicLayout {
    /// A topic name, or a pattern when it holds `{type}`.
    pub fn parse(text: &str) -> Self {
        if text.contains(TYPE_PLACEHOLDER) {
            Self::PerType(text.to_owned())
        } else {
            Self::Single(text.to_owned())
        }
    }

    pub fn topic_for(&self, event_type: &str) -> String {
        match self {
            Self::Single(topic) => topic.clone(),
            Self::PerType(pattern) => pattern.replace(TYPE_PLACEHOLDER, event_type),
        }
    }

    /// Every topic of the layout for the catalog's types, in the catalog's order.
    pub fn topics(&self, catalog: &Catalog) -> Vec<String> {
        match self {
            Self::Single(topic) => vec![topic.clone()],
            Self::PerType(_) => catalog.names().iter().map(|t| self.topic_for(t)).collect(),
        }
    }
}

/// The topic of an event type in the built-in one-topic-per-type layout.
pub fn per_type_topic(event_type: &str) -> String {
    DEFAULT_PER_TYPE.replace(TYPE_PLACEHOLDER, event_type)
}

/// Topics as given on the command line or in a file: names, and patterns expanded for
/// every type of the catalog (`{type}`, `email-events.{type}`), without repeats.
pub fn expand_topics(given: &[String], catalog: &Catalog) -> Vec<String> {
    unique_topics(
        given
            .iter()
            .flat_map(|t| TopicLayout::parse(t).topics(catalog)),
    )
}

/// Topics in their first order, each once.
pub fn unique_topics(topics: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for topic in topics {
        if !out.contains(&topic) {
            out.push(topic);
        }
    }
    out
}

fn is_event_file(name: &str) -> bool {
    [".json", ".jsonl", ".yaml", ".yml"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn parse_schema(path: &str, text: &str) -> Result<Schema, CatalogError> {
    serde_norway::from_str(text).map_err(|err| {
        CatalogError::Schema(crate::located::Located::yaml(
            path,
            Some("invalid schema"),
            &err,
        ))
    })
}
