//! A stored message parsed for the API: headers, text and HTML bodies, attachments.

use mailparse::{DispositionType, ParsedMail};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Parsed {
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Serialize)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
    pub inline: bool,
}

/// Parses raw message bytes; malformed MIME still yields what could be read.
pub fn parse(raw: &[u8]) -> Parsed {
    let mut parsed = Parsed {
        headers: Vec::new(),
        text: None,
        html: None,
        attachments: Vec::new(),
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
    walk(&mail, &mut parsed, 0);
    parsed
}

/// Nesting deeper than this is hostile, not mail.
const MAX_DEPTH: usize = 32;

fn walk(part: &ParsedMail<'_>, out: &mut Parsed, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if !part.subparts.is_empty() {
        for sub in &part.subparts {
            walk(sub, out, depth + 1);
        }
        return;
    }
    let disposition = part.get_content_disposition();
    let filename = disposition
        .params
        .get("filename")
        .cloned()
        .or_else(|| part.ctype.params.get("name").cloned());
    let mimetype = part.ctype.mimetype.to_ascii_lowercase();
    let is_attachment =
        disposition.disposition == DispositionType::Attachment || filename.is_some();
    match (is_attachment, mimetype.as_str()) {
        (false, "text/plain") if out.text.is_none() => out.text = part.get_body().ok(),
        (false, "text/html") if out.html.is_none() => out.html = part.get_body().ok(),
        _ => out.attachments.push(Attachment {
            filename,
            content_type: mimetype,
            size: part.get_body_raw().map_or(0, |b| b.len()),
            inline: disposition.disposition == DispositionType::Inline,
        }),
    }
}
