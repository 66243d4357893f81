//! The expectations file: which mail must (or must not) arrive and what it must contain.
//! Unknown keys, bad regexes, durations and sizes are errors with line and column, found
//! while parsing so that they carry their place in the file.

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use super::check::Check;

use crate::exit_code::ErrorKind;

/// Errors in an expectations file (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(crate::located::Located),
    #[error("{file}: {message}")]
    Semantic { file: String, message: String },
}

impl SpecError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::BadInput
    }
}

/// A whole expectations file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// How long to wait for expectations to be met (default 30 s).
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    /// Only mail of this mailbox (test run) is considered.
    #[serde(default)]
    pub mailbox: Option<String>,
    /// Values `{{ name }}` stands for in any string below.
    #[serde(default)]
    pub vars: IndexMap<String, String>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Celery task states in the result backend (`verify --celery-results`).
    pub celery: Option<super::celery::CelerySpec>,
}

impl Spec {
    /// Whether any expectation has a `spam_check` condition.
    pub fn uses_spam_check(&self) -> bool {
        self.expect
            .iter()
            .any(|e| e.select.spam_check.is_some() || e.assert.spam_check.is_some())
    }
}

/// One expectation: which messages it is about, how many, and what they must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub name: String,
    /// Conditions that select the messages this expectation is about (all must hold).
    #[serde(rename = "match", default)]
    pub select: Fields,
    /// How many messages must match (default: at least one).
    #[serde(default)]
    pub count: Count,
    /// How long to watch before the count is final (for `count: 0` and upper bounds).
    #[serde(default, deserialize_with = "duration")]
    pub within: Option<Duration>,
    /// What every matched message must hold.
    #[serde(default)]
    pub assert: Fields,
    /// Values to take from the first matched message, for later expectations and scripts.
    #[serde(default)]
    pub extract: IndexMap<String, Extract>,
}

/// Conditions on the parts of a message; absent ones are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub subject: Option<Check>,
    pub from: Option<Check>,
    /// Recipients in `To`, and in the envelope when the source has one (so BCC counts).
    pub to: Option<Check>,
    pub cc: Option<Check>,
    pub envelope: Option<EnvelopeFields>,
    #[serde(default)]
    pub headers: IndexMap<String, Check>,
    pub text: Option<Check>,
    pub html: Option<Check>,
    /// The `href`s of the HTML part, else the URLs in the text part.
    pub links: Option<Check>,
    pub attachments: Option<AttachmentFields>,
    /// The message size in bytes (`102KB` style limits allowed).
    pub size: Option<Check>,
    pub mailbox: Option<Check>,
    /// How it was sent: through a provider's HTTP API, and what the request carried.
    pub provider: Option<ProviderFields>,
    /// This message arrived after the messages of the named expectation.
    pub arrives_after: Option<String>,
    /// The message equals what the templates render for its event.
    pub matches_render: Option<Golden>,
    /// How well email clients support its HTML (caniemail.com's data).
    pub html_check: Option<HtmlCheckFields>,
    /// Its links answer.
    pub link_check: Option<LinkCheckFields>,
    /// What a SpamAssassin daemon scores it (`verify --spamassassin`).
    pub spam_check: Option<SpamCheckFields>,
}

/// Conditions on the HTML check: Mailpit's totals in percent and the features found.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmlCheckFields {
    pub supported: Option<Check>,
    pub partial: Option<Check>,
    pub unsupported: Option<Check>,
    /// The caniemail slugs of the features used (`css-display-flex`, `html-script`).
    pub features: Option<Check>,
}

/// Conditions on the link check: which links fail (an error status or no answer).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCheckFields {
    /// The broken links' URLs (`{max: 0}`: none).
    pub broken: Option<Check>,
    /// Follow redirects, each hop checked (default true).
    #[serde(default = "yes")]
    pub follow: bool,
    /// Request loopback and private addresses too (default false: they count as broken).
    #[serde(default)]
    pub internal: bool,
}

fn yes() -> bool {
    true
}

/// Conditions on the spam check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamCheckFields {
    /// The score, to one decimal (`{max: 4.9}`).
    pub score: Option<Check>,
    /// The names of the rules that hit (`{not_contains: MISSING_DATE}`).
    pub rules: Option<Check>,
    /// `false`: under SpamAssassin's threshold of 5.
    pub is_spam: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeFields {
    pub mail_from: Option<Check>,
    pub rcpt_to: Option<Check>,
}

