//! Produce and consume against the embedded broker, through the real binary.

use std::collections::{BTreeMap, HashSet};

use mailtest::catalog::Catalog;
use serde_json::Value;

use crate::util::{broker, json_lines, mailtest};

fn consume_json(bootstrap: &str, extra: &[&str]) -> Vec<Value> {
    let out = mailtest()
        .args(["-q", "consume", "-b", bootstrap, "-e", "--format", "json"])
        .args(extra)
        .ok();
    json_lines(&out)
}

#[test]
fn fixtures_round_trip_with_keys_headers_and_payloads() {
    let broker = broker();
    let b = broker.bootstrap();
    mailtest()
        .args(["-q", "produce", "-b", b, "--fixtures"])
        .ok();
    let catalog = Catalog::builtin().unwrap();
    let mut expected: BTreeMap<String, Value> = BTreeMap::new();
    for ty in catalog.types() {
        for f in &ty.fixtures {
            let v: Value = serde_json::from_str(&f.text).unwrap();
            expected.insert(v["event_id"].as_str().unwrap().to_owned(), v);
        }
    }
    let records = consume_json(b, &["-t", "email-events"]);
    assert_eq!(records.len(), expected.len());
    for r in records {
        let payload = &r["payload"];
        let id = payload["event_id"].as_str().unwrap();
        assert_eq!(payload, &expected[id], "payload changed in transit");
        assert_eq!(r["key"], payload["recipient"]["email"]);
        assert_eq!(r["headers"]["event_type"], payload["event_type"]);
        assert_eq!(r["headers"]["event_id"], payload["event_id"]);
        assert_eq!(r["headers"]["schema_version"], "1");
        assert_eq!(r["headers"]["content-type"], "application/json");
        assert!(r.get("schema_errors").is_none());
    }
}

