//! What the store indexes about each message, and the queries over it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::mail::{Envelope, Incoming};

/// The header of a test run's mail: parallel CI jobs tag their mail with it.
pub const RUN_HEADER: &str = "X-Mailtest-Run";

/// One stored message's facts, without its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: u64,
    pub received_at: DateTime<Utc>,
    pub envelope: Envelope,
    pub size: u64,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub message_id: Option<String>,
    /// The isolation key: the `X-Mailtest-Run` header, else the AUTH user, else the
    /// plus-tag of the first recipient (`user+run42@...`).
    pub mailbox: Option<String>,
    /// Parts sent as attachments (`Content-Disposition: attachment`), for the inbox list.
    #[serde(default)]
    pub attachments: u32,
    /// Opened by a client (Mailpit's read state); see `flags.rs`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read: bool,
    /// Tags a client set, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The id the capture log gave it (`--capture-topic`, `--from-topic`), unique across
    /// replicas: what readers tell one capture from another by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
}

impl Summary {
    pub fn new(id: u64, incoming: &Incoming) -> Self {
        let headers = mailparse::parse_headers(&incoming.raw).map(|(h, _)| h).ok();
        let header = |name: &str| {
            use mailparse::MailHeaderMap;
            headers.as_ref().and_then(|h| h.get_first_value(name))
        };
        let mailbox = header(RUN_HEADER)
            .or_else(|| incoming.envelope.auth.clone())
            .or_else(|| plus_tag(incoming.envelope.rcpt_to.first()?));
        Self {
            id,
            received_at: incoming.received_at,
            envelope: incoming.envelope.clone(),
            size: incoming.raw.len() as u64,
            subject: header("Subject"),
            from: header("From"),
            to: header("To"),
            message_id: header("Message-ID"),
            mailbox,
            attachments: count_attachments(&incoming.raw, header("Content-Type").as_deref()),
            read: false,
            tags: tags_on_receipt(header("X-Tags").as_deref(), &incoming.envelope.rcpt_to),
            capture: None,
        }
    }
}

/// Counts the attachments of a multipart message by the rule the message view uses; a
/// single-part message (most test mail) is not parsed at all.
fn count_attachments(raw: &[u8], content_type: Option<&str>) -> u32 {
    let multipart = content_type.is_some_and(|c| {
        c.trim_start()
            .get(..10)
            .is_some_and(|m| m.eq_ignore_ascii_case("multipart/"))
    });
    if multipart {
        crate::mail::parsed::attachment_count(raw)
    } else {
        0
    }
}

/// The tags a message arrives with, as Mailpit gives them: those its `X-Tags` header lists
/// (comma-separated), and the plus-tag of each recipient (`user+signup@...`).
fn tags_on_receipt(header: Option<&str>, recipients: &[String]) -> Vec<String> {
    let listed = header
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::to_owned);
    let plus = recipients.iter().filter_map(|r| plus_tag(r));
    super::flags::clean_tags(listed.chain(plus))
}

fn plus_tag(address: &str) -> Option<String> {
    let local = address.rsplit_once('@')?.0;
    let tag = local.split_once('+')?.1;
    (!tag.is_empty()).then(|| tag.to_owned())
}

/// Which messages to list or wait for; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Only messages after this id (a cursor).
    pub since: Option<u64>,
    pub mailbox: Option<String>,
    /// A recipient, in the envelope (so BCC counts) or the `To` header; case-insensitive.
    pub to: Option<String>,
    /// The sender, in the envelope or the `From` header; case-insensitive substring.
    pub from: Option<String>,
    /// A case-insensitive substring of the subject.
    pub subject: Option<String>,
    /// A header: `Name` (present) or `Name: text` (its value contains the text).
    pub header: Option<String>,
    /// A case-insensitive substring of the subject or any decoded text or HTML part.
    pub text: Option<String>,
}

impl Query {
    /// Whether checking this query needs the message itself, not only its summary.
    pub fn needs_content(&self) -> bool {
        self.header.is_some() || self.text.is_some()
    }

    /// The header and text conditions, on the raw message; true when there are none.
    pub fn matches_content(&self, raw: &[u8]) -> bool {
        if !self.needs_content() {
            return true;
        }
        let Ok(mail) = mailparse::parse_mail(raw) else {
            return false;
        };
        self.header
            .as_deref()
            .is_none_or(|h| header_matches(&mail.headers, h))
            && self.text.as_deref().is_none_or(|t| text_matches(&mail, t))
    }

    /// The conditions on the summary alone (everything but header and text).
    pub fn matches(&self, s: &Summary) -> bool {
        let contains = |hay: Option<&str>, needle: &str| {
            hay.is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
        };
        self.mailbox
            .as_ref()
            .is_none_or(|m| s.mailbox.as_ref() == Some(m))
            && self.to.as_ref().is_none_or(|to| {
                s.envelope
                    .rcpt_to
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(to))
                    || contains(s.to.as_deref(), to)
            })
            && self.from.as_ref().is_none_or(|from| {
                contains(Some(&s.envelope.mail_from), from) || contains(s.from.as_deref(), from)
            })
            && self
                .subject
                .as_ref()
                .is_none_or(|sub| contains(s.subject.as_deref(), sub))
    }
}

fn header_matches(headers: &[mailparse::MailHeader], wanted: &str) -> bool {
    let (name, value) = match wanted.split_once(':') {
        Some((name, value)) => (name.trim(), Some(value.trim().to_lowercase())),
        None => (wanted.trim(), None),
    };
    headers
        .iter()
        .filter(|h| h.get_key_ref().eq_ignore_ascii_case(name))
        .any(|h| {
            value
                .as_ref()
                .is_none_or(|v| h.get_value().to_lowercase().contains(v))
        })
}

/// Searches the decoded subject and every text part (HTML included), not the raw
/// bytes, so quoted-printable and base64 bodies are found by what they say.
fn text_matches(mail: &mailparse::ParsedMail, needle: &str) -> bool {
    use mailparse::MailHeaderMap;
    let needle = needle.to_lowercase();
    let subject = mail.headers.get_first_value("Subject").unwrap_or_default();
    if subject.to_lowercase().contains(&needle) {
        return true;
    }
    let mut parts = vec![mail];
    while let Some(part) = parts.pop() {
        parts.extend(part.subparts.iter());
        let text = part.ctype.mimetype.starts_with("text/");
        if text
            && part
                .get_body()
                .is_ok_and(|b| b.to_lowercase().contains(&needle))
        {
            return true;
        }
    }
    false
}
