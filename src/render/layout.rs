//! A team's own template layout, read from a catalog folder's `templates.yaml`: which of the
//! service's Jinja2 files each event type renders with (one HTML file per email, the subject
//! in a block, a side file or inline), what the templates see, and the service's Jinja2
//! settings, so previews, lints and golden checks show exactly what the service sends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::source::Sender;

/// The file a catalog folder describes its team's templates in.
pub const FILE: &str = "templates.yaml";

/// `templates.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// The service's template folder, relative to the catalog folder.
    #[serde(default = "here")]
    pub dir: PathBuf,
    /// How undefined variables behave, as the service's `jinja2.Environment(undefined=...)`.
    #[serde(default)]
    pub undefined: Undefined,
    /// Which templates escape HTML, as the service's `autoescape=` setting.
    #[serde(default)]
    pub autoescape: Autoescape,
    /// Whether the service inlines CSS before sending (premailer, css-inline...).
    #[serde(default)]
    pub inline_css: bool,
    /// Values the service passes to every template (app name, support address...).
    #[serde(default)]
    pub globals: Map<String, Value>,
    /// Who the service's mail is from.
    #[serde(default)]
    pub sender: Option<Sender>,
    /// The locale for events whose locale has no template (`{locale}` in file names).
    #[serde(default = "english")]
    pub default_locale: String,
    /// Each event type's templates, by catalog type name.
    pub types: BTreeMap<String, TypeTemplates>,
}

fn here() -> PathBuf {
    PathBuf::from(".")
}

fn english() -> String {
    "en".to_owned()
}

/// The templates of one event type. File names are relative to the template folder and may
/// hold `{locale}` (`emails/{locale}/verify.html`), tried as `de-AT`, `de`, then the default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeTemplates {
    pub html: String,
    pub subject: Part,
    #[serde(default)]
    pub preheader: Option<Part>,
    /// The text part's template; without one the text is derived from the HTML.
    #[serde(default)]
    pub text: Option<String>,
    /// Variables the service names differently from the event: name to a dotted path into
    /// the event (`recipient.email`, `data.user.name`, `event_id`).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// Where a subject or preheader comes from: `{block: subject}`, `{file: x.txt}` or
/// `{text: "Hi {{ name }}"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "PartSpec")]
pub enum Part {
    /// A block of the HTML template (`{% block subject %}`).
    Block(String),
    /// A template file of its own.
    File(String),
    /// A template written here.
    Text(String),
}

/// A [`Part`] as written: one key of three.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartSpec {
    block: Option<String>,
    file: Option<String>,
    text: Option<String>,
}

impl TryFrom<PartSpec> for Part {
    type Error = &'static str;

    fn try_from(spec: PartSpec) -> Result<Self, Self::Error> {
        match (spec.block, spec.file, spec.text) {
            (Some(block), None, None) => Ok(Self::Block(block)),
            (None, Some(file), None) => Ok(Self::File(file)),
            (None, None, Some(text)) => Ok(Self::Text(text)),
            _ => Err("expected one of `block`, `file` or `text`"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Undefined {
    /// Jinja2's default `Undefined`: prints as nothing, false in tests.
    #[default]
    Lenient,
    /// `ChainableUndefined`: attributes of undefined values are undefined too.
    Chainable,
    /// `StrictUndefined`: any use is an error.
    Strict,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Autoescape {
    /// `select_autoescape()`: `.html`, `.htm` and `.xml` templates escape.
    #[default]
    Html,
    /// `autoescape=True`.
    All,
    /// `autoescape=False`, Jinja2's own default.
    None,
}

impl Undefined {
    pub fn behavior(self) -> minijinja::UndefinedBehavior {
        match self {
            Self::Lenient => minijinja::UndefinedBehavior::Lenient,
            Self::Chainable => minijinja::UndefinedBehavior::Chainable,
            Self::Strict => minijinja::UndefinedBehavior::Strict,
        }
    }
}

impl Autoescape {
    /// Whether the template `name` escapes HTML.
    pub fn escapes(self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::Html => Path::new(name).extension().is_some_and(|e| {
                ["html", "htm", "xml"]
                    .iter()
                    .any(|x| e.eq_ignore_ascii_case(x))
            }),
        }
    }
}

impl TypeTemplates {
    /// The variables the type's templates see: the event's data fields at the top level
    /// (as a service passes its payload: `render(**event)`), the globals, then `vars`.
    pub fn context(&self, globals: &Map<String, Value>, event: &Value) -> Map<String, Value> {
        let mut vars = match event.get("data") {
            Some(Value::Object(data)) => data.clone(),
            _ => Map::new(),
        };
        vars.extend(globals.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (name, path) in &self.vars {
            let value = path
                .split('.')
                .try_fold(event, |v, part| v.get(part))
                .cloned()
                .unwrap_or(Value::Null);
            vars.insert(name.clone(), value);
        }
        vars
    }
}

/// The file names `{locale}` in `pattern` stands for, best first.
pub fn candidates(pattern: &str, chain: &[String], default_locale: &str) -> Vec<String> {
    if !pattern.contains("{locale}") {
        return vec![pattern.to_owned()];
    }
    chain
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(default_locale))
        .map(|l| pattern.replace("{locale}", l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_layout_reads_as_a_team_would_write_it() {
        let layout: Layout = serde_norway::from_str(
            "dir: ../app/templates\nundefined: strict\nglobals: {app_name: Acme}\n\
             types:\n  email_verification:\n    html: emails/{locale}/verify.html\n    \
             subject: {block: subject}\n    vars: {to: recipient.email}\n",
        )
        .unwrap();
        assert_eq!(layout.undefined, Undefined::Strict);
        assert_eq!(layout.autoescape, Autoescape::Html);
        let ty = &layout.types["email_verification"];
        assert_eq!(ty.subject, Part::Block("subject".to_owned()));
        let event = json!({"recipient": {"email": "a@example.com"}, "data": {"link": "x"}});
        let ctx = ty.context(&layout.globals, &event);
        assert_eq!(
            Value::Object(ctx),
            json!({"link": "x", "app_name": "Acme", "to": "a@example.com"})
        );
        let chain = ["de-AT".to_owned(), "de".to_owned()];
        assert_eq!(
            candidates(&ty.html, &chain, "en"),
            [
                "emails/de-AT/verify.html",
                "emails/de/verify.html",
                "emails/en/verify.html"
            ]
        );
        assert!(Autoescape::Html.escapes("base.HTM") && !Autoescape::Html.escapes("s.txt"));
    }
}