#[test]
fn ten_thousand_generated_events_all_arrive_once() {
    let broker = broker();
    let b = broker.bootstrap();
    let summary = mailtest()
        .args([
            "produce", "-b", b, "--count", "10000", "--seed", "3", "--output", "json",
        ])
        .ok();
    let summary: Value = serde_json::from_str(summary.trim()).unwrap();
    assert_eq!(summary["delivered"], 10000);
    assert_eq!(summary["failed"], 0);
    let records = consume_json(b, &["-t", "email-events"]);
    let ids: HashSet<&str> = records
        .iter()
        .map(|r| r["payload"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(records.len(), 10000);
    assert_eq!(ids.len(), 10000, "event ids repeat");
    let types: HashSet<&str> = records
        .iter()
        .map(|r| r["headers"]["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 8, "every type is generated");
}

#[test]
fn json_output_is_accepted_back_by_produce() {
    let broker = broker();
    let b = broker.bootstrap();
    mailtest()
        .args([
            "-q",
            "produce",
            "-b",
            b,
            "-n",
            "40",
            "--header",
            "trace=abc",
        ])
        .ok();
    let first = mailtest()
        .args([
            "-q",
            "consume",
            "-b",
            b,
            "-e",
            "-t",
            "email-events",
            "--format",
            "json",
        ])
        .ok();
    mailtest()
        .args(["-q", "produce", "-b", b, "--topic", "copy", "-"])
        .stdin(first.clone())
        .ok();
    let copy = consume_json(b, &["-t", "copy"]);
    let strip = |records: Vec<Value>| -> Vec<(Value, Value, Value)> {
        let mut v: Vec<_> = records
            .into_iter()
            .map(|r| (r["key"].clone(), r["headers"].clone(), r["payload"].clone()))
            .collect();
        v.sort_by_key(|t| t.2["event_id"].to_string());
        v
    };
    let original = strip(json_lines(&first));
    assert_eq!(original.len(), 40);
    assert_eq!(original[0].1["trace"], "abc");
    assert_eq!(strip(copy), original);
}

/// A consumer that leaves its group and a new one that joins it, three times over, with
/// mailtest's defaults alone: on the embedded broker a new member used to wait out the old
/// member's 45 s session (44 s a join, the mock cluster's rule), and now waits 5 s.
#[test]
fn a_group_resumes_from_its_committed_offsets_without_waiting_out_the_last_member() {
    let broker = broker();
    let b = broker.bootstrap();
    mailtest()
        .args(["-q", "produce", "-b", b, "-n", "10", "--seed", "1"])
        .ok();
    let group = ["-t", "email-events", "--group", "resume-test"];
    let started = std::time::Instant::now();
    let first = consume_json(b, &group);
    assert_eq!(first.len(), 10);
    mailtest()
        .args(["-q", "produce", "-b", b, "-n", "5", "--seed", "2"])
        .ok();
    let second = consume_json(b, &group);
    assert_eq!(second.len(), 5, "only the events after the commit");
    let seen: HashSet<_> = first
        .iter()
        .map(|r| r["payload"]["event_id"].clone())
        .collect();
    assert!(
        second
            .iter()
            .all(|r| !seen.contains(&r["payload"]["event_id"]))
    );
    let third = consume_json(b, &group);
    assert!(third.is_empty(), "nothing left: {third:?}");
    // Two rejoins: about 10 s now, 88 s with the 45 s default; the bound sits far from both.
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(45),
        "three joins took {took:?}"
    );
}

#[test]
fn start_positions_and_filters() {
    let broker = broker();
    let b = broker.bootstrap();
    let before = chrono::Utc::now();
    mailtest()
        .args(["-q", "produce", "-b", b, "--fixtures", "--topic", "pos"])
        .ok();
    let all = consume_json(b, &["-t", "pos"]);
    assert_eq!(all.len(), 16);
    let partitions: HashSet<_> = all
        .iter()
        .map(|r| r["partition"].as_i64().unwrap())
        .collect();
    let tail = consume_json(b, &["-t", "pos", "--from", "-1"]);
    assert_eq!(tail.len(), partitions.len(), "one per partition");
    assert!(consume_json(b, &["-t", "pos", "--from", "end"]).is_empty());
    let since = format!("@{}", before.to_rfc3339());
    assert_eq!(consume_json(b, &["-t", "pos", "--from", &since]).len(), 16);
    assert!(consume_json(b, &["-t", "pos", "--from", "@2999-01-01T00:00:00Z"]).is_empty());
    let welcome = consume_json(b, &["-t", "pos", "--type", "welcome"]);
    assert_eq!(welcome.len(), 2);
    let to = consume_json(b, &["-t", "pos", "--to", "Juergen.Mueller@example.org"]);
    assert_eq!(to.len(), 2);
    assert!(to.iter().all(|r| r["key"] == "juergen.mueller@example.org"));
    let by_header = consume_json(b, &["-t", "pos", "--header", "event_type=role_upgrade"]);
    assert_eq!(by_header.len(), 2);
    let counted = consume_json(b, &["-t", "pos", "--count", "3"]);
    assert_eq!(counted.len(), 3);
}

#[test]
fn topic_per_type_layout() {
    let broker = broker();
    let b = broker.bootstrap();
    mailtest()
        .args(["-q", "produce", "-b", b, "--fixtures", "--topic-per-type"])
        .ok();
    let welcome = consume_json(b, &["-t", "email-events.welcome"]);
    assert_eq!(welcome.len(), 2);
    assert!(
        welcome
            .iter()
            .all(|r| r["payload"]["event_type"] == "welcome")
    );
    // With no -t, consume reads every catalog topic that exists.
    assert_eq!(consume_json(b, &[]).len(), 16);
}

#[test]
fn garbage_is_flagged_not_dropped() {
    let broker = broker();
    let b = broker.bootstrap();
    let input = "not json at all\n{\"event_type\": \"welcome\"}\n";
    mailtest()
        .args(["-q", "produce", "-b", b, "--raw", "--topic", "junk", "-"])
        .stdin(input)
        .ok();
    let records = consume_json(b, &["-t", "junk"]);
    assert_eq!(records.len(), 2);
    let by_text: Vec<_> = records
        .iter()
        .filter(|r| r["payload_text"] == "not json at all")
        .collect();
    assert_eq!(by_text.len(), 1);
    assert_eq!(
        by_text[0]["schema_errors"],
        serde_json::json!(["payload is not JSON"])
    );
    let partial = records.iter().find(|r| r["payload"].is_object()).unwrap();
    let errors: Vec<&str> = partial["schema_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors.contains(&"event_id: required field is missing"),
        "{errors:?}"
    );
    let pretty = mailtest()
        .args(["consume", "-b", b, "-e", "-t", "junk"])
        .ok();
    assert!(pretty.contains("schema: payload is not JSON"), "{pretty}");
}

#[test]
fn an_empty_topic_ends_at_once_and_a_closed_pipe_is_success() {
    let broker = broker();
    let b = broker.bootstrap();
    assert!(consume_json(b, &["-t", "email-events"]).is_empty());
    mailtest()
        .args(["-q", "produce", "-b", b, "-n", "2000"])
        .ok();
    // `head -1` closes the pipe early; mailtest must exit 0 without an error.
    let script = format!(
        "{} consume -b {b} -e -t email-events | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_mailtest")
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error"));
}

#[test]
fn dry_run_with_a_seed_repeats_events() {
    let run = || {
        json_lines(
            &mailtest()
                .args(["produce", "--dry-run", "--seed", "42", "-n", "16"])
                .ok(),
        )
    };
    // Timestamps are relative to the clock (a link expires in a day from now); the rest
    // repeats to the byte.
    let (a, b) = (run(), run());
    assert_eq!(a.len(), 16);
    assert_eq!(
        a.iter().map(without_times).collect::<Vec<_>>(),
        b.iter().map(without_times).collect::<Vec<_>>()
    );
}

fn without_times(value: &Value) -> Value {
    match value {
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
            Value::String("<time>".into())
        }
        Value::Array(items) => Value::Array(items.iter().map(without_times).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), without_times(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn repeated_input_gets_fresh_event_ids() {
    let out = mailtest()
        .args([
            "produce",
            "--dry-run",
            "--fixtures",
            "--type",
            "welcome",
            "-n",
            "6",
        ])
        .ok();
    let events = json_lines(&out);
    assert_eq!(events.len(), 6);
    let ids: HashSet<_> = events.iter().map(|e| e["event_id"].clone()).collect();
    assert_eq!(ids.len(), 6);
}

#[test]
fn brokers_come_from_flag_then_env_then_config_file() {
    let broker = broker();
    let b = broker.bootstrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mailtest.yaml"),
        format!("brokers: {b}\ntopic: from-config\n"),
    )
    .unwrap();
    // The config file alone: its brokers and topic are used.
    mailtest()
        .dir(dir.path())
        .args(["-q", "produce", "-n", "3"])
        .ok();
    assert_eq!(consume_json(b, &["-t", "from-config"]).len(), 3);
    // The environment wins over the file: a dead address fails with exit 3.
    let done = mailtest()
        .dir(dir.path())
        .env("MAILTEST_BROKERS", "127.0.0.1:1")
        .args(["produce", "-n", "1", "--timeout", "1s"])
        .run();
    assert_eq!(done.code, 3, "{}", done.stderr);
    // The flag wins over both.
    mailtest()
        .dir(dir.path())
        .env("MAILTEST_BROKERS", "127.0.0.1:1")
        .args(["-q", "produce", "-n", "2", "-b", b])
        .ok();
    assert_eq!(consume_json(b, &["-t", "from-config"]).len(), 5);
}

#[test]
fn rate_paces_the_run() {
    let broker = broker();
    let b = broker.bootstrap();
    let out = mailtest()
        .args([
            "produce", "-b", b, "-n", "30", "--rate", "100", "--output", "json",
        ])
        .args(["-X", "enable.idempotence=false"])
        .ok();
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["delivered"], 30);
    // 30 events at 100/s cannot take less than 0.29 s (the 30th leaves at 290 ms); an upper
    // bound would measure the machine, not the pacing.
    assert!(summary["elapsed_ms"].as_u64().unwrap() >= 290, "{summary}");
}

#[test]
fn consume_from_an_unreachable_broker_exits_3() {
    let done = mailtest()
        .args([
            "consume",
            "-b",
            "127.0.0.1:1",
            "--timeout",
            "1s",
            "-t",
            "email-events",
        ])
        .run();
    assert_eq!(done.code, 3, "{}", done.stderr);
    assert!(
        done.stderr
            .contains("cannot reach Kafka at `127.0.0.1:1` within 1s"),
        "{}",
        done.stderr
    );
}

/// A topic pattern with `{type}`: the broker creates a topic per type with the asked
/// partitions (read back by kcat), produce writes each event to its type's topic, and
/// consume reads them all back through the same pattern.
#[test]
fn topic_patterns_name_a_topic_per_type() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut broker = std::process::Command::new(env!("CARGO_BIN_EXE_mailtest"))
        .args([
            "-q",
            "broker",
            "--topic",
            "{type}",
            "--partitions",
            "4",
            "--ready-file",
        ])
        .arg(&ready)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let b = crate::util::wait_for_file(&ready);
    let listing = std::process::Command::new(crate::util::tool("kcat"))
        .args(["-L", "-b", &b])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    let catalog = Catalog::builtin().unwrap();
    for name in catalog.names() {
        assert!(
            listing.contains(&format!("topic \"{name}\" with 4 partitions")),
            "{name}: {listing}"
        );
    }
    mailtest()
        .args(["-q", "produce", "-b", &b, "--fixtures", "--topic", "{type}"])
        .ok();
    let records = consume_json(&b, &["--topic", "{type}"]);
    assert_eq!(records.len(), 16);
    for r in &records {
        assert_eq!(r["topic"], r["payload"]["event_type"], "{r}");
    }
    assert!(crate::util::signal(broker.id(), "TERM", false));
    assert_eq!(broker.wait().unwrap().code(), Some(0));
}
