//! A captured message as verify sees it, from any source: header facts up front (cheap to
//! match on across 100,000 messages), the body parsed only when a check needs it.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::mail::Envelope;
use crate::mail::parsed::{self, Parsed};

/// Loads the raw bytes of a message when they are first needed.
pub type Loader = Arc<dyn Fn() -> Result<Vec<u8>, String> + Send + Sync>;

/// One message: its header facts, and its body when a check asks for it.
pub struct Message {
    facts: Facts,
    loader: Loader,
    content: OnceLock<Result<Content, String>>,
}

/// The parts of the body checks look at.
pub struct Content {
    pub raw: Vec<u8>,
    pub parsed: Parsed,
    pub links: Vec<String>,
}

/// Header facts of a message, however they were found (a store summary, the API's
/// listing, an `.eml` file's headers).
pub struct Facts {
    /// The store id, or the file name.
    pub id: String,
    /// Arrival order within the source.
    pub seq: u64,
    pub received_at: Option<DateTime<Utc>>,
    pub envelope: Option<Envelope>,
    pub mailbox: Option<String>,
    pub size: u64,
    pub subject: Option<String>,
    pub from: Vec<String>,
    /// `To` addresses, then envelope recipients not already there (BCC).
    pub to: Vec<String>,
    pub cc: Vec<String>,
}

impl Facts {
    /// Facts from header texts: the address headers are read into bare addresses.
    pub fn new(id: String, seq: u64, headers: HeaderTexts) -> Self {
        Self {
            id,
            seq,
            received_at: None,
            envelope: None,
            mailbox: headers.mailbox,
            size: 0,
            subject: headers.subject,
            from: addresses(headers.from.as_deref()),
            to: addresses(headers.to.as_deref()),
            cc: addresses(headers.cc.as_deref()),
        }
    }
}

/// The header texts facts are read from.
#[derive(Default)]
pub struct HeaderTexts {
    pub mailbox: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
}

/// A message reads as its facts (`message.subject`), which never change once found.
impl std::ops::Deref for Message {
    type Target = Facts;

    fn deref(&self) -> &Facts {
        &self.facts
    }
}

impl Message {
    /// A message of `facts`, its envelope recipients added to `to` (BCC), its body read
    /// through `loader` when first needed.
    pub fn new(mut facts: Facts, loader: Loader) -> Self {
        if let Some(envelope) = &facts.envelope {
            for rcpt in &envelope.rcpt_to {
                if !facts.to.iter().any(|t| t.eq_ignore_ascii_case(rcpt)) {
                    facts.to.push(rcpt.clone());
                }
            }
        }
        Self {
            facts,
            loader,
            content: OnceLock::new(),
        }
    }

    /// A message from its raw bytes (an `.eml` file), without an envelope.
    pub fn from_raw(id: String, seq: u64, raw: Vec<u8>) -> Self {
        use mailparse::MailHeaderMap;
        let headers = mailparse::parse_headers(&raw)
            .map(|(h, _)| h)
            .unwrap_or_default();
        let header = |name: &str| headers.get_first_value(name);
        let texts = HeaderTexts {
            mailbox: header(crate::store::summary::RUN_HEADER),
            subject: header("Subject"),
            from: header("From"),
            to: header("To"),
            cc: header("Cc"),
        };
        let facts = Facts {
            size: raw.len() as u64,
            ..Facts::new(id, seq, texts)
        };
        let shared = Arc::new(raw);
        Self::new(facts, Arc::new(move || Ok(shared.to_vec())))
    }

    /// The parsed body, loaded and parsed once.
    pub fn content(&self) -> Result<&Content, String> {
        self.content
            .get_or_init(|| {
                let raw = (self.loader)()?;
                let parsed = parsed::parse(&raw);
                let links = links(&parsed);
                Ok(Content { raw, parsed, links })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A short description for reports: `#12 "Subject" to a@b`.
    pub fn describe(&self) -> String {
        format!(
            "#{} {} to {}",
            self.id,
            self.subject
                .as_deref()
                .map_or_else(|| "(no subject)".to_owned(), super::check::show),
            self.to.first().map_or("nobody", String::as_str)
        )
    }
}

/// What reports show of a matched message.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub id: String,
    #[serde(skip)]
    pub seq: u64,
    pub subject: Option<String>,
    pub to: Vec<String>,
    pub received_at: Option<DateTime<Utc>>,
}

impl From<&Message> for Seen {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.clone(),
            seq: m.seq,
            subject: m.subject.clone(),
            to: m.to.clone(),
            received_at: m.received_at,
        }
    }
}

/// Bare addresses from an address header, lower-cased; the raw text when it does not parse.
fn addresses(header: Option<&str>) -> Vec<String> {
    let Some(header) = header else {
        return Vec::new();
    };
    let Ok(list) = mailparse::addrparse(header) else {
        return vec![header.trim().to_owned()];
    };
    let mut out = Vec::new();
    for addr in list.iter() {
        match addr {
            mailparse::MailAddr::Single(s) => out.push(s.addr.to_lowercase()),
            mailparse::MailAddr::Group(g) => {
                out.extend(g.addrs.iter().map(|s| s.addr.to_lowercase()));
            }
        }
    }
    out
}

/// The links of a message: the HTML part's `href`s, else the URLs in the text part.
fn links(parsed: &Parsed) -> Vec<String> {
    if let Some(html) = &parsed.html {
        return crate::render::html::tags(html)
            .into_iter()
            .filter(|t| t.name == "a" && !t.closing)
            .filter_map(|t| t.attr("href").flatten().map(str::to_owned))
            .collect();
    }
    let Some(text) = &parsed.text else {
        return Vec::new();
    };
    let url = regex::Regex::new(r#"https?://[^\s<>"')\]]+"#).expect("valid regex");
    url.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}
