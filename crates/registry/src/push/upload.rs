//! Pushing blobs: existence check, cross-repo mount, monolithic and chunked upload.
//!
//! Owns: the push side of the distribution spec
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-blobs>):
//! `HEAD` first; a mount (`POST .../blobs/uploads/?mount=<digest>&from=<repo>`) when the blob
//! is known in another repository of the same registry, asked for with one token covering both
//! repositories; otherwise `POST` to open an upload, then a single `PUT` for small blobs or
//! `PATCH` chunks with `Content-Range` for large ones, closed by `PUT ?digest=`. Bodies are
//! streamed from the file in 64 KiB reads and rebuilt for each attempt; no blob is ever held
//! whole in memory. Several blobs upload at once under the concurrency limit.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use kiln_oci::Digest;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use reqwest::{Body, Method, StatusCode, Url};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::auth::Scopes;
use crate::client::RegistryClient;
use crate::error::Error;
use crate::options::Direction;
use crate::progress::Reporter;
use crate::repository::Repository;
use crate::retry::retry;
use crate::transport::Session;

const READ_SIZE: usize = 64 << 10;

/// Where a blob's bytes come from.
#[derive(Debug, Clone)]
pub enum BlobSource {
    /// A file holding exactly the blob.
    File(PathBuf),
    /// Small blobs already in memory (configs, empty layers).
    Bytes(Bytes),
}

/// One blob to push.
#[derive(Debug, Clone)]
pub struct BlobUpload {
    pub digest: Digest,
    pub size: u64,
    pub source: BlobSource,
    /// Repositories of the same registry that may hold it, tried for a mount in order.
    pub mount_from: Vec<Repository>,
}

/// What pushing one blob took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPushed {
    AlreadyPresent,
    Mounted,
    Uploaded,
}

impl BlobSource {
    /// A body with `len` bytes from `offset`.
    #[cfg(test)]
    fn body(&self, offset: u64, len: u64) -> Result<Body, Error> {
        self.body_reporting(offset, len, None)
    }

    /// A body with `len` bytes from `offset`, telling `report` the blob's bytes read so far.
    fn body_reporting(
        &self,
        offset: u64,
        len: u64,
        report: Option<Reporter>,
    ) -> Result<Body, Error> {
        match self {
            BlobSource::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                let end = usize::try_from(offset + len)
                    .unwrap_or(usize::MAX)
                    .min(b.len());
                Ok(Body::from(b.slice(start..end)))
            }
            BlobSource::File(path) => {
                let file = std::fs::File::open(path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let path = Arc::new(path.clone());
                let report = report.clone();
                let state = (tokio::fs::File::from_std(file), offset, len, false);
                let stream =
                    futures_util::stream::try_unfold(state, move |(mut f, off, left, seeked)| {
                        let path = Arc::clone(&path);
                        let report = report.clone();
                        async move {
                            let io = |source| Error::Io {
                                path: path.as_ref().clone(),
                                source,
                            };
                            if !seeked {
                                f.seek(SeekFrom::Start(off)).await.map_err(io)?;
                            }
                            if left == 0 {
                                return Ok(None);
                            }
                            let want = (left as usize).min(READ_SIZE);
                            let mut buf = vec![0u8; want];
                            let n = f.read(&mut buf).await.map_err(io)?;
                            if n == 0 {
                                return Err(io(std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    "file is shorter than the blob's size",
                                )));
                            }
                            buf.truncate(n);
                            if let Some(report) = &report {
                                report(off + len - left + n as u64);
                            }
                            Ok(Some((Bytes::from(buf), (f, off, left - n as u64, true))))
                        }
                    });
                Ok(Body::wrap_stream(stream))
            }
        }
    }
}

fn with_digest(mut url: Url, digest: &Digest) -> Url {
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
}

