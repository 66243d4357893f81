//! The message store: what is acknowledged survives a restart, a torn write is cut off,
//! waiters see arrivals, and mail is sorted into mailboxes.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use mailtest::mail::{Envelope, Incoming};
use mailtest::store::{Query, Store};

pub fn incoming(to: &str, raw: &str) -> Incoming {
    Incoming {
        envelope: Envelope {
            mail_from: "app@example.com".into(),
            rcpt_to: vec![to.into(), "audit@example.com".into()],
            helo: "client.example".into(),
            esmtp: true,
            smtputf8: false,
            body_8bit: false,
            bare_lf: false,
            tls: false,
            auth: None,
            client: "127.0.0.1:40000".parse().unwrap(),
            api: None,
        },
        raw: raw.as_bytes().to_vec(),
        received_at: chrono::Utc::now(),
        transcript: vec!["C: EHLO client.example".into()],
    }
}

#[test]
fn messages_survive_a_reopen_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let raws: Vec<String> = (0..50)
        .map(|i| format!("Subject: n{i}\r\nTo: u{i}@example.com\r\n\r\nbody {i} \u{e9}\r\n.\r\n"))
        .collect();
    {
        let store = Store::open(dir.path(), false).unwrap();
        for (i, raw) in raws.iter().enumerate() {
            let s = store
                .insert(incoming(&format!("u{i}@example.com"), raw))
                .unwrap();
            assert_eq!(s.id, i as u64 + 1);
        }
        assert_eq!(store.delete(&[3, 4, 999]).unwrap(), 2);
    }
    let store = Store::open(dir.path(), true).unwrap();
    assert_eq!(store.len(), 48);
    assert!(store.get(3).is_none());
    for id in [1u64, 2, 5, 50] {
        let raw = store.raw(id).unwrap();
        assert_eq!(raw, raws[id as usize - 1].as_bytes());
        let s = store.get(id).unwrap();
        assert_eq!(s.subject.as_deref(), Some(format!("n{}", id - 1).as_str()));
        assert_eq!(s.envelope.rcpt_to[1], "audit@example.com");
    }
    assert_eq!(
        store
            .insert(incoming("x@example.com", "Subject: new\r\n\r\n"))
            .unwrap()
            .id,
        51
    );
}

#[test]
fn a_torn_last_record_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), false).unwrap();
        store
            .insert(incoming("a@example.com", "Subject: kept\r\n\r\nx\r\n"))
            .unwrap();
        store
            .insert(incoming("b@example.com", "Subject: kept too\r\n\r\ny\r\n"))
            .unwrap();
    }
    let log = dir.path().join("messages.log");
    let good = std::fs::metadata(&log).unwrap().len();
    // What a crash mid-append leaves: a header promising more bytes than were written.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"MTREC1 40 100 0badc0de\n{\"kind\":\"message\",\"id\":3")
        .unwrap();
    drop(file);
    let store = Store::open(dir.path(), false).unwrap();
    assert_eq!(store.len(), 2);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), good);
    assert_eq!(
        store
            .insert(incoming("c@example.com", "Subject: after\r\n\r\n"))
            .unwrap()
            .id,
        3
    );
    drop(store);
    assert_eq!(Store::open(dir.path(), false).unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn waiters_see_arrivals_before_and_after_they_start() {
    let store = Arc::new(Store::memory());
    let query = Query {
        to: Some("alice@example.com".into()),
        ..Query::default()
    };
    let waiter = {
        let (store, query) = (store.clone(), query.clone());
        tokio::spawn(async move { store.wait(&query, 2, Duration::from_secs(30)).await })
    };
    // The waiter subscribes before it looks, so these cannot slip past it.
    store
        .insert(incoming("bob@example.com", "Subject: other\r\n\r\n"))
        .unwrap();
    store
        .insert(incoming("alice@example.com", "Subject: one\r\n\r\n"))
        .unwrap();
    store
        .insert(incoming("alice@example.com", "Subject: two\r\n\r\n"))
        .unwrap();
    let found = waiter.await.unwrap();
    assert_eq!(found.iter().map(|s| s.id).collect::<Vec<_>>(), [2, 3]);
    // A later waiter with a cursor finds what came after it, already there.
    let after = Query {
        since: Some(2),
        ..query.clone()
    };
    let found = store.wait(&after, 1, Duration::from_secs(30)).await;
    assert_eq!(found[0].subject.as_deref(), Some("two"));
    // Nothing more comes: the wait ends at its timeout with what it has.
    let none = Query {
        since: Some(3),
        ..query
    };
    assert!(
        store
            .wait(&none, 1, Duration::from_millis(200))
            .await
            .is_empty()
    );
}

/// Writers finish in any order (a fsync batch, a slow thread); every waiter and every
/// event-stream listener still sees each message once, in id order.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_lose_nothing_for_waiters_and_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), true).unwrap());
    let mut events = store.subscribe();
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .wait(&Query::default(), 800, Duration::from_secs(60))
                .await
        })
    };
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let raw = format!("Subject: {w}-{i}\r\n\r\n");
                    store.insert(incoming("a@example.com", &raw)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(waiter.await.unwrap().len(), 800);
    let announced: Vec<u64> = std::iter::from_fn(|| events.try_recv().ok().map(|s| s.id)).collect();
    assert_eq!(announced, (1..=800).collect::<Vec<_>>());
}

