//! The complete MIME message of a rendered event, built with lettre: multipart/alternative
//! with text then HTML, encoded subject, Message-ID from the event id, and the headers that
//! tie the mail back to its event.

use std::time::SystemTime;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::source::Sender;
use super::{RenderError, Rendered};
use crate::event::Event;

pub const EVENT_ID_HEADER: &str = "X-Mailtest-Event-Id";
pub const EVENT_TYPE_HEADER: &str = "X-Mailtest-Event-Type";

/// The message as it would be sent, dated `date`.
pub fn build(
    rendered: &Rendered,
    event: &Event,
    sender: &Sender,
    date: SystemTime,
) -> Result<lettre::Message, RenderError> {
    let from = mailbox(&sender.name, &sender.email)?;
    let to = mailbox(&event.recipient.name, &event.recipient.email)?;
    let domain = sender.email.rsplit_once('@').map_or("mailtest", |(_, d)| d);
    let mut builder = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(&rendered.subject)
        .date(date)
        .message_id(Some(format!("<{}@{domain}>", event.event_id)))
        .raw_header(raw(EVENT_ID_HEADER, event.event_id.to_string()))
        .raw_header(raw(EVENT_TYPE_HEADER, event.event_type.clone()));
    if let Some(url) = &sender.preferences_url {
        builder = builder.raw_header(raw("List-Unsubscribe", format!("<{url}>")));
    }
    let body = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(rendered.text.clone()),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(rendered.html.clone()),
        );
    builder
        .multipart(body)
        .map_err(|e| RenderError::Message(e.to_string()))
}

fn mailbox(name: &str, email: &str) -> Result<Mailbox, RenderError> {
    let address = email
        .parse()
        .map_err(|e| RenderError::Message(format!("address `{email}`: {e}")))?;
    let name = (!name.trim().is_empty()).then(|| name.to_owned());
    Ok(Mailbox::new(name, address))
}

fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}
