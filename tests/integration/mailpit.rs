//! Mailpit's API, served by `mailtest sink --mailpit`: suites written for Mailpit run with
//! nothing changed but the base URL. Outside clients, unmodified and installed by
//! `scripts/setup.sh`: the npm client `mailpit-api` and the pytest plugin `pytest-mailpit`.
//! And the JSON of every route matches the fields and types of Mailpit's own swagger file.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::inbox::send_raw;
use crate::util::{http_get, root, wait_for_file};

/// A `mailtest sink` process with Mailpit's and MailHog's APIs beside its own, on free
/// ports.
pub struct Sink {
    child: Child,
    pub smtp: SocketAddr,
    /// `http://127.0.0.1:port`
    pub mailpit: String,
    pub mailhog: String,
    /// mailtest's own API.
    pub http: String,
    _dir: tempfile::TempDir,
}

impl Sink {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With more flags for the sink.
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let child = Command::new(env!("CARGO_BIN_EXE_mailtest"))
            .args([
                "sink",
                "--memory",
                "--smtp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
            ])
            .args(["--mailpit", "127.0.0.1:0", "--mailhog", "127.0.0.1:0"])
            .args(extra)
            .args(["--enable-chaos", "--ready-file"])
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let text = wait_for_file(&ready);
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("no {key} in {text}"))
                .to_owned()
        };
        Self {
            child,
            smtp: value("MAILTEST_SMTP").parse().unwrap(),
            mailpit: value("MAILTEST_MAILPIT"),
            mailhog: value("MAILTEST_MAILHOG"),
            http: value("MAILTEST_HTTP"),
            _dir: dir,
        }
    }

    fn addr(&self) -> String {
        self.mailpit.trim_start_matches("http://").to_owned()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A receipt with a text and an HTML body and a text attachment.
const RECEIPT: &str = "From: Shop <shop@example.com>\r\nTo: Alice Example <alice@example.com>\r\n\
Subject: Your receipt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n\
--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThank you for your order.\r\n\
--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p><b>Thank you</b> for your order.</p>\r\n\
--b2--\r\n--b1\r\nContent-Type: text/plain; name=\"receipt.txt\"\r\n\
Content-Disposition: attachment; filename=\"receipt.txt\"\r\n\r\ntotal: 42.00\r\n--b1--\r\n";

const OTHER: &str =
    "From: shop@example.com\r\nTo: bob@example.com\r\nSubject: Other mail\r\n\r\nHello Bob\r\n";

/// Runs an outside client's flow (a script in `tests/interop/`) with `env` set to `url`:
/// once it prints `waiting`, `mail` is sent over SMTP; returns the JSON line it ends with.
pub async fn node_flow(
    script: &str,
    env: &str,
    url: &str,
    smtp: SocketAddr,
    mail: &[&str],
) -> Value {
    // Node resolves packages from the script's folder: the flow runs from the tools folder.
    let tools = root().join("target/tools/node");
    let copy = tools.join(format!("{}_{script}", std::process::id()));
    std::fs::copy(root().join("tests/interop").join(script), &copy).unwrap();
    let mut node = Command::new("node")
        .arg(&copy)
        .env(env, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/setup.sh installs the clients)");
    let mut out = BufReader::new(node.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "waiting", "the flow did not start");
    for raw in mail {
        send_raw(smtp, raw.as_bytes()).await;
    }
    let done = tokio::task::spawn_blocking(move || node.wait_with_output().unwrap())
        .await
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let _ = std::fs::remove_file(&copy);
    assert!(
        done.status.success(),
        "{rest}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    serde_json::from_str(rest.trim()).unwrap()
}

/// The npm client's flow (`tests/interop/mailpit_api_flow.mjs`): it waits for mail sent
/// after it started waiting, reads it whole, searches, marks read, tags and deletes.
#[tokio::test(flavor = "multi_thread")]
async fn the_npm_mailpit_client_runs_a_whole_flow() {
    let sink = Sink::start();
    let mail = [OTHER, RECEIPT];
    let seen = node_flow(
        "mailpit_api_flow.mjs",
        "MAILPIT",
        &sink.mailpit,
        sink.smtp,
        &mail,
    )
    .await;
    assert_eq!(seen["left"], 2, "{seen}");
}

/// A team's pytest suite written for Mailpit with `pytest-mailpit`
/// (`tests/interop/pytest_mailpit/`), pointed here by `MAILPIT_URL` and `MAILPIT_SMTP`.
#[test]
fn a_pytest_mailpit_suite_passes_unchanged() {
    let sink = Sink::start();
    let python = root().join("target/tools/venv/bin/python");
    let done = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(root().join("tests/interop/pytest_mailpit"))
        .env("MAILPIT_URL", &sink.mailpit)
        .env("MAILPIT_SMTP", sink.smtp.to_string())
        .output()
        .expect("the venv of scripts/setup.sh has pytest-mailpit");
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{out}");
    assert!(out.contains("4 passed"), "{out}");
}

/// Every field Mailpit's swagger file declares for a route's answer is there, with its
/// type; nothing else is, but the legacy `count` Mailpit still sends.
#[tokio::test(flavor = "multi_thread")]
async fn answers_have_the_fields_and_types_of_mailpits_swagger() {
    let swagger = swagger();
    let sink = Sink::start();
    send_raw(sink.smtp, RECEIPT.as_bytes()).await;
    let addr = sink.addr();
    let get = |path: &str| {
        let (status, body) = http_get(&addr, path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let list = get("/api/v1/messages");
    conforms(&swagger, "MessagesSummary", &list, "list");
    let id = list["messages"][0]["ID"].as_str().unwrap().to_owned();
    conforms(
        &swagger,
        "MessagesSummary",
        &get("/api/v1/search?query=receipt"),
        "search",
    );
    conforms(
        &swagger,
        "Message",
        &get(&format!("/api/v1/message/{id}")),
        "message",
    );
    conforms(&swagger, "AppInformation", &get("/api/v1/info"), "info");
    conforms(
        &swagger,
        "WebUIConfiguration",
        &get("/api/v1/webui"),
        "webui",
    );
    let (status, body) = http_get(&addr, "/api/v1/message/999");
    assert_eq!((status, body.as_str()), (404, "404 page not found"));
    let (status, body) = http_get(&addr, "/api/v1/search?query=%20");
    assert_eq!((status, body.as_str()), (400, "Error: no search query"));
}

/// Mailpit's swagger file, as shipped with Mailpit.
pub fn swagger() -> Value {
    let text = std::fs::read_to_string(root().join("tests/data/mailpit/swagger.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Checks `value` against the swagger definition `name`, recursively; `at` names the place.
pub fn conforms(swagger: &Value, name: &str, value: &Value, at: &str) {
    let definition = &swagger["definitions"][name];
    let properties = definition["properties"].as_object().unwrap();
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object"));
    for (field, spec) in properties {
        let got = object
            .get(field)
            .unwrap_or_else(|| panic!("{at}: no `{field}` ({name})"));
        check_type(swagger, spec, got, &format!("{at}.{field}"));
    }
    for field in object.keys() {
        let legacy = name == "MessagesSummary" && field == "count";
        let hidden = name == "WebUIConfiguration" || name == "AppInformation";
        assert!(
            properties.contains_key(field) || legacy || hidden,
            "{at}: `{field}` is not in Mailpit's {name}"
        );
    }
}

fn check_type(swagger: &Value, spec: &Value, got: &Value, at: &str) {
    if let Some(reference) = spec["$ref"].as_str() {
        let name = reference.trim_start_matches("#/definitions/");
        return conforms(swagger, name, got, at);
    }
    let ok = match spec["type"].as_str() {
        Some("string") => got.is_string(),
        Some("integer") => got.is_u64() || got.is_i64(),
        Some("number") => got.is_number(),
        Some("boolean") => got.is_boolean(),
        // Mailpit itself sends `null` for some empty lists (see `json.rs`).
        Some("array") => {
            if let (Some(items), Some(spec)) = (got.as_array(), spec.get("items")) {
                for (i, item) in items.iter().enumerate() {
                    check_type(swagger, spec, item, &format!("{at}[{i}]"));
                }
            }
            got.is_array() || got.is_null()
        }
        Some("object") => got.is_object(),
        _ => true,
    };
    assert!(ok, "{at}: {got} is not a {}", spec["type"]);
}

/// The `/api/events` websocket tells a listening client of new mail (its summary), read
/// state and tag changes, deletions, and the counts after each, as Mailpit's does.
#[tokio::test(flavor = "multi_thread")]
async fn the_event_socket_tells_of_new_mail_changes_and_deletions() {
    use futures_util::StreamExt;
    let sink = Sink::start();
    let url = format!("ws://{}/api/events", sink.addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut next = async || -> Value {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        serde_json::from_str(frame.to_text().unwrap()).unwrap()
    };
    assert_eq!(next().await["Type"], "stats", "the counts on connecting");
    send_raw(sink.smtp, RECEIPT.as_bytes()).await;
    let new = next().await;
    assert_eq!(new["Type"], "new");
    assert_eq!(new["Data"]["Subject"], "Your receipt");
    assert_eq!(
        new["Data"]["Cc"],
        serde_json::json!([]),
        "[] in events, as Mailpit"
    );
    let stats = next().await;
    assert_eq!(stats["Data"]["Total"], 1);
    assert_eq!(stats["Data"]["Unread"], 1);
    let id = new["Data"]["ID"].as_str().unwrap().to_owned();
    let (status, _) = http_get(&sink.addr(), &format!("/api/v1/message/{id}"));
    assert_eq!(status, 200);
    let update = next().await;
    assert_eq!(update["Data"], serde_json::json!({"ID": id, "Read": true}));
    while next().await["Type"] != "stats" {}
    let (status, _) = crate::util::http_request(&sink.addr(), "DELETE", "/api/v1/messages", "");
    assert_eq!(status, 200);
    assert_eq!(next().await["Type"], "truncate");
    // Over 200 deleted at once: one `prune`, as Mailpit says it.
    send_raw(sink.smtp, OTHER.as_bytes()).await;
    for _ in 0..201 {
        send_raw(sink.smtp, RECEIPT.as_bytes()).await;
    }
    let path = "/api/v1/search?query=subject:receipt";
    let (status, _) = crate::util::http_request(&sink.addr(), "DELETE", path, "");
    assert_eq!(status, 200);
    loop {
        match next().await["Type"].as_str().unwrap() {
            "prune" => break,
            "delete" => panic!("201 deletions named one by one"),
            _ => {}
        }
    }
}

/// An inline image: listed in `Inline` with its part id, served by the part route, and
/// `cid:` in the HTML view pointing at that route, as Mailpit's view does.
#[tokio::test(flavor = "multi_thread")]
async fn inline_images_are_parts_and_the_view_points_at_them() {
    const INLINE: &str = "From: a@example.com\r\nTo: b@example.com\r\nSubject: Logo\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n--r\r\n\
Content-Type: text/html\r\n\r\n<p><a href=\"https://x.example/\">Hi</a><img src=\"cid:logo@x\"></p>\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0KGgo=\r\n--r--\r\n";
    let sink = Sink::start();
    send_raw(sink.smtp, INLINE.as_bytes()).await;
    let addr = sink.addr();
    let (_, body) = http_get(&addr, "/api/v1/message/latest");
    let message: Value = serde_json::from_str(&body).unwrap();
    let inline = &message["Inline"][0];
    assert_eq!(
        (inline["PartID"].as_str(), inline["ContentID"].as_str()),
        (Some("2"), Some("logo@x"))
    );
    assert_eq!(inline["Size"], 8, "decoded bytes");
    let id = message["ID"].as_str().unwrap();
    let (_, html) = http_get(&addr, &format!("/view/{id}.html?embed=1"));
    assert!(
        html.contains(&format!("src=\"/api/v1/message/{id}/part/2\"")),
        "{html}"
    );
    assert!(html.contains("target=\"_blank\""), "{html}");
    let (status, headers) = crate::util::http_head(&addr, &format!("/api/v1/message/{id}/part/2"));
    assert_eq!(status, 200);
    assert!(headers.contains("content-type: image/png"), "{headers}");
}

/// The link check asks each link with `HEAD`; it refuses loopback and private addresses
/// (451, as Mailpit) unless the sink allows internal requests; `follow=true` follows a
/// redirect to its end. Every request here goes to the sink itself, on loopback.
#[tokio::test(flavor = "multi_thread")]
async fn the_link_check_reports_each_link_and_guards_the_network() {
    let check = |sink: &Sink, follow: &str| {
        let addr = sink.addr();
        let (status, body) = http_get(&addr, &format!("/api/v1/message/latest/link-check{follow}"));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let mail = |sink: &Sink| {
        let base = &sink.mailpit;
        format!(
            "From: a@example.com\r\nTo: b@example.com\r\nSubject: Links\r\n\
             Content-Type: text/html\r\n\r\n<a href=\"{base}/livez\">up</a> \
             <a href=\"{base}/nope\">gone</a> <a href=\"{base}/view/latest\">moved</a>\r\n"
        )
    };
    let guarded = Sink::start();
    send_raw(guarded.smtp, mail(&guarded).as_bytes()).await;
    let report = tokio::task::spawn_blocking(move || check(&guarded, ""))
        .await
        .unwrap();
    assert_eq!(report["Errors"], 3, "{report}");
    assert_eq!(report["Links"][0]["StatusCode"], 451);
    assert_eq!(
        report["Links"][0]["Status"],
        "Blocked private/reserved address"
    );

    let open = Sink::start_with(&["--allow-internal-http-requests"]);
    send_raw(open.smtp, mail(&open).as_bytes()).await;
    let (report, followed) =
        tokio::task::spawn_blocking(move || (check(&open, ""), check(&open, "?follow=true")))
            .await
            .unwrap();
    let codes = |r: &Value| -> Vec<u64> {
        r["Links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["StatusCode"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(codes(&report), [200, 404, 302], "{report}");
    assert_eq!(report["Errors"], 1);
    assert_eq!(codes(&followed)[2], 404, "the redirect's end: {followed}");
}
