//! The API against a hostile page on the developer's own machine: a rebound DNS name is
//! refused, and so is every request another site (or a sibling site) makes a browser send,
//! GETs included, while the sink's own pages and non-browser clients get through.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::api::{request, sink};

/// The status of a request, read from the status line alone (the event stream never ends).
async fn status(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let text = crate::api::request_text(addr, method, path, headers, "");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await.unwrap();
    line[9..12].parse().unwrap()
}

#[tokio::test]
async fn a_rebound_host_name_is_refused() {
    let s = sink(None).await;
    for host in [
        "attacker.example",
        "attacker.example:8025",
        "127.0.0.1.nip.io",
    ] {
        let (code, body) = request(s.http, "GET", "/api/v1/messages", &[("Host", host)]).await;
        assert_eq!(code, 421, "{host}: {body}");
        assert!(body.contains("--allow-host"), "{body}");
        let pause = status(s.http, "POST", "/api/v1/intake/pause", &[("Host", host)]).await;
        assert_eq!(pause, 421);
        assert_eq!(status(s.http, "GET", "/", &[("Host", host)]).await, 421);
    }
    assert!(!s.faults.paused(), "never paused");
    for host in ["localhost:8025", "127.0.0.1", "[::1]:1"] {
        assert_eq!(
            request(s.http, "GET", "/api/v1/messages", &[("Host", host)])
                .await
                .0,
            200
        );
    }
}

#[tokio::test]
async fn cross_site_and_same_site_requests_are_refused_on_every_route() {
    let s = sink(None).await;
    let hostile: [&[(&str, &str)]; 4] = [
        &[
            ("Sec-Fetch-Site", "cross-site"),
            ("Sec-Fetch-Mode", "no-cors"),
        ],
        &[("Sec-Fetch-Site", "same-site"), ("Sec-Fetch-Mode", "cors")],
        &[("Origin", "http://attacker.example")],
        &[("Origin", "null")],
    ];
    for headers in hostile {
        for (method, path) in [
            ("GET", "/api/v1/wait?text=token%3Da&timeout=1ms"),
            ("GET", "/api/v1/messages"),
            ("POST", "/api/v1/intake/pause"),
            ("DELETE", "/api/v1/messages"),
            ("GET", "/api/v1/events"),
            ("GET", "/metrics"),
        ] {
            let code = status(s.http, method, path, headers).await;
            assert_eq!(code, 403, "{method} {path} with {headers:?}");
        }
    }
    assert!(!s.faults.paused(), "never paused");
    // Its own pages, top-level visits to the inbox, and clients that are not browsers.
    let own = format!("http://{}", s.http);
    let allowed: [&[(&str, &str)]; 3] = [
        &[("Sec-Fetch-Site", "same-origin"), ("Origin", &own)],
        &[("Sec-Fetch-Site", "none")],
        &[],
    ];
    for headers in allowed {
        let (code, body) = request(s.http, "GET", "/api/v1/messages", headers).await;
        assert_eq!(code, 200, "{headers:?}: {body}");
    }
    let visit = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Mode", "navigate"),
        ("Sec-Fetch-Dest", "document"),
    ];
    assert_eq!(status(s.http, "GET", "/", &visit).await, 200);
    assert_eq!(status(s.http, "GET", "/api/v1/messages", &visit).await, 403);
}

#[tokio::test]
async fn a_query_token_is_decoded_and_only_for_browser_routes() {
    let token = "a+b/c=d&e";
    let s = sink(Some(token)).await;
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    let events = format!("/api/v1/events?token={encoded}");
    let code = status(s.http, "GET", &events, &[]).await;
    assert_eq!(code, 200, "the event stream takes a decoded query token");
    let listing = format!("/api/v1/messages?token={encoded}");
    assert_eq!(request(s.http, "GET", &listing, &[]).await.0, 401);
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    assert_eq!(
        request(s.http, "GET", "/api/v1/messages", &auth).await.0,
        200
    );
}

/// A connection the server closed without answering: a read ends with no bytes (bounded,
/// so a server that never closes fails the test instead of hanging it).
async fn closed(stream: &mut TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn idle_connections_are_capped_and_timed_out_while_smtp_goes_on() {
    use std::time::Duration;
    let s = sink(None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let limits = mailtest::api::HttpLimits {
        max_connections: 20,
        header_timeout: Duration::from_secs(2),
    };
    let router = mailtest::api::router(
        s.store.clone(),
        s.faults.clone(),
        mailtest::api::ApiSettings::default(),
    );
    tokio::spawn(mailtest::api::serve_with(
        listener, router, limits, shutdown,
    ));
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(http).await.unwrap();
        // Half a request line: headers that never finish.
        stream.write_all(b"GET /api/v1/mess").await.unwrap();
        idle.push(stream);
    }
    // Over the cap: closed without an answer to a whole request.
    let mut extra = TcpStream::connect(http).await.unwrap();
    let whole = format!("GET /api/v1/messages HTTP/1.1\r\nHost: {http}\r\n\r\n");
    let _ = extra.write_all(whole.as_bytes()).await;
    assert!(closed(&mut extra).await, "the 21st connection is refused");
    // SMTP is untouched.
    crate::api::send(s.smtp, &["bob@example.com"], "still here", "\r\nhi").await;
    assert_eq!(s.store.len(), 1);
    // The header timeout closes every idle one, and the server takes requests again.
    for stream in &mut idle {
        assert!(closed(stream).await, "an idle connection is timed out");
    }
    assert_eq!(status(http, "GET", "/api/v1/messages", &[]).await, 200);
}
