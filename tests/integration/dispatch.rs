//! `mailtest dispatch` as a separate process between the embedded broker and an in-process
//! sink: every event becomes its rendered email once, temporary failures are retried,
//! permanent ones and poison events are dead-lettered, kill -9 loses and repeats nothing,
//! and two processes in a group share the work and hand it over.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mailparse::MailHeaderMap;
use mailtest::broker::{Broker, BrokerSettings};
use mailtest::smtp::faults::FaultSet;
use mailtest::store::{Query, Store};

use crate::api::{Sink, sink};
use crate::util::{GROUP_TIMING, json_lines, mailtest};

/// The embedded broker with the catalog's topics and the dead-letter topic.
pub fn broker() -> Broker {
    let catalog = mailtest::catalog::Catalog::builtin().unwrap();
    let mut topics = catalog.topics();
    topics.push("email-events.dlq".to_owned());
    Broker::start(&BrokerSettings {
        brokers: 1,
        partitions: 3,
        topics,
        // A real broker's default: two processes started together join one generation.
        group_join_delay: Duration::from_secs(3),
        ..BrokerSettings::default()
    })
    .unwrap()
}

/// A running `mailtest dispatch`, killed on drop.
pub struct Dispatch(Child, tempfile::TempDir);

impl Dispatch {
    pub fn start(bootstrap: &str, s: &Sink, state: &Path, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mailtest"))
            .args([
                "dispatch",
                "-b",
                bootstrap,
                "--smtp",
                &s.smtp.to_string(),
                "--http",
                "127.0.0.1:0",
            ])
            .arg("--state")
            .arg(state)
            .arg("--ready-file")
            .arg(dir.path().join("ready"))
            .args(["--retry-base", "10ms"])
            .args(GROUP_TIMING)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self(child, dir)
    }

    /// Its metrics, once its ready file is written.
    pub fn metrics(&self) -> String {
        let ready = self.1.path().join("ready");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "dispatch never became ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(ready).unwrap();
        let addr = text
            .trim()
            .trim_start_matches("MAILTEST_DISPATCH_HTTP=http://");
        crate::util::http_get(addr, "/metrics").1
    }

