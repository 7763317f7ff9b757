//! Media types of manifests, indexes, configs and layers, in both families: Docker's image
//! manifest v2 schema 2 (<https://distribution.github.io/distribution/spec/manifest-v2-2/>) and
//! the OCI image spec (<https://github.com/opencontainers/image-spec/blob/main/media-types.md>).
//!
//! Owns: the strings, what each one is (manifest, index, config, layer), and the compression a
//! layer type implies. Does not own: compressing anything (`kiln-fs`).
//!
//! Docker's schema 1 (`…manifest.v1+json`, `…v1+prettyjws`) has its own variants so that callers
//! can recognise it and refuse it with a useful message; nothing in kiln reads it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Which specification a media type belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Docker,
    Oci,
}

macro_rules! media_types {
    ($($(#[$doc:meta])* $variant:ident => $s:literal,)*) => {
        /// A media type. Known ones have variants; any other string is kept in [`MediaType::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MediaType {
            $($(#[$doc])* $variant,)*
            /// A media type kiln has no special knowledge of (artifact types, attestations, …).
            Other(String),
        }

        impl MediaType {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $s,)*
                    Self::Other(s) => s,
                }
            }

            fn from_known(s: &str) -> Option<Self> {
                match s {
                    $($s => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

media_types! {
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList => "application/vnd.docker.distribution.manifest.list.v2+json",
    /// `application/vnd.docker.container.image.v1+json`
    DockerConfig => "application/vnd.docker.container.image.v1+json",
    DockerLayer => "application/vnd.docker.image.rootfs.diff.tar",
    DockerLayerGzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
    DockerLayerZstd => "application/vnd.docker.image.rootfs.diff.tar.zstd",
    /// A layer that registries do not serve; its `urls` say where it lives (Windows base layers).
    DockerForeignLayerGzip => "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    DockerForeignLayer => "application/vnd.docker.image.rootfs.foreign.diff.tar",
    /// Schema 1, unsigned. Refused.
    DockerSchema1 => "application/vnd.docker.distribution.manifest.v1+json",
    /// Schema 1, signed. Refused.
    DockerSchema1Signed => "application/vnd.docker.distribution.manifest.v1+prettyjws",
    OciManifest => "application/vnd.oci.image.manifest.v1+json",
    OciIndex => "application/vnd.oci.image.index.v1+json",
    OciConfig => "application/vnd.oci.image.config.v1+json",
    OciLayer => "application/vnd.oci.image.layer.v1.tar",
    OciLayerGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
    OciLayerZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    OciNonDistributableLayer => "application/vnd.oci.image.layer.nondistributable.v1.tar",
    OciNonDistributableLayerGzip => "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    OciNonDistributableLayerZstd => "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    /// `application/vnd.oci.empty.v1+json`, the `{}` blob of artifacts.
    OciEmpty => "application/vnd.oci.empty.v1+json",
}

/// The manifest types kiln reads, most preferred first: what to send in an `Accept` header.
pub const ACCEPTED_MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

impl MediaType {
    /// Parses a media type or a `Content-Type` header value: parameters (`; charset=…`) and
    /// surrounding blanks are dropped, and the type is compared case-insensitively.
    pub fn parse(s: &str) -> Self {
        let essence = s.split(';').next().unwrap_or("").trim();
        Self::from_known(essence)
            .or_else(|| Self::from_known(&essence.to_ascii_lowercase()))
            .unwrap_or_else(|| Self::Other(essence.to_owned()))
    }

    /// An image manifest (one platform), in either family.
    pub fn is_manifest(&self) -> bool {
        matches!(self, Self::DockerManifest | Self::OciManifest)
    }

    /// A list of manifests: a Docker manifest list or an OCI index.
    pub fn is_index(&self) -> bool {
        matches!(self, Self::DockerManifestList | Self::OciIndex)
    }

    pub fn is_schema1(&self) -> bool {
        matches!(self, Self::DockerSchema1 | Self::DockerSchema1Signed)
    }

    pub fn is_config(&self) -> bool {
        matches!(self, Self::DockerConfig | Self::OciConfig)
    }

    /// A filesystem layer, distributable or not.
    pub fn is_layer(&self) -> bool {
        self.layer_compression().is_some()
    }

    /// Whether registries may serve the blob: foreign and non-distributable layers are fetched
    /// from their `urls` instead, and are never pushed.
    pub fn is_distributable(&self) -> bool {
        !matches!(
            self,
            Self::DockerForeignLayer
                | Self::DockerForeignLayerGzip
                | Self::OciNonDistributableLayer
                | Self::OciNonDistributableLayerGzip
                | Self::OciNonDistributableLayerZstd
        )
    }

    /// For a layer type, how its bytes are compressed; `None` if this is not a layer type.
    pub fn layer_compression(&self) -> Option<Compression> {
        match self {
            Self::DockerLayer | Self::DockerForeignLayer => Some(Compression::None),
            Self::OciLayer | Self::OciNonDistributableLayer => Some(Compression::None),
            Self::DockerLayerGzip | Self::DockerForeignLayerGzip => Some(Compression::Gzip),
            Self::OciLayerGzip | Self::OciNonDistributableLayerGzip => Some(Compression::Gzip),
            Self::DockerLayerZstd | Self::OciLayerZstd => Some(Compression::Zstd),
            Self::OciNonDistributableLayerZstd => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The family of a known type; `None` for [`MediaType::Other`] and [`MediaType::OciEmpty`]
    /// used outside images.
    pub fn family(&self) -> Option<Family> {
        match self {
            Self::Other(_) => None,
            m if m.as_str().starts_with("application/vnd.docker.") => Some(Family::Docker),
            _ => Some(Family::Oci),
        }
    }

    /// The (distributable) layer type of `family` for `compression`.
    pub fn layer(family: Family, compression: Compression) -> Self {
        match (family, compression) {
            (Family::Docker, Compression::None) => Self::DockerLayer,
            (Family::Docker, Compression::Gzip) => Self::DockerLayerGzip,
            (Family::Docker, Compression::Zstd) => Self::DockerLayerZstd,
            (Family::Oci, Compression::None) => Self::OciLayer,
            (Family::Oci, Compression::Gzip) => Self::OciLayerGzip,
            (Family::Oci, Compression::Zstd) => Self::OciLayerZstd,
        }
    }

    /// The counterpart of this type in `family` (`DockerLayerGzip` ↔ `OciLayerGzip`, foreign ↔
    /// non-distributable, config ↔ config, …); unchanged when there is none.
    pub fn in_family(&self, family: Family) -> Self {
        if self.family() == Some(family) {
            return self.clone();
        }
        let distributable = self.is_distributable();
        match (self.layer_compression(), family) {
            (Some(c), _) if distributable => return Self::layer(family, c),
            (Some(Compression::None), Family::Oci) => return Self::OciNonDistributableLayer,
            (Some(Compression::Gzip), Family::Oci) => return Self::OciNonDistributableLayerGzip,
            (Some(Compression::Zstd), Family::Oci) => return Self::OciNonDistributableLayerZstd,
            (Some(Compression::None), Family::Docker) => return Self::DockerForeignLayer,
            (Some(Compression::Gzip), Family::Docker) => return Self::DockerForeignLayerGzip,
            // Docker has no zstd foreign layer type.
            (Some(Compression::Zstd), Family::Docker) => return self.clone(),
            (None, _) => {}
        }
        if self.is_config() {
            Self::config(family)
        } else if self.is_manifest() {
            Self::manifest(family)
        } else if self.is_index() {
            Self::index(family)
        } else {
            self.clone()
        }
    }

    /// The manifest type of `family`.
    pub fn manifest(family: Family) -> Self {
        match family {
            Family::Docker => Self::DockerManifest,
            Family::Oci => Self::OciManifest,
        }
    }

    /// The index type of `family`.
    pub fn index(family: Family) -> Self {
        match family {
            Family::Docker => Self::DockerManifestList,
            Family::Oci => Self::OciIndex,
        }
    }

    /// The config type of `family`.
    pub fn config(family: Family) -> Self {
        match family {
            Family::Docker => Self::DockerConfig,
            Family::Oci => Self::OciConfig,
        }
    }
}

impl FromStr for MediaType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MediaType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MediaType {
    /// Keeps the string exactly as written (no parameter stripping) so a round-trip is lossless.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from_known(&s).unwrap_or(Self::Other(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_type_round_trips_through_its_string() {
        let all = [
            MediaType::DockerManifest,
            MediaType::DockerManifestList,
            MediaType::DockerConfig,
            MediaType::DockerLayer,
            MediaType::DockerLayerGzip,
            MediaType::DockerLayerZstd,
            MediaType::DockerForeignLayerGzip,
            MediaType::DockerForeignLayer,
            MediaType::DockerSchema1,
            MediaType::DockerSchema1Signed,
            MediaType::OciManifest,
            MediaType::OciIndex,
            MediaType::OciConfig,
            MediaType::OciLayer,
            MediaType::OciLayerGzip,
            MediaType::OciLayerZstd,
            MediaType::OciNonDistributableLayer,
            MediaType::OciNonDistributableLayerGzip,
            MediaType::OciNonDistributableLayerZstd,
            MediaType::OciEmpty,
        ];
        for m in all {
            assert_eq!(MediaType::parse(m.as_str()), m);
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<MediaType>(&json).unwrap(), m);
        }
    }

    #[test]
    fn parse_strips_content_type_parameters() {
        let cases = [
            (
                "application/vnd.oci.image.index.v1+json; charset=utf-8",
                MediaType::OciIndex,
            ),
            (
                "  application/vnd.docker.distribution.manifest.v2+json ",
                MediaType::DockerManifest,
            ),
            (
                "Application/VND.OCI.Image.Manifest.v1+JSON",
                MediaType::OciManifest,
            ),
            (
                "application/json",
                MediaType::Other("application/json".into()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(MediaType::parse(input), want, "{input}");
        }
    }

    #[test]
    fn layer_types_know_their_compression_and_distributability() {
        // (type, compression, distributable)
        let cases = [
            (MediaType::DockerLayerGzip, Some(Compression::Gzip), true),
            (MediaType::DockerLayerZstd, Some(Compression::Zstd), true),
            (MediaType::DockerLayer, Some(Compression::None), true),
            (
                MediaType::DockerForeignLayerGzip,
                Some(Compression::Gzip),
                false,
            ),
            (MediaType::OciLayer, Some(Compression::None), true),
            (MediaType::OciLayerGzip, Some(Compression::Gzip), true),
            (MediaType::OciLayerZstd, Some(Compression::Zstd), true),
            (
                MediaType::OciNonDistributableLayerZstd,
                Some(Compression::Zstd),
                false,
            ),
            (MediaType::OciConfig, None, true),
            (MediaType::DockerManifest, None, true),
        ];
        for (m, compression, distributable) in cases {
            assert_eq!(m.layer_compression(), compression, "{m}");
            assert_eq!(m.is_distributable(), distributable, "{m}");
        }
    }

    #[test]
    fn in_family_maps_each_type_to_its_counterpart() {
        use MediaType as M;
        // (type, its Docker counterpart, its OCI counterpart)
        let cases = [
            (M::DockerManifest, M::DockerManifest, M::OciManifest),
            (M::OciIndex, M::DockerManifestList, M::OciIndex),
            (M::DockerConfig, M::DockerConfig, M::OciConfig),
            (M::OciLayerZstd, M::DockerLayerZstd, M::OciLayerZstd),
            (M::DockerLayerGzip, M::DockerLayerGzip, M::OciLayerGzip),
            (M::DockerLayer, M::DockerLayer, M::OciLayer),
            (
                M::DockerForeignLayerGzip,
                M::DockerForeignLayerGzip,
                M::OciNonDistributableLayerGzip,
            ),
            (
                M::OciNonDistributableLayer,
                M::DockerForeignLayer,
                M::OciNonDistributableLayer,
            ),
            (M::OciEmpty, M::OciEmpty, M::OciEmpty),
            (
                M::Other("x/y".into()),
                M::Other("x/y".into()),
                M::Other("x/y".into()),
            ),
        ];
        for (m, docker, oci) in cases {
            assert_eq!(m.in_family(Family::Docker), docker, "{m}");
            assert_eq!(m.in_family(Family::Oci), oci, "{m}");
        }
    }

    #[test]
    fn kinds_and_families_are_recognised() {
        assert!(MediaType::DockerManifestList.is_index());
        assert!(MediaType::OciIndex.is_index());
        assert!(MediaType::OciManifest.is_manifest());
        assert!(!MediaType::OciIndex.is_manifest());
        assert!(MediaType::DockerSchema1Signed.is_schema1());
        assert!(MediaType::DockerConfig.is_config());
        assert_eq!(MediaType::DockerLayerGzip.family(), Some(Family::Docker));
        assert_eq!(MediaType::OciLayerZstd.family(), Some(Family::Oci));
        assert_eq!(MediaType::Other("x/y".into()).family(), None);
        for family in [Family::Docker, Family::Oci] {
            for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
                let layer = MediaType::layer(family, c);
                assert_eq!(layer.layer_compression(), Some(c));
                assert_eq!(layer.family(), Some(family));
            }
            assert_eq!(MediaType::manifest(family).family(), Some(family));
            assert!(MediaType::index(family).is_index());
            assert!(MediaType::config(family).is_config());
        }
    }
}
