//! A stored message parsed for the API and the inbox: headers, text and HTML bodies,
//! attachments, the links found and the render lints applied to it.

use base64::Engine;
use mailparse::{DispositionType, MailHeaderMap, ParsedMail};
use serde::Serialize;

use crate::render::html;
use crate::render::lint::{self, Severity};

#[derive(Debug, Serialize)]
pub struct Parsed {
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub links: Vec<Link>,
    pub lints: Vec<Lint>,
}

#[derive(Debug, Serialize)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub inline: bool,
    pub content_id: Option<String>,
}

/// A link in the message, with the part it was found in (`html` or `text`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    pub part: &'static str,
}

/// A render lint that this message fails; `line` is in the HTML part (0: the whole message).
#[derive(Debug, Serialize)]
pub struct Lint {
    pub severity: Severity,
    pub rule: &'static str,
    pub line: usize,
    pub message: String,
}

/// Parses raw message bytes; malformed MIME still yields what could be read.
pub fn parse(raw: &[u8]) -> Parsed {
    let mut parsed = Parsed {
        headers: Vec::new(),
        text: None,
        html: None,
        attachments: Vec::new(),
        links: Vec::new(),
        lints: Vec::new(),
    };
    let Ok(mail) = mailparse::parse_mail(raw) else {
        parsed.text = Some(String::from_utf8_lossy(raw).into_owned());
        return parsed;
    };
    parsed.headers = mail
        .headers
        .iter()
        .map(|h| (h.get_key(), h.get_value()))
        .collect();
    let parts = Parts::of(&mail);
    parsed.text = parts.text.and_then(|p| p.get_body().ok());
    parsed.html = parts.html.and_then(|p| p.get_body().ok());
    parsed.attachments = parts.attachments.iter().map(|p| describe(p)).collect();
    // One scan of the HTML for both the links and the lints.
    let tags = parsed.html.as_deref().map(html::tags).unwrap_or_default();
    parsed.links = links(&tags, parsed.text.as_deref());
    let subject = mail.headers.get_first_value("Subject");
    parsed.lints = lints(subject.as_deref(), &parsed, tags);
    if crate::mail::has_bare_lf(raw) {
        parsed.lints.insert(
            0,
            Lint {
                severity: Severity::Warning,
                rule: "bare-lf",
                line: 0,
                message: "lines end in a bare LF, not CR LF (RFC 5321 2.3.8): the sending client \
                      has a bug, and strict servers refuse such mail"
                    .into(),
            },
        );
    }
    parsed
}

/// The HTML part made ready for the sandboxed viewer: `cid:` images inlined as `data:`
/// URLs, since the viewer's Content-Security-Policy loads nothing else by default. One pass
/// over the HTML, each part encoded once, and no more inlined in all than the message's own
/// size a few times over: a message that names one image a thousand times cannot make a
/// response a thousand images long; references past the budget stay `cid:` (not shown).
pub fn html_for_view(raw: &[u8]) -> Option<String> {
    let mail = mailparse::parse_mail(raw).ok()?;
    let parts = Parts::of(&mail);
    let html = parts.html?.get_body().ok()?;
    let by_id: std::collections::HashMap<String, &ParsedMail<'_>> = parts
        .attachments
        .iter()
        .filter_map(|p| Some((content_id(p)?, *p)))
        .collect();
    if by_id.is_empty() {
        return Some(html);
    }
    let mut budget = INLINE_FACTOR * raw.len() + INLINE_SLACK;
    let mut encoded: std::collections::HashMap<&str, Option<String>> =
        std::collections::HashMap::new();
    let mut out = String::with_capacity(html.len());
    let mut rest = html.as_str();
    while let Some(at) = rest.find("cid:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let id_len = after
            .find(|c: char| c.is_whitespace() || "\"'<>)".contains(c))
            .unwrap_or(after.len());
        let id = &after[..id_len];
        let url = by_id.get(id).and_then(|part| {
            encoded
                .entry(id)
                .or_insert_with(|| {
                    let bytes = part.get_body_raw().ok()?;
                    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                    Some(format!("data:{};base64,{data}", part.ctype.mimetype))
                })
                .as_deref()
        });
        match url {
            Some(url) if url.len() <= budget => {
                budget -= url.len();
                out.push_str(url);
            }
            _ => {
                out.push_str("cid:");
                out.push_str(id);
            }
        }
        rest = &after[id_len..];
    }
    out.push_str(rest);
    Some(out)
}

/// Inlined bytes allowed: this many times the message's size, and a little more.
const INLINE_FACTOR: usize = 4;
const INLINE_SLACK: usize = 64 * 1024;

/// Attachment `n` (as numbered in `Parsed::attachments`): file name and decoded bytes.
pub fn attachment(raw: &[u8], n: usize) -> Option<(Option<String>, Vec<u8>)> {
    let mail = mailparse::parse_mail(raw).ok()?;
    let part = *Parts::of(&mail).attachments.get(n)?;
    Some((filename(part), part.get_body_raw().ok()?))
}

