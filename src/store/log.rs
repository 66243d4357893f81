//! The on-disk message log: one append-only file of checksummed records. A record is
//! written whole with one `write` before the SMTP client hears 250, so a killed process
//! loses nothing it acknowledged (the page cache keeps it); `fsync` mode also syncs, once
//! for every group of writers that arrived together (group commit). A write that fails
//! (a full disk, an I/O error) is rolled back to the last good end, or the log refuses
//! further writes if even that fails, so no acknowledged record ever follows a broken one.
//! On open, the log is read back: a torn last record (a crash mid-write) is cut off, and a
//! damaged record in the middle is skipped by finding the next intact record, losing
//! nothing else.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MAGIC: &str = "MTREC1";

/// A record read back from the log.
pub struct Record {
    pub meta: Vec<u8>,
    /// Where the raw bytes start in the file, and how many there are.
    pub raw_at: u64,
    pub raw_len: u64,
}

/// The open log.
pub struct Log {
    /// Held (with an exclusive lock) for as long as this writer has the store.
    _lock: Option<File>,
    path: PathBuf,
    file: Mutex<Tail>,
    sync: Option<Mutex<u64>>,
}

struct Tail {
    file: File,
    len: u64,
    /// Bumped by every write; `sync` compares it with what the last sync covered.
    written: u64,
    /// A failed write could not be rolled back: the file's end is unknown, so nothing more
    /// may be appended (the sink answers 451 until restarted).
    broken: bool,
}

/// A record made ready outside any lock: its meta (but for a suffix added at append time,
/// such as the id) and the checksums of both parts, so the append itself only writes.
pub struct Pending<'a> {
    head: Vec<u8>,
    raw: &'a [u8],
    head_crc: crc32fast::Hasher,
    raw_crc: crc32fast::Hasher,
}

impl<'a> Pending<'a> {
    pub fn new(head: Vec<u8>, raw: &'a [u8]) -> Self {
        let mut head_crc = crc32fast::Hasher::new();
        head_crc.update(&head);
        let mut raw_crc = crc32fast::Hasher::new();
        raw_crc.update(raw);
        Self {
            head,
            raw,
            head_crc,
            raw_crc,
        }
    }
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub span: Span,
    /// The write's sequence number, for [`Log::sync_to`].
    pub seq: u64,
}

/// What opening a log found besides its records.
#[derive(Debug, Default, Clone, Copy)]
pub struct Opened {
    /// Bytes of a torn last record cut off the end (never acknowledged).
    pub cut: u64,
    /// Damaged stretches in the middle that were skipped, and their bytes in all.
    pub damaged: u64,
    pub damaged_bytes: u64,
}

