//! MailHog's API, served by `mailtest sink --mailhog`: a suite written for MailHog runs
//! with nothing changed but host and port. The outside client is blueimp's npm `mailhog`,
//! unmodified, which decodes MailHog's raw headers and bodies itself, so they must be as
//! MailHog sends them.

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
}