    fn sent(&self) -> u64 {
        let metrics = self.metrics();
        let line = metrics
            .lines()
            .find(|l| l.starts_with("mailtest_dispatch_sent_total "))
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// SIGTERM, then wait: the graceful stop.
    pub fn stop(mut self) {
        crate::util::signal(self.0.id(), "TERM", false);
        let _ = self.0.wait();
    }
}

impl Dispatch {
    /// SIGTERM, then waits at most `limit` for the process to end; its exit code.
    fn stop_within(&mut self, limit: Duration) -> Option<i32> {
        crate::util::signal(self.0.id(), "TERM", false);
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Dispatch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn produce(bootstrap: &str, args: &[&str]) {
    mailtest()
        .args(["-q", "produce", "-b", bootstrap])
        .args(args)
        .ok();
}

/// Waits for `n` stored messages; how many times each event id was captured.
pub async fn captured(store: &Arc<Store>, n: usize) -> HashMap<String, usize> {
    let found = store
        .wait(&Query::default(), n, Duration::from_secs(90))
        .await;
    assert!(
        found.len() >= n,
        "only {} of {n} emails arrived",
        found.len()
    );
    let mut ids = HashMap::new();
    for s in store.list(&Query::default()) {
        let raw = store.raw(s.id).unwrap();
        let (headers, _) = mailparse::parse_headers(&raw).unwrap();
        let id = headers
            .get_first_value("X-Mailtest-Event-Id")
            .expect("event id header");
        *ids.entry(id).or_default() += 1;
    }
    ids
}

pub fn once_each(ids: &HashMap<String, usize>) {
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_becomes_its_rendered_email_once() {
    let b = broker();
    let s = sink(None).await;
    let state = tempfile::tempdir().unwrap();
    let _d = Dispatch::start(b.bootstrap(), &s, state.path(), &[]);
    produce(b.bootstrap(), &["--fixtures"]);
    let ids = captured(&s.store, 16).await;
    assert_eq!(ids.len(), 16);
    once_each(&ids);
    // Each email is what `render` makes of its event.
    let catalog = mailtest::catalog::Catalog::builtin().unwrap();
    let renderer = mailtest::render::Renderer::new(mailtest::render::Templates::builtin().unwrap());
    for summary in s.store.list(&Query::default()) {
        let raw = s.store.raw(summary.id).unwrap();
        let mail = mailparse::parse_mail(&raw).unwrap();
        let id = mail.headers.get_first_value("X-Mailtest-Event-Id").unwrap();
        let event = catalog
            .types()
            .flat_map(|t| &t.fixtures)
            .map(|f| serde_json::from_str::<mailtest::event::Event>(&f.text).unwrap())
            .find(|e| e.event_id.to_string() == id)
            .unwrap();
        let rendered = renderer.render(&event).unwrap();
        assert_eq!(summary.subject.as_deref(), Some(rendered.subject.as_str()));
        assert_eq!(
            mail.subparts[0].get_body().unwrap().replace("\r\n", "\n"),
            rendered.text
        );
        assert_eq!(
            summary.message_id.as_deref(),
            Some(format!("<{id}@example.com>").as_str())
        );
        assert_eq!(
            summary.envelope.rcpt_to,
            std::slice::from_ref(&event.recipient.email)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_failures_are_retried_until_each_event_is_sent_once() {
    let b = broker();
    let s = sink(None).await;
    let flaky = "seed: 3\nrules:\n- when: {on: DATA, probability: 0.3}\n  action: {reply: '451 4.3.0 Try again later'}\n";
    s.faults.set(FaultSet::parse(flaky).unwrap()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let _d = Dispatch::start(b.bootstrap(), &s, state.path(), &[]);
    produce(b.bootstrap(), &["--count", "120", "--seed", "5"]);
    let ids = captured(&s.store, 120).await;
    assert_eq!(ids.len(), 120, "every event delivered");
    once_each(&ids);
}

/// The dead-letter topic's first `n` records, as `mailtest consume` prints them; read
/// again (bounded) until all `n` are there, as dead-lettering runs beside delivery.
fn dead_letters(bootstrap: &str, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..60 {
        let out = mailtest()
            .args([
                "consume",
                "-b",
                bootstrap,
                "--topic",
                "email-events.dlq",
                "--from",
                "beginning",
                "-e",
            ])
            .args(["--count", &n.to_string(), "--format", "json"])
            .ok();
        let records = json_lines(&out);
        if records.len() >= n {
            return records;
        }
    }
    panic!("fewer than {n} dead letters");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_failure_is_dead_lettered_and_the_rest_delivered() {
    let b = broker();
    let s = sink(None).await;
    let reject = "rules:\n- when: {on: RCPT, address: '^ben\\.okafor@'}\n  action: {reply: '550 5.1.1 No such user'}\n";
    s.faults.set(FaultSet::parse(reject).unwrap()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let _d = Dispatch::start(b.bootstrap(), &s, state.path(), &[]);
    produce(b.bootstrap(), &["--fixtures"]);
    let ids = captured(&s.store, 15).await;
    assert_eq!(ids.len(), 15);
    let dead = dead_letters(b.bootstrap(), 1);
    let headers = &dead[0]["headers"];
    assert_eq!(headers["mailtest-dlq-stage"], "smtp-permanent", "{dead:?}");
    assert!(
        headers["mailtest-dlq-reason"]
            .as_str()
            .unwrap()
            .contains("550"),
        "{dead:?}"
    );
    assert_eq!(
        dead[0]["payload"]["recipient"]["email"],
        "ben.okafor@example.com"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_events_are_dead_lettered_and_the_service_keeps_going() {
    let b = broker();
    let s = sink(None).await;
    // A template that fails for every welcome event.
    let broken = "{{ data.nope }}";
    let templates = crate::render::templates_with(&[
        ("welcome/subject.txt", broken),
        ("welcome/subject.de.txt", broken),
    ]);
    let state = tempfile::tempdir().unwrap();
    let _d = Dispatch::start(
        b.bootstrap(),
        &s,
        state.path(),
        &["--templates", templates.path().to_str().unwrap()],
    );
    let bad = "not json at all\n{\"event_type\": \"newsletter\", \"event_id\": \"0f8fad5b-d9cb-469f-a165-70867728950e\"}\n{\"event_type\": \"welcome\"}\n";
    let kcat = Command::new(crate::util::tool("kcat"))
        .args(["-P", "-b", b.bootstrap(), "-t", "email-events"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    kcat.stdin
        .as_ref()
        .unwrap()
        .write_all(bad.as_bytes())
        .unwrap();
    assert!(kcat.wait_with_output().unwrap().status.success());
    produce(b.bootstrap(), &["--fixtures"]);
    // 16 fixtures, of which the 2 welcome ones fail their template.
    let ids = captured(&s.store, 14).await;
    assert_eq!(ids.len(), 14);
    let dead = dead_letters(b.bootstrap(), 5);
    let stages: Vec<&str> = dead
        .iter()
        .map(|d| d["headers"]["mailtest-dlq-stage"].as_str().unwrap())
        .collect();
    let count = |stage| stages.iter().filter(|s| **s == stage).count();
    assert_eq!(
        (count("parse"), count("schema"), count("template")),
        (1, 2, 2),
        "{stages:?}"
    );
    let template = dead
        .iter()
        .find(|d| d["headers"]["mailtest-dlq-stage"] == "template")
        .unwrap();
    assert!(
        template["headers"]["mailtest-dlq-reason"]
            .as_str()
            .unwrap()
            .contains("undefined variable `data.nope`")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_and_a_restart_lose_nothing_and_repeat_nothing() {
    let b = broker();
    let s = sink(None).await;
    // Slow each delivery a little so the kill lands mid-run.
    s.faults
        .set(FaultSet::parse("rules:\n- when: {on: DATA}\n  action: {delay: 5ms}\n").unwrap())
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    produce(b.bootstrap(), &["--count", "400", "--seed", "9"]);
    for round in 0..3 {
        let d = Dispatch::start(b.bootstrap(), &s, state.path(), &[]);
        let target = 80 * (round + 1);
        let got = s
            .store
            .wait(&Query::default(), target, Duration::from_secs(60))
            .await;
        assert!(got.len() >= target, "round {round}: only {}", got.len());
        drop(d); // kill -9
    }
    let d = Dispatch::start(b.bootstrap(), &s, state.path(), &[]);
    let ids = s
        .store
        .wait(&Query::default(), 400, Duration::from_secs(90))
        .await;
    assert!(ids.len() >= 400);
    let ids = captured_until_unique(&s.store, 400).await;
    assert_eq!(ids.len(), 400, "no event lost");
    // The sink has the last mail a moment before dispatch has its 250 and writes the ledger:
    // the graceful stop lets it finish, so the ledger read below is complete.
    d.stop();
    // SMTP cannot say "already got it": an email the sink took just as the process died
    // is sent again. Every such duplicate must be one the ledger named as in doubt.
    // The ledger brackets each attempt (`? id`, then `id` once accepted): an id marked
    // done is never begun again, however often the process was killed.
    let ledger = std::fs::read_to_string(state.path().join("sent.log")).unwrap();
    let mut done = std::collections::HashSet::new();
    for line in ledger.lines() {
        match line.strip_prefix("? ") {
            Some(id) => assert!(!done.contains(id), "{id} was sent again after it was done"),
            None => {
                done.insert(line);
            }
        }
    }
    let begun = |id: &str| ledger.lines().filter(|l| *l == format!("? {id}")).count();
    for (id, n) in &ids {
        if *n > 1 {
            assert!(begun(id) > 1, "{id} sent {n} times without being in doubt");
        }
    }
    assert!(done.len() >= 400, "every event is marked done");
}

/// Waits until `unique` different events are captured; how often each was.
async fn captured_until_unique(store: &Arc<Store>, unique: usize) -> HashMap<String, usize> {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let ids = captured(store, 0).await;
        if ids.len() >= unique || std::time::Instant::now() > deadline {
            return ids;
        }
        let next = store.len() + 1;
        store
            .wait(&Query::default(), next, Duration::from_secs(5))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_share_the_partitions_and_hand_them_over() {
    let b = broker();
    let s = sink(None).await;
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Dispatch::start(b.bootstrap(), &s, state_a.path(), &[]);
    let b2 = Dispatch::start(b.bootstrap(), &s, state_b.path(), &[]);
    produce(b.bootstrap(), &["--count", "150", "--seed", "11"]);
    let first = captured(&s.store, 150).await;
    assert_eq!(first.len(), 150);
    let (sent_a, sent_b) = (a.sent(), b2.sent());
    assert!(
        sent_a > 0 && sent_b > 0,
        "both worked: {sent_a} and {sent_b}"
    );
    a.stop();
    produce(b.bootstrap(), &["--count", "150", "--seed", "12"]);
    let all = captured(&s.store, 300).await;
    assert_eq!(all.len(), 300, "the survivor took over every partition");
    once_each(&all);
}

/// A service manager's SIGTERM ends the process even when Kafka is gone (librdkafka would
/// wait for the broker forever to commit and leave the group).
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_it_even_with_the_broker_gone() {
    let b = broker();
    let s = sink(None).await;
    let state = tempfile::tempdir().unwrap();
    let mut d = Dispatch::start(b.bootstrap(), &s, state.path(), &[]);
    produce(b.bootstrap(), &["--count", "5", "--seed", "21"]);
    assert_eq!(captured(&s.store, 5).await.len(), 5);
    drop(b);
    let code = d.stop_within(Duration::from_secs(40));
    assert_eq!(code, Some(0), "dispatch did not stop after SIGTERM");
}

/// Emails go out many at a time, but one recipient's events in the order produced, also
/// when some deliveries fail and are retried.
#[tokio::test(flavor = "multi_thread")]
async fn one_recipients_events_stay_in_order() {
    let b = broker();
    let s = sink(None).await;
    s.faults
        .set(FaultSet::parse("rules:\n  - when: {on: DATA, every: 4}\n    action: {reply: \"451 4.3.0 try later\"}\n").unwrap())
        .unwrap();
    let fixture = crate::util::root().join("fixtures/events/welcome/default.json");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let mut lines = String::new();
    let mut alices = Vec::new();
    for i in 0..120 {
        let mut e = base.clone();
        let id = uuid::Uuid::new_v4().to_string();
        e["event_id"] = id.clone().into();
        let to = if i % 2 == 0 {
            "alice@example.com".to_owned()
        } else {
            format!("u{i}@example.com")
        };
        if i % 2 == 0 {
            alices.push(id);
        }
        e["recipient"]["email"] = to.into();
        lines.push_str(&format!("{e}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, lines).unwrap();
    let state = tempfile::tempdir().unwrap();
    let _d = Dispatch::start(b.bootstrap(), &s, state.path(), &[]);
    produce(b.bootstrap(), &[file.to_str().unwrap()]);
    assert_eq!(captured(&s.store, 120).await.len(), 120);
    let query = Query {
        to: Some("alice@example.com".into()),
        ..Query::default()
    };
    let delivered: Vec<String> = s
        .store
        .list(&query)
        .iter()
        .map(|m| {
            let raw = s.store.raw(m.id).unwrap();
            let (headers, _) = mailparse::parse_headers(&raw).unwrap();
            headers.get_first_value("X-Mailtest-Event-Id").unwrap()
        })
        .collect();
    assert_eq!(delivered, alices);
}

/// With Kafka unreachable, `produce --fallback-smtp` mails each event itself, rendered as
/// dispatch would.
#[tokio::test(flavor = "multi_thread")]
async fn produce_falls_back_to_smtp_when_kafka_is_unreachable() {
    let s = sink(None).await;
    let smtp = s.smtp.to_string();
    let done = tokio::task::spawn_blocking(move || {
        mailtest()
            .args([
                "produce",
                "--fixtures",
                "-b",
                "127.0.0.1:1",
                "--timeout",
                "1s",
            ])
            .args(["--fallback-smtp", &smtp])
            .run()
    })
    .await
    .unwrap();
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        done.stderr.contains("cannot reach Kafka"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("sent 16 emails straight to"),
        "{}",
        done.stderr
    );
    let ids = captured(&s.store, 16).await;
    assert_eq!(ids.len(), 16);
    once_each(&ids);
}
