//! Checks of a captured message beyond its fields, shared by the APIs, the inbox and
//! `verify`: how well email clients support its HTML (caniemail.com's data), whether its
//! links answer, and what a SpamAssassin daemon scores it.

pub mod caniemail;
pub mod html;
pub mod links;
mod rules;
pub mod spam;

pub use html::HtmlChecker;

use std::sync::{Arc, OnceLock};

/// The checks one sink (or one verify run) offers, with what they need.
#[derive(Debug, Default)]
pub struct Checker {
    html: Arc<OnceLock<HtmlChecker>>,
    /// spamd's address (`host:port` or `unix:/path`) when the spam check is on.
    pub spamd: Option<String>,
    /// The link check may request loopback and private addresses.
    pub internal_links: bool,
}

impl Checker {
    pub fn new(spamd: Option<String>, internal_links: bool) -> Self {
        Self {
            html: Arc::default(),
            spamd,
            internal_links,
        }
    }

    /// The HTML check of `html`, off the async workers (where the data is also parsed, on
    /// first use).
    pub async fn html(&self, html: String) -> html::Report {
        let checker = self.html.clone();
        tokio::task::spawn_blocking(move || checker.get_or_init(HtmlChecker::new).check(&html))
            .await
            .expect("the HTML check does not panic")
    }

    /// The link check of a message.
    pub async fn links(&self, raw: &[u8], follow: bool) -> links::Report {
        links::check(raw, follow, self.internal_links).await
    }

    /// The spam check of a message, `None` when no spamd is configured.
    pub async fn spam(&self, raw: &[u8]) -> Option<spam::Report> {
        Some(spam::check(self.spamd.as_deref()?, raw).await)
    }
}
