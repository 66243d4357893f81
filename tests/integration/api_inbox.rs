//! The API routes the web inbox reads, over real sockets: the search language, paging back
//! from the newest, mailboxes, a message's links, lints and BCC, the locked-down HTML view,
//! attachment downloads, deletions on the event stream, the page itself, and the request
//! body limit.

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::api::{get_json, open_events, request, send, sink};

fn subjects(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_search_language_pages_and_mailboxes() {
    let s = sink(None).await;
    for (n, to) in ["ann+r1", "bob+r1", "ann+r2", "cat", "bob+r2"]
        .iter()
        .enumerate()
    {
        let to = format!("{to}@example.com");
        send(
            s.smtp,
            &[&to],
            &format!("note {n}"),
            &format!("\r\nhello {to}"),
        )
        .await;
    }
    let (_, found) = get_json(s.http, "/api/v1/messages?q=subject:%22note%203%22").await;
    assert_eq!(subjects(&found), ["note 3"]);
    let (_, found) = get_json(s.http, "/api/v1/messages?q=to:bob%20hello").await;
    assert_eq!(subjects(&found), ["note 1", "note 4"]);
    let (_, found) = get_json(s.http, "/api/v1/messages?q=mailbox:r2&from=app").await;
    assert_eq!(subjects(&found), ["note 2", "note 4"]);
    let (status, error) = get_json(s.http, "/api/v1/messages?q=to:a%20to:b").await;
    assert_eq!(
        (status, error),
        (400, json!({"error": "q: `to:` is given twice"}))
    );
    let (status, _) = get_json(s.http, "/api/v1/messages?q=to:a&to=b").await;
    assert_eq!(status, 400, "a condition given twice is refused");

    // Pages of two back from the newest, each oldest first, as the inbox reads them.
    let (_, newest) = get_json(s.http, "/api/v1/messages?limit=2").await;
    assert_eq!(
        (subjects(&newest), newest["more"].clone()),
        (vec!["note 3".into(), "note 4".into()], json!(true))
    );
    let (_, older) = get_json(s.http, "/api/v1/messages?limit=2&before=4").await;
    assert_eq!(subjects(&older), ["note 1", "note 2"]);
    let (_, oldest) = get_json(s.http, "/api/v1/messages?limit=2&before=2").await;
    assert_eq!(
        (
            subjects(&oldest),
            oldest["more"].clone(),
            oldest["total"].clone()
        ),
        (vec!["note 0".into()], json!(false), json!(5))
    );

    let (_, boxes) = get_json(s.http, "/api/v1/mailboxes").await;
    let expected = json!({"mailboxes": [{"mailbox": "r1", "count": 2}, {"mailbox": "r2", "count": 2}], "without_mailbox": 1});
    assert_eq!(boxes, expected);
}

/// A message with an inline `cid:` image, an attachment, a link, an image without alt text,
/// and a BCC recipient.
const RICH: &str = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<p>Hi <a href=\"https://example.com/verify?t=1\">verify</a> <img src=\"cid:logo@x\"></p>\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n\
--m\r\nContent-Type: text/csv; name=\"report.csv\"\r\n\
Content-Disposition: attachment; filename=\"report.csv\"\r\n\r\na,b\r\n1,2\r\n--m--";

#[tokio::test(flavor = "multi_thread")]
async fn a_message_for_the_inbox_and_its_locked_down_html() {
    let s = sink(None).await;
    send(
        s.smtp,
        &["to@example.com", "hidden@example.com"],
        "rich",
        RICH,
    )
    .await;
    let (_, m) = get_json(s.http, "/api/v1/messages/1").await;
    assert_eq!(m["bcc"], json!(["hidden@example.com"]));
    assert_eq!(
        m["summary"]["attachments"],
        json!(1),
        "the inline image is no attachment"
    );
    assert_eq!(
        m["message"]["links"],
        json!([{"href": "https://example.com/verify?t=1", "part": "html"}])
    );
    let rules: Vec<&str> = m["message"]["lints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["text-part", "img-alt", "img-width"]);
    assert_eq!(
        m["message"]["attachments"][0]["content_id"],
        json!("logo@x")
    );

    let (status, head, body) = full(s.http, "/api/v1/messages/1/html").await;
    assert_eq!(status, 200);
    let policy = header(&head, "content-security-policy");
    assert!(
        policy.starts_with("default-src 'none'") && policy.ends_with("; sandbox"),
        "{policy}"
    );
    assert!(policy.contains("img-src data:;"), "{policy}");
    assert!(
        body.contains("src=\"data:image/png;base64,iVBORw0KGgo=\""),
        "cid inlined: {body}"
    );
    let (_, head, _) = full(s.http, "/api/v1/messages/1/html?images=1").await;
    assert!(header(&head, "content-security-policy").contains("img-src data: http: https:;"));

    let (status, head, body) = full(s.http, "/api/v1/messages/1/attachments/1").await;
    assert_eq!((status, body.as_str()), (200, "a,b\r\n1,2"));
    assert_eq!(header(&head, "content-type"), "application/octet-stream");
    assert_eq!(
        header(&head, "content-disposition"),
        "attachment; filename=\"report.csv\""
    );
    assert_eq!(
        request(s.http, "GET", "/api/v1/messages/1/attachments/9", &[])
            .await
            .0,
        404
    );
    assert_eq!(
        request(s.http, "GET", "/api/v1/messages/7/html", &[])
            .await
            .0,
        404
    );
}

/// Parts the list could count one way and the message view another: an image named by
/// `Content-ID` alone, a file named only by `name=`, a body line that looks like a part
/// header, an attached message with an attachment of its own, an inline file.
const SHAPES: &str = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
--m\r\nContent-Type: text/plain\r\n\r\nquoted:\r\nContent-Disposition: attachment; filename=x\r\n\
--m\r\nContent-Type: image/gif\r\nContent-ID: <logo>\r\n\r\nGIF89a\r\n\
--m\r\nContent-Type: application/pdf; name=\"terms.pdf\"\r\n\r\n%PDF\r\n\
--m\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=\"map.png\"\r\n\r\nPNG\r\n\
--m\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n\
Subject: inner\r\nContent-Type: multipart/mixed; boundary=\"i\"\r\n\r\n\
--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n\
--i\r\nContent-Disposition: attachment; filename=\"inner.txt\"\r\n\r\nx\r\n--i--\r\n\
--m--";

#[tokio::test(flavor = "multi_thread")]
async fn the_list_counts_the_attachments_the_message_view_shows() {
    let s = sink(None).await;
    send(s.smtp, &["to@example.com"], "shapes", SHAPES).await;
    let (_, m) = get_json(s.http, "/api/v1/messages/1").await;
    let shown: Vec<(&str, bool)> = m["message"]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["content_type"].as_str().unwrap(),
                a["inline"] == json!(true),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("image/gif", true),
            ("application/pdf", false),
            ("image/png", true),
            ("message/rfc822", false)
        ]
    );
    let files = shown.iter().filter(|(_, inline)| !inline).count();
    assert_eq!(m["summary"]["attachments"], json!(files));
    let (_, list) = get_json(s.http, "/api/v1/messages").await;
    assert_eq!(list["messages"][0]["attachments"], json!(files));
}

