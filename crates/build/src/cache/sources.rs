//! The `sources` component of a COPY/ADD key: a digest of what the step would copy, computed
//! before it runs.
//!
//! The digest is `kiln_fs::copy::digest`, the same walk that copies, in dry mode: the sources
//! as matched after `.dockerignore` and `--exclude`, each entry's source path, type, mode and
//! owner as they will be written (`--chmod`, `--chown` or 0:0), link targets, extended
//! attributes and contents, streamed in sorted order; never mtimes. So a key and the digest the
//! copy reports once it has run agree, and a `touch` does not miss the cache.
//!
//! Owns: digesting the steps of a build in parallel (rayon), each result on its own so that one
//! missing source does not stop the others. Does not own: matching or hashing (`kiln-fs`),
//! `--from` sources (their key component is the source stage's key or the image's digest, as a
//! stage's files do not exist before it runs), or URL sources (their checksum or download
//! digest is the component; [`kiln_fs::fetch`] downloads them).

use kiln_fs::copy::{self, CopyOp, Source};
use kiln_oci::Digest;
use rayon::prelude::*;

use super::Error;

/// One COPY or ADD whose sources are to be digested.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub op: &'a CopyOp,
    /// The instruction as written, for errors.
    pub instruction: &'a str,
}

/// The content digest of the sources of `request`, read from `source` (the build context from
/// `kiln_fs::context::Context::source`, which hides what `.dockerignore` excludes).
pub fn digest(source: &Source, request: Request<'_>) -> Result<Digest, Error> {
    // The destination only decides where a file lands, which the digest does not cover (the
    // instruction, with its destination, is a component of its own), and a dry run reads it
    // without writing: the source root stands in for the rootfs that does not exist yet.
    copy::digest(source, source.root(), request.op).map_err(|e| Error::Sources {
        instruction: request.instruction.to_owned(),
        source: Box::new(e),
    })
}

/// [`digest`] of every request, in parallel; results in the order of `requests`.
pub fn digest_all(source: &Source, requests: &[Request<'_>]) -> Vec<Result<Digest, Error>> {
    requests.par_iter().map(|r| digest(source, *r)).collect()
}
