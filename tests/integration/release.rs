//! Releasing captured mail: only to the targets the sink was started with, only to the
//! message's own recipients or allowed ones, byte for byte, with STARTTLS and AUTH, a
//! bound on the whole send and errors that say what happened without echoing the server.

use std::sync::Arc;

use mailtest::api::ApiSettings;
use mailtest::outbound::release::Targets;
use mailtest::smtp::ServerSettings;

use crate::api::{
    SEND, Sink, codes, get_json, request, request_with_body, sink, sink_api, sink_with,
};

/// A sink that may release to these `NAME=URL` targets, each release within 3 s.
async fn releasing(targets: &[String], allow: Option<&str>) -> Sink {
    let mut release = Targets::parse(targets, allow).unwrap();
    release.timeout = std::time::Duration::from_secs(3);
    let settings = ApiSettings {
        release: Arc::new(release),
        ..ApiSettings::default()
    };
    sink_api(settings, ServerSettings::default()).await
}

async fn release(from: &Sink, id: u64, body: &str) -> (u16, String) {
    let path = format!("/api/v1/messages/{id}/release");
    let json = [("Content-Type", "application/json")];
    request_with_body(from.http, "POST", &path, &json, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn lettre_sends_and_a_release_forwards_the_bytes_unchanged() {
    use lettre::message::MultiPart;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let b = sink(None).await;
    let a = releasing(
        &[format!("b=smtp://{}?tls=none", b.smtp)],
        Some(r".*@example\.com"),
    )
    .await;
    // lettre, a client we did not write, sends a typical transactional mail.
    let email = Message::builder()
        .from("Acme <no-reply@example.com>".parse().unwrap())
        .to("Jürgen Müller <juergen@example.org>".parse().unwrap())
        .bcc("audit@example.com".parse().unwrap())
        .subject("Bestätigen Sie Ihre E-Mail-Adresse")
        .multipart(MultiPart::alternative_plain_html(
            "Hallo Jürgen".to_owned(),
            "<p>Hallo <b>Jürgen</b></p>".to_owned(),
        ))
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(a.smtp.port())
        .build();
    transport.send(email).await.unwrap();
    let (_, listed) = get_json(a.http, "/api/v1/wait?to=audit@example.com").await;
    let summary = &listed["messages"][0];
    assert_eq!(summary["subject"], "Bestätigen Sie Ihre E-Mail-Adresse");
    let id = summary["id"].as_u64().unwrap();
    let (_, one) = get_json(a.http, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(
        one["message"]["text"].as_str().unwrap().trim(),
        "Hallo Jürgen"
    );
    // Released from sink A to sink B, to one allowed recipient.
    let (status, released) = release(&a, id, r#"{"to": ["qa@example.com"]}"#).await;
    assert_eq!(status, 200, "{released}");
    let (_, at_b) = get_json(b.http, "/api/v1/wait?to=qa@example.com").await;
    let b_id = at_b["messages"][0]["id"].as_u64().unwrap();
    assert_eq!(
        at_b["messages"][0]["envelope"]["rcpt_to"],
        serde_json::json!(["qa@example.com"])
    );
    let raw_a = request(a.http, "GET", &format!("/api/v1/messages/{id}/raw"), &[])
        .await
        .1;
    let raw_b = request(b.http, "GET", &format!("/api/v1/messages/{b_id}/raw"), &[])
        .await
        .1;
    assert_eq!(raw_a, raw_b, "released unchanged");
    // Its own recipients need no allowance.
    let (status, released) = release(&a, id, r#"{"target": "b"}"#).await;
    assert_eq!(status, 200, "{released}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_goes_only_where_the_operator_said() {
    let b = sink(None).await;
    // No target configured: nothing can leave, whatever the caller asks for.
    let closed = sink(None).await;
    assert_eq!(codes(closed.smtp, SEND).await.last().unwrap(), "250");
    let (status, why) = release(&closed, 1, "{}").await;
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("--release-to"), "{why}");
    let smuggled = format!(r#"{{"smtp": "{}", "user": "u", "password": "p"}}"#, b.smtp);
    let (status, why) = release(&closed, 1, &smuggled).await;
    assert_eq!(status, 400, "a caller cannot name a server: {why}");
    assert!(b.store.is_empty());

    let a = releasing(&[format!("b=smtp://{}?tls=none", b.smtp)], None).await;
    assert_eq!(codes(a.smtp, SEND).await.last().unwrap(), "250");
    let (status, why) = release(&a, 1, r#"{"to": ["stranger@elsewhere.example"]}"#).await;
    assert_eq!(status, 403, "recipients not allowed: {why}");
    let (status, why) = release(&a, 1, r#"{"target": "nope"}"#).await;
    assert_eq!(status, 404, "{why}");
    assert!(b.store.is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn release_errors_are_summarised_and_bounded() {
    // A port nobody listens on, and a server that accepts and never greets.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let targets = [
        "nowhere=smtp://127.0.0.1:1?tls=none".to_owned(),
        format!("silent=smtp://{}?tls=none", silent.local_addr().unwrap()),
    ];
    let a = releasing(&targets, None).await;
    assert_eq!(codes(a.smtp, SEND).await.last().unwrap(), "250");
    let (status, why) = release(&a, 1, r#"{"target": "nowhere"}"#).await;
    assert_eq!(status, 502, "{why}");
    assert!(why.contains("could not be reached"), "{why}");
    let (status, why) = release(&a, 1, "{}").await;
    assert_eq!(status, 400, "two targets: one must be named: {why}");
    // A server that never greets cannot hold the request past the bound.
    let (status, why) = release(&a, 1, r#"{"target": "silent"}"#).await;
    assert_eq!(status, 502, "{why}");
    assert!(why.contains("did not finish in 3s"), "{why}");
    drop(silent);
}

/// A release can go to a server that wants STARTTLS and AUTH.
#[tokio::test(flavor = "multi_thread")]
async fn a_release_speaks_starttls_and_auth_when_asked() {
    let mut relay = crate::smtp::tls_and_auth("relay:secret", true);
    // AUTH in the clear too, for the `tls=none` case below.
    relay.session.auth_before_tls = true;
    let b = sink_with(None, relay).await;
    let smtp = b.smtp;
    let targets = [
        format!("anonymous=smtp://{smtp}?insecure=true"),
        format!("plain=smtp://relay:secret@{smtp}?tls=none"),
        format!("secured=smtp://relay:secret@{smtp}?tls=required&insecure=true"),
    ];
    let a = releasing(&targets, None).await;
    assert_eq!(codes(a.smtp, SEND).await.last().unwrap(), "250");
    // Without credentials the server refuses (530 until AUTH): the code, not its text.
    let (status, why) = release(&a, 1, r#"{"target": "anonymous"}"#).await;
    assert_eq!(status, 502, "{why}");
    assert!(
        why.contains("530") && !why.contains("Authentication required"),
        "{why}"
    );
    for (target, secured) in [("plain", false), ("secured", true)] {
        let (status, released) = release(&a, 1, &format!(r#"{{"target": "{target}"}}"#)).await;
        assert_eq!(status, 200, "{released}");
        let next = b.store.len();
        let (_, at_b) = get_json(b.http, &format!("/api/v1/wait?count={next}")).await;
        let last = &at_b["messages"][next - 1]["envelope"];
        assert_eq!(last["tls"], secured, "{target}: {last}");
        assert_eq!(last["auth"], "relay");
    }
}
