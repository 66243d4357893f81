//! Mailpit's checks of one message: `html-check` (client support, from caniemail.com's
//! data), `link-check`, `sa-check` (with `--enable-spamassassin`), and the attachment
//! thumbnails. `ID` may be `latest` (with `?query=`), as everywhere in Mailpit's API.

use axum::Router;
use axum::extract::{Path, Query, State as With};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::messages::Params;
use super::{State, bad_request, json, not_found};

pub fn routes() -> Router<State> {
    Router::new()
        .route("/api/v1/message/{id}/html-check", get(html_check))
        .route("/api/v1/message/{id}/link-check", get(link_check))
        .route("/api/v1/message/{id}/sa-check", get(sa_check))
        .route("/api/v1/message/{id}/part/{part}/thumb", get(thumb))
}

/// `GET /api/v1/message/{ID}/html-check`: Mailpit's `HTMLCheckResponse`; a message
/// without HTML is a 400, as Mailpit answers.
async fn html_check(
    With(state): With<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    let summary = state.resolve(&id, p.query(), None).await?;
    let facts = state.facts(&summary).await.ok_or_else(not_found)?;
    if facts.html.is_empty() {
        return Err(bad_request("message does not contain HTML"));
    }
    Ok(json(&state.settings.checks.html(facts.html.clone()).await))
}

/// `GET /api/v1/message/{ID}/link-check?follow=true`: each link's status; it marks the
/// message read, as Mailpit does.
async fn link_check(
    With(state): With<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    let summary = state.resolve(&id, p.query(), None).await?;
    let raw = state.raw(&summary)?;
    let _ = state.store.update_flags(&[summary.id], |s| s.read = true);
    let follow = p.follow.as_deref().is_some_and(|f| f == "1" || f == "true");
    Ok(json(&state.settings.checks.links(&raw, follow).await))
}

/// `GET /api/v1/message/{ID}/sa-check`: the spamd score; absent (404) unless the sink has
/// a spamd, as Mailpit registers the route only with `--enable-spamassassin`.
async fn sa_check(
    With(state): With<State>,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    if state.settings.checks.spamd.is_none() {
        return Err(not_found());
    }
    let summary = state.resolve(&id, p.query(), None).await?;
    let raw = state.raw(&summary)?;
    let report = state.settings.checks.spam(&raw).await.unwrap_or_default();
    Ok(json(&report))
}

/// `GET /api/v1/message/{ID}/part/{PartID}/thumb`: a 180x120 JPEG of an image part.
async fn thumb(
    With(state): With<State>,
    Path((id, part)): Path<(String, String)>,
    Query(p): Query<Params>,
) -> Result<Response, Response> {
    let summary = state.resolve(&id, p.query(), None).await?;
    let facts = state.facts(&summary).await.ok_or_else(not_found)?;
    let found = facts
        .inline
        .iter()
        .chain(&facts.attachments)
        .find(|a| a.part_id == part)
        .ok_or_else(not_found)?;
    let raw = state.raw(&summary)?;
    let bytes = super::parts::part_bytes(&raw, &part).ok_or_else(not_found)?;
    let kind = found.content_type.clone();
    let jpeg = tokio::task::spawn_blocking(move || crate::mail::thumb::thumbnail(&bytes, &kind))
        .await
        .map_err(|_| not_found())?;
    let disposition = format!("filename=\"{}\"", found.file_name.replace('"', ""));
    let mut response = (StatusCode::OK, jpeg).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("image/jpeg"),
    );
    if let Ok(d) = disposition.parse() {
        headers.insert(header::CONTENT_DISPOSITION, d);
    }
    Ok(response)
}
