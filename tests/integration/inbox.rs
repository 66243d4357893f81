//! The web inbox in headless Chromium against a sink in process: mail sent with swaks shows
//! up live, opens, searches, deletes, pages; the token prompt; screenshots for the README.
//! The XSS corpus is in `inbox_xss.rs`.

use std::net::SocketAddr;

use fantoccini::Locator;
use lettre::AsyncTransport;
use mailtest::store::Query;
use serde_json::Value;

use crate::api::{Sink, sink};
use crate::browser::Browser;
use crate::util::{mailtest, tool};

/// Sends one message with swaks (an SMTP client we did not write); panics unless accepted.
pub async fn swaks(smtp: SocketAddr, to: &str, subject: &str, extra: &[&str]) {
    let out = tokio::process::Command::new(tool("swaks"))
        .args(["--server", &smtp.to_string(), "--from", "app@example.com"])
        .args(["--to", to, "--header", &format!("Subject: {subject}")])
        .args(extra)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Sends raw message bytes as they are, through lettre (which dot-stuffs them), to the
/// address in their `To` header.
pub async fn send_raw(smtp: SocketAddr, raw: &[u8]) {
    use mailparse::MailHeaderMap;
    let (headers, _) = mailparse::parse_headers(raw).unwrap();
    let to = headers.get_first_header("To").expect("a To header");
    let to = match &mailparse::addrparse_header(to).unwrap()[0] {
        mailparse::MailAddr::Single(one) => one.addr.clone(),
        mailparse::MailAddr::Group(group) => group.addrs[0].addr.clone(),
    };
    let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
        smtp.ip().to_string(),
    )
    .port(smtp.port())
    .build();
    let envelope = lettre::address::Envelope::new(
        Some("app@example.com".parse().unwrap()),
        vec![to.parse().unwrap()],
    )
    .unwrap();
    transport.send_raw(&envelope, raw).await.unwrap();
}

/// A rendered fixture email as `.eml`, from `mailtest render`.
fn rendered(event_type: &str) -> Vec<u8> {
    mailtest()
        .args(["render", event_type, "--format", "eml"])
        .ok()
        .into_bytes()
}

