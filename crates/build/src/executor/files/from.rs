//! `COPY --from`: the earlier stage the word names, else an image.
//!
//! As BuildKit's Dockerfile front end resolves it: after meta-ARG expansion the word is
//! matched against the names of earlier stages (case-insensitively), then as a stage index,
//! and otherwise taken as an image reference, pulled for the copying stage's platform through
//! the same path as FROM ([`super::super::base`]) and extracted once per build.
//!
//! Does not own: pulling and extracting (`base`), the copy itself (`kiln_fs::copy`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_dockerfile::Span;
use kiln_fs::copy::Source;
use kiln_oci::Reference;

use super::super::error::Error;
use super::super::{Executor, base};
use crate::error::StageRef;
use crate::events::Events;

/// The images `COPY --from` extracted in this build, by reference and platform.
pub type CopyImages = BTreeMap<String, PathBuf>;

/// What a `--from` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromTarget {
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference, as written after expansion.
    Image(String),
}

impl Executor<'_> {
    /// `COPY --from`: the earlier stage `word` names (after meta-ARG expansion, by name or
    /// index), its rootfs extracted now if it never was; else the image `word` names.
    pub(in super::super) fn copy_source(
        &mut self,
        word: &str,
        span: Span,
        stage: &StageRef,
    ) -> Result<Source, Error> {
        let path = match self.resolve_from(word, span, stage)? {
            FromTarget::Stage(index) => self.stage_rootfs(index)?,
            FromTarget::Image(name) => self.image_rootfs(&name, span, stage)?,
        };
        let root = kiln_fs::resolve::Root::open(&path).map_err(|source| Error::Rootfs {
            stage: stage.clone(),
            path: path.clone(),
            source: Box::new(source),
        })?;
        Ok(Source::stage(root))
    }

    /// What `--from=word` names: an earlier stage (by name or index, after meta-ARG
    /// expansion) or else an image.
    pub(in super::super) fn resolve_from(
        &self,
        word: &str,
        span: Span,
        stage: &StageRef,
    ) -> Result<FromTarget, Error> {
        let global = self.plan.scope.global();
        let name = self
            .file
            .lexer()
            .expand_word(word, &global)
            .map_err(|source| crate::Error::Expand {
                span,
                stage: stage.clone(),
                word: word.to_owned(),
                source: Box::new(source),
            })?;
        let earlier = &self.file.stages[..stage.index];
        let lower = name.to_ascii_lowercase();
        let index = earlier
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .map(|s| s.index)
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < earlier.len()));
        Ok(match index {
            Some(index) => FromTarget::Stage(index),
            None => FromTarget::Image(name),
        })
    }

    /// The manifest digest of the image `name` for `stage`'s platform, resolved once per
    /// build (its layers are not downloaded): what the key of a `COPY --from` it starts from.
    pub(in super::super) fn image_digest(
        &mut self,
        name: &str,
        span: Span,
        stage: &StageRef,
    ) -> Result<kiln_oci::Digest, Error> {
        let (reference, platform) = self.copied_image(name, span, stage)?;
        let key = format!("{reference} {platform}");
        if let Some(digest) = self.copy_image_digests.get(&key) {
            return Ok(digest.clone());
        }
        let pulled = self.resolve_image(&reference, &platform)?;
        self.copy_image_digests.insert(key, pulled.digest.clone());
        Ok(pulled.digest)
    }

    /// The reference `name` and the platform `stage` copies it for.
    fn copied_image(
        &self,
        name: &str,
        span: Span,
        stage: &StageRef,
    ) -> Result<(Reference, kiln_oci::Platform), Error> {
        let reference =
            Reference::parse(name).map_err(|source| crate::Error::InvalidReference {
                span,
                stage: stage.clone(),
                name: name.to_owned(),
                source: Box::new(source),
            })?;
        let platform = self
            .plan
            .stages
            .iter()
            .find(|s| s.index == stage.index)
            .and_then(|s| s.platform.clone())
            .unwrap_or_else(|| self.options.plan.target_platform.clone());
        Ok((reference, platform))
    }

    /// The rootfs of the earlier stage `index`, extracted now if no step needed it.
    fn stage_rootfs(&mut self, index: usize) -> Result<PathBuf, Error> {
        let done = self.done.get_mut(&index).ok_or_else(|| Error::Invariant {
            what: format!("COPY --from stage {index}, which was not built"),
        })?;
        if let Some(path) = &done.rootfs {
            return Ok(path.clone());
        }
        if done.layerless {
            return Err(Error::Invariant {
                what: format!(
                    "stage {index} is read after the last reader the plan knows (an ONBUILD \
                     trigger of a base image?), and its rootfs is removed and it wrote no layers"
                ),
            });
        }
        let path = self
            .options
            .work_dir
            .join(format!("stage{index}"))
            .join("rootfs");
        let from_ref = done.state.stage.clone();
        base::fetch(&done.image.layers, self.registry, self.runtime)?;
        base::materialize(&from_ref, &done.image.layers, &path, &Events::none())?;
        done.rootfs = Some(path.clone());
        Ok(path)
    }

    /// The filesystem of the image `name` for `stage`'s platform, pulled and extracted the
    /// first time this build names it.
    fn image_rootfs(&mut self, name: &str, span: Span, stage: &StageRef) -> Result<PathBuf, Error> {
        let (reference, platform) = self.copied_image(name, span, stage)?;
        let key = format!("{reference} {platform}");
        if let Some(path) = self.copy_images.get(&key) {
            return Ok(path.clone());
        }
        let pulled = self.resolve_image(&reference, &platform)?;
        let path = self
            .options
            .work_dir
            .join("copy-from")
            .join(self.copy_images.len().to_string());
        tracing::info!(
            "extracting {} layers of {reference} for COPY --from into {}",
            pulled.image.layers.len(),
            path.display()
        );
        base::fetch(&pulled.image.layers, self.registry, self.runtime)?;
        base::materialize(stage, &pulled.image.layers, &path, &Events::none())?;
        self.copy_images.insert(key, path.clone());
        Ok(path)
    }
}
