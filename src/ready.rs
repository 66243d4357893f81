//! Ready files: how a background process tells a script where it listens.

use std::path::Path;

/// Writes `contents` whole under a temporary name first, so a script polling for the file
/// never reads half of it.
pub fn write(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{contents}\n"))?;
    std::fs::rename(&tmp, path)
}
