//! Lints for rendered email: what breaks in inboxes (clipped HTML, images without alt text,
//! placeholder or insecure links, long subjects, unbalanced tags), each naming template,
//! fixture and line, for `mailtest render --check` in CI (`check.rs` runs them over a
//! catalog).

use serde::Serialize;

use super::html::{self, Tag, VOID};
use super::{Rendered, Templates};

/// Gmail clips HTML past 102 KB and hides the rest behind a link.
pub const MAX_HTML_BYTES: usize = 102 * 1024;
/// RFC 5322 recommends lines of 78 characters; longer subjects get cut in inbox lists.
pub const MAX_SUBJECT_CHARS: usize = 78;
/// Inbox previews show about 90 characters of the preheader.
pub const MAX_PREHEADER_CHARS: usize = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub rule: &'static str,
    /// The template file, as shown to users.
    pub file: String,
    pub fixture: String,
    /// The line in the template's output (the HTML before CSS inlining), or of the
    /// template itself for render errors; 0 when the finding is about the whole part.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = if self.line > 0 {
            format!("{}:{}", self.file, self.line)
        } else {
            self.file.clone()
        };
        write!(
            f,
            "{severity}[{}]: {at} (fixture {}): {}",
            self.rule, self.fixture, self.message
        )
    }
}

/// The lints of one rendered email; HTML findings point at the template line that wrote
/// the tag (the type's body, else the layout or a partial) when it can be found.
pub fn lint(rendered: &Rendered, fixture: &str, templates: &Templates) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |severity, rule, file: &str, line, message: String| {
        out.push(Finding {
            severity,
            rule,
            file: file.to_owned(),
            fixture: fixture.to_owned(),
            line,
            message,
        });
    };
    let files = &rendered.files;
    if rendered.text_derived {
        let message = "no text template: the text part is derived from the HTML".to_owned();
        push(Severity::Warning, "text-part", &files.html, 0, message);
    }
    if let Some((severity, rule, message)) = html_size(rendered.html.len()) {
        push(severity, rule, &files.html, 0, message);
    }
    if let Some((severity, rule, message)) = subject(&rendered.subject) {
        push(severity, rule, &files.subject, 0, message);
    }
    let preheader_chars = rendered.preheader.chars().count();
    if preheader_chars > MAX_PREHEADER_CHARS {
        let message =
            format!("preheader is {preheader_chars} characters (over {MAX_PREHEADER_CHARS})");
        push(
            Severity::Warning,
            "preheader-length",
            &files.preheader,
            0,
            message,
        );
    }
    for (severity, rule, tag, message) in lint_html(&rendered.html_source) {
        let (file, line) = place(templates, &files.html_name, &tag).map_or_else(
            || (format!("{} (rendered)", files.html), tag.line),
            |(name, line)| (templates.display(name), line),
        );
        push(severity, rule, &file, line, message);
    }
    out
}

/// A lint's severity, rule and message.
pub type Failed = (Severity, &'static str, String);

/// The subject's lint, if it fails one: empty, or longer than inboxes show.
pub fn subject(subject: &str) -> Option<Failed> {
    match subject.chars().count() {
        0 => Some((Severity::Error, "subject", "empty subject".into())),
        n if n > MAX_SUBJECT_CHARS => Some((
            Severity::Warning,
            "subject-length",
            format!("subject is {n} characters (over {MAX_SUBJECT_CHARS})"),
        )),
        _ => None,
    }
}

/// The HTML's size lint, if it is over what Gmail shows unclipped.
pub fn html_size(bytes: usize) -> Option<Failed> {
    (bytes > MAX_HTML_BYTES).then(|| {
        let message = format!("HTML is {bytes} bytes; Gmail clips past {MAX_HTML_BYTES}");
        (Severity::Error, "html-size", message)
    })
}

/// The template and line that wrote `tag`: the first tag of the same shape (name and
/// attribute names) whose literal attribute values match, in the body template, then in
/// the shared `_` templates. Expressions (`{{ ... }}`) match any value.
fn place<'t>(templates: &'t Templates, body: &'t str, tag: &Tag) -> Option<(&'t str, usize)> {
    let shared = templates
        .names()
        .filter(|n| n.starts_with('_') && n.to_ascii_lowercase().ends_with(".html"));
    std::iter::once(body).chain(shared).find_map(|name| {
        let source = templates.get(name)?;
        let found = html::tags(source)
            .into_iter()
            .find(|t| same_shape(t, tag))?;
        Some((name, found.line))
    })
}

fn same_shape(template: &Tag, rendered: &Tag) -> bool {
    template.name == rendered.name
        && template.closing == rendered.closing
        && template.attrs.len() == rendered.attrs.len()
        && template
            .attrs
            .iter()
            .zip(&rendered.attrs)
            .all(|((tn, tv), (rn, rv))| {
                tn == rn
                    && match (tv, rv) {
                        (Some(t), Some(r)) => t.contains("{{") || t.contains("{%") || t == r,
                        (t, r) => t.is_none() && r.is_none(),
                    }
            })
}

