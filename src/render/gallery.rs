//! The gallery: every template rendered with every fixture, as a static site of plain
//! files (an index, and per email its HTML at desktop and mobile widths, text, headers,
//! lints and `.eml`) that a browser opens from disk, or that `render --serve` serves live.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use super::lint::{self, Finding, Severity};
use super::{Rendered, Renderer, message};
use crate::catalog::Catalog;
use crate::event::Event;

/// One email of the gallery, or why it could not be rendered.
pub struct Entry {
    pub event_type: String,
    pub fixture: String,
    pub outcome: Result<Email, String>,
}

pub struct Email {
    pub event: Event,
    pub rendered: Rendered,
    pub eml: Vec<u8>,
    pub findings: Vec<Finding>,
}

impl Entry {
    /// Where the email's pages live inside the site: the fixture's `type/name`.
    pub fn dir(&self) -> String {
        self.fixture.clone()
    }
}

/// Renders every fixture of every catalog type.
pub fn build(renderer: &Renderer, catalog: &Catalog, date: SystemTime) -> Vec<Entry> {
    let mut out = Vec::new();
    let types = catalog
        .types()
        .filter(|t| renderer.templates().covers(t.name()));
    for kind in types {
        for fixture in &kind.fixtures {
            let outcome = crate::event::from_fixture(fixture, catalog)
                .map_err(|(line, e)| format!("{}:{line}: {e}", fixture.path))
                .and_then(|event| email(renderer, event, &fixture.name, date));
            out.push(Entry {
                event_type: kind.name().to_owned(),
                fixture: fixture.name.clone(),
                outcome,
            });
        }
    }
    out
}

fn email(
    renderer: &Renderer,
    event: Event,
    fixture: &str,
    date: SystemTime,
) -> Result<Email, String> {
    let rendered = renderer.render(&event).map_err(|e| e.to_string())?;
    let sender = &renderer.templates().config.sender;
    let eml = message::build(&rendered, &event, sender, date)
        .map_err(|e| e.to_string())?
        .formatted();
    let findings = lint::lint(&rendered, fixture, renderer.templates());
    Ok(Email {
        event,
        rendered,
        eml,
        findings,
    })
}

/// The site's files by path; `live` adds the script that reloads pages on change.
pub fn pages(entries: &[Entry], live: bool) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("index.html".to_owned(), index(entries, live).into_bytes());
    for entry in entries {
        let dir = entry.dir();
        files.insert(
            format!("{dir}/index.html"),
            detail(entry, live).into_bytes(),
        );
        if let Ok(email) = &entry.outcome {
            files.insert(
                format!("{dir}/email.html"),
                email.rendered.html.clone().into_bytes(),
            );
            files.insert(
                format!("{dir}/email.txt"),
                email.rendered.text.clone().into_bytes(),
            );
            files.insert(format!("{dir}/email.eml"), email.eml.clone());
        }
    }
    files
}

