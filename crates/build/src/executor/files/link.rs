//! `COPY --link` and `ADD --link`: the files are copied onto an empty directory and that tree
//! becomes the step's layer, independent of the layers below, as BuildKit's MergeOp of
//! `scratch` with the copy makes it (`dockerfile2llb/convert_copy.go`). The destination is
//! therefore resolved without seeing the rootfs: its symlinks are not followed, an existing
//! directory does not make a file land inside it, and every parent directory of the
//! destination is in the layer, created 0755 and owned by `--chown` (root by default).
//!
//! The rootfs then gets the layer applied exactly as a pulled layer is extracted, which is
//! what later steps see in BuildKit and what an image consumer gets from the layer: a
//! directory of the layer replaces a symlink or file at its path and gives an existing
//! directory its metadata, and a file replaces whatever was at its path.
//! Reference: <https://docs.docker.com/reference/dockerfile/#copy---link>.

use std::path::Path;

use kiln_fs::layer::Changes;

use super::super::LayerBlob;
use super::super::error::Error;
use super::super::step::{self, Rootfs};
use super::CopyContext;
use crate::error::StageRef;

/// Writes the layer of `tree` (everything `changes` lists), applies it to `rootfs` and
/// refreshes the snapshot. `None` when the copy wrote nothing.
pub(super) fn apply(
    tree: &Path,
    changes: &Changes,
    rootfs: &mut Rootfs,
    ctx: &CopyContext<'_>,
    stage: &StageRef,
    step: usize,
) -> Result<Option<(LayerBlob, kiln_oci::DiffId)>, Error> {
    if changes.is_empty() {
        return Ok(None);
    }
    let (blob, diff_id) = step::write_layer(
        tree,
        changes,
        ctx.settings,
        stage,
        step,
        &kiln_fs::extract::Placeholders::default(),
    )?;
    let file = std::fs::File::open(&blob.path).map_err(|source| Error::Io {
        path: blob.path.clone(),
        source,
    })?;
    // In place in `/`, the layer is applied with the same ignore list as the base layers.
    let options = kiln_fs::extract::Options {
        rootless: !is_root(),
        ignore: ctx.in_place.clone().unwrap_or_default(),
        ..kiln_fs::extract::Options::default()
    };
    kiln_fs::extract::extract_layers(&rootfs.root, [file], &options).map_err(|source| {
        Error::Extract {
            stage: stage.clone(),
            rootfs: rootfs.path.clone(),
            source: Box::new(source),
        }
    })?;
    super::refresh(rootfs, changes, stage, step)?;
    Ok(Some((blob, diff_id)))
}

/// Whether this process runs as root (the owner of its own `/proc/self`), as extraction of
/// base layers decides it.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