/// Conditions on a send through a provider's HTTP API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFields {
    /// `sendgrid`, `ses`, `postmark`, `resend` or `mailgun`; `smtp` for mail that came over
    /// SMTP.
    pub name: Option<Check>,
    /// What the request carried besides the mail, by dotted path into it as the API shows
    /// it (`categories`, `tags.flow`, `custom_args.order_id`, `template_id`).
    #[serde(default)]
    pub metadata: IndexMap<String, Check>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentFields {
    pub count: Option<Check>,
    pub names: Option<Check>,
    pub types: Option<Check>,
    /// Each attachment's size in bytes.
    pub sizes: Option<Check>,
}

/// `matches_render: true`, or the event to render: a catalog fixture, an event file, or the
/// record on Kafka that caused the message.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Golden {
    On(bool),
    Fixture {
        fixture: String,
    },
    Event {
        event: std::path::PathBuf,
    },
    /// `{from: kafka}`: by the event id in a header of the message (`by: id`, the default;
    /// `header:` names it, else `X-Mailtest-Event-Id`), or by the record key equal to the
    /// message's recipient (`by: key`, for services that key events by address).
    Kafka {
        from: FromKafka,
        #[serde(default)]
        by: By,
        header: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FromKafka {
    Kafka,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    #[default]
    Id,
    Key,
}

/// `count: 2` or `count: {min: 1, max: 3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Count {
    Exactly(usize),
    Range {
        #[serde(default)]
        min: Option<usize>,
        #[serde(default)]
        max: Option<usize>,
    },
}

impl Default for Count {
    fn default() -> Self {
        Self::Range {
            min: Some(1),
            max: None,
        }
    }
}

impl Count {
    pub fn min(self) -> usize {
        match self {
            Self::Exactly(n) => n,
            Self::Range { min, .. } => min.unwrap_or(0),
        }
    }

    pub fn max(self) -> Option<usize> {
        match self {
            Self::Exactly(n) => Some(n),
            Self::Range { max, .. } => max,
        }
    }

    pub fn holds(self, n: usize) -> bool {
        n >= self.min() && self.max().is_none_or(|max| n <= max)
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.min(), self.max()) {
            (min, Some(max)) if min == max => write!(f, "{min}"),
            (0, Some(max)) => write!(f, "at most {max}"),
            (min, Some(max)) => write!(f, "{min} to {max}"),
            (min, None) => write!(f, "at least {min}"),
        }
    }
}

/// Where a value comes from and the regex that picks it (its first group, else the match).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extract {
    pub from: ExtractFrom,
    #[serde(deserialize_with = "super::check::regex")]
    pub regex: regex::Regex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractFrom {
    Subject,
    Text,
    Html,
    Links,
}

pub(crate) fn duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse::<crate::value::Span>()
        .map(|s| Some(s.0))
        .map_err(|e| serde::de::Error::custom(format!("invalid duration `{text}`: {e}")))
}

/// A YAML file's name for messages, and its text.
pub(crate) fn read(path: &Path) -> Result<(String, String), SpecError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(source) => Err(SpecError::Read { path: file, source }),
    }
}

/// Parses YAML into `T`, errors carrying the file, line and column.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, SpecError> {
    serde_norway::from_str(text)
        .map_err(|e| SpecError::Invalid(crate::located::Located::yaml(file, None, &e)))
}

impl Spec {
    /// Reads and checks an expectations file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let (file, text) = read(path)?;
        Self::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Self, SpecError> {
        let spec: Self = parse_yaml(file, text)?;
        spec.check_names(file)?;
        Ok(spec)
    }

    /// Names are unique and `arrives_after` names an earlier expectation.
    pub(crate) fn check_names(&self, file: &str) -> Result<(), SpecError> {
        let semantic = |message: String| SpecError::Semantic {
            file: file.to_owned(),
            message,
        };
        for (i, e) in self.expect.iter().enumerate() {
            let earlier = &self.expect[..i];
            if earlier.iter().any(|o| o.name == e.name) {
                return Err(semantic(format!("two expectations are named `{}`", e.name)));
            }
            for after in [&e.select.arrives_after, &e.assert.arrives_after]
                .into_iter()
                .flatten()
            {
                if !earlier.iter().any(|o| &o.name == after) {
                    return Err(semantic(format!(
                        "`{}`: arrives_after names `{after}`, which is not an earlier expectation",
                        e.name
                    )));
                }
            }
        }
        Ok(())
    }
}
