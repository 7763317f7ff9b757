//! Removing the filesystems of finished stages while the build goes on.
//!
//! Owns: moving a stage's rootfs out of the way (renamed into `trash/` of the work area, so
//! its path is free at once) and deleting it on a thread of its own, so that the deletion
//! overlaps later steps and the push. Does not own: deciding when no stage reads a rootfs
//! any more (the executor asks the [`crate::plan::Plan`]), removing the work area (the
//! caller, after [`Removals::wait`]).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The deletions a build started.
#[derive(Debug, Clone, Default)]
pub struct Removals(Arc<Mutex<Started>>);

#[derive(Debug, Default)]
struct Started {
    /// How many rootfs were moved to the trash, for unique names there.
    moved: usize,
    running: Vec<JoinHandle<()>>,
}

impl Removals {
    /// Moves `rootfs` into `trash` and deletes it in the background. What cannot be moved or
    /// deleted stays for the removal of the work area, with a warning.
    pub fn start(&self, rootfs: &Path, trash: &Path) {
        let mut started = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let moved = trash.join(started.moved.to_string());
        started.moved += 1;
        if let Err(e) =
            std::fs::create_dir_all(trash).and_then(|()| std::fs::rename(rootfs, &moved))
        {
            tracing::warn!(
                "cannot move {} to {}: {e}",
                rootfs.display(),
                moved.display()
            );
            return;
        }
        tracing::debug!("removing {} (was {})", moved.display(), rootfs.display());
        let remove = move || {
            if let Err(e) = std::fs::remove_dir_all(&moved) {
                tracing::warn!("cannot remove {}: {e}", moved.display());
            }
        };
        match std::thread::Builder::new()
            .name("kiln-remove".to_owned())
            .spawn(remove)
        {
            Ok(handle) => started.running.push(handle),
            Err(e) => tracing::warn!("cannot start removing a stage's rootfs: {e}"),
        }
    }

    /// Waits for every deletion started so far.
    pub fn wait(&self) {
        let running = std::mem::take(
            &mut self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .running,
        );
        for handle in running {
            if handle.join().is_err() {
                tracing::warn!("removing a stage's rootfs panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rootfs_is_moved_at_once_and_gone_after_wait() {
        let work = tempfile::tempdir().expect("tempdir");
        let trash = work.path().join("trash");
        let removals = Removals::default();
        for name in ["a", "b"] {
            let rootfs = work.path().join(name).join("rootfs");
            std::fs::create_dir_all(rootfs.join("usr/lib")).expect("mkdir");
            std::fs::write(rootfs.join("usr/lib/x"), b"x").expect("write");
            removals.start(&rootfs, &trash);
            assert!(!rootfs.exists(), "{} still there", rootfs.display());
        }
        removals.wait();
        let left: Vec<_> = std::fs::read_dir(&trash).expect("trash").collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
