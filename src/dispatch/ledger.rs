//! The idempotency ledger: the event ids whose email an SMTP server accepted, in a small
//! append-only file that survives restarts, so a redelivered event is not sent twice.
//!
//! Each send is bracketed: `? id` before the attempt, `id` once accepted. An id with the
//! first line and not the second was in flight when the process died: the server may have
//! taken it without the process hearing back. Those are "in doubt": sent again (a password
//! reset twice beats none) and named in the log, so a duplicate is never silent.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;

use crate::exit_code::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the dispatch state in `{dir}`")]
    Open {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another mailtest dispatch is using the state in `{0}` (give each process its own --state)"
    )]
    Busy(String),
    #[error("cannot record a sent event")]
    Write(#[source] std::io::Error),
}

impl LedgerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            // The state folder given cannot be used: pick another.
            Self::Open { .. } | Self::Busy(_) => ErrorKind::BadInput,
            Self::Write(_) => ErrorKind::Failed,
        }
    }
}

pub struct Ledger {
    sent: Mutex<(HashSet<String>, Option<File>)>,
    /// Ids that were being sent when the last process died.
    in_doubt: Vec<String>,
    /// Held locked while this process owns the directory.
    _lock: Option<File>,
}

impl Ledger {
    /// A ledger in memory only (tests, `smoke`).
    pub fn memory() -> Self {
        Self {
            sent: Mutex::new((HashSet::new(), None)),
            in_doubt: Vec::new(),
            _lock: None,
        }
    }

    /// Opens (or creates) the ledger in `dir`, reading every id recorded so far. A torn
    /// last line (a kill mid-write) is ignored: its send was never recorded as done.
    pub fn open(dir: &Path) -> Result<Self, LedgerError> {
        let err = |source| LedgerError::Open {
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let lock = File::create(dir.join("lock")).map_err(err)?;
        lock.try_lock()
            .map_err(|_| LedgerError::Busy(dir.display().to_string()))?;
        let path = dir.join("sent.log");
        let mut sent = HashSet::new();
        let mut started = Vec::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(err)?;
                // Whole lines only: ids are 36 characters, a torn one is shorter.
                match std::str::from_utf8(&line) {
                    Ok(id) if id.len() == 36 => {
                        sent.insert(id.to_owned());
                    }
                    Ok(intent) if intent.len() == 38 && intent.starts_with("? ") => {
                        started.push(intent[2..].to_owned());
                    }
                    _ => {}
                }
            }
        }
        let mut in_doubt: Vec<String> = started
            .into_iter()
            .filter(|id| !sent.contains(id))
            .collect();
        in_doubt.sort();
        in_doubt.dedup();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        // A torn tail would glue onto the next id: start on a fresh line.
        (&file).write_all(b"\n").map_err(err)?;
        Ok(Self {
            sent: Mutex::new((sent, Some(file))),
            in_doubt,
            _lock: Some(lock),
        })
    }

    /// Ids whose send was under way when the previous process died.
    pub fn in_doubt(&self) -> &[String] {
        &self.in_doubt
    }

    /// Notes that `event_id` is about to be sent.
    pub fn begin(&self, event_id: &str) -> Result<(), LedgerError> {
        let mut sent = self.sent.lock().expect("ledger lock");
        if let Some(file) = &mut sent.1 {
            file.write_all(format!("? {event_id}\n").as_bytes())
                .map_err(LedgerError::Write)?;
        }
        Ok(())
    }

    pub fn contains(&self, event_id: &str) -> bool {
        self.sent.lock().expect("ledger lock").0.contains(event_id)
    }

    /// Records `event_id` as sent. A write to the page cache survives a kill of the
    /// process; only a power loss could lose it, and with it cause one duplicate.
    pub fn record(&self, event_id: &str) -> Result<(), LedgerError> {
        let mut sent = self.sent.lock().expect("ledger lock");
        if let Some(file) = &mut sent.1 {
            file.write_all(format!("{event_id}\n").as_bytes())
                .map_err(LedgerError::Write)?;
        }
        sent.0.insert(event_id.to_owned());
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.sent.lock().expect("ledger lock").0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_a_reopen_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let a = "0f8fad5b-d9cb-469f-a165-70867728950e";
        {
            let ledger = Ledger::open(dir.path()).unwrap();
            ledger.record(a).unwrap();
            assert!(matches!(
                Ledger::open(dir.path()),
                Err(LedgerError::Busy(_))
            ));
        }
        // A kill in the middle of the next write leaves half an id behind.
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join("sent.log"))
            .unwrap();
        file.write_all(b"7c9e6679-7425-40de").unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        assert!(ledger.contains(a));
        assert_eq!(ledger.len(), 1);
        let b = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        ledger.record(b).unwrap();
        drop(ledger);
        let ledger = Ledger::open(dir.path()).unwrap();
        assert!(ledger.contains(a) && ledger.contains(b));
        assert!(ledger.in_doubt().is_empty());
    }

    #[test]
    fn a_send_begun_and_not_finished_is_in_doubt() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        );
        {
            let ledger = Ledger::open(dir.path()).unwrap();
            ledger.begin(a).unwrap();
            ledger.record(a).unwrap();
            ledger.begin(b).unwrap();
        }
        let ledger = Ledger::open(dir.path()).unwrap();
        assert_eq!(ledger.in_doubt(), [b.to_owned()]);
        assert!(!ledger.contains(b));
    }
}
