//! `mailtest verify`: passing and failing expectation files against `fixtures/eml` (report
//! snapshots, JUnit XML checked against its schema), bad files with line and column, a live
//! sink waited on server-side, a store with envelopes, and an unreachable sink.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::api::{send, sink};
use crate::util::{json_lines, mailtest, root, snapshot_filters};

fn verify_eml(file: &str, extra: &[&str]) -> crate::util::Done {
    mailtest()
        .arg("verify")
        .arg(root().join("fixtures/expectations").join(file))
        .arg("--eml")
        .arg(root().join("fixtures/eml"))
        .args(extra)
        .run()
}

#[test]
fn a_passing_file_passes_and_extracts() {
    let done = verify_eml("pass/signup.yaml", &[]);
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    assert!(
        done.stderr
            .contains("5 of 5 expectations hold (0 failed), 5 messages looked at")
    );
    snapshot_filters().bind(|| insta::assert_snapshot!("pass_table", done.stdout));
    let json = verify_eml("pass/signup.yaml", &["--output", "json"]);
    let report = &json_lines(&json.stdout)[0];
    assert_eq!(report["passed"], true);
    assert_eq!(
        report["extracted"]["token"],
        "q7Z2xK9mP4vR8sT1wY6bN3cF5hJ0dL2a"
    );
    assert_eq!(report["extracted"]["code"], "482913");
}

#[test]
fn a_failing_file_says_why_and_writes_valid_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let done = verify_eml("fail/wrong.yaml", &["--junit", junit.to_str().unwrap()]);
    assert_eq!(done.code, 1, "{}", done.stderr);
    assert!(
        done.stderr.contains("0 of 6 expectations hold (6 failed)"),
        "{}",
        done.stderr
    );
    snapshot_filters().bind(|| insta::assert_snapshot!("fail_table", done.stdout));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 6);
    assert_eq!(xml.matches("<failure ").count(), 6);
    assert!(xml_valid(&junit), "{xml}");
    // The schema is not vacuous: a test case without a name is refused.
    let broken = dir.path().join("broken.xml");
    std::fs::write(
        &broken,
        xml.replacen("<testcase name=\"a mail that never came\"", "<testcase", 1),
    )
    .unwrap();
    assert!(!xml_valid(&broken));
}

fn xml_valid(path: &std::path::Path) -> bool {
    let schema = root().join("fixtures/junit/junit.xsd");
    Command::new(crate::util::tool("xmllint"))
        .args(["--noout", "--schema"])
        .arg(schema)
        .arg(path)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn bad_files_are_refused_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown_key",
            "expect:\n  - name: a\n    match: {to: a@b}\n    asert: {}\n",
        ),
        (
            "unknown_condition",
            "expect:\n  - name: a\n    match:\n      subject: {contians: x}\n",
        ),
        (
            "bad_regex",
            "expect:\n  - name: a\n    assert:\n      html: {regex: '(unclosed'}\n",
        ),
        ("bad_duration", "timeout: soon\nexpect: []\n"),
        (
            "bad_size",
            "expect:\n  - name: a\n    assert: {size: {max: 12 parsecs}}\n",
        ),
        (
            "bad_after",
            "expect:\n  - name: a\n    assert: {arrives_after: b}\n",
        ),
    ];
    for (name, text) in cases {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text).unwrap();
        let done = mailtest()
            .arg("verify")
            .arg(&file)
            .args(["--eml", "/dev/null"])
            .run();
        assert_eq!(done.code, 2, "{name}: {}", done.stderr);
        snapshot_filters().bind(|| insta::assert_snapshot!(format!("bad_{name}"), done.stderr));
    }
}

