//! `smoke` with a Celery scenario: the catalog's tasks go to the embedded broker, a real
//! Celery 5.7 worker that smoke starts (the reference app, told where the broker, sink and
//! result backend are through `MAILTEST_*` variables) runs them, and the mail and the task
//! states are verified, with JUnit out. A failing task, a worker that dies at start and a
//! scenario that needs a result backend it was not given each fail with their reason.

use serde_json::Value;

use crate::celery::redis;
use crate::util::{mailtest, root};

/// The reference app's worker as a `--worker` command, configured the way its README says.
fn worker_command() -> String {
    format!(
        "cd {} && CELERY_BROKER_URL=$MAILTEST_CELERY_BROKER \
         CELERY_RESULT_BACKEND=$MAILTEST_CELERY_RESULTS MAIL_SMTP=$MAILTEST_SMTP \
         exec {} -A tasks worker --pool solo --without-heartbeat --without-mingle --without-gossip",
        root().join("examples/celery").display(),
        root().join("target/tools/celery-venv/bin/celery").display()
    )
}

/// `mailtest smoke` on the Celery catalog with `scenario`: exit code, JSON report, stderr.
fn smoke(scenario: &std::path::Path, results: &str, extra: &[&str]) -> (i32, Value, String) {
    let run = mailtest()
        .args(["smoke", "--output", "json", "--catalog"])
        .arg(root().join("examples/catalogs/celery"))
        .arg("--scenario")
        .arg(scenario)
        .args(["--celery-results", results])
        .args(extra)
        .run();
    let report = serde_json::from_str(&run.stdout).unwrap_or_default();
    (run.code, report, run.stderr)
}

fn verdict<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["verify"]["verdicts"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("no verdict `{name}`: {report}"))
}

/// The example scenario passes: four tasks, four mails each naming its task, four task
/// results all SUCCESS, and the JUnit file has the task states as a test case.
#[test]
fn a_celery_scenario_runs_the_teams_worker_and_checks_mail_and_task_states() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, results) = redis(dir.path());
    let junit = dir.path().join("junit.xml");
    let scenario = root().join("examples/celery/scenario.yaml");
    let command = worker_command();
    let junit_arg = junit.display().to_string();
    let (code, report, stderr) = smoke(
        &scenario,
        &results,
        &["--worker", &command, "--junit", &junit_arg],
    );
    assert_eq!(code, 0, "{stderr}\n{report}");
    assert_eq!(report["produced"], 4);
    let tasks = verdict(&report, "celery tasks");
    assert_eq!(
        (tasks["passed"].as_bool(), tasks["found"].as_u64()),
        (Some(true), Some(4))
    );
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["broker", "sink", "dispatch", "worker", "produce", "verify"]
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("name=\"celery tasks\""), "{xml}");
}

/// A task that raises fails the run (exit 1) with the worker's error; a worker that exits
/// before running a task fails it with its exit status and the end of its log.
#[test]
fn a_failing_task_or_a_dead_worker_fails_the_smoke_run_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_redis, results) = redis(dir.path());
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/events/password_reset/default.json"))
            .unwrap(),
    )
    .unwrap();
    event["recipient"]["email"] = "fail@example.com".into();
    std::fs::write(dir.path().join("fail.json"), event.to_string()).unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(
        &scenario,
        "name: a failing task\nevents: {files: [fail.json]}\ntimeout: 20s\ncelery: {count: 1}\n",
    )
    .unwrap();
    let (code, report, stderr) = smoke(&scenario, &results, &["--worker", &worker_command()]);
    assert_eq!(code, 1, "{stderr}");
    let reasons = verdict(&report, "celery tasks")["reasons"].to_string();
    assert!(
        reasons.contains("FAILURE: ValueError: no account for fail@example.com"),
        "{reasons}"
    );
    let (code, _, stderr) = smoke(
        &scenario,
        &results,
        &["--worker", "echo cannot import tasks >&2; exit 3"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the worker exited (exit status: 3) before it ran a task")
            && stderr.contains("cannot import tasks"),
        "{stderr}"
    );
}

/// A scenario with `celery:` and no result backend is refused before anything starts.
#[test]
fn task_states_without_a_result_backend_are_refused() {
    mailtest()
        .args(["smoke", "--catalog"])
        .arg(root().join("examples/catalogs/celery"))
        .arg("--scenario")
        .arg(root().join("examples/celery/scenario.yaml"))
        .run()
        .fails_with(
            2,
            "the scenario's `celery:` task states need Celery's result backend",
        );
}
