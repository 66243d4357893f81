//! Which name in a failing template expression is undefined. minijinja points at the
//! operation that met the undefined value (a filter, the last attribute) and a filter given
//! one says only "value is not a string", so the expression's dotted names are looked up
//! in the render context instead and the first one missing is named: `data.list_name`.

use std::ops::Range;

use minijinja::Value;

/// Words of the template language that are not names.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "elif",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "for",
    "set",
    "with",
    "endif",
    "endfor",
    "loop",
    "defined",
    "undefined",
];

/// The dotted name in the tag around `range` (or on `line`, 1-based) that the context
/// lacks, when one can be found. Names whose first part the context lacks are left out
/// (a loop variable or a `set` is not in the context either).
pub fn missing_name(
    source: &str,
    range: Option<Range<usize>>,
    line: usize,
    ctx: &Value,
) -> Option<String> {
    let tag = tag_text(source, range, line)?;
    let names = names(&tag);
    // Then a bare name the context lacks: a team's templates use top-level variables
    // (`{{ username }}`). A dotted one whose head is missing is more likely a loop
    // variable's attribute, and a loop variable is not in the context either.
    names
        .iter()
        .find_map(|path| first_missing(path, ctx))
        .or_else(|| {
            names
                .iter()
                .find(|path| {
                    !path.contains('.') && ctx.get_attr(path).is_ok_and(|v| v.is_undefined())
                })
                .cloned()
        })
}

/// The text of the `{{ ... }}` or `{% ... %}` around `range`, else the whole line.
fn tag_text(source: &str, range: Option<Range<usize>>, line: usize) -> Option<String> {
    if let Some(range) = range.filter(|r| r.end <= source.len()) {
        let head = &source[..range.start];
        let start = head.rfind("{{").max(head.rfind("{%"))?;
        let tail = &source[range.end..];
        let end = [tail.find("}}"), tail.find("%}")]
            .into_iter()
            .flatten()
            .min()
            .map_or(source.len(), |e| range.end + e);
        return source.get(start + 2..end).map(str::to_owned);
    }
    source.lines().nth(line.checked_sub(1)?).map(str::to_owned)
}

/// The dotted names of an expression, leaving out string literals, filter and test names,
/// functions and keywords.
fn names(tag: &str) -> Vec<String> {
    let bare = strip_strings(tag);
    let name = regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
        .expect("valid regex");
    name.find_iter(&bare)
        .filter(|m| {
            let before = bare[..m.start()].trim_end();
            let after = bare[m.end()..].trim_start();
            !before.ends_with('|')
                && !before.ends_with(" is")
                && !before.ends_with('.')
                && !after.starts_with('(')
                && !KEYWORDS.contains(&m.as_str())
        })
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// `tag` with the insides of its quoted strings blanked.
fn strip_strings(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    let mut quote = None;
    for c in tag.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => out.push(' '),
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// `path` up to its first part the context lacks; `None` when all is there or when even
/// its first part is missing.
fn first_missing(path: &str, ctx: &Value) -> Option<String> {
    let mut parts = path.split('.');
    let mut value = ctx.get_attr(parts.next()?).ok()?;
    if value.is_undefined() {
        return None;
    }
    let mut seen = path.split('.').next()?.len();
    for part in parts {
        seen += 1 + part.len();
        value = value.get_attr(part).ok()?;
        if value.is_undefined() || value.is_none() {
            return Some(path[..seen].to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_missing_part_of_a_dotted_name_behind_a_filter() {
        let ctx = minijinja::context! {
            data => minijinja::context! { list => "weekly", user => minijinja::context! { name => "A" } },
            brand => "B",
        };
        let source =
            "<p>{{ brand }} {{ data.list_name | upper }}</p>\n{{ data.user.nick|truncate(3) }}";
        let at = |needle: &str| {
            let start = source.find(needle).unwrap();
            Some(start..start + needle.len())
        };
        assert_eq!(
            missing_name(source, at("upper"), 1, &ctx).as_deref(),
            Some("data.list_name")
        );
        assert_eq!(
            missing_name(source, None, 2, &ctx).as_deref(),
            Some("data.user.nick")
        );
        assert_eq!(
            missing_name(source, at("brand"), 1, &ctx),
            None,
            "all there"
        );
        assert_eq!(
            names(r#" "x.y" ~ item.name | default('a.b') "#),
            ["item.name"]
        );
        assert_eq!(
            missing_name("{{ item.name }}", None, 1, &ctx),
            None,
            "a loop variable"
        );
    }
}
