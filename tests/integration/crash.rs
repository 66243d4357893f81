//! Crash safety against a client we did not write: postfix's `smtp-source` at full speed
//! (20 sessions, 4 KB messages) while the sink is killed with SIGKILL at random moments and
//! restarted on the same store. Every message smtp-source saw acknowledged ("queued as N" in
//! its `-v` log) must be stored as message N and readable, and the store must open cleanly.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use rand::{Rng, SeedableRng};

use crate::sink::Sink;

/// Kills in a CI run; `MAILTEST_CRASH_KILLS=200` makes it a soak (and `MAILTEST_CRASH_SEED`
/// replays a run).
const KILLS: usize = 5;

/// Runs smtp-source against `addr` until the server goes; sends each acknowledged id.
fn smtp_source(addr: &str, acked: mpsc::Sender<u64>) -> std::thread::JoinHandle<()> {
    let mut child = Command::new("/usr/sbin/smtp-source")
        .args(["-v", "-s", "20", "-m", "10000000", "-l", "4096", addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("smtp-source runs (scripts/setup.sh installs postfix)");
    let log = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in log.lines().map_while(Result::ok) {
            if let Some(id) = line.split("<<< 250 2.0.0 Ok: queued as ").nth(1) {
                let _ = acked.send(id.trim().parse().unwrap());
            }
        }
        let _ = child.wait();
    })
}

fn stored_ids(store: &std::path::Path) -> BTreeSet<u64> {
    crate::sink::listed(store, &[])
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn smtp_source_at_full_speed_through_random_sigkills() {
    let seed: u64 = std::env::var("MAILTEST_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let kills: usize = std::env::var("MAILTEST_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(KILLS);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut acked = BTreeSet::new();
    for kill in 0..kills {
        let mut sink = Sink::start(dir.path());
        let (tx, rx) = mpsc::channel();
        let client = smtp_source(&sink.addr, tx);
        // A random moment: after some hundreds to a couple of thousand acknowledgements.
        let moment = rng.random_range(200..2000);
        let before = acked.len();
        let taken = rx
            .iter()
            .take(moment)
            .fold(0, |n, id| n + usize::from(acked.insert(id)));
        sink.child.kill().unwrap();
        sink.child.wait().unwrap();
        acked.extend(rx.iter());
        client.join().unwrap();
        // This round's own acknowledgements, each a new id: the kill landed mid-run.
        assert_eq!(
            taken, moment,
            "seed {seed}, kill {kill}: smtp-source stopped early (or an id came twice)"
        );
        assert!(acked.len() >= before + moment);
    }
    // The store opens cleanly once more and holds every acknowledged message, readable
    // whole.
    let sink = Sink::start(dir.path());
    drop(sink);
    let stored = stored_ids(dir.path());
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: acknowledged but not stored: {lost:?}"
    );
    let store = mailtest::store::Store::open_read_only(dir.path()).unwrap();
    for id in &acked {
        let raw = store.raw(*id).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            raw.len() >= 4096 && text.contains("Message-Id:"),
            "message {id}"
        );
    }
    eprintln!(
        "crash: {kills} SIGKILLs (seed {seed}): {} acknowledged, {} stored, 0 lost",
        acked.len(),
        stored.len()
    );
}