async fn open_inbox(sink: &Sink) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&format!("http://{}/", sink.http)).await;
    browser
        .until("document.body.dataset.listed !== undefined")
        .await;
    browser
        .until("document.getElementById('live').textContent === 'live'")
        .await;
    browser
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_appears_live_opens_searches_and_deletes() {
    let sink = sink(None).await;
    let browser = open_inbox(&sink).await;
    assert!(browser.rows().await.is_empty());
    // Marks this page load: a reload would lose it.
    browser.eval("window.loadMark = 7").await;

    let html = "<p>Hello <b>Ada</b>, from the HTML part</p>";
    swaks(
        sink.smtp,
        "ada+run1@example.com",
        "Welcome Ada",
        &[
            "--attach-type",
            "text/plain",
            "--attach-body",
            "Hello Ada, from the text part",
            "--attach-type",
            "text/html",
            "--attach-body",
            html,
        ],
    )
    .await;
    browser.until("document.body.dataset.listed === '1'").await;
    swaks(sink.smtp, "bob@example.com", "Reset your password", &[]).await;
    browser.until("document.body.dataset.listed === '2'").await;
    let rows = browser.rows().await;
    assert!(
        rows[0].contains("Reset your password"),
        "newest first: {rows:?}"
    );
    assert!(
        rows[1].contains("Welcome Ada") && rows[1].contains("run1"),
        "{rows:?}"
    );
    assert_eq!(
        browser.eval("window.loadMark").await,
        Value::from(7),
        "no reload"
    );

    // Search with the API's query language, then clear it.
    browser.click("#search").await;
    browser.keys("subject:reset\n").await;
    browser.until("document.body.dataset.listed === '1'").await;
    assert!(browser.rows().await[0].contains("Reset your password"));
    browser
        .eval("document.getElementById('search').value = ''")
        .await;
    browser.keys("\n").await;
    browser.until("document.body.dataset.listed === '2'").await;

    // Filter by mailbox (the plus tag of ada+run1), then back to all.
    browser
        .until("document.querySelector('#mailbox option[value=run1]') !== null")
        .await;
    let mailbox = browser.client.find(Locator::Id("mailbox")).await.unwrap();
    mailbox.select_by_value("run1").await.unwrap();
    browser.until("document.body.dataset.listed === '1'").await;
    assert!(browser.rows().await[0].contains("Welcome Ada"));
    mailbox.select_by_value("").await.unwrap();
    browser.until("document.body.dataset.listed === '2'").await;

    // Keyboard: j selects the older message, Enter opens it.
    browser.click("body").await;
    browser.keys("j\u{E007}").await; // WebDriver's Enter key
    browser
        .until("!document.getElementById('message-view').hidden")
        .await;
    browser
        .until("document.getElementById('m-subject').textContent === 'Welcome Ada'")
        .await;
    browser.enter_html_frame().await;
    browser
        .until("document.body.innerText.includes('from the HTML part')")
        .await;
    browser.client.enter_parent_frame().await.unwrap();
    let shot = browser.screenshot("live-message").await;
    browser.click("[data-tab=text]").await;
    assert_eq!(
        browser.text("pre.body").await.trim(),
        "Hello Ada, from the text part"
    );
    browser.click("[data-tab=envelope]").await;
    browser
        .until("document.querySelector('.panel pre.raw') !== null")
        .await;
    assert!(browser.text(".panel").await.contains("RCPT TO"));

    // Back to the list; Delete removes the selected (older) message.
    browser.keys("\u{E00C}").await; // Escape
    browser
        .until("!document.getElementById('inbox-view').hidden")
        .await;
    browser.keys("\u{E017}").await; // Delete
    browser.until("document.body.dataset.listed === '1'").await;
    assert!(browser.rows().await[0].contains("Reset your password"));
    assert_eq!(sink.store.len(), 1);
    assert!(shot.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn selection_and_clear_delete_through_the_api() {
    let sink = sink(None).await;
    for n in 0..4 {
        crate::api::send(
            sink.smtp,
            &["eve@example.com"],
            &format!("n{n}"),
            "\r\nbody",
        )
        .await;
    }
    let browser = open_inbox(&sink).await;
    browser.until("document.body.dataset.listed === '4'").await;
    browser.click("#rows tr:nth-child(1) input").await;
    browser.click("#rows tr:nth-child(3) input").await;
    browser.click("#delete-selected").await;
    browser.until("document.body.dataset.listed === '2'").await;
    let left: Vec<u64> = sink
        .store
        .list(&Query::default())
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [1, 3], "the newest (4) and the third newest (2) went");
    // Deleted elsewhere (here through the API): the open inbox follows.
    sink.store.delete(&[1]).unwrap();
    browser.until("document.body.dataset.listed === '1'").await;
    browser.click("#clear").await;
    browser.client.accept_alert().await.unwrap();
    browser.until("document.body.dataset.listed === '0'").await;
    assert_eq!(sink.store.len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_of_fifty_newest_first() {
    let sink = sink(None).await;
    for n in 1..=120 {
        crate::api::send(
            sink.smtp,
            &["pat@example.com"],
            &format!("m{n}"),
            "\r\nbody",
        )
        .await;
    }
    let browser = open_inbox(&sink).await;
    browser.until("document.body.dataset.listed === '50'").await;
    assert_eq!(browser.text("#count").await, "1–50 of 120");
    assert!(browser.rows().await[0].contains("m120"));
    browser.click("#older").await;
    browser
        .until("document.getElementById('count').textContent === '51–100 of 120'")
        .await;
    browser.click("#older").await;
    browser.until("document.body.dataset.listed === '20'").await;
    assert!(browser.rows().await[19].contains("\tm1\t"));
    assert_eq!(
        browser
            .eval("document.getElementById('older').disabled")
            .await,
        Value::Bool(true)
    );
    browser.click("#newer").await;
    browser
        .until("document.getElementById('count').textContent === '51–100 of 120'")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_is_asked_for_and_then_used() {
    let sink = crate::api::sink(Some("s3cret")).await;
    crate::api::send(
        sink.smtp,
        &["tom@example.com"],
        "behind a token",
        "\r\nbody",
    )
    .await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{}/", sink.http)).await;
    browser
        .until("document.getElementById('token-dialog').open")
        .await;
    browser.click("#token").await;
    browser.keys("wrong\n").await;
    browser
        .until("!document.getElementById('token-error').hidden")
        .await;
    browser
        .eval("document.getElementById('token').value = ''")
        .await;
    browser.click("#token").await;
    browser.keys("s3cret\n").await;
    browser.until("document.body.dataset.listed === '1'").await;
    browser
        .until("document.getElementById('live').textContent === 'live'")
        .await;
    crate::api::send(sink.smtp, &["tom@example.com"], "second", "\r\nbody").await;
    browser.until("document.body.dataset.listed === '2'").await;
}

/// The README's screenshots: a realistic inbox of rendered fixtures, and one message.
#[tokio::test(flavor = "multi_thread")]
async fn screenshots_of_rendered_mail() {
    let sink = sink(None).await;
    let mail = [
        "email_verification",
        "password_reset",
        "welcome",
        "order_confirmation",
        "account_locked",
        "role_upgrade",
    ];
    for event_type in mail {
        send_raw(sink.smtp, &rendered(event_type)).await;
    }
    let browser = open_inbox(&sink).await;
    browser.until("document.body.dataset.listed === '6'").await;
    assert!(browser.screenshot("inbox").await.exists());
    let order = sink.store.list(&Query::default())[3].id;
    browser.client.set_window_size(1280, 1100).await.unwrap();
    browser
        .goto(&format!("http://{}/#/messages/{order}", sink.http))
        .await;
    browser.enter_html_frame().await;
    browser.until("document.body.innerText.length > 0").await;
    browser.client.enter_parent_frame().await.unwrap();
    assert!(browser.screenshot("message").await.exists());
    browser.click(".segmented button:last-child").await;
    browser
        .until("document.getElementById('html-frame').className === 'mobile'")
        .await;
    assert!(browser.screenshot("message-mobile").await.exists());

    // A hand-written message that fails the render lints, on its Lints tab.
    let html = "<p>Hi <a href=\"http://shop.example/track\">track</a> \
                <img src=\"https://cdn.example/x.png\"> <a href=\"#\">unsubscribe</a></div>";
    swaks(
        sink.smtp,
        "kim@example.com",
        "Your parcel is on its way",
        &["--attach-type", "text/html", "--attach-body", html],
    )
    .await;
    let id = sink.store.len();
    browser
        .goto(&format!("http://{}/#/messages/{id}", sink.http))
        .await;
    browser
        .until("document.querySelector('[data-tab=lints]') !== null")
        .await;
    browser.click("[data-tab=lints]").await;
    let findings = browser
        .eval("document.querySelectorAll('#panel tbody tr').length")
        .await;
    // No text part, an http link, an image without alt and width, a placeholder link, a
    // stray `</div>` and an unclosed `<p>`.
    assert_eq!(findings, Value::from(7));
    assert!(browser.screenshot("message-lints").await.exists());
}

/// A send through SendGrid's API opens in the inbox like any mail; its envelope tab names
/// the provider, the route and what the request carried (categories, custom arguments).
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_send_shows_its_provider_and_metadata() {
    let sink = sink(None).await;
    let browser = open_inbox(&sink).await;
    let body = br#"{"personalizations":[{"to":[{"email":"ann@example.com"}],"custom_args":{"order_id":"ORD-7"}}],"from":{"email":"shop@example.com"},"subject":"Through SendGrid","content":[{"type":"text/plain","value":"hi"}],"categories":["receipt"]}"#;
    let bearer = [
        ("Authorization", "Bearer SG.k"),
        ("Content-Type", "application/json"),
    ];
    let answer = crate::providers::post(sink.http, "/v3/mail/send", &bearer, body).await;
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    browser.until("document.body.dataset.listed === '1'").await;
    browser.click("#rows tr").await;
    browser
        .until("document.getElementById('m-subject').textContent === 'Through SendGrid'")
        .await;
    browser.click("[data-tab=envelope]").await;
    browser
        .until("document.querySelector('.panel pre.raw') !== null")
        .await;
    let panel = browser.text(".panel").await;
    for shown in [
        "sendgrid (POST /v3/mail/send)",
        "categories",
        "[\"receipt\"]",
        "ORD-7",
    ] {
        assert!(panel.contains(shown), "{shown} in {panel}");
    }
}
