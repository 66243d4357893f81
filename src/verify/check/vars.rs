//! `{{ name }}` placeholders filled from an expectation file's vars and extractions, and
//! how values are shown in reasons.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::Pattern;

/// Part of the reason given when a placeholder has no value yet.
pub const UNSET: &str = "uses a variable that is not set";

/// Fills `{{ name }}` placeholders from the expectation file's vars and extractions. Only
/// that shape is a placeholder, so `{{` alone (say, in `not_contains: "{{"`) is literal.
pub struct Vars {
    placeholder: regex::Regex,
    pub values: BTreeMap<String, String>,
    /// Whether failed checks say why. Selecting among 100,000 messages only needs yes or
    /// no, and building a reason for every non-match would cost more than the check.
    pub explain: std::cell::Cell<bool>,
}

impl Vars {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        let placeholder =
            regex::Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").expect("valid regex");
        Self {
            placeholder,
            values,
            explain: std::cell::Cell::new(true),
        }
    }

    /// A reason, built only when explaining.
    pub fn why(&self, reason: impl FnOnce() -> String) -> String {
        if self.explain.get() {
            reason()
        } else {
            String::new()
        }
    }

    pub fn fill<'s>(&self, text: &'s str) -> Result<Cow<'s, str>, String> {
        if !text.contains("{{") {
            return Ok(Cow::Borrowed(text));
        }
        let mut missing = None;
        let filled = self
            .placeholder
            .replace_all(text, |caps: &regex::Captures| {
                self.values.get(&caps[1]).cloned().unwrap_or_else(|| {
                    missing = Some(caps[1].to_owned());
                    String::new()
                })
            });
        match missing {
            // Always explained: it is how a waiting expectation is told from a failing one.
            Some(name) => Err(format!("`{text}` {UNSET}: `{name}` (not extracted yet?)")),
            None => Ok(filled),
        }
    }

    pub(super) fn regex(&self, pattern: &Pattern) -> Result<Cow<'_, regex::Regex>, String> {
        match pattern {
            Pattern::Ready(r) => Ok(Cow::Owned(r.clone())),
            Pattern::Template(t) => {
                let text = self.fill(t)?;
                regex::Regex::new(&text)
                    .map(Cow::Owned)
                    .map_err(|e| format!("invalid regex `{text}`: {e}"))
            }
        }
    }
}

/// A value shown in a reason, shortened.
pub fn show(text: &str) -> String {
    let one_line = text.replace(['\r', '\n'], " ");
    if one_line.chars().count() > 60 {
        format!("{:?}…", one_line.chars().take(60).collect::<String>())
    } else {
        format!("{one_line:?}")
    }
}
