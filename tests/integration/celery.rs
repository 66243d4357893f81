//! Celery: a real Celery 5.7 worker (the reference app in `examples/celery`, from the
//! virtual environment `scripts/setup.sh` makes) runs the tasks `mailtest produce` sends
//! over the embedded Kafka broker (kombu's `confluentkafka://` transport) and over a real
//! RabbitMQ (Debian's `rabbitmq-server`), sends its mail to the sink, and leaves its
//! results in a real Redis (Debian's `redis-server`), which `produce --celery-results`
//! reads. Each server runs on its own loopback ports and folders and is stopped by PID.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use mailparse::MailHeaderMap;
use mailtest::broker::{Broker, BrokerSettings};
use mailtest::store::Query;
use serde_json::Value;

use crate::api::sink;
use crate::util::{mailtest, root, signal};

pub(crate) fn catalog_dir() -> PathBuf {
    root().join("examples/catalogs/celery")
}

/// A process of the test's own, stopped by its PID (TERM, then waited for).
pub(crate) struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        signal(self.0.id(), "TERM", false);
        let _ = self.0.wait();
    }
}

/// Starts `cmd` and reads its output (`stderr` or `stdout`) until a line has `ready`; the
/// rest of the output is drained so the process never blocks on it.
pub(crate) fn start_until(mut cmd: Command, from_stderr: bool, ready: &str) -> Server {
    let (out, err) = if from_stderr {
        (Stdio::null(), Stdio::piped())
    } else {
        (Stdio::piped(), Stdio::null())
    };
    let mut child = cmd
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the server starts");
    let pipe: Box<dyn std::io::Read + Send> = if from_stderr {
        Box::new(child.stderr.take().unwrap())
    } else {
        Box::new(child.stdout.take().unwrap())
    };
    let mut lines = BufReader::new(pipe).lines();
    let up = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains(ready));
    assert!(up, "never said `{ready}`");
    std::thread::spawn(move || lines.for_each(drop));
    Server(child)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Redis on a free loopback port, nothing kept on disk.
pub(crate) fn redis(dir: &std::path::Path) -> (Server, String) {
    let port = free_port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir);
    let server = start_until(cmd, false, "Ready to accept connections");
    (server, format!("redis://127.0.0.1:{port}/0"))
}

/// RabbitMQ on free loopback ports (AMQP, distribution, its own epmd), with its node name,
/// data and logs under `dir`; its AMQP URL. The server runs as Debian's `rabbitmq` user,
/// so `dir` is handed to it.
pub(crate) struct Rabbit {
    server: Option<Server>,
    env: Vec<(String, String)>,
    epmd: u16,
    pub url: String,
}

