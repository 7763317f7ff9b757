//! The base-image cache on disk (`--cache-dir`): what `kiln warm` writes and what the executor
//! reads back without touching the network. The format is documented for users in
//! `docs/cache-dir.md`.
//!
//! Owns: [`BaseImageCache`], the versioned layout `<cache-dir>/v1/`, which is an OCI image
//! layout (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>) whose
//! `index.json` has one entry per cached (reference, platform): the image manifest's
//! descriptor, annotated with the reference as asked for, the platform asked for, the index
//! digest it was resolved through, and when it was cached. Lookups by tag, by manifest digest
//! and by index digest, and the `--cache-ttl` rule. Writes go through [`kiln_oci::Layout`]:
//! every blob lands by temp file and rename, and the index entry is added last, under the
//! layout's lock, so a reader never finds an entry whose blobs are not all there and two
//! warmers sharing a directory keep each other's entries.
//!
//! Does not own: fetching images (`super::pull`), or removing blobs no entry names any more
//! (nothing does yet; a re-pulled image leaves the old one's blobs behind).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_oci::{Descriptor, Digest, Layout, LayoutError, LocalImage, Platform, Reference};

use super::stamp;

/// The directory under `--cache-dir` that holds this version of the format.
pub const FORMAT_VERSION: &str = "v1";
/// The reference the image was cached under, in canonical form
/// (`docker.io/library/busybox:latest`).
pub const ANNOTATION_REFERENCE: &str = "dev.kiln.cache.reference";
/// The platform that was asked for (`os/arch[/variant]`), which the image was selected for.
pub const ANNOTATION_PLATFORM: &str = "dev.kiln.cache.platform";
/// When the entry was written, RFC 3339 in UTC.
pub const ANNOTATION_CREATED: &str = "dev.kiln.cache.created";
/// The digest of the index (manifest list) the reference named, when it named one.
pub const ANNOTATION_INDEX_DIGEST: &str = "dev.kiln.cache.index-digest";

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("base-image cache {}", root.display())]
    Layout {
        root: PathBuf,
        #[source]
        source: Box<LayoutError>,
    },
    #[error("cached image {digest} for {reference} in {}", root.display())]
    Image {
        root: PathBuf,
        reference: String,
        digest: Digest,
        #[source]
        source: Box<LayoutError>,
    },
}

/// One entry of the cache's `index.json`, as recorded (its blobs are not read).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The image manifest's descriptor, with the annotations below.
    pub descriptor: Descriptor,
    /// The reference it was cached under, canonical.
    pub reference: String,
    /// The platform asked for.
    pub platform: Platform,
    pub index_digest: Option<Digest>,
    /// `None` when the timestamp does not read; such an entry counts as expired.
    pub created: Option<SystemTime>,
}

impl Entry {
    /// Reads kiln's annotations from an index entry; `None` for an entry kiln did not write.
    fn from_descriptor(descriptor: &Descriptor) -> Option<Self> {
        let a = &descriptor.annotations;
        let reference = a.get(ANNOTATION_REFERENCE)?.clone();
        let platform = a.get(ANNOTATION_PLATFORM)?.parse().ok()?;
        Some(Self {
            reference,
            platform,
            index_digest: a.get(ANNOTATION_INDEX_DIGEST).and_then(|d| d.parse().ok()),
            created: a.get(ANNOTATION_CREATED).and_then(|t| stamp::parse(t)),
            descriptor: descriptor.clone(),
        })
    }

    /// The manifest digest of the cached image.
    pub fn digest(&self) -> &Digest {
        &self.descriptor.digest
    }

    /// Whether this entry answers for `reference` on `platform`: the same reference, or a
    /// reference whose digest is the entry's manifest or index digest (content addressing makes
    /// the repository irrelevant there).
    pub fn answers(&self, reference: &Reference, platform: &Platform) -> bool {
        let by_name = || self.reference == reference.to_string();
        let by_digest = || {
            reference.digest().is_some_and(|d| {
                d == &self.descriptor.digest || self.index_digest.as_ref() == Some(d)
            })
        };
        platform.matches(&self.platform) && (by_digest() || by_name())
    }

    /// Whether the entry is younger than `ttl` at `now`. An entry from the future (a clock
    /// that moved back) is fresh; one without a readable time is not.
    pub fn is_fresh(&self, ttl: Duration, now: SystemTime) -> bool {
        match self.created {
            Some(created) => now.duration_since(created).map_or(true, |age| age < ttl),
            None => false,
        }
    }
}

/// What the cache holds for a reference and platform.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Missing,
    /// Cached, but older than the TTL (or without a readable time).
    Expired(Entry),
    Fresh(Entry),
}

/// A cached base image, its blobs present and its manifest and config verified.
#[derive(Debug, Clone)]
pub struct CachedImage {
    pub entry: Entry,
    /// The manifest, config and layer files, from the cache's layout.
    pub image: LocalImage,
}

impl CachedImage {
    /// The manifest digest.
    pub fn digest(&self) -> &Digest {
        self.entry.digest()
    }
}

