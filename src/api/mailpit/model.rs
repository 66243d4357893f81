//! What Mailpit's API says about a message, read from its raw bytes once and cached:
//! addresses with names, the snippet, parts numbered as Mailpit (enmime) numbers them
//! (`1`, `2.1`; `0` for a single-part message), checksums, and the text its search reads.
//! Field names, order and nullability follow Mailpit 1.30 (`internal/storage/structs.go`).

use mailparse::MailHeaderMap;
use serde::Serialize;

use super::parts::Walk;
use crate::mail::Envelope;

/// `net/mail.Address` as Go encodes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    pub name: String,
    pub address: String,
}

/// A part shown inline or offered as a file (`PartID` is Mailpit's name).
#[allow(clippy::struct_field_names)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Part {
    #[serde(rename = "PartID")]
    pub part_id: String,
    pub file_name: String,
    pub content_type: String,
    #[serde(rename = "ContentID")]
    pub content_id: String,
    pub size: u64,
    pub checksums: Checksums,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub struct Checksums {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListUnsubscribe {
    pub header: String,
    pub links: Vec<String>,
    pub errors: String,
    pub header_post: String,
}

/// Everything about a message that does not change (read state and tags do).
#[derive(Debug, Clone)]
pub struct Facts {
    pub message_id: String,
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// Envelope recipients in no `To` or `Cc`, as Mailpit adds them to a `Bcc` header.
    pub bcc: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub return_path: String,
    pub subject: String,
    pub date: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub list_unsubscribe: ListUnsubscribe,
    pub text: String,
    pub html: String,
    pub snippet: String,
    pub inline: Vec<Part>,
    pub attachments: Vec<Part>,
    /// What `has:` and the summary count: every non-body part that is not inline.
    pub attachment_count: usize,
    pub inline_count: usize,
    /// Mailpit's `SearchText`: sender, subject, recipients, body and file names, cleaned.
    pub search_text: String,
    /// Each address field as Mailpit stores it (JSON), lowercased, for `to:` and the like.
    pub address_json: [String; 5],
}

/// Mailpit's snippets stop at this many bytes (then `...`).
const SNIPPET_BYTES: usize = 200;

impl Facts {
    pub fn read(raw: &[u8], envelope: &Envelope) -> Self {
        let Ok(mail) = mailparse::parse_mail(raw) else {
            return Self::unparsable(raw);
        };
        let h = |name: &str| mail.headers.get_first_value(name);
        let from = sender(h("From"));
        let (to, cc) = (addresses(h("To").as_deref()), addresses(h("Cc").as_deref()));
        let bcc = with_envelope(addresses(h("Bcc").as_deref()), &to, &cc, envelope);
        let reply_to = addresses(h("Reply-To").as_deref());
        let parts = Walk::of(&mail);
        let subject = h("Subject").unwrap_or_default();
        let return_path = h("Return-Path")
            .map(|r| r.trim().trim_matches(['<', '>']).to_owned())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| envelope.mail_from.clone());
        let body_text = body_text(&parts);
        let headers = [h("From"), h("To"), h("Cc"), h("Bcc"), h("Reply-To")];
        let search = search_text(
            &headers,
            &subject,
            &return_path,
            &body_text,
            &parts.attachments,
        );
        let address_json = [
            json_text(std::slice::from_ref(&from)),
            json_text(&to),
            json_text(&cc),
            json_text(&bcc),
            json_text(&reply_to),
        ];
        Self {
            message_id: h("Message-ID")
                .map(|m| m.trim().trim_matches(['<', '>']).to_owned())
                .unwrap_or_default(),
            snippet: snippet(&body_text),
            date: h("Date").and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok()),
            list_unsubscribe: list_unsubscribe(h("List-Unsubscribe"), h("List-Unsubscribe-Post")),
            search_text: search,
            address_json,
            attachment_count: parts.attachment_count,
            inline_count: parts.inline.len(),
            from,
            to,
            cc,
            bcc,
            reply_to,
            return_path,
            subject,
            text: parts.text,
            html: parts.html,
            inline: parts.inline,
            attachments: parts.attachments,
        }
    }

    /// About how many bytes these facts hold.
    pub fn weight(&self) -> usize {
        let parts = (self.inline.len() + self.attachments.len()) * 256;
        self.text.len()
            + self.html.len()
            + self.search_text.len()
            + self.snippet.len()
            + parts
            + 512
    }

    /// A message mailparse cannot read at all: its bytes as text, nothing else.
    fn unparsable(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw).into_owned();
        Self {
            message_id: String::new(),
            from: Address::default(),
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            return_path: String::new(),
            subject: String::new(),
            date: None,
            list_unsubscribe: ListUnsubscribe::default(),
            snippet: snippet(&text),
            search_text: clean(&text),
            text,
            html: String::new(),
            inline: Vec::new(),
            attachments: Vec::new(),
            attachment_count: 0,
            inline_count: 0,
            address_json: std::array::from_fn(|_| "{}".to_owned()),
        }
    }
}

