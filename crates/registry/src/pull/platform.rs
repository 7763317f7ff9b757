//! Choosing an image from an index by platform (`--custom-platform`).
//!
//! Owns: [`PlatformSpec`] (`os/arch[/variant]`) and picking the matching entry of an OCI index
//! or Docker manifest list, with the image spec's platform fields
//! (<https://github.com/opencontainers/image-spec/blob/main/image-index.md>). `arm64` without a
//! variant matches `v8`, as containerd's matcher does.
//!
//! This is a small reader of only the fields selection needs; the full image model (and the
//! general platform matcher) is `kiln-oci`'s.

use std::fmt;

use kiln_oci::Digest;
use serde::Deserialize;

/// A wanted platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// Parses `os/arch[/variant]`; `None` when it is not of that form.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let architecture = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant,
        })
    }

    /// The platform kiln runs on, as a Go `GOARCH` names it.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self {
            os: "linux".to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }

    fn matches(&self, p: &IndexPlatform) -> bool {
        let norm = |arch: &str, v: Option<&str>| -> Option<String> {
            match (arch, v) {
                ("arm64", None) => Some("v8".to_owned()),
                (_, v) => v.map(str::to_owned),
            }
        };
        if p.os != self.os || p.architecture != self.architecture {
            return false;
        }
        match &self.variant {
            None => true,
            Some(_) => {
                norm(&self.architecture, self.variant.as_deref())
                    == norm(&p.architecture, p.variant.as_deref())
            }
        }
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct IndexPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: Digest,
    #[serde(default)]
    platform: Option<IndexPlatform>,
}

#[derive(Deserialize)]
struct IndexBody {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

/// The digest of the first entry of index `bytes` that matches `wanted`; `Err` when the
/// bytes are not an index.
pub(crate) fn select(
    bytes: &[u8],
    wanted: &PlatformSpec,
) -> Result<Option<Digest>, serde_json::Error> {
    let index: IndexBody = serde_json::from_slice(bytes)?;
    Ok(index
        .manifests
        .into_iter()
        .find(|e| e.platform.as_ref().is_some_and(|p| wanted.matches(p)))
        .map(|e| e.digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"schemaVersion":2,"manifests":[
        {"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,
         "platform":{"os":"linux","architecture":"amd64"}},
        {"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1,
         "platform":{"os":"linux","architecture":"arm","variant":"v7"}},
        {"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","size":1,
         "platform":{"os":"linux","architecture":"arm64"}},
        {"digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444","size":1,
         "platform":{"os":"unknown","architecture":"unknown"}}
    ]}"#;

    #[test]
    fn selection_by_platform() {
        let cases = [
            ("linux/amd64", Some('1')),
            ("linux/arm/v7", Some('2')),
            ("linux/arm/v6", None),
            ("linux/arm64", Some('3')),
            ("linux/arm64/v8", Some('3')),
            ("linux/s390x", None),
        ];
        for (spec, want) in cases {
            let got = select(INDEX.as_bytes(), &PlatformSpec::parse(spec).unwrap()).unwrap();
            assert_eq!(got.map(|d| d.hex().chars().next().unwrap()), want, "{spec}");
        }
    }

    #[test]
    fn platform_strings_parse_or_are_refused() {
        assert_eq!(
            PlatformSpec::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
        for bad in ["", "linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(PlatformSpec::parse(bad).is_none(), "{bad}");
        }
    }
}
