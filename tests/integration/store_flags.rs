//! Read state and tags on stored messages (what Mailpit's API changes) survive a restart
//! and a compaction, and a later change wins over an earlier one.

use mailtest::store::{Query, Store};

use crate::store::incoming;

#[test]
fn flags_survive_a_reopen_and_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let raw = |i: u64| format!("Subject: n{i}\r\n\r\n{}\r\n", "x".repeat(2000));
    let store = Store::open(dir.path(), false)
        .unwrap()
        .with_compaction_floor(10_000);
    for i in 1..=20 {
        store.insert(incoming("a@example.com", &raw(i))).unwrap();
    }
    store.update_flags(&[1, 2, 3], |s| s.read = true).unwrap();
    let tag = |s: &mut mailtest::store::Summary| s.tags.extend([" b".into(), "a".into()]);
    assert_eq!(store.update_flags(&[2, 99], tag).unwrap(), 1);
    // Unread again, later: the last state is the one kept.
    store.update_flags(&[3], |s| s.read = false).unwrap();
    assert_eq!(store.update_flags(&[3], |s| s.read = false).unwrap(), 0);
    let state = |store: &Store| -> Vec<(u64, bool, Vec<String>)> {
        store
            .list(&Query::default())
            .iter()
            .filter(|s| s.id <= 3)
            .map(|s| (s.id, s.read, s.tags.clone()))
            .collect()
    };
    let want = vec![
        (1, true, vec![]),
        (2, true, vec!["a".to_owned(), "b".to_owned()]),
        (3, false, vec![]),
    ];
    assert_eq!(state(&store), want);
    assert_eq!(store.tags(), ["a", "b"]);
    drop(store);
    let store = Store::open(dir.path(), false)
        .unwrap()
        .with_compaction_floor(10_000);
    assert_eq!(state(&store), want, "after a reopen");
    // Deleting most messages compacts the log: the flags ride in its first record.
    let doomed: Vec<u64> = (4..=20).collect();
    let before = std::fs::metadata(dir.path().join("messages.log"))
        .unwrap()
        .len();
    store.delete(&doomed).unwrap();
    let after = std::fs::metadata(dir.path().join("messages.log"))
        .unwrap()
        .len();
    assert!(after * 3 < before, "compacted: {after} of {before} bytes");
    drop(store);
    let store = Store::open(dir.path(), false).unwrap();
    assert_eq!(state(&store), want, "after a compaction and a reopen");
}

/// Mail arrives tagged as Mailpit tags it: by its `X-Tags` header and by the plus-tag of
/// each recipient.
#[test]
fn tags_come_from_x_tags_and_plus_addresses() {
    let store = Store::memory();
    let raw = "X-Tags: Orders, urgent ,orders\r\nSubject: t\r\n\r\nbody\r\n";
    let stored = store
        .insert(incoming("ann+signup@example.com", raw))
        .unwrap();
    assert_eq!(stored.tags, ["Orders", "signup", "urgent"]);
    let plain = store
        .insert(incoming("bob@example.com", "Subject: t\r\n\r\nbody\r\n"))
        .unwrap();
    assert!(plain.tags.is_empty());
}
