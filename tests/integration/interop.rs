//! Interop with Kafka software we did not write: Debian's kcat against the embedded broker,
//! the tansu broker with Python's confluent-kafka as the outside client, and aiokafka (the
//! client the services we test use) reading what `mailtest produce` writes.

use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{broker, json_lines, mailtest, root, tool};

fn fixture_lines() -> Vec<String> {
    let out = mailtest().args(["produce", "--dry-run", "--fixtures"]).ok();
    out.lines().map(str::to_owned).collect()
}

#[test]
fn kcat_produces_and_mailtest_consumes() {
    let broker = broker();
    let b = broker.bootstrap();
    let lines = fixture_lines();
    let mut input = String::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap();
        input.push_str(&format!(
            "{}\t{line}\n",
            v["recipient"]["email"].as_str().unwrap()
        ));
    }
    let mut kcat = Command::new(tool("kcat"))
        .args([
            "-P",
            "-b",
            b,
            "-t",
            "email-events",
            "-K",
            "\t",
            "-H",
            "source=kcat",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    kcat.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(kcat.wait().unwrap().success());
    let out = mailtest()
        .args([
            "-q",
            "consume",
            "-b",
            b,
            "-t",
            "email-events",
            "-e",
            "--format",
            "json",
        ])
        .ok();
    let records = json_lines(&out);
    assert_eq!(records.len(), lines.len());
    for r in &records {
        assert_eq!(r["headers"]["source"], "kcat");
        assert_eq!(r["key"], r["payload"]["recipient"]["email"]);
        assert!(r.get("schema_errors").is_none(), "{r}");
    }
}

#[test]
fn mailtest_produces_and_kcat_consumes() {
    let broker = broker();
    let b = broker.bootstrap();
    mailtest()
        .args(["-q", "produce", "-b", b, "--fixtures"])
        .ok();
    let out = Command::new(tool("kcat"))
        .args(["-C", "-b", b, "-t", "email-events", "-e", "-q", "-J"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(records.len(), 16);
    let ids: HashSet<String> = records
        .iter()
        .map(|r| {
            let payload: Value = serde_json::from_str(r["payload"].as_str().unwrap()).unwrap();
            assert_eq!(r["key"], payload["recipient"]["email"]);
            let headers = r["headers"].as_array().unwrap();
            let pos = headers.iter().position(|h| h == "event_type").unwrap();
            assert_eq!(headers[pos + 1], payload["event_type"]);
            payload["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 16);
}

/// A tansu broker on a free loopback port, stopped on drop.
pub struct Tansu {
    child: Child,
    pub addr: String,
}

impl Tansu {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let child = Command::new(tool("tansu"))
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {addr}");
            std::thread::yield_now();
        }
        Self { child, addr }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python_client(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("python3")
        .arg(root().join("tests/interop/kafka_client.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tansu_with_confluent_kafka_both_ways() {
    let tansu = Tansu::start();
    let b = tansu.addr.as_str();
    // mailtest produces, confluent-kafka consumes.
    mailtest()
        .args([
            "-q",
            "produce",
            "-b",
            b,
            "--fixtures",
            "--topic",
            "to-python",
        ])
        .ok();
    let got = json_lines(&python_client(
        &["consume", b, "to-python", "16", "30"],
        None,
    ));
    let expected: HashSet<String> = fixture_lines()
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let ids: HashSet<String> = got
        .iter()
        .map(|r| r["payload"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected);
    assert!(
        got.iter()
            .all(|r| r["headers"]["content-type"] == "application/json")
    );
    // confluent-kafka produces, mailtest consumes (by count: tansu's watermarks are not reliable).
    let events = mailtest()
        .args(["produce", "--dry-run", "-n", "25", "--seed", "9"])
        .ok();
    assert_eq!(
        python_client(&["produce", b, "from-python"], Some(&events)).trim(),
        "25"
    );
    let out = mailtest()
        .args([
            "-q",
            "consume",
            "-b",
            b,
            "-t",
            "from-python",
            "--count",
            "25",
            "--format",
            "json",
        ])
        .ok();
    let records = json_lines(&out);
    assert_eq!(records.len(), 25);
    let sent: Vec<Value> = json_lines(&events);
    let sent_ids: HashSet<_> = sent.iter().map(|e| e["event_id"].clone()).collect();
    assert!(
        records
            .iter()
            .all(|r| sent_ids.contains(&r["payload"]["event_id"])
                && r.get("schema_errors").is_none())
    );
}

#[test]
fn a_fixed_listen_address_is_what_clients_see() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let broker = mailtest::broker::Broker::start(&mailtest::broker::BrokerSettings {
        brokers: 2,
        partitions: 2,
        topics: vec!["email-events".into()],
        listen: Some(listen.parse().unwrap()),
        ..Default::default()
    })
    .unwrap();
    let next = format!("127.0.0.1:{}", port + 1);
    assert_eq!(broker.bootstrap(), format!("{listen},{next}"));
    // kcat, bootstrapping from the fixed address, is told about the fixed addresses only.
    let out = Command::new(tool("kcat"))
        .args(["-L", "-b", &listen])
        .output()
        .unwrap();
    let metadata = String::from_utf8_lossy(&out.stdout);
    assert!(
        metadata.contains(&format!("broker 1 at {listen}")),
        "{metadata}"
    );
    assert!(
        metadata.contains(&format!("broker 2 at {next}")),
        "{metadata}"
    );
    mailtest()
        .args(["-q", "produce", "-b", &listen, "-n", "50"])
        .ok();
    let out = mailtest()
        .args([
            "-q",
            "consume",
            "-b",
            &listen,
            "-e",
            "-t",
            "email-events",
            "--format",
            "raw",
        ])
        .ok();
    assert_eq!(out.lines().count(), 50);
    // A second broker on the same address is refused with a clear error.
    let done = mailtest().args(["broker", "--listen", &listen]).run();
    assert_eq!(done.code, 2, "{}", done.stderr);
    assert!(done.stderr.contains("cannot listen on"), "{}", done.stderr);
}

/// What aiokafka (the client the `FastAPI` services we test use) makes of `mailtest produce`
/// with its defaults: every record decodes (a codec it reads without extra packages), and
/// each key lands on the partition aiokafka's own producer, like the Java client's, would
/// choose, so events of one user stay on one partition whichever side wrote them.
#[test]
fn aiokafka_reads_mailtest_produce_on_its_own_partitions() {
    let broker = mailtest::broker::Broker::start(&mailtest::broker::BrokerSettings {
        brokers: 1,
        partitions: 12,
        topics: vec!["to-aiokafka".to_owned()],
        ..mailtest::broker::BrokerSettings::default()
    })
    .expect("mock cluster starts");
    let b = broker.bootstrap();
    mailtest()
        .args(["-q", "produce", "-b", b, "--topic", "to-aiokafka"])
        .args(["--count", "60", "--seed", "7"])
        .ok();
    let mut child = Command::new("python3")
        .arg(root().join("tests/interop/aiokafka_client.py"))
        .args(["consume", b, "to-aiokafka", "60", "60"])
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "aiokafka failed: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    let records = json_lines(&String::from_utf8_lossy(&std::mem::take(&mut child.stdout)));
    assert_eq!(records.len(), 60);
    let mut keys = HashSet::new();
    for r in &records {
        let key = r["key"].as_str().expect("keyed by recipient");
        assert_eq!(r["payload"]["recipient"]["email"].as_str(), Some(key));
        assert_eq!(r["partition"], r["aiokafka_partition"], "{r}");
        keys.insert(key.to_owned());
    }
    let used: HashSet<_> = records.iter().map(|r| r["partition"].to_string()).collect();
    assert!(
        keys.len() > 20 && used.len() > 6,
        "{} keys on {} partitions",
        keys.len(),
        used.len()
    );
}
