//! Putting captures back together as a reader reads the log: a message record with its
//! bytes inline is done at once; one with chunks waits for them (they come from other
//! partitions, before or after it); forget records drop captures, also ones not seen yet.
//! What is still pending holds back the offsets a reader may resume from.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::record::{Meta, Piece, Reason};
use crate::mail::Incoming;

/// Forgotten captures remembered, so a late piece of one is dropped.
const FORGOTTEN_KEPT: usize = 100_000;

/// Where a record is: partition and offset.
pub type At = (i32, i64);

/// What reading a record led to.
#[derive(Debug)]
pub enum Done {
    /// A whole message, to store under its capture id.
    Message {
        capture: String,
        incoming: Box<Incoming>,
    },
    /// Captures to delete.
    Forget {
        captures: Vec<String>,
        reason: Reason,
    },
    /// A message whose chunks do not add up (a replica's bug or a damaged log): dropped.
    Broken { capture: String, why: String },
}

#[derive(Default)]
struct Pending {
    message: Option<(Box<Meta>, u32)>,
    chunks: BTreeMap<u32, Vec<u8>>,
    /// Every record of it read so far, which a resume must read again.
    at: Vec<At>,
    since: Option<Instant>,
}

/// Captures in progress.
#[derive(Default)]
pub struct Assembler {
    pending: HashMap<String, Pending>,
    forgotten: HashSet<String>,
    forgotten_order: VecDeque<String>,
}

impl Assembler {
    /// Takes one record; what it completes.
    pub fn push(&mut self, at: At, piece: Piece) -> Option<Done> {
        match piece {
            Piece::Forget { captures, reason } => {
                for capture in &captures {
                    self.pending.remove(capture);
                    self.remember(capture);
                }
                Some(Done::Forget { captures, reason })
            }
            Piece::Message { capture, .. } | Piece::Chunk { capture, .. }
                if self.forgotten.contains(&capture) =>
            {
                None
            }
            Piece::Message {
                capture,
                meta,
                chunks: 0,
                inline,
            } => Some(Done::Message {
                capture,
                incoming: Box::new(meta.into_incoming(inline)),
            }),
            Piece::Message {
                capture,
                meta,
                chunks,
                ..
            } => {
                let pending = self.pending_of(&capture, at);
                pending.message = Some((meta, chunks));
                self.complete(&capture)
            }
            Piece::Chunk {
                capture,
                index,
                bytes,
            } => {
                self.pending_of(&capture, at).chunks.insert(index, bytes);
                self.complete(&capture)
            }
        }
    }

    fn pending_of(&mut self, capture: &str, at: At) -> &mut Pending {
        let pending = self.pending.entry(capture.to_owned()).or_default();
        pending.at.push(at);
        pending.since.get_or_insert_with(Instant::now);
        pending
    }

    fn complete(&mut self, capture: &str) -> Option<Done> {
        let pending = self.pending.get(capture)?;
        let (_, chunks) = pending.message.as_ref()?;
        if pending.chunks.len() < *chunks as usize {
            return None;
        }
        let pending = self.pending.remove(capture)?;
        let (meta, chunks) = pending.message?;
        let size = usize::try_from(meta.size).unwrap_or(usize::MAX);
        let mut raw = Vec::with_capacity(size.min(64 << 20));
        for (want, (index, bytes)) in (0..chunks).zip(pending.chunks) {
            if want != index {
                return Some(broken(capture, format!("chunk {want} is missing")));
            }
            raw.extend_from_slice(&bytes);
        }
        if raw.len() != size {
            let why = format!("{} bytes in its chunks, {size} expected", raw.len());
            return Some(broken(capture, why));
        }
        Some(Done::Message {
            capture: capture.to_owned(),
            incoming: Box::new(meta.into_incoming(raw)),
        })
    }

