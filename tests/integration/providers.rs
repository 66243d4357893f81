//! The providers' send APIs on the sink's HTTP port: their official SDKs from PyPI
//! (`tests/interop/providers_sdk.py`, in the virtual environment `scripts/setup.sh` makes),
//! pointed at the sink by their documented endpoint setting, send mail that is stored as a
//! real message with the provider and the request's metadata; fault rules make each SDK
//! see its provider's throttling error; bad requests get the provider's own errors and
//! store nothing.

use std::process::Command;

use mailparse::MailHeaderMap;
use mailtest::api::ApiSettings;
use mailtest::api::providers::ProviderKey;
use mailtest::smtp::ServerSettings;
use mailtest::store::Query;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::{Sink, sink, sink_api};
use crate::util::{mailtest, root};

/// The SDK script in `mode` against the sink at `http`; what it printed.
async fn sdk(mode: &str, http: std::net::SocketAddr) -> Value {
    let python = root().join("target/tools/providers-venv/bin/python");
    let script = root().join("tests/interop/providers_sdk.py");
    let url = format!("http://{http}");
    let mode = mode.to_owned();
    let done = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([&mode, &url])
            .output()
            .expect("the providers' venv of scripts/setup.sh")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    serde_json::from_str(&out).unwrap()
}

/// A POST with `body`; the whole response (head and body) as text.
pub(crate) async fn post(
    http: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

fn provider(s: &Sink, id: u64) -> Value {
    let summary = s.store.get(id).unwrap();
    serde_json::to_value(&summary.envelope).unwrap()["api"].clone()
}

/// boto3's `sesv2`, sendgrid, postmarker and resend send text, HTML, an attachment, CC and
/// BCC: each
/// is stored as the MIME the provider would deliver, BCC in the envelope alone, with the
/// provider, the key's mailbox and the request's tags, categories and custom arguments;
/// SES raw content is kept byte for byte; `verify` passes on the captures.
#[tokio::test(flavor = "multi_thread")]
async fn the_providers_sdks_send_through_the_sink() {
    let s = sink(None).await;
    let seen = sdk("send", s.http).await;
    assert_eq!(seen["sendgrid"][0], 202, "{seen}");
    assert!(seen["ses"].as_str().unwrap().starts_with("0100"), "{seen}");
    let mail = s
        .store
        .wait(&Query::default(), 8, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(mail.len(), 8);
    assert_eq!(seen["mailgun"]["message"], "Queued. Thank you.", "{seen}");
    assert_eq!(
        (
            seen["postmark"]["ErrorCode"].as_u64(),
            seen["postmark"]["Message"].as_str()
        ),
        (Some(0), Some("OK")),
        "{seen}"
    );
    assert!(seen["resend"]["id"].is_string(), "{seen}");
    let by_subject = |subject: &str| {
        mail.iter()
            .find(|m| m.subject.as_deref() == Some(subject))
            .unwrap_or_else(|| panic!("{subject}"))
    };
    for (subject, provider_name, key) in [
        ("Your receipt (SES)", "ses", "AKIAMAILTEST"),
        ("Your receipt (SendGrid)", "sendgrid", "SG.mailtest-key"),
        ("Your receipt (Postmark)", "postmark", "pm-mailtest-token"),
        ("Your receipt (Resend)", "resend", "re_mailtest_key"),
        ("Your receipt (Mailgun)", "mailgun", "key-mailtest"),
    ] {
        let m = by_subject(subject);
        assert!(
            m.envelope.rcpt_to.iter().any(|r| r == "audit@example.com"),
            "BCC in the envelope"
        );
        assert_eq!((m.attachments, m.mailbox.as_deref()), (1, Some(key)));
        let raw = s.store.raw(m.id).unwrap();
        let parsed = mailparse::parse_mail(&raw).unwrap();
        assert_eq!(parsed.ctype.mimetype, "multipart/mixed");
        assert!(
            parsed.headers.get_first_value("Bcc").is_none(),
            "no Bcc header"
        );
        assert_eq!(
            parsed.headers.get_first_value("Cc").as_deref(),
            Some("cc@example.com")
        );
        assert_eq!(provider(&s, m.id)["provider"], provider_name);
    }
    let ses = provider(&s, by_subject("Your receipt (SES)").id);
    assert_eq!(ses["metadata"]["tags"]["flow"], "receipt");
    assert_eq!(ses["metadata"]["configuration_set"], "transactional");
    let sg = provider(&s, by_subject("Your receipt (SendGrid)").id);
    assert_eq!(
        (
            sg["metadata"]["categories"][0].as_str(),
            sg["metadata"]["custom_args"]["order_id"].as_str()
        ),
        (Some("receipt"), Some("ORD-7"))
    );
    let pm = provider(&s, by_subject("Your receipt (Postmark)").id);
    assert_eq!(
        (
            pm["metadata"]["tag"].as_str(),
            pm["metadata"]["metadata"]["order_id"].as_str()
        ),
        (Some("receipt"), Some("ORD-7"))
    );
    let re = provider(&s, by_subject("Your receipt (Resend)").id);
    assert_eq!(re["metadata"]["tags"]["flow"], "receipt");
    let mg = provider(&s, by_subject("Your receipt (Mailgun)").id);
    assert_eq!(
        mg["metadata"]["tags"],
        serde_json::json!(["receipt", "transactional"])
    );
    assert_eq!(mg["metadata"]["variables"]["order_id"], "ORD-7");
    let v1 = by_subject("Your receipt (SES v1)");
    assert_eq!(
        v1.envelope.rcpt_to,
        ["eve@example.com", "audit@example.com"]
    );
    assert_eq!(provider(&s, v1.id)["metadata"]["tags"]["flow"], "receipt");
    assert_eq!(
        by_subject("Raw (SES v1)").envelope.rcpt_to,
        ["raw1@example.com"]
    );
    let raw = s.store.raw(by_subject("Raw (SES)").id).unwrap();
    assert!(
        raw.starts_with(b"From: shop@example.com\r\nTo: raw@example.com\r\n"),
        "byte for byte"
    );
    verify_receipts(s.http).await;
}

/// `verify` passes on the receipts, provider conditions included, and fails when a
/// metadata condition does not hold.
async fn verify_receipts(http: std::net::SocketAddr) {
    let (code, report) = verify(http, RECEIPTS).await;
    assert_eq!(code, 0, "{report}");
    let wrong = RECEIPTS.replace("order_id: ORD-7", "order_id: ORD-8");
    let (code, report) = verify(http, &wrong).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("provider metadata `custom_args.order_id`"),
        "{report}"
    );
}

/// The captures of `the_providers_sdks_send_through_the_sink`, as a team's expectations.
const RECEIPTS: &str = concat!(
    "timeout: 2s\nexpect:\n",
    "- name: receipts\n  match: {subject: {contains: Your receipt}}\n  count: 6\n",
    "- name: with the receipt attached\n",
    "  match: {subject: {regex: '^Your receipt .(SES|SendGrid|Postmark|Resend|Mailgun).$'}}\n",
    "  count: 5\n  assert: {attachments: {count: 1}}\n",
    "- name: SendGrid's, with its category and custom argument\n",
    "  match: {provider: {name: sendgrid}}\n  count: 1\n",
    "  assert: {provider: {metadata: {categories: {contains: receipt}, custom_args.order_id: ORD-7}}}\n",
    "- name: none came over SMTP\n  match: {provider: {name: smtp}}\n  count: 0\n",
);

/// `mailtest verify` of `spec` against the sink at `http`: exit code and output.
async fn verify(http: std::net::SocketAddr, spec: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("expect.yaml");
    std::fs::write(&file, spec).unwrap();
    let run = tokio::task::spawn_blocking(move || {
        mailtest()
            .args(["verify", "--sink", &format!("http://{http}")])
            .arg(&file)
            .run()
    })
    .await
    .unwrap();
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

/// A throttling rule (`on: api`, `api: throttle`) makes boto3 raise SES's
/// `TooManyRequestsException` (429), sendgrid's client its `TooManyRequestsError` with
/// SendGrid's rate-limit headers, postmarker its `ClientError` with Postmark's code 429 and
/// resend its `RateLimitError`; nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttling_rule_gives_each_sdk_its_providers_error() {
    let s = sink(None).await;
    let rules = mailtest::smtp::faults::FaultSet::parse(
        "rules:\n- when: {on: api}\n  action: {api: throttle}\n",
    )
    .unwrap();
    s.faults.set(rules).unwrap();
    let seen = sdk("throttle", s.http).await;
    assert_eq!(
        seen["ses"],
        serde_json::json!(["TooManyRequestsException", 429]),
        "{seen}"
    );
    assert_eq!(
        seen["sendgrid"],
        serde_json::json!(["TooManyRequestsError", 429, "0"]),
        "{seen}"
    );
    assert_eq!(
        seen["ses_v1"],
        serde_json::json!(["Throttling", 400]),
        "{seen}"
    );
    assert_eq!(
        seen["mailgun"],
        serde_json::json!([429, "Too many requests"]),
        "{seen}"
    );
    assert_eq!(
        seen["postmark"],
        serde_json::json!(["ClientError", 429]),
        "{seen}"
    );
    assert_eq!(
        seen["resend"],
        serde_json::json!(["RateLimitError", 429, "rate_limit_exceeded"]),
        "{seen}"
    );
    assert_eq!(s.store.len(), 0);
}

/// Bad requests get the provider's own errors and are not stored: SendGrid's missing from,
/// missing recipients, bad JSON, missing key; SES's missing recipients (with its error code
/// in `x-amzn-ErrorType`) and bad JSON; over the size limit, 413 in SendGrid's words. With `--provider-key`,
/// other keys are refused and the accepted one names the mailbox.
#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_providers_errors_and_store_nothing() {
    let s = sink(None).await;
    let bearer = [
        ("Authorization", "Bearer SG.k"),
        ("Content-Type", "application/json"),
    ];
    let r = post(s.http, "/v3/mail/send", &bearer, br#"{"personalizations":[{"to":[{"email":"a@example.com"}]}],"subject":"s","content":[{"type":"text/plain","value":"x"}]}"#).await;
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains(r#""field":"from.email""#),
        "{r}"
    );
    let r = post(s.http, "/v3/mail/send", &bearer, br#"{"personalizations":[{"to":[]}],"from":{"email":"f@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}]}"#).await;
    assert!(r.contains(r#""field":"personalizations.0.to""#), "{r}");
    let r = post(s.http, "/v3/mail/send", &bearer, b"{not json").await;
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains(r#""message":"Bad Request""#),
        "{r}"
    );
    let r = post(s.http, "/v3/mail/send", &[], b"{}").await;
    assert!(
        r.starts_with("HTTP/1.1 401") && r.contains("authorization grant is invalid"),
        "{r}"
    );
    let sigv4 = [(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIAX/20261207/eu-west-1/ses/aws4_request, SignedHeaders=host, Signature=00",
    )];
    let r = post(s.http, "/v2/email/outbound-emails", &sigv4, br#"{"FromEmailAddress":"f@example.com","Content":{"Simple":{"Subject":{"Data":"s"},"Body":{"Text":{"Data":"x"}}}}}"#).await;
    assert!(
        r.starts_with("HTTP/1.1 400")
            && r.to_lowercase()
                .contains("x-amzn-errortype: badrequestexception"),
        "{r}"
    );
    let r = post(s.http, "/v2/email/outbound-emails", &sigv4, b"[").await;
    assert!(
        r.to_lowercase()
            .contains("x-amzn-errortype: serializationexception"),
        "{r}"
    );
    let big = vec![b'x'; 32 << 20];
    let r = post(s.http, "/v3/mail/send", &bearer, &big).await;
    assert!(
        r.starts_with("HTTP/1.1 413")
            && r.contains("payload you have included in your request is too large"),
        "{}",
        &r[..r.len().min(400)]
    );
    assert_eq!(s.store.len(), 0);

    let settings = ApiSettings {
        provider_keys: vec![ProviderKey {
            name: "ci".into(),
            key: "SG.good".into(),
        }],
        ..ApiSettings::default()
    };
    let s = sink_api(settings, ServerSettings::default()).await;
    let mail = br#"{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"f@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}]}"#;
    let r = post(s.http, "/v3/mail/send", &bearer, mail).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let good = [
        ("Authorization", "Bearer SG.good"),
        ("Content-Type", "application/json"),
    ];
    let r = post(s.http, "/v3/mail/send", &good, mail).await;
    assert!(
        r.starts_with("HTTP/1.1 202") && r.to_lowercase().contains("x-message-id:"),
        "{r}"
    );
    let stored = s
        .store
        .wait(&Query::default(), 1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(stored[0].mailbox.as_deref(), Some("ci"));
}

/// Postmark's and Resend's own refusals: a bad token, no recipients, invalid JSON, a
/// missing field; a Postmark batch answers each message on its own.
#[tokio::test(flavor = "multi_thread")]
async fn postmark_and_resend_refuse_as_they_do() {
    let s = sink(None).await;
    let token = [
        ("X-Postmark-Server-Token", "pm"),
        ("Content-Type", "application/json"),
    ];
    let r = post(s.http, "/email", &[], b"{}").await;
    assert!(
        r.starts_with("HTTP/1.1 401") && r.contains(r#""ErrorCode":10"#),
        "{r}"
    );
    let r = post(
        s.http,
        "/email",
        &token,
        br#"{"From":"a@example.com","Subject":"s","TextBody":"x"}"#,
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 422") && r.contains("Zero recipients specified"),
        "{r}"
    );
    let r = post(s.http, "/email", &token, b"{").await;
    assert!(
        r.starts_with("HTTP/1.1 422") && r.contains(r#""ErrorCode":402"#),
        "{r}"
    );
    let batch = br#"[{"From":"a@example.com","To":"b@example.com","Subject":"s","TextBody":"x"},{"From":"a@example.com","Subject":"s","TextBody":"x"}]"#;
    let r = post(s.http, "/email/batch", &token, batch).await;
    assert!(
        r.starts_with("HTTP/1.1 200")
            && r.contains(r#""ErrorCode":0"#)
            && r.contains(r#""ErrorCode":300"#),
        "{r}"
    );
    assert_eq!(s.store.len(), 1, "the good one of the batch");
    let bearer = [
        ("Authorization", "Bearer re_k"),
        ("Content-Type", "application/json"),
    ];
    let r = post(s.http, "/emails", &[], b"{}").await;
    assert!(
        r.starts_with("HTTP/1.1 401") && r.contains("missing_api_key"),
        "{r}"
    );
    let r = post(
        s.http,
        "/emails",
        &bearer,
        br#"{"from":"a@example.com","subject":"s","text":"x"}"#,
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 422")
            && r.contains("Missing `to` field.")
            && r.contains("missing_required_field"),
        "{r}"
    );
    let r = post(
        s.http,
        "/emails",
        &bearer,
        br#"{"from":"not an address","to":"b@example.com","subject":"s"}"#,
    )
    .await;
    assert!(
        r.contains("Invalid `from` field") && r.contains("validation_error"),
        "{r}"
    );
    assert_eq!(s.store.len(), 1);
}

/// Mailgun's refusals (a plain `Forbidden` without its Basic auth, `'from' parameter is
/// missing`), and its MIME route storing the message it is given byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn mailgun_refuses_as_it_does_and_keeps_mime_whole() {
    let s = sink(None).await;
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let r = post(
        s.http,
        "/v3/mg.example.com/messages",
        &form,
        b"to=a%40example.com",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 401") && r.ends_with("Forbidden"),
        "{r}"
    );
    let basic = [form[0], ("Authorization", "Basic YXBpOmtleS0x")];
    let r = post(
        s.http,
        "/v3/mg.example.com/messages",
        &basic,
        b"to=a%40example.com&text=x",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains("'from' parameter is missing"),
        "{r}"
    );
    let mime = b"to=b%40example.com&message=From%3A+a%40example.com%0D%0ASubject%3A+whole%0D%0A%0D%0Ahi%0D%0A";
    let r = post(s.http, "/v3/mg.example.com/messages.mime", &basic, mime).await;
    assert!(
        r.starts_with("HTTP/1.1 200") && r.contains("Queued. Thank you."),
        "{r}"
    );
    let stored = s
        .store
        .wait(&Query::default(), 1, std::time::Duration::from_secs(5))
        .await;
    let whole = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("whole"))
        .unwrap();
    assert_eq!(
        s.store.raw(whole.id).unwrap(),
        b"From: a@example.com\r\nSubject: whole\r\n\r\nhi\r\n"
    );
    assert_eq!(whole.envelope.rcpt_to, ["b@example.com"]);
}
