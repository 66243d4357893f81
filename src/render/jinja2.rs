//! Output as Python's Jinja2 writes it, for a team's own templates: minijinja escapes `/`
//! as `&#x2f;`, prints `none` and `true`, and starts a word after `_` in `title`, where
//! Jinja2 (with markupsafe) writes `/`, `None`, `True` and `John_doe`. The same bytes
//! matter here: golden checks compare what mailtest renders with what the service sent.

use std::borrow::Cow;
use std::fmt::Write;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{AutoEscape, Environment, Error, Output, State, Value};

/// Makes `env` write values, escape and title-case as Jinja2 does, with Jinja2's filters
/// that minijinja keeps outside its core (`truncate`, `wordcount`, `striptags`...).
pub fn register(env: &mut Environment<'_>) {
    minijinja_contrib::add_to_environment(env);
    env.set_formatter(formatter);
    env.add_filter("escape", escape);
    env.add_filter("e", escape);
    env.add_filter("title", title);
    env.add_filter("round", round);
    env.add_filter("sum", sum);
    env.add_filter("center", center);
    env.add_filter("truncate", truncate);
    env.add_filter("tojson", tojson);
    env.add_filter("wordwrap", wordwrap);
}

fn formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    let text = python_str(value);
    let written = if value.is_safe() || state.auto_escape() == AutoEscape::None {
        out.write_str(&text)
    } else {
        out.write_str(&markupsafe(&text))
    };
    written.map_err(Error::from)
}

/// `str(value)` as Python spells the constants.
fn python_str(value: &Value) -> Cow<'_, str> {
    match value.kind() {
        ValueKind::None => Cow::Borrowed("None"),
        ValueKind::Undefined => Cow::Borrowed(""),
        ValueKind::Bool if value.is_true() => Cow::Borrowed("True"),
        ValueKind::Bool => Cow::Borrowed("False"),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            let mut out = String::new();
            python_repr(value, &mut out);
            Cow::Owned(out)
        }
        _ => value
            .as_str()
            .map_or_else(|| Cow::Owned(value.to_string()), Cow::Borrowed),
    }
}

/// `repr(value)` as Python writes lists, dicts and the strings inside them.
fn python_repr(value: &Value, out: &mut String) {
    match value.kind() {
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            let quote = if text.contains('\'') && !text.contains('"') {
                '"'
            } else {
                '\''
            };
            out.push(quote);
            for c in text.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_repr(&key, out);
                out.push_str(": ");
                python_repr(&value.get_item(&key).unwrap_or_default(), out);
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_repr(&item, out);
            }
            out.push(']');
        }
        _ => out.push_str(&python_str(value)),
    }
}

/// markupsafe's `escape`: `&`, `<`, `>`, `"` and `'`, nothing else.
fn markupsafe(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn escape(value: &Value) -> Value {
    if value.is_safe() {
        return value.clone();
    }
    Value::from_safe_string(markupsafe(&python_str(value)).into_owned())
}

/// Jinja2's `title`: words begin after `-`, whitespace and opening brackets only.
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = true;
    for c in text.chars() {
        if c == '-' || c.is_whitespace() || "({[<".contains(c) {
            out.push(c);
            start = true;
        } else if start {
            let _ = write!(out, "{}", c.to_uppercase());
            start = false;
        } else {
            let _ = write!(out, "{}", c.to_lowercase());
        }
    }
    out
}

/// Jinja2's `round(value, precision=0, method="common")`: always a float.
#[allow(clippy::needless_pass_by_value)] // minijinja hands filters their keywords by value
fn round(
    value: f64,
    precision: Option<i32>,
    method: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let precision = precision.or(kwargs.get("precision")?).unwrap_or(0);
    let method: Option<String> = method.or(kwargs.get("method")?);
    kwargs.assert_all_used()?;
    let scale = 10f64.powi(precision);
    let scaled = value * scale;
    let rounded = match method.as_deref().unwrap_or("common") {
        // Python's `round`: to the nearest, ties to even.
        "common" => scaled.round_ties_even(),
        "floor" => scaled.floor(),
        "ceil" => scaled.ceil(),
        other => {
            return Err(Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("method must be common, ceil or floor, not {other}"),
            ));
        }
    };
    Ok(Value::from(rounded / scale))
}

/// Jinja2's `sum(iterable, attribute=None, start=0)`.
#[allow(clippy::needless_pass_by_value)] // minijinja hands filters their keywords by value
fn sum(
    values: &Value,
    attribute: Option<String>,
    start: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let attribute: Option<String> = attribute.or(kwargs.get("attribute")?);
    let start = start.or(kwargs.get("start")?);
    kwargs.assert_all_used()?;
    let mut total = start.unwrap_or(Value::from(0));
    for item in values.try_iter()? {
        let item = match attribute.as_deref() {
            Some(path) => path
                .split('.')
                .try_fold(item, |v, part| v.get_attr(part).ok())
                .unwrap_or_default(),
            None => item,
        };
        total = add(&total, &item)?;
    }
    Ok(total)
}

