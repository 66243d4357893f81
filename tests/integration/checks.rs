//! The checks behind Mailpit's routes, the inbox's tabs and verify's conditions: the HTML
//! check from caniemail.com's data, attachment thumbnails, and the spam check through a
//! real SpamAssassin daemon (Debian's `spamd`, started here on its own port).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::Value;

use crate::browser::Browser;
use crate::inbox::send_raw;
use crate::mailpit::{Sink, conforms, swagger};
use crate::util::{http_get, mailtest, signal};

/// A SpamAssassin daemon of the test's own on a free loopback port, local rules only (no
/// DNS), stopped by its PID.
pub struct Spamd {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Spamd {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new("/usr/sbin/spamd")
            .args(["--local", "--nouser-config", "--max-children=1"])
            .args(["--username=nobody", "--syslog=stderr"])
            .arg(format!("--listen={addr}"))
            .arg(format!("--pidfile={}", dir.path().join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spamd (scripts/setup.sh installs it)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        // spamd says so once it listens; its log is drained after, so it never blocks.
        let started = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("server started on"));
        assert!(started, "spamd did not start");
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Spamd {
    fn drop(&mut self) {
        // TERM lets spamd stop the children it forked.
        signal(self.child.id(), "TERM", false);
        let _ = self.child.wait();
    }
}

/// An HTML email with features clients support unevenly, and a PNG attachment.
fn newsletter(png: &[u8]) -> String {
    let png = base64::engine::general_purpose::STANDARD.encode(png);
    format!(
        "From: news@example.com\r\nTo: ann@example.com\r\nSubject: News\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>.row {{ display: flex }}\r\n\
         @media (max-width: 600px) {{ .row {{ width: 100% }} }}</style></head><body>\r\n\
         <div class=\"row\"><img src=\"https://cdn.example/a.webp\" alt=\"\"></div>\r\n\
         <form><input type=\"text\"></form><script>track()</script></body></html>\r\n--b\r\n\
         Content-Type: image/png; name=\"chart.png\"\r\nContent-Disposition: attachment; filename=\"chart.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{png}\r\n--b\r\n\
         Content-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\n\
         notes\r\n--b--\r\n"
    )
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 120, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = http_get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn slugs(report: &Value) -> Vec<String> {
    report["Warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["Slug"].as_str().unwrap().to_owned())
        .collect()
}

/// Mailpit's `html-check` finds the features the HTML uses (in `<style>` blocks too), in
/// Mailpit's shape; the native route answers the same; plain text mail is Mailpit's 400.
#[tokio::test(flavor = "multi_thread")]
async fn the_html_check_scores_features_as_mailpit_does() {
    let sink = Sink::start();
    send_raw(sink.smtp, newsletter(&png(400, 300)).as_bytes()).await;
    let addr = sink.mailpit.trim_start_matches("http://").to_owned();
    let native = sink.http.trim_start_matches("http://").to_owned();
    let (report, same, plain) = tokio::task::spawn_blocking(move || {
        let report = get_json(&addr, "/api/v1/message/latest/html-check");
        let same = get_json(&native, "/api/v1/messages/1/checks/html");
        (report, same, addr)
    })
    .await
    .unwrap();
    conforms(&swagger(), "HTMLCheckResponse", &report, "html-check");
    let found = slugs(&report);
    for slug in [
        "html-script",
        "html-form",
        "html-input-text",
        "html-style",
        "css-display-flex",
        "css-at-media",
        "image-webp",
    ] {
        assert!(found.contains(&slug.to_owned()), "{slug} not in {found:?}");
    }
    assert_eq!(found[0], "html-script", "the worst comes first: {found:?}");
    let total = &report["Total"];
    // style, body, div, img, form, input, script; 186 tests and one per element test that
    // found something (script, style, form, input).
    assert_eq!(
        (total["Nodes"].as_u64(), total["Tests"].as_u64()),
        (Some(7), Some(190))
    );
    let unsupported = total["Unsupported"].as_f64().unwrap();
    assert!(
        (unsupported - 100.0 / 7.0).abs() < 0.01,
        "the script, on 1 of 7: {total}"
    );
    assert!(report["Platforms"]["windows"].as_array().unwrap().len() > 1);
    assert_eq!(slugs(&same), found);

    send_raw(
        sink.smtp,
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Plain\r\n\r\nHi\r\n",
    )
    .await;
    let answer =
        tokio::task::spawn_blocking(move || http_get(&plain, "/api/v1/message/latest/html-check"))
            .await
            .unwrap();
    assert_eq!(answer, (400, "message does not contain HTML".to_owned()));
}

/// Thumbnails: a 180x120 JPEG of an image attachment; a blank one for other files.
#[tokio::test(flavor = "multi_thread")]
async fn attachment_thumbnails_are_small_jpegs() {
    let sink = Sink::start();
    send_raw(sink.smtp, newsletter(&png(400, 300)).as_bytes()).await;
    let addr = sink.mailpit.trim_start_matches("http://").to_owned();
    let fetch = move |part: &str| {
        let url = format!("{addr}/api/v1/message/latest/part/{part}/thumb");
        let mut curl = Command::new("curl");
        curl.args(["-s", "-D", "-", "-o", "-"])
            .arg(format!("http://{url}"));
        out_bytes(&mut curl)
    };
    let (chart, notes) = tokio::task::spawn_blocking(move || (fetch("2"), fetch("3")))
        .await
        .unwrap();
    let (head, jpeg) = chart;
    assert!(
        head.contains("image/jpeg") && head.contains("filename=\"chart.png\""),
        "{head}"
    );
    let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (180, 120));
    assert!(img.get_pixel(90, 60)[2] > 150, "the chart's blue fills it");
    let blank = image::load_from_memory(&notes.1).unwrap().to_rgb8();
    assert!(
        blank.pixels().all(|p| p[0] > 240),
        "a text file gets a white thumbnail"
    );
}

/// curl's headers and body: they are split at the blank line.
fn out_bytes(cmd: &mut Command) -> (String, Vec<u8>) {
    let out = cmd.output().unwrap();
    let at = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout[..at]).into_owned(),
        out.stdout[at + 4..].to_vec(),
    )
}

/// A spammy message, as SpamAssassin's local rules see it.
const SPAM: &str = "From: winner@example.com\r\nTo: ann@example.com\r\n\
Subject: BUY VIAGRA NOW FREE MONEY\r\n\r\nClaim your prize money now http://198.51.100.7/win\r\n";

/// `sa-check` scores through spamd in Mailpit's shape; without a spamd the route is absent,
/// and an unreachable one is reported in `Error`, never as a clean score.
#[tokio::test(flavor = "multi_thread")]
async fn spamassassin_scores_through_spamd() {
    let spamd = Spamd::start();
    let sink = Sink::start_with(&["--enable-spamassassin", &spamd.addr]);
    send_raw(sink.smtp, SPAM.as_bytes()).await;
    let off = Sink::start();
    send_raw(off.smtp, SPAM.as_bytes()).await;
    // A port that was free a moment ago: nothing answers there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gone = Sink::start_with(&["--enable-spamassassin", &closed.to_string()]);
    send_raw(gone.smtp, SPAM.as_bytes()).await;
    let host = |s: &Sink| s.mailpit.trim_start_matches("http://").to_owned();
    let (on, off, gone, native) = (host(&sink), host(&off), host(&gone), sink.http.clone());
    tokio::task::spawn_blocking(move || {
        let report = get_json(&on, "/api/v1/message/latest/sa-check");
        conforms(&swagger(), "SpamAssassinResponse", &report, "sa-check");
        assert_eq!(report["IsSpam"], true, "{report}");
        assert!(report["Score"].as_f64().unwrap() >= 5.0);
        let rules: Vec<&str> = report["Rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Name"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&"SUBJ_ALL_CAPS"), "{rules:?}");
        assert_eq!(get_json(&on, "/api/v1/webui")["SpamAssassin"], true);
        let native = get_json(
            native.trim_start_matches("http://"),
            "/api/v1/messages/1/checks/spam",
        );
        assert_eq!(native["Score"], report["Score"]);

        assert_eq!(http_get(&off, "/api/v1/message/latest/sa-check").0, 404);
        assert_eq!(get_json(&off, "/api/v1/webui")["SpamAssassin"], false);
        let failed = get_json(&gone, "/api/v1/message/latest/sa-check");
        assert!(
            failed["Error"]
                .as_str()
                .unwrap()
                .contains(&closed.to_string()),
            "{failed}"
        );
        assert_eq!(
            (failed["Score"].as_f64(), &failed["Rules"]),
            (Some(0.0), &Value::Null)
        );
    })
    .await
    .unwrap();
}

/// The expectations below against one newsletter and one spam message: each check's
/// conditions pass where they hold and fail with the finding where they do not.
#[tokio::test(flavor = "multi_thread")]
async fn verify_checks_html_links_and_spam() {
    let spamd = Spamd::start();
    let sink = Sink::start();
    let live = format!("{}/livez", sink.mailpit);
    let gone = format!("{}/no-such-page", sink.mailpit);
    let linked = format!(
        "From: news@example.com\r\nTo: bo@example.com\r\nSubject: Links\r\nContent-Type: text/html\r\n\r\n\
         <p><a href=\"{live}\">up</a> <a href=\"{gone}\">gone</a></p>\r\n"
    );
    send_raw(sink.smtp, newsletter(&png(10, 10)).as_bytes()).await;
    send_raw(sink.smtp, linked.as_bytes()).await;
    send_raw(sink.smtp, SPAM.as_bytes()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checks.yaml");
    std::fs::write(&file, format!(
        "timeout: 10s\nexpect:\n\
         - name: newsletter support\n  match: {{subject: News}}\n  assert:\n    html_check:\n      supported: {{min: 99}}\n      features: {{not_contains: html-script}}\n\
         - name: newsletter has flex\n  match: {{subject: News}}\n  assert:\n    html_check: {{features: {{contains: css-display-flex}}, unsupported: {{min: 0.1}}}}\n\
         - name: links answer\n  match: {{subject: Links}}\n  assert:\n    link_check: {{internal: true, broken: {{max: 0}}}}\n\
         - name: links guarded\n  match: {{subject: Links}}\n  assert:\n    link_check: {{broken: {{contains: \"{live}\"}}}}\n\
         - name: not spam\n  match: {{subject: {{contains: VIAGRA}}}}\n  assert:\n    spam_check: {{score: {{max: 4.9}}, is_spam: false}}\n\
         - name: spam rules\n  match: {{subject: {{contains: VIAGRA}}}}\n  assert:\n    spam_check: {{rules: {{contains: SUBJ_ALL_CAPS}}}}\n"
    )).unwrap();
    let run = mailtest()
        .args([
            "verify",
            "--output",
            "json",
            "--sink",
            &sink.http,
            "--spamassassin",
            &spamd.addr,
        ])
        .arg(&file)
        .run();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let verdict = |name: &str| {
        let v = report["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()
            .clone();
        (v["passed"].as_bool().unwrap(), v["reasons"].to_string())
    };
    let (passed, why) = verdict("newsletter support");
    assert!(
        !passed && why.contains("supported %") && why.contains("html-script"),
        "{why}"
    );
    assert!(verdict("newsletter has flex").0);
    let (passed, why) = verdict("links answer");
    assert!(
        !passed && why.contains("no-such-page (404 Not Found)") && !why.contains("livez ("),
        "{why}"
    );
    assert!(
        verdict("links guarded").0,
        "loopback links count as broken unless internal"
    );
    let (passed, why) = verdict("not spam");
    assert!(
        !passed && why.contains("spam score") && why.contains("is spam"),
        "{why}"
    );
    assert!(verdict("spam rules").0);
    assert_eq!(run.code, 1, "{}", run.stderr);

    // Without a daemon, a spam condition is a mistake in the call, found before any mail.
    mailtest()
        .args(["verify", "--sink", &sink.http])
        .arg(&file)
        .run()
        .fails_with(2, "`spam_check` needs a SpamAssassin daemon");
}

/// The inbox's tabs: client support of the HTML, the spam score, and the link check.
#[tokio::test(flavor = "multi_thread")]
async fn the_inbox_shows_support_spam_and_link_status() {
    let spamd = Spamd::start();
    let sink = Sink::start_with(&["--enable-spamassassin", &spamd.addr]);
    send_raw(sink.smtp, newsletter(&png(10, 10)).as_bytes()).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/#/messages/1", sink.http)).await;
    browser
        .until("document.querySelector('[data-tab=support]') !== null")
        .await;
    browser.click("[data-tab=support]").await;
    browser
        .until("document.getElementById('support-total') !== null")
        .await;
    assert!(
        browser
            .text("#support-total")
            .await
            .starts_with("Supported ")
    );
    let features = browser.text("#panel tbody").await;
    assert!(
        features.contains("<script> element") && features.contains("display:flex"),
        "{features}"
    );
    browser.click("[data-tab=spam]").await;
    browser
        .until("document.getElementById('spam-score') !== null")
        .await;
    assert!(browser.text("#spam-score").await.starts_with("Score "));

    // Links to the sink itself: loopback, so the sink's guard refuses to request them.
    let linked = format!(
        "From: news@example.com\r\nTo: bo@example.com\r\nSubject: Links\r\nContent-Type: text/html\r\n\r\n\
         <p><a href=\"{0}/livez\">up</a> <a href=\"{0}/nope\">gone</a></p>\r\n",
        sink.mailpit
    );
    send_raw(sink.smtp, linked.as_bytes()).await;
    browser.goto(&format!("{}/#/messages/2", sink.http)).await;
    browser.until("document.body.dataset.shown === '2'").await;
    browser.click("[data-tab=links]").await;
    browser.click("#check-links").await;
    browser
        .until("document.getElementById('link-errors') !== null")
        .await;
    assert_eq!(browser.text("#link-errors").await, "2 of 2 links broken");
    assert!(
        browser
            .text("#link-check tbody")
            .await
            .contains("Blocked private/reserved address")
    );
}
