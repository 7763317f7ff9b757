//! The cache warmer (`kiln warm`, Kaniko's `warmer`): download base images into `--cache-dir`
//! so that a later build finds them there without the network.
//!
//! Owns: which images to warm (every `--image`, then with `--dockerfile` every stage's base,
//! [`bases`]), whether each needs pulling (`--force`, `--cache-ttl`), pulling it ([`pull`]), and
//! the outcome per image. The on-disk format and the reader the executor uses are [`cache`]'s.
//!
//! Failures follow Kaniko's warmer (`pkg/cache/warm.go`): a Dockerfile that cannot be read or
//! parsed fails the run before anything is pulled; an image that cannot be pulled is reported
//! and the others are still tried; the run fails only when no image could be cached
//! ([`WarmReport::into_result`]); an image already cached counts as a success. Unlike Kaniko,
//! the same image named twice is pulled once, an entry older than the TTL is pulled again
//! (Kaniko's warmer keeps it), and a fresh entry is kept without asking the registry whether
//! its tag moved (Kaniko resolves the tag first): the TTL bounds how stale a tag may be.
//!
//! Does not own: flags (the `kiln` binary), registry mechanics (`kiln-registry`).

pub mod bases;
pub mod cache;
pub mod pull;
pub(crate) mod stamp;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use kiln_oci::{Platform, Reference};
use kiln_registry::RegistryClient;

pub use bases::{BaseImage, BasesError, base_images};
pub use cache::{BaseImageCache, CacheError, CachedImage, Entry, Lookup};
pub use pull::ImageError;

/// Largest Dockerfile read from a URL.
pub const MAX_DOCKERFILE_SIZE: usize = 8 << 20;

/// Where `--dockerfile` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    Path(PathBuf),
    /// An `http://` or `https://` URL, fetched with a plain GET.
    Url(String),
}

/// What one `kiln warm` run is asked to do.
#[derive(Debug, Clone)]
pub struct WarmOptions {
    /// `--image`, in order.
    pub images: Vec<String>,
    pub dockerfile: Option<DockerfileSource>,
    /// `--build-arg`, for the Dockerfile's FROM lines.
    pub build_args: BTreeMap<String, String>,
    pub cache_dir: PathBuf,
    /// `--cache-ttl`.
    pub ttl: Duration,
    /// `--force`: pull even what is cached and fresh.
    pub force: bool,
    /// `--customPlatform`, or the host's.
    pub platform: Platform,
}

/// Why the run as a whole failed.
#[derive(Debug, thiserror::Error)]
pub enum WarmError {
    #[error("reading Dockerfile {}", path.display())]
    ReadDockerfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fetching Dockerfile {url}")]
    FetchDockerfile {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Dockerfile {url} is larger than {limit} bytes")]
    DockerfileTooLarge { url: String, limit: usize },
    #[error("Dockerfile {name}")]
    Dockerfile {
        name: String,
        #[source]
        source: Box<BasesError>,
    },
    #[error("failed to warm any of the {count} images")]
    NothingWarmed {
        count: usize,
        /// The last failure; the others are in the report.
        #[source]
        source: Box<ImageError>,
    },
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Pulled because it was not cached, or with `--force`.
    Pulled(Entry),
    /// Pulled again because the cached entry was older than the TTL.
    Refreshed { entry: Entry, expired: Box<Entry> },
    /// Fresh in the cache already; nothing was downloaded.
    AlreadyCached(Entry),
}

impl Outcome {
    pub fn entry(&self) -> &Entry {
        match self {
            Outcome::Pulled(e) | Outcome::AlreadyCached(e) => e,
            Outcome::Refreshed { entry, .. } => entry,
        }
    }
}

/// One image the run was asked for.
#[derive(Debug)]
pub struct Warmed {
    /// As given (`--image`) or expanded from a FROM line.
    pub image: String,
    pub platform: Platform,
    pub result: Result<Outcome, ImageError>,
}

/// The outcome of every image, in the order they were tried.
#[derive(Debug, Default)]
pub struct WarmReport {
    pub images: Vec<Warmed>,
}

impl WarmReport {
    pub fn failures(&self) -> impl Iterator<Item = (&Warmed, &ImageError)> {
        self.images
            .iter()
            .filter_map(|w| w.result.as_ref().err().map(|e| (w, e)))
    }

