//! The link check (Mailpit's `GET /api/v1/message/{ID}/link-check`): a `HEAD` request to each link of a
//! message (HTML `href`s and `src`s, URLs in the text; at most 100), answered as Mailpit's
//! `{"Errors": n, "Links": [{"URL", "StatusCode", "Status"}]}`. Links to loopback, private,
//! link-local and other reserved addresses are not requested (`451 Blocked
//! private/reserved address`) unless the sink allows internal requests: a message must not
//! turn the sink into a way into the network it runs in. Redirects are followed (with
//! `follow=true`) hop by hop, each hop checked the same way, and each request goes to the
//! address that was checked, so a name cannot resolve elsewhere in between.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;

/// Mailpit checks at most this many links.
const MAX_LINKS: usize = 100;
const MAX_REDIRECTS: usize = 10;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Links requested at once.
const AT_ONCE: usize = 8;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Link {
    #[serde(rename = "URL")]
    pub url: String,
    pub status_code: u16,
    pub status: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub errors: usize,
    pub links: Vec<Link>,
}

/// Checks the links of `raw`.
pub async fn check(raw: &[u8], follow: bool, internal: bool) -> Report {
    let mut urls: Vec<String> = Vec::new();
    for link in crate::mail::parsed::parse(raw).links {
        let http = link.href.starts_with("http://") || link.href.starts_with("https://");
        if http && !urls.contains(&link.href) && urls.len() < MAX_LINKS {
            urls.push(link.href);
        }
    }
    // A few at once, answers kept in the links' order.
    let links: Vec<Link> = futures_util::stream::iter(urls)
        .map(|url| async move {
            let (status_code, status) = head(&url, follow, internal).await;
            Link {
                url,
                status_code,
                status,
            }
        })
        .buffered(AT_ONCE)
        .collect()
        .await;
    let errors = links
        .iter()
        .filter(|l| l.status_code == 0 || l.status_code >= 400)
        .count();
    Report { errors, links }
}

/// The status of `url`: its code and reason, 451 for a blocked address, 0 and the error
/// when it cannot be reached.
async fn head(url: &str, follow: bool, internal: bool) -> (u16, String) {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let parsed = match reqwest::Url::parse(&url) {
            Ok(u) => u,
            Err(e) => return (0, e.to_string()),
        };
        let addr = match allowed_address(&parsed, internal).await {
            Ok(addr) => addr,
            Err(answer) => return answer,
        };
        let response = match client(&parsed, addr) {
            Ok(client) => client.head(parsed.clone()).send().await,
            Err(e) => return (0, e.to_string()),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return (0, e.to_string()),
        };
        let status = response.status();
        let location = response.headers().get(reqwest::header::LOCATION);
        match location.and_then(|l| l.to_str().ok()) {
            Some(next) if follow && status.is_redirection() => match parsed.join(next) {
                Ok(next) => url = next.to_string(),
                Err(e) => return (0, e.to_string()),
            },
            _ => {
                let reason = status.canonical_reason().unwrap_or_default();
                return (status.as_u16(), reason.to_owned());
            }
        }
    }
    (0, "too many redirects".to_owned())
}

/// The address a link's host resolves to, if it may be requested.
async fn allowed_address(url: &reqwest::Url, internal: bool) -> Result<SocketAddr, (u16, String)> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let lookup = tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host, port)));
    let mut found = lookup
        .await
        .map_err(|_| (0, format!("{host}: no answer from DNS")))?
        .map_err(|e| (0, e.to_string()))?;
    let addr = found.next().ok_or((0, format!("{host}: no address")))?;
    if !internal && reserved(addr.ip()) {
        return Err((451, "Blocked private/reserved address".to_owned()));
    }
    Ok(addr)
}

/// Loopback, private, link-local, shared, documentation, multicast and unspecified
/// addresses, and IPv6's unique-local and IPv4-mapped forms of those.
pub fn reserved(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return reserved(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A client that sends to `addr` for the URL's host (no second lookup), TLS checked
/// against the web's roots, no redirects of its own.
fn client(url: &reqwest::Url, addr: SocketAddr) -> reqwest::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let mut builder = crate::outbound::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .user_agent(concat!("mailtest/", env!("CARGO_PKG_VERSION")));
    if let Ok(tls) = tls {
        builder = builder.tls_backend_preconfigured(tls);
    }
    if let Some(host) = url.host_str() {
        builder = builder.resolve(host, addr);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_addresses_are_the_ones_a_network_keeps_inside() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(super::reserved(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!super::reserved(ip.parse().unwrap()), "{ip}");
        }
    }
}