/// The base-image cache under one `--cache-dir`, with the `--cache-ttl` that decides freshness.
#[derive(Debug, Clone)]
pub struct BaseImageCache {
    root: PathBuf,
    ttl: Duration,
}

impl BaseImageCache {
    /// The cache in `cache_dir` (nothing is read or created yet).
    pub fn new(cache_dir: &Path, ttl: Duration) -> Self {
        Self {
            root: cache_dir.join(FORMAT_VERSION),
            ttl,
        }
    }

    /// `<cache-dir>/v1`, the OCI layout.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The `org.opencontainers.image.ref.name` of an entry: the reference and the platform,
    /// joined by `+` (`docker.io/library/busybox:latest+linux-arm64`), unique per entry and
    /// valid by the layout spec's grammar, so `skopeo` and `umoci` can name it.
    pub fn ref_name(reference: &Reference, platform: &Platform) -> String {
        let platform = platform.normalized().to_string().replace('/', "-");
        format!("{reference}+{platform}")
    }

    fn layout_error(&self, source: LayoutError) -> CacheError {
        CacheError::Layout {
            root: self.root.clone(),
            source: Box::new(source),
        }
    }

    /// Every entry kiln wrote, in `index.json` order; empty when the cache does not exist.
    pub fn entries(&self) -> Result<Vec<Entry>, CacheError> {
        // `Layout::create` writes `oci-layout` before `index.json`: while another warmer is
        // creating the cache there is a moment with the one and not the other, which is an
        // empty cache, not a broken one.
        if !self.root.join("index.json").exists() {
            return Ok(Vec::new());
        }
        let layout = Layout::open(&self.root).map_err(|e| self.layout_error(e))?;
        let index = layout.index().map_err(|e| self.layout_error(e))?;
        Ok(index
            .manifests
            .iter()
            .filter_map(Entry::from_descriptor)
            .collect())
    }

    /// The newest entry for `reference` on `platform`, and whether it is fresh at `now`.
    pub fn find(
        &self,
        reference: &Reference,
        platform: &Platform,
        now: SystemTime,
    ) -> Result<Lookup, CacheError> {
        let newest = self
            .entries()?
            .into_iter()
            .filter(|e| e.answers(reference, platform))
            .max_by_key(|e| e.created);
        Ok(match newest {
            None => Lookup::Missing,
            Some(e) if e.is_fresh(self.ttl, now) => Lookup::Fresh(e),
            Some(e) => Lookup::Expired(e),
        })
    }

    /// The executor's question: the image for `reference` on `platform`, if a fresh one is
    /// cached. `Ok(None)` when there is none or it is older than the TTL; an error when an
    /// entry exists but its blobs are missing or do not match.
    pub fn lookup(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Option<CachedImage>, CacheError> {
        self.lookup_at(reference, platform, SystemTime::now())
    }

    /// [`BaseImageCache::lookup`] as of `now`.
    pub fn lookup_at(
        &self,
        reference: &Reference,
        platform: &Platform,
        now: SystemTime,
    ) -> Result<Option<CachedImage>, CacheError> {
        let Lookup::Fresh(entry) = self.find(reference, platform, now)? else {
            return Ok(None);
        };
        let layout = Layout::open(&self.root).map_err(|e| self.layout_error(e))?;
        let image = layout
            .read_image(&entry.descriptor)
            .map_err(|source| CacheError::Image {
                root: self.root.clone(),
                reference: entry.reference.clone(),
                digest: entry.digest().clone(),
                source: Box::new(source),
            })?;
        Ok(Some(CachedImage { entry, image }))
    }

    /// Opens the layout for writing, creating it if needed.
    pub(crate) fn layout_for_write(&self) -> Result<Layout, CacheError> {
        Layout::create(&self.root).map_err(|e| self.layout_error(e))
    }

    /// Records an image whose blobs are already in `layout` as the entry for `reference` on
    /// `platform`, replacing the previous entry of that name. This is the last step of a
    /// write: once it returns, readers find the image.
    pub(crate) fn record(
        &self,
        layout: &Layout,
        image: &LocalImage,
        reference: &Reference,
        platform: &Platform,
        index_digest: Option<&Digest>,
        now: SystemTime,
    ) -> Result<Entry, CacheError> {
        let created = stamp::format(now);
        let mut descriptor = image
            .descriptor()
            .with_annotation(ANNOTATION_REFERENCE, &reference.to_string())
            .with_annotation(ANNOTATION_PLATFORM, &platform.normalized().to_string())
            .with_annotation(ANNOTATION_CREATED, &created);
        if let Some(d) = index_digest {
            descriptor = descriptor.with_annotation(ANNOTATION_INDEX_DIGEST, d.as_str());
        }
        let name = Self::ref_name(reference, platform);
        let descriptor = layout
            .add_to_index(descriptor, Some(&name))
            .map_err(|e| self.layout_error(e))?;
        Ok(Entry {
            descriptor,
            reference: reference.to_string(),
            platform: platform.normalized(),
            index_digest: index_digest.cloned(),
            created: stamp::parse(&created),
        })
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
