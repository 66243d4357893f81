//! Celery over a real RabbitMQ (Debian's `rabbitmq-server`, on its own node name, ports and
//! folders): tasks published with confirms, queues read without being consumed, the tasks
//! then run by a real Celery 5.7 worker, and publishes the broker refuses counted as failed.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable};
use mailtest::store::Query;
use serde_json::Value;

use crate::api::sink;
use crate::celery::{catalog_dir, rabbitmq, redis, worker};
use crate::util::{json_lines, mailtest};

/// `mailtest ARGS` off the async runtime.
async fn run(args: Vec<String>) -> crate::util::Done {
    tokio::task::spawn_blocking(move || mailtest().args(&args).run())
        .await
        .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Tasks published with confirms wait in the `celery` queue; `consume --amqp` shows them
/// decoded, twice over, since reading takes none away; a worker started then runs every one
/// and their mail arrives; with the worker up, produce reads their results from Redis. An
/// unreachable RabbitMQ is exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn tasks_wait_in_rabbitmq_are_read_without_consuming_and_then_run() {
    let dir = tempfile::tempdir().unwrap();
    let rabbit_dir = dir.path().join("rabbitmq");
    std::fs::create_dir(&rabbit_dir).unwrap();
    let rabbit = rabbitmq(&rabbit_dir);
    let s = sink(None).await;
    let (_redis, results) = redis(dir.path());
    let catalog = catalog_dir().display().to_string();
    let url = rabbit.url.clone();
    let produce = |extra: &[&str]| {
        let base = [
            "produce",
            "--output",
            "json",
            "--amqp",
            &url,
            "--catalog",
            &catalog,
        ];
        strings(&[&base[..], extra].concat())
    };
    let sent = run(produce(&["--count", "6"])).await;
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let report: Value = serde_json::from_str(&sent.stdout).unwrap();
    assert_eq!(report["delivered"], 6, "confirmed by the broker: {report}");
    let consume = |extra: &[&str]| {
        let base = [
            "consume",
            "--amqp",
            &url,
            "--format",
            "json",
            "--catalog",
            &catalog,
        ];
        strings(&[&base[..], extra].concat())
    };
    for _ in 0..2 {
        let read = run(consume(&[])).await;
        assert_eq!(read.code, 0, "{}", read.stderr);
        let records = json_lines(&read.stdout);
        assert_eq!(records.len(), 6, "all six, every time: {}", read.stdout);
        for r in &records {
            assert_eq!(r["topic"], "celery");
            let task = &r["payload"];
            assert!(
                task["task"]
                    .as_str()
                    .unwrap()
                    .starts_with("app.tasks.send_"),
                "{r}"
            );
            assert!(task["args"][0].as_str().unwrap().contains('@'), "{r}");
        }
        assert_eq!(records[0]["offset"], 0);
    }
    let welcome = run(consume(&[
        "--task",
        "app.tasks.send_welcome_email_task",
        "-n",
        "1",
    ]))
    .await;
    assert_eq!(json_lines(&welcome.stdout).len(), 1, "{}", welcome.stderr);
    let _worker = worker(&rabbit.url.replace("%2f", "/"), &results, s.smtp);
    let mail = s
        .store
        .wait(&Query::default(), 6, std::time::Duration::from_secs(20))
        .await;
    assert_eq!(mail.len(), 6, "the tasks read were still there to run");
    let watched = run(produce(&[
        "--count",
        "4",
        "--celery-results",
        &results,
        "--results-timeout",
        "20s",
    ]))
    .await;
    assert_eq!(watched.code, 0, "{}", watched.stderr);
    let report: Value = serde_json::from_str(&watched.stdout).unwrap();
    assert_eq!(report["tasks"]["states"], serde_json::json!({"SUCCESS": 4}));
    drop(rabbit);
    mailtest()
        .args(["produce", "--amqp", "amqp://guest:guest@127.0.0.1:1/%2f"])
        .args(["--timeout", "3s", "--catalog", &catalog])
        .run()
        .fails_with(
            3,
            "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/%2f",
        );
}

/// A queue that refuses publishes once full (`x-overflow: reject-publish`, as a team may
/// set one up): the broker's nacks are counted as failed, never as sent, and the run
/// exits 1. The queue, declared by someone else with its own arguments, is left as it is.
/// Reading a queue that does not exist is exit 1 with RabbitMQ's reason.
#[tokio::test(flavor = "multi_thread")]
async fn publishes_the_broker_refuses_are_counted_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let rabbit_dir = dir.path().join("rabbitmq");
    std::fs::create_dir(&rabbit_dir).unwrap();
    let rabbit = rabbitmq(&rabbit_dir);
    let connection =
        lapin::Connection::connect(&rabbit.url, lapin::ConnectionProperties::default())
            .await
            .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(2));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare("tasks-full".into(), durable, args)
        .await
        .unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir(&catalog).unwrap();
    let yaml = std::fs::read_to_string(catalog_dir().join("celery.yaml")).unwrap();
    std::fs::write(
        catalog.join("celery.yaml"),
        yaml.replace("queue: celery", "queue: tasks-full"),
    )
    .unwrap();
    let args = [
        "produce",
        "--output",
        "json",
        "--amqp",
        &rabbit.url,
        "--type",
        "welcome",
        "--count",
        "5",
        "--catalog",
    ];
    let mut args = strings(&args);
    args.push(catalog.display().to_string());
    let sent = run(args).await;
    assert_eq!(sent.code, 1, "{}", sent.stderr);
    let report: Value = serde_json::from_str(&sent.stdout).unwrap();
    assert_eq!(
        (report["delivered"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(3)),
        "{report}"
    );
    assert!(
        sent.stderr.contains("the broker refused it (nack)"),
        "{}",
        sent.stderr
    );
    let missing = run(strings(&[
        "consume",
        "--amqp",
        &rabbit.url,
        "--queue",
        "nope",
    ]))
    .await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("RabbitMQ refused reading queue `nope`")
            && missing.stderr.contains("NOT_FOUND"),
        "{}",
        missing.stderr
    );
    let _ = connection.close(200, "done".into()).await;
}