impl RegistryClient {
    /// Whether `repo` already has blob `digest` (`HEAD`, with push scope).
    pub async fn blob_exists(&self, repo: &Repository, digest: &Digest) -> Result<bool, Error> {
        retry(self.options(), Direction::Push, "blob head", || async {
            let session = self.session(repo, Direction::Push).await?;
            let url = session.url(&format!("v2/{}/blobs/{digest}", repo.name()))?;
            let resp = session
                .send(&Scopes::push(repo.name()), |c| c.head(url.clone()))
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(false);
            }
            // Redirects are not followed (see `tls`); a registry that sends a blob HEAD on to
            // its storage has the blob.
            if resp.status().is_redirection() {
                return Ok(true);
            }
            session.check(Method::HEAD, resp, &[StatusCode::OK]).await?;
            Ok(true)
        })
        .await
    }

    /// Pushes one blob: nothing if present, a mount if possible, else an upload.
    pub async fn push_blob(
        &self,
        repo: &Repository,
        blob: &BlobUpload,
    ) -> Result<BlobPushed, Error> {
        if self.blob_exists(repo, &blob.digest).await? {
            tracing::debug!(blob = %blob.digest, repository = %repo, "already present");
            return Ok(BlobPushed::AlreadyPresent);
        }
        retry(self.options(), Direction::Push, "blob upload", || {
            self.push_blob_once(repo, blob)
        })
        .await
    }

    /// Pushes several blobs to `repo`, up to `options.concurrency` at once.
    pub async fn push_blobs(
        &self,
        repo: &Repository,
        blobs: &[BlobUpload],
    ) -> Result<Vec<BlobPushed>, Error> {
        let limit = self.options().concurrency.max(1);
        futures_util::stream::iter(blobs)
            .map(|b| self.push_blob(repo, b))
            .buffered(limit)
            .try_collect()
            .await
    }

    async fn push_blob_once(
        &self,
        repo: &Repository,
        blob: &BlobUpload,
    ) -> Result<BlobPushed, Error> {
        let sources: Vec<&Repository> = blob
            .mount_from
            .iter()
            .filter(|r| r.registry() == repo.registry() && r.name() != repo.name())
            .collect();
        let mut scopes = Scopes::push(repo.name());
        for s in &sources {
            scopes.add(s.name(), "pull");
        }
        let session = self.session(repo, Direction::Push).await?;
        let start = session.url(&format!("v2/{}/blobs/uploads/", repo.name()))?;
        let mut location = None;
        for from in &sources {
            let mut url = start.clone();
            url.query_pairs_mut()
                .append_pair("mount", blob.digest.as_str())
                .append_pair("from", from.name());
            let resp = session.send(&scopes, |c| c.post(url.clone())).await?;
            match resp.status() {
                StatusCode::CREATED => {
                    tracing::debug!(blob = %blob.digest, from = %from, "mounted");
                    return Ok(BlobPushed::Mounted);
                }
                // The registry opened an ordinary upload instead.
                StatusCode::ACCEPTED => {
                    location = Some(session.location(&url, &resp)?);
                    break;
                }
                _ => {
                    tracing::debug!(blob = %blob.digest, from = %from, status = %resp.status(), "mount refused");
                }
            }
        }
        let location = match location {
            Some(l) => l,
            None => open_upload(&session, &scopes, &start).await?,
        };
        if blob.size <= self.options().monolithic_upload_limit {
            self.put_whole(repo, &session, &scopes, location, blob)
                .await?;
        } else {
            self.put_chunked(repo, &session, &scopes, location, blob)
                .await?;
        }
        Ok(BlobPushed::Uploaded)
    }

    async fn put_whole(
        &self,
        repo: &Repository,
        session: &Session,
        scopes: &Scopes,
        location: Url,
        blob: &BlobUpload,
    ) -> Result<(), Error> {
        let url = with_digest(location, &blob.digest);
        // Open the body once up front so a missing file fails before any request.
        blob.source.body_reporting(0, blob.size, None)?;
        let report = self.reporter(Direction::Push, repo, &blob.digest, Some(blob.size));
        let resp = session
            .send(scopes, |c| {
                let body = blob
                    .source
                    .body_reporting(0, blob.size, report.clone())
                    .unwrap_or_else(|_| Body::from(Vec::new()));
                c.put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, blob.size)
                    .body(body)
            })
            .await?;
        session
            .check(Method::PUT, resp, &[StatusCode::CREATED])
            .await?;
        Ok(())
    }

    async fn put_chunked(
        &self,
        repo: &Repository,
        session: &Session,
        scopes: &Scopes,
        mut location: Url,
        blob: &BlobUpload,
    ) -> Result<(), Error> {
        let chunk = self.options().chunk_size.max(1);
        let report = self.reporter(Direction::Push, repo, &blob.digest, Some(blob.size));
        let mut offset = 0;
        while offset < blob.size {
            let len = chunk.min(blob.size - offset);
            blob.source.body_reporting(offset, len, None)?;
            let url = location.clone();
            let range = format!("{}-{}", offset, offset + len - 1);
            let resp = session
                .send(scopes, |c| {
                    let body = blob
                        .source
                        .body_reporting(offset, len, report.clone())
                        .unwrap_or_else(|_| Body::from(Vec::new()));
                    c.patch(url.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_RANGE, range.as_str())
                        .header(CONTENT_LENGTH, len)
                        .body(body)
                })
                .await?;
            let resp = session
                .check(
                    Method::PATCH,
                    resp,
                    &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT],
                )
                .await?;
            location = session.location(&url, &resp)?;
            offset += len;
        }
        let url = with_digest(location, &blob.digest);
        let resp = session
            .send(scopes, |c| c.put(url.clone()).header(CONTENT_LENGTH, 0))
            .await?;
        session
            .check(Method::PUT, resp, &[StatusCode::CREATED])
            .await?;
        Ok(())
    }
}

/// `POST .../blobs/uploads/`, returning the upload's location.
pub(crate) async fn open_upload(
    session: &Session,
    scopes: &Scopes,
    start: &Url,
) -> Result<Url, Error> {
    let resp = session
        .send(scopes, |c| c.post(start.clone()).header(CONTENT_LENGTH, 0))
        .await?;
    let resp = session
        .check(Method::POST, resp, &[StatusCode::ACCEPTED])
        .await?;
    session.location(start, &resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(body: Body) -> Vec<u8> {
        use http_body_util::BodyExt;
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn file_bodies_stream_the_requested_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let src = BlobSource::File(path);
        let cases = [(0u64, 200_000u64), (70_000, 65_536), (199_999, 1), (5, 0)];
        for (off, len) in cases {
            let got = collect(src.body(off, len).unwrap()).await;
            assert_eq!(got, data[off as usize..(off + len) as usize], "{off}+{len}");
        }
        let bytes = BlobSource::Bytes(Bytes::from(data.clone()));
        assert_eq!(collect(bytes.body(10, 20).unwrap()).await, data[10..30]);
    }

    #[tokio::test]
    async fn file_bodies_report_the_blob_offset_as_they_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, vec![7u8; 200_000]).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let report: Reporter = Arc::new(move |bytes| sink.lock().unwrap().push(bytes));
        let body = BlobSource::File(path)
            .body_reporting(50_000, 140_000, Some(report))
            .unwrap();
        assert_eq!(collect(body).await.len(), 140_000);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, [115_536, 181_072, 190_000]);
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let err = BlobSource::File("/nonexistent/blob".into())
            .body(0, 1)
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/blob"), "{err}");
    }
}
