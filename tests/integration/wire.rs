//! The team's own wire format (a catalog folder's `format.yaml`): flat events as a `FastAPI`
//! service publishes them with aiokafka are dispatched, consumed, filtered and checked at
//! the team's own field names, and `produce` writes that shape too.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::api::sink;
use crate::dispatch::{Dispatch, broker, captured, once_each};
use crate::util::{copy_dir, json_lines, mailtest, root};

fn catalog() -> String {
    root()
        .join("examples/catalogs/fastapi")
        .display()
        .to_string()
}

/// `smoke --output json` on a shipped catalog's own scenario (with `--topic` when given);
/// it must pass; its report.
fn shipped_smoke(name: &str, topic: Option<&str>) -> serde_json::Value {
    let catalog = root().join("examples/catalogs").join(name);
    let mut run = mailtest()
        .args(["smoke", "--output", "json", "--catalog"])
        .arg(&catalog)
        .arg("--scenario")
        .arg(catalog.join("scenario/smoke.yaml"));
    if let Some(topic) = topic {
        run = run.args(["--topic", topic]);
    }
    let done = run.run();
    assert_eq!(done.code, 0, "{}", done.stderr);
    serde_json::from_str(&done.stdout).unwrap()
}

/// Flat events the way the `FastAPI` service writes them.
fn flat(n: usize) -> String {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "event_type": "welcome",
                "email": format!("user{i}@example.com"),
                "username": format!("user_{i}"),
                "dashboard_link": "https://app.example.com/dashboard",
                "timestamp": "2026-12-01T10:00:00Z",
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn flat_events_from_aiokafka_become_mail_and_read_back_in_their_shape() {
    let b = broker();
    let s = sink(None).await;
    let state = tempfile::tempdir().unwrap();
    let mut python = Command::new("python3")
        .arg(root().join("tests/interop/aiokafka_client.py"))
        .args(["produce", b.bootstrap(), "email-events"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    python
        .stdin
        .take()
        .unwrap()
        .write_all(flat(5).as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dispatch = Dispatch::start(b.bootstrap(), &s, state.path(), &["--catalog", &catalog()]);
    let ids = captured(&s.store, 5).await;
    assert_eq!(
        ids.len(),
        5,
        "one email per event, ids derived from the offsets"
    );
    once_each(&ids);
    let to: Vec<String> = s
        .store
        .list(&mailtest::store::Query::default())
        .iter()
        .flat_map(|m| m.envelope.rcpt_to.clone())
        .collect();
    assert!(to.contains(&"user3@example.com".to_owned()), "{to:?}");
    // Stopped as a service is (SIGTERM, a drain): each send is marked done in the ledger. A
    // kill -9 right after an SMTP 250 leaves that one in doubt, and in doubt is sent again.
    dispatch.stop();

    // The same records read again by a new group with the same ledger: the ids derived
    // from topic, partition and offset are the same, so nothing is sent twice.
    let replay = ["--catalog", &catalog(), "--group", "replay"];
    let again = Dispatch::start(b.bootstrap(), &s, state.path(), &replay);
    let counter = |name: &str| -> u64 {
        let metrics = again.metrics();
        let line = format!("mailtest_dispatch_{name}_total ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while counter("duplicates") < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the replay was not seen: {}",
            again.metrics()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(counter("sent"), 0);
    assert_eq!(s.store.len(), 5);
    drop(again);

    let read = mailtest()
        .args([
            "-q",
            "consume",
            "-b",
            b.bootstrap(),
            "--catalog",
            &catalog(),
        ])
        .args(["-t", "email-events", "-e", "--format", "json"])
        .args(["--type", "welcome", "--to", "user3@example.com"])
        .ok();
    let records = json_lines(&read);
    assert_eq!(records.len(), 1, "{read}");
    assert_eq!(records[0]["payload"]["username"], "user_3");
    assert!(
        records[0].get("schema_errors").is_none(),
        "valid in its format: {read}"
    );

    golden_from_kafka(b.bootstrap(), s.http).await;
}

/// The golden comparison takes each email's event from Kafka: by the record key (the
/// address, as the service keys them) and by the id dispatch derived from the offset.
async fn golden_from_kafka(bootstrap: &str, http: std::net::SocketAddr) {
    // The golden comparison takes each email's event from Kafka: by the record key (the
    // address, as the service keys them) and by the id dispatch derived from the offset.
    let golden = "timeout: 10s\nexpect:\n  - name: by key\n    match: {headers: {X-Mailtest-Event-Type: welcome}}\n    count: 5\n    assert: {matches_render: {from: kafka, by: key}}\n  - name: by id\n    match: {to: user3@example.com}\n    assert: {matches_render: {from: kafka}}\n";
    let done = verify_golden(golden, bootstrap, http, None).await;
    assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
    let report: serde_json::Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(
        report["verdicts"][0]["matched"].as_array().map(Vec::len),
        Some(5),
        "{report}"
    );

    // A service sending a stale template fails it, with the difference shown: here the
    // templates mailtest compares with have a new subject the mail does not carry.
    let changed = tempfile::tempdir().unwrap();
    copy_dir(
        &root().join("examples/catalogs/fastapi/templates"),
        changed.path(),
    );
    let welcome = changed.path().join("emails/welcome.html");
    let text = std::fs::read_to_string(&welcome).unwrap();
    std::fs::write(&welcome, text.replace("Welcome to", "Welcome aboard")).unwrap();
    let done = verify_golden(golden, bootstrap, http, Some(changed.path())).await;
    assert_eq!(done.code, 1, "{}{}", done.stdout, done.stderr);
    assert!(
        done.stdout
            .contains("the template renders \\\"Welcome aboard Acme, user_"),
        "{}",
        done.stdout
    );
}

/// `mailtest verify` of `yaml` against the sink at `http`, reading events from `bootstrap`
/// in the `FastAPI` catalog's format, with `templates` over the catalog's own.
async fn verify_golden(
    yaml: &str,
    bootstrap: &str,
    http: std::net::SocketAddr,
    templates: Option<&std::path::Path>,
) -> crate::util::Done {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("golden.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut run = mailtest()
        .args(["-q", "verify", "--output", "json", "--catalog", &catalog()])
        .args(["-b", bootstrap, "--sink", &format!("http://{http}")])
        .arg(file.to_str().unwrap());
    if let Some(dir) = templates {
        run = run.args(["--templates", dir.to_str().unwrap()]);
    }
    // The sink answers from this test's runtime: verify runs off its workers.
    tokio::task::spawn_blocking(move || run.run())
        .await
        .unwrap()
}

#[test]
fn produce_writes_the_teams_shape_and_names_its_fields_in_errors() {
    let shown = mailtest()
        .args(["produce", "--catalog", &catalog(), "--type", "welcome"])
        .args(["-n", "3", "--seed", "5", "--dry-run"])
        .ok();
    for event in json_lines(&shown) {
        assert_eq!(event["event_type"], "welcome");
        assert!(event["email"].as_str().unwrap().contains('@'), "{event}");
        assert!(
            event.get("recipient").is_none() && event.get("data").is_none(),
            "{event}"
        );
        assert!(event["timestamp"].is_string() && event["username"].is_string());
    }
    let bad = r#"{"event_type": "welcome", "email": "nope", "username": "x", "dashboard_link": "https://x.example"}"#;
    mailtest()
        .args(["produce", "--catalog", &catalog(), "--dry-run", "-"])
        .stdin(format!("{}\n{bad}\n", flat(1).trim()))
        .run()
        .fails_with(2, "<stdin>:2: field `email`: expected email address");
}

/// The shipped `FastAPI` catalog's scenario passes on the embedded defaults: its flat events
/// produced in their own shape, each one email from the service's own Jinja2 templates, two
/// of them equal to what those templates render for the event read back from Kafka (the
/// format has no ids: dispatch derives them from where each record landed).
#[test]
fn the_shipped_fastapi_catalog_passes_its_smoke_scenario() {
    let report = shipped_smoke("fastapi", None);
    assert_eq!(
        (report["produced"].clone(), report["captured"].clone()),
        (5.into(), 5.into())
    );
    let verdicts = report["verify"]["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 5, "{report}");
    assert!(verdicts.iter().all(|v| v["passed"] == true), "{report}");
}

/// The shipped catalog of a service with a topic per type, named after the type, and the
/// type nowhere in the payload: smoke sends each fixture to its type's topic, the reference
/// service reads the type off the topic name, and every email reaches the nested `user`.
#[test]
fn the_shipped_per_type_topics_catalog_takes_the_type_from_the_topic() {
    let catalog = root().join("examples/catalogs/per-type-topics");
    let report = shipped_smoke("per-type-topics", Some("{type}"));
    assert_eq!(
        (report["produced"].clone(), report["captured"].clone()),
        (5.into(), 5.into())
    );
    let payload_types = std::fs::read_dir(&catalog)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("default.json")).ok())
        .filter(|text| text.contains("event_type"))
        .count();
    assert_eq!(payload_types, 0, "the type is only in the topic name");
}

/// An event file in a format that keeps the type in the topic name says its type with
/// `--type`; a bad event in it is reported at the team's nested field.
#[test]
fn a_bad_event_in_a_topic_typed_format_names_its_nested_field() {
    let catalog = root().join("examples/catalogs/per-type-topics");
    let event = r#"{"event_id": "e1", "created_at": "2026-12-01T10:00:00Z", "user": {"email": "nope", "name": "A"}, "username": "a", "reason": "too_many_failed_attempts", "locked_at": "2026-12-01T10:00:00Z", "support_link": "https://help.example.com"}"#;
    // `produce --topic '{type}' --type account_locked --dry-run -` on one event.
    let produce = |event: &str| {
        mailtest()
            .args(["produce", "--topic", "{type}", "--type", "account_locked"])
            .args(["--dry-run", "--catalog"])
            .arg(&catalog)
            .arg("-")
            .stdin(format!("{event}\n"))
    };
    produce(event)
        .run()
        .fails_with(2, "<stdin>:1: field `user.email`: expected email address");
    let sent = produce(&event.replace("\"nope\"", "\"ana@example.com\"")).ok();
    assert_eq!(json_lines(&sent)[0]["user"]["email"], "ana@example.com");
}

/// The shipped commerce catalog (type in a Kafka header, customer nested, tenant and order
/// at the top level) passes its scenario on its own topic, every email equal to its
/// template; a bad order in that format is reported at its line and its own field names.
#[test]
fn the_shipped_commerce_catalog_types_events_by_header() {
    let catalog = root().join("examples/catalogs/commerce");
    let report = shipped_smoke("commerce", Some("commerce.notifications"));
    assert_eq!(report["captured"], 3, "{report}");
    let verdicts = report["verify"]["verdicts"].as_array().unwrap();
    assert!(verdicts.iter().all(|v| v["passed"] == true), "{report}");

    let good = std::fs::read_to_string(catalog.join("order_confirmation/default.json")).unwrap();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut bad = good.clone();
    bad["customer"]["email"] = "ana-at-example.com".into();
    bad["order_total"] = "83,40".into();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.jsonl");
    std::fs::write(&file, format!("{good}\n{bad}\n")).unwrap();
    let run = mailtest()
        .args([
            "produce",
            "--type",
            "order_confirmation",
            "--dry-run",
            "--catalog",
        ])
        .arg(&catalog)
        .arg(&file)
        .run();
    run.fails_with(
        2,
        "orders.jsonl:2: field `customer.email`: expected email address",
    );
    run.fails_with(2, "orders.jsonl:2: field `order_total`: expected decimal");
}
