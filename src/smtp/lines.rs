//! Bounded reading from an SMTP connection: a command line never grows past its limit, a
//! silent client never holds a session past its timeout.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What one line read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, with its line ending.
    Text(Vec<u8>),
    /// The line passed the limit; it was read to its end and dropped.
    TooLong,
    /// The client closed the connection (a partial last line is dropped).
    Closed,
}

/// Reads one line of at most `max` bytes, or fails with `TimedOut` after `timeout`.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    timeout: Duration,
) -> io::Result<Line> {
    tokio::time::timeout(timeout, read_line_inner(reader, max))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client sent nothing in time"))?
}

async fn read_line_inner<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Closed);
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            if line.len() + take > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(&buf[..take]);
            }
        }
        reader.consume(take);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

/// One line of message data read by [`read_data_line`].
#[derive(Debug, PartialEq, Eq)]
pub struct DataLine {
    /// Bytes the line had, line ending included, whether kept or not.
    pub len: usize,
    /// It ended in CR LF, not a bare LF.
    pub crlf: bool,
    /// It fit in the room given and was appended; otherwise it was read and dropped.
    pub kept: bool,
}

/// Reads one line of message data (up to and including its LF) straight into `out`,
/// keeping it only if it fits in `room` bytes, so the body is built without a buffer per
/// line and a huge line costs no memory. `None`: the client closed the connection.
pub async fn read_data_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    room: usize,
    timeout: Duration,
) -> io::Result<Option<DataLine>> {
    tokio::time::timeout(timeout, read_data_line_inner(reader, out, room))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client sent nothing in time"))?
}

async fn read_data_line_inner<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    room: usize,
) -> io::Result<Option<DataLine>> {
    let start = out.len();
    let mut len = 0usize;
    // The byte before the LF, remembered across buffer refills and for a dropped line.
    let mut last = 0u8;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            out.truncate(start);
            return Ok(None);
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let before_end = if done {
            take.checked_sub(2)
        } else {
            Some(take - 1)
        };
        if let Some(i) = before_end {
            last = buf[i];
        }
        if len + take <= room {
            out.extend_from_slice(&buf[..take]);
        } else {
            out.truncate(start);
        }
        len += take;
        reader.consume(take);
        if done {
            return Ok(Some(DataLine {
                len,
                crlf: last == b'\r',
                kept: len <= room,
            }));
        }
    }
}

/// The slowest message data a session waits for, after its first `timeout`: like postfix's
/// `smtpd_min_data_rate`, so a client trickling one byte a second (or one line ending at a
/// time) cannot hold a session, while a large message at any real speed gets all it needs.
pub const MIN_DATA_RATE: u64 = 500;

/// How long message data that began at `started` may still take: `timeout` plus one second
/// per `MIN_DATA_RATE` bytes received so far; `None` once that has passed.
pub fn time_left(
    started: tokio::time::Instant,
    received: u64,
    timeout: Duration,
) -> Option<Duration> {
    let earned = Duration::from_millis(received.saturating_mul(1000) / MIN_DATA_RATE);
    (timeout + earned)
        .checked_sub(started.elapsed())
        .filter(|d| !d.is_zero())
}

/// Reads exactly `len` bytes into `out` (or discards them when `out` is `None`), at no less
/// than the minimum data rate (see `time_left`).
pub async fn read_chunk<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    len: u64,
    mut out: Option<&mut Vec<u8>>,
    timeout: Duration,
) -> io::Result<()> {
    let started = tokio::time::Instant::now();
    let too_slow = || io::Error::new(io::ErrorKind::TimedOut, "chunk did not arrive in time");
    let mut left = len;
    while left > 0 {
        let wait = time_left(started, len - left, timeout).ok_or_else(too_slow)?;
        let buf = tokio::time::timeout(wait, reader.fill_buf())
            .await
            .map_err(|_| too_slow())??;
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-chunk",
            ));
        }
        let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if let Some(out) = out.as_deref_mut() {
            out.extend_from_slice(&buf[..take]);
        }
        reader.consume(take);
        left -= take as u64;
    }
    Ok(())
}
