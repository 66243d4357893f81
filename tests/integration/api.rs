//! The sink's HTTP API, in process over real sockets: list and search, one message parsed,
//! raw bytes, the server-side wait, the event stream with resume, deletion, the token.

use std::net::SocketAddr;
use std::sync::Arc;

use mailtest::api::{self, ApiSettings};
use mailtest::smtp::faults::FaultSet;
use mailtest::smtp::{Server, ServerSettings};
use mailtest::store::Store;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A sink in process: SMTP and API over one memory store.
pub struct Sink {
    pub store: Arc<Store>,
    pub faults: Arc<FaultSet>,
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    _stop: watch::Sender<bool>,
}

pub async fn sink(token: Option<&str>) -> Sink {
    sink_with(token, ServerSettings::default()).await
}

/// A sink whose SMTP side has these settings (TLS, AUTH...).
pub async fn sink_with(token: Option<&str>, server: ServerSettings) -> Sink {
    let settings = ApiSettings {
        token: token.map(Into::into),
        ..ApiSettings::default()
    };
    sink_api(settings, server).await
}

/// A sink with these API and SMTP settings.
pub async fn sink_api(settings: ApiSettings, mut server: ServerSettings) -> Sink {
    let store = Arc::new(Store::memory());
    let faults = Arc::new(FaultSet::default());
    let (stop, shutdown) = watch::channel(false);
    let smtp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (smtp, http) = (
        smtp_listener.local_addr().unwrap(),
        http_listener.local_addr().unwrap(),
    );
    server.session.faults = faults.clone();
    tokio::spawn(Server::serve(
        smtp_listener,
        server,
        store.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(api::serve(
        http_listener,
        api::router(store.clone(), faults.clone(), settings),
        shutdown,
    ));
    Sink {
        store,
        faults,
        smtp,
        http,
        _stop: stop,
    }
}

/// One HTTP/1.1 request; returns the status and the body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    request_with_body(addr, method, path, headers, "").await
}

/// An HTTP/1.1 request that closes its connection, with `Host: addr` unless given.
pub fn request_text(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

pub async fn request_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let text = request_text(addr, method, path, headers, body);
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = request(addr, "GET", path, &[]).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Sends one message over SMTP with `extra` headers; returns when it is stored (250).
pub async fn send(smtp: SocketAddr, to: &[&str], subject: &str, body: &str) {
    let stream = TcpStream::connect(smtp).await.unwrap();
    let mut io = BufReader::new(stream);
    let mut line = String::new();
    let mut rcpts = String::new();
    for r in to {
        rcpts.push_str(&format!("RCPT TO:<{r}>\r\n"));
    }
    let script = format!("EHLO t\r\nMAIL FROM:<app@example.com>\r\n{rcpts}DATA\r\n");
    io.read_line(&mut line).await.unwrap();
    io.get_mut().write_all(script.as_bytes()).await.unwrap();
    let mut replies = 0;
    while replies < 3 + to.len() {
        line.clear();
        io.read_line(&mut line).await.unwrap();
        if line.as_bytes().get(3) == Some(&b' ') {
            replies += 1;
        }
    }
    let message = format!(
        "From: app@example.com\r\nTo: {}\r\nSubject: {subject}\r\n{body}\r\n.\r\nQUIT\r\n",
        to[0]
    );
    io.get_mut().write_all(message.as_bytes()).await.unwrap();
    line.clear();
    io.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("250"), "{line}");
}

const MULTIPART: &str = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Jürgen\r\n--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>J\u{fc}rgen</b></p>\r\n--b2--\r\n--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--";

#[tokio::test(flavor = "multi_thread")]
async fn list_search_read_and_delete() {
    let s = sink(None).await;
    send(
        s.smtp,
        &["alice@example.com", "audit@example.com"],
        "Your invoice",
        MULTIPART,
    )
    .await;
    send(s.smtp, &["bob@example.com"], "Welcome", "\r\nHi Bob").await;
    let (status, all) = get_json(s.http, "/api/v1/messages").await;
    assert_eq!(status, 200);
    assert_eq!(all["total"], 2);
    let (_, bcc) = get_json(s.http, "/api/v1/messages?to=audit@example.com").await;
    assert_eq!(
        bcc["messages"][0]["subject"], "Your invoice",
        "BCC recipient found through the envelope"
    );
    let (_, by_subject) = get_json(s.http, "/api/v1/messages?subject=welcome").await;
    assert_eq!(by_subject["total"], 1);
    let id = bcc["messages"][0]["id"].as_u64().unwrap();
    let (status, one) = get_json(s.http, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        one["message"]["text"].as_str().unwrap().trim(),
        "Hello Jürgen"
    );
    assert!(
        one["message"]["html"]
            .as_str()
            .unwrap()
            .contains("<b>Jürgen</b>")
    );
    assert_eq!(one["message"]["attachments"][0]["filename"], "invoice.pdf");
    assert_eq!(one["message"]["attachments"][0]["size"], 9);
    assert_eq!(
        one["summary"]["envelope"]["rcpt_to"][1],
        "audit@example.com"
    );
    let (status, raw) = request(s.http, "GET", &format!("/api/v1/messages/{id}/raw"), &[]).await;
    assert_eq!(status, 200);
    assert!(raw.starts_with("From: app@example.com\r\n"));
    let (_, transcript) = get_json(s.http, &format!("/api/v1/messages/{id}/transcript")).await;
    assert!(
        transcript
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "C: RCPT TO:<audit@example.com>")
    );
    assert_eq!(get_json(s.http, "/api/v1/messages/999").await.0, 404);
    assert_eq!(get_json(s.http, "/api/v1/messages?colour=red").await.0, 400);
    assert_eq!(
        request(s.http, "DELETE", &format!("/api/v1/messages/{id}"), &[])
            .await
            .0,
        204
    );
    let (_, cleared) = request(s.http, "DELETE", "/api/v1/messages", &[]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&cleared).unwrap()["deleted"],
        1
    );
    assert_eq!(get_json(s.http, "/api/v1/messages").await.1["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn search_by_header_and_by_decoded_text() {
    let s = sink(None).await;
    let quoted = "List-Unsubscribe: <https://app.example/u>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nYour code is 4711, Gr=C3=BC=C3=9Fe";
    send(s.smtp, &["alice@example.com"], "Code", quoted).await;
    send(s.smtp, &["bob@example.com"], "Invoice", MULTIPART).await;
    let total = |v: &Value| v["total"].as_u64().unwrap();
    let (_, has) = get_json(s.http, "/api/v1/messages?header=list-unsubscribe").await;
    assert_eq!(total(&has), 1, "header present, name case-insensitive");
    let (_, value) = get_json(s.http, "/api/v1/messages?header=Content-Type:%20multipart").await;
    assert_eq!(value["messages"][0]["subject"], "Invoice");
    let (_, none) = get_json(s.http, "/api/v1/messages?header=X-Absent").await;
    assert_eq!(total(&none), 0);
    let (_, decoded) = get_json(s.http, "/api/v1/messages?text=gr%C3%BC%C3%9Fe").await;
    assert_eq!(
        decoded["messages"][0]["subject"], "Code",
        "quoted-printable body found by its decoded text"
    );
    let (_, html) = get_json(s.http, "/api/v1/messages?text=%3Cb%3Ej%C3%BCrgen").await;
    assert_eq!(
        html["messages"][0]["subject"], "Invoice",
        "HTML part searched"
    );
    let (_, both) = get_json(s.http, "/api/v1/messages?text=4711&to=bob@example.com").await;
    assert_eq!(total(&both), 0, "every condition must hold");
    let (status, waited) = get_json(s.http, "/api/v1/wait?text=4711&timeout=5s").await;
    assert_eq!(
        (status, waited["messages"][0]["subject"].as_str()),
        (200, Some("Code"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_returns_on_arrival_and_reports_a_timeout() {
    let s = sink(None).await;
    // The waiter is asked first; the mail is sent while it waits.
    let http = s.http;
    let waiter = tokio::spawn(async move {
        get_json(
            http,
            "/api/v1/wait?to=carol@example.com&count=2&timeout=30s",
        )
        .await
    });
    send(s.smtp, &["dave@example.com"], "not this", "\r\nx").await;
    send(s.smtp, &["carol@example.com"], "first", "\r\nx").await;
    send(s.smtp, &["carol@example.com"], "second", "\r\nx").await;
    let (status, found) = waiter.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(found["count"], 2);
    assert_eq!(found["messages"][1]["subject"], "second");
    // A waiter that comes later, with a cursor, finds what came after it at once.
    let first = found["messages"][0]["id"].as_u64().unwrap();
    let (status, later) = get_json(
        s.http,
        &format!("/api/v1/wait?to=carol@example.com&since={first}"),
    )
    .await;
    assert_eq!(
        (status, later["messages"][0]["subject"].as_str()),
        (200, Some("second"))
    );
    let (status, none) = get_json(s.http, "/api/v1/wait?to=nobody@example.com&timeout=200ms").await;
    assert_eq!(status, 408);
    assert!(
        none["error"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 200ms"),
        "{none}"
    );
    assert_eq!(get_json(s.http, "/api/v1/wait?timeout=soon").await.0, 400);
}

/// Reads SSE lines from `stream` until `wanted` message ids have been seen.
async fn read_events(stream: &mut BufReader<TcpStream>, wanted: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut line = String::new();
    while ids.len() < wanted {
        line.clear();
        assert!(
            stream.read_line(&mut line).await.unwrap() > 0,
            "stream ended"
        );
        if let Some(id) = line.trim_end().strip_prefix("id: ") {
            ids.push(id.to_owned());
        }
    }
    ids
}

pub async fn open_events(http: SocketAddr, extra: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(http).await.unwrap();
    let request = format!("GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut io = BufReader::new(stream);
    let mut line = String::new();
    io.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    io
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_announces_and_resumes() {
    let s = sink(None).await;
    let mut events = open_events(s.http, "").await;
    send(s.smtp, &["a@example.com"], "one", "\r\nx").await;
    send(s.smtp, &["a@example.com"], "two", "\r\nx").await;
    assert_eq!(read_events(&mut events, 2).await, ["1", "2"]);
    send(s.smtp, &["a@example.com"], "three", "\r\nx").await;
    // A client that saw up to 1 reconnects and gets 2 and 3, then live ones.
    let mut resumed = open_events(s.http, "Last-Event-ID: 1\r\n").await;
    assert_eq!(read_events(&mut resumed, 2).await, ["2", "3"]);
    send(s.smtp, &["a@example.com"], "four", "\r\nx").await;
    assert_eq!(read_events(&mut resumed, 1).await, ["4"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_guards_every_route_but_health() {
    let s = sink(Some("s3cret")).await;
    assert_eq!(request(s.http, "GET", "/healthz", &[]).await.0, 200);
    for path in [
        "/api/v1/messages",
        "/api/v1/events",
        "/api/v1/wait?timeout=1ms",
        "/metrics",
        "/api/v1/messages/1/raw",
        "/api/v1/messages/1/html",
        "/api/v1/messages/1/attachments/0",
        "/api/v1/mailboxes",
    ] {
        assert_eq!(request(s.http, "GET", path, &[]).await.0, 401, "{path}");
        assert_eq!(
            request(s.http, "GET", path, &[("Authorization", "Bearer wrong")])
                .await
                .0,
            401,
            "{path}"
        );
    }
    let ok = request(
        s.http,
        "GET",
        "/api/v1/messages",
        &[("Authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(ok.0, 200);
    // A token in the query only where a browser cannot send a header.
    for (path, status) in [
        ("/api/v1/messages?token=s3cret", 401),
        ("/metrics?token=s3cret", 401),
        ("/api/v1/messages/1/raw?token=s3cret", 404),
        ("/api/v1/messages/1/attachments/0?token=s3cret", 404),
    ] {
        assert_eq!(request(s.http, "GET", path, &[]).await.0, status, "{path}");
    }
    let (_, metrics) = request(
        s.http,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer s3cret")],
    )
    .await;
    assert!(metrics.contains("mailtest_messages_stored 0"), "{metrics}");
}

/// A bare SMTP client for fault tests: the codes of each reply, until the server closes.
pub async fn codes(smtp: SocketAddr, script: &[&str]) -> Vec<String> {
    let Ok(stream) = TcpStream::connect(smtp).await else {
        return vec!["refused".into()];
    };
    let mut io = BufReader::new(stream);
    let mut out = Vec::new();
    let read_reply = async |io: &mut BufReader<TcpStream>| -> Option<String> {
        loop {
            let mut line = String::new();
            if io.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line[..3].to_owned());
            }
        }
    };
    match read_reply(&mut io).await {
        Some(code) => out.push(code),
        None => return vec!["closed".into()],
    }
    for line in script {
        if io.get_mut().write_all(line.as_bytes()).await.is_err() {
            break;
        }
        if line.ends_with("\r\n.\r\n") || !line.contains("\r\n\r\n") {
            let Some(code) = read_reply(&mut io).await else {
                out.push("closed".into());
                break;
            };
            out.push(code);
        }
    }
    out
}

pub const SEND: &[&str] = &[
    "EHLO t\r\n",
    "MAIL FROM:<a@example.com>\r\n",
    "RCPT TO:<b@example.com>\r\n",
    "DATA\r\n",
    "Subject: x\r\n\r\nbody\r\n.\r\n",
];

async fn put_faults(s: &Sink, yaml: &str) -> (u16, String) {
    request_with_body(s.http, "PUT", "/api/v1/faults", &[], yaml).await
}

#[tokio::test(flavor = "multi_thread")]
async fn scripted_faults_are_deterministic_and_changeable_at_runtime() {
    let s = sink(None).await;
    // Every third connection is turned away.
    assert_eq!(put_faults(&s, "rules:\n- when: {on: connect, every: 3}\n  action: {reply: '421 4.7.0 Busy', close: true}\n").await.0, 200);
    let mut greetings = Vec::new();
    for _ in 0..6 {
        greetings.push(codes(s.smtp, &[]).await[0].clone());
    }
    assert_eq!(greetings, ["220", "220", "421", "220", "220", "421"]);
    // A recipient pattern gets 451; others are accepted.
    put_faults(&s, "rules:\n- when: {on: RCPT, address: '@fail\\.example$'}\n  action: {reply: '451 4.3.0 Mailbox busy'}\n").await;
    let got = codes(
        s.smtp,
        &[
            "EHLO t\r\n",
            "MAIL FROM:<a@example.com>\r\n",
            "RCPT TO:<x@fail.example>\r\n",
            "RCPT TO:<y@ok.example>\r\n",
        ],
    )
    .await;
    assert_eq!(got, ["220", "250", "250", "451", "250"]);
    // DATA fails twice with 451, then succeeds: what a retrying service must survive.
    put_faults(
        &s,
        "rules:\n- when: {on: DATA, times: 2}\n  action: {reply: '451 4.3.0 Try again'}\n",
    )
    .await;
    let mut last = Vec::new();
    for _ in 0..3 {
        last.push(codes(s.smtp, SEND).await.last().unwrap().clone());
    }
    assert_eq!(last, ["451", "451", "250"]);
    assert_eq!(s.faults.rules().rules.len(), 1);
    // A dropped connection mid-DATA: the client never hears back and nothing is stored.
    put_faults(&s, "rules:\n- when: {on: DATA}\n  action: {drop: true}\n").await;
    let before = get_json(s.http, "/api/v1/messages").await.1["total"]
        .as_u64()
        .unwrap();
    assert_eq!(codes(s.smtp, SEND).await.last().unwrap(), "closed");
    assert_eq!(
        get_json(s.http, "/api/v1/messages").await.1["total"]
            .as_u64()
            .unwrap(),
        before
    );
    // Larger than a size: 552.
    put_faults(
        &s,
        "rules:\n- when: {on: DATA, size_over: 10}\n  action: {reply: '552 5.3.4 Too big'}\n",
    )
    .await;
    assert_eq!(codes(s.smtp, SEND).await.last().unwrap(), "552");
    // A delay holds the reply back at least that long.
    put_faults(&s, "rules:\n- when: {on: MAIL}\n  action: {delay: 300ms}\n").await;
    let started = std::time::Instant::now();
    assert_eq!(codes(s.smtp, SEND).await.last().unwrap(), "250");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    // Clearing the rules restores normal service.
    assert_eq!(
        request(s.http, "DELETE", "/api/v1/faults", &[]).await.0,
        204
    );
    assert_eq!(codes(s.smtp, SEND).await.last().unwrap(), "250");
}

#[tokio::test(flavor = "multi_thread")]
async fn random_faults_replay_with_their_seed() {
    let s = sink(None).await;
    let rules = "seed: 7\nrules:\n- when: {on: RCPT, probability: 0.5}\n  action: {reply: '451 4.3.0 Flaky'}\n";
    let mut runs = Vec::new();
    for _ in 0..2 {
        put_faults(&s, rules).await;
        let mut script = vec!["EHLO t\r\n", "MAIL FROM:<a@example.com>\r\n"];
        script.extend(std::iter::repeat_n("RCPT TO:<b@example.com>\r\n", 20));
        runs.push(codes(s.smtp, &script).await);
    }
    assert_eq!(runs[0], runs[1], "the same seed gives the same sequence");
    let failures = runs[0].iter().filter(|c| *c == "451").count();
    assert!(
        (3..=17).contains(&failures),
        "about half fail: {:?}",
        runs[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_fault_rules_are_refused_with_a_reason() {
    let s = sink(None).await;
    for (yaml, why) in [
        ("rules:\n- action: {reply: '250 ok'}\n", "4xx or 5xx"),
        (
            "rules:\n- when: {address: '('}\n  action: {drop: true}\n",
            "address regex",
        ),
        ("rules:\n- when: {on: MAIL}\n  action: {}\n", "does nothing"),
        (
            "rules:\n- when: {probability: 2}\n  action: {drop: true}\n",
            "between 0 and 1",
        ),
        ("rules:\n- action: {delay: soon}\n", "delay `soon`"),
        ("rulez: []\n", "unknown field `rulez`"),
    ] {
        let (status, body) = put_faults(&s, yaml).await;
        assert_eq!(status, 400, "{yaml}");
        assert!(body.contains(why), "{yaml}: {body}");
    }
    assert!(
        s.faults.rules().rules.is_empty(),
        "a refused set changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_intake_answers_421_until_resumed() {
    let s = sink(None).await;
    // A session already open when intake pauses is refused at its next MAIL.
    let stream = TcpStream::connect(s.smtp).await.unwrap();
    let mut open = BufReader::new(stream);
    let mut line = String::new();
    open.read_line(&mut line).await.unwrap();
    assert_eq!(
        request(s.http, "POST", "/api/v1/intake/pause", &[]).await.0,
        200
    );
    assert_eq!(get_json(s.http, "/api/v1/intake").await.1["paused"], true);
    assert_eq!(codes(s.smtp, SEND).await, ["421", "closed"]);
    open.get_mut()
        .write_all(b"MAIL FROM:<a@example.com>\r\n")
        .await
        .unwrap();
    line.clear();
    open.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("421 4.3.2"), "{line}");
    assert_eq!(
        request(s.http, "POST", "/api/v1/intake/resume", &[])
            .await
            .0,
        200
    );
    assert_eq!(codes(s.smtp, SEND).await.last().unwrap(), "250");
}
