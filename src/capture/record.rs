//! The capture log's records, as replicas write them and readers read them back. A
//! message is one record keyed by its mailbox (so one run's mail stays in one partition,
//! in order): a JSON line of envelope, arrival time and transcript, then the raw bytes.
//! A message too large for one record (brokers refuse records over 1 MB by default) has
//! its bytes in chunk records first, spread over the partitions, and its message record
//! names how many. A forget record says captures were deleted (or never acknowledged).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::mail::{Envelope, Incoming};

/// The largest raw message kept inside its message record; larger ones go in chunks.
pub const INLINE_MAX: usize = 768 * 1024;
/// The bytes of one chunk record.
pub const CHUNK: usize = 512 * 1024;

/// Header names, all under `mailtest-`.
pub const KIND: &str = "mailtest-kind";
pub const CAPTURE: &str = "mailtest-capture";
pub const CHUNKS: &str = "mailtest-chunks";
pub const INDEX: &str = "mailtest-chunk";

/// What a message record says besides the bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub envelope: Envelope,
    pub received_at: DateTime<Utc>,
    pub transcript: Vec<String>,
    /// The raw message's length, checked when chunks are put together.
    pub size: u64,
    /// The replica that captured it (`--replica-name`, else host and port).
    pub replica: String,
}

/// Why captures are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A client deleted them through some node's API.
    Deleted,
    /// The replica answered 451 for them: if the log has them after all (a write that
    /// timed out but landed), they were never acknowledged and must not be shown.
    Void,
}