impl Log {
    /// Opens (or creates) `dir/messages.log`, handing every intact record to `each`;
    /// returns the log and what was cut or skipped.
    pub fn open(
        dir: &Path,
        fsync: bool,
        each: &mut dyn FnMut(Record),
    ) -> io::Result<(Self, Opened)> {
        std::fs::create_dir_all(dir)?;
        let lock = File::create(dir.join("lock"))?;
        // Two writers would interleave records; a second sink on the same store is refused.
        lock.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::ResourceBusy,
                "another mailtest sink is using this store",
            )
        })?;
        let path = dir.join("messages.log");
        // A compaction that never got to its rename; the log itself is whole.
        let _ = std::fs::remove_file(compact_path(&path));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut opened = read_all(&file, each)?;
        let good_len = opened.1;
        opened.0.cut = file.metadata()?.len() - good_len;
        if opened.0.cut > 0 {
            // Only an append that never completed can be cut here: nothing intact follows it,
            // and a record is acknowledged only once written whole.
            file.set_len(good_len)?;
            file.sync_all()?;
        }
        let log = Self {
            _lock: Some(lock),
            path,
            file: Mutex::new(Tail {
                file,
                len: good_len,
                written: 0,
                broken: false,
            }),
            sync: fsync.then(|| Mutex::new(0)),
        };
        Ok((log, opened.0))
    }

    /// Opens the log for reading only, while a sink may be writing it: nothing is cut, and
    /// a record still being written is simply not seen yet.
    pub fn open_read_only(dir: &Path, each: &mut dyn FnMut(Record)) -> io::Result<Self> {
        let path = dir.join("messages.log");
        let file = File::open(&path)?;
        let (_, len) = read_all(&file, each)?;
        let log = Self {
            _lock: None,
            path,
            file: Mutex::new(Tail {
                file,
                len,
                written: 0,
                broken: false,
            }),
            sync: None,
        };
        Ok(log)
    }

    /// Appends one small record whole (deletions, marks).
    pub fn append(&self, meta: &[u8]) -> io::Result<Appended> {
        self.append_pending(&Pending::new(meta.to_vec(), b""), b"")
    }

    /// Appends a prepared record with `suffix` after its meta (to the page cache). The
    /// work here is one vectored write: the checksum is combined, not computed. A failed
    /// write is rolled back so the next record starts at a good end.
    pub fn append_pending(&self, pending: &Pending<'_>, suffix: &[u8]) -> io::Result<Appended> {
        let meta_len = (pending.head.len() + suffix.len()) as u64;
        let mut crc = pending.head_crc.clone();
        let mut suffix_crc = crc32fast::Hasher::new();
        suffix_crc.update(suffix);
        crc.combine(&suffix_crc);
        crc.combine(&pending.raw_crc);
        let header = header(meta_len, pending.raw.len() as u64, crc.finalize());
        let parts = [header.as_bytes(), &pending.head, suffix, pending.raw, b"\n"];
        let mut tail = lock(&self.file);
        if tail.broken {
            return Err(io::Error::other(
                "the store stopped taking writes after one it could not undo; restart the sink",
            ));
        }
        if let Err(err) = write_all_vectored(&mut tail.file, &parts) {
            let start = tail.len;
            if let Err(undo) = tail.file.set_len(start) {
                tracing::error!(cause = %undo, "cannot undo a failed store write; refusing writes");
                tail.broken = true;
            }
            return Err(err);
        }
        let meta_at = tail.len + header.len() as u64;
        let span = Span {
            meta_at,
            meta_len,
            raw_at: meta_at + meta_len,
            raw_len: pending.raw.len() as u64,
        };
        tail.len = span.raw_at + span.raw_len + 1;
        tail.written += 1;
        Ok(Appended {
            span,
            seq: tail.written,
        })
    }

    /// In fsync mode, makes every write up to `seq` durable; one sync serves all writers
    /// that were waiting for it.
    pub fn sync_to(&self, seq: u64) -> io::Result<()> {
        let Some(synced) = &self.sync else {
            return Ok(());
        };
        let mut synced = lock(synced);
        if *synced >= seq {
            return Ok(());
        }
        let (file, upto) = {
            let tail = lock(&self.file);
            (tail.file.try_clone()?, tail.written)
        };
        file.sync_data()?;
        *synced = upto;
        Ok(())
    }

    /// The log's length in bytes.
    pub fn len(&self) -> u64 {
        lock(&self.file).len
    }

    /// Rewrites the log as `head` (a record without raw bytes) followed by the `keep`
    /// records of the current file, then swaps it in by rename: a crash leaves either the
    /// old log or the new one, whole. Appends wait meanwhile. Returns where each kept
    /// record's raw bytes now start.
    pub fn compact(&self, head: &[u8], keep: &[Span]) -> io::Result<Vec<u64>> {
        let mut tail = lock(&self.file);
        let tmp = compact_path(&self.path);
        let mut out = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        let (record, _) = encode(head, b"");
        out.write_all(&record)?;
        let mut len = record.len() as u64;
        let mut moved = Vec::with_capacity(keep.len());
        for span in keep {
            let mut meta = vec![0; usize::try_from(span.meta_len).unwrap_or(usize::MAX)];
            tail.file.read_exact_at(&mut meta, span.meta_at)?;
            let mut raw = vec![0; usize::try_from(span.raw_len).unwrap_or(usize::MAX)];
            tail.file.read_exact_at(&mut raw, span.raw_at)?;
            let (record, raw_offset) = encode(&meta, &raw);
            out.write_all(&record)?;
            moved.push(len + raw_offset);
            len += record.len() as u64;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        tail.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        tail.len = len;
        tail.broken = false;
        Ok(moved)
    }

    /// Reads `len` raw bytes at `at`.
    pub fn read(&self, at: u64, len: u64) -> io::Result<Vec<u8>> {
        let file = lock(&self.file).file.try_clone()?;
        let mut buf = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut buf, at)?;
        Ok(buf)
    }
}

/// Where one record's parts are in the file.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub meta_at: u64,
    pub meta_len: u64,
    pub raw_at: u64,
    pub raw_len: u64,
}

fn compact_path(log: &Path) -> PathBuf {
    log.with_extension("log.compact")
}

/// A lock whose holder panicked is still usable: every write under it either finished or
/// was rolled back, so one bad message cannot take the store down.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn header(meta_len: u64, raw_len: u64, crc: u32) -> String {
    format!("{MAGIC} {meta_len} {raw_len} {crc:08x}\n")
}

/// One record as written: header, meta, raw bytes, newline; and where the raw bytes start.
fn encode(meta: &[u8], raw: &[u8]) -> (Vec<u8>, u64) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(meta);
    crc.update(raw);
    let header = header(meta.len() as u64, raw.len() as u64, crc.finalize());
    let mut record = Vec::with_capacity(header.len() + meta.len() + raw.len() + 1);
    record.extend_from_slice(header.as_bytes());
    record.extend_from_slice(meta);
    record.extend_from_slice(raw);
    record.push(b'\n');
    (record, (header.len() + meta.len()) as u64)
}

