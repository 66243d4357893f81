//! Kafka faults played by the embedded mock cluster: produce rides out request errors and
//! a short outage exactly once and reports what a long one kept back; consume and dispatch
//! reconnect after the broker comes back. An outage lasts a set time: that is the fault.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailtest::broker::{Broker, Fault};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaApiKey;
use rdkafka::types::RDKafkaRespErr::{
    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
};
use serde_json::Value;

use crate::util::{broker, json_lines, mailtest};

const TOPIC: &str = "email-events";
const OUTAGE: Duration = Duration::from_secs(2);

/// How many records the topic holds (sum of the partitions' high watermarks).
fn on_topic(bootstrap: &str) -> i64 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    (0..3)
        .map(|p| {
            consumer
                .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum()
}

/// Waits (bounded) until the topic holds at least `n` records.
fn wait_on_topic(bootstrap: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while on_topic(bootstrap) < n {
        assert!(
            Instant::now() < deadline,
            "the topic never reached {n} records"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn outage(broker: &Broker) {
    broker.inject(Fault::Down(1)).unwrap();
    std::thread::sleep(OUTAGE);
    broker.inject(Fault::Up(1)).unwrap();
}

/// Every event id on the topic, read from the beginning; panics on a duplicate.
fn ids_on_topic(bootstrap: &str) -> HashSet<String> {
    let out = mailtest()
        .args([
            "-q", "consume", "-b", bootstrap, "-t", TOPIC, "-e", "--format", "json",
        ])
        .ok();
    let mut ids = HashSet::new();
    for record in json_lines(&out) {
        let id = record["payload"]["event_id"].as_str().unwrap().to_owned();
        assert!(ids.insert(id.clone()), "{id} is on the topic twice");
    }
    ids
}

fn spawn_produce(bootstrap: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .args(["-q", "produce", "-b", bootstrap, "--output", "json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn produce_rides_out_request_errors_and_a_short_outage_exactly_once() {
    let broker = broker();
    let b = broker.bootstrap();
    let errors = vec![
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
    ];
    broker
        .inject(Fault::RequestErrors {
            api: RDKafkaApiKey::Produce,
            errors,
        })
        .unwrap();
    let summary = mailtest()
        .args(["produce", "-b", b, "--count", "100", "--output", "json"])
        .ok();
    let summary: Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(
        (summary["delivered"].clone(), summary["failed"].clone()),
        (100.into(), 0.into())
    );

    // The broker goes away for a while once a quarter of a paced run is on the topic.
    let produce = spawn_produce(b, &["--count", "300", "--rate", "100"]);
    wait_on_topic(b, 100 + 75);
    outage(&broker);
    let out = produce.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["delivered"], 300);
    assert_eq!(
        ids_on_topic(b).len(),
        400,
        "every event once (idempotent producer)"
    );
}

#[test]
fn produce_reports_what_a_long_outage_kept_back() {
    let broker = broker();
    let b = broker.bootstrap();
    let produce = spawn_produce(
        b,
        &[
            "--count",
            "200",
            "--rate",
            "100",
            "-X",
            "message.timeout.ms=3000",
        ],
    );
    wait_on_topic(b, 30);
    broker.inject(Fault::Down(1)).unwrap();
    let out = produce.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let delivered = summary["delivered"].as_u64().unwrap();
    let missing = summary["failed"].as_u64().unwrap() + summary["undelivered"].as_u64().unwrap();
    assert_eq!(delivered + missing, 200, "{summary}");
    assert!(missing > 0 && stderr.contains("timed out"), "{stderr}");
    // What it calls delivered is what the broker has.
    broker.inject(Fault::Up(1)).unwrap();
    assert_eq!(ids_on_topic(b).len() as u64, delivered);
}

#[test]
fn consume_picks_up_again_after_an_outage() {
    let broker = broker();
    let b = broker.bootstrap();
    let mut consume = Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .args(["-q", "consume", "-b", b, "-t", TOPIC, "--from", "beginning"])
        .args(["--count", "40", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(consume.stdout.take().unwrap()).lines();
    mailtest()
        .args(["-q", "produce", "-b", b, "--count", "20", "--seed", "1"])
        .ok();
    let first: Vec<String> = lines.by_ref().take(20).map(Result::unwrap).collect();
    assert_eq!(first.len(), 20);
    outage(&broker);
    mailtest()
        .args(["-q", "produce", "-b", b, "--count", "20", "--seed", "2"])
        .ok();
    let rest: Vec<String> = lines.by_ref().take(20).map(Result::unwrap).collect();
    assert_eq!(rest.len(), 20, "the consumer got nothing after the outage");
    assert_eq!(consume.wait().unwrap().code(), Some(0));
    let ids: HashSet<String> = first
        .iter()
        .chain(&rest)
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["payload"]["event_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn dispatch_picks_up_again_after_an_outage() {
    use crate::dispatch::{Dispatch, captured, once_each, produce};
    let broker = crate::dispatch::broker();
    let b = broker.bootstrap().to_owned();
    let s = crate::api::sink(None).await;
    let state = tempfile::tempdir().unwrap();
    let d = Dispatch::start(&b, &s, state.path(), &[]);
    d.metrics();
    produce(&b, &["--count", "10", "--seed", "1"]);
    captured(&s.store, 10).await;
    tokio::task::block_in_place(|| outage(&broker));
    produce(&b, &["--count", "10", "--seed", "2"]);
    let ids = captured(&s.store, 20).await;
    assert_eq!(ids.len(), 20);
    once_each(&ids);
}
