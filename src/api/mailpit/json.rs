//! Mailpit's JSON shapes (`MessageSummary`, `Message`, `MessagesSummary`), field for field in
//! Mailpit's order, with its nulls: list and search leave empty `To`, `Cc` and `Bcc` as
//! `null` (and search an empty `ReplyTo`), a whole message has `[]` everywhere.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::model::{Address, Facts, ListUnsubscribe, Part};
use crate::store::Summary;

/// Where a summary is shown: Mailpit's nulls differ by route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List,
    Search,
    Event,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageSummary<'a> {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "MessageID")]
    pub message_id: &'a str,
    pub read: bool,
    pub from: &'a Address,
    pub to: Option<&'a [Address]>,
    pub cc: Option<&'a [Address]>,
    pub bcc: Option<&'a [Address]>,
    pub reply_to: Option<&'a [Address]>,
    pub subject: &'a str,
    pub created: String,
    pub username: &'a str,
    pub tags: &'a [String],
    pub size: u64,
    pub attachments: usize,
    pub snippet: &'a str,
}

impl<'a> MessageSummary<'a> {
    pub fn new(s: &'a Summary, f: &'a Facts, route: Route) -> Self {
        let listed =
            |list: &'a [Address]| (route == Route::Event || !list.is_empty()).then_some(list);
        Self {
            id: s.id.to_string(),
            message_id: &f.message_id,
            read: s.read,
            from: &f.from,
            to: listed(&f.to),
            cc: listed(&f.cc),
            bcc: listed(&f.bcc),
            reply_to: if route == Route::Search {
                listed(&f.reply_to)
            } else {
                Some(&f.reply_to)
            },
            subject: &f.subject,
            created: go_time(s.received_at),
            username: s.envelope.auth.as_deref().unwrap_or_default(),
            tags: &s.tags,
            size: s.size,
            attachments: f.attachment_count,
            snippet: &f.snippet,
        }
    }
}

// The field names are Mailpit's (`MessageID` in a `Message`).
#[allow(clippy::struct_field_names)]
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message<'a> {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "MessageID")]
    pub message_id: &'a str,
    pub from: &'a Address,
    pub to: &'a [Address],
    pub cc: &'a [Address],
    pub bcc: &'a [Address],
    pub reply_to: &'a [Address],
    pub return_path: &'a str,
    pub subject: &'a str,
    pub list_unsubscribe: &'a ListUnsubscribe,
    pub date: String,
    pub tags: &'a [String],
    pub username: &'a str,
    pub text: &'a str,
    #[serde(rename = "HTML")]
    pub html: &'a str,
    pub size: u64,
    pub inline: &'a [Part],
    pub attachments: &'a [Part],
}

impl<'a> Message<'a> {
    pub fn new(s: &'a Summary, f: &'a Facts) -> Self {
        Self {
            id: s.id.to_string(),
            message_id: &f.message_id,
            from: &f.from,
            to: &f.to,
            cc: &f.cc,
            bcc: &f.bcc,
            reply_to: &f.reply_to,
            return_path: &f.return_path,
            subject: &f.subject,
            list_unsubscribe: &f.list_unsubscribe,
            date: f.date.map_or_else(
                || go_time(s.received_at),
                |d| d.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
            tags: &s.tags,
            username: s.envelope.auth.as_deref().unwrap_or_default(),
            text: &f.text,
            html: &f.html,
            size: s.size,
            inline: &f.inline,
            attachments: &f.attachments,
        }
    }
}

/// `MessagesSummary`: the page and the counts around it.
#[derive(Serialize)]
pub struct MessagesSummary<'a> {
    pub total: usize,
    pub unread: usize,
    pub count: usize,
    pub messages_count: usize,
    pub messages_unread: usize,
    pub start: usize,
    pub tags: Vec<String>,
    pub messages: Vec<MessageSummary<'a>>,
}

/// A time as Mailpit writes `Created`: milliseconds, trailing zeros dropped, `Z` for UTC.
pub fn go_time(t: DateTime<Utc>) -> String {
    super::super::go_time(t, SecondsFormat::Millis)
}

#[cfg(test)]
mod tests {
    #[test]
    fn created_is_written_as_go_writes_it() {
        let at = |s: &str| super::go_time(s.parse().unwrap());
        assert_eq!(at("2026-12-01T10:20:30.120Z"), "2026-12-01T10:20:30.12Z");
        assert_eq!(at("2026-12-01T10:20:30Z"), "2026-12-01T10:20:30Z");
        assert_eq!(
            at("2026-12-01T10:20:30.123456Z"),
            "2026-12-01T10:20:30.123Z"
        );
    }
}
