//! The on-disk message log: one append-only file of checksummed records. A record is
//! written whole with one `write` before the SMTP client hears 250, so a killed process
//! loses nothing it acknowledged (the page cache keeps it); `fsync` mode also syncs, once
//! for every group of writers that arrived together (group commit). On open, the log is
//! read back and a torn last record (a crash mid-write) is cut off.

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
}

impl Log {
    /// Opens (or creates) `dir/messages.log` and returns it with every intact record.
    /// Opens (or creates) `dir/messages.log`, handing every intact record to `each`;
    /// returns the log and how many bytes of a torn last record were cut off.
    pub fn open(dir: &Path, fsync: bool, each: &mut dyn FnMut(Record)) -> io::Result<(Self, u64)> {
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
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let good_len = read_all(&mut file, each)?;
        let dropped = file.metadata()?.len() - good_len;
        if dropped > 0 {
            // Only an append that never completed can be cut here: it was never acknowledged.
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
            }),
            sync: fsync.then(|| Mutex::new(0)),
        };
        Ok((log, dropped))
    }

    /// Opens the log for reading only, while a sink may be writing it: nothing is cut, and
    /// a record still being written is simply not seen yet.
    pub fn open_read_only(dir: &Path, each: &mut dyn FnMut(Record)) -> io::Result<Self> {
        let path = dir.join("messages.log");
        let mut file = File::open(&path)?;
        let len = read_all(&mut file, each)?;
        let log = Self {
            _lock: None,
            path,
            file: Mutex::new(Tail {
                file,
                len,
                written: 0,
            }),
            sync: None,
        };
        Ok(log)
    }

    /// Appends one record (to the page cache); returns where its raw bytes start and the
    /// write's sequence number for [`Log::sync_to`].
    pub fn append(&self, meta: &[u8], raw: &[u8]) -> io::Result<(u64, u64)> {
        let (record, raw_offset) = encode(meta, raw);
        let (raw_at, seq) = {
            let mut tail = self.file.lock().expect("log lock");
            tail.file.write_all(&record)?;
            let raw_at = tail.len + raw_offset;
            tail.len += record.len() as u64;
            tail.written += 1;
            (raw_at, tail.written)
        };
        Ok((raw_at, seq))
    }

    /// In fsync mode, makes every write up to `seq` durable; one sync serves all writers
    /// that were waiting for it.
    pub fn sync_to(&self, seq: u64) -> io::Result<()> {
        let Some(synced) = &self.sync else {
            return Ok(());
        };
        let mut synced = synced.lock().expect("sync lock");
        if *synced >= seq {
            return Ok(());
        }
        let (file, upto) = {
            let tail = self.file.lock().expect("log lock");
            (tail.file.try_clone()?, tail.written)
        };
        file.sync_data()?;
        *synced = upto;
        Ok(())
    }

    /// The log's length in bytes.
    pub fn len(&self) -> u64 {
        self.file.lock().expect("log lock").len
    }

    /// Rewrites the log as `head` (a record without raw bytes) followed by the `keep`
    /// records of the current file, then swaps it in by rename: a crash leaves either the
    /// old log or the new one, whole. Appends wait meanwhile. Returns where each kept
    /// record's raw bytes now start.
    pub fn compact(&self, head: &[u8], keep: &[Span]) -> io::Result<Vec<u64>> {
        let mut tail = self.file.lock().expect("log lock");
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
        Ok(moved)
    }

    /// Reads `len` raw bytes at `at`.
    pub fn read(&self, at: u64, len: u64) -> io::Result<Vec<u8>> {
        let file = self.file.lock().expect("log lock").file.try_clone()?;
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

/// One record as written: header, meta, raw bytes, newline; and where the raw bytes start.
fn encode(meta: &[u8], raw: &[u8]) -> (Vec<u8>, u64) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(meta);
    crc.update(raw);
    let header = format!(
        "{MAGIC} {} {} {:08x}\n",
        meta.len(),
        raw.len(),
        crc.finalize()
    );
    let mut record = Vec::with_capacity(header.len() + meta.len() + raw.len() + 1);
    record.extend_from_slice(header.as_bytes());
    record.extend_from_slice(meta);
    record.extend_from_slice(raw);
    record.push(b'\n');
    (record, (header.len() + meta.len()) as u64)
}

/// Every intact record from the start, and the length up to the end of the last one.
fn read_all(file: &mut File, each: &mut dyn FnMut(Record)) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::with_capacity(256 * 1024, &*file);
    // One scratch buffer for every record: a fresh one each time cost more than the reading.
    let mut scratch = vec![0u8; 64 * 1024];
    let mut at = 0u64;
    loop {
        let mut header = String::new();
        let n = reader.by_ref().take(128).read_line(&mut header)?;
        let Some((meta_len, raw_len, crc)) = parse_header(&header) else {
            break;
        };
        // The raw bytes are checked in passing, never held: opening a large store stays small.
        let mut meta = vec![0; meta_len];
        if reader.read_exact(&mut meta).is_err() {
            break;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&meta);
        if !hash_through(&mut reader, raw_len as u64, &mut hasher, &mut scratch)? {
            break;
        }
        let mut end = [0u8; 1];
        if reader.read_exact(&mut end).is_err() || end[0] != b'\n' || hasher.finalize() != crc {
            break;
        }
        let raw_at = at + n as u64 + meta_len as u64;
        each(Record {
            meta,
            raw_at,
            raw_len: raw_len as u64,
        });
        at = raw_at + raw_len as u64 + 1;
    }
    Ok(at)
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
