//! Platforms (`os/arch[/variant][:os.version]`): parsing, normalisation and matching, as
//! containerd's `platforms` package does them for `docker build --platform` and for choosing an
//! image from an index (<https://github.com/containerd/platforms>); the JSON shape is the OCI
//! index's `platform` object
//! (<https://github.com/opencontainers/image-spec/blob/main/image-index.md>).
//!
//! Owns: [`Platform`], its normalised form (`aarch64` → `arm64`, `x86_64` → `amd64`, `arm` →
//! `arm/v7`, `arm64/v8` → `arm64`), the compatibility order used to pick the best manifest of an
//! index, and the host platform. Does not own: the index itself (`crate::Index`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a platform.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    #[error("platform is empty: expected os/arch[/variant], e.g. linux/amd64")]
    Empty,
    #[error("invalid platform {0:?}: expected os/arch[/variant][:os.version], e.g. linux/arm/v7")]
    Format(String),
    #[error(
        "invalid platform {input:?}: {component:?} is neither a known os nor a known architecture"
    )]
    Unknown { input: String, component: String },
}

/// An operating system and CPU architecture, as in an index entry or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Fields this version does not know, kept for a faithful round-trip.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

const KNOWN_OSES: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];
const KNOWN_ARCHES: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
    "ppc64le", "riscv64", "s390x", "wasm",
];

impl Platform {
    /// A platform from its parts, normalised.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
            ..Self::default()
        }
        .normalized()
    }

    /// The platform kiln runs on.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            "mips64" if cfg!(target_endian = "little") => "mips64le",
            "mips" if cfg!(target_endian = "little") => "mipsle",
            other => other,
        };
        Self::new(std::env::consts::OS, arch, None)
    }

    /// The same platform spelled the way containerd compares platforms: lower case, `macos` →
    /// `darwin`, architecture aliases resolved, default variants made explicit (`arm` → `v7`) or
    /// dropped where they are the only one (`arm64/v8`, `amd64/v1`).
    pub fn normalized(&self) -> Self {
        let mut out = self.clone();
        out.os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        };
        let variant = self.variant.as_deref().unwrap_or("").to_ascii_lowercase();
        let (arch, variant) = match self.architecture.to_ascii_lowercase().as_str() {
            "i386" | "i686" | "x86" => ("386".to_owned(), String::new()),
            "x86_64" | "x86-64" | "amd64" => {
                let v = if variant == "v1" {
                    String::new()
                } else {
                    variant
                };
                ("amd64".to_owned(), v)
            }
            "aarch64" | "arm64" => {
                let v = match variant.as_str() {
                    "8" | "v8" | "v8.0" => String::new(),
                    "9" | "9.0" | "v9.0" => "v9".to_owned(),
                    _ => variant,
                };
                ("arm64".to_owned(), v)
            }
            "armhf" => ("arm".to_owned(), "v7".to_owned()),
            "armel" => ("arm".to_owned(), "v6".to_owned()),
            "arm" => {
                let v = match variant.as_str() {
                    "" | "7" => "v7".to_owned(),
                    "5" | "6" | "8" => format!("v{variant}"),
                    _ => variant,
                };
                ("arm".to_owned(), v)
            }
            other => (other.to_owned(), variant),
        };
        out.architecture = arch;
        out.variant = (!variant.is_empty()).then_some(variant);
        out
    }

    /// The platforms an image for `self` may be replaced by, best first, all normalised: itself,
    /// then older variants of the same architecture (`arm/v7` → `v6`, `v5`; `amd64/v3` → `v2`,
    /// `amd64`), then the 32-bit sibling (`amd64` → `386`, `arm64` → `arm/v8` … `arm/v5`).
    pub fn compatible(&self) -> Vec<Platform> {
        let me = self.normalized();
        let with = |arch: &str, variant: Option<String>| {
            Platform {
                architecture: arch.to_owned(),
                variant,
                ..me.clone()
            }
            .normalized()
        };
        let version = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| v.strip_prefix('v'))
                .and_then(|n| n.parse::<u32>().ok())
        };
        let mut out = vec![me.clone()];
        match me.architecture.as_str() {
            "amd64" => {
                let top = version(&me.variant).unwrap_or(1);
                out.extend((1..top).rev().map(|n| with("amd64", Some(format!("v{n}")))));
                out.push(with("386", None));
            }
            "arm" => {
                let top = version(&me.variant).unwrap_or(0);
                out.extend((5..top).rev().map(|n| with("arm", Some(format!("v{n}")))));
            }
            "arm64" if me.variant.is_none() => {
                out.extend((5..=8).rev().map(|n| with("arm", Some(format!("v{n}")))));
            }
            _ => {}
        }
        out
    }

    /// Whether `candidate` is this platform once both are normalised. When `self` asks for an
    /// `os.version` or `os.features`, the candidate must have that version and those features.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let (want, have) = (self.normalized(), candidate.normalized());
        want.os == have.os
            && want.architecture == have.architecture
            && want.variant == have.variant
            && want
                .os_version
                .as_ref()
                .is_none_or(|v| have.os_version.as_ref() == Some(v))
            && want
                .os_features
                .iter()
                .all(|f| have.os_features.contains(f))
    }

    /// How good a substitute `candidate` is for `self`: 0 is an exact match, higher is worse,
    /// `None` is not usable at all.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        self.compatible().iter().position(|p| p.matches(candidate))
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    /// Parses `os/arch[/variant][:os.version]`. A single component is taken as an os (with the
    /// host's architecture) or an architecture (on linux), as `docker build --platform` does.
    fn from_str(input: &str) -> Result<Self, PlatformError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(PlatformError::Empty);
        }
        let (spec, os_version) = match s.split_once(':') {
            Some((spec, v)) if !v.is_empty() => (spec, Some(v.to_owned())),
            Some(_) => return Err(PlatformError::Format(input.to_owned())),
            None => (s, None),
        };
        let parts: Vec<&str> = spec.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError::Format(input.to_owned()));
        }
        let mut p = match parts.as_slice() {
            [one] => {
                let lower = one.to_ascii_lowercase();
                let as_os = Platform::new(&lower, "", None).os;
                let as_arch = Platform::new("", &lower, None).architecture;
                if KNOWN_OSES.contains(&as_os.as_str()) {
                    Platform {
                        os: as_os,
                        ..Platform::host()
                    }
                } else if KNOWN_ARCHES.contains(&as_arch.as_str()) {
                    Platform::new("linux", &lower, None)
                } else {
                    return Err(PlatformError::Unknown {
                        input: input.to_owned(),
                        component: (*one).to_owned(),
                    });
                }
            }
            [os, arch] => Platform::new(os, arch, None),
            [os, arch, variant] => Platform::new(os, arch, Some(variant)),
            _ => return Err(PlatformError::Format(input.to_owned())),
        };
        p.os_version = os_version;
        Ok(p)
    }
}

impl fmt::Display for Platform {
    /// `os/arch[/variant][:os.version]`, the form [`FromStr`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        if let Some(v) = &self.os_version {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "platform_tests.rs"]
mod tests;
