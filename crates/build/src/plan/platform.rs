//! The predefined platform ARGs of a build.
//!
//! Owns turning the target platform (`--custom-platform`, or the host) and the build platform
//! (always the host: kiln does not emulate) into the values of `TARGETPLATFORM`, `TARGETOS`,
//! `TARGETARCH`, `TARGETVARIANT`, `BUILDPLATFORM`, `BUILDOS`, `BUILDARCH` and `BUILDVARIANT`,
//! spelled as containerd normalises platforms (`linux/arm/v7`, `linux/arm64`), which is what
//! BuildKit puts in them. Where they are visible is [`kiln_dockerfile::ArgScope`]'s rule: in
//! the meta scope (FROM lines) automatically, in a stage only after `ARG TARGETARCH` etc.
//! Reference: <https://docs.docker.com/reference/dockerfile/#automatic-platform-args-in-the-global-scope>.

use kiln_dockerfile::Predefined;
use kiln_dockerfile::scope::PlatformParts;
use kiln_oci::Platform;

fn parts(platform: &Platform) -> PlatformParts {
    let p = platform.normalized();
    PlatformParts {
        os: p.os,
        arch: p.architecture,
        variant: p.variant.filter(|v| !v.is_empty()),
    }
}

/// The platform ARG values for a build for `target` on `build`.
pub fn predefined(target: &Platform, build: &Platform) -> Predefined {
    Predefined {
        target: parts(target),
        build: parts(build),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_args_are_normalised_like_containerd() {
        let cases = [
            (("linux", "amd64", None), "linux/amd64", ""),
            (("linux", "arm", None), "linux/arm/v7", "v7"),
            (("linux", "aarch64", Some("v8")), "linux/arm64", ""),
            (("linux", "arm", Some("v6")), "linux/arm/v6", "v6"),
        ];
        let host = Platform::new("linux", "amd64", None);
        for ((os, arch, variant), platform, want_variant) in cases {
            let values = predefined(&Platform::new(os, arch, variant), &host).values();
            assert_eq!(values["TARGETPLATFORM"], platform, "{platform}");
            assert_eq!(values["TARGETVARIANT"], want_variant, "{platform}");
            assert_eq!(values["BUILDPLATFORM"], "linux/amd64");
            assert_eq!(values["BUILDARCH"], "amd64");
        }
    }
}
