//! What keeps a hostile web page away from the API of a sink on a developer's laptop: a
//! `Host` check against DNS rebinding, a refusal of cross-site and same-site requests
//! (`Sec-Fetch-Site`, `Origin`) on every route but top-level visits to the inbox, and the
//! API token, compared in constant time, from a header (or, where a browser cannot send
//! one, the query).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AppState, error};

/// Which `Host` names the API answers to.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Any host (the sink listens for other machines: `--allow-remote`).
    pub any: bool,
    /// Names besides loopback ones (`localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`):
    /// the `--http` host and each `--allow-host`.
    pub names: Vec<String>,
}

impl HostPolicy {
    /// Whether a request with this `Host` header (port included or not) is for us. A
    /// rebound name (`attacker.example` pointing at 127.0.0.1) is not.
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let name = strip_port(host).to_ascii_lowercase();
        let name = name.trim_end_matches('.');
        is_loopback_name(name) || self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses requests for another host, and requests another site (or a sibling subdomain)
/// made a browser send, before any handler runs.
pub async fn origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok())
        && !state.settings.hosts.allows(host)
    {
        let why = format!(
            "`Host: {host}` is not this sink's name (a DNS-rebinding page?); \
             start the sink with --allow-host NAME to answer to it"
        );
        return error(StatusCode::MISDIRECTED_REQUEST, why).into_response();
    }
    if let Some(why) = cross_site(headers, request.uri().path()) {
        return error(StatusCode::FORBIDDEN, why).into_response();
    }
    next.run(request).await
}

/// Why a request is refused as cross-site, if it is. Browsers send `Sec-Fetch-Site` on
/// every request (older ones `Origin` on POSTs and CORS requests); other clients send
/// neither and are let through.
fn cross_site(headers: &HeaderMap, path: &str) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text("sec-fetch-site") {
        Some("same-origin" | "none") | None => {}
        Some(site) => {
            // Following a link to the inbox from elsewhere opens it; nothing more.
            let visit = text("sec-fetch-mode") == Some("navigate")
                && text("sec-fetch-dest") == Some("document")
                && path == "/";
            if !visit {
                return Some(format!(
                    "a {site} request: the API answers only its own pages and non-browser clients"
                ));
            }
        }
    }
    let origin = text("origin")?;
    let host = text("host")?;
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    if origin != "null" && origin_host.eq_ignore_ascii_case(host) {
        return None;
    }
    Some(format!(
        "a request from `{origin}`: the API answers only its own pages"
    ))
}

/// Routes a browser reaches without being able to set a header (an `EventSource`, a
/// download link, a frame's `src`): only these take the token from `?token=`.
fn query_token_route(path: &str) -> bool {
    path == "/api/v1/events"
        || path.strip_prefix("/api/v1/messages/").is_some_and(|rest| {
            rest.ends_with("/raw") || rest.ends_with("/html") || rest.contains("/attachments/")
        })
}

/// The `token` query parameter, URL-decoded (a token may hold `+/=&`).
fn query_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

/// Compares in time that depends on the lengths only, so the token cannot be guessed a
/// byte at a time by timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state
        .http_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(token) = &state.settings.token else {
        return next.run(request).await;
    };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let from_query = query_token_route(request.uri().path())
        .then(|| request.uri().query().and_then(query_token))
        .flatten();
    let given = bearer
        .map(str::to_owned)
        .or(from_query)
        .or_else(|| basic_password(request.headers()));
    if given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let body = axum::Json(serde_json::json!({"error": "a valid API token is required"}));
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        body,
    )
        .into_response()
}

/// The password of `Authorization: Basic`, which Mailpit's clients send (any user name).
fn basic_password(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(_, password)| password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let policy = HostPolicy {
            any: false,
            names: vec!["sink.internal".into()],
        };
        for ok in [
            "127.0.0.1:8025",
            "localhost:8025",
            "LOCALHOST",
            "app.localhost:1",
            "[::1]:8025",
            "127.9.9.9",
            "sink.internal:8025",
            "localhost.",
        ] {
            assert!(policy.allows(ok), "{ok}");
        }
        for refused in [
            "attacker.example:8025",
            "127.0.0.1.nip.io",
            "localhost.evil",
            "[::2]",
        ] {
            assert!(!policy.allows(refused), "{refused}");
        }
        assert!(
            HostPolicy {
                any: true,
                names: vec![]
            }
            .allows("anything")
        );
    }

    #[test]
    fn tokens() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd") && !same(b"abc", b"ab"));
        assert_eq!(
            query_token("a=1&token=x%2By%2F%3D%26z").as_deref(),
            Some("x+y/=&z")
        );
        assert!(query_token_route("/api/v1/messages/4/raw"));
        assert!(query_token_route("/api/v1/messages/4/attachments/0"));
        assert!(!query_token_route("/api/v1/messages"));
        assert!(!query_token_route("/api/v1/messages/4/release"));
    }
}