/// `a + b` for numbers: integers stay integers, else floats.
fn add(a: &Value, b: &Value) -> Result<Value, Error> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Ok(Value::from(x + y));
    }
    let float = |v: &Value| {
        f64::try_from(v.clone()).map_err(|_| {
            Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot add {} to a sum", v.kind()),
            )
        })
    };
    Ok(Value::from(float(a)? + float(b)?))
}

/// Python's `str.center`: the extra space on the right when it is odd.
#[allow(clippy::needless_pass_by_value)] // minijinja hands filters their keywords by value
fn center(text: &str, width: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let width = width.or(kwargs.get("width")?).unwrap_or(80);
    kwargs.assert_all_used()?;
    let len = text.chars().count();
    if len >= width {
        return Ok(text.to_owned());
    }
    let pad = width - len;
    let left = pad / 2 + (pad & width & 1);
    Ok(format!(
        "{}{text}{}",
        " ".repeat(left),
        " ".repeat(pad - left)
    ))
}

/// Jinja2's `truncate(s, length=255, killwords=False, end="...", leeway=5)`.
fn truncate(text: &str, args: &[Value]) -> Result<String, Error> {
    type Args = (
        Option<usize>,
        Option<bool>,
        Option<String>,
        Option<usize>,
        Kwargs,
    );
    let (length, killwords, end, leeway, kwargs): Args = minijinja::value::from_args(args)?;
    let length = length.or(kwargs.get("length")?).unwrap_or(255);
    let killwords = killwords.or(kwargs.get("killwords")?).unwrap_or(false);
    let end: String = end
        .or(kwargs.get("end")?)
        .unwrap_or_else(|| "...".to_owned());
    let leeway = leeway.or(kwargs.get("leeway")?).unwrap_or(5);
    kwargs.assert_all_used()?;
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= length + leeway {
        return Ok(text.to_owned());
    }
    let kept: String = chars[..length.saturating_sub(end.chars().count())]
        .iter()
        .collect();
    if killwords {
        return Ok(kept + &end);
    }
    let head = kept.rsplit_once(' ').map_or(kept.as_str(), |(h, _)| h);
    Ok(format!("{head}{end}"))
}

/// Jinja2's `wordwrap(s, width=79, break_long_words=True, wrapstring=None,
/// break_on_hyphens=True)`, positional arguments included (minijinja's takes keywords only).
fn wordwrap(value: &Value, args: &[Value]) -> Result<Value, Error> {
    type Args = (
        Option<Value>,
        Option<Value>,
        Option<Value>,
        Option<Value>,
        Kwargs,
    );
    let (width, long, wrapstring, hyphens, kwargs): Args = minijinja::value::from_args(args)?;
    let names = [
        "width",
        "break_long_words",
        "wrapstring",
        "break_on_hyphens",
    ];
    let mut all: Vec<(&str, Value)> = names
        .iter()
        .zip([width, long, wrapstring, hyphens])
        .filter_map(|(name, v)| v.map(|v| (*name, v)))
        .collect();
    for name in names {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            all.push((name, v));
        }
    }
    kwargs.assert_all_used()?;
    minijinja_contrib::filters::wordwrap(value, Kwargs::from_iter(all))
}

/// Jinja2's `tojson`: keys sorted, `", "` and `": "` between items, and `<`, `>`, `&`, `'`
/// escaped so the JSON is safe inside HTML.
fn tojson(value: &Value) -> Result<Value, Error> {
    let json = serde_json::to_value(value)
        .map_err(|e| Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = String::new();
    write_json(&json, &mut out);
    let safe = out
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(Value::from_safe_string(safe))
}

fn write_json(json: &serde_json::Value, out: &mut String) {
    use serde_json::Value as J;
    match json {
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i > 0 { ", " } else { "" });
                write_json(item, out);
            }
            out.push(']');
        }
        J::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                out.push_str(if i > 0 { ", " } else { "" });
                out.push_str(&J::String(key.clone()).to_string());
                out.push_str(": ");
                write_json(&map[key], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_jinja2_does() {
        let mut env = Environment::new();
        register(&mut env);
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        let out = env
            .render_str(
                "{{ url }} {{ none }} {{ yes }} {{ name|title }} {{ q|e }} {{ '<b>'|safe }}",
                minijinja::context! {url => "https://a.example/x?a=1&b='2'", none => (),
                yes => true, name => "john_doe o'neil-smith", q => "\"q\""},
            )
            .unwrap();
        assert_eq!(
            out,
            "https://a.example/x?a=1&amp;b=&#39;2&#39; None True John_doe O&#39;neil-Smith \
             &#34;q&#34; <b>"
        );
    }
}
