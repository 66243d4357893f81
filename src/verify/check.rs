//! One condition on one part of a message: `equals`, `contains` (one or all of a list),
//! `not_contains`, `regex`, `not_regex`, `all_match`, `exists`, `one_of`, `min`, `max`,
//! on a text (subject, body), a list (recipients, links) or a number (size), with
//! `{{ var }}` placeholders filled in when checked.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// A condition as written: a plain value means `equals`.
#[derive(Debug, Clone)]
pub struct Check(Box<Ops>);

impl Check {
    fn equals(value: String) -> Self {
        Self(Box::new(Ops {
            equals: Some(value),
            ..Ops::default()
        }))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    #[serde(default, deserialize_with = "scalar_opt")]
    pub equals: Option<String>,
    pub contains: Option<OneOrMany>,
    pub not_contains: Option<OneOrMany>,
    #[serde(default, deserialize_with = "pattern_opt")]
    pub regex: Option<Pattern>,
    #[serde(default, deserialize_with = "pattern_opt")]
    pub not_regex: Option<Pattern>,
    /// Lists: every element matches (and there is at least one).
    #[serde(default, deserialize_with = "pattern_opt")]
    pub all_match: Option<Pattern>,
    pub exists: Option<bool>,
    pub one_of: Option<Vec<Scalar>>,
    /// Numbers: the value; lists: how many; texts: how many characters.
    #[serde(default, deserialize_with = "amount_opt")]
    pub min: Option<u64>,
    #[serde(default, deserialize_with = "amount_opt")]
    pub max: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A string, number or boolean written in YAML, compared as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Int(n) => n.to_string(),
            Self::Float(n) => n.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

/// A regex: compiled while parsing (so errors have a line), unless it has placeholders.
#[derive(Debug, Clone)]
pub enum Pattern {
    Ready(regex::Regex),
    Template(String),
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Check;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value, or a map of conditions (equals, contains, regex...)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Check, E> {
                Ok(Check::equals(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Check, E> {
                Ok(Check::equals(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Check, E> {
                Ok(Check::equals(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Check, E> {
                Ok(Check::equals(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Check, E> {
                Ok(Check::equals(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Check, A::Error> {
                let ops = Ops::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Check(Box::new(ops)))
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn scalar_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Scalar::deserialize(d)?.text()))
}

pub fn regex<'de, D: Deserializer<'de>>(d: D) -> Result<regex::Regex, D::Error> {
    let text = String::deserialize(d)?;
    regex::Regex::new(&text).map_err(|e| serde::de::Error::custom(format!("invalid regex: {e}")))
}

fn pattern_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Pattern>, D::Error> {
    let text = String::deserialize(d)?;
    if text.contains("{{") {
        return Ok(Some(Pattern::Template(text)));
    }
    regex::Regex::new(&text)
        .map(|r| Some(Pattern::Ready(r)))
        .map_err(|e| serde::de::Error::custom(format!("invalid regex: {e}")))
}

fn amount_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Int(n) if n >= 0 => Ok(Some(n as u64)),
        Scalar::Text(t) => crate::settings::parse_size("amount", &t)
            .map(Some)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "invalid amount `{t}`: expected a whole number or a size such as 100KB"
                ))
            }),
        other => Err(serde::de::Error::custom(format!(
            "invalid amount `{}`: expected a whole number or a size such as 100KB",
            other.text()
        ))),
    }
}

/// What a check looks at.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Text(Option<&'a str>),
    /// Addresses compare case-insensitively; other lists exactly.
    List(&'a [String], bool),
    Number(u64),
}

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

    fn regex(&self, pattern: &Pattern) -> Result<Cow<'_, regex::Regex>, String> {
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

impl Check {
    /// The value, when the check is a plain `equals` without placeholders (indexable).
    pub fn literal(&self) -> Option<&str> {
        let ops = &*self.0;
        let plain = ops.contains.is_none()
            && ops.not_contains.is_none()
            && ops.regex.is_none()
            && ops.not_regex.is_none()
            && ops.all_match.is_none()
            && ops.exists.is_none()
            && ops.one_of.is_none()
            && ops.min.is_none()
            && ops.max.is_none();
        ops.equals.as_deref().filter(|v| plain && !v.contains("{{"))
    }

    /// Ok, or why `what` fails the check (an empty reason when `vars` is not explaining).
    pub fn eval(&self, what: &str, target: Target, vars: &Vars) -> Result<(), String> {
        self.0.eval(what, target, vars)
    }
}

impl Ops {
    fn eval(&self, what: &str, target: Target, vars: &Vars) -> Result<(), String> {
        if let Some(exists) = self.exists {
            let present = match target {
                Target::Text(t) => t.is_some(),
                Target::List(l, _) => !l.is_empty(),
                Target::Number(_) => true,
            };
            if present != exists {
                let state = if present { "is present" } else { "is missing" };
                return Err(vars.why(|| format!("{what} {state}")));
            }
        }
        match target {
            Target::Text(text) => self.eval_text(what, text, vars),
            Target::List(items, caseless) => self.eval_list(what, items, caseless, vars),
            Target::Number(n) => self.eval_number(what, n, vars),
        }
    }

    fn eval_number(&self, what: &str, n: u64, vars: &Vars) -> Result<(), String> {
        if let Some(expected) = &self.equals {
            let expected = vars.fill(expected)?;
            if n.to_string() != *expected {
                return Err(vars.why(|| format!("{what} is {n}, not {expected}")));
            }
        }
        bounds(vars, what, n, (self.min, self.max), "")
    }

    fn eval_text(&self, what: &str, text: Option<&str>, vars: &Vars) -> Result<(), String> {
        let needs_value = self.equals.is_some()
            || self.contains.is_some()
            || self.regex.is_some()
            || self.one_of.is_some()
            || self.min.is_some();
        let Some(text) = text else {
            return if needs_value {
                Err(vars.why(|| format!("{what} is missing")))
            } else {
                Ok(())
            };
        };
        if let Some(expected) = &self.equals {
            let expected = vars.fill(expected)?;
            if text != expected {
                return Err(
                    vars.why(|| format!("{what} is {}, not {}", show(text), show(&expected)))
                );
            }
        }
        for needle in self.contains.iter().flat_map(OneOrMany::items) {
            let needle = vars.fill(needle)?;
            if !text.contains(&*needle) {
                return Err(vars
                    .why(|| format!("{what} {} does not contain {}", show(text), show(&needle))));
            }
        }
        for needle in self.not_contains.iter().flat_map(OneOrMany::items) {
            let needle = vars.fill(needle)?;
            if text.contains(&*needle) {
                return Err(vars.why(|| format!("{what} contains {}", show(&needle))));
            }
        }
        if let Some(p) = &self.regex {
            let re = vars.regex(p)?;
            if !re.is_match(text) {
                return Err(
                    vars.why(|| format!("{what} {} does not match /{}/", show(text), re.as_str()))
                );
            }
        }
        if let Some(p) = &self.not_regex {
            let re = vars.regex(p)?;
            if let Some(m) = re.find(text) {
                return Err(vars
                    .why(|| format!("{what} matches /{}/ at {}", re.as_str(), show(m.as_str()))));
            }
        }
        if let Some(options) = &self.one_of {
            let options: Vec<String> = options.iter().map(Scalar::text).collect();
            if !options.iter().any(|o| o == text) {
                return Err(
                    vars.why(|| format!("{what} is {}, not one of {options:?}", show(text)))
                );
            }
        }
        let chars = if self.min.is_some() || self.max.is_some() {
            text.chars().count()
        } else {
            0
        };
        bounds(
            vars,
            what,
            chars as u64,
            (self.min, self.max),
            " characters",
        )
    }

    fn eval_list(
        &self,
        what: &str,
        items: &[String],
        caseless: bool,
        vars: &Vars,
    ) -> Result<(), String> {
        let same = |a: &str, b: &str| {
            if caseless {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let has = |a: &str, b: &str| {
            if caseless {
                a.to_lowercase().contains(&b.to_lowercase())
            } else {
                a.contains(b)
            }
        };
        let shown = || format!("{items:?}");
        if let Some(expected) = &self.equals {
            let expected = vars.fill(expected)?;
            if !items.iter().any(|i| same(i, &expected)) {
                return Err(
                    vars.why(|| format!("{what} {} does not include {}", shown(), show(&expected)))
                );
            }
        }
        for needle in self.contains.iter().flat_map(OneOrMany::items) {
            let needle = vars.fill(needle)?;
            if !items.iter().any(|i| has(i, &needle)) {
                return Err(vars.why(|| {
                    format!(
                        "{what} {} has nothing containing {}",
                        shown(),
                        show(&needle)
                    )
                }));
            }
        }
        for needle in self.not_contains.iter().flat_map(OneOrMany::items) {
            let needle = vars.fill(needle)?;
            if let Some(found) = items.iter().find(|i| has(i, &needle)) {
                return Err(
                    vars.why(|| format!("{what} has {} containing {}", show(found), show(&needle)))
                );
            }
        }
        if let Some(p) = &self.regex {
            let re = vars.regex(p)?;
            if !items.iter().any(|i| re.is_match(i)) {
                return Err(
                    vars.why(|| format!("no {what} of {} matches /{}/", shown(), re.as_str()))
                );
            }
        }
        if let Some(p) = &self.not_regex {
            let re = vars.regex(p)?;
            if let Some(found) = items.iter().find(|i| re.is_match(i)) {
                return Err(
                    vars.why(|| format!("{what} {} matches /{}/", show(found), re.as_str()))
                );
            }
        }
        if let Some(p) = &self.all_match {
            let re = vars.regex(p)?;
            if items.is_empty() {
                return Err(vars.why(|| format!("there are no {what}")));
            }
            if let Some(bad) = items.iter().find(|i| !re.is_match(i)) {
                return Err(
                    vars.why(|| format!("{what} {} does not match /{}/", show(bad), re.as_str()))
                );
            }
        }
        if let Some(options) = &self.one_of {
            let options: Vec<String> = options.iter().map(Scalar::text).collect();
            if let Some(bad) = items.iter().find(|i| !options.iter().any(|o| same(i, o))) {
                return Err(vars.why(|| format!("{what} {} is not one of {options:?}", show(bad))));
            }
        }
        if self.min.is_none() && self.max.is_none() {
            return Ok(());
        }
        bounds(
            vars,
            &format!("the number of {what}"),
            items.len() as u64,
            (self.min, self.max),
            "",
        )
    }
}

fn bounds(
    vars: &Vars,
    what: &str,
    n: u64,
    (min, max): (Option<u64>, Option<u64>),
    unit: &str,
) -> Result<(), String> {
    if let Some(min) = min.filter(|&m| n < m) {
        return Err(vars.why(|| format!("{what} is {n}{unit}, under the minimum {min}")));
    }
    if let Some(max) = max.filter(|&m| n > m) {
        return Err(vars.why(|| format!("{what} is {n}{unit}, over the maximum {max}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Check {
        serde_norway::from_str(yaml).unwrap()
    }

    fn vars() -> Vars {
        Vars::new(BTreeMap::from([(
            "user".to_owned(),
            "alice@example.com".to_owned(),
        )]))
    }

    /// Each kind of condition, with a target it passes and one it fails.
    #[test]
    fn every_condition_passes_and_fails() {
        let text = |s: &'static str| Target::Text(Some(s));
        let list = [
            "Alice@Example.com".to_owned(),
            "audit@example.com".to_owned(),
        ];
        let links = [
            "https://a.example/x".to_owned(),
            "http://b.example".to_owned(),
        ];
        let cases: Vec<(&str, Target, Target)> = vec![
            ("Welcome", text("Welcome"), text("welcome")),
            (
                "{equals: '{{ user }}'}",
                text("alice@example.com"),
                text("bob@example.com"),
            ),
            ("{contains: Verify}", text("Verify now"), text("verify now")),
            ("{contains: [a, b]}", text("a and b"), text("a only")),
            ("{not_contains: '{{'}", text("clean"), text("Hi {{ name }}")),
            ("{regex: '^Order \\d+$'}", text("Order 42"), text("Order x")),
            ("{not_regex: 'token='}", text("none"), text("?token=1")),
            ("{exists: true}", text(""), Target::Text(None)),
            ("{exists: false}", Target::Text(None), text("x")),
            ("{one_of: [a, b]}", text("b"), text("c")),
            ("{min: 3, max: 5}", text("four"), text("toolong")),
            (
                "alice@example.com",
                Target::List(&list, true),
                Target::List(&list[1..], true),
            ),
            (
                "{contains: audit}",
                Target::List(&list, true),
                Target::List(&list[..1], true),
            ),
            (
                "{not_contains: audit}",
                Target::List(&list[..1], true),
                Target::List(&list, true),
            ),
            (
                "{regex: '^http:'}",
                Target::List(&links, false),
                Target::List(&links[..1], false),
            ),
            (
                "{all_match: '^https:'}",
                Target::List(&links[..1], false),
                Target::List(&links, false),
            ),
            (
                "{all_match: '^https:'}",
                Target::List(&links[..1], false),
                Target::List(&[], false),
            ),
            (
                "{min: 2}",
                Target::List(&links, false),
                Target::List(&links[..1], false),
            ),
            (
                "{max: 102KB}",
                Target::Number(4000),
                Target::Number(200_000),
            ),
            ("0", Target::Number(0), Target::Number(1)),
        ];
        for (yaml, pass, fail) in cases {
            let c = check(yaml);
            assert_eq!(c.eval("it", pass, &vars()), Ok(()), "{yaml} should pass");
            assert!(c.eval("it", fail, &vars()).is_err(), "{yaml} should fail");
        }
    }

    #[test]
    fn reasons_say_what_differed() {
        let c = check("{contains: Verify}");
        assert_eq!(
            c.eval("subject", Target::Text(Some("Welcome")), &vars())
                .unwrap_err(),
            "subject \"Welcome\" does not contain \"Verify\""
        );
        let c = check("{max: 10}");
        assert_eq!(
            c.eval("size", Target::Number(11), &vars()).unwrap_err(),
            "size is 11, over the maximum 10"
        );
    }

    #[test]
    fn placeholders_wait_for_their_value() {
        let c = check("{contains: '{{ token }}'}");
        let reason = c
            .eval("text", Target::Text(Some("x")), &vars())
            .unwrap_err();
        assert!(
            reason.contains(UNSET) && reason.contains("`token`"),
            "{reason}"
        );
    }

    #[test]
    fn bad_conditions_are_refused_where_they_are() {
        let err = serde_norway::from_str::<Check>("{contians: x}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `contians`"), "{err}");
        let err = serde_norway::from_str::<Check>("{regex: '(unclosed'}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid regex"), "{err}");
        let err = serde_norway::from_str::<Check>("{max: lots}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid amount `lots`"), "{err}");
    }
}
