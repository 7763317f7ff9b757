//! Atomic file replacement: write a temporary file next to the target, flush it to disk, make
//! it world-readable (0644, like any blob or output file) and rename it over the target, so a
//! reader sees the old file or the whole new one, never a part.
//!
//! Owns: the temporary file's place and name, and the rename. Does not own: naming the path in
//! errors; callers wrap the plain io errors returned here with the path they were writing.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// The directory a temporary file for `path` goes in: the target's own, so the rename stays
/// on one file system.
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file in `dir`, named with `prefix` so that a leftover from a crash is
/// recognisable.
pub(crate) fn temp_in(dir: &Path, prefix: &str) -> io::Result<NamedTempFile> {
    tempfile::Builder::new().prefix(prefix).tempfile_in(dir)
}

/// Flushes `tmp` to disk, sets mode 0644 and renames it to `path`.
pub(crate) fn persist(tmp: NamedTempFile, path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = tmp.as_file();
    file.sync_all()?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Replaces `path` with `bytes` atomically. The parent directory must exist.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = temp_in(&parent_dir(path), ".tmp-")?;
    tmp.write_all(bytes)?;
    persist(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_bare_file_name_is_written_in_the_current_directory() {
        assert_eq!(parent_dir(Path::new("digest")), PathBuf::from("."));
        assert_eq!(parent_dir(Path::new("/a/b")), PathBuf::from("/a"));
    }
}
