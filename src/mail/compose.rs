//! A message given in parts through a provider's HTTP API (addresses, subject, bodies,
//! headers, files), built into the MIME the provider would deliver: text and HTML as
//! `multipart/alternative`, inline images beside them in `multipart/related`, files in
//! `multipart/mixed`. BCC recipients are in the envelope only, as a provider sends them.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use mailparse::MailHeaderMap;

use super::{ApiSend, Envelope, Incoming};

/// The message as an API request describes it.
#[derive(Debug, Clone, Default)]
pub struct Email {
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    pub files: Vec<File>,
    /// The `Message-ID` the provider gives it (without angle brackets).
    pub message_id: String,
}

/// An attachment, or an inline part when it has a content id.
#[derive(Debug, Clone, Default)]
pub struct File {
    pub name: String,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
    pub content_id: Option<String>,
}

/// `email` (`ann@example.com`) with an optional display name, or why it is no address.
pub fn mailbox(email: &str, name: Option<&str>) -> Result<Mailbox, String> {
    let address = email
        .trim()
        .parse()
        .map_err(|_| format!("`{email}` is not a valid email address"))?;
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok(Mailbox::new(name, address))
}

/// Addresses in one string, comma-separated, each `Name <a@b>` or bare.
pub fn mailbox_list(list: &str) -> Result<Vec<Mailbox>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Mailbox>()
                .map_err(|_| format!("`{s}` is not a valid email address"))
        })
        .collect()
}

impl Email {
    /// Every recipient, BCC included, as the envelope's.
    pub fn recipients(&self) -> Vec<String> {
        let all = self.to.iter().chain(&self.cc).chain(&self.bcc);
        all.map(|m| m.email.to_string()).collect()
    }

    /// The message as it is stored: MIME, with the envelope and what else the request
    /// carried (`api`).
    pub fn incoming(&self, api: ApiSend, client: std::net::SocketAddr) -> Result<Incoming, String> {
        let from = self.from.clone().ok_or("no sender")?;
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(self.subject.clone())
            .message_id(Some(format!("<{}>", self.message_id)));
        for m in &self.to {
            builder = builder.to(m.clone());
        }
        for m in &self.cc {
            builder = builder.cc(m.clone());
        }
        for m in &self.reply_to {
            builder = builder.reply_to(m.clone());
        }
        for (name, value) in &self.headers {
            let name = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            builder = builder.raw_header(HeaderValue::new(name, value.clone()));
        }
        let message = match self.body() {
            Body::Multi(part) => builder.multipart(part),
            Body::Single(part) => builder.singlepart(part),
        }
        .map_err(|e| format!("cannot build the message: {e}"))?;
        let endpoint = api.endpoint.clone();
        Ok(Incoming {
            envelope: Envelope {
                mail_from: from.email.to_string(),
                rcpt_to: self.recipients(),
                helo: api.provider.clone(),
                auth: api.key.clone(),
                client,
                api: Some(api),
                ..Envelope::api_default()
            },
            raw: message.formatted(),
            received_at: chrono::Utc::now(),
            transcript: vec![format!("API: {endpoint}")],
        })
    }

    /// The MIME tree: the bodies, inline parts around them, files around that.
    fn body(&self) -> Body {
        let text = self.text.clone().filter(|t| !t.is_empty());
        let html = self.html.clone().filter(|t| !t.is_empty());
        let bodies = match (text, html) {
            (Some(t), Some(h)) => Body::Multi(MultiPart::alternative_plain_html(t, h)),
            (None, Some(h)) => Body::Single(SinglePart::html(h)),
            (t, None) => Body::Single(SinglePart::plain(t.unwrap_or_default())),
        };
        let (inline, files): (Vec<&File>, Vec<&File>) =
            self.files.iter().partition(|f| f.content_id.is_some());
        let mut body = bodies;
        if !inline.is_empty() {
            let mut related = body.into_multi(MultiPart::related());
            for f in inline {
                let id = f.content_id.clone().unwrap_or_default();
                related =
                    related.singlepart(Attachment::new_inline(id).body(f.data.clone(), kind(f)));
            }
            body = Body::Multi(related);
        }
        if !files.is_empty() {
            let mut mixed = body.into_multi(MultiPart::mixed());
            for f in files {
                mixed =
                    mixed.singlepart(Attachment::new(f.name.clone()).body(f.data.clone(), kind(f)));
            }
            body = Body::Multi(mixed);
        }
        body
    }
}