#[test]
fn mail_is_sorted_into_mailboxes() {
    let store = Store::memory();
    store
        .insert(incoming(
            "a@example.com",
            "X-Mailtest-Run: run-1\r\nSubject: a\r\n\r\n",
        ))
        .unwrap();
    store
        .insert(incoming("b+run-2@example.com", "Subject: b\r\n\r\n"))
        .unwrap();
    let mut authed = incoming("c@example.com", "Subject: c\r\n\r\n");
    authed.envelope.auth = Some("job-7".into());
    store.insert(authed).unwrap();
    store
        .insert(incoming("d@example.com", "Subject: d\r\n\r\n"))
        .unwrap();
    let mailbox = |m: &str| {
        store
            .list(&Query {
                mailbox: Some(m.into()),
                ..Query::default()
            })
            .iter()
            .map(|s| s.subject.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(mailbox("run-1"), ["a"]);
    assert_eq!(mailbox("run-2"), ["b"]);
    assert_eq!(mailbox("job-7"), ["c"]);
    let bcc = store.list(&Query {
        to: Some("AUDIT@example.com".into()),
        ..Query::default()
    });
    assert_eq!(
        bcc.len(),
        4,
        "the envelope recipient counts though no header names it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_evicts_the_oldest_but_never_what_a_wait_holds() {
    use mailtest::store::Retention;
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        max_count: Some(3),
        max_age: None,
    };
    let store = Arc::new(
        Store::open(dir.path(), false)
            .unwrap()
            .with_retention(retention),
    );
    store
        .insert(incoming("keep@example.com", "Subject: pinned\r\n\r\n"))
        .unwrap();
    // A wait for two messages to keep@ has matched the first and is still running.
    let waiter = {
        let store = store.clone();
        let query = Query {
            to: Some("keep@example.com".into()),
            ..Query::default()
        };
        tokio::spawn(async move { store.wait(&query, 2, Duration::from_secs(30)).await })
    };
    // Go on once the waiter holds its first match.
    while !store.is_pinned(1) {
        tokio::task::yield_now().await;
    }
    for i in 0..5 {
        store
            .insert(incoming(
                "other@example.com",
                &format!("Subject: n{i}\r\n\r\n"),
            ))
            .unwrap();
    }
    // Three kept: the pinned first one and the two newest.
    let subjects: Vec<_> = store
        .list(&Query::default())
        .iter()
        .map(|s| s.subject.clone().unwrap())
        .collect();
    assert_eq!(subjects, ["pinned", "n3", "n4"]);
    assert_eq!(store.evicted(), 3);
    store
        .insert(incoming("keep@example.com", "Subject: second\r\n\r\n"))
        .unwrap();
    let found = waiter.await.unwrap();
    assert_eq!(
        found
            .iter()
            .map(|s| s.subject.clone().unwrap())
            .collect::<Vec<_>>(),
        ["pinned", "second"]
    );
    assert!(!store.is_pinned(1), "the pin ends with the wait");
    let subjects: Vec<_> = store
        .list(&Query::default())
        .iter()
        .map(|s| s.subject.clone().unwrap())
        .collect();
    assert_eq!(subjects, ["pinned", "n4", "second"]);
    // Unpinned, the oldest is the next to go.
    store
        .insert(incoming("other@example.com", "Subject: n5\r\n\r\n"))
        .unwrap();
    assert!(store.get(1).is_none());
    // Evictions are durable.
    drop(store);
    assert_eq!(Store::open(dir.path(), false).unwrap().len(), 3);
    // An age limit evicts what is older.
    let aged = Store::memory().with_retention(Retention {
        max_count: None,
        max_age: Some(Duration::from_secs(3600)),
    });
    let mut old = incoming("a@example.com", "Subject: old\r\n\r\n");
    old.received_at = chrono::Utc::now() - chrono::Duration::hours(2);
    aged.insert(old).unwrap();
    aged.insert(incoming("a@example.com", "Subject: new\r\n\r\n"))
        .unwrap();
    assert_eq!(aged.enforce_retention().unwrap(), 1);
    assert_eq!(
        aged.list(&Query::default())[0].subject.as_deref(),
        Some("new")
    );
}

/// Deleted mail leaves the disk once it outweighs what is kept; what is kept reads back
/// byte for byte, and ids keep counting past the deleted newest one, also after a restart.
#[test]
fn deleted_mail_is_compacted_away_and_ids_keep_counting() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("messages.log");
    let body = "x".repeat(2000);
    let raw = |i: u64| format!("Subject: n{i}\r\n\r\n{body}\r\n");
    let store = Store::open(dir.path(), false)
        .unwrap()
        .with_compaction_floor(10_000);
    for i in 1..=50 {
        assert_eq!(
            store.insert(incoming("a@example.com", &raw(i))).unwrap().id,
            i
        );
    }
    let before = std::fs::metadata(&log).unwrap().len();
    // A few deletions stay under the floor: nothing is rewritten.
    store.delete(&[1, 2]).unwrap();
    assert!(std::fs::metadata(&log).unwrap().len() > before);
    let doomed: Vec<u64> = (3..=47).chain([50]).collect();
    store.delete(&doomed).unwrap();
    let after = std::fs::metadata(&log).unwrap().len();
    assert!(after * 10 < before, "{after} bytes left of {before}");
    for id in [48, 49] {
        assert_eq!(store.raw(id).unwrap(), raw(id).as_bytes());
        assert_eq!(store.transcript(id).unwrap(), ["C: EHLO client.example"]);
    }
    drop(store);
    // A compaction cut short before its rename leaves a stray file; the log is whole.
    std::fs::write(dir.path().join("messages.log.compact"), "half a log").unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    assert!(!dir.path().join("messages.log.compact").exists());
    // The newest message (50) is gone from the log, yet its id is not given out again.
    assert_eq!(
        store
            .insert(incoming("a@example.com", &raw(51)))
            .unwrap()
            .id,
        51
    );
    let ids: Vec<u64> = store.list(&Query::default()).iter().map(|s| s.id).collect();
    assert_eq!(ids, [48, 49, 51]);
    assert_eq!(store.raw(48).unwrap(), raw(48).as_bytes());
}

/// With a mirror directory, every stored message is also a standard `.eml` file, gone when
/// the message is; on start the mirror is brought in line with the store.
#[test]
fn the_eml_mirror_follows_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let emls = dir.path().join("eml");
    let store = Store::open(&dir.path().join("store"), false)
        .unwrap()
        .with_eml_dir(&emls)
        .unwrap();
    let raw = |i: u64| format!("Subject: m{i}\r\n\r\nbody {i}\r\n");
    for i in 1..=3 {
        store.insert(incoming("a@example.com", &raw(i))).unwrap();
    }
    for i in 1..=3 {
        assert_eq!(
            std::fs::read(emls.join(format!("{i}.eml"))).unwrap(),
            raw(i).as_bytes()
        );
        let parsed = std::fs::read(emls.join(format!("{i}.eml"))).unwrap();
        let mail = mailparse::parse_mail(&parsed).unwrap();
        assert_eq!(mail.get_body().unwrap().trim(), format!("body {i}"));
    }
    store.delete(&[2]).unwrap();
    assert!(!emls.join("2.eml").exists());
    drop(store);
    std::fs::remove_file(emls.join("1.eml")).unwrap();
    std::fs::write(emls.join("99.eml"), "stale").unwrap();
    let _store = Store::open(&dir.path().join("store"), false)
        .unwrap()
        .with_eml_dir(&emls)
        .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&emls)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".mailtest-eml-dir", "1.eml", "3.eml"]);
    assert_eq!(
        std::fs::read(emls.join("1.eml")).unwrap(),
        raw(1).as_bytes()
    );
}
