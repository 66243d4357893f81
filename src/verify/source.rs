//! Where verify finds mail: a running sink (through its API's server-side wait, never by
//! polling), a store directory, or `.eml` files and Maildir folders. One matcher serves all.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::message::{Facts, HeaderTexts, Message};
use crate::exit_code::ErrorKind;
use crate::store::{Query, Store, Summary};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot reach the sink at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the sink at {url} answered {status}: {body}")]
    Api {
        url: String,
        status: u16,
        body: String,
    },
    #[error("cannot read `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Celery(#[from] crate::celery::results::ResultsError),
}

impl SourceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::Unavailable,
            Self::Api { .. } => ErrorKind::Failed,
            Self::Read { .. } => ErrorKind::BadInput,
            Self::Store(e) => e.kind(),
            Self::Celery(e) => e.kind(),
        }
    }
}

/// Messages from one source, in arrival order.
pub enum Source {
    /// A store or files: everything there is, now.
    Fixed(Vec<Message>),
    /// A running sink: grows as mail arrives.
    Sink(Box<SinkSource>),
}

impl Source {
    pub fn messages(&self) -> &[Message] {
        match self {
            Self::Fixed(m) => m,
            Self::Sink(s) => &s.messages,
        }
    }

    /// Whether waiting can bring more mail.
    pub fn live(&self) -> bool {
        matches!(self, Self::Sink(_))
    }

    /// Waits until new mail is in or `until` passes (at once for fixed sources).
    pub async fn wait(&mut self, until: Instant) -> Result<(), SourceError> {
        match self {
            Self::Fixed(_) => Ok(()),
            Self::Sink(s) => s.wait(until).await,
        }
    }

    /// A store directory (also one a running sink is writing).
    pub fn store(dir: &Path, mailbox: Option<&str>) -> Result<Self, SourceError> {
        let store = Arc::new(Store::open_read_only(dir)?);
        Ok(Self::from_store(&store, mailbox))
    }

    /// What a store holds now (read from a folder or a capture topic).
    pub fn from_store(store: &Arc<Store>, mailbox: Option<&str>) -> Self {
        let query = Query {
            mailbox: mailbox.map(str::to_owned),
            ..Query::default()
        };
        let messages = store
            .list(&query)
            .into_iter()
            .map(|s| {
                let store = store.clone();
                let id = s.id;
                let loader = Arc::new(move || store.raw(id).map_err(|e| e.to_string()));
                Message::new(facts(&s, None), loader)
            })
            .collect();
        Self::Fixed(messages)
    }

    /// `.eml` files, and Maildir folders (their `new/` and `cur/`), in the order given.
    pub fn files(paths: &[PathBuf]) -> Result<Self, SourceError> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let mut found = Vec::new();
                for sub in ["new", "cur"] {
                    let dir = path.join(sub);
                    let dir = if dir.is_dir() {
                        dir
                    } else if sub == "new" {
                        path.clone()
                    } else {
                        continue;
                    };
                    let read = std::fs::read_dir(&dir).map_err(|source| SourceError::Read {
                        path: dir.clone(),
                        source,
                    })?;
                    found.extend(
                        read.filter_map(Result::ok)
                            .map(|e| e.path())
                            .filter(|p| p.is_file()),
                    );
                }
                // Maildir names start with the delivery time: name order is arrival order.
                found.sort();
                found.dedup();
                files.extend(found);
            } else {
                files.push(path.clone());
            }
        }
        let mut messages = Vec::new();
        for (seq, path) in files.into_iter().enumerate() {
            let raw = std::fs::read(&path).map_err(|source| SourceError::Read {
                path: path.clone(),
                source,
            })?;
            let id = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            messages.push(Message::from_raw(id, seq as u64, raw));
        }
        Ok(Self::Fixed(messages))
    }

    /// A running sink's API (`http://host:port`).
    pub async fn sink(
        url: &str,
        token: Option<String>,
        mailbox: Option<&str>,
    ) -> Result<Self, SourceError> {
        let mut sink = SinkSource {
            client: crate::outbound::http_client().build().map_err(|e| {
                SourceError::Unreachable {
                    url: url.to_owned(),
                    reason: e.to_string(),
                }
            })?,
            base: url.trim_end_matches('/').to_owned(),
            token,
            mailbox: mailbox.map(str::to_owned),
            // From the very first message: without a cursor the API lists the newest page.
            cursor: Some(0),
            messages: Vec::new(),
        };
        sink.fetch_new().await?;
        Ok(Self::Sink(Box::new(sink)))
    }
}

