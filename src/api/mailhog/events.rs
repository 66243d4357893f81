//! MailHog's live feeds of new mail: `/api/v1/events` (Server-Sent Events, each message as
//! indented JSON in `data:` lines) and `/api/v2/websocket` (a text frame of compact JSON and
//! a newline per message). MailHog tells of arrivals only, never of deletions.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, stream};
use tokio::sync::broadcast::error::RecvError;

use super::Shared;
use super::json::Message;
use crate::store::{Store, Summary};

/// The next new message, read whole; `None` when the store closes.
async fn next(
    news: &mut tokio::sync::broadcast::Receiver<Arc<Summary>>,
    store: &Arc<Store>,
) -> Option<Message> {
    loop {
        match news.recv().await {
            Ok(summary) => {
                let store = store.clone();
                let built = tokio::task::spawn_blocking(move || {
                    Some(Message::new(&summary, &store.raw(summary.id).ok()?))
                })
                .await
                .ok()
                .flatten();
                if built.is_some() {
                    return built;
                }
            }
            // A slow reader misses what it could not keep up with, as with MailHog.
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return None,
        }
    }
}

pub async fn sse(
    State(shared): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let news = shared.store.subscribe();
    let events = stream::unfold(
        (news, shared.store.clone()),
        |(mut news, store)| async move {
            let message = next(&mut news, &store).await?;
            let json = serde_json::to_string_pretty(&message).unwrap_or_default();
            Some((Ok(Event::default().data(json)), (news, store)))
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}

pub async fn websocket(State(shared): State<Shared>, upgrade: WebSocketUpgrade) -> Response {
    // Subscribed before the upgrade is answered: mail sent once the client is connected
    // is never missed.
    let news = shared.store.subscribe();
    upgrade.on_upgrade(move |socket| feed(shared, news, socket))
}

async fn feed(
    shared: Shared,
    mut news: tokio::sync::broadcast::Receiver<Arc<Summary>>,
    mut socket: WebSocket,
) {
    loop {
        let message = tokio::select! {
            message = next(&mut news, &shared.store) => message,
            // MailHog's clients send nothing; anything (or a close) ends the feed.
            _ = socket.recv() => return,
        };
        let Some(message) = message else { return };
        let mut text = serde_json::to_string(&message).unwrap_or_default();
        text.push('\n');
        if socket.send(Frame::Text(text.into())).await.is_err() {
            return;
        }
    }
}
