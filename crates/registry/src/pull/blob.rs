//! Lazy, verified blobs: `GET /v2/<name>/blobs/<digest>`.
//!
//! Owns: [`BlobReader`], a stream of a blob's bytes that hashes them as they pass, fails with an
//! error naming the blob when the content does not match its digest or exceeds its declared
//! size, and after a dropped connection resumes with a `Range` request (or, when the server
//! ignores ranges, restarts and skips what was already delivered, so the caller never sees a
//! byte twice). Redirects to storage hosts are followed without the registry's credentials.
//! Also downloads to files, several at once under a semaphore.
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-blobs>)

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use kiln_oci::{Digest, Sha256};
use reqwest::header::{LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::io::AsyncWriteExt;

use crate::auth::Scopes;
use crate::client::RegistryClient;
use crate::error::{Error, ResponseError};
use crate::options::Direction;
use crate::repository::Repository;
use crate::retry::{retry, retry_after};
use crate::transport::Session;

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// A blob being read. Obtain one with [`RegistryClient::open_blob`].
#[derive(Debug)]
pub struct BlobReader {
    session: Arc<Session>,
    repo: Repository,
    url: Url,
    digest: Digest,
    size: Option<u64>,
    resp: Option<Response>,
    received: u64,
    /// Bytes of a restarted response still to drop, already delivered before the drop.
    skip: u64,
    hasher: Option<Sha256>,
    resumes_left: u32,
    done: bool,
}

impl RegistryClient {
    /// Starts reading blob `digest` of `repo`. `size`, when known from a descriptor, bounds
    /// what is accepted. The first request is made here so that a missing blob fails now.
    pub async fn open_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<BlobReader, Error> {
        retry(self.options(), Direction::Pull, "open blob", || async {
            let session = self.session(repo, Direction::Pull).await?;
            let url = session.url(&format!("v2/{}/blobs/{digest}", repo.name()))?;
            let mut reader = BlobReader {
                session,
                repo: repo.clone(),
                url,
                digest: digest.clone(),
                size,
                resp: None,
                received: 0,
                skip: 0,
                hasher: Some(Sha256::new()),
                resumes_left: self.options().pull_retries.max(1) * 2,
                done: false,
            };
            reader.connect().await?;
            Ok(reader)
        })
        .await
    }

    /// Reads a whole small blob (a config) into memory, bounded by `limit` bytes (and by
    /// `size` when known).
    pub async fn read_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        limit: u64,
    ) -> Result<Vec<u8>, Error> {
        let mut reader = self.open_blob(repo, digest, size).await?;
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().await? {
            if out.len() as u64 + chunk.len() as u64 > limit {
                return Err(Error::TooLarge {
                    what: "blob",
                    url: crate::redact::redact_url(&reader.url),
                    limit,
                });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Downloads one blob to `path`, verified. The bytes go to a temporary file beside it that
    /// is renamed into place only once the digest matched, so `path` never holds a partial or
    /// corrupt blob, and a concurrent reader sees either nothing or the whole blob.
    pub async fn download_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: Option<u64>,
        path: &std::path::Path,
    ) -> Result<(), Error> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".partial-{}", std::process::id()));
        let partial = PathBuf::from(partial);
        let report = self.reporter(Direction::Pull, repo, digest, size);
        let result = retry(self.options(), Direction::Pull, "download blob", || async {
            let io = |source| Error::Io {
                path: partial.clone(),
                source,
            };
            let mut reader = self.open_blob(repo, digest, size).await?;
            let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
            while let Some(chunk) = reader.next_chunk().await? {
                file.write_all(&chunk).await.map_err(io)?;
                if let Some(report) = &report {
                    report(reader.received());
                }
            }
            file.flush().await.map_err(io)?;
            Ok(())
        })
        .await;
        if let Err(e) = result {
            // Best effort: the error that matters is the download's.
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
        tokio::fs::rename(&partial, path)
            .await
            .map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })
    }

    /// Downloads several blobs of `repo`, up to `options.concurrency` at once; each entry is
    /// `(digest, size, destination)`. Fails with the first error.
    pub async fn download_blobs(
        &self,
        repo: &Repository,
        blobs: Vec<(Digest, Option<u64>, PathBuf)>,
    ) -> Result<(), Error> {
        let limit = self.options().concurrency.max(1);
        futures_util::stream::iter(blobs)
            .map(|(digest, size, path)| async move {
                self.download_blob(repo, &digest, size, &path).await
            })
            .buffer_unordered(limit)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}

