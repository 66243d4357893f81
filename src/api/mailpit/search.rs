//! Mailpit's search language (`internal/storage/search.go`): terms split on spaces (quotes
//! keep spaces and are then dropped), all of them must hold, `-` or `!` negating one; `from:`,
//! `to:`, `cc:`, `bcc:`, `reply-to:`, `addressed:`, `subject:`, `message-id:`, `tag:`,
//! `is:read|unread|tagged`, `has:attachment|inline`, `after:`, `before:`, `larger:`,
//! `smaller:`, and bare words against the sender, subject, recipients, body and file names.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::model::{Facts, clean};
use crate::store::Summary;

/// One parsed term.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// An address field (0 from, 1 to, 2 cc, 3 bcc, 4 reply-to) or any of them.
    Address(Vec<usize>, String),
    Subject(String),
    MessageId(String),
    Tag(String),
    Read(bool),
    Tagged,
    Attachment,
    Inline,
    After(DateTime<Utc>),
    Before(DateTime<Utc>),
    Larger(u64),
    Smaller(u64),
    Text(String),
}

/// A parsed query: terms, each maybe negated.
#[derive(Debug, Clone, Default)]
pub struct Search {
    terms: Vec<(bool, Term)>,
}

impl Search {
    /// Parses `query`; `tz` is the zone `after:` and `before:` dates are read in (UTC when
    /// unknown).
    pub fn parse(query: &str, tz: Option<&str>) -> Self {
        let zone: chrono_tz::Tz = tz.and_then(|t| t.parse().ok()).unwrap_or(chrono_tz::UTC);
        let terms = tokens(query)
            .into_iter()
            .filter(|w| !clean(w).is_empty())
            .filter_map(|w| {
                let (negated, w) = match w.strip_prefix(['-', '!']) {
                    Some(rest) if w.len() > 1 => (true, rest.to_owned()),
                    _ => (false, w),
                };
                term(&w, zone).map(|t| (negated, t))
            })
            .collect();
        Self { terms }
    }

    /// The time of the first `before:` term (the `before` parameter is read as one).
    pub fn before(&self) -> Option<DateTime<Utc>> {
        self.terms.iter().find_map(|(_, t)| match t {
            Term::Before(t) => Some(*t),
            _ => None,
        })
    }

    /// Whether any term reads the message's contents (everything but flags, size, time).
    pub fn needs_facts(&self) -> bool {
        self.terms.iter().any(|(_, t)| {
            !matches!(
                t,
                Term::Read(_)
                    | Term::Tagged
                    | Term::Tag(_)
                    | Term::After(_)
                    | Term::Before(_)
                    | Term::Larger(_)
                    | Term::Smaller(_)
            )
        })
    }

    pub fn matches(&self, summary: &Summary, facts: Option<&Facts>) -> bool {
        self.terms.iter().all(|(negated, term)| {
            let hit = hit(term, summary, facts);
            // Mailpit negates dates and sizes by flipping the comparison, both inclusive.
            match (negated, term) {
                (true, Term::After(t)) => summary.received_at <= *t,
                (true, Term::Before(t)) => summary.received_at >= *t,
                (true, Term::Larger(n)) => summary.size < *n,
                (true, Term::Smaller(n)) => summary.size > *n,
                (true, _) => !hit,
                (false, _) => hit,
            }
        })
    }
}

fn hit(term: &Term, s: &Summary, facts: Option<&Facts>) -> bool {
    let facts = || facts.expect("facts are read for terms that need them");
    match term {
        Term::Address(fields, v) => fields.iter().any(|&i| facts().address_json[i].contains(v)),
        Term::Subject(v) => facts().subject.to_lowercase().contains(v),
        Term::MessageId(v) => facts().message_id.to_lowercase().contains(v),
        Term::Tag(v) => s.tags.iter().any(|t| t.eq_ignore_ascii_case(v)),
        Term::Read(read) => s.read == *read,
        Term::Tagged => !s.tags.is_empty(),
        Term::Attachment => facts().attachment_count > 0,
        Term::Inline => facts().inline_count > 0,
        Term::After(t) => s.received_at >= *t,
        Term::Before(t) => s.received_at <= *t,
        Term::Larger(n) => s.size > *n,
        Term::Smaller(n) => s.size < *n,
        Term::Text(v) => facts().search_text.contains(v),
    }
}

