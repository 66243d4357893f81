//! An optional mirror of the store as one standard `.eml` file per message (`<id>.eml`),
//! for mail clients and tools that read files. The log stays the source of truth: the mirror
//! is brought in line with it on start, then follows every insert and delete.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Store, StoreError};

/// Marks a folder as the sink's own mirror: only in such a folder are `.eml` files ever
/// removed, so pointing `--eml-dir` at a folder of one's own mail deletes nothing.
const MARKER: &str = ".mailtest-eml-dir";

/// Writes `raw` as `dir/<name>`, whole: into a fresh temporary file created exclusively
/// (a planted file or symlink under that name makes it fail, never followed), then renamed
/// into place (which replaces a link at `name` instead of writing through it).
pub fn write_file(dir: &Path, name: &str, raw: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    let written = file.write_all(raw).and_then(|()| {
        drop(file);
        std::fs::rename(&tmp, dir.join(name))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

pub(super) fn write(dir: &Path, id: u64, raw: &[u8]) -> std::io::Result<()> {
    write_file(dir, &format!("{id}.eml"), raw)
}

/// Removes `dir/<id>.eml` if it is a plain file (a link put there is left alone).
pub(super) fn remove(dir: &Path, id: u64) {
    let path = dir.join(format!("{id}.eml"));
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Our own names: `<id>.eml` and the temporary `.<id>.eml.<hex>.tmp`.
fn ours(name: &str) -> Option<Result<u64, ()>> {
    if let Some(id) = name.strip_suffix(".eml") {
        return Some(id.parse().map_err(|_| ()));
    }
    let tmp = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (file, hex) = tmp.rsplit_once('.')?;
    // Our own names, written in lower case: the exact suffix is meant.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    let temporary = file.ends_with(".eml") && hex.len() == 16;
    temporary.then_some(Err(()))
}

/// Takes `dir` as the mirror's folder: an empty or new folder, or one this sink marked
/// before. A folder with `.eml` files and no mark is someone else's, and refused.
fn claim(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if dir.join(MARKER).exists() {
        return Ok(());
    }
    let foreign = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().ends_with(".eml"));
    if foreign {
        return Err(std::io::Error::other(format!(
            "`{}` has .eml files mailtest did not write; give --eml-dir an empty folder",
            dir.display()
        )));
    }
    write_file(
        dir,
        MARKER,
        b"This folder mirrors a mailtest sink's store as <id>.eml files.\n",
    )
}

impl Store {
    /// The same store, mirrored as `.eml` files in `dir`: missing files are written, files
    /// of messages no longer stored are removed (in a folder the sink claimed only).
    pub fn with_eml_dir(mut self, dir: &Path) -> Result<Self, StoreError> {
        let io = StoreError::Write;
        claim(dir).map_err(io)?;
        let live: HashSet<u64> = self
            .list(&super::Query::default())
            .iter()
            .map(|s| s.id)
            .collect();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let stale = match ours(&name.to_string_lossy()) {
                Some(Ok(id)) => !live.contains(&id),
                Some(Err(())) => true,
                None => false,
            };
            if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        for id in &live {
            if !dir.join(format!("{id}.eml")).exists() {
                write(dir, *id, &self.raw(*id)?).map_err(io)?;
            }
        }
        self.eml_dir = Some(PathBuf::from(dir));
        Ok(self)
    }
}
