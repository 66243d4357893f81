//! An optional mirror of the store as one standard `.eml` file per message (`<id>.eml`),
//! for mail clients and tools that read files. The log stays the source of truth: the mirror
//! is brought in line with it on start, then follows every insert and delete.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Store, StoreError};

/// Writes `raw` as `dir/<id>.eml`, whole: written aside, then renamed into place.
pub(super) fn write(dir: &Path, id: u64, raw: &[u8]) -> std::io::Result<()> {
    let path = dir.join(format!("{id}.eml"));
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    std::fs::write(&tmp, raw)?;
    std::fs::rename(&tmp, path)
}

pub(super) fn remove(dir: &Path, id: u64) {
    let _ = std::fs::remove_file(dir.join(format!("{id}.eml")));
}

impl Store {
    /// The same store, mirrored as `.eml` files in `dir`: missing files are written, files
    /// of messages no longer stored are removed.
    pub fn with_eml_dir(mut self, dir: &Path) -> Result<Self, StoreError> {
        let io = StoreError::Write;
        std::fs::create_dir_all(dir).map_err(io)?;
        let live: HashSet<u64> = self
            .list(&super::Query::default())
            .iter()
            .map(|s| s.id)
            .collect();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            let name = name.to_string_lossy();
            let stale = match name.strip_suffix(".eml").map(str::parse::<u64>) {
                Some(Ok(id)) => !live.contains(&id),
                _ => name.ends_with(".eml.tmp"),
            };
            if stale {
                let _ = std::fs::remove_file(dir.join(&*name));
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
