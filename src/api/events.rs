//! The event stream: new messages as they are stored, deletions as they happen, with a
//! resume from `Last-Event-ID` so a reconnecting browser misses nothing.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt, stream};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use crate::store::{Query, Summary};

/// Server-Sent Events: each new message as `event: message`, `id: <message id>`. A client
/// that reconnects with `Last-Event-ID` first gets what it missed.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let last: Option<u64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    // Subscribe before reading the backlog, so nothing falls between the two.
    let news = state.store.subscribe();
    let backlog = last.map_or_else(Vec::new, |since| {
        let query = Query {
            since: Some(since),
            ..Query::default()
        };
        state.store.list(&query)
    });
    let last_sent = backlog.last().map_or(last.unwrap_or(0), |s| s.id);
    let live = stream::unfold(
        (news, state.store.clone(), last_sent),
        |(mut news, store, mut last)| async move {
            loop {
                match news.recv().await {
                    Ok(summary) if summary.id > last => {
                        last = summary.id;
                        return Some((vec![summary], (news, store, last)));
                    }
                    Ok(_) => {}
                    // Fell behind: the store has every message, so read the gap from it.
                    Err(RecvError::Lagged(_)) => {
                        let missed = store.list(&Query {
                            since: Some(last),
                            ..Query::default()
                        });
                        last = missed.last().map_or(last, |s| s.id);
                        return Some((missed, (news, store, last)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let arrivals = stream::iter(vec![backlog])
        .chain(live)
        .flat_map(|batch| stream::iter(batch.into_iter().map(|s| Ok(event_of(&s)))));
    let all = stream::select(arrivals, removals(state.store.subscribe_removals()));
    Sse::new(all).keep_alive(KeepAlive::default())
}

/// Deletions as `event: deleted` with `{"ids": [...]}`; after missing some, `event: resync`
/// (the client should list again).
fn removals(
    news: tokio::sync::broadcast::Receiver<Arc<Vec<u64>>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(news, |mut news| async move {
        let event = match news.recv().await {
            Ok(ids) => Event::default()
                .event("deleted")
                .data(json!({"ids": *ids}).to_string()),
            Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), news))
    })
}

fn event_of(summary: &Summary) -> Event {
    Event::default()
        .event("message")
        .id(summary.id.to_string())
        .json_data(summary)
        .unwrap_or_else(|_| Event::default().comment("unserializable"))
}
