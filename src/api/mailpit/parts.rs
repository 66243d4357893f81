//! The parts of a message as Mailpit numbers and sorts them: the first text and HTML
//! bodies, then inline parts and attachments with their part ids (`1`, `2.1`; `0` for a
//! single part), decoded sizes and checksums.

use mailparse::{DispositionType, MailHeaderMap, ParsedMail};
use md5::Digest;

use super::model::{Checksums, Part};

/// The leaves of a message, as Mailpit sorts them.
#[derive(Default)]
pub struct Walk {
    pub text: String,
    pub html: String,
    seen_text: bool,
    seen_html: bool,
    pub inline: Vec<Part>,
    pub attachments: Vec<Part>,
    pub attachment_count: usize,
}

/// Nesting deeper than this is hostile, not mail.
const MAX_DEPTH: usize = 32;

impl Walk {
    pub fn of(mail: &ParsedMail<'_>) -> Self {
        let mut walk = Self::default();
        walk.walk(mail, String::new(), 0);
        walk
    }

    /// `id` is the part's dotted position: children of the root are `1`, `2`...
    fn walk(&mut self, part: &ParsedMail<'_>, id: String, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if part.subparts.is_empty() {
            let id = if id.is_empty() { "0".to_owned() } else { id };
            return self.leaf(part, id);
        }
        for (i, sub) in part.subparts.iter().enumerate() {
            let child = if id.is_empty() {
                (i + 1).to_string()
            } else {
                format!("{id}.{}", i + 1)
            };
            self.walk(sub, child, depth + 1);
        }
    }

    /// A leaf: the first text or HTML body, else an inline part or an attachment.
    fn leaf(&mut self, part: &ParsedMail<'_>, id: String) {
        let disposition = part.get_content_disposition();
        let file_name = disposition
            .params
            .get("filename")
            .or_else(|| part.ctype.params.get("name"))
            .cloned()
            .unwrap_or_default();
        let content_id = part
            .headers
            .get_first_value("Content-ID")
            .map(|c| c.trim().trim_matches(['<', '>']).to_owned())
            .unwrap_or_default();
        let attached = disposition.disposition == DispositionType::Attachment;
        let mime = part.ctype.mimetype.to_ascii_lowercase();
        if !attached && file_name.is_empty() && self.body(part, &mime) {
            return;
        }
        let given = part
            .headers
            .get_first_value("Content-Disposition")
            .is_some();
        let inline = !attached
            && (!content_id.is_empty() && !given
                || disposition.disposition == DispositionType::Inline && given);
        if !inline {
            self.attachment_count += 1;
        }
        // Mailpit lists only parts with a name or a Content-ID.
        if file_name.is_empty() && content_id.is_empty() {
            return;
        }
        let described = describe(part, id, file_name, content_id, mime);
        if inline {
            self.inline.push(described);
        } else {
            self.attachments.push(described);
        }
    }

    /// Takes `part` as the text or HTML body if it is the first of its kind.
    fn body(&mut self, part: &ParsedMail<'_>, mime: &str) -> bool {
        let (seen, body) = match mime {
            "text/plain" => (&mut self.seen_text, &mut self.text),
            "text/html" => (&mut self.seen_html, &mut self.html),
            _ => return false,
        };
        if *seen {
            return false;
        }
        *seen = true;
        *body = part.get_body().unwrap_or_default();
        true
    }
}

fn describe(
    part: &ParsedMail<'_>,
    part_id: String,
    file_name: String,
    content_id: String,
    content_type: String,
) -> Part {
    let bytes = part.get_body_raw().unwrap_or_default();
    Part {
        part_id,
        file_name: if file_name.is_empty() {
            content_id.clone()
        } else {
            file_name
        },
        content_type,
        content_id,
        size: bytes.len() as u64,
        checksums: Checksums {
            md5: hex(&md5::Md5::digest(&bytes)),
            sha1: hex(&sha1::Sha1::digest(&bytes)),
            sha256: hex(&sha2::Sha256::digest(&bytes)),
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The decoded bytes of the part with Mailpit's id `part_id` (`0` for a single part).
pub fn part_bytes(raw: &[u8], part_id: &str) -> Option<Vec<u8>> {
    let mail = mailparse::parse_mail(raw).ok()?;
    if part_id == "0" {
        return mail
            .subparts
            .is_empty()
            .then(|| mail.get_body_raw().ok())
            .flatten();
    }
    let mut at = &mail;
    for step in part_id.split('.') {
        let n: usize = step.parse().ok()?;
        at = at.subparts.get(n.checked_sub(1)?)?;
    }
    at.get_body_raw().ok()
}