    fn remember(&mut self, capture: &str) {
        if self.forgotten.insert(capture.to_owned()) {
            self.forgotten_order.push_back(capture.to_owned());
            if self.forgotten_order.len() > FORGOTTEN_KEPT
                && let Some(old) = self.forgotten_order.pop_front()
            {
                self.forgotten.remove(&old);
            }
        }
    }

    /// The earliest offset per partition that a pending capture was read from: a resume
    /// must start there (or earlier) to finish it.
    pub fn holds(&self) -> HashMap<i32, i64> {
        let mut holds: HashMap<i32, i64> = HashMap::new();
        for (partition, offset) in self.pending.values().flat_map(|p| &p.at) {
            let held = holds.entry(*partition).or_insert(*offset);
            *held = (*held).min(*offset);
        }
        holds
    }

    /// Drops captures pending longer than `age` (a replica that died between its chunks
    /// and its message record, which it never acknowledged); how many.
    pub fn expire(&mut self, age: Duration) -> usize {
        let before = self.pending.len();
        self.pending
            .retain(|_, p| p.since.is_none_or(|since| since.elapsed() < age));
        before - self.pending.len()
    }

    /// Captures waiting for more records.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

fn broken(capture: &str, why: String) -> Done {
    Done::Broken {
        capture: capture.to_owned(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Envelope;

    fn meta(size: usize) -> Box<Meta> {
        Box::new(Meta {
            envelope: Envelope::api_default(),
            received_at: chrono::Utc::now(),
            transcript: Vec::new(),
            size: size as u64,
            replica: "r".into(),
        })
    }

    fn message(capture: &str, size: usize, chunks: u32) -> Piece {
        Piece::Message {
            capture: capture.into(),
            meta: meta(size),
            chunks,
            inline: Vec::new(),
        }
    }

    fn chunk(capture: &str, index: u32, bytes: &[u8]) -> Piece {
        Piece::Chunk {
            capture: capture.into(),
            index,
            bytes: bytes.to_vec(),
        }
    }

    fn raw_of(done: Option<Done>) -> Vec<u8> {
        match done {
            Some(Done::Message { incoming, .. }) => incoming.raw,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn chunks_before_or_after_the_message_make_the_same_bytes() {
        let mut a = Assembler::default();
        assert!(a.push((1, 5), chunk("c", 1, b"def")).is_none());
        assert!(a.push((0, 9), message("c", 6, 2)).is_none());
        assert_eq!(a.holds(), HashMap::from([(1, 5), (0, 9)]));
        assert_eq!(raw_of(a.push((2, 3), chunk("c", 0, b"abc"))), b"abcdef");
        assert!(a.holds().is_empty());
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn a_wrong_size_is_reported_not_stored() {
        let mut a = Assembler::default();
        a.push((0, 0), message("c", 7, 1));
        assert!(matches!(
            a.push((0, 1), chunk("c", 0, b"abc")),
            Some(Done::Broken { .. })
        ));
    }

    #[test]
    fn forgotten_captures_are_dropped_also_when_their_pieces_come_later() {
        let mut a = Assembler::default();
        a.push((0, 0), chunk("c", 0, b"abc"));
        let forget = Piece::Forget {
            captures: vec!["c".into(), "later".into()],
            reason: Reason::Void,
        };
        assert!(matches!(a.push((0, 1), forget), Some(Done::Forget { .. })));
        assert_eq!(a.pending(), 0);
        let inline = Piece::Message {
            capture: "later".into(),
            meta: meta(1),
            chunks: 0,
            inline: b"x".to_vec(),
        };
        assert!(a.push((0, 2), inline).is_none());
    }

    #[test]
    fn pending_captures_expire() {
        let mut a = Assembler::default();
        a.push((0, 0), chunk("orphan", 0, b"abc"));
        assert_eq!(a.expire(Duration::from_secs(60)), 0);
        assert_eq!(a.expire(Duration::ZERO), 1);
        assert!(a.holds().is_empty());
    }
}
