//! Pulling one image into the base-image cache.
//!
//! Owns: the order of a cache write: resolve the reference for the platform (mirrors, registry
//! maps and index selection are `kiln_registry`'s), download the layers the layout lacks in
//! parallel (each verified and renamed into place by
//! [`kiln_registry::RegistryClient::download_blobs`]), write the config and the manifest exactly
//! as the registry served them (so the digest is the registry's), and only then record the
//! entry ([`BaseImageCache::record`]).
//!
//! Does not own: the format ([`super::cache`]) or deciding whether to pull at all
//! ([`super::warm`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

use kiln_oci::{Descriptor, Layout, LayoutError, LocalImage, Platform, Reference};
use kiln_registry::{RegistryClient, RemoteImage};

use super::cache::{BaseImageCache, CacheError, Entry};

/// Why one image could not be cached. Every variant names the image and, where the registry
/// is involved, the registry.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{image:?} is not a valid image reference")]
    Reference {
        image: String,
        #[source]
        source: kiln_oci::ReferenceError,
    },
    #[error("pulling {reference} from registry {registry}")]
    Pull {
        reference: String,
        registry: String,
        #[source]
        source: Box<kiln_registry::Error>,
    },
    #[error("{reference} from registry {registry} is not a consistent image")]
    Inconsistent {
        reference: String,
        registry: String,
        #[source]
        source: Box<kiln_oci::ImageError>,
    },
    #[error("writing {reference} to the cache")]
    Cache {
        reference: String,
        #[source]
        source: CacheError,
    },
    #[error("writing {reference} to the cache: cannot create {}", path.display())]
    Io {
        reference: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Pulls `reference` for `platform` into `layout` and records it in `cache` as of `now`.
/// Layers already in the layout are downloaded again only with `refetch` (`--force`, or a
/// cached copy that did not read back); a manifest or config already there is rewritten when
/// it does not match its digest.
pub async fn pull_into(
    client: &RegistryClient,
    cache: &BaseImageCache,
    layout: &Layout,
    reference: &Reference,
    platform: &Platform,
    refetch: bool,
    now: SystemTime,
) -> Result<Entry, ImageError> {
    let registry_error = |source| ImageError::Pull {
        reference: reference.to_string(),
        registry: reference.registry().to_owned(),
        source: Box::new(source),
    };
    let remote = client
        .resolve_image(reference, platform)
        .await
        .map_err(registry_error)?;
    let registry_error = |source| ImageError::Pull {
        reference: reference.to_string(),
        registry: remote.source.registry().to_owned(),
        source: Box::new(source),
    };
    download_layers(client, layout, &remote, reference, refetch)
        .await
        .map_err(|e| match e {
            Download::Registry(e) => registry_error(e),
            Download::Io(e) => e,
        })?;
    let config = remote.read_config(client).await.map_err(registry_error)?;
    let layers = remote
        .layers()
        .iter()
        .map(|l| layout.blob_path(&l.digest))
        .collect();
    let image =
        LocalImage::new(remote.fetched.bytes.clone(), config, layers).map_err(|source| {
            ImageError::Inconsistent {
                reference: reference.to_string(),
                registry: remote.source.registry().to_owned(),
                source: Box::new(source),
            }
        })?;
    let cache_error = |source| ImageError::Cache {
        reference: reference.to_string(),
        source,
    };
    let layout_error = |source| {
        cache_error(CacheError::Layout {
            root: layout.root().to_owned(),
            source: Box::new(source),
        })
    };
    write_small_blob(layout, &image.manifest().config, image.config_bytes())
        .map_err(layout_error)?;
    write_small_blob(layout, &image.descriptor(), image.manifest_bytes()).map_err(layout_error)?;
    cache
        .record(
            layout,
            &image,
            reference,
            platform,
            remote.index_digest.as_ref(),
            now,
        )
        .map_err(cache_error)
}

/// Writes a manifest or config, first removing a copy on disk that does not match its digest
/// (the layout never overwrites a blob it has).
fn write_small_blob(
    layout: &Layout,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Result<(), LayoutError> {
    let limit = bytes.len() as u64;
    if layout.has_blob(&descriptor.digest) && layout.read_blob(descriptor, limit).is_err() {
        let path = layout.blob_path(&descriptor.digest);
        std::fs::remove_file(&path).map_err(|source| LayoutError::Io { path, source })?;
    }
    layout.write_blob_bytes(bytes).map(|_| ())
}

enum Download {
    Registry(kiln_registry::Error),
    Io(ImageError),
}

/// Downloads the layers `layout` does not have yet (all of them with `refetch`), each once
/// even when the manifest lists it twice. A blob downloaded again replaces the old one by
/// rename, so a reader holding it open keeps reading the old file.
async fn download_layers(
    client: &RegistryClient,
    layout: &Layout,
    remote: &RemoteImage,
    reference: &Reference,
    refetch: bool,
) -> Result<(), Download> {
    let mut seen = BTreeSet::new();
    let jobs: Vec<_> = remote
        .layers()
        .iter()
        .filter(|l| seen.insert(l.digest.clone()) && (refetch || !layout.has_blob(&l.digest)))
        .map(|l| (l.digest.clone(), Some(l.size), layout.blob_path(&l.digest)))
        .collect();
    for (_, _, path) in &jobs {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| {
                Download::Io(ImageError::Io {
                    reference: reference.to_string(),
                    path: dir.to_owned(),
                    source,
                })
            })?;
        }
    }
    client
        .download_blobs(&remote.source, jobs)
        .await
        .map_err(Download::Registry)
}
