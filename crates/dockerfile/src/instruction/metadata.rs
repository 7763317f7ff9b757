//! The instructions that only change the image config or the build's variables: ENV, LABEL,
//! ARG, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, MAINTAINER.
//!
//! Owns their argument rules (how many, which may be empty, blank names). Every value here is
//! kept unexpanded; the executor expands keys and values with the ENV and ARGs in scope.
//! Reference: <https://docs.docker.com/reference/dockerfile/#env>.

use crate::ast::{Args, KeyValue, Node};
use crate::error::Error;

/// One ARG declaration: a name and an optional default (unexpanded, quotes kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

fn invalid(node: &Node, reason: String) -> Error {
    Error::InvalidArguments {
        span: node.span,
        instruction: node.keyword.to_string(),
        reason,
    }
}

/// ENV and LABEL pairs, with at least one pair and no blank name.
pub(crate) fn pairs(node: &Node) -> Result<Vec<KeyValue>, Error> {
    let Args::Pairs(pairs) = &node.args else {
        return Err(invalid(
            node,
            format!("{} takes name=value pairs", node.keyword),
        ));
    };
    if pairs.is_empty() {
        return Err(invalid(
            node,
            format!("{} requires at least one argument", node.keyword),
        ));
    }
    if pairs.iter().any(|kv| kv.key.is_empty()) {
        return Err(invalid(
            node,
            format!("{} names can not be blank", node.keyword),
        ));
    }
    Ok(pairs.clone())
}

/// ARG: one or more `name[=default]` words.
pub(crate) fn arg_decls(node: &Node) -> Result<Vec<ArgDecl>, Error> {
    let words = node.args.list();
    if words.is_empty() {
        return Err(invalid(
            node,
            "ARG requires at least one argument".to_owned(),
        ));
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(invalid(node, "ARG names can not be blank".to_owned())),
            Some((name, value)) => Ok(ArgDecl {
                name: name.to_owned(),
                default: Some(value.to_owned()),
            }),
            None => Ok(ArgDecl {
                name: w.clone(),
                default: None,
            }),
        })
        .collect()
}

/// EXPOSE and VOLUME: at least one word (VOLUME: none empty).
pub(crate) fn words(node: &Node) -> Result<Vec<String>, Error> {
    let words = node.args.list();
    if words.is_empty() {
        return Err(invalid(
            node,
            format!("{} requires at least one argument", node.keyword),
        ));
    }
    if words.iter().any(String::is_empty) {
        return Err(invalid(
            node,
            format!("{} specified can not be an empty string", node.keyword),
        ));
    }
    Ok(words.to_vec())
}

/// USER, WORKDIR, STOPSIGNAL, MAINTAINER: the rest of the line, which must not be empty.
pub(crate) fn single(node: &Node) -> Result<String, Error> {
    match node.args.list() {
        [one] => Ok(one.clone()),
        _ => Err(invalid(
            node,
            format!("{} requires exactly one argument", node.keyword),
        )),
    }
}

/// Rejects any flag on instructions that take none.
pub(crate) fn no_flags(node: &Node) -> Result<(), Error> {
    super::flags::Flags::parse(node, &[]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn node(src: &str) -> Node {
        parse(src).unwrap().instructions.remove(0)
    }

    #[test]
    fn arg_declarations_split_name_and_default() {
        let decls = arg_decls(&node("ARG a b=1 c=\"x y\" d=")).unwrap();
        let got: Vec<_> = decls
            .iter()
            .map(|d| (d.name.as_str(), d.default.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", None),
                ("b", Some("1")),
                ("c", Some("\"x y\"")),
                ("d", Some(""))
            ]
        );
    }

    #[test]
    fn argument_rules_are_enforced() {
        type Check = fn(&Node) -> Result<(), Error>;
        let cases: &[(&str, Check, &str)] = &[
            (
                "ENV",
                |n| pairs(n).map(drop),
                "1:1: ENV: ENV requires at least one argument",
            ),
            (
                "LABEL =x",
                |n| pairs(n).map(drop),
                "1:1: LABEL: LABEL names can not be blank",
            ),
            (
                "ARG",
                |n| arg_decls(n).map(drop),
                "1:1: ARG: ARG requires at least one argument",
            ),
            (
                "ARG =x",
                |n| arg_decls(n).map(drop),
                "1:1: ARG: ARG names can not be blank",
            ),
            (
                "EXPOSE",
                |n| words(n).map(drop),
                "1:1: EXPOSE: EXPOSE requires at least one argument",
            ),
            (
                "VOLUME [\"\"]",
                |n| words(n).map(drop),
                "1:1: VOLUME: VOLUME specified can not be an empty string",
            ),
            (
                "USER",
                |n| single(n).map(drop),
                "1:1: USER: USER requires exactly one argument",
            ),
            ("ENV --x=1 A=b", no_flags, "1:5: unknown flag --x for ENV"),
        ];
        for (src, check, want) in cases {
            assert_eq!(check(&node(src)).unwrap_err().to_string(), *want, "{src}");
        }
    }
}
