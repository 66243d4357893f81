//! Checking a condition against a text, a list or a number, and the reason it fails.

use super::vars::{Vars, show};
use super::{Check, OneOrMany, Ops, Pattern, Scalar, Target};

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
                Target::Number(_) | Target::Decimal(_) => true,
            };
            if present != exists {
                let state = if present { "is present" } else { "is missing" };
                return Err(vars.why(|| format!("{what} {state}")));
            }
        }
        match target {
            Target::Text(text) => self.eval_text(what, text, vars),
            Target::List(items, caseless) => self.eval_list(what, items, caseless, vars),
            Target::Number(n) => self.eval_number(what, &n.to_string(), n as f64, vars),
            Target::Decimal(n) => self.eval_number(what, &format!("{n:.1}"), n, vars),
        }
    }

    /// A number, shown as `shown` and compared as written when `equals`.
    fn eval_number(&self, what: &str, shown: &str, n: f64, vars: &Vars) -> Result<(), String> {
        if let Some(expected) = &self.equals {
            let expected = vars.fill(expected)?;
            let same = expected.parse::<f64>().is_ok_and(|e| (e - n).abs() < 1e-9);
            if *shown != *expected && !same {
                return Err(vars.why(|| format!("{what} is {shown}, not {expected}")));
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
        self.ladder(&Value::Text(text), what, vars)?;
        let chars = if self.min.is_some() || self.max.is_some() {
            text.chars().count()
        } else {
            0
        };
        bounds(
            vars,
            what,
            chars as f64,
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
        self.ladder(&Value::List(items, caseless), what, vars)?;
        if self.min.is_none() && self.max.is_none() {
            return Ok(());
        }
        bounds(
            vars,
            &format!("the number of {what}"),
            items.len() as f64,
            (self.min, self.max),
            "",
        )
    }

    /// The conditions a text and a list share, in order; a list passes `equals`,
    /// `contains` and `regex` when one item does, and `not_contains`, `not_regex` and
    /// `one_of` when every item does.
    fn ladder(&self, value: &Value, what: &str, vars: &Vars) -> Result<(), String> {
        if let Some(expected) = &self.equals {
            let expected = vars.fill(expected)?;
            if value.find(|i| value.same(i, &expected)).is_none() {
                return Err(vars.why(|| value.not_equal(what, &expected)));
            }
        }
        for needle in self.contains.iter().flat_map(OneOrMany::items) {
            let needle = vars.fill(needle)?;
            if value.find(|i| value.has(i, &needle)).is_none() {
                return Err(vars.why(|| value.lacks(what, &needle)));
            }
        }
        for needle in self.not_contains.iter().flat_map(OneOrMany::items) {
            let needle = vars.fill(needle)?;
            if let Some(found) = value.find(|i| value.has(i, &needle)) {
                return Err(vars.why(|| value.has_unwanted(what, found, &needle)));
            }
        }
        self.patterns(value, what, vars)?;
        if let Some(options) = &self.one_of {
            let options: Vec<String> = options.iter().map(Scalar::text).collect();
            if let Some(bad) = value.find(|i| !options.iter().any(|o| value.same(i, o))) {
                return Err(vars.why(|| value.not_one_of(what, bad, &options)));
            }
        }
        Ok(())
    }

    /// `regex` and `not_regex` of the ladder.
    fn patterns(&self, value: &Value, what: &str, vars: &Vars) -> Result<(), String> {
        if let Some(p) = &self.regex {
            let re = vars.regex(p)?;
            if value.find(|i| re.is_match(i)).is_none() {
                return Err(vars.why(|| match value {
                    Value::Text(t) => {
                        format!("{what} {} does not match /{}/", show(t), re.as_str())
                    }
                    Value::List(..) => {
                        format!("no {what} of {} matches /{}/", value.shown(), re.as_str())
                    }
                }));
            }
        }
        if let Some(p) = &self.not_regex {
            let re = vars.regex(p)?;
            if let Some(found) = value.find(|i| re.is_match(i)) {
                // A text names the part that matched; a list, the item.
                let shown = match value {
                    Value::Text(t) => re.find(t).map_or("", |m| m.as_str()),
                    Value::List(..) => found,
                };
                return Err(vars.why(|| match value {
                    Value::Text(_) => {
                        format!("{what} matches /{}/ at {}", re.as_str(), show(shown))
                    }
                    Value::List(..) => format!("{what} {} matches /{}/", show(shown), re.as_str()),
                }));
            }
        }
        match (&self.all_match, value) {
            (Some(p), Value::List(items, _)) => all_match(p, items, what, vars),
            _ => Ok(()),
        }
    }
}

/// Lists only: every item matches, and there is one.
fn all_match(p: &Pattern, items: &[String], what: &str, vars: &Vars) -> Result<(), String> {
    let re = vars.regex(p)?;
    if items.is_empty() {
        return Err(vars.why(|| format!("there are no {what}")));
    }
    match items.iter().find(|i| !re.is_match(i)) {
        Some(bad) => {
            Err(vars.why(|| format!("{what} {} does not match /{}/", show(bad), re.as_str())))
        }
        None => Ok(()),
    }
}

/// What the ladder of conditions looks at: a text as itself, or a list by its items
/// (addresses compared without regard to case).
enum Value<'a> {
    Text(&'a str),
    List(&'a [String], bool),
}

impl<'a> Value<'a> {
    /// The first item (a text is its own only item) for which `test` holds.
    fn find(&self, mut test: impl FnMut(&str) -> bool) -> Option<&'a str> {
        match self {
            Self::Text(t) => test(t).then_some(*t),
            Self::List(items, _) => items.iter().map(String::as_str).find(|i| test(i)),
        }
    }

    fn caseless(&self) -> bool {
        matches!(self, Self::List(_, true))
    }

    fn same(&self, a: &str, b: &str) -> bool {
        if self.caseless() {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    fn has(&self, a: &str, b: &str) -> bool {
        if self.caseless() {
            a.to_lowercase().contains(&b.to_lowercase())
        } else {
            a.contains(b)
        }
    }

    fn shown(&self) -> String {
        match self {
            Self::Text(t) => show(t),
            Self::List(items, _) => format!("{items:?}"),
        }
    }

    fn not_equal(&self, what: &str, expected: &str) -> String {
        match self {
            Self::Text(t) => format!("{what} is {}, not {}", show(t), show(expected)),
            Self::List(..) => {
                format!(
                    "{what} {} does not include {}",
                    self.shown(),
                    show(expected)
                )
            }
        }
    }

    fn lacks(&self, what: &str, needle: &str) -> String {
        match self {
            Self::Text(_) => format!("{what} {} does not contain {}", self.shown(), show(needle)),
            Self::List(..) => {
                format!(
                    "{what} {} has nothing containing {}",
                    self.shown(),
                    show(needle)
                )
            }
        }
    }

    fn has_unwanted(&self, what: &str, found: &str, needle: &str) -> String {
        match self {
            Self::Text(_) => format!("{what} contains {}", show(needle)),
            Self::List(..) => format!("{what} has {} containing {}", show(found), show(needle)),
        }
    }

    fn not_one_of(&self, what: &str, bad: &str, options: &[String]) -> String {
        match self {
            Self::Text(t) => format!("{what} is {}, not one of {options:?}", show(t)),
            Self::List(..) => format!("{what} {} is not one of {options:?}", show(bad)),
        }
    }
}

fn bounds(
    vars: &Vars,
    what: &str,
    n: f64,
    (min, max): (Option<f64>, Option<f64>),
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
