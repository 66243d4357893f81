//! Malformed mail (fixtures/malformed, plus generated giants) captured over SMTP and shown
//! through the API and the web inbox without a crash; the sink keeps serving throughout.

use std::net::SocketAddr;

use mailtest::store::Query;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::api::{get_json, request, sink};
use crate::browser::Browser;
use crate::util::root;

/// The corpus: the committed files and two generated ones.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("fixtures/malformed");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    let mut deep = String::from("Subject: 20,000 nested multiparts\r\nMIME-Version: 1.0\r\n");
    for i in 0..20_000 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    deep.push_str("Content-Type: text/plain\r\n\r\ndeepest\r\n");
    for i in (0..20_000).rev() {
        deep.push_str(&format!("--b{i}--\r\n"));
    }
    out.push(("generated-deep-nesting".into(), deep.into_bytes()));
    let mut huge = format!("Subject: {}\r\n", "long ".repeat(20_000));
    for i in 0..5_000 {
        huge.push_str(&format!("X-Filler-{i}: {}\r\n", "y".repeat(20)));
    }
    huge.push_str("\r\nbody after 200 KB of headers\r\n");
    out.push(("generated-huge-headers".into(), huge.into_bytes()));
    out
}

/// Sends bytes as one message over a bare SMTP session (dot-stuffed, nothing else changed);
/// returns the reply to the end of DATA.
async fn send_bytes(smtp: SocketAddr, raw: &[u8]) -> String {
    let mut io = BufReader::new(TcpStream::connect(smtp).await.unwrap());
    let mut line = String::new();
    io.read_line(&mut line).await.unwrap();
    let script = "EHLO t\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n";
    io.get_mut().write_all(script.as_bytes()).await.unwrap();
    let mut replies = 0;
    while replies < 4 {
        line.clear();
        io.read_line(&mut line).await.unwrap();
        if line.as_bytes().get(3) == Some(&b' ') {
            replies += 1;
        }
    }
    assert!(line.starts_with("354"), "{line}");
    let mut data = Vec::with_capacity(raw.len() + 8);
    for (n, piece) in raw.split(|&b| b == b'\n').enumerate() {
        if n > 0 {
            data.push(b'\n');
        }
        if piece.first() == Some(&b'.') {
            data.push(b'.');
        }
        data.extend_from_slice(piece);
    }
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\nQUIT\r\n");
    io.get_mut().write_all(&data).await.unwrap();
    line.clear();
    io.read_line(&mut line).await.unwrap();
    line
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_mail_is_captured_and_shown_without_a_crash() {
    let s = sink(None).await;
    let corpus = corpus();
    for (name, raw) in &corpus {
        let reply = send_bytes(s.smtp, raw).await;
        assert!(reply.starts_with("250"), "{name}: {reply}");
    }
    let stored = s.store.list(&Query::default());
    assert_eq!(stored.len(), corpus.len());
    for (summary, (name, _)) in stored.iter().zip(&corpus) {
        let id = summary.id;
        let (status, message) = get_json(s.http, &format!("/api/v1/messages/{id}")).await;
        assert_eq!(status, 200, "{name}");
        assert!(message["message"]["headers"].is_array(), "{name}");
        let html = request(s.http, "GET", &format!("/api/v1/messages/{id}/html"), &[])
            .await
            .0;
        let has_html = !message["message"]["html"].is_null();
        assert_eq!(html, if has_html { 200 } else { 404 }, "{name}");
        let attachments = message["message"]["attachments"].as_array().unwrap().len();
        for n in 0..attachments {
            let path = format!("/api/v1/messages/{id}/attachments/{n}");
            assert_eq!(
                request(s.http, "GET", &path, &[]).await.0,
                200,
                "{name} {n}"
            );
        }
        let raw = request(s.http, "GET", &format!("/api/v1/messages/{id}/raw"), &[])
            .await
            .0;
        assert_eq!(raw, 200, "{name}");
    }
    // Searching reads every body, the giants included. (mailparse stops descending at a
    // fixed depth, so the deepest part of the nested giant is not searched: by design.)
    let (status, found) =
        get_json(s.http, "/api/v1/messages?q=%22body%20after%20200%20KB%22").await;
    assert_eq!((status, found["total"].clone()), (200, Value::from(1)));

    // The inbox opens each one on every tab, with no script error.
    let browser = Browser::start().await;
    let base = format!("http://{}", s.http);
    browser.goto(&format!("{base}/")).await;
    browser
        .until(&format!(
            "document.body.dataset.listed === '{}'",
            corpus.len()
        ))
        .await;
    browser
        .eval(
            "(window.errors = [], addEventListener('error', e => errors.push(e.message)), \
             addEventListener('unhandledrejection', e => errors.push(String(e.reason))), true)",
        )
        .await;
    for (summary, (name, _)) in stored.iter().zip(&corpus) {
        browser
            .goto(&format!("{base}/#/messages/{}", summary.id))
            .await;
        browser
            .until(&format!("document.body.dataset.shown === '{}'", summary.id))
            .await;
        for tab in [
            "html",
            "text",
            "headers",
            "envelope",
            "raw",
            "attachments",
            "links",
            "lints",
        ] {
            browser.click(&format!("[data-tab={tab}]")).await;
        }
        browser
            .until("!document.querySelector('#panel').innerText.includes('Loading')")
            .await;
        assert_eq!(browser.eval("errors").await, Value::Array(vec![]), "{name}");
    }
}
