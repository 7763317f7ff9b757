//! Byte progress of blob transfers, for a caller that draws bars.
//!
//! Owns: [`Transfer`], one report of how far a blob download or upload has got, and the hook
//! a [`crate::RegistryClient`] calls with it ([`crate::RegistryClient::with_progress`]).
//! Reports come as bytes pass (one per chunk read or written); a retried attempt starts again
//! from the offset it resumes at, so `bytes` may go back. Rendering is the caller's.
//!
//! Does not own: what a transfer did (skipped, mounted, uploaded), which the push methods
//! return as [`crate::BlobPushed`].

use std::sync::Arc;

use kiln_oci::Digest;

use crate::options::Direction;
use crate::repository::Repository;

/// How far one blob has got.
#[derive(Debug, Clone, Copy)]
pub struct Transfer<'a> {
    pub direction: Direction,
    pub repository: &'a Repository,
    pub digest: &'a Digest,
    /// Bytes moved so far.
    pub bytes: u64,
    /// The blob's size, when known.
    pub total: Option<u64>,
}

/// The function a client calls with each [`Transfer`].
pub type ProgressFn = dyn Fn(&Transfer<'_>) + Send + Sync;

/// A client's progress hook; `Debug` without the closure.
#[derive(Clone)]
pub(crate) struct Progress(pub(crate) Arc<ProgressFn>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Reports bytes of one blob from a stream that owns it (an upload body).
pub(crate) type Reporter = Arc<dyn Fn(u64) + Send + Sync>;

impl Progress {
    /// A reporter for one blob, owning what the stream needs.
    pub(crate) fn reporter(
        &self,
        direction: Direction,
        repository: &Repository,
        digest: &Digest,
        total: Option<u64>,
    ) -> Reporter {
        let hook = Arc::clone(&self.0);
        let repository = repository.clone();
        let digest = digest.clone();
        Arc::new(move |bytes| {
            hook(&Transfer {
                direction,
                repository: &repository,
                digest: &digest,
                bytes,
                total,
            });
        })
    }
}
