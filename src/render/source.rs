//! Where templates come from: the built-in `templates/` folder compiled into the binary, or a
//! user's directory with the same layout, read fresh on every load so edits show at once.
//!
//! Layout: `<type>/subject.txt`, `<type>/preheader.txt`, `<type>/body.html`,
//! `<type>/body.txt` (optional: derived from the HTML when missing), each with optional
//! locale variants (`body.de.html`); shared pieces under `_layout/` and `_partials/`;
//! per-locale strings in `_strings/<locale>.yaml`; sender and brand in `_config.yaml`.
//! A catalog folder with a `templates.yaml` instead names the team's own folder and layout
//! (see `layout.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};

use super::layout::{self, Layout};
use crate::exit_code::ErrorKind;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The parts of one email, each a template file.
pub const PARTS: [(&str, &str); 4] = [
    ("subject", "txt"),
    ("preheader", "txt"),
    ("body", "html"),
    ("body", "txt"),
];

/// A set of template files, by their path relative to the templates root.
#[derive(Debug, Clone)]
pub struct Templates {
    files: BTreeMap<String, String>,
    /// The directory they were read from; `None` for the built-in set.
    pub dir: Option<PathBuf>,
    pub config: SiteConfig,
    /// The team's layout, when the templates are the service's own.
    pub layout: Option<Layout>,
}

/// `_config.yaml`: who sends the mail and how links are tagged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    #[serde(default)]
    pub sender: Sender,
    /// Brand values the layout uses (name, colour, homepage...), free-form.
    #[serde(default)]
    pub brand: BTreeMap<String, String>,
    /// Query parameters the `track` filter adds to links (`utm_source: mailtest`...).
    #[serde(default)]
    pub tracking: BTreeMap<String, String>,
    /// The locale for events whose locale has no strings.
    #[serde(default = "english")]
    pub default_locale: String,
}

fn english() -> String {
    "en".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub name: String,
    pub email: String,
    /// The postal address shown in the footer, as transactional mail must carry one.
    #[serde(default)]
    pub address: String,
    /// Where recipients manage their email settings (`List-Unsubscribe`, footer link).
    #[serde(default)]
    pub preferences_url: Option<String>,
}

impl Default for Sender {
    fn default() -> Self {
        Self {
            name: "Example".to_owned(),
            email: "no-reply@example.com".to_owned(),
            address: String::new(),
            preferences_url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplatesError {
    #[error("cannot read templates directory `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(crate::located::Located),
}

impl TemplatesError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadInput
    }
}

impl Templates {
    /// The built-in templates.
    pub fn builtin() -> Result<Self, TemplatesError> {
        let mut files = BTreeMap::new();
        collect_builtin(&BUILTIN, &mut files);
        Self::with(files, None)
    }

    /// The templates a command renders with: the catalog folder's team layout when it has
    /// a `templates.yaml` (its folder replaced by `dir` when given), else `dir`, else the
    /// built-in set.
    pub fn load(dir: Option<&Path>, catalog: Option<&Path>) -> Result<Self, TemplatesError> {
        let layout = match catalog.map(|c| c.join(layout::FILE)) {
            Some(file) if file.is_file() => Some(read_layout(&file)?),
            _ => None,
        };
        let dir = dir.map(Path::to_owned).or_else(|| {
            let (catalog, layout) = (catalog?, layout.as_ref()?);
            Some(catalog.join(&layout.dir))
        });
        let Some(dir) = dir else {
            return Self::builtin();
        };
        let mut files = BTreeMap::new();
        collect_dir(&dir, &dir, &mut files).map_err(|source| TemplatesError::Read {
            path: dir.clone(),
            source,
        })?;
        let mut templates = Self::with(files, Some(dir))?;
        if let Some(layout) = layout {
            if let Some(sender) = &layout.sender {
                templates.config.sender = sender.clone();
            }
            templates
                .config
                .default_locale
                .clone_from(&layout.default_locale);
            templates.layout = Some(layout);
        }
        Ok(templates)
    }

    fn with(files: BTreeMap<String, String>, dir: Option<PathBuf>) -> Result<Self, TemplatesError> {
        let config = match files.get("_config.yaml") {
            None => SiteConfig {
                default_locale: english(),
                ..SiteConfig::default()
            },
            Some(text) => parse_yaml(text, &display(dir.as_deref(), "_config.yaml"))?,
        };
        Ok(Self {
            files,
            dir,
            config,
            layout: None,
        })
    }

