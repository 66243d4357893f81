//! `produce --poison`: the malformed task messages, sent to a real Celery 5.7 worker (the
//! reference app), over the embedded Kafka broker and over a real RabbitMQ, with each
//! case's observed fate asserted: the state the worker stored, and whether it went on
//! taking tasks (for the cases that kill it, that its process exited).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::sink;
use crate::celery::{Server, catalog_dir, celery_broker, kafka_url, rabbitmq, redis, worker};
use crate::util::mailtest;

/// `produce --poison=CASES` at `broker` (`-b` address, or `--amqp` URL): exit code, the
/// cases' reports by name, and stderr.
fn poison(broker: &[&str], results: &str, cases: &str, timeout: &str) -> (i32, Vec<Value>, String) {
    let run = mailtest()
        .args(broker)
        .args(["--output", "json", "--catalog"])
        .arg(catalog_dir())
        .args(["--celery-results", results, "--results-timeout", timeout])
        .arg(format!("--poison={cases}"))
        .run();
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_default();
    let cases = report["cases"].as_array().cloned().unwrap_or_default();
    (run.code, cases, run.stderr)
}

/// Whether the worker's process ends within `timeout`.
fn exits_within(worker: &mut Server, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if worker.0.try_wait().is_ok_and(|s| s.is_some()) {
            return true;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    false
}

/// A case's (state, error, worker) as reported.
fn fate(case: &Value) -> (Option<&str>, &str, &str) {
    (
        case["state"].as_str(),
        case["error"].as_str().unwrap_or_default(),
        case["worker"].as_str().unwrap_or_default(),
    )
}

/// The cases a Celery worker survives: each one's result (or none) as the worker left it,
/// and the canary after each one run; exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_celery_worker_survives_these_cases_over_kafka_and_each_fate_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let b = celery_broker();
    let s = sink(None).await;
    let (_redis, results) = redis(dir.path());
    let _worker = worker(&kafka_url(&b), &results, s.smtp);
    let bootstrap = b.bootstrap().to_owned();
    let (code, cases, stderr) = tokio::task::spawn_blocking(move || {
        let cases = "unknown-task,wrong-arity,expired,far-future-eta,no-task-header,bad-json";
        poison(&["produce", "-b", &bootstrap], &results, cases, "20s")
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    let fates: Vec<_> = cases.iter().map(fate).collect();
    let [unknown, arity, expired, eta, no_task, bad_json] = fates[..] else {
        panic!("six cases reported: {cases:?}");
    };
    assert_eq!(
        unknown,
        (
            Some("FAILURE"),
            "NotRegistered: mailtest.robustness.no_such_task",
            "answered"
        )
    );
    assert_eq!((arity.0, arity.2), (Some("FAILURE"), "answered"));
    assert!(
        arity.1.starts_with("TypeError:") && arity.1.contains("positional arguments"),
        "{arity:?}"
    );
    assert_eq!(
        expired,
        (Some("REVOKED"), "TaskRevokedError: expired", "answered")
    );
    for held_or_dropped in [eta, no_task, bad_json] {
        assert_eq!(held_or_dropped, (None, "", "answered"));
    }
    assert!(stderr.contains("took the next task"), "{stderr}");
}

/// Each case that kills a Celery 5.7 worker, on a broker and worker of its own: the canary
/// after it gets no result, the report says the worker stopped answering (and the cases
/// after it were not sent), exit 1, and the worker's process has exited.
#[tokio::test(flavor = "multi_thread")]
async fn the_cases_that_kill_a_celery_worker_are_pinned_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(None).await;
    let (_redis, results) = redis(dir.path());
    let smtp = s.smtp;
    let killers: [&'static str; 5] = [
        "no-id,unknown-task",
        "integer-id",
        "two-element-body",
        "no-content-type",
        "no-delivery-tag",
    ];
    let runs: Vec<_> = killers
        .iter()
        .map(|&cases| {
            let results = results.clone();
            tokio::task::spawn_blocking(move || {
                let b = celery_broker();
                let mut worker = worker(&kafka_url(&b), &results, smtp);
                let run = poison(&["produce", "-b", b.bootstrap()], &results, cases, "10s");
                (run, exits_within(&mut worker, Duration::from_secs(10)))
            })
        })
        .collect();
    for (cases, run) in killers.iter().zip(runs) {
        let ((code, reports, stderr), exited) = run.await.unwrap();
        assert_eq!(code, 1, "{cases}: {stderr}");
        assert_eq!(
            fate(&reports[0]).2,
            "stopped_answering",
            "{cases}: {reports:?}"
        );
        assert!(exited, "{cases}: the worker process exited");
        if let Some(next) = reports.get(1) {
            assert_eq!(fate(next), (None, "", "not_reached"), "{cases}");
        }
        let first = cases.split(',').next().unwrap();
        assert!(
            stderr.contains(&format!("stopped answering after case `{first}`")),
            "{stderr}"
        );
    }
}

/// Over RabbitMQ, the same report: what a worker reading the queue did with each case;
/// the one that kills it ends the run with exit 1 and the worker's process.
#[tokio::test(flavor = "multi_thread")]
async fn the_cases_reach_a_celery_worker_over_rabbitmq() {
    let dir = tempfile::tempdir().unwrap();
    let rabbit_dir = dir.path().join("rabbitmq");
    std::fs::create_dir(&rabbit_dir).unwrap();
    let rabbit = rabbitmq(&rabbit_dir);
    let s = sink(None).await;
    let (_redis, results) = redis(dir.path());
    let mut worker = worker(&rabbit.url.replace("%2f", "/"), &results, s.smtp);
    let url = rabbit.url.clone();
    let (code, cases, stderr) = tokio::task::spawn_blocking(move || {
        let cases = "unknown-task,expired,bad-json,no-task-header,no-content-type,no-id";
        poison(&["produce", "--amqp", &url], &results, cases, "10s")
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{stderr}");
    let fates: Vec<_> = cases.iter().map(fate).collect();
    assert_eq!(
        fates,
        [
            (
                Some("FAILURE"),
                "NotRegistered: mailtest.robustness.no_such_task",
                "answered"
            ),
            (Some("REVOKED"), "TaskRevokedError: expired", "answered"),
            (None, "", "answered"),
            (None, "", "answered"),
            // Unlike kombu's Kafka transport, its AMQP one takes a task without a content
            // type (and drops it); a task without an id still kills the worker.
            (None, "", "answered"),
            (None, "", "stopped_answering"),
        ]
    );
    assert!(exits_within(&mut worker, Duration::from_secs(10)));
}

/// A case that is no case, one of Kafka's alone sent to RabbitMQ, or types with no task
/// to make the cases from, are refused before anything is sent (exit 2).
#[test]
fn unknown_cases_are_refused_with_the_list_of_cases() {
    let run = |args: &[&str]| {
        mailtest()
            .args(["produce", "--catalog"])
            .arg(catalog_dir())
            .args(["--celery-results", "redis://127.0.0.1:1/0"])
            .args(args)
            .run()
    };
    run(&["-b", "127.0.0.1:1", "--poison=no-id,nope"]).fails_with(
        2,
        "`nope` is no robustness case; the cases: all, unknown-task, wrong-arity",
    );
    run(&[
        "--amqp",
        "amqp://127.0.0.1:1/%2f",
        "--poison=no-delivery-tag",
    ])
    .fails_with(2, "`no-delivery-tag` is a case of Kafka only");
}
