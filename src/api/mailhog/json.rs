//! MailHog's message JSON (`mailhog/data`), built from a stored message the way MailHog
//! builds it on receipt: headers raw as sent (one value per name, the last one; folded
//! lines joined), the body undecoded, MIME parts split on the boundary (the preamble and
//! the closing `--` included), and the `Received`, `Return-Path` and `Message-ID` headers
//! MailHog adds, in `Content.Headers` only. Clients decode bodies and headers themselves.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::store::Summary;

/// The host name in MailHog's `Received` header.
const HOSTNAME: &str = "mailtest";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    #[serde(rename = "ID")]
    pub id: String,
    pub from: Path,
    pub to: Vec<Path>,
    pub content: Content,
    pub created: String,
    #[serde(rename = "MIME")]
    pub mime: Option<Mime>,
    pub raw: Raw,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Path {
    pub relays: Option<Vec<String>>,
    pub mailbox: String,
    pub domain: String,
    pub params: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Content {
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: String,
    pub size: usize,
    #[serde(rename = "MIME")]
    pub mime: Option<Mime>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mime {
    pub parts: Option<Vec<Content>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Raw {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    pub helo: String,
}

impl Message {
    pub fn new(summary: &Summary, raw: &[u8]) -> Self {
        let envelope = &summary.envelope;
        // SMTP's final CRLF is not part of MailHog's data.
        let data = String::from_utf8_lossy(raw.strip_suffix(b"\r\n").unwrap_or(raw)).into_owned();
        let mut content = Content::parse(&data, 0);
        let mime = content.mime.take();
        let id = summary.id.to_string();
        let headers = &mut content.headers;
        if !headers.keys().any(|k| k.eq_ignore_ascii_case("message-id")) {
            headers.insert("Message-ID".to_owned(), vec![id.clone()]);
        }
        let received = format!(
            "from {} by {HOSTNAME} (MailHog)\r\n          id {id}; {}",
            envelope.helo,
            summary.received_at.format("%a, %d %b %Y %H:%M:%S %z")
        );
        add(headers, "Received", received);
        add(headers, "Return-Path", format!("<{}>", envelope.mail_from));
        Self {
            id,
            from: path(&envelope.mail_from),
            to: envelope.rcpt_to.iter().map(|r| path(r)).collect(),
            content,
            created: go_nano(summary.received_at),
            mime,
            raw: Raw {
                from: envelope.mail_from.clone(),
                to: envelope.rcpt_to.clone(),
                data,
                helo: envelope.helo.clone(),
            },
        }
    }
}

/// Appends to the header of that name in any case, else sets it.
fn add(headers: &mut BTreeMap<String, Vec<String>>, name: &str, value: String) {
    match headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
    {
        Some((_, values)) => values.push(value),
        None => {
            headers.insert(name.to_owned(), vec![value]);
        }
    }
}

/// Nesting deeper than this is hostile, not mail.
const MAX_DEPTH: usize = 32;

impl Content {
    /// MailHog's `ContentFromString`, and its MIME split for a multipart type.
    fn parse(data: &str, depth: usize) -> Self {
        let (head, body) = data.split_once("\r\n\r\n").unwrap_or(("", data));
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                let values = last.as_ref().and_then(|k| headers.get_mut(k));
                if let Some(value) = values.and_then(|v| v.last_mut()) {
                    value.push_str(line);
                }
                continue;
            }
            // Only `Name: value` (a colon and a space) is a header to MailHog.
            match line.split_once(": ") {
                Some((key, value)) => {
                    headers.insert(key.to_owned(), vec![value.to_owned()]);
                    last = Some(key.to_owned());
                }
                None => last = None,
            }
        }
        let mime = headers
            .get("Content-Type")
            .and_then(|v| v.first())
            .filter(|t| t.starts_with("multipart/"))
            .map(|t| Mime::split(t, body, depth));
        Self {
            headers,
            body: body.to_owned(),
            size: data.len(),
            mime,
        }
    }
}

impl Mime {
    fn split(content_type: &str, body: &str, depth: usize) -> Self {
        let boundary = mailparse::parse_content_type(content_type)
            .params
            .get("boundary")
            .cloned();
        let Some(boundary) = boundary.filter(|_| depth < MAX_DEPTH) else {
            return Self { parts: None };
        };
        let parts = body
            .split(&format!("--{boundary}"))
            .filter(|piece| !piece.is_empty())
            .map(|piece| Content::parse(piece.trim_matches(['\r', '\n']), depth + 1))
            .collect();
        Self { parts: Some(parts) }
    }
}

/// MailHog's `PathFromString`: relays before a `:`, then mailbox and domain at the `@`.
fn path(address: &str) -> Path {
    let (relays, rest) = match address.split_once(':') {
        Some((relays, rest)) => (Some(relays.split(',').map(str::to_owned).collect()), rest),
        None => (None, address),
    };
    let (mailbox, domain) = rest.split_once('@').unwrap_or((rest, ""));
    Path {
        relays,
        mailbox: mailbox.to_owned(),
        domain: domain.to_owned(),
        params: String::new(),
    }
}

/// A time as MailHog writes `Created` (Go's `RFC3339Nano`).
fn go_nano(t: DateTime<Utc>) -> String {
    super::super::go_time(t, SecondsFormat::Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_reads_as_mailhog_reads_it() {
        let data = "Subject: Hello\r\n  folded\r\nX:dropped\r\nTo: a@x\r\nTo: b@x\r\n\
                    Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\npreamble\r\n--B\r\n\
                    Content-Type: text/plain\r\n\r\nhi\r\n--B--";
        let content = Content::parse(data, 0);
        assert_eq!(content.headers["Subject"], ["Hello  folded"]);
        assert_eq!(content.headers["To"], ["b@x"], "the last one wins");
        assert!(!content.headers.contains_key("X"));
        let parts = content.mime.unwrap().parts.unwrap();
        let bodies: Vec<&str> = parts.iter().map(|p| p.body.as_str()).collect();
        assert_eq!(bodies, ["preamble", "hi", "--"]);
        let relayed = path("@r1,@r2:ann@example.com");
        assert_eq!(
            (
                relayed.relays,
                relayed.mailbox.as_str(),
                relayed.domain.as_str()
            ),
            (
                Some(vec!["@r1".to_owned(), "@r2".to_owned()]),
                "ann",
                "example.com"
            )
        );
        assert_eq!(
            go_nano("2026-12-07T16:38:43.289397Z".parse().unwrap()),
            "2026-12-07T16:38:43.289397Z"
        );
    }
}
