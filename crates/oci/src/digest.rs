//! Content digests (`algorithm:hex`), as the OCI image spec defines them
//! (<https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests>).
//!
//! [`Digest`] names a blob as stored (a compressed layer, a manifest, a config); [`DiffId`] names
//! an uncompressed layer. They are distinct types so that one cannot be passed for the other.
//! Only `sha256` is produced; `sha512` is accepted when parsing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("digest {0:?} has no algorithm: expected `sha256:<64 hex digits>`")]
    MissingAlgorithm(String),
    #[error("digest {0:?} uses unsupported algorithm {1:?}: expected sha256 or sha512")]
    UnsupportedAlgorithm(String, String),
    #[error(
        "digest {0:?} has an encoded part of the wrong length or with non-lowercase-hex characters"
    )]
    BadEncoding(String),
}

fn validate(s: &str) -> Result<(), DigestError> {
    let (alg, hex) = s
        .split_once(':')
        .ok_or_else(|| DigestError::MissingAlgorithm(s.to_owned()))?;
    let len = match alg {
        "sha256" => 64,
        "sha512" => 128,
        other => {
            return Err(DigestError::UnsupportedAlgorithm(
                s.to_owned(),
                other.to_owned(),
            ));
        }
    };
    let lower_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if hex.len() != len || !hex.bytes().all(lower_hex) {
        return Err(DigestError::BadEncoding(s.to_owned()));
    }
    Ok(())
}

macro_rules! digest_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The digest of `bytes` with sha256.
            pub fn of(bytes: &[u8]) -> Self {
                let mut h = Sha256::new();
                h.update(bytes);
                h.finish_as()
            }

            /// `sha256`, or whatever algorithm the parsed string named.
            pub fn algorithm(&self) -> &str {
                self.0.split_once(':').map_or("", |(alg, _)| alg)
            }

            /// The hex part after the colon.
            pub fn hex(&self) -> &str {
                self.0.split_once(':').map_or("", |(_, hex)| hex)
            }

            /// The full `algorithm:hex` form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = DigestError;
            fn from_str(s: &str) -> Result<Self, DigestError> {
                validate(s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FinishAs for $name {
            fn from_sha256_hex(hex: String) -> Self {
                Self(format!("sha256:{hex}"))
            }
        }
    };
}

/// Internal: lets [`Sha256::finish_as`] build either newtype.
pub trait FinishAs {
    #[doc(hidden)]
    fn from_sha256_hex(hex: String) -> Self;
}

digest_type!(
    /// The digest of a blob exactly as stored and transferred (for a layer: compressed).
    Digest
);
digest_type!(
    /// The digest of an uncompressed layer tar, as listed in a config's `rootfs.diff_ids`.
    DiffId
);

/// An incremental sha256, so that bytes are hashed while they stream.
///
/// A thin wrapper over `aws-lc-rs` so that the backend can change in one place.
pub struct Sha256(aws_lc_rs::digest::Context);

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub fn new() -> Self {
        Self(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Finishes as a [`Digest`] or a [`DiffId`], whichever the caller names.
    pub fn finish_as<T: FinishAs>(self) -> T {
        T::from_sha256_hex(hex::encode(self.0.finish().as_ref()))
    }
}

impl std::io::Write for Sha256 {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_accepts_and_rejects() {
        let good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let cases: &[(&str, bool)] = &[
            (good, true),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                false,
            ),
            ("md5:d41d8cd98f00b204e9800998ecf8427e", false),
            (
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                false,
            ),
            ("sha256:abc", false),
        ];
        for (input, ok) in cases {
            assert_eq!(input.parse::<Digest>().is_ok(), *ok, "{input}");
        }
        let d: Digest = good.parse().unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex().len(), 64);
    }

    #[test]
    fn streaming_hash_equals_one_shot() {
        let mut h = Sha256::new();
        h.update(b"hello ");
        h.update(b"world");
        assert_eq!(h.finish_as::<DiffId>(), DiffId::of(b"hello world"));
    }
}
