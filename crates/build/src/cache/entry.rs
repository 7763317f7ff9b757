//! The image of one cache entry, as the registry store pushes it and the layout store writes
//! it: an OCI manifest with the step's layer (none for a step that changed no file) and a
//! config for the build's platform whose `rootfs.diff_ids` holds the layer's diff ID, whose
//! `config` is the step's config delta, and whose `created` is when it was written (the TTL is
//! counted from it).
//!
//! Does not own: where the image is kept (the stores) or where its layer's blob is.

use std::time::{Duration, SystemTime};

use kiln_oci::{
    ConfigFile, Descriptor, DiffId, Family, History, Manifest, MediaType, Platform, RootFs,
};

use super::CacheKey;
use super::store::CachedStep;
use crate::warm::stamp;

/// The manifest of `step`'s entry under `key`, written at `now`, and the config it names.
pub(super) fn image(
    platform: &Platform,
    key: &CacheKey,
    step: &CachedStep,
    now: SystemTime,
) -> (Manifest, Vec<u8>) {
    let created = stamp::format(now);
    let mut config = ConfigFile::new(platform);
    config.created = Some(created.clone());
    config.rootfs = RootFs {
        kind: "layers".to_owned(),
        diff_ids: Vec::new(),
    };
    config.config = step.config_delta.clone();
    let history = History {
        created: Some(created),
        created_by: Some(format!("kiln cache {}", key.digest())),
        ..History::default()
    };
    let mut layers = Vec::new();
    match &step.layer {
        Some(layer) => {
            config.push_layer(layer.diff_id.clone(), history);
            layers.push(layer.descriptor.clone());
        }
        None => config.push_empty_step(history),
    }
    let config_bytes = config.to_json();
    let config_desc = Descriptor::of(MediaType::config(Family::Oci), &config_bytes);
    (
        Manifest::new(Family::Oci, config_desc, layers),
        config_bytes,
    )
}

/// Why `manifest` cannot be an entry's, before its config is read.
pub(super) fn check_manifest(manifest: &Manifest) -> Result<(), &'static str> {
    if manifest.layers.len() > 1 {
        return Err("it has more than one layer");
    }
    Ok(())
}

/// What an entry holds, read from its manifest and config.
pub(super) struct Read {
    /// The layer and its diff ID, for a step that changed files.
    pub layer: Option<(Descriptor, DiffId)>,
    pub config_delta: kiln_oci::Config,
}

/// Reads the entry whose manifest passed [`check_manifest`] and whose config is
/// `config_bytes`: `None` when it is older than `ttl` at `now`, an error naming why when it is
/// not an entry at all.
pub(super) fn read(
    manifest: &Manifest,
    config_bytes: &[u8],
    ttl: Duration,
    now: SystemTime,
) -> Result<Option<Read>, &'static str> {
    let config =
        ConfigFile::parse(config_bytes).map_err(|_| "its config is not an image config")?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err("its config's diff IDs do not match its layers");
    }
    let fresh = config
        .created
        .as_deref()
        .and_then(stamp::parse)
        .is_some_and(|created| now.duration_since(created).is_ok_and(|age| age <= ttl));
    if !fresh {
        return Ok(None);
    }
    let layer = manifest
        .layers
        .first()
        .cloned()
        .zip(config.rootfs.diff_ids.first().cloned());
    Ok(Some(Read {
        layer,
        config_delta: config.config,
    }))
}
