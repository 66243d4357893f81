//! Live preview: serves the gallery from memory and rebuilds it when a watched template or
//! fixture file changes, telling open pages to reload over Server-Sent Events.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use notify::{RecursiveMode, Watcher};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};

/// The site's files by path.
pub type Site = BTreeMap<String, Vec<u8>>;

/// Builds the site afresh (reading templates and fixtures from disk each time).
pub type Build = Arc<dyn Fn() -> Site + Send + Sync>;

#[derive(Clone)]
struct Live {
    site: Arc<RwLock<Arc<Site>>>,
    reloads: broadcast::Sender<u64>,
}

/// Serves the site until `shutdown`, rebuilding it on changes under `watch_dirs`.
/// `rebuilt` is called with the generation after each rebuild (for a status line).
pub async fn serve(
    listener: TcpListener,
    build: Build,
    watch_dirs: Vec<PathBuf>,
    rebuilt: Arc<dyn Fn(u64) + Send + Sync>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let first = tokio::task::spawn_blocking({
        let build = build.clone();
        move || build()
    })
    .await
    .map_err(std::io::Error::other)?;
    let live = Live {
        site: Arc::new(RwLock::new(Arc::new(first))),
        reloads: broadcast::channel(16).0,
    };
    let (changes_tx, changes) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = changes_tx.send(());
        }
    })
    .map_err(std::io::Error::other)?;
    for dir in &watch_dirs {
        watcher
            .watch(dir, RecursiveMode::Recursive)
            .map_err(std::io::Error::other)?;
    }
    tokio::spawn(rebuild_on_change(changes, build, live.clone(), rebuilt));
    let app = Router::new()
        .route("/_live", get(events))
        .route("/", get(|state| file(state, Path(String::new()))))
        .route("/{*path}", get(file))
        .with_state(live);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await;
    drop(watcher);
    result
}

/// Rebuilds once per burst of changes: editors write a file in several steps, so changes
/// arriving within 100 ms of each other are one edit.
async fn rebuild_on_change(
    mut changes: mpsc::UnboundedReceiver<()>,
    build: Build,
    live: Live,
    rebuilt: Arc<dyn Fn(u64) + Send + Sync>,
) {
    let mut generation = 0;
    while changes.recv().await.is_some() {
        while let Ok(Some(())) =
            tokio::time::timeout(Duration::from_millis(100), changes.recv()).await
        {}
        let build = build.clone();
        let Ok(site) = tokio::task::spawn_blocking(move || build()).await else {
            continue;
        };
        generation += 1;
        *live.site.write().expect("site lock") = Arc::new(site);
        rebuilt(generation);
        let _ = live.reloads.send(generation);
    }
}

async fn events(State(live): State<Live>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut reloads = live.reloads.subscribe();
    let stream = async_stream(
        move |tx: mpsc::Sender<Result<Event, Infallible>>| async move {
            while let Ok(generation) = reloads.recv().await {
                let event = Event::default()
                    .event("message")
                    .data(generation.to_string());
                if tx.send(Ok(event)).await.is_err() {
                    break;
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A stream fed by a task, without another dependency.
fn async_stream<F, Fut>(body: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(body(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

async fn file(State(live): State<Live>, Path(path): Path<String>) -> Response {
    let site = live.site.read().expect("site lock").clone();
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path
    };
    let Some(bytes) = site.get(&path) else {
        return (StatusCode::NOT_FOUND, "no such page").into_response();
    };
    let kind = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("eml") => "message/rfc822",
        _ => "text/plain; charset=utf-8",
    };
    ([(header::CONTENT_TYPE, kind)], bytes.clone()).into_response()
}