/// A message sent whole (SES's raw content), stored byte for byte: its envelope sender
/// `from` and recipients `rcpt_to`, else those of its own headers.
pub fn raw_incoming(
    raw: Vec<u8>,
    from: Option<String>,
    rcpt_to: Vec<String>,
    api: ApiSend,
    client: std::net::SocketAddr,
) -> Result<Incoming, String> {
    let (headers, _) = mailparse::parse_headers(&raw)
        .map_err(|e| format!("the raw message has no valid headers: {e}"))?;
    let addresses = |name: &str| -> Vec<String> {
        headers
            .get_all_values(name)
            .iter()
            .flat_map(|v| {
                mailparse::addrparse(v)
                    .map(|list| list.iter().flat_map(addrs).collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect()
    };
    let mail_from = from
        .or_else(|| addresses("From").into_iter().next())
        .ok_or("the raw message has no From")?;
    let rcpt_to = if rcpt_to.is_empty() {
        ["To", "Cc", "Bcc"]
            .iter()
            .flat_map(|h| addresses(h))
            .collect()
    } else {
        rcpt_to
    };
    if rcpt_to.is_empty() {
        return Err("the raw message names no recipient".into());
    }
    let endpoint = api.endpoint.clone();
    Ok(Incoming {
        envelope: Envelope {
            mail_from,
            rcpt_to,
            helo: api.provider.clone(),
            bare_lf: super::has_bare_lf(&raw),
            auth: api.key.clone(),
            client,
            api: Some(api),
            ..Envelope::api_default()
        },
        raw,
        received_at: chrono::Utc::now(),
        transcript: vec![format!("API: {endpoint}")],
    })
}

/// The addresses of one address-list entry (a group has several).
fn addrs(entry: &mailparse::MailAddr) -> Vec<String> {
    match entry {
        mailparse::MailAddr::Single(info) => vec![info.addr.clone()],
        mailparse::MailAddr::Group(group) => group.addrs.iter().map(|i| i.addr.clone()).collect(),
    }
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

impl Body {
    /// This body as the first part of a new multipart made by `builder`.
    fn into_multi(self, builder: lettre::message::MultiPartBuilder) -> MultiPart {
        match self {
            Self::Single(part) => builder.singlepart(part),
            Self::Multi(part) => builder.multipart(part),
        }
    }
}

/// A file's content type, `application/octet-stream` when none or a bad one is given.
fn kind(f: &File) -> ContentType {
    f.content_type
        .as_deref()
        .and_then(|t| ContentType::parse(t).ok())
        .unwrap_or_else(|| ContentType::parse("application/octet-stream").expect("valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_inline_parts_and_files_nest_as_providers_send_them() {
        let email = Email {
            from: Some(mailbox("a@example.com", Some("A")).unwrap()),
            to: mailbox_list("b@example.com, C <c@example.com>").unwrap(),
            bcc: vec![mailbox("hidden@example.com", None).unwrap()],
            subject: "Hi".into(),
            text: Some("hello".into()),
            html: Some("<p>hello <img src=cid:logo></p>".into()),
            headers: vec![("X-Campaign".into(), "spring".into())],
            files: vec![
                File {
                    name: "logo.png".into(),
                    content_type: Some("image/png".into()),
                    data: vec![1, 2],
                    content_id: Some("logo".into()),
                },
                File {
                    name: "a.pdf".into(),
                    content_type: Some("application/pdf".into()),
                    data: b"%PDF".to_vec(),
                    content_id: None,
                },
            ],
            message_id: "m1@sendgrid.test".into(),
            ..Email::default()
        };
        let api = ApiSend {
            provider: "sendgrid".into(),
            endpoint: "POST /v3/mail/send".into(),
            key: None,
            metadata: serde_json::Map::new(),
        };
        let incoming = email.incoming(api, "127.0.0.1:1".parse().unwrap()).unwrap();
        let parsed = mailparse::parse_mail(&incoming.raw).unwrap();
        assert_eq!(parsed.ctype.mimetype, "multipart/mixed");
        assert_eq!(parsed.subparts[0].ctype.mimetype, "multipart/related");
        assert_eq!(
            parsed.subparts[0].subparts[0].ctype.mimetype,
            "multipart/alternative"
        );
        let raw = String::from_utf8_lossy(&incoming.raw);
        assert!(!raw.contains("hidden@example.com"), "no Bcc header");
        assert!(
            raw.contains("X-Campaign: spring") && raw.contains("Message-ID: <m1@sendgrid.test>")
        );
        assert_eq!(
            incoming.envelope.rcpt_to,
            ["b@example.com", "c@example.com", "hidden@example.com"]
        );
    }
}