/// Writes the site under `dir`.
pub fn write(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    for (name, bytes) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111827}\
header{background:#111827;color:#fff;padding:14px 24px}header a{color:#fff}h1{font-size:18px;margin:0}\
main{padding:24px}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:16px}\
.card{background:#fff;border-radius:8px;padding:16px;box-shadow:0 1px 2px #0002;text-decoration:none;color:inherit;display:block}\
.card:hover{box-shadow:0 2px 8px #0003}.meta{font-size:12px;color:#6b7280}.subject{font-weight:600;margin:6px 0}\
.pre{font-size:13px;color:#4b5563}.bad{color:#b91c1c}.warn{color:#b45309}.ok{color:#047857}\
.views{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}.view{background:#fff;border-radius:8px;padding:12px}\
iframe{border:1px solid #e5e7eb;background:#fff}pre{white-space:pre-wrap;background:#fff;padding:12px;border-radius:8px;max-width:640px}\
table.headers{background:#fff;border-collapse:collapse;font-size:13px}table.headers td{padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}";

const LIVE: &str = "<script>new EventSource('/_live').onmessage=()=>location.reload()</script>";

fn page(title: &str, root: &str, body: &str, live: bool) -> String {
    let live = if live { LIVE } else { "" };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head>\n<body><header><h1><a href=\"{root}index.html\">mailtest gallery</a> · {}</h1></header>\n<main>{body}</main>{live}</body></html>\n",
        escape(title),
        escape(title)
    )
}

fn verdict(findings: &[Finding]) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    match (errors, warnings) {
        (0, 0) => "<span class=\"ok\">no lint findings</span>".to_owned(),
        (0, w) => format!("<span class=\"warn\">{w} warning(s)</span>"),
        (e, w) => format!("<span class=\"bad\">{e} error(s)</span>, {w} warning(s)"),
    }
}

fn index(entries: &[Entry], live: bool) -> String {
    let failed = entries.iter().filter(|e| e.outcome.is_err()).count();
    let mut body = format!(
        "<p>{} emails from {} event types{}.</p><div class=\"grid\">",
        entries.len(),
        entries
            .iter()
            .map(|e| &e.event_type)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        if failed > 0 {
            format!(", <span class=\"bad\">{failed} failed to render</span>")
        } else {
            String::new()
        }
    );
    for entry in entries {
        let dir = entry.dir();
        let (subject, rest) = match &entry.outcome {
            Ok(email) => (
                escape(&email.rendered.subject),
                format!(
                    "<div class=\"pre\">{}</div><div class=\"meta\">{} · {}</div>",
                    escape(&email.rendered.preheader),
                    escape(&email.rendered.locale),
                    verdict(&email.findings)
                ),
            ),
            Err(e) => (
                "(not rendered)".to_owned(),
                format!("<div class=\"bad\">{}</div>", escape(e)),
            ),
        };
        let _ = write!(
            body,
            "<a class=\"card email\" href=\"{dir}/index.html\"><div class=\"meta\">{}</div><div class=\"subject\">{subject}</div>{rest}</a>",
            escape(&entry.fixture)
        );
    }
    body.push_str("</div>");
    page("every template, every fixture", "", &body, live)
}

fn detail(entry: &Entry, live: bool) -> String {
    let title = entry.fixture.clone();
    let email = match &entry.outcome {
        Ok(email) => email,
        Err(e) => {
            let body = format!(
                "<p class=\"bad\">Could not render:</p><pre>{}</pre>",
                escape(e)
            );
            return page(&title, "../../", &body, live);
        }
    };
    let r = &email.rendered;
    let mut body = format!(
        "<p class=\"subject\">{}</p><p class=\"pre\">{}</p><p class=\"meta\">to {} &lt;{}&gt; · locale {} · {} · <a href=\"email.eml\">email.eml</a> · <a href=\"email.html\">email.html</a> · <a href=\"email.txt\">email.txt</a></p>",
        escape(&r.subject),
        escape(&r.preheader),
        escape(&email.event.recipient.name),
        escape(&email.event.recipient.email),
        escape(&r.locale),
        verdict(&email.findings),
    );
    if !email.findings.is_empty() {
        body.push_str("<ul class=\"findings\">");
        for finding in &email.findings {
            let _ = write!(body, "<li>{}</li>", escape(&finding.to_string()));
        }
        body.push_str("</ul>");
    }
    // Sandboxed: the email's HTML may come from a user's template and never runs script.
    let _ = write!(
        body,
        "<div class=\"views\"><div class=\"view\"><div class=\"meta\">desktop, 640 px</div><iframe class=\"desktop\" sandbox src=\"email.html\" width=\"640\" height=\"900\" title=\"desktop\"></iframe></div>\
<div class=\"view\"><div class=\"meta\">mobile, 375 px</div><iframe class=\"mobile\" sandbox src=\"email.html\" width=\"375\" height=\"900\" title=\"mobile\"></iframe></div>\
<div class=\"view\"><div class=\"meta\">text{}</div><pre class=\"text\">{}</pre></div></div>",
        if r.text_derived {
            ", derived from the HTML"
        } else {
            ""
        },
        escape(&r.text)
    );
    body.push_str("<h2>Headers</h2><table class=\"headers\">");
    if let Ok((headers, _)) = mailparse::parse_headers(&email.eml) {
        for h in headers {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&h.get_key()),
                escape(&h.get_value())
            );
        }
    }
    body.push_str("</table>");
    page(&title, "../../", &body, live)
}