/// Runs `mailtest verify` on `yaml` against a sink's API in the background.
fn spawn_verify(
    yaml: &str,
    http: std::net::SocketAddr,
) -> (tempfile::TempDir, std::process::Child) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("expect.yaml");
    std::fs::write(&file, yaml).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .arg("verify")
        .arg(&file)
        .arg("--sink")
        .arg(format!("http://{http}"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (dir, child)
}

/// Waits (bounded) until the sink has a listener: verify's server-side wait has begun.
async fn until_waiting(store: &mailtest::store::Store) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.watchers() == 0 {
        assert!(Instant::now() < deadline, "verify never started waiting");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn finish(child: std::process::Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_sink_is_waited_on_until_the_mail_arrives() {
    let s = sink(None).await;
    // A timeout far beyond the per-test limit: an answer only at the timeout fails the
    // test, however slow the machine.
    let yaml = "timeout: 1h\nexpect:\n  - name: verify mail\n    match: {to: alice@example.com, subject: {contains: Verify}}\n    assert: {text: {contains: token=}}\n";
    let (_dir, child) = spawn_verify(yaml, s.http);
    until_waiting(&s.store).await;
    let started = Instant::now();
    send(
        s.smtp,
        &["alice@example.com"],
        "Verify your address",
        "\r\nhttps://app.example/verify?token=abc",
    )
    .await;
    let out = finish(child).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("verify mail") && stdout.contains("pass"),
        "{stdout}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "answered on arrival, not at the timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn count_zero_within_a_window_fails_when_a_mail_arrives() {
    let s = sink(None).await;
    let yaml = "expect:\n  - name: nothing to the locked account\n    match: {to: locked@example.com}\n    count: 0\n    within: 60s\n";
    let (_dir, child) = spawn_verify(yaml, s.http);
    until_waiting(&s.store).await;
    send(s.smtp, &["locked@example.com"], "Your account", "\r\nhello").await;
    let out = finish(child).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("expected 0 matching message(s), found 1"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn count_zero_within_a_window_passes_when_it_stays_quiet() {
    let s = sink(None).await;
    send(s.smtp, &["someone@example.com"], "Other mail", "\r\nhello").await;
    let yaml = "expect:\n  - name: nothing to the locked account\n    match: {to: locked@example.com}\n    count: 0\n    within: 1s\n";
    let (_dir, child) = spawn_verify(yaml, s.http);
    let out = finish(child).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_has_envelopes_and_eml_files_do_not() {
    use mailtest::smtp::{Server, ServerSettings};
    use mailtest::store::Store;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = std::sync::Arc::new(Store::open(dir.path(), false).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(Server::serve(
            listener,
            ServerSettings::default(),
            store,
            shutdown,
        ));
        send(
            addr,
            &["alice@example.com", "audit@example.com"],
            "Receipt",
            "\r\nThanks",
        )
        .await;
        stop.send(true).unwrap();
        let _ = server.await;
    }
    let yaml = "expect:\n  - name: audited\n    match: {subject: Receipt}\n    assert:\n      envelope: {rcpt_to: {contains: audit@example.com}, mail_from: app@example.com}\n      to: audit@example.com\n";
    let file = dir.path().join("expect.yaml");
    std::fs::write(&file, yaml).unwrap();
    let done = mailtest()
        .arg("verify")
        .arg(&file)
        .arg("--store")
        .arg(dir.path())
        .run();
    assert_eq!(
        done.code, 0,
        "BCC seen through the envelope: {}",
        done.stdout
    );
    let eml = mailtest()
        .arg("verify")
        .arg(&file)
        .arg("--eml")
        .arg(root().join("fixtures/eml/05-invoice-fatima.eml"))
        .run();
    assert_eq!(eml.code, 1);
    assert!(
        eml.stdout
            .contains("expected at least 1 matching message(s), found 0"),
        "{}",
        eml.stdout
    );
}

#[test]
fn an_unreachable_sink_exits_3() {
    let file = root().join("fixtures/expectations/pass/signup.yaml");
    mailtest()
        .arg("verify")
        .arg(file)
        .args(["--sink", "http://127.0.0.1:9"])
        .run()
        .fails_with(3, "cannot reach the sink at http://127.0.0.1:9");
}

#[test]
fn the_json_schema_accepts_every_example_and_refuses_mistakes() {
    let out = Command::new("python3")
        .arg(root().join("tests/interop/expectations_schema.py"))
        .arg(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shell CI recipe in `examples/ci` runs as documented: sink in the background, a
/// sender, verify as the gate, a JUnit report.
#[test]
fn the_ci_recipe_passes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = Command::new("bash")
        .arg(root().join("examples/ci/verify-signup.sh"))
        .env("MAILTEST", env!("CARGO_BIN_EXE_mailtest"))
        .env("JUNIT", &junit)
        .env("NO_COLOR", "1")
        .env("PATH", path_with_swaks())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the verification mail reaches the new user"),
        "{stdout}"
    );
    assert!(xml_valid(&junit));
}

fn path_with_swaks() -> String {
    let swaks = crate::util::tool("swaks");
    let dir = swaks.parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_mode_runs_again_when_mail_arrives() {
    use std::io::{BufRead, BufReader};
    let s = sink(None).await;
    let yaml = "timeout: 1s\nexpect:\n  - name: welcome\n    match: {subject: Welcome}\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("expect.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .arg("verify")
        .arg(&file)
        .args(["--watch", "--output", "json", "--sink"])
        .arg(format!("http://{}", s.http))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // The first run times out without the mail, and prints its report.
    let (first, mut lines) = tokio::task::spawn_blocking(move || {
        let first = lines.next().unwrap().unwrap();
        (first, lines)
    })
    .await
    .unwrap();
    // Sent after the first report: the watch finds it through its cursor whether it comes
    // before or during the next wait.
    send(s.smtp, &["priya@example.com"], "Welcome", "\r\nhello").await;
    let second = tokio::task::spawn_blocking(move || lines.next().unwrap().unwrap())
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let passed =
        |line: &str| serde_json::from_str::<serde_json::Value>(line).unwrap()["passed"] == true;
    assert!(!passed(&first), "{first}");
    assert!(passed(&second), "{second}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_is_read_from_its_first_message_past_one_page() {
    let s = sink(None).await;
    let first = "From: app@example.com\r\nTo: first@example.com\r\nSubject: The first\r\n\r\nhello first\r\n";
    s.store
        .insert(crate::store::incoming("first@example.com", first))
        .unwrap();
    for i in 1..1005 {
        let raw = format!("To: u{i}@example.com\r\nSubject: n{i}\r\n\r\nbody {i}\r\n");
        s.store
            .insert(crate::store::incoming(&format!("u{i}@example.com"), &raw))
            .unwrap();
    }
    let yaml = "timeout: 1s\nexpect:\n  - name: the first mail\n    match: {to: first@example.com}\n    assert: {subject: The first, text: {contains: hello first}}\n  - name: the last mail\n    match: {to: u1004@example.com}\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("expect.yaml");
    std::fs::write(&file, yaml).unwrap();
    let url = format!("http://{}", s.http);
    let done = tokio::task::spawn_blocking(move || {
        crate::util::mailtest()
            .arg("verify")
            .arg(&file)
            .args(["--sink", &url, "--output", "json"])
            .run()
    })
    .await
    .unwrap();
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    let report: serde_json::Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(report["messages"], 1005, "every stored message looked at");
}
