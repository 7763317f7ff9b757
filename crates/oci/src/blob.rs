//! Reading a blob while checking it is the one its descriptor names.
//!
//! Owns: [`VerifyingReader`], which hashes and counts bytes as they pass and fails the read
//! that would go past the declared size or that reaches the end with the wrong digest, so that
//! any consumer (`io::copy`, a tar builder, an HTTP body) stops on a bad blob without a separate
//! pass. Does not own: where the bytes come from or go.

use std::io::{self, Read};

use crate::digest::{Digest, Sha256};

/// A blob whose bytes are not what its descriptor says. Carried inside an
/// [`io::ErrorKind::InvalidData`] error by [`VerifyingReader`]; find it with
/// [`BlobMismatch::find`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BlobMismatch {
    #[error("blob {expected} has digest {actual}")]
    Digest { expected: Digest, actual: Digest },
    #[error("blob {digest} is larger than its declared {size} bytes")]
    TooLong { digest: Digest, size: u64 },
    #[error("blob {digest} ended after {actual} of its declared {size} bytes")]
    TooShort {
        digest: Digest,
        size: u64,
        actual: u64,
    },
    #[error("blob {digest} uses {algorithm}, which kiln cannot verify: only sha256 is supported")]
    Algorithm { digest: Digest, algorithm: String },
}

impl BlobMismatch {
    /// The mismatch inside an io error returned by a [`VerifyingReader`], if that is what it is.
    pub fn find(err: &io::Error) -> Option<&BlobMismatch> {
        err.get_ref()?.downcast_ref()
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// Passes the bytes of `inner` through, failing if they do not match `digest` and `size`.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    digest: Digest,
    size: u64,
    seen: u64,
    hasher: Option<Sha256>,
}

impl<R: Read> VerifyingReader<R> {
    /// Refuses at once a digest whose algorithm cannot be checked.
    pub fn new(inner: R, digest: &Digest, size: u64) -> io::Result<Self> {
        if digest.algorithm() != "sha256" {
            return Err(BlobMismatch::Algorithm {
                digest: digest.clone(),
                algorithm: digest.algorithm().to_owned(),
            }
            .into_io());
        }
        Ok(Self {
            inner,
            digest: digest.clone(),
            size,
            seen: 0,
            hasher: Some(Sha256::new()),
        })
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.hasher.is_none() {
            // Verified already: the end stays the end.
            return Ok(0);
        }
        // Ask for one byte beyond the declared size at most, to notice a longer blob.
        let room = self.size.saturating_sub(self.seen).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.seen += n as u64;
        if self.seen > self.size {
            return Err(BlobMismatch::TooLong {
                digest: self.digest.clone(),
                size: self.size,
            }
            .into_io());
        }
        if n > 0 {
            if let Some(hasher) = self.hasher.as_mut() {
                hasher.update(&buf[..n]);
            }
            return Ok(n);
        }
        if want == 0 {
            return Ok(0);
        }
        if self.seen < self.size {
            return Err(BlobMismatch::TooShort {
                digest: self.digest.clone(),
                size: self.size,
                actual: self.seen,
            }
            .into_io());
        }
        if let Some(hasher) = self.hasher.take() {
            let actual: Digest = hasher.finish_as();
            if actual != self.digest {
                return Err(BlobMismatch::Digest {
                    expected: self.digest.clone(),
                    actual,
                }
                .into_io());
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (blob bytes, declared size, which mismatch it must be)
    type MismatchCase = (&'static [u8], u64, fn(&BlobMismatch) -> bool);

    fn verify(data: &[u8], digest: &Digest, size: u64) -> Result<Vec<u8>, BlobMismatch> {
        let mut out = Vec::new();
        let mut r = VerifyingReader::new(data, digest, size)
            .map_err(|e| BlobMismatch::find(&e).cloned().expect("a mismatch"))?;
        match r.read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) => Err(BlobMismatch::find(&e).cloned().expect("a mismatch")),
        }
    }

    #[test]
    fn matching_blob_passes_through() {
        let data = vec![7u8; 100_000];
        let got = verify(&data, &Digest::of(&data), data.len() as u64).unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn mismatches_are_reported_with_the_blob_digest() {
        let d = Digest::of(b"hello");
        let cases: [MismatchCase; 4] = [
            (b"hellO", 5, |e| matches!(e, BlobMismatch::Digest { .. })),
            (b"hello!", 5, |e| {
                matches!(e, BlobMismatch::TooLong { size: 5, .. })
            }),
            (b"hell", 5, |e| {
                matches!(e, BlobMismatch::TooShort { actual: 4, .. })
            }),
            (b"hello", 4, |e| matches!(e, BlobMismatch::TooLong { .. })),
        ];
        for (data, size, expect) in cases {
            let err = verify(data, &d, size).unwrap_err();
            assert!(expect(&err), "{err:?}");
            assert!(err.to_string().contains(d.as_str()), "{err}");
        }
    }

    #[test]
    fn sha512_cannot_be_verified() {
        let d: Digest = format!("sha512:{}", "a".repeat(128)).parse().unwrap();
        let err = verify(b"", &d, 0).unwrap_err();
        assert!(matches!(err, BlobMismatch::Algorithm { .. }));
    }

    #[test]
    fn empty_blob_verifies() {
        assert_eq!(verify(b"", &Digest::of(b""), 0).unwrap(), b"");
    }
}