/// The leaf parts of a message: the first text and HTML bodies, and everything else.
struct Parts<'m> {
    text: Option<&'m ParsedMail<'m>>,
    html: Option<&'m ParsedMail<'m>>,
    attachments: Vec<&'m ParsedMail<'m>>,
}

/// Nesting deeper than this is hostile, not mail.
const MAX_DEPTH: usize = 32;

impl<'m> Parts<'m> {
    fn of(mail: &'m ParsedMail<'m>) -> Self {
        let mut parts = Self {
            text: None,
            html: None,
            attachments: Vec::new(),
        };
        parts.walk(mail, 0);
        parts
    }

    fn walk(&mut self, part: &'m ParsedMail<'m>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if !part.subparts.is_empty() {
            for sub in &part.subparts {
                self.walk(sub, depth + 1);
            }
            return;
        }
        let is_attachment = part.get_content_disposition().disposition
            == DispositionType::Attachment
            || filename(part).is_some();
        match (
            is_attachment,
            part.ctype.mimetype.to_ascii_lowercase().as_str(),
        ) {
            (false, "text/plain") if self.text.is_none() => self.text = Some(part),
            (false, "text/html") if self.html.is_none() => self.html = Some(part),
            _ => self.attachments.push(part),
        }
    }
}

/// Whether a part that is not a body is shown inside the message (an image its HTML refers
/// to by `cid:`) rather than offered as a file: said so by `inline`, or by a `Content-ID`
/// with no `attachment` disposition. What is not inline is an attachment: the list's count
/// and the message view use this one rule.
fn is_inline(part: &ParsedMail<'_>) -> bool {
    // mailparse reports `inline` for a part with no disposition at all (RFC 2183's
    // default), so whether one was given is read off the headers.
    if part
        .headers
        .get_first_value("Content-Disposition")
        .is_none()
    {
        return content_id(part).is_some();
    }
    part.get_content_disposition().disposition == DispositionType::Inline
}

/// How many attachments (parts that are neither a body nor inline) a message has.
pub fn attachment_count(raw: &[u8]) -> u32 {
    let Ok(mail) = mailparse::parse_mail(raw) else {
        return 0;
    };
    if mail.subparts.is_empty() {
        return 0;
    }
    let parts = Parts::of(&mail);
    parts.attachments.iter().filter(|p| !is_inline(p)).count() as u32
}

fn filename(part: &ParsedMail<'_>) -> Option<String> {
    part.get_content_disposition()
        .params
        .get("filename")
        .cloned()
        .or_else(|| part.ctype.params.get("name").cloned())
}

fn content_id(part: &ParsedMail<'_>) -> Option<String> {
    let id = part.headers.get_first_value("Content-ID")?;
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    (!id.is_empty()).then(|| id.to_owned())
}

fn describe(part: &ParsedMail<'_>) -> Attachment {
    Attachment {
        filename: filename(part),
        content_type: part.ctype.mimetype.to_ascii_lowercase(),
        size: part.get_body_raw().map_or(0, |b| b.len()),
        inline: is_inline(part),
        content_id: content_id(part),
    }
}

/// Links in `<a href>` of the HTML part, then URLs in the text part, each once.
fn links(tags: &[html::Tag], text: Option<&str>) -> Vec<Link> {
    let mut out: Vec<Link> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |href: &str, part| {
        if out.len() < MAX_LINKS && !href.is_empty() && seen.insert(href.to_owned()) {
            out.push(Link {
                href: href.to_owned(),
                part,
            });
        }
    };
    for tag in tags {
        if let ("a", false, Some(Some(href))) = (tag.name.as_str(), tag.closing, tag.attr("href")) {
            add(href.trim(), "html");
        }
    }
    for word in text.unwrap_or_default().split_whitespace() {
        let word = word.trim_matches(|c| matches!(c, '<' | '>' | '(' | ')' | '"' | ','));
        if word.starts_with("https://") || word.starts_with("http://") {
            add(word, "text");
        }
    }
    out
}

/// Links and lints listed per message: a hostile message could have millions.
const MAX_LINKS: usize = 1000;
const MAX_LINTS: usize = 200;

/// The render lints that apply to a captured message.
fn lints(subject: Option<&str>, parsed: &Parsed, tags: Vec<html::Tag>) -> Vec<Lint> {
    let mut out = Vec::new();
    let mut push = |severity, rule, line, message: String| {
        out.push(Lint {
            severity,
            rule,
            line,
            message,
        });
    };
    if let Some((severity, rule, message)) = lint::subject(subject.unwrap_or_default()) {
        push(severity, rule, 0, message);
    }
    let Some(html) = &parsed.html else {
        return out;
    };
    if parsed.text.is_none() {
        let message = "no text part: clients that show text only get nothing".to_owned();
        push(Severity::Warning, "text-part", 0, message);
    }
    if let Some((severity, rule, message)) = lint::html_size(html.len()) {
        push(severity, rule, 0, message);
    }
    let found = lint::lint_tags(tags, MAX_LINTS);
    let more = found.more;
    for (severity, rule, tag, message) in found.list {
        push(severity, rule, tag.line, message);
    }
    if more > 0 {
        push(
            Severity::Warning,
            "too-many-lints",
            0,
            format!("{more} more lints not listed"),
        );
    }
    out
}
