//! The base images a Dockerfile's stages start from, as `kiln warm --dockerfile` caches them.
//!
//! Owns: expanding each FROM line with the meta ARGs (those before the first FROM, overridden by
//! `--build-arg`) and the automatic platform ARGs (`TARGETPLATFORM`, `BUILDARCH`, ...), as
//! BuildKit does for FROM (<https://docs.docker.com/reference/dockerfile/#understand-how-arg-and-from-interact>);
//! leaving out `scratch` and earlier stages named by their `AS` name (both case-insensitive);
//! and the `FROM --platform` value, expanded the same way, so that a stage built for another
//! platform gets that platform's image.
//!
//! Does not own: ARG scoping rules (`kiln_dockerfile::ArgScope`) or checking that a base is a
//! valid reference: the warmer reports an invalid one as a failure of that image and carries on.

use std::collections::BTreeMap;

use kiln_dockerfile::{ArgScope, ExpandError, parse_dockerfile};
use kiln_oci::{Platform, PlatformError};

/// Why a Dockerfile's base images could not be listed. Line numbers are 1-based.
#[derive(Debug, thiserror::Error)]
pub enum BasesError {
    #[error("parsing the Dockerfile")]
    Parse(#[source] kiln_dockerfile::Error),
    #[error("line {line}: cannot expand {word:?}")]
    Expand {
        line: usize,
        word: String,
        #[source]
        source: ExpandError,
    },
    #[error("line {line}: FROM {word:?} expands to an empty image name")]
    Blank { line: usize, word: String },
    #[error("line {line}: FROM --platform={value:?} is not a platform")]
    Platform {
        line: usize,
        value: String,
        #[source]
        source: PlatformError,
    },
}

/// One stage's base image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    /// The image name after expansion, as written (not yet parsed as a reference).
    pub image: String,
    /// `FROM --platform`, expanded; `None` means the platform of the build.
    pub platform: Option<Platform>,
    /// The FROM line.
    pub line: usize,
}