pub(crate) fn rabbitmq(dir: &std::path::Path) -> Rabbit {
    let (amqp, dist, epmd) = (free_port(), free_port(), free_port());
    std::fs::write(dir.join("enabled_plugins"), "[].").unwrap();
    let at = |name: &str| dir.join(name).display().to_string();
    let env: Vec<(String, String)> = [
        ("HOME", at("")),
        ("RABBITMQ_NODENAME", format!("mt{amqp}@localhost")),
        ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
        ("RABBITMQ_NODE_PORT", amqp.to_string()),
        ("RABBITMQ_DIST_PORT", dist.to_string()),
        ("ERL_EPMD_PORT", epmd.to_string()),
        ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
        ("RABBITMQ_MNESIA_BASE", at("mnesia")),
        ("RABBITMQ_LOG_BASE", at("log")),
        ("RABBITMQ_LOGS", "-".into()),
        ("RABBITMQ_ENABLED_PLUGINS_FILE", at("enabled_plugins")),
        ("RABBITMQ_PID_FILE", at("pid")),
        ("RABBITMQ_CONFIG_FILE", at("rabbitmq")),
        ("RABBITMQ_ADVANCED_CONFIG_FILE", at("advanced.config")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let owned = Command::new("chown")
        .args(["-R", "rabbitmq:rabbitmq"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(owned.success(), "rabbitmq's folder handed over");
    let mut cmd = Command::new("rabbitmq-server");
    cmd.envs(env.iter().cloned());
    let server = start_until(cmd, false, "Server startup complete");
    Rabbit {
        server: Some(server),
        env,
        epmd,
        url: format!("amqp://guest:guest@127.0.0.1:{amqp}/%2f"),
    }
}

impl Drop for Rabbit {
    /// `rabbitmqctl stop` (with the node's own environment, or it would start a second
    /// epmd on every interface) waits until the node is down; then its epmd goes too.
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .envs(self.env.iter().cloned())
            .arg("stop")
            .status();
        drop(self.server.take());
        let _ = Command::new("epmd")
            .args(["-port", &self.epmd.to_string(), "-kill"])
            .status();
    }
}

/// The reference app's worker on `broker`, results to `results`, mail to `smtp`.
pub(crate) fn worker(broker: &str, results: &str, smtp: std::net::SocketAddr) -> Server {
    let celery = root().join("target/tools/celery-venv/bin/celery");
    let mut cmd = Command::new(celery);
    cmd.current_dir(root().join("examples/celery"))
        .args([
            "-A",
            "tasks",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
        ])
        .args([
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ])
        .env("CELERY_BROKER_URL", broker)
        .env("CELERY_RESULT_BACKEND", results)
        .env("MAIL_SMTP", smtp.to_string());
    start_until(cmd, true, "ready.")
}

pub(crate) fn kafka_url(b: &Broker) -> String {
    format!("confluentkafka://{}", b.bootstrap())
}

pub(crate) fn celery_broker() -> Broker {
    let catalog = mailtest::catalog::Catalog::load(Some(&catalog_dir())).unwrap();
    Broker::start(&BrokerSettings {
        brokers: 1,
        partitions: 1,
        topics: catalog.topics(),
        ..BrokerSettings::default()
    })
    .unwrap()
}

fn produce(broker: &str, results: &str, args: &[&str]) -> (i32, Value, String) {
    let run = mailtest()
        .args(["produce", "-b", broker, "--output", "json", "--catalog"])
        .arg(catalog_dir())
        .args(["--celery-results", results])
        .args(args)
        .run();
    let report = serde_json::from_str(&run.stdout).unwrap_or_default();
    (run.code, report, run.stderr)
}

/// Tasks sent by mailtest are run by a real worker: every one succeeds, its mail is in the
/// sink with the task's id, and produce reports the states it read from Redis.
#[tokio::test(flavor = "multi_thread")]
async fn a_celery_worker_runs_the_tasks_mailtest_sends_over_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let b = celery_broker();
    let s = sink(None).await;
    let (_redis, results) = redis(dir.path());
    let _worker = worker(&kafka_url(&b), &results, s.smtp);
    let (code, report, stderr) = tokio::task::spawn_blocking({
        let (b, r) = (b.bootstrap().to_owned(), results.clone());
        move || {
            let args = [
                "--type",
                "welcome",
                "--type",
                "order_confirmation",
                "--count",
                "4",
            ];
            produce(&b, &r, &[&args[..], &["--results-timeout", "20s"]].concat())
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report["tasks"]["states"],
        serde_json::json!({"SUCCESS": 4}),
        "{report}"
    );
    let mail = s
        .store
        .wait(&Query::default(), 4, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(mail.len(), 4);
    let mut subjects: Vec<String> = mail
        .iter()
        .map(|m| m.subject.clone().unwrap_or_default())
        .collect();
    subjects.sort();
    assert!(
        subjects[0].starts_with("Order ORD-") && subjects[3].starts_with("Welcome, "),
        "{subjects:?}"
    );
    for m in &mail {
        let raw = s.store.raw(m.id).unwrap();
        let (headers, _) = mailparse::parse_headers(&raw).unwrap();
        let id = headers.get_first_value("X-Celery-Task-Id").unwrap();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "the task id is the event's: {id}"
        );
    }
    // verify: the mail, and the task states beside it (every task succeeded, each sent
    // exactly one email).
    let spec = "timeout: 10s\nexpect:\n- name: welcome mail\n  match: {subject: {contains: Welcome}}\n  count: 2\n\
                celery: {count: 4, one_mail_each: true}\n";
    let (code, report) = verify(&dir, spec, s.http, &results).await;
    assert_eq!(code, 0, "{report}");
    let tasks = &report["verdicts"][1];
    assert_eq!(
        (tasks["name"].as_str(), tasks["passed"].as_bool()),
        (Some("celery tasks"), Some(true))
    );
}

/// `mailtest verify` with the `celery:` states: its exit code and JSON report.
async fn verify(
    dir: &tempfile::TempDir,
    spec: &str,
    http: std::net::SocketAddr,
    results: &str,
) -> (i32, Value) {
    let file = dir.path().join("expect.yaml");
    std::fs::write(&file, spec).unwrap();
    let results = results.to_owned();
    let run = tokio::task::spawn_blocking(move || {
        mailtest()
            .args([
                "verify",
                "--output",
                "json",
                "--sink",
                &format!("http://{http}"),
            ])
            .args(["--celery-results", &results])
            .arg(&file)
            .run()
    })
    .await
    .unwrap();
    (
        run.code,
        serde_json::from_str(&run.stdout).unwrap_or_default(),
    )
}

/// A task that raises is a FAILURE with the worker's error; with the worker gone, tasks
/// stay PENDING: produce says so and exits 1 once its wait is over.
#[tokio::test(flavor = "multi_thread")]
async fn failed_and_unrun_tasks_are_reported_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let b = celery_broker();
    let s = sink(None).await;
    let (_redis, results) = redis(dir.path());
    let event = dir.path().join("reset.json");
    let mut value: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/events/password_reset/default.json"))
            .unwrap(),
    )
    .unwrap();
    value["recipient"]["email"] = "fail@example.com".into();
    std::fs::write(&event, value.to_string()).unwrap();
    let worker = worker(&kafka_url(&b), &results, s.smtp);
    let path = event.display().to_string();
    let run = |args: Vec<String>| {
        let (b, r) = (b.bootstrap().to_owned(), results.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            produce(&b, &r, &args)
        })
    };
    let (code, report, stderr) = run(vec![path.clone(), "--results-timeout".into(), "20s".into()])
        .await
        .unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["tasks"]["states"], serde_json::json!({"FAILURE": 1}));
    assert!(
        stderr.contains("FAILURE: ValueError: no account for fail@example.com"),
        "{stderr}"
    );
    let (code, report) = verify(&dir, "celery: {count: 1}\n", s.http, &results).await;
    assert_eq!(code, 1, "{report}");
    let reasons = report["verdicts"][0]["reasons"].to_string();
    assert!(
        reasons.contains("FAILURE: ValueError: no account for fail@example.com"),
        "{reasons}"
    );
    let file = dir.path().join("expect.yaml");
    mailtest()
        .args(["verify", "--sink", &format!("http://{}", s.http)])
        .arg(&file)
        .run()
        .fails_with(2, "`celery` needs Celery's result backend");
    drop(worker);
    let args = [
        "--type",
        "welcome",
        "--count",
        "2",
        "--results-timeout",
        "2s",
    ];
    let (code, report, stderr) = run(args.iter().map(|a| (*a).to_owned()).collect())
        .await
        .unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["tasks"]["states"], serde_json::json!({"PENDING": 2}));
    assert!(stderr.contains("PENDING: no result stored"), "{stderr}");
}

