//! `mailtest smoke` as users run it: the built-in scenario on the embedded defaults, a
//! failing and a broken scenario, the user's own broker (twice, with old events on it), the
//! user's own service with `--no-dispatch`, and `--keep`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::{broker, http_get, mailtest, root, wait_for_file};

/// `mailtest smoke --scenario FILE`, run to the end.
fn smoke_with(scenario: &std::path::Path) -> crate::util::Done {
    mailtest()
        .arg("smoke")
        .arg("--scenario")
        .arg(scenario)
        .run()
}

fn report(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_default_scenario_passes_on_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("smoke.xml");
    let done = mailtest()
        .args(["smoke", "--output", "json", "--junit"])
        .arg(&junit)
        .run();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let r = report(&done.stdout);
    assert_eq!(r["passed"], true);
    assert_eq!(r["produced"], 16);
    assert_eq!(r["captured"], 16, "each event gives exactly one email");
    assert_eq!(r["dispatch"]["sent"], 16);
    let steps: Vec<_> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(steps, ["broker", "sink", "dispatch", "produce", "verify"]);
    let verdicts = r["verify"]["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 10);
    assert!(
        done.stderr
            .contains("smoke passed: 16 events produced, 16 emails captured")
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 10, "{xml}");
}

#[test]
fn the_table_report_names_every_step_and_expectation() {
    let out = mailtest().arg("smoke").ok();
    for needle in ["broker", "embedded", "produce", "16 of 16 events delivered"] {
        assert!(out.contains(needle), "`{needle}` missing from:\n{out}");
    }
    assert!(out.contains("every event gives exactly one email"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn a_failing_expectation_fails_the_run_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "name: welcome only\nevents: {fixtures: [welcome/default]}\ntimeout: 5s\nexpect:\n  \
         - name: the welcome greets by nickname\n    match: {to: priya.singh@example.net}\n    \
         count: 1\n    assert: {subject: {contains: Hey priya}}\n  \
         - name: nothing for the reset\n    match: {subject: {contains: Reset}}\n    count: 0\n",
    )
    .unwrap();
    let done = smoke_with(&scenario);
    assert_eq!(done.code, 1, "{}\n{}", done.stdout, done.stderr);
    assert!(done.stdout.contains("FAIL"), "{}", done.stdout);
    assert!(done.stdout.contains("Hey priya"), "{}", done.stdout);
    assert!(
        done.stderr
            .contains("smoke FAILED: 1 events produced, 1 emails captured")
    );
}

#[test]
fn scenario_events_come_from_files_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("fixtures/events/password_reset/default.json");
    std::fs::copy(&fixture, dir.path().join("reset.json")).unwrap();
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "events: {files: [reset.json]}\ntimeout: 10s\nexpect:\n  - name: reset\n    \
         match: {to: ben.okafor@example.com}\n    count: 1\n    assert: {matches_render: true}\n",
    )
    .unwrap();
    let done = smoke_with(&scenario);
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);

    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    event["data"].as_object_mut().unwrap().remove("reset_link");
    std::fs::write(dir.path().join("reset.json"), event.to_string()).unwrap();
    smoke_with(&scenario).fails_with(2, "data.reset_link");
}

#[test]
fn bad_scenarios_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "name: x\nevnts: {}\nexpect: []\n",
            "s.yaml:2:1: unknown field `evnts`",
        ),
        (
            "events: {fixtures: [welcome/nope]}\nexpect: []\n",
            "no fixture `welcome/nope` (known: ",
        ),
        (
            "events: {fixtures: some}\nexpect: []\n",
            "events.fixtures: `some`: expected `all`, `none` or a list",
        ),
        (
            "events: {fixtures: none}\nexpect: []\n",
            "the scenario produces no events",
        ),
    ];
    for (text, needle) in cases {
        let scenario = dir.path().join("s.yaml");
        std::fs::write(&scenario, text).unwrap();
        smoke_with(&scenario).fails_with(2, needle);
    }
    mailtest()
        .args(["smoke", "--smtp-listen", "0.0.0.0:0"])
        .run()
        .fails_with(2, "pass --allow-remote");
}

