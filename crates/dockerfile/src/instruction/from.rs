//! FROM: the base of a stage.
//!
//! Owns `FROM [--platform=P] image [AS name]`: the argument count, the `AS` keyword
//! (case-insensitive), and the stage-name rule (a letter, then letters, digits, `-`, `_`,
//! `.`; compared lower-case). The image and platform are expanded by the executor with the
//! meta ARGs only. Reference: <https://docs.docker.com/reference/dockerfile/#from>.

use super::flags::{Flags, Kind};
use crate::ast::Node;
use crate::error::Error;
use crate::span::Span;

/// A FROM instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image reference, stage name or `scratch`, unexpanded.
    pub image: String,
    /// The stage name, lower-cased.
    pub name: Option<String>,
    /// `--platform`, unexpanded.
    pub platform: Option<String>,
    pub span: Span,
}

impl From {
    pub(crate) fn from_node(node: &Node) -> Result<Self, Error> {
        let flags = Flags::parse(node, &[("platform", Kind::String)])?;
        let args = node.args.list();
        let name = match args {
            [_] => None,
            [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
            _ => {
                return Err(Error::InvalidArguments {
                    span: node.span,
                    instruction: "FROM".to_owned(),
                    reason: "FROM requires either one or three arguments (image [AS name])"
                        .to_owned(),
                });
            }
        };
        if let Some(name) = &name {
            if !valid_stage_name(name) {
                return Err(Error::InvalidStageName {
                    span: node.span_of(&args[2]),
                    name: args[2].clone(),
                });
            }
        }
        Ok(From {
            image: args[0].clone(),
            name,
            platform: flags.string("platform"),
            span: node.span,
        })
    }
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn from(src: &str) -> Result<From, Error> {
        From::from_node(&parse(src).unwrap().instructions[0])
    }

    #[test]
    fn parses_image_name_and_platform() {
        let f = from("FROM --platform=$BUILDPLATFORM golang:1.22 As Build-1").unwrap();
        assert_eq!(f.image, "golang:1.22");
        assert_eq!(f.name.as_deref(), Some("build-1"));
        assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
        assert_eq!(from("FROM scratch").unwrap().name, None);
    }

    #[test]
    fn rejects_bad_from_lines() {
        let cases = [
            (
                "FROM a b",
                "1:1: FROM: FROM requires either one or three arguments (image [AS name])",
            ),
            (
                "FROM a is b",
                "1:1: FROM: FROM requires either one or three arguments (image [AS name])",
            ),
            (
                "FROM a AS 1st",
                "1:11: invalid name for build stage \"1st\": it must start with a letter and contain only letters, digits, '-', '_' and '.'",
            ),
            (
                "FROM a AS b$c",
                "1:11: invalid name for build stage \"b$c\": it must start with a letter and contain only letters, digits, '-', '_' and '.'",
            ),
            (
                "FROM --plat=x a",
                "1:6: unknown flag --plat for FROM (did you mean --platform?)",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(from(src).unwrap_err().to_string(), want, "{src}");
        }
    }
}
