//! The store under disk faults: a write that fails on a full filesystem is undone, so the
//! mail acknowledged after it survives a reopen; a damaged record in the middle of the log
//! is skipped and every intact record around it kept.

use std::path::{Path, PathBuf};
use std::process::Command;

use mailtest::store::Store;

use crate::store::incoming;

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop. Needs root, as CI has.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a small tmpfs needs root (CI runs the suite as root)"
        );
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("store")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn message(i: usize, size: usize) -> String {
    format!("Subject: m{i}\r\n\r\n{}\r\n", "x".repeat(size))
}

#[test]
fn a_write_that_fills_the_disk_is_undone_and_later_mail_survives() {
    let disk = SmallDisk::mount("512k");
    let mut acked = Vec::new();
    {
        let store = Store::open(&disk.path(), false).unwrap();
        for i in 0..40 {
            let raw = message(i, 2_000);
            let s = store.insert(incoming("a@example.com", &raw)).unwrap();
            acked.push((s.id, raw));
        }
        // Larger than what is left: the write fails part way through.
        let err = store
            .insert(incoming("a@example.com", &message(99, 1 << 20)))
            .unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
        // The failed write was undone, so the room it took is free again.
        for i in 40..60 {
            let raw = message(i, 2_000);
            let s = store
                .insert(incoming("a@example.com", &raw))
                .expect("mail after a failed write is taken");
            acked.push((s.id, raw));
        }
    }
    let store = Store::open(&disk.path(), false).unwrap();
    assert_eq!(
        store.len(),
        acked.len(),
        "every acknowledged message is back"
    );
    for (id, raw) in &acked {
        assert_eq!(store.raw(*id).unwrap(), raw.as_bytes(), "message {id}");
    }
}

/// Flips one byte at `offset` in the store's log.
fn damage(dir: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("messages.log"))
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x55], offset).unwrap();
}

#[test]
fn a_damaged_record_mid_log_is_skipped_and_nothing_else_lost() {
    let dir = tempfile::tempdir().unwrap();
    let raws: Vec<String> = (0..10).map(|i| message(i, 300)).collect();
    let mut ends = Vec::new();
    {
        let store = Store::open(dir.path(), false).unwrap();
        for raw in &raws {
            store.insert(incoming("a@example.com", raw)).unwrap();
            ends.push(
                std::fs::metadata(dir.path().join("messages.log"))
                    .unwrap()
                    .len(),
            );
        }
    }
    // A byte of message 5's body, then the marker of message 8's header.
    damage(dir.path(), ends[4] - 20);
    damage(dir.path(), ends[6] + 1);
    let store = Store::open(dir.path(), false).unwrap();
    let ids: Vec<u64> = store
        .list(&mailtest::store::Query::default())
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 6, 7, 9, 10]);
    for id in &ids {
        assert_eq!(store.raw(*id).unwrap(), raws[*id as usize - 1].as_bytes());
    }
    let next = store
        .insert(incoming("a@example.com", "Subject: new\r\n\r\n"))
        .unwrap();
    assert_eq!(next.id, 11);
    drop(store);
    let store = Store::open(dir.path(), false).unwrap();
    assert_eq!(
        store.len(),
        9,
        "the damage is skipped again, and the new mail kept"
    );
}

#[test]
fn the_eml_mirror_touches_only_its_own_files_and_follows_no_link() {
    let dir = tempfile::tempdir().unwrap();
    // A folder of someone's own mail is refused, and left as it was.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("1.eml"), "Subject: keep me\r\n\r\n").unwrap();
    let err = Store::open(&dir.path().join("store"), false)
        .unwrap()
        .with_eml_dir(&mine)
        .err()
        .expect("refused");
    assert!(format!("{err:?}").contains("did not write"), "{err:?}");
    assert_eq!(
        std::fs::read(mine.join("1.eml")).unwrap(),
        b"Subject: keep me\r\n\r\n"
    );

    // Links planted in the sink's own folder are replaced or left, never written through.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let emls = dir.path().join("eml");
    let store = Store::open(&dir.path().join("store2"), false)
        .unwrap()
        .with_eml_dir(&emls)
        .unwrap();
    std::os::unix::fs::symlink(&victim, emls.join("1.eml")).unwrap();
    std::os::unix::fs::symlink(&victim, emls.join("2.eml")).unwrap();
    store
        .insert(incoming("a@example.com", "Subject: one\r\n\r\n"))
        .unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(
        std::fs::read(emls.join("1.eml")).unwrap(),
        b"Subject: one\r\n\r\n"
    );
    assert!(
        !std::fs::symlink_metadata(emls.join("1.eml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    store
        .insert(incoming("a@example.com", "Subject: two\r\n\r\n"))
        .unwrap();
    std::fs::remove_file(emls.join("2.eml")).unwrap();
    std::os::unix::fs::symlink(&victim, emls.join("2.eml")).unwrap();
    store.delete(&[2]).unwrap();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious",
        "the link's target is untouched"
    );

    // `sink export` writes whole files the same way.
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("1.eml")).unwrap();
    drop(store);
    crate::util::mailtest()
        .args(["sink", "export", "--store"])
        .arg(dir.path().join("store2"))
        .arg("--out")
        .arg(&out)
        .ok();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(
        std::fs::read(out.join("1.eml")).unwrap(),
        b"Subject: one\r\n\r\n"
    );
}
