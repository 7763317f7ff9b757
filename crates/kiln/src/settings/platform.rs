//! The build platform (`--custom-platform`), in the `os/arch[/variant][:os.version]` syntax
//! of go-containerregistry's `v1.ParsePlatform`, defaulting to the host as containerd's
//! `platforms.DefaultSpec` names it (GOOS/GOARCH words: `amd64`, `arm64`, ...). Other names of an
//! architecture (`x86_64`, `aarch64`, `armhf`) are normalised as containerd does.
//! Spec: <https://github.com/opencontainers/image-spec/blob/main/image-index.md#platform-variants>.

use std::fmt;

use super::error::SettingsError;

/// An OCI platform as Kaniko's `--custom-platform` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub os_version: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant][:os.version]`; `os` and `arch` are required.
    pub fn parse(input: &str) -> Result<Self, String> {
        let expected = || {
            format!("expected os/arch[/variant] such as linux/amd64 or linux/arm/v7, got {input:?}")
        };
        let (spec, os_version) = match input.split_once(':') {
            Some((spec, version)) if !version.is_empty() => (spec, Some(version.to_owned())),
            Some(_) => return Err(expected()),
            None => (input, None),
        };
        let parts: Vec<&str> = spec.split('/').collect();
        let valid_word = |w: &&str| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid_word) {
            return Err(expected());
        }
        let (architecture, implied_variant) = normalize_architecture(parts[1]);
        Ok(Self {
            os: parts[0].to_owned(),
            architecture: architecture.to_owned(),
            variant: parts
                .get(2)
                .map(|v| (*v).to_owned())
                .or(implied_variant.map(str::to_owned)),
            os_version,
        })
    }

    /// The platform this binary runs on.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "loongarch64" => ("loong64", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            other => (other, None),
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
            os_version: None,
        }
    }
}

/// containerd's names for the architectures that go by other names (`uname -m`, Debian):
/// `x86_64` is `amd64`, `aarch64` is `arm64`, `armhf` is `arm/v7`, ...
fn normalize_architecture(arch: &str) -> (&str, Option<&'static str>) {
    match arch {
        "x86_64" | "x86-64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "i386" | "i686" => ("386", None),
        other => (other, None),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        if let Some(version) = &self.os_version {
            write!(f, ":{version}")?;
        }
        Ok(())
    }
}

/// `--custom-platform` (or the warmer's `--customPlatform`) parsed, or the host's platform.
pub fn resolve_platform(
    flag: &'static str,
    value: Option<String>,
) -> Result<Platform, SettingsError> {
    match value {
        Some(value) => Platform::parse(&value).map_err(|expected| SettingsError::InvalidValue {
            flag,
            value,
            expected,
        }),
        None => Ok(Platform::host()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_os_arch_variant_and_version() {
        let cases = [
            ("linux/amd64", Some(("linux", "amd64", None, None))),
            ("linux/arm/v7", Some(("linux", "arm", Some("v7"), None))),
            ("linux/arm64/v8", Some(("linux", "arm64", Some("v8"), None))),
            ("linux/x86_64", Some(("linux", "amd64", None, None))),
            ("linux/aarch64", Some(("linux", "arm64", None, None))),
            ("linux/armhf", Some(("linux", "arm", Some("v7"), None))),
            ("linux/i386", Some(("linux", "386", None, None))),
            (
                "windows/amd64:10.0.17763.1879",
                Some(("windows", "amd64", None, Some("10.0.17763.1879"))),
            ),
            ("linux", None),
            ("linux/", None),
            ("/amd64", None),
            ("linux/arm/v7/extra", None),
            ("linux/amd64:", None),
            ("linux/am d64", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = Platform::parse(input).ok();
            let want = want.map(|(os, arch, variant, version)| Platform {
                os: os.to_owned(),
                architecture: arch.to_owned(),
                variant: variant.map(str::to_owned),
                os_version: version.map(str::to_owned),
            });
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for input in ["linux/amd64", "linux/arm/v6", "windows/amd64:10.0.1"] {
            assert_eq!(
                Platform::parse(input).map(|p| p.to_string()),
                Ok(input.to_owned())
            );
        }
    }

    #[test]
    fn host_uses_go_architecture_names() {
        let host = Platform::host();
        assert_ne!(host.architecture, "x86_64");
        assert_ne!(host.architecture, "aarch64");
        assert!(Platform::parse(&host.to_string()).is_ok());
    }
}