#[test]
fn the_users_broker_with_old_events_on_it_twice() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    // Events already on the topics are not the run's: the dispatcher starts past them.
    mailtest()
        .args([
            "-q", "produce", "-b", bootstrap, "--count", "25", "--seed", "3",
        ])
        .ok();
    for _ in 0..2 {
        let done = mailtest()
            .args(["smoke", "--output", "json", "-b", bootstrap])
            .run();
        assert_eq!(done.code, 0, "{}", done.stderr);
        let r = report(&done.stdout);
        assert_eq!(r["captured"], 16, "{}", done.stdout);
        assert_eq!(r["steps"][0]["detail"], format!("yours, at {bootstrap}"));
    }
}

#[test]
fn no_dispatch_waits_for_the_users_service() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let smoke = Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .args(["smoke", "--no-dispatch", "--smtp-listen", "127.0.0.1:0"])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let env = wait_for_file(&ready);
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    // The "service under test": a separate dispatch process reading the smoke's broker.
    let mut service = Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .args(["dispatch", "--no-state", "--http", "127.0.0.1:0", "-b"])
        .arg(var("MAILTEST_BROKERS"))
        .arg("--smtp")
        .arg(var("MAILTEST_SMTP"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = smoke.wait_with_output().unwrap();
    let _ = service.kill();
    let _ = service.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("yours, expected to send to"), "{stdout}");
    assert!(stderr.contains("16 emails captured"), "{stderr}");
}

#[test]
fn keep_leaves_the_sink_up_until_interrupted() {
    let mut smoke = Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .args(["smoke", "--keep"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(smoke.stderr.take().unwrap());
    let kept = stderr
        .lines()
        .map(Result::unwrap)
        .find(|l| l.starts_with("kept up:"))
        .expect("a `kept up` line");
    let http = kept
        .split("MAILTEST_HTTP=http://")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap();
    let (status, body) = http_get(http, "/api/v1/messages");
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["messages"].as_array().unwrap().len(), 16, "{body}");
    assert!(
        kept.contains(&format!("web inbox at http://{http}/")),
        "{kept}"
    );
    assert!(
        http_get(http, "/")
            .1
            .contains("<title>mailtest inbox</title>")
    );
    assert!(crate::util::signal(smoke.id(), "INT", false));
    assert_eq!(smoke.wait().unwrap().code(), Some(0));
}

/// The CI recipe for checking one's own service runs as documented: a broker, a service
/// under test (the reference one, as a separate process), smoke as the gate.
#[test]
fn the_own_service_ci_recipe_passes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    // A free port for the sink: the service under test is told it before smoke starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new("bash")
        .arg(root().join("examples/ci/smoke-own-service.sh"))
        .env("MAILTEST", env!("CARGO_BIN_EXE_mailtest"))
        .env("SMTP", format!("127.0.0.1:{port}"))
        .env("JUNIT", &junit)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("yours, expected to send to"), "{stdout}");
    assert!(
        stderr.contains("smoke passed: 16 events produced, 16 emails captured"),
        "{stderr}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 10);
}

/// Topics named after the types, as many services name them (`email_verification`,
/// `account_locked`, ...): produced there, dispatched from there, every email checked.
#[test]
fn topics_named_after_the_types_run_end_to_end() {
    let done = mailtest()
        .args(["smoke", "--topic", "{type}", "--output", "json"])
        .run();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let r = report(&done.stdout);
    assert_eq!(
        (r["produced"].clone(), r["captured"].clone()),
        (16.into(), 16.into())
    );
    let produce = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "produce")
        .unwrap();
    let detail = produce["detail"].as_str().unwrap();
    assert!(detail.contains("account_locked"), "{detail}");
}
