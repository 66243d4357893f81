//! Celery over a real RabbitMQ (Debian's `rabbitmq-server`, on its own node name, ports and
//! folders): tasks published with confirms, queues read without being consumed, the tasks
//! then run by a real Celery 5.7 worker, and publishes the broker refuses counted as failed.

use lapin::ExchangeKind;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
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

/// A catalog folder under `dir` named `name` whose `celery.yaml` is the example's with
/// `edit` applied; its path.
fn catalog_with(dir: &std::path::Path, name: &str, edit: impl Fn(String) -> String) -> String {
    let catalog = dir.join(name);
    std::fs::create_dir(&catalog).unwrap();
    let yaml = std::fs::read_to_string(catalog_dir().join("celery.yaml")).unwrap();
    std::fs::write(catalog.join("celery.yaml"), edit(yaml)).unwrap();
    catalog.display().to_string()
}

/// `produce --amqp URL --output json --catalog CATALOG ARGS`: exit code, report, stderr.
async fn publish(url: &str, catalog: &str, args: &[&str]) -> (i32, Value, String) {
    let base = [
        "produce",
        "--output",
        "json",
        "--amqp",
        url,
        "--catalog",
        catalog,
    ];
    let sent = run(strings(&[&base[..], args].concat())).await;
    let report = serde_json::from_str(&sent.stdout).unwrap_or_default();
    (sent.code, report, sent.stderr)
}

fn counts(report: &Value) -> (Option<u64>, Option<u64>) {
    (report["delivered"].as_u64(), report["failed"].as_u64())
}

/// What a team may have set up, declared as its own tools would: a queue `tasks-full`
/// that refuses publishes past two messages, and a direct exchange `notifications` with
/// the queue `emails` bound under `email.welcome`. The connection, to close at the end.
async fn declare_routes(url: &str) -> lapin::Connection {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let mut full = FieldTable::default();
    full.insert("x-max-length".into(), AMQPValue::LongInt(2));
    full.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    channel
        .queue_declare("tasks-full".into(), durable, full)
        .await
        .unwrap();
    let exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            "notifications".into(),
            ExchangeKind::Direct,
            exchange,
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_declare("emails".into(), durable, FieldTable::default())
        .await
        .unwrap();
    channel
        .queue_bind(
            "emails".into(),
            "notifications".into(),
            "email.welcome".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    connection
}

/// Routing as the team set it up: tasks go to the exchange and routing key `celery.yaml`
/// names and reach the queue bound there. What the broker will not take is a failure,
/// never counted as sent, with its reason, and exit 1: a nack from a full queue
/// (`x-overflow: reject-publish`, declared by someone else and left as it is), a routing
/// key no binding matches, an exchange that does not exist. Reading a queue that does not
/// exist is exit 1 with RabbitMQ's reason.
#[tokio::test(flavor = "multi_thread")]
async fn tasks_follow_the_teams_routing_and_refused_publishes_are_failures() {
    let dir = tempfile::tempdir().unwrap();
    let rabbit_dir = dir.path().join("rabbitmq");
    std::fs::create_dir(&rabbit_dir).unwrap();
    let rabbit = rabbitmq(&rabbit_dir);
    let url = rabbit.url.as_str();
    let connection = declare_routes(url).await;
    let routed = catalog_with(dir.path(), "routed", |y| {
        y.replace("queue: celery", "queue: emails\nexchange: notifications")
            .replace(
                "task: app.tasks.send_welcome_email_task",
                "task: app.tasks.send_welcome_email_task\n    routing_key: email.welcome",
            )
    });
    let (code, report, stderr) = publish(url, &routed, &["--type", "welcome", "-n", "2"]).await;
    assert_eq!((code, counts(&report)), (0, (Some(2), Some(0))), "{stderr}");
    let read = run(strings(&[
        "consume", "--amqp", url, "--queue", "emails", "--format", "json",
    ]))
    .await;
    let tasks = json_lines(&read.stdout);
    assert_eq!(tasks.len(), 2, "{}", read.stderr);
    assert_eq!(
        tasks[0]["payload"]["task"],
        "app.tasks.send_welcome_email_task"
    );
    let (code, report, stderr) =
        publish(url, &routed, &["--type", "order_confirmation", "-n", "1"]).await;
    assert_eq!((code, counts(&report)), (1, (Some(0), Some(1))), "{stderr}");
    assert!(
        stderr.contains("exchange `notifications` routed it to no queue (routing key `emails`)"),
        "{stderr}"
    );

    let no_exchange = catalog_with(dir.path(), "no-exchange", |y| {
        y.replace("queue: celery", "queue: celery\nexchange: nope")
    });
    let (code, _, stderr) = publish(url, &no_exchange, &["-n", "1"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("RabbitMQ refused publishing to exchange `nope`")
            && stderr.contains("NOT_FOUND"),
        "{stderr}"
    );

    let full = catalog_with(dir.path(), "full", |y| {
        y.replace("queue: celery", "queue: tasks-full")
    });
    let (code, report, stderr) = publish(url, &full, &["--type", "welcome", "-n", "5"]).await;
    assert_eq!((code, counts(&report)), (1, (Some(2), Some(3))), "{stderr}");
    assert!(stderr.contains("the broker refused it (nack)"), "{stderr}");

    let missing = run(strings(&["consume", "--amqp", url, "--queue", "nope"])).await;
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