/// The `From` address; a header that is no address is its name, as Mailpit keeps it.
fn sender(header: Option<String>) -> Address {
    let first = addresses(header.as_deref()).into_iter().next();
    first.unwrap_or_else(|| Address {
        name: header.unwrap_or_default(),
        address: String::new(),
    })
}

/// What a reader reads: the HTML's text, else the text body.
fn body_text(parts: &Walk) -> String {
    if parts.html.trim().is_empty() {
        parts.text.clone()
    } else {
        html_text(&parts.html)
    }
}

/// `bcc` with the envelope recipients that no `To`, `Cc` or `Bcc` names, as Mailpit adds
/// them to a `Bcc` header on receipt.
fn with_envelope(
    mut bcc: Vec<Address>,
    to: &[Address],
    cc: &[Address],
    envelope: &Envelope,
) -> Vec<Address> {
    for rcpt in &envelope.rcpt_to {
        let known = |list: &[Address]| list.iter().any(|a| a.address.eq_ignore_ascii_case(rcpt));
        if !known(to) && !known(cc) && !known(&bcc) {
            bcc.push(Address {
                name: String::new(),
                address: rcpt.clone(),
            });
        }
    }
    bcc
}

/// Mailpit's `SearchText`: From, Subject, To, Cc, Bcc, Reply-To, Return-Path, the body and
/// the attachments' names, cleaned.
fn search_text(
    headers: &[Option<String>; 5],
    subject: &str,
    return_path: &str,
    body: &str,
    attachments: &[Part],
) -> String {
    let [from, to, cc, bcc, reply_to] = headers;
    let mut text = [from.as_deref(), Some(subject), to.as_deref(), cc.as_deref()]
        .into_iter()
        .chain([
            bcc.as_deref(),
            reply_to.as_deref(),
            Some(return_path),
            Some(body),
        ])
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    for part in attachments {
        text.push(' ');
        text.push_str(&part.file_name);
    }
    clean(&text)
}

/// An address field as Mailpit stores it (JSON, `{}` when empty), lowercased.
fn json_text(list: &[Address]) -> String {
    if list.is_empty() {
        "{}".to_owned()
    } else {
        serde_json::to_string(list)
            .unwrap_or_default()
            .to_lowercase()
    }
}

/// A header's addresses (RFC 2047 decoded by mailparse), groups flattened.
fn addresses(value: Option<&str>) -> Vec<Address> {
    let Some(list) = value.and_then(|v| mailparse::addrparse(v).ok()) else {
        return Vec::new();
    };
    let single = |s: &mailparse::SingleInfo| Address {
        name: s.display_name.clone().unwrap_or_default(),
        address: s.addr.clone(),
    };
    list.iter()
        .flat_map(|a| match a {
            mailparse::MailAddr::Single(s) => vec![single(s)],
            mailparse::MailAddr::Group(g) => g.addrs.iter().map(single).collect(),
        })
        .collect()
}

fn list_unsubscribe(header: Option<String>, post: Option<String>) -> ListUnsubscribe {
    let Some(header) = header else {
        return ListUnsubscribe::default();
    };
    let links = header
        .split(',')
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix('<')?.strip_suffix('>').map(str::to_owned)
        })
        .collect();
    ListUnsubscribe {
        header_post: post.unwrap_or_default(),
        header,
        links,
        errors: String::new(),
    }
}

/// The text of an HTML body, as a reader sees it (entities decoded, no markup).
fn html_text(html: &str) -> String {
    html2text::config::plain()
        .link_footnotes(false)
        .string_from_read(html.as_bytes(), 100_000)
        .unwrap_or_default()
}

/// Whitespace collapsed, cut at 200 bytes on a character boundary with `...` after.
pub fn snippet(text: &str) -> String {
    let text = text.replace('\u{feff}', " ");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.len() <= SNIPPET_BYTES {
        return flat;
    }
    let mut end = SNIPPET_BYTES;
    while !flat.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &flat[..end])
}

/// Mailpit's `cleanString`: separators to spaces, whitespace collapsed, lowercased.
pub fn clean(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| match c {
            '\u{feff}' | '\t' | '\r' | '\n' | '>' | '<' | '"' | ',' | ';' | '(' | ')' => ' ',
            c => c,
        })
        .collect();
    spaced
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}