/// One record of the log, read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Message {
        capture: String,
        meta: Box<Meta>,
        /// How many chunk records hold the bytes; 0: they are in `inline`.
        chunks: u32,
        inline: Vec<u8>,
    },
    Chunk {
        capture: String,
        index: u32,
        bytes: Vec<u8>,
    },
    Forget {
        captures: Vec<String>,
        reason: Reason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a mailtest capture record (no `{KIND}` header)")]
    Foreign,
    #[error("unknown record kind `{0}`")]
    Kind(String),
    #[error("header `{0}` is missing or malformed")]
    Header(&'static str),
    #[error("the record's JSON is malformed: {0}")]
    Json(String),
}

#[derive(Serialize, Deserialize)]
struct ForgetBody {
    captures: Vec<String>,
    reason: Reason,
}

/// Headers and payload of a record to write.
pub type Encoded = (Vec<(&'static str, Vec<u8>)>, Vec<u8>);

impl Meta {
    pub fn of(incoming: &Incoming, replica: &str) -> Self {
        Self {
            envelope: incoming.envelope.clone(),
            received_at: incoming.received_at,
            transcript: incoming.transcript.clone(),
            size: incoming.raw.len() as u64,
            replica: replica.to_owned(),
        }
    }

    /// The message again, with its bytes.
    pub fn into_incoming(self, raw: Vec<u8>) -> Incoming {
        Incoming {
            envelope: self.envelope,
            raw,
            received_at: self.received_at,
            transcript: self.transcript,
        }
    }
}

/// How many chunk records a message of `len` bytes needs (0: it fits inline).
pub fn chunks_for(len: usize) -> u32 {
    if len <= INLINE_MAX {
        0
    } else {
        u32::try_from(len.div_ceil(CHUNK)).unwrap_or(u32::MAX)
    }
}

/// A message record: its meta, a newline, then the bytes if they fit inline.
pub fn message(capture: &str, meta: &Meta, raw: &[u8]) -> Encoded {
    let chunks = chunks_for(raw.len());
    let mut payload = serde_json::to_vec(meta).expect("meta serializes");
    payload.push(b'\n');
    if chunks == 0 {
        payload.extend_from_slice(raw);
    }
    let headers = vec![
        (KIND, b"message".to_vec()),
        (CAPTURE, capture.as_bytes().to_vec()),
        (CHUNKS, chunks.to_string().into_bytes()),
    ];
    (headers, payload)
}

/// The headers of the `index`th chunk record of a large message; its payload is that
/// stretch of the message, sent as it is.
pub fn chunk_headers(capture: &str, index: u32) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (KIND, b"chunk".to_vec()),
        (CAPTURE, capture.as_bytes().to_vec()),
        (INDEX, index.to_string().into_bytes()),
    ]
}

/// A forget record.
pub fn forget(captures: &[String], reason: Reason) -> Encoded {
    let body = ForgetBody {
        captures: captures.to_vec(),
        reason,
    };
    let payload = serde_json::to_vec(&body).expect("serializes");
    (vec![(KIND, b"forget".to_vec())], payload)
}

/// Reads a record back; anything else on the topic is an error, never a panic.
pub fn decode(headers: &[(String, Vec<u8>)], payload: &[u8]) -> Result<Piece, RecordError> {
    let header = |name: &'static str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    };
    let kind = header(KIND).ok_or(RecordError::Foreign)?;
    let capture = || {
        header(CAPTURE)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .ok_or(RecordError::Header(CAPTURE))
    };
    let number = |name| {
        header(name)
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or(RecordError::Header(name))
    };
    let json = |e: serde_json::Error| RecordError::Json(e.to_string());
    match kind {
        "message" => {
            let end = memchr::memchr(b'\n', payload)
                .ok_or(RecordError::Json("no newline after the meta".to_owned()))?;
            Ok(Piece::Message {
                capture: capture()?,
                meta: Box::new(serde_json::from_slice(&payload[..end]).map_err(json)?),
                chunks: number(CHUNKS)?,
                inline: payload[end + 1..].to_vec(),
            })
        }
        "chunk" => Ok(Piece::Chunk {
            capture: capture()?,
            index: number(INDEX)?,
            bytes: payload.to_vec(),
        }),
        "forget" => {
            let body: ForgetBody = serde_json::from_slice(payload).map_err(json)?;
            Ok(Piece::Forget {
                captures: body.captures,
                reason: body.reason,
            })
        }
        other => Err(RecordError::Kind(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(encoded: Encoded) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
        let headers = encoded.0.into_iter().map(|(k, v)| (k.to_owned(), v));
        (headers.collect(), encoded.1)
    }

    fn meta(size: usize) -> Meta {
        Meta {
            envelope: Envelope::api_default(),
            received_at: Utc::now(),
            transcript: vec!["EHLO x".into(), "250 ok".into()],
            size: size as u64,
            replica: "r1".into(),
        }
    }

    #[test]
    fn small_messages_travel_inline_and_come_back_whole() {
        let raw = b"Subject: hi\r\n\r\nline\nwith a newline in the body\r\n";
        let sent = meta(raw.len());
        let (headers, payload) = owned(message("r1-1", &sent, raw));
        let Piece::Message {
            capture,
            meta: got,
            chunks,
            inline,
        } = decode(&headers, &payload).unwrap()
        else {
            panic!("not a message");
        };
        assert_eq!((capture.as_str(), chunks), ("r1-1", 0));
        assert_eq!(inline, raw);
        assert_eq!(*got, sent);
    }

    #[test]
    fn large_messages_name_their_chunks_and_carry_no_bytes() {
        let raw = vec![b'x'; INLINE_MAX + 1];
        let (headers, payload) = owned(message("c", &meta(raw.len()), &raw));
        match decode(&headers, &payload).unwrap() {
            Piece::Message { chunks, inline, .. } => {
                assert_eq!(chunks, 2);
                assert!(inline.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let (headers, payload) = owned((chunk_headers("c", 1), b"abc".to_vec()));
        assert_eq!(
            decode(&headers, &payload).unwrap(),
            Piece::Chunk {
                capture: "c".into(),
                index: 1,
                bytes: b"abc".to_vec()
            }
        );
    }

    #[test]
    fn forget_records_round_trip() {
        let (headers, payload) = owned(forget(&["a".into(), "b".into()], Reason::Void));
        assert_eq!(
            decode(&headers, &payload).unwrap(),
            Piece::Forget {
                captures: vec!["a".into(), "b".into()],
                reason: Reason::Void
            }
        );
    }

    #[test]
    fn other_records_are_errors_not_panics() {
        assert_eq!(decode(&[], b"{}"), Err(RecordError::Foreign));
        let kind = |k: &str| vec![(KIND.to_owned(), k.as_bytes().to_vec())];
        assert_eq!(
            decode(&kind("other"), b""),
            Err(RecordError::Kind("other".into()))
        );
        assert_eq!(
            decode(&kind("message"), b"{}\n"),
            Err(RecordError::Header(CAPTURE))
        );
        assert!(matches!(
            decode(&kind("message"), b"no newline"),
            Err(RecordError::Json(_))
        ));
        assert!(matches!(
            decode(&kind("forget"), b"[1]"),
            Err(RecordError::Json(_))
        ));
        let mut chunk = kind("chunk");
        chunk.push((CAPTURE.to_owned(), b"c".to_vec()));
        chunk.push((INDEX.to_owned(), b"-1".to_vec()));
        assert_eq!(decode(&chunk, b""), Err(RecordError::Header(INDEX)));
    }
}
