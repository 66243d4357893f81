//! The events behind captured mail, read back from Kafka for `matches_render: {from: kafka}`:
//! every record of the topics, decoded in the catalog's wire format as dispatch decodes it
//! (so an id derived from topic, partition and offset is the one dispatch used), found by
//! event id or by record key. Read on first use and again when a lookup misses, since mail
//! can only name events that were on the topic before it was sent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use crate::catalog::{Catalog, Meta};
use crate::consume::{self, Handler, Options, StartAt};
use crate::event::{self, Event};
use crate::kafka::Connection;
use crate::record::Received;

/// Events on the topics, by id and by key.
pub struct KafkaEvents {
    connection: Connection,
    /// Empty: the catalog's topics that exist.
    topics: Vec<String>,
    catalog: Catalog,
    index: Mutex<Option<Index>>,
}

#[derive(Default)]
struct Index {
    by_id: HashMap<String, Event>,
    /// In the order they were written.
    by_key: HashMap<String, Vec<Event>>,
}

/// A read in progress: records decoded with the catalog into the index.
struct Collect<'a> {
    catalog: &'a Catalog,
    index: Index,
}

impl Handler for Collect<'_> {
    fn message(&mut self, msg: Received) -> anyhow::Result<bool> {
        let Ok(payload) = serde_json::from_slice(&msg.payload) else {
            return Ok(false);
        };
        let meta = Meta::record(
            &msg.topic,
            msg.partition,
            msg.offset,
            msg.timestamp,
            &msg.headers,
        );
        // Records that are not events of the catalog cannot be behind mail: skipped.
        let Ok(decoded) = event::decode(&payload, &meta, self.catalog) else {
            return Ok(false);
        };
        let event = decoded.event;
        if let Some(key) = msg.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()) {
            self.index
                .by_key
                .entry(key.to_owned())
                .or_default()
                .push(event.clone());
        }
        self.index.by_id.insert(event.event_id.to_string(), event);
        Ok(true)
    }
}

impl KafkaEvents {
    pub fn new(connection: Connection, topics: Vec<String>, catalog: Catalog) -> Self {
        Self {
            connection,
            topics,
            catalog,
            index: Mutex::new(None),
        }
    }

    /// The event with this id.
    pub fn by_id(&self, id: &str) -> Result<Event, String> {
        self.find(|index| index.by_id.get(id).cloned())?
            .ok_or_else(|| format!("no event with id {id} on {}", self.shown_topics()))
    }

    /// The events whose record key is `key`, oldest first.
    pub fn by_key(&self, key: &str) -> Result<Vec<Event>, String> {
        self.find(|index| index.by_key.get(key).cloned())?
            .ok_or_else(|| format!("no record with key `{key}` on {}", self.shown_topics()))
    }

    /// The events keyed by the first of `recipients` that keys any.
    pub fn by_recipients(&self, recipients: &[String]) -> Result<Vec<Event>, String> {
        let mut last = Err("the message has no recipient".to_owned());
        for rcpt in recipients {
            last = self.by_key(rcpt);
            if last.is_ok() {
                break;
            }
        }
        last
    }

    /// Looks up in the index, reading the topics first when nothing was read yet or the
    /// lookup misses.
    fn find<T>(&self, look: impl Fn(&Index) -> Option<T>) -> Result<Option<T>, String> {
        let mut index = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = index.as_ref().and_then(&look) {
            return Ok(Some(found));
        }
        let fresh = blocking(|| self.read())?;
        let found = look(&fresh);
        *index = Some(fresh);
        Ok(found)
    }

    /// Every record of the topics, from the beginning to their end now.
    fn read(&self) -> Result<Index, String> {
        let topics = if self.topics.is_empty() {
            consume::existing_topics(&self.connection, &self.catalog.topics())
                .map_err(|e| e.to_string())?
        } else {
            self.topics.clone()
        };
        let options = Options {
            topics,
            start: StartAt::Beginning,
            group: None,
            exit_at_end: true,
            count: None,
        };
        let mut collect = Collect {
            catalog: &self.catalog,
            index: Index::default(),
        };
        let read = consume::run(
            &self.connection,
            &options,
            &AtomicBool::new(false),
            &mut collect,
        );
        read.map_err(|e| format!("cannot read the events from Kafka: {e:#}"))?;
        Ok(collect.index)
    }

    fn shown_topics(&self) -> String {
        if self.topics.is_empty() {
            "the catalog's topics".to_owned()
        } else {
            self.topics.join(", ")
        }
    }
}

/// Runs blocking Kafka work off the async workers when called from one.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