impl BlobReader {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// (Re)opens the response at `self.received`.
    async fn connect(&mut self) -> Result<(), Error> {
        let offset = self.received;
        let range = (offset > 0).then(|| format!("bytes={offset}-"));
        let url = self.url.clone();
        let resp = self
            .session
            .send(&Scopes::pull(self.repo.name()), |c| {
                let mut r = c.get(url.clone());
                if let Some(range) = &range {
                    r = r.header(RANGE, range.as_str());
                }
                r
            })
            .await?;
        let mut resp = resp;
        let mut hops = 0;
        while resp.status().is_redirection() && hops < MAX_REDIRECTS {
            hops += 1;
            let from = resp.url().clone();
            let next = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| from.join(l).ok())
                .ok_or_else(|| Error::BadResponse {
                    what: "redirect without a usable Location",
                    url: crate::redact::redact_url(&from),
                    source: None,
                })?;
            // Storage hosts get no Authorization header: the registry's token is not theirs.
            let mut req = self.session.client.get(next.clone());
            if let Some(range) = &range {
                req = req.header(RANGE, range.as_str());
            }
            resp = req
                .send()
                .await
                .map_err(|e| Error::transport(Method::GET, &next, e))?;
        }
        let wanted = [StatusCode::OK, StatusCode::PARTIAL_CONTENT];
        let resp = if resp.url().host_str() == self.url.host_str() {
            // Through the session so that 401/403 name the registry and the credentials.
            self.session.check(Method::GET, resp, &wanted).await?
        } else if !wanted.contains(&resp.status()) {
            let url = resp.url().clone();
            let retry = retry_after(resp.headers());
            return Err(ResponseError::new(Method::GET, &url, resp.status(), retry, b"").into());
        } else {
            resp
        };
        self.skip = if resp.status() == StatusCode::OK {
            offset
        } else {
            0
        };
        self.resp = Some(resp);
        Ok(())
    }

    /// The next bytes of the blob, `None` at its verified end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(resp) = self.resp.as_mut() else {
                self.connect().await?;
                continue;
            };
            match resp.chunk().await {
                Ok(Some(mut chunk)) => {
                    if self.skip > 0 {
                        let drop = (self.skip as usize).min(chunk.len());
                        self.skip -= drop as u64;
                        chunk = chunk.slice(drop..);
                        if chunk.is_empty() {
                            continue;
                        }
                    }
                    self.received += chunk.len() as u64;
                    if let Some(size) = self.size.filter(|s| self.received > *s) {
                        return Err(Error::SizeMismatch {
                            digest: self.digest.to_string(),
                            expected: size,
                            actual: self.received,
                        });
                    }
                    if let Some(h) = self.hasher.as_mut() {
                        h.update(&chunk);
                    }
                    return Ok(Some(chunk));
                }
                Ok(None) => {
                    self.done = true;
                    self.resp = None;
                    self.verify()?;
                    return Ok(None);
                }
                Err(e) => {
                    let err = Error::transport(Method::GET, &self.url, e);
                    if self.resumes_left == 0 || !err.is_retryable() {
                        return Err(err);
                    }
                    self.resumes_left -= 1;
                    tracing::warn!(blob = %self.digest, offset = self.received, "connection dropped, resuming");
                    self.resp = None;
                }
            }
        }
    }

    fn verify(&mut self) -> Result<(), Error> {
        if let Some(size) = self.size.filter(|s| self.received != *s) {
            return Err(Error::SizeMismatch {
                digest: self.digest.to_string(),
                expected: size,
                actual: self.received,
            });
        }
        let Some(h) = self.hasher.take() else {
            return Ok(());
        };
        let actual: Digest = h.finish_as();
        if self.digest.algorithm() == "sha256" && actual != self.digest {
            return Err(Error::DigestMismatch {
                digest: self.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }

    /// The blob as a `Stream` of verified chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send {
        futures_util::stream::try_unfold(self, |mut r| async move {
            Ok(r.next_chunk().await?.map(|c| (c, r)))
        })
    }
}