    /// Whether these templates render `event_type`: every type with mailtest's layout,
    /// the types `templates.yaml` names with a team's.
    pub fn covers(&self, event_type: &str) -> bool {
        self.layout
            .as_ref()
            .is_none_or(|l| l.types.contains_key(event_type))
    }

    /// The first of `names` that exists.
    pub fn first(&self, names: &[String]) -> Option<String> {
        names.iter().find(|n| self.files.contains_key(*n)).cloned()
    }

    /// Every template's name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    /// The event types that have templates (folders not starting with `_`).
    pub fn types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self
            .files
            .keys()
            .filter_map(|k| k.split_once('/').map(|(t, _)| t))
            .filter(|t| !t.starts_with('_'))
            .collect();
        types.dedup();
        types
    }

    /// The template for one part of a type in a locale: `body.de-AT.html`, then
    /// `body.de.html`, then `body.html`.
    pub fn resolve(&self, event_type: &str, part: &str, ext: &str, locale: &str) -> Option<String> {
        let names: Vec<String> = locale_chain(locale)
            .iter()
            .map(|l| format!("{event_type}/{part}.{l}.{ext}"))
            .chain(std::iter::once(format!("{event_type}/{part}.{ext}")))
            .collect();
        self.first(&names)
    }

    /// The strings of a locale (`_strings/<locale>.yaml`, falling back by language, then
    /// to the default locale), and the locale they are for.
    pub fn strings(&self, locale: &str) -> Result<(String, serde_json::Value), TemplatesError> {
        let chain = locale_chain(locale);
        let found = chain
            .iter()
            .chain(std::iter::once(&self.config.default_locale))
            .find_map(|l| {
                let name = format!("_strings/{l}.yaml");
                self.files.get(&name).map(|text| (l.clone(), name, text))
            });
        match found {
            None => Ok((self.config.default_locale.clone(), serde_json::json!({}))),
            Some((l, name, text)) => {
                let value = parse_yaml(text, &display(self.dir.as_deref(), &name))?;
                Ok((l, value))
            }
        }
    }

    /// The locales with strings (`_strings/<locale>.yaml`), the default one first.
    pub fn locales(&self) -> Vec<String> {
        let mut locales = vec![self.config.default_locale.clone()];
        for name in self.files.keys() {
            if let Some(locale) = name
                .strip_prefix("_strings/")
                .and_then(|n| n.strip_suffix(".yaml"))
                && !locales.iter().any(|l| l == locale)
            {
                locales.push(locale.to_owned());
            }
        }
        locales
    }

    /// How a template's name is shown in messages: its path on disk, or `templates/...`.
    pub fn display(&self, name: &str) -> String {
        display(self.dir.as_deref(), name)
    }
}

fn display(dir: Option<&Path>, name: &str) -> String {
    match dir {
        Some(dir) => dir.join(name).display().to_string(),
        None => format!("templates/{name}"),
    }
}

/// `templates.yaml`, its errors at their line.
fn read_layout(file: &Path) -> Result<Layout, TemplatesError> {
    let text = std::fs::read_to_string(file).map_err(|source| TemplatesError::Read {
        path: file.to_owned(),
        source,
    })?;
    parse_yaml(&text, &file.display().to_string())
}

/// `de-AT` gives `["de-AT", "de"]`; `_` is taken as `-` too.
pub fn locale_chain(locale: &str) -> Vec<String> {
    let locale = locale.replace('_', "-");
    let mut chain = vec![locale.clone()];
    if let Some((language, _)) = locale.split_once('-') {
        chain.push(language.to_owned());
    }
    chain.retain(|l| !l.is_empty() && !l.contains(['/', '.']));
    chain
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, TemplatesError> {
    serde_norway::from_str(text)
        .map_err(|e| TemplatesError::Config(crate::located::Located::yaml(file, None, &e)))
}

fn collect_builtin(dir: &Dir<'static>, files: &mut BTreeMap<String, String>) {
    for file in dir.files() {
        if let Some(text) = file.contents_utf8() {
            let name = file.path().to_string_lossy().replace('\\', "/");
            files.insert(name, text.to_owned());
        }
    }
    for sub in dir.dirs() {
        collect_builtin(sub, files);
    }
}

fn collect_dir(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, String>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_dir(root, &path, files)?;
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            let name = path.strip_prefix(root).unwrap_or(&path);
            files.insert(name.to_string_lossy().replace('\\', "/"), text);
        }
    }
    Ok(())
}
