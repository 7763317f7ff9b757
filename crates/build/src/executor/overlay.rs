//! A stage's rootfs mounted as an overlay of the cache dir's unpacked layers.
//!
//! Owns: deciding whether a stage's rootfs can be mounted rather than extracted, unpacking
//! the layers the store lacks, mounting (upper and work directories in the stage's directory
//! of the work area), and unmounting before the rootfs is removed. Does not own: the store
//! ([`crate::cache::UnpackedStore`]) or the mount itself (`kiln_sandbox::overlay`).
//!
//! With `--cache` and an existing `--cache-dir`, kiln running as root in its own mount
//! namespace keeps every layer it extracts or caches unpacked in the cache dir, and a stage's
//! rootfs is the overlay of its layers from there: a stage whose cache misses at its last step
//! starts that step at once instead of extracting the base and every cached layer first, as
//! Buildah does with its layer storage. Where an overlay cannot be had (no privileges, the
//! cache dir on another filesystem than the work area, a layer that cannot be unpacked alone),
//! the rootfs is extracted as without the cache, and the log says why.

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln_sandbox::overlay::{self, MAX_LOWER_LAYERS, Overlay};

use super::base::{self, StageImage};
use super::error::Error;
use super::{Executor, LayerBlob};
use crate::StageRef;
use crate::cache::UnpackedStore;
use crate::events::Event;

impl Executor<'_> {
    /// Mounts the rootfs of `stage` at `path` as an overlay of `image`'s layers, unpacking
    /// those the store lacks first; `None` (with the reason logged) when the rootfs must be
    /// extracted instead.
    pub(super) fn mount_rootfs(
        &mut self,
        stage: &StageRef,
        image: &StageImage,
        stage_dir: &Path,
        path: &Path,
    ) -> Result<Option<kiln_fs::resolve::Root>, Error> {
        let Some(store) = self.cache.as_ref().and_then(|c| c.options.unpacked.clone()) else {
            return Ok(None);
        };
        if self.overlay_off.is_some() || image.layers.is_empty() {
            return Ok(None);
        }
        if let Err(reason) = usable(&store, stage_dir, image.layers.len()) {
            tracing::info!("{stage}: extracting the rootfs rather than mounting it: {reason}");
            self.overlay_off = Some(reason);
            return Ok(None);
        }
        if !self.unpack_missing(stage, image, &store)? {
            return Ok(None);
        }
        let lowers: Vec<PathBuf> = image
            .layers
            .iter()
            .rev()
            .map(|l| store.entry(&l.descriptor.digest))
            .collect();
        let dir = stage_dir.join("overlay");
        let (upper, work, links) = (dir.join("upper"), dir.join("work"), dir.join("links"));
        let mounted = [&upper, &work, path]
            .into_iter()
            .try_for_each(std::fs::create_dir_all)
            .and_then(|()| {
                let overlay = Overlay {
                    lowers: &lowers,
                    upper: &upper,
                    work: &work,
                    links: &links,
                };
                overlay::mount(&overlay, path)
            });
        if let Err(e) = mounted {
            let reason = format!("cannot mount an overlay on {}: {e}", path.display());
            tracing::info!("{stage}: extracting the rootfs rather than mounting it: {reason}");
            self.overlay_off = Some(reason);
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("cannot remove {}: {e}", dir.display());
            }
            return Ok(None);
        }
        self.overlays.insert(path.to_owned(), dir);
        tracing::info!(
            "mounted {} layers for {stage} from {} on {}",
            image.layers.len(),
            store.dir().display(),
            path.display()
        );
        let root = kiln_fs::resolve::Root::open(path).map_err(|source| Error::Rootfs {
            stage: stage.clone(),
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        Ok(Some(root))
    }

    /// Unpacks the layers of `image` the store lacks, with the extraction events; false
    /// (logged) when one cannot be unpacked alone.
    fn unpack_missing(
        &mut self,
        stage: &StageRef,
        image: &StageImage,
        store: &UnpackedStore,
    ) -> Result<bool, Error> {
        let missing: Vec<LayerBlob> = image
            .layers
            .iter()
            .filter(|l| !store.has(&l.descriptor.digest))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(true);
        }
        let events = &self.options.events;
        let (layers, started) = (missing.len(), Instant::now());
        events.emit(Event::ExtractStarted {
            stage: stage.clone(),
            layers,
        });
        base::fetch(&missing, self.registry, self.runtime)?;
        let mut progress = base::LayerProgress::new(events, stage, &missing);
        for (i, layer) in missing.iter().enumerate() {
            if let Err(e) = store.unpack(&layer.descriptor.digest, &layer.path) {
                let reason = super::cached::chain_text(&e);
                tracing::warn!("{stage}: extracting the rootfs rather than mounting it: {reason}");
                return Ok(false);
            }
            progress.applied(i);
        }
        events.emit(Event::ExtractFinished {
            stage: stage.clone(),
            layers,
            elapsed: started.elapsed(),
        });
        Ok(true)
    }

    /// Unmounts the overlay on `rootfs`, if it is one, and starts removing its upper and
    /// work directories; the caller removes `rootfs` itself.
    pub(super) fn unmount_rootfs(&mut self, rootfs: &Path) {
        let Some(dir) = self.overlays.remove(rootfs) else {
            return;
        };
        if let Err(e) = overlay::unmount(rootfs) {
            tracing::warn!("cannot unmount {}: {e}", rootfs.display());
            return;
        }
        self.removals
            .start(&dir, &self.options.work_dir.join("trash"));
    }
}

/// Detaches every mount at or below `dir` (a build's work area), deepest first, as the mount
/// table lists them; returns how many. Outside kiln's private namespace nothing of kiln's is
/// mounted and nothing is touched.
pub fn unmount_below(dir: &Path) -> std::io::Result<usize> {
    if !overlay::in_private_namespace() {
        return Ok(0);
    }
    let table = std::fs::read_to_string(kiln_fs::ignore_list::MOUNTINFO)?;
    let points = kiln_fs::ignore_list::parse_mountinfo(&table).map_err(std::io::Error::other)?;
    let mut targets: Vec<PathBuf> = points
        .into_iter()
        .map(|p| PathBuf::from(std::ffi::OsString::from_vec(p)))
        .filter(|target| target.starts_with(dir))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.components().count()));
    for target in &targets {
        overlay::unmount(target)?;
    }
    Ok(targets.len())
}

/// Why the store cannot be the rootfs of a stage in `stage_dir` with `layers` layers.
fn usable(store: &UnpackedStore, stage_dir: &Path, layers: usize) -> Result<(), String> {
    if !overlay::in_private_namespace() {
        return Err("kiln has no mount namespace of its own".to_owned());
    }
    if layers > MAX_LOWER_LAYERS {
        return Err(format!(
            "{layers} layers are more than an overlay takes ({MAX_LOWER_LAYERS})"
        ));
    }
    let device = |path: &Path| {
        std::fs::create_dir_all(path)
            .and_then(|()| std::fs::metadata(path))
            .map(|m| m.dev())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    // Inode numbers stay unique across an overlay's layers only when all are on one
    // filesystem; snapshots tell files apart by them.
    if device(store.dir())? != device(stage_dir)? {
        return Err(format!(
            "{} and the work area {} are on different filesystems",
            store.dir().display(),
            stage_dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_the_private_namespace_nothing_is_unmounted() {
        // Tests never enter the private namespace: the test harness runs threads already.
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(unmount_below(dir.path()).expect("nothing to do"), 0);
    }
}