type HtmlFinding = (Severity, &'static str, Tag, String);

/// Findings up to a bound, and a count of the rest: a hostile message can hold a hundred
/// thousand unclosed tags, and past the bound nothing is cloned or formatted.
pub struct Findings {
    pub list: Vec<HtmlFinding>,
    /// Findings past the bound, counted only.
    pub more: usize,
    max: usize,
}

impl Findings {
    fn new(max: usize) -> Self {
        Self {
            list: Vec::new(),
            more: 0,
            max,
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        rule: &'static str,
        tag: &Tag,
        message: impl FnOnce() -> String,
    ) {
        if self.list.len() < self.max {
            self.list.push((severity, rule, tag.clone(), message()));
        } else {
            self.more += 1;
        }
    }
}

/// Image, link and nesting lints over the HTML as the template wrote it, every one.
pub fn lint_html(source: &str) -> Vec<HtmlFinding> {
    lint_tags(html::tags(source), usize::MAX).list
}

/// The same lints over tags already scanned, at most `max` of them listed.
pub fn lint_tags(tags: Vec<Tag>, max: usize) -> Findings {
    let mut out = Findings::new(max);
    let mut open: Vec<Tag> = Vec::new();
    // How many of each name are open, so a closing tag that closes nothing is known at
    // once instead of by a walk over every open tag (quadratic on hostile mail).
    let mut open_names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for tag in tags {
        if !tag.closing {
            match tag.name.as_str() {
                "img" => lint_image(&tag, &mut out),
                "a" => lint_link(&tag, &mut out),
                _ => {}
            }
            if !tag.self_closing && !VOID.contains(&tag.name.as_str()) {
                *open_names.entry(tag.name.clone()).or_default() += 1;
                open.push(tag);
            }
            continue;
        }
        if VOID.contains(&tag.name.as_str()) {
            continue;
        }
        let is_open = open_names.get(&tag.name).is_some_and(|&n| n > 0);
        match is_open
            .then(|| open.iter().rposition(|t| t.name == tag.name))
            .flatten()
        {
            None => out.push(Severity::Error, "unbalanced-tag", &tag, || {
                format!("`</{}>` closes nothing", tag.name)
            }),
            Some(at) => {
                for closed in &open[at..] {
                    if let Some(n) = open_names.get_mut(&closed.name) {
                        *n -= 1;
                    }
                }
                for unclosed in open.drain(at..).skip(1) {
                    out.push(Severity::Error, "unbalanced-tag", &unclosed, || {
                        format!(
                            "`<{}>` is not closed before `</{}>`",
                            unclosed.name, tag.name
                        )
                    });
                }
            }
        }
    }
    for unclosed in open {
        out.push(Severity::Error, "unbalanced-tag", &unclosed, || {
            format!("`<{}>` is never closed", unclosed.name)
        });
    }
    out
}

fn lint_image(tag: &Tag, out: &mut Findings) {
    let src = || tag.attr("src").flatten().unwrap_or("");
    if tag.attr("alt").is_none() {
        out.push(Severity::Error, "img-alt", tag, || {
            format!(
                "image `{}` has no alt text (shown when images are blocked)",
                src()
            )
        });
    }
    if tag.attr("width").is_none() {
        out.push(Severity::Warning, "img-width", tag, || {
            format!(
                "image `{}` has no width attribute (Outlook renders it full size)",
                src()
            )
        });
    }
}

fn lint_link(tag: &Tag, out: &mut Findings) {
    let Some(href) = tag.attr("href") else {
        return;
    };
    let href = href.unwrap_or("").trim();
    let scheme = |s: &str| {
        href.get(..s.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(s))
    };
    if href.is_empty() || href == "#" || scheme("javascript:") {
        out.push(Severity::Error, "link-placeholder", tag, || {
            format!("link `{href}` is a placeholder")
        });
    } else if scheme("http:") {
        out.push(Severity::Error, "link-https", tag, || {
            format!("link `{href}` is not https")
        });
    } else if !["https:", "mailto:", "tel:"].into_iter().any(scheme) {
        out.push(Severity::Error, "link-https", tag, || {
            format!("link `{href}` is not an absolute https, mailto or tel link")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(html: &str) -> Vec<(&'static str, usize)> {
        lint_html(html)
            .into_iter()
            .map(|(_, r, t, _)| (r, t.line))
            .collect()
    }

    #[test]
    fn each_html_lint_fails_and_passes() {
        assert_eq!(rules("<img src=a.png>"), [("img-alt", 1), ("img-width", 1)]);
        assert!(rules("<img src=a.png alt=\"\" width=\"10\">").is_empty());
        assert_eq!(rules("<a href=\"#\">x</a>"), [("link-placeholder", 1)]);
        assert_eq!(rules("<a href=\"\">x</a>"), [("link-placeholder", 1)]);
        assert_eq!(
            rules("<a href=\"http://a.example\">x</a>"),
            [("link-https", 1)]
        );
        assert_eq!(rules("<a href=\"/relative\">x</a>"), [("link-https", 1)]);
        assert!(
            rules("<a href=\"https://a.example\">x</a><a href=\"mailto:a@b\">m</a>").is_empty()
        );
        assert_eq!(
            rules("<table>\n<tr><td>x</tr>\n</table>"),
            [("unbalanced-tag", 2)]
        );
        assert_eq!(rules("<p>x</p></div>"), [("unbalanced-tag", 1)]);
        assert_eq!(rules("<div>\n<p>x</p>"), [("unbalanced-tag", 1)]);
        assert!(rules("<div><br><p>x</p><hr/></div>").is_empty());
    }

    #[test]
    fn findings_past_the_bound_are_counted_not_kept() {
        let found = lint_tags(html::tags(&"<b>".repeat(5)), 2);
        assert_eq!((found.list.len(), found.more), (2, 3));
        let found = lint_tags(html::tags("<a href=\"#\">x</a><img src=a>"), 9);
        let rules: Vec<_> = found.list.iter().map(|f| f.1).collect();
        assert_eq!(rules, ["link-placeholder", "img-alt", "img-width"]);
        assert_eq!(found.more, 0);
    }
}