    /// Kaniko's rule: an error only when there were images and none could be cached.
    pub fn into_result(self) -> Result<Self, WarmError> {
        let count = self.images.len();
        if count == 0 || self.images.iter().any(|w| w.result.is_ok()) {
            return Ok(self);
        }
        let mut images = self.images;
        match images.pop().map(|w| w.result) {
            Some(Err(last)) => Err(WarmError::NothingWarmed {
                count,
                source: Box::new(last),
            }),
            _ => Ok(Self { images }),
        }
    }
}

/// The images to warm, each with its platform: `--image` first, then the Dockerfile's bases,
/// without repeats.
pub async fn targets(options: &WarmOptions) -> Result<Vec<(String, Platform)>, WarmError> {
    let mut out: Vec<(String, Platform)> = options
        .images
        .iter()
        .map(|i| (i.clone(), options.platform.clone()))
        .collect();
    if let Some(source) = &options.dockerfile {
        let (name, text) = read_dockerfile(source).await?;
        let bases = base_images(
            &text,
            &options.build_args,
            &options.platform,
            &Platform::host(),
        )
        .map_err(|source| WarmError::Dockerfile {
            name,
            source: Box::new(source),
        })?;
        out.extend(bases.into_iter().map(|b| {
            let platform = b.platform.unwrap_or_else(|| options.platform.clone());
            (b.image, platform)
        }));
    }
    let mut seen = Vec::new();
    out.retain(|(image, platform)| {
        let key = (
            Reference::parse(image).map_or_else(|_| image.clone(), |r| r.to_string()),
            platform.normalized().to_string(),
        );
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    Ok(out)
}

async fn read_dockerfile(source: &DockerfileSource) -> Result<(String, String), WarmError> {
    match source {
        DockerfileSource::Path(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| WarmError::ReadDockerfile {
                    path: path.clone(),
                    source,
                })?;
            Ok((path.display().to_string(), text))
        }
        DockerfileSource::Url(raw) => {
            let url = shown_url(raw);
            let fetch = |source: reqwest::Error| WarmError::FetchDockerfile {
                url: url.clone(),
                source: source.without_url(),
            };
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(30))
                .timeout(Duration::from_secs(120))
                .build()
                .map_err(fetch)?;
            let mut resp = client
                .get(raw.as_str())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(fetch)?;
            let mut bytes = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(fetch)? {
                if bytes.len() + chunk.len() > MAX_DOCKERFILE_SIZE {
                    return Err(WarmError::DockerfileTooLarge {
                        url: url.clone(),
                        limit: MAX_DOCKERFILE_SIZE,
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((url.clone(), String::from_utf8_lossy(&bytes).into_owned()))
        }
    }
}

/// `url` as errors may show it: without userinfo or query values that could be credentials.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => kiln_registry::redact::redact_url(&parsed),
        Err(_) => "the --dockerfile URL (which does not parse)".to_owned(),
    }
}

/// Warms every image of `options` into its cache directory, one image after the other (each
/// image's layers in parallel), and reports each outcome. Use [`WarmReport::into_result`] for
/// Kaniko's exit rule.
pub async fn warm(options: &WarmOptions, client: &RegistryClient) -> Result<WarmReport, WarmError> {
    let targets = targets(options).await?;
    let cache = BaseImageCache::new(&options.cache_dir, options.ttl);
    let mut report = WarmReport::default();
    for (image, platform) in targets {
        tracing::info!(image = %image, platform = %platform, "warming");
        let result = warm_one(client, &cache, &image, &platform, options.force).await;
        match &result {
            Ok(Outcome::AlreadyCached(e)) => {
                tracing::info!(image = %image, digest = %e.digest(), "already cached");
            }
            Ok(Outcome::Pulled(e)) => {
                tracing::info!(image = %image, digest = %e.digest(), "cached");
            }
            Ok(Outcome::Refreshed { entry, .. }) => {
                tracing::info!(image = %image, digest = %entry.digest(), "cache entry expired, cached again");
            }
            Err(_) => {}
        }
        report.images.push(Warmed {
            image,
            platform,
            result,
        });
    }
    Ok(report)
}

async fn warm_one(
    client: &RegistryClient,
    cache: &BaseImageCache,
    image: &str,
    platform: &Platform,
    force: bool,
) -> Result<Outcome, ImageError> {
    let reference = Reference::parse(image).map_err(|source| ImageError::Reference {
        image: image.to_owned(),
        source,
    })?;
    let cache_error = |source| ImageError::Cache {
        reference: reference.to_string(),
        source,
    };
    let now = SystemTime::now();
    let mut refetch = force;
    if !force {
        match cache.lookup_at(&reference, platform, now) {
            Ok(Some(cached)) => return Ok(Outcome::AlreadyCached(cached.entry)),
            Ok(None) => {}
            Err(e) => {
                refetch = true;
                let cause = std::error::Error::source(&e).map(ToString::to_string);
                tracing::warn!(image = %image, error = %e, cause = cause.unwrap_or_default(), "cached image is unusable, pulling it again");
            }
        }
    }
    let expired = match cache.find(&reference, platform, now).map_err(cache_error)? {
        Lookup::Expired(entry) if !force => Some(entry),
        _ => None,
    };
    let layout = cache.layout_for_write().map_err(cache_error)?;
    let entry = pull::pull_into(client, cache, &layout, &reference, platform, refetch, now).await?;
    Ok(match expired {
        Some(expired) => Outcome::Refreshed {
            entry,
            expired: Box::new(expired),
        },
        None => Outcome::Pulled(entry),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(image: &str) -> Warmed {
        Warmed {
            image: image.to_owned(),
            platform: Platform::new("linux", "amd64", None),
            result: Err(ImageError::Reference {
                image: image.to_owned(),
                source: Reference::parse("UPPER").unwrap_err(),
            }),
        }
    }

    fn cached(image: &str) -> Warmed {
        let descriptor = kiln_oci::Descriptor::of(kiln_oci::MediaType::OciManifest, b"{}");
        let platform = Platform::new("linux", "amd64", None);
        Warmed {
            image: image.to_owned(),
            platform: platform.clone(),
            result: Ok(Outcome::AlreadyCached(Entry {
                descriptor,
                reference: image.to_owned(),
                platform,
                index_digest: None,
                created: None,
            })),
        }
    }

    #[test]
    fn the_run_fails_only_when_no_image_was_cached() {
        type Case = (Vec<Warmed>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (vec![], None),
            (vec![cached("a")], None),
            (vec![failed("a"), cached("b")], None),
            (vec![cached("a"), failed("b")], None),
            (
                vec![failed("a")],
                Some("failed to warm any of the 1 images"),
            ),
            (
                vec![failed("a"), failed("b")],
                Some("failed to warm any of the 2 images"),
            ),
        ];
        for (images, want) in cases {
            let names: Vec<String> = images.iter().map(|w| w.image.clone()).collect();
            let got = WarmReport { images }.into_result();
            assert_eq!(
                got.as_ref().err().map(ToString::to_string).as_deref(),
                want,
                "{names:?}"
            );
            if let Err(e) = got {
                // The last failure is the cause.
                let cause = std::error::Error::source(&e).map(ToString::to_string);
                let last = names.last().cloned().unwrap_or_default();
                assert_eq!(
                    cause,
                    Some(format!("{last:?} is not a valid image reference"))
                );
            }
        }
    }

    #[test]
    fn dockerfile_urls_in_errors_carry_no_credentials() {
        let cases = [
            (
                "https://example.com/Dockerfile",
                "https://example.com/Dockerfile",
            ),
            ("https://user:secret@example.com/D", "https://example.com/D"),
            (
                "https://example.com/D?token=secret",
                "https://example.com/D?token=REDACTED",
            ),
            (
                "https://user:secret@[bad/D",
                "the --dockerfile URL (which does not parse)",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(shown_url(url), want, "{url}");
        }
    }

    #[test]
    fn images_are_warmed_once_each_with_their_platform() {
        let dir = tempfile::tempdir().unwrap();
        let dockerfile = dir.path().join("Dockerfile");
        std::fs::write(
            &dockerfile,
            "FROM busybox\nFROM --platform=linux/arm64 busybox\nFROM docker.io/library/busybox:latest\n",
        )
        .unwrap();
        let options = WarmOptions {
            images: vec!["busybox".into(), "Not/Valid".into(), "Not/Valid".into()],
            dockerfile: Some(DockerfileSource::Path(dockerfile)),
            build_args: BTreeMap::new(),
            cache_dir: dir.path().join("cache"),
            ttl: Duration::from_secs(60),
            force: false,
            platform: Platform::new("linux", "amd64", None),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got: Vec<String> = runtime
            .block_on(targets(&options))
            .unwrap()
            .into_iter()
            .map(|(image, platform)| format!("{image} {platform}"))
            .collect();
        assert_eq!(
            got,
            [
                "busybox linux/amd64",
                "Not/Valid linux/amd64",
                "busybox linux/arm64",
            ]
        );
    }
}