/// Splits on spaces outside quotes; quotes are then removed.
fn tokens(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut current, mut quoted) = (String::new(), false);
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ' ' if !quoted => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|t| t.replace('"', "").trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn term(word: &str, zone: chrono_tz::Tz) -> Option<Term> {
    let lower = word.to_lowercase();
    let value = |prefix: &str| clean(&word[prefix.len()..]);
    if let Some(found) = address_term(&lower, value) {
        return found.term();
    }
    if lower.starts_with("subject:") {
        let v = word["subject:".len()..].to_lowercase();
        return (!v.is_empty()).then_some(Term::Subject(v));
    }
    if lower.starts_with("message-id:") {
        return Some(Term::MessageId(value("message-id:")));
    }
    if lower.starts_with("tag:") {
        return Some(Term::Tag(value("tag:")));
    }
    match lower.as_str() {
        "is:read" => return Some(Term::Read(true)),
        "is:unread" => return Some(Term::Read(false)),
        "is:tagged" => return Some(Term::Tagged),
        "has:attachment" | "has:attachments" => return Some(Term::Attachment),
        "has:inline" | "has:inlines" => return Some(Term::Inline),
        _ => {}
    }
    if let Some(found) = range_term(&lower, value, zone) {
        return found.term();
    }
    Some(Term::Text(clean(&lower)))
}

/// A word read by one kind of term: a term, or nothing to search for (`to:` alone, a date
/// that is not one), which Mailpit leaves out.
enum Found {
    Term(Term),
    Ignored,
}

impl Found {
    fn term(self) -> Option<Term> {
        match self {
            Self::Term(t) => Some(t),
            Self::Ignored => None,
        }
    }

    fn from(term: Option<Term>) -> Self {
        term.map_or(Self::Ignored, Self::Term)
    }
}

/// `from:`, `to:`, `cc:`, `bcc:`, `reply-to:`, `addressed:`.
fn address_term(lower: &str, value: impl Fn(&str) -> String) -> Option<Found> {
    let fields = [
        ("from:", vec![0]),
        ("to:", vec![1]),
        ("cc:", vec![2]),
        ("bcc:", vec![3]),
        ("reply-to:", vec![4]),
        ("addressed:", vec![0, 1, 2, 3, 4]),
    ];
    let (prefix, fields) = fields.into_iter().find(|(p, _)| lower.starts_with(p))?;
    let v = value(prefix);
    Some(Found::from(
        (!v.is_empty()).then_some(Term::Address(fields, v)),
    ))
}

/// `after:`, `before:` (a date `zone` reads), `larger:`, `smaller:` (a size); a size that
/// is not one leaves the word to the text search.
fn range_term(lower: &str, value: impl Fn(&str) -> String, zone: chrono_tz::Tz) -> Option<Found> {
    for (prefix, after) in [("after:", true), ("before:", false)] {
        if lower.starts_with(prefix) {
            let when = date(&value(prefix).to_uppercase(), zone);
            let term = when.map(|t| {
                if after {
                    Term::After(t)
                } else {
                    Term::Before(t)
                }
            });
            return Some(Found::from(term));
        }
    }
    for (prefix, larger) in [("larger:", true), ("smaller:", false)] {
        if lower.starts_with(prefix)
            && let Some(n) = size(&lower[prefix.len()..]).filter(|n| *n > 0)
        {
            let term = if larger {
                Term::Larger(n)
            } else {
                Term::Smaller(n)
            };
            return Some(Found::Term(term));
        }
    }
    None
}

/// Dates as Mailpit's `dateparse` reads the common forms: RFC 3339, `2024-01-02`,
/// `2024/01/02`, `2024-01-02 15:04[:05]`, and Unix seconds; in `zone` unless they say.
fn date(text: &str, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if text.len() >= 9 && text.chars().all(|c| c.is_ascii_digit()) {
        return DateTime::from_timestamp(text.parse().ok()?, 0);
    }
    let local = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%Y/%m/%d", "%d %b %Y"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// `larger:`/`smaller:` sizes: bytes, or `k`/`kb` and `m`/`mb` (powers of 1024, decimals
/// allowed); other units are not sizes.
fn size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        _ => return None,
    };
    Some((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_read_as_mailpit_reads_them() {
        assert_eq!(
            tokens(r#"subject:"hello world" -from:a@b.c  "two words""#),
            ["subject:hello world", "-from:a@b.c", "two words"]
        );
        let utc = chrono_tz::UTC;
        assert_eq!(
            term("FROM:Ann@Example.com", utc),
            Some(Term::Address(vec![0], "ann@example.com".into()))
        );
        assert_eq!(term("larger:1.5m", utc), Some(Term::Larger(1_572_864)));
        // An unknown unit makes the term plain text.
        assert_eq!(term("larger:2g", utc), Some(Term::Text("larger:2g".into())));
        assert_eq!(
            term("after:2026-12-01", chrono_tz::Europe::Berlin),
            Some(Term::After("2026-11-30T23:00:00Z".parse().unwrap()))
        );
        assert_eq!(term("is:UNREAD", utc), Some(Term::Read(false)));
        let negated = Search::parse("!tag:Urgent", None);
        assert_eq!(negated.terms, [(true, Term::Tag("urgent".into()))]);
    }
}
