//! ARG values: meta ARGs, per-stage declarations and the predefined ARGs.
//!
//! Owns the rules for what value an ARG has: a `--build-arg` overrides the default; a stage's
//! `ARG name` without a default takes the meta ARG's value; defaults are expanded with what
//! is in scope before them; the platform ARGs (`TARGETPLATFORM`, `BUILDOS`, ...) are in the
//! global scope automatically, and in a stage only once declared; the proxy ARGs are
//! predefined but only have a value when given as build args. The executor fills
//! [`Predefined`] with the platforms it builds for and on.
//! Reference: <https://docs.docker.com/reference/dockerfile/#arg>.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::expand::Lexer;
use crate::instruction::ArgDecl;
use crate::span::Span;
use crate::stage::Dockerfile;

/// ARGs Docker predefines for proxies; they never land in the image's history.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// ARGs describing the target and build platforms.
pub const PLATFORM_ARGS: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// An `os/arch[/variant]` platform as the platform ARGs spell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformParts {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl PlatformParts {
    /// `os/arch` or `os/arch/variant`.
    pub fn to_platform(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.arch),
            None => format!("{}/{}", self.os, self.arch),
        }
    }
}

/// The values of the platform ARGs, filled by the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predefined {
    pub target: PlatformParts,
    pub build: PlatformParts,
}

impl Predefined {
    /// Every platform ARG with its value (`TARGETVARIANT` is empty without a variant).
    pub fn values(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (prefix, p) in [("TARGET", &self.target), ("BUILD", &self.build)] {
            out.insert(format!("{prefix}PLATFORM"), p.to_platform());
            out.insert(format!("{prefix}OS"), p.os.clone());
            out.insert(format!("{prefix}ARCH"), p.arch.clone());
            out.insert(
                format!("{prefix}VARIANT"),
                p.variant.clone().unwrap_or_default(),
            );
        }
        out
    }
}

/// Resolves ARG values for one build.
#[derive(Debug, Clone)]
pub struct ArgScope {
    lexer: Lexer,
    build_args: BTreeMap<String, String>,
    predefined: BTreeMap<String, String>,
    /// Resolved meta ARGs (unset ones are absent).
    meta: BTreeMap<String, String>,
}

impl ArgScope {
    /// Resolves the meta ARGs of `file` given the `--build-arg` values and the platforms.
    pub fn new(
        file: &Dockerfile,
        build_args: BTreeMap<String, String>,
        predefined: &Predefined,
    ) -> Result<Self, Error> {
        let mut scope = ArgScope {
            lexer: file.lexer(),
            build_args,
            predefined: predefined.values(),
            meta: BTreeMap::new(),
        };
        for arg in &file.meta_args {
            let decl = ArgDecl {
                name: arg.name.clone(),
                default: arg.default.clone(),
            };
            let env = scope.global();
            if let Some(value) = scope.resolve(&decl, &env, arg.span, true)? {
                scope.meta.insert(arg.name.clone(), value);
            }
        }
        Ok(scope)
    }

    /// What FROM lines (image and `--platform`) are expanded with: the meta ARGs and the
    /// platform ARGs.
    pub fn global(&self) -> BTreeMap<String, String> {
        let mut env = self.predefined.clone();
        env.extend(self.meta.clone());
        env
    }

    /// The value an `ARG` inside a stage gives its name, or `None` if it stays unset.
    /// `env` is what is in scope just before the ARG (ENV and earlier ARGs of the stage).
    pub fn declare(
        &self,
        decl: &ArgDecl,
        env: &BTreeMap<String, String>,
        span: Span,
    ) -> Result<Option<String>, Error> {
        self.resolve(decl, env, span, false)
    }

    fn resolve(
        &self,
        decl: &ArgDecl,
        env: &BTreeMap<String, String>,
        span: Span,
        global: bool,
    ) -> Result<Option<String>, Error> {
        if let Some(v) = self.build_args.get(&decl.name) {
            return Ok(Some(v.clone()));
        }
        if let Some(default) = &decl.default {
            let value = self
                .lexer
                .expand_word(default, env)
                .map_err(|source| Error::Expand {
                    span,
                    word: default.clone(),
                    source: Box::new(source),
                })?;
            return Ok(Some(value));
        }
        if !global {
            if let Some(v) = self.meta.get(&decl.name) {
                return Ok(Some(v.clone()));
            }
        }
        Ok(self.predefined.get(&decl.name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_dockerfile;

    fn predefined() -> Predefined {
        Predefined {
            target: PlatformParts {
                os: "linux".into(),
                arch: "arm64".into(),
                variant: Some("v8".into()),
            },
            build: PlatformParts {
                os: "linux".into(),
                arch: "amd64".into(),
                variant: None,
            },
        }
    }

    fn decl(name: &str, default: Option<&str>) -> ArgDecl {
        ArgDecl {
            name: name.into(),
            default: default.map(Into::into),
        }
    }

    #[test]
    fn meta_args_resolve_with_build_args_and_platforms() {
        let file = parse_dockerfile(
            "ARG BASE=alpine\nARG FULL=\"$BASE:$TARGETARCH\"\nARG UNSET\nFROM $FULL\n",
        )
        .unwrap();
        let mut build_args = BTreeMap::new();
        let scope = ArgScope::new(&file, build_args.clone(), &predefined()).unwrap();
        let global = scope.global();
        assert_eq!(global["FULL"], "alpine:arm64");
        assert_eq!(global["TARGETPLATFORM"], "linux/arm64/v8");
        assert_eq!(global["BUILDVARIANT"], "");
        assert!(!global.contains_key("UNSET"));
        build_args.insert("BASE".into(), "debian".into());
        let scope = ArgScope::new(&file, build_args, &predefined()).unwrap();
        assert_eq!(scope.global()["FULL"], "debian:arm64");
    }

    #[test]
    fn stage_args_inherit_meta_values_only_when_declared() {
        let file = parse_dockerfile("ARG V=1\nFROM a\n").unwrap();
        let mut build_args = BTreeMap::new();
        build_args.insert("HTTP_PROXY".into(), "http://p".into());
        let scope = ArgScope::new(&file, build_args, &predefined()).unwrap();
        let env = BTreeMap::new();
        let span = Span::at(3, 1);
        let cases = [
            (decl("V", None), Some("1")),
            (decl("V", Some("2")), Some("2")),
            (decl("W", None), None),
            (decl("TARGETOS", None), Some("linux")),
            (decl("HTTP_PROXY", None), Some("http://p")),
            (decl("https_proxy", None), None),
        ];
        for (d, want) in cases {
            assert_eq!(
                scope.declare(&d, &env, span).unwrap().as_deref(),
                want,
                "{d:?}"
            );
        }
    }

    #[test]
    fn required_default_reports_its_span() {
        let file = parse_dockerfile("ARG V=\"${NEED:?set NEED}\"\nFROM a\n").unwrap();
        let err = ArgScope::new(&file, BTreeMap::new(), &predefined()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:1: cannot expand \"\\\"${NEED:?set NEED}\\\"\""
        );
        assert_eq!(
            std::error::Error::source(&err).map(|s| s.to_string()),
            Some("NEED: set NEED".to_owned())
        );
    }
}