/// A `celery.yaml` that names a type the catalog lacks or a field its type lacks is refused
/// with the file and each mistake, before anything is sent; so is waiting for results
/// without Celery tasks.
#[test]
fn mistakes_in_celery_yaml_are_named_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("celery.yaml"),
        "tasks:\n  welcom:\n    task: a.b\n  welcome:\n    task: a.c\n    args: [data.user_name]\n",
    )
    .unwrap();
    let dry_run = || {
        mailtest()
            .args(["produce", "--dry-run", "--catalog"])
            .arg(dir.path())
            .run()
    };
    dry_run().fails_with(
        2,
        "celery.yaml: `welcom` is no event type of the catalog; welcome: `data.user_name`",
    );
    std::fs::write(
        dir.path().join("celery.yaml"),
        "tasks:\n  welcome: {tsk: a.b}\n",
    )
    .unwrap();
    dry_run().fails_with(2, "celery.yaml");
    mailtest()
        .args([
            "produce",
            "-b",
            "127.0.0.1:1",
            "--celery-results",
            "redis://127.0.0.1:1/0",
        ])
        .run()
        .fails_with(2, "the catalog makes no Celery tasks");
}

/// `consume` shows a Celery task decoded (name, id, arguments from the base64 body), not
/// kombu's envelope with schema errors, and `--task` keeps the tasks of one name.
#[test]
fn consume_decodes_tasks_and_filters_them_by_name() {
    let b = celery_broker();
    let produce = mailtest()
        .args(["produce", "-b", b.bootstrap(), "--catalog"])
        .arg(catalog_dir())
        .args([
            "--type",
            "welcome",
            "--type",
            "order_confirmation",
            "--count",
            "4",
        ])
        .run();
    assert_eq!(produce.code, 0, "{}", produce.stderr);
    let consume = |extra: &[&str]| {
        let out = mailtest()
            .args([
                "consume",
                "-b",
                b.bootstrap(),
                "--exit-at-end",
                "--from",
                "beginning",
            ])
            .args(["--format", "json", "--catalog"])
            .arg(catalog_dir())
            .args(extra)
            .ok();
        crate::util::json_lines(&out)
    };
    let all = consume(&[]);
    assert_eq!(all.len(), 4);
    for record in &all {
        let task = &record["payload"];
        assert_eq!(record["topic"], "celery");
        assert!(
            task["task"]
                .as_str()
                .unwrap()
                .starts_with("app.tasks.send_"),
            "{record}"
        );
        assert!(
            task["args"][0].as_str().unwrap().contains('@'),
            "the recipient: {record}"
        );
        assert!(
            record
                .get("errors")
                .is_none_or(|e| e.as_array().is_some_and(Vec::is_empty))
        );
    }
    let welcome = consume(&["--task", "app.tasks.send_welcome_email_task"]);
    assert_eq!(welcome.len(), 2);
    assert!(
        welcome
            .iter()
            .all(|r| r["payload"]["kwargs"]["dashboard_link"].is_string())
    );
    assert!(
        consume(&["--type", "welcome"]).is_empty(),
        "a task is no event"
    );
}

