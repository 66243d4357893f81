//! MailHog's API, served by `mailtest sink --mailhog`: a suite written for MailHog runs
//! with nothing changed but host and port. The outside client is blueimp's npm `mailhog`,
//! unmodified, which decodes MailHog's raw headers and bodies itself, so they must be as
//! MailHog sends them.

use crate::inbox::send_raw;
use crate::mailpit::{Sink, node_flow};
use crate::util::http_get;

/// An order confirmation: an RFC 2047 subject, quoted-printable text and HTML.
const ORDER: &str = "From: Shop <shop@example.com>\r\nTo: alice@example.com\r\n\
Subject: =?UTF-8?B?SWhyZSBCZXN0ZWxsdW5nIOKckw==?=\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Danke f=C3=BCr Ihre Bestellung =E2=9C=93\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<p><b>Danke</b></p>\r\n--alt--\r\n";

/// A receipt with a base64 attachment.
const RECEIPT: &str = "From: shop@example.com\r\nTo: bob@example.com\r\nSubject: Receipt\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\n\
Content-Type: text/plain\r\n\r\nSee attached.\r\n--mix\r\nContent-Type: text/plain\r\n\
Content-Disposition: attachment; filename=\"receipt.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
dG90YWw6IDQyLjAw\r\n--mix--\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_npm_mailhog_client_runs_a_whole_flow() {
    let sink = Sink::start();
    let seen = node_flow(
        "mailhog_flow.cjs",
        "MAILHOG",
        &sink.mailhog,
        sink.smtp,
        &[ORDER, RECEIPT],
    )
    .await;
    assert!(seen["receipt"].is_string(), "{seen}");
}

/// MailHog's shapes: an unknown v1 id is `null`, a bad search kind is 400 with no body,
/// headers keep their case and raw value, and the headers MailHog adds are there.
#[tokio::test(flavor = "multi_thread")]
async fn answers_have_mailhogs_shapes() {
    let sink = Sink::start();
    crate::inbox::send_raw(sink.smtp, ORDER.as_bytes()).await;
    let addr = sink.mailhog.trim_start_matches("http://").to_owned();
    let (status, body) = http_get(&addr, "/api/v1/messages/999");
    assert_eq!((status, body.as_str()), (200, "null"));
    let (status, body) = http_get(&addr, "/api/v2/search?kind=subject&query=x");
    assert_eq!((status, body.as_str()), (400, ""));
    let (_, body) = http_get(&addr, "/api/v2/messages");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["total"], 1);
    let item = &list["items"][0];
    let headers = &item["Content"]["Headers"];
    assert_eq!(
        headers["Subject"][0],
        "=?UTF-8?B?SWhyZSBCZXN0ZWxsdW5nIOKckw==?="
    );
    assert_eq!(headers["Return-Path"][0], "<app@example.com>");
    assert!(
        headers["Received"][0]
            .as_str()
            .unwrap()
            .contains("(MailHog)")
    );
    assert_eq!(item["From"]["Mailbox"], "app");
    assert_eq!(item["To"][0]["Domain"], "example.com");
    assert_eq!(
        item["Raw"]["Data"].as_str().unwrap().len(),
        item["Content"]["Size"].as_u64().unwrap() as usize
    );
    let parts = item["MIME"]["Parts"].as_array().unwrap();
    assert_eq!(
        parts.last().unwrap()["Body"],
        "--",
        "MailHog's closing pseudo-part"
    );

    // One store under every flavour: the same message, by the same id, in each.
    let native = sink.http.trim_start_matches("http://").to_owned();
    let (_, body) = http_get(&native, "/api/v1/messages");
    let ours: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = item["ID"].as_str().unwrap();
    assert_eq!(ours["messages"][0]["id"].to_string(), id);
    let mailpit = sink.mailpit.trim_start_matches("http://").to_owned();
    let (status, body) = http_get(&mailpit, &format!("/api/v1/message/{id}"));
    assert_eq!(status, 200, "{body}");
}

/// MailHog's live feeds: the v2 websocket sends each new message as a frame of JSON and a
/// newline; the v1 event stream sends it as indented JSON in `data:` lines.
#[tokio::test(flavor = "multi_thread")]
async fn new_mail_reaches_the_websocket_and_the_event_stream() {
    use futures_util::StreamExt;
    use std::io::{BufRead, Write};
    let sink = Sink::start();
    let addr = sink.mailhog.trim_start_matches("http://").to_owned();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v2/websocket"))
        .await
        .unwrap();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    )
    .unwrap();
    let mut sse = std::io::BufReader::new(stream);
    let mut line = String::new();
    // The stream's headers first: once they are read, the feed is listening.
    while line != "\r\n" {
        line.clear();
        sse.read_line(&mut line).unwrap();
    }
    crate::inbox::send_raw(sink.smtp, RECEIPT.as_bytes()).await;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("a frame within 10 s")
        .unwrap()
        .unwrap();
    let text = frame.to_text().unwrap();
    assert!(text.ends_with("}\n"), "compact JSON and a newline");
    let message: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(message["Content"]["Headers"]["Subject"][0], "Receipt");
    let event = tokio::task::spawn_blocking(move || {
        let mut data = String::new();
        loop {
            let mut line = String::new();
            sse.read_line(&mut line).unwrap();
            if let Some(rest) = line.trim_end().strip_prefix("data:") {
                data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                data.push('\n');
            } else if line.trim().is_empty() && !data.is_empty() {
                return data;
            }
        }
    })
    .await
    .unwrap();
    let message: serde_json::Value = serde_json::from_str(&event).unwrap();
    assert_eq!(message["Raw"]["To"][0], "bob@example.com");
    assert!(event.lines().count() > 10, "indented, one field a line");
}

