//! One condition on one part of a message: `equals`, `contains` (one or all of a list),
//! `not_contains`, `regex`, `not_regex`, `all_match`, `exists`, `one_of`, `min`, `max`,
//! on a text (subject, body), a list (recipients, links) or a number (size), with
//! `{{ var }}` placeholders filled in when checked.

use serde::{Deserialize, Deserializer};

mod eval;
mod vars;

pub use vars::{UNSET, Vars, show};

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
    pub min: Option<f64>,
    #[serde(default, deserialize_with = "amount_opt")]
    pub max: Option<f64>,
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

fn amount_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Scalar::deserialize(d)? {
        Scalar::Int(n) => Ok(Some(n as f64)),
        // A decimal bound, for the spam score.
        Scalar::Float(n) => Ok(Some(n)),
        Scalar::Text(t) => crate::settings::parse_size("amount", &t)
            .map(|n| Some(n as f64))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "invalid amount `{t}`: expected a whole number or a size such as 100KB"
                ))
            }),
        other @ Scalar::Bool(_) => Err(serde::de::Error::custom(format!(
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
    /// A score with one decimal (the spam check's).
    Decimal(f64),
}

#[cfg(test)]
mod tests;