#[tokio::test(flavor = "multi_thread")]
async fn deletions_are_announced_on_the_event_stream() {
    let s = sink(None).await;
    let mut events = open_events(s.http, "").await;
    send(s.smtp, &["a@example.com"], "one", "\r\nx").await;
    send(s.smtp, &["a@example.com"], "two", "\r\nx").await;
    assert_eq!(
        request(s.http, "DELETE", "/api/v1/messages/1", &[]).await.0,
        204
    );
    assert_eq!(
        request(s.http, "DELETE", "/api/v1/messages?q=two", &[])
            .await
            .0,
        200
    );
    let mut seen = Vec::new();
    let mut line = String::new();
    while seen.len() < 2 {
        line.clear();
        assert!(
            events.read_line(&mut line).await.unwrap() > 0,
            "stream ended"
        );
        if line.starts_with("event: deleted") {
            line.clear();
            events.read_line(&mut line).await.unwrap();
            seen.push(line.trim_end().to_owned());
        }
    }
    assert_eq!(seen, [r#"data: {"ids":[1]}"#, r#"data: {"ids":[2]}"#]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inbox_page_and_assets_are_public_and_strict() {
    let s = sink(Some("s3cret")).await;
    let (status, head, body) = full(s.http, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>mailtest inbox</title>"));
    let policy = header(&head, "content-security-policy");
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    for (path, kind) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/message.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let (status, head, _) = full(s.http, path).await;
        assert_eq!(
            (status, header(&head, "content-type")),
            (200, kind.to_owned()),
            "{path}"
        );
    }
    assert_eq!(
        request(s.http, "GET", "/api/v1/messages", &[]).await.0,
        401,
        "the data is not"
    );
}

/// Status, lower-cased head and body of one GET.
async fn full(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let http = addr.to_string();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let (status, head) = crate::util::http_head(&http, &path);
        let (_, body) = crate::util::http_get(&http, &path);
        (status, head, body)
    })
    .await
    .unwrap()
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn request_bodies_over_the_limit_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = sink(None).await;
    let body = "x".repeat(3 * 1024 * 1024);
    let mut stream = tokio::net::TcpStream::connect(s.http).await.unwrap();
    let head = format!(
        "PUT /api/v1/faults HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer and close before all of it is sent.
    let _ = stream.write_all(body.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "{}",
        &response[..response.len().min(200)]
    );
    // The server goes on serving.
    assert_eq!(request(s.http, "GET", "/api/v1/faults", &[]).await.0, 200);
}