/// The Python client `mailhog` (from `PyPI`), which reads MailHog's JSON into strict dataclasses
/// (`tests/interop/mailhog_py_flow.py`): list, search, read, delete.
#[test]
fn the_python_mailhog_client_reads_every_key_it_needs() {
    let sink = Sink::start();
    let api: std::net::SocketAddr = sink.mailhog.trim_start_matches("http://").parse().unwrap();
    let done = std::process::Command::new(crate::util::root().join("target/tools/venv/bin/python"))
        .arg(crate::util::root().join("tests/interop/mailhog_py_flow.py"))
        .env("MAILHOG_HOST", api.ip().to_string())
        .env("MAILHOG_PORT", api.port().to_string())
        .env("SMTP", sink.smtp.to_string())
        .output()
        .expect("the venv of scripts/setup.sh has mailhog");
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(out.trim(), "ok");
}

/// Jim, invited through the API, becomes scripted faults: with `RejectRecipientChance` 1
/// every recipient is refused as MailHog refuses it; sent away, mail flows again.
#[tokio::test(flavor = "multi_thread")]
async fn jim_rejects_as_mailhog_does_until_sent_away() {
    use crate::util::http_request;
    let sink = Sink::start();
    let addr = sink.mailhog.trim_start_matches("http://").to_owned();
    let session = [
        "EHLO client.example\r\n",
        "MAIL FROM:<a@example.com>\r\n",
        "RCPT TO:<b@example.com>\r\n",
        "QUIT\r\n",
    ];
    let jim = move |method: &'static str, body: &'static str| {
        let addr = addr.clone();
        async move {
            tokio::task::spawn_blocking(move || http_request(&addr, method, "/api/v2/jim", body))
                .await
                .unwrap()
        }
    };
    assert_eq!(jim("GET", "").await.0, 404, "off until invited");
    let invite = r#"{"AcceptChance": 1, "RejectRecipientChance": 1}"#;
    assert_eq!(jim("POST", invite).await.0, 201);
    let (status, body) = jim("GET", "").await;
    assert_eq!(status, 200);
    let settings: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(settings["RejectRecipientChance"], 1.0);
    assert_eq!(settings["DisconnectChance"], 0.0, "left out: 0, as MailHog");
    let replies = crate::api::codes(sink.smtp, &session).await;
    assert_eq!(replies, ["220", "250", "250", "550", "221"]);
    assert_eq!(jim("POST", invite).await.0, 400, "already invited");
    assert_eq!(jim("DELETE", "").await.0, 200);
    let replies = crate::api::codes(sink.smtp, &session).await;
    assert_eq!(replies, ["220", "250", "250", "250", "221"]);
}

/// Jim's slow links: with `LinkSpeedAffect` 1 every session crawls at the rate given (times
/// 8 bytes a second, as MailHog's code runs it), both ways, and says so in its transcript;
/// sent away, sessions run at full speed again.
#[tokio::test(flavor = "multi_thread")]
async fn jim_slows_links_to_the_rate_given() {
    use crate::util::http_request;
    let sink = Sink::start();
    let addr = sink.mailhog.trim_start_matches("http://").to_owned();
    let api = sink.http.trim_start_matches("http://").to_owned();
    let invite =
        r#"{"AcceptChance": 1, "LinkSpeedAffect": 1, "LinkSpeedMin": 250, "LinkSpeedMax": 250}"#;
    let (status, _) = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || http_request(&addr, "POST", "/api/v2/jim", invite)
    })
    .await
    .unwrap();
    assert_eq!(status, 201);
    // About 6,000 bytes with the replies: at least 3 s at 250 x 8 = 2,000 bytes a second.
    let body = "x".repeat(70);
    let mail = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: Slow\r\n\r\n{}",
        format!("{body}\r\n").repeat(85)
    );
    let started = std::time::Instant::now();
    send_raw(sink.smtp, mail.as_bytes()).await;
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_secs(3), "{took:?}");
    let transcript = move |id: u32| {
        let (status, body) =
            crate::util::http_get(&api, &format!("/api/v1/messages/{id}/transcript"));
        assert_eq!(status, 200, "{body}");
        body
    };
    let first = tokio::task::spawn_blocking({
        let t = transcript.clone();
        move || t(1)
    })
    .await
    .unwrap();
    assert!(first.contains("link speed 2000 bytes/s"), "{first}");
    tokio::task::spawn_blocking(move || http_request(&addr, "DELETE", "/api/v2/jim", ""))
        .await
        .unwrap();
    send_raw(sink.smtp, mail.as_bytes()).await;
    let second = tokio::task::spawn_blocking(move || transcript(2))
        .await
        .unwrap();
    assert!(!second.contains("link speed"), "{second}");
}