fn facts(s: &Summary, cc: Option<String>) -> Facts {
    let texts = HeaderTexts {
        mailbox: s.mailbox.clone(),
        subject: s.subject.clone(),
        from: s.from.clone(),
        to: s.to.clone(),
        cc,
    };
    Facts {
        received_at: Some(s.received_at),
        envelope: Some(s.envelope.clone()),
        size: s.size,
        ..Facts::new(s.id.to_string(), s.id, texts)
    }
}

/// Messages listed per request.
const PAGE: usize = 1000;
/// Raw bodies fetched at once.
const RAW_FETCHES: usize = 16;

/// A running sink, read through its HTTP API.
pub struct SinkSource {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    mailbox: Option<String>,
    /// The id of the last message read.
    cursor: Option<u64>,
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Listing {
    messages: Vec<Summary>,
}

impl SinkSource {
    async fn get(&self, path: &str, timeout: Duration) -> Result<reqwest::Response, SourceError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.get(&url).timeout(timeout);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.map_err(|e| SourceError::Unreachable {
            url: self.base.clone(),
            reason: e.without_url().to_string(),
        })
    }

    async fn checked(
        &self,
        path: &str,
        timeout: Duration,
        ok: &[u16],
    ) -> Result<reqwest::Response, SourceError> {
        let response = self.get(path, timeout).await?;
        let status = response.status().as_u16();
        if ok.contains(&status) {
            return Ok(response);
        }
        Err(SourceError::Api {
            url: format!("{}{path}", self.base),
            status,
            body: response.text().await.unwrap_or_default(),
        })
    }

    fn query(&self) -> String {
        let mut q = String::new();
        if let Some(c) = self.cursor {
            q.push_str(&format!("&since={c}"));
        }
        if let Some(m) = &self.mailbox {
            q.push_str(&format!(
                "&mailbox={}",
                url::form_urlencoded::byte_serialize(m.as_bytes()).collect::<String>()
            ));
        }
        q
    }

    /// Reads every message after the cursor, page by page, with its raw bytes (fetched
    /// `RAW_FETCHES` at a time, kept in arrival order).
    async fn fetch_new(&mut self) -> Result<(), SourceError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        loop {
            let path = format!("/api/v1/messages?limit={PAGE}{}", self.query());
            let listing: Listing = self
                .checked(&path, Duration::from_secs(30), &[200])
                .await?
                .json()
                .await
                .map_err(|e| SourceError::Api {
                    url: format!("{}{path}", self.base),
                    status: 200,
                    body: format!("not a message listing: {e}"),
                })?;
            let Some(last) = listing.messages.last().map(|s| s.id) else {
                return Ok(());
            };
            let this = &*self;
            let fetched: Vec<Message> = stream::iter(listing.messages)
                .map(|summary| async move {
                    let raw = this.raw(summary.id).await?;
                    let cc = mailparse::parse_headers(&raw).ok().and_then(|(h, _)| {
                        mailparse::MailHeaderMap::get_first_value(h.as_slice(), "Cc")
                    });
                    let shared = Arc::new(raw);
                    let loader: super::message::Loader = Arc::new(move || Ok(shared.to_vec()));
                    Ok::<_, SourceError>(Message::new(facts(&summary, cc), loader))
                })
                .buffered(RAW_FETCHES)
                .try_collect()
                .await?;
            self.messages.extend(fetched);
            self.cursor = Some(last);
        }
    }

    async fn raw(&self, id: u64) -> Result<Vec<u8>, SourceError> {
        let path = format!("/api/v1/messages/{id}/raw");
        let response = self.checked(&path, Duration::from_secs(30), &[200]).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SourceError::Unreachable {
                url: self.base.clone(),
                reason: e.without_url().to_string(),
            })?;
        Ok(bytes.to_vec())
    }

    /// The server-side wait: returns as soon as a message after the cursor arrives.
    async fn wait(&mut self, until: Instant) -> Result<(), SourceError> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        // One long poll at a time, within the API's own limit on a wait.
        let left = left.min(Duration::from_secs(60));
        let millis = left.as_millis().max(1);
        let path = format!("/api/v1/wait?count=1&timeout={millis}ms{}", self.query());
        self.checked(&path, left + Duration::from_secs(10), &[200, 408])
            .await?;
        self.fetch_new().await
    }
}