/// An unreachable result backend is exit 3, named, before any task is sent (produce) or
/// any verdict is given (verify).
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_result_backend_is_exit_3() {
    let b = celery_broker();
    let s = sink(None).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("expect.yaml");
    std::fs::write(&spec, "timeout: 2s\ncelery: {count: 1}\n").unwrap();
    let (bootstrap, http) = (b.bootstrap().to_owned(), s.http);
    tokio::task::spawn_blocking(move || {
        let (code, report, stderr) =
            produce(&bootstrap, "redis://127.0.0.1:1/0", &["--timeout", "3s"]);
        assert_eq!(code, 3, "{stderr}");
        assert!(report.is_null(), "nothing sent: {report}");
        assert!(
            stderr.contains("cannot reach the Celery result backend at redis://127.0.0.1:1/0"),
            "{stderr}"
        );
        mailtest()
            .args(["verify", "--sink", &format!("http://{http}")])
            .args(["--celery-results", "redis://127.0.0.1:1/0"])
            .arg(&spec)
            .run()
            .fails_with(
                3,
                "cannot reach the Celery result backend at redis://127.0.0.1:1/0",
            );
    })
    .await
    .unwrap();
    let consumed = mailtest()
        .args([
            "consume",
            "-b",
            b.bootstrap(),
            "--exit-at-end",
            "--format",
            "raw",
        ])
        .args(["--topic", "celery"])
        .ok();
    assert!(consumed.is_empty(), "no task was sent: {consumed}");
}