/// The base images of `dockerfile`'s stages, in stage order, for a build for `target` on
/// `build` with `build_args`. Stages that start from `scratch` or an earlier stage have none.
pub fn base_images(
    dockerfile: &str,
    build_args: &BTreeMap<String, String>,
    target: &Platform,
    build: &Platform,
) -> Result<Vec<BaseImage>, BasesError> {
    let file = parse_dockerfile(dockerfile).map_err(BasesError::Parse)?;
    let predefined = crate::plan::platform::predefined(target, build);
    let scope = ArgScope::new(&file, build_args.clone(), &predefined).map_err(BasesError::Parse)?;
    let env = scope.global();
    let lexer = file.lexer();
    let expand = |word: &str, line: usize| {
        lexer
            .expand_word(word, &env)
            .map_err(|source| BasesError::Expand {
                line,
                word: word.to_owned(),
                source,
            })
    };
    let mut out = Vec::new();
    for stage in &file.stages {
        let line = stage.from.span.start_line;
        let image = expand(&stage.from.image, line)?;
        if image.is_empty() {
            return Err(BasesError::Blank {
                line,
                word: stage.from.image.clone(),
            });
        }
        let earlier_stage = file.stages[..stage.index]
            .iter()
            .any(|s| s.name.as_deref() == Some(image.to_ascii_lowercase().as_str()));
        if image.eq_ignore_ascii_case("scratch") || earlier_stage {
            continue;
        }
        let platform = match &stage.from.platform {
            None => None,
            Some(raw) => {
                let value = expand(raw, line)?;
                let parsed = value.parse().map_err(|source| BasesError::Platform {
                    line,
                    value,
                    source,
                })?;
                Some(parsed)
            }
        };
        out.push(BaseImage {
            image,
            platform,
            line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each base as `(image, platform)`, or the error's message.
    type Listed = Result<Vec<(String, Option<String>)>, String>;

    fn amd64() -> Platform {
        Platform::new("linux", "amd64", None)
    }

    fn bases(src: &str, args: &[(&str, &str)]) -> Listed {
        let args = args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let target = Platform::new("linux", "arm64", None);
        base_images(src, &args, &target, &amd64())
            .map(|b| {
                b.into_iter()
                    .map(|b| (b.image, b.platform.map(|p| p.to_string())))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    fn images(list: &[&str]) -> Listed {
        Ok(list.iter().map(|i| ((*i).to_owned(), None)).collect())
    }

    #[test]
    fn every_stage_base_is_listed_after_arg_expansion() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Listed);
        let cases: Vec<Case<'_>> = vec![
            ("FROM busybox\n", &[], images(&["busybox"])),
            (
                "FROM busybox AS a\nFROM debian:bookworm\n",
                &[],
                images(&["busybox", "debian:bookworm"]),
            ),
            ("ARG BASE=busybox\nFROM $BASE\n", &[], images(&["busybox"])),
            (
                "ARG BASE=busybox\nFROM ${BASE}:1\n",
                &[("BASE", "alpine")],
                images(&["alpine:1"]),
            ),
            (
                "ARG TAG\nFROM reg.example/app:${TAG:-latest}\n",
                &[],
                images(&["reg.example/app:latest"]),
            ),
            (
                "ARG TAG\nFROM reg.example/app:${TAG:-latest}\n",
                &[("TAG", "v2")],
                images(&["reg.example/app:v2"]),
            ),
            ("FROM img:$TARGETARCH\n", &[], images(&["img:arm64"])),
            ("FROM img:$BUILDARCH\n", &[], images(&["img:amd64"])),
            // A build arg that no meta ARG declares does not reach FROM, as in BuildKit.
            (
                "FROM $UNDECLARED\n",
                &[("UNDECLARED", "x")],
                Err("line 1: FROM \"$UNDECLARED\" expands to an empty image name".to_owned()),
            ),
        ];
        for (src, args, want) in cases {
            assert_eq!(bases(src, args), want, "{src:?} {args:?}");
        }
    }

    #[test]
    fn scratch_and_earlier_stages_are_not_images() {
        let cases: [(&str, Listed); 5] = [
            ("FROM scratch\n", images(&[])),
            ("FROM SCRATCH\n", images(&[])),
            ("FROM busybox AS Build\nFROM build\n", images(&["busybox"])),
            (
                "ARG S=build\nFROM busybox AS build\nFROM $S\n",
                images(&["busybox"]),
            ),
            // A name only counts for stages above it: here `later` is an image.
            (
                "FROM later\nFROM busybox AS later\n",
                images(&["later", "busybox"]),
            ),
        ];
        for (src, want) in cases {
            assert_eq!(bases(src, &[]), want, "{src:?}");
        }
    }

    #[test]
    fn from_platform_is_expanded_and_kept() {
        let cases = [
            (
                "FROM --platform=linux/arm/v7 busybox\n",
                Some("linux/arm/v7"),
            ),
            (
                "FROM --platform=$BUILDPLATFORM busybox\n",
                Some("linux/amd64"),
            ),
            (
                "ARG P=linux/s390x\nFROM --platform=$P busybox\n",
                Some("linux/s390x"),
            ),
            ("FROM busybox\n", None),
        ];
        for (src, want) in cases {
            let got = bases(src, &[]).map(|b| b[0].1.clone());
            assert_eq!(got, Ok(want.map(str::to_owned)), "{src:?}");
        }
        let err = bases("FROM --platform=linux/ busybox\n", &[]).unwrap_err();
        assert!(
            err.starts_with("line 1: FROM --platform=\"linux/\""),
            "{err}"
        );
    }

    #[test]
    fn broken_dockerfiles_are_errors() {
        let cases = ["", "RUN true\n", "FROM a AS x\nFROM b AS x\n", "FROM ${X\n"];
        for src in cases {
            assert!(bases(src, &[]).is_err(), "{src:?} was accepted");
        }
    }
}
