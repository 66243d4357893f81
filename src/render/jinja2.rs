//! Output as Python's Jinja2 writes it, for a team's own templates: minijinja escapes `/`
//! as `&#x2f;`, prints `none` and `true`, and starts a word after `_` in `title`, where
//! Jinja2 (with markupsafe) writes `/`, `None`, `True` and `John_doe`. The same bytes
//! matter here: golden checks compare what mailtest renders with what the service sent.

use std::borrow::Cow;
use std::fmt::Write;

use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, Error, Output, State, Value};

/// Makes `env` write values, escape and title-case as Jinja2 does.
pub fn register(env: &mut Environment<'_>) {
    env.set_formatter(formatter);
    env.add_filter("escape", escape);
    env.add_filter("e", escape);
    env.add_filter("title", title);
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
        _ => value
            .as_str()
            .map_or_else(|| Cow::Owned(value.to_string()), Cow::Borrowed),
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
