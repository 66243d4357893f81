//! Mailpit's `/api/events` websocket: a text frame `{"Type": ..., "Data": ...}` for each
//! new message (`new`, its summary), read-state and tag change (`update`), deletion
//! (`delete`; `truncate` when the store is emptied; `prune` for more than 200 at once), and
//! the counts after each (`stats`), as Mailpit's web UI and clients listen for them. The
//! server never reads.

use std::sync::Arc;

use axum::extract::State as With;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::State;
use super::json::{MessageSummary, Route};
use crate::store::{Query, Summary};

pub async fn events(With(state): With<State>, upgrade: WebSocketUpgrade) -> Response {
    // Subscribed before the upgrade is answered: nothing that happens once the client is
    // connected is missed.
    let feeds = Feeds {
        news: state.store.subscribe(),
        removals: state.store.subscribe_removals(),
        updates: state.store.subscribe_updates(),
    };
    upgrade.on_upgrade(move |socket| stream(state, feeds, socket))
}

/// The store's news, subscribed to.
struct Feeds {
    news: tokio::sync::broadcast::Receiver<Arc<Summary>>,
    removals: tokio::sync::broadcast::Receiver<Arc<Vec<u64>>>,
    updates: tokio::sync::broadcast::Receiver<Arc<Vec<Arc<Summary>>>>,
}

/// What happened in the store, in the order it is told.
enum Change {
    New(Arc<Summary>),
    Updated(Arc<Vec<Arc<Summary>>>),
    Removed(Arc<Vec<u64>>),
}

async fn stream(state: State, feeds: Feeds, mut socket: WebSocket) {
    let Feeds {
        mut news,
        mut removals,
        mut updates,
    } = feeds;
    // Mailpit tells every client the counts as one connects.
    if send(&mut socket, stats(&state)).await.is_err() {
        return;
    }
    loop {
        let change = tokio::select! {
            got = news.recv() => got.map(Change::New),
            got = removals.recv() => got.map(Change::Removed),
            got = updates.recv() => got.map(Change::Updated),
            // A client that closes (or sends anything) ends it; nothing sent is read.
            _ = socket.recv() => return,
        };
        let frames = match change {
            Ok(change) => frames(&state, change).await,
            // Fell behind: the counts say where things stand.
            Err(RecvError::Lagged(_)) => Vec::new(),
            Err(RecvError::Closed) => return,
        };
        for frame in frames.into_iter().chain(std::iter::once(stats(&state))) {
            if send(&mut socket, frame).await.is_err() {
                return;
            }
        }
    }
}

async fn frames(state: &State, change: Change) -> Vec<Value> {
    match change {
        Change::New(summary) => match state.facts(&summary).await {
            Some(facts) => {
                let data = MessageSummary::new(&summary, &facts, Route::Event);
                vec![json!({"Type": "new", "Data": data})]
            }
            None => Vec::new(),
        },
        Change::Updated(summaries) => summaries
            .iter()
            .flat_map(|s| {
                [
                    json!({"Type": "update", "Data": {"ID": s.id.to_string(), "Read": s.read}}),
                    json!({"Type": "update", "Data": {"ID": s.id.to_string(), "Tags": s.tags}}),
                ]
            })
            .collect(),
        Change::Removed(_) if state.store.is_empty() => {
            vec![json!({"Type": "truncate", "Data": null})]
        }
        // Mailpit says `prune` instead of naming more than 200 deletions one by one.
        Change::Removed(ids) if ids.len() > PRUNE_OVER => {
            vec![json!({"Type": "prune", "Data": null})]
        }
        Change::Removed(ids) => ids
            .iter()
            .map(|id| json!({"Type": "delete", "Data": {"ID": id.to_string()}}))
            .collect(),
    }
}

/// Deletions named one by one at most (Mailpit's `DeleteSearch`).
const PRUNE_OVER: usize = 200;

fn stats(state: &State) -> Value {
    let all = state.store.list(&Query::default());
    let unread = all.iter().filter(|s| !s.read).count();
    json!({"Type": "stats", "Data": {
        "Total": all.len(),
        "Unread": unread,
        "Version": concat!("mailtest ", env!("CARGO_PKG_VERSION")),
    }})
}

async fn send(socket: &mut WebSocket, frame: Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(frame.to_string().into())).await
}