/// `write_all` over several buffers with `writev`, so a record is not copied into one.
fn write_all_vectored(file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
    let mut bufs = &mut slices[..];
    io::IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Every intact record from the start, and the length up to the end of the last one. A
/// stretch that is not an intact record is skipped when an intact record follows it
/// (damage in the middle: reported, nothing after it lost); otherwise it is a torn end.
fn read_all(file: &File, each: &mut dyn FnMut(Record)) -> io::Result<(Opened, u64)> {
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    reader.seek(SeekFrom::Start(0))?;
    // One scratch buffer for every record: a fresh one each time cost more than the reading.
    let mut scratch = vec![0u8; 64 * 1024];
    let mut opened = Opened::default();
    let mut at = 0u64;
    loop {
        if let Some((record, next)) = read_one(&mut reader, at, &mut scratch)? {
            each(record);
            at = next;
            continue;
        }
        if at >= file_len {
            break;
        }
        let Some(next) = find_next(file, at + 1, file_len, &mut scratch)? else {
            break;
        };
        tracing::error!(
            offset = at,
            bytes = next - at,
            "skipped a damaged stretch of the store; the records after it are kept"
        );
        opened.damaged += 1;
        opened.damaged_bytes += next - at;
        at = next;
        reader.seek(SeekFrom::Start(at))?;
    }
    Ok((opened, at))
}

/// The intact record at `at` (where `reader` stands), and where the next one starts.
fn read_one(
    reader: &mut BufReader<&File>,
    at: u64,
    scratch: &mut [u8],
) -> io::Result<Option<(Record, u64)>> {
    let mut header = String::new();
    let Ok(n) = reader.by_ref().take(128).read_line(&mut header) else {
        // Not UTF-8: damage, not a header.
        return Ok(None);
    };
    let Some((meta_len, raw_len, crc)) = parse_header(&header) else {
        return Ok(None);
    };
    let mut meta = vec![0; meta_len];
    if reader.read_exact(&mut meta).is_err() {
        return Ok(None);
    }
    // The raw bytes are checked in passing, never held: opening a large store stays small.
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&meta);
    if !hash_through(reader, raw_len as u64, &mut hasher, scratch)? {
        return Ok(None);
    }
    let mut end = [0u8; 1];
    if reader.read_exact(&mut end).is_err() || end[0] != b'\n' || hasher.finalize() != crc {
        return Ok(None);
    }
    let raw_at = at + n as u64 + meta_len as u64;
    let record = Record {
        meta,
        raw_at,
        raw_len: raw_len as u64,
    };
    Ok(Some((record, raw_at + raw_len as u64 + 1)))
}

/// The start of the first intact record at or after `from`, found by its marker.
fn find_next(file: &File, from: u64, file_len: u64, scratch: &mut [u8]) -> io::Result<Option<u64>> {
    let magic = MAGIC.as_bytes();
    let finder = memchr::memmem::Finder::new(magic);
    let mut window = vec![0u8; 1 << 20];
    let mut start = from;
    while start < file_len {
        let want = usize::try_from(file_len - start).map_or(window.len(), |n| n.min(window.len()));
        file.read_exact_at(&mut window[..want], start)?;
        for hit in finder.find_iter(&window[..want]) {
            let candidate = start + hit as u64;
            let mut reader = BufReader::new(file);
            reader.seek(SeekFrom::Start(candidate))?;
            if read_one(&mut reader, candidate, scratch)?.is_some() {
                return Ok(Some(candidate));
            }
        }
        if want < window.len() {
            break;
        }
        // Overlap, so a marker across two windows is still found.
        start += (want - magic.len() + 1) as u64;
    }
    Ok(None)
}

/// Feeds `len` bytes from `reader` into `hasher`; false if the file ends first.
fn hash_through(
    reader: &mut impl Read,
    len: u64,
    hasher: &mut crc32fast::Hasher,
    buf: &mut [u8],
) -> io::Result<bool> {
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = reader.read(&mut buf[..want])?;
        if got == 0 {
            return Ok(false);
        }
        hasher.update(&buf[..got]);
        left -= got as u64;
    }
    Ok(true)
}

fn parse_header(line: &str) -> Option<(usize, usize, u32)> {
    let mut words = line.trim_end().split(' ');
    if words.next()? != MAGIC {
        return None;
    }
    let meta = words.next()?.parse().ok()?;
    let raw = words.next()?.parse().ok()?;
    let crc = u32::from_str_radix(words.next()?, 16).ok()?;
    // A header with absurd lengths is damage, not a record.
    (meta < 1 << 24 && raw < 1 << 32).then_some((meta, raw, crc))
}
