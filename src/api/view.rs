//! The routes the web inbox reads a message through: its HTML for the sandboxed viewer,
//! attachment downloads, and the mailboxes to filter by.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::routes::read_raw;
use super::{ApiError, AppState, error};
use crate::mail::parsed;
use crate::store::Query;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages/{id}/html", get(html))
        .route("/api/v1/messages/{id}/attachments/{n}", get(attachment))
        .route("/api/v1/mailboxes", get(mailboxes))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HtmlParams {
    /// `1`: let the message load remote images (the user asked, for this message).
    images: Option<u8>,
    #[serde(rename = "token")]
    _token: Option<String>,
}

/// What a captured HTML body may do when shown: nothing but inline styles and inline images,
/// no scripts, forms, plugins, navigation of the inbox or requests anywhere, unless remote
/// images are allowed. `sandbox` also holds when the URL is opened on its own, outside the
/// inbox's sandboxed iframe.
fn viewer_policy(remote_images: bool) -> String {
    let images = if remote_images {
        "data: http: https:"
    } else {
        "data:"
    };
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src {images}; font-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
    )
}

/// The HTML part for the viewer, under the policy above.
async fn html(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    params: Result<QueryParams<HtmlParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(params) = params.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    let raw = read_raw(&state, id).await?;
    let body = super::blocking(move || {
        parsed::html_for_view(&raw).ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("message {id} has no HTML part"),
            )
        })
    })
    .await?;
    let policy = viewer_policy(params.images == Some(1));
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// An attachment as a download. Always `application/octet-stream`: the sender chose the
/// declared type, and an attachment served as `text/html` would run in the inbox's origin.
async fn attachment(
    State(state): State<AppState>,
    Path((id, n)): Path<(u64, usize)>,
) -> Result<Response, ApiError> {
    let raw = read_raw(&state, id).await?;
    let (name, bytes) = super::blocking(move || {
        parsed::attachment(&raw, n).ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("message {id} has no attachment {n}"),
            )
        })
    })
    .await?;
    let disposition = content_disposition(name.as_deref(), n);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// `attachment` with an ASCII `filename` for old clients and, when the name is more than
/// that, the name itself as `filename*` (RFC 6266, RFC 8187), so `Übersicht.pdf` or
/// `請求書.pdf` download under their own names.
fn content_disposition(name: Option<&str>, n: usize) -> String {
    let ascii = safe_filename(name, n);
    let full = name
        .map(basename)
        .filter(|full| !full.is_empty() && *full != ascii);
    match full {
        Some(full) => format!(
            "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
            ext_value(&full)
        ),
        None => format!("attachment; filename=\"{ascii}\""),
    }
}

/// The last path segment of a name, without control characters.
fn basename(name: &str) -> String {
    name.rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// RFC 8187 `value-chars`: `attr-char`s as they are, every other byte `%XX`.
fn ext_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file name that cannot break out of the header or name a path: ASCII letters, digits,
/// `.`, `-` and `_`; anything else becomes `_`.
fn safe_filename(name: Option<&str>, n: usize) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        format!("attachment-{n}")
    } else {
        cleaned.to_owned()
    }
}

/// Each mailbox (test run) with its message count, and the count of mail in none.
async fn mailboxes(State(state): State<AppState>) -> Json<serde_json::Value> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut without = 0;
    for summary in state.store.list(&Query::default()) {
        match &summary.mailbox {
            Some(mailbox) => *counts.entry(mailbox.clone()).or_default() += 1,
            None => without += 1,
        }
    }
    let list: Vec<_> = counts
        .into_iter()
        .map(|(mailbox, count)| json!({"mailbox": mailbox, "count": count}))
        .collect();
    Json(json!({"mailboxes": list, "without_mailbox": without}))
}

#[cfg(test)]
mod tests {
    use super::{content_disposition, safe_filename};

    #[test]
    fn file_names_cannot_escape() {
        assert_eq!(safe_filename(Some("../../etc/passwd"), 0), "passwd");
        assert_eq!(safe_filename(Some("a\"b\r\n.pdf"), 0), "a_b__.pdf");
        assert_eq!(safe_filename(Some("..."), 2), "attachment-2");
        assert_eq!(safe_filename(None, 1), "attachment-1");
        assert_eq!(
            safe_filename(Some("Rechnung März.pdf"), 0),
            "Rechnung_M_rz.pdf"
        );
    }

    #[test]
    fn non_ascii_names_keep_their_name() {
        assert_eq!(
            content_disposition(Some("report.pdf"), 0),
            "attachment; filename=\"report.pdf\""
        );
        assert_eq!(
            content_disposition(Some("Übersicht 2026.pdf"), 0),
            "attachment; filename=\"_bersicht_2026.pdf\"; filename*=UTF-8''%C3%9Cbersicht%202026.pdf"
        );
        assert_eq!(
            content_disposition(Some("../../etc/\"x\r\n.pdf"), 1),
            "attachment; filename=\"_x__.pdf\"; filename*=UTF-8''%22x.pdf"
        );
        assert_eq!(
            content_disposition(None, 2),
            "attachment; filename=\"attachment-2\""
        );
    }
}
