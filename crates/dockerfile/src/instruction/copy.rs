//! COPY and ADD.
//!
//! Owns their flags (`--from --chown --chmod --link --parents --exclude` for COPY;
//! `--chown --chmod --link --exclude --checksum --keep-git-dir` for ADD), the split of
//! arguments into sources and destination (exec or whitespace form), and heredoc sources
//! (`COPY <<EOF /dest`). Sources, destination and the `--from`, `--chown`, `--chmod` and
//! `--checksum` values are kept unexpanded: the executor expands each word with the ENV and
//! ARGs in scope. Reference: <https://docs.docker.com/reference/dockerfile/#copy>.

use super::flags::{Flags, Kind};
use crate::ast::{Heredoc, Keyword, Node};
use crate::error::Error;
use crate::heredoc;
use crate::span::Span;

/// What COPY and ADD have in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// Source paths, patterns or URLs, in order (heredoc sources excluded).
    pub sources: Vec<String>,
    /// Heredoc sources: files named after the delimiter, holding the body.
    pub heredocs: Vec<Heredoc>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub excludes: Vec<String>,
    /// Whether the arguments were in exec (JSON) form.
    pub json: bool,
    pub span: Span,
}

/// A COPY instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub files: Files,
    /// Stage name, stage index or image to copy from.
    pub from: Option<String>,
    /// Where `--from` is written.
    pub from_span: Span,
    /// Keep the sources' parent directories under the destination.
    pub parents: bool,
}

/// An ADD instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub files: Files,
    /// Expected digest of a remote source (`sha256:...`).
    pub checksum: Option<String>,
    /// Keep `.git` when adding a Git repository.
    pub keep_git_dir: bool,
}

const COPY_FLAGS: &[(&str, Kind)] = &[
    ("from", Kind::String),
    ("chown", Kind::String),
    ("chmod", Kind::String),
    ("link", Kind::Bool),
    ("parents", Kind::Bool),
    ("exclude", Kind::Repeated),
];

const ADD_FLAGS: &[(&str, Kind)] = &[
    ("chown", Kind::String),
    ("chmod", Kind::String),
    ("link", Kind::Bool),
    ("exclude", Kind::Repeated),
    ("checksum", Kind::String),
    ("keep-git-dir", Kind::Bool),
];

impl Copy {
    pub(crate) fn from_node(node: &Node) -> Result<Self, Error> {
        let flags = Flags::parse(node, COPY_FLAGS)?;
        Ok(Copy {
            files: Files::from_node(node, &flags)?,
            from: flags.string("from"),
            from_span: node.span_of("--from"),
            parents: flags.bool("parents"),
        })
    }
}

impl Add {
    pub(crate) fn from_node(node: &Node) -> Result<Self, Error> {
        let flags = Flags::parse(node, ADD_FLAGS)?;
        Ok(Add {
            files: Files::from_node(node, &flags)?,
            checksum: flags.string("checksum"),
            keep_git_dir: flags.bool("keep-git-dir"),
        })
    }
}

impl Files {
    fn from_node(node: &Node, flags: &Flags) -> Result<Self, Error> {
        let args = node.args.list();
        let Some((dest, sources)) = args.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Err(Error::InvalidArguments {
                span: node.span,
                instruction: node.keyword.to_string(),
                reason: format!(
                    "{} requires at least two arguments, but only {} provided: the destination could not be determined",
                    node.keyword,
                    if args.is_empty() {
                        "none was"
                    } else {
                        "one was"
                    }
                ),
            });
        };
        let mut bodies = node.heredocs.iter();
        let mut paths = Vec::new();
        let mut docs = Vec::new();
        for source in sources {
            let is_marker = !node.heredocs.is_empty()
                && !node.json
                && node.keyword != Keyword::Onbuild
                && heredoc::markers(source).is_ok_and(|m| !m.is_empty());
            match if is_marker { bodies.next() } else { None } {
                Some(doc) => docs.push(doc.clone()),
                None => paths.push(source.clone()),
            }
        }
        Ok(Files {
            sources: paths,
            heredocs: docs,
            dest: dest.clone(),
            chown: flags.string("chown"),
            chmod: flags.string("chmod"),
            link: flags.bool("link"),
            excludes: flags.strings("exclude"),
            json: node.json,
            span: node.span,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn node(src: &str) -> Node {
        parse(src).unwrap().instructions.remove(0)
    }

    #[test]
    fn copy_takes_every_flag() {
        let c = Copy::from_node(&node(
            "COPY --from=build --chown=app:app --chmod=0644 --link --parents --exclude=*.md --exclude=tmp a b /dst/",
        ))
        .unwrap();
        assert_eq!(c.from.as_deref(), Some("build"));
        assert!(c.parents);
        let f = c.files;
        assert_eq!(f.sources, ["a", "b"]);
        assert_eq!(f.dest, "/dst/");
        assert_eq!(f.chown.as_deref(), Some("app:app"));
        assert_eq!(f.chmod.as_deref(), Some("0644"));
        assert!(f.link);
        assert_eq!(f.excludes, ["*.md", "tmp"]);
    }

    #[test]
    fn add_takes_checksum_and_keep_git_dir() {
        let a = Add::from_node(&node(
            "ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.git /src",
        ))
        .unwrap();
        assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
        assert!(a.keep_git_dir);
        assert!(!a.files.link);
        let err = Add::from_node(&node("ADD --from=x a b")).unwrap_err();
        assert_eq!(err.to_string(), "1:5: unknown flag --from for ADD");
        let err = Add::from_node(&node("ADD --parents a b")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("1:5: unknown flag --parents for ADD"),
            "{err}"
        );
    }

    #[test]
    fn exec_form_sources_may_hold_spaces() {
        let c = Copy::from_node(&node(r#"COPY ["a b", "/c d/"]"#)).unwrap();
        assert_eq!(c.files.sources, ["a b"]);
        assert_eq!(c.files.dest, "/c d/");
        assert!(c.files.json);
    }

    #[test]
    fn heredoc_sources_are_separated_from_paths() {
        let c =
            Copy::from_node(&node("COPY <<one file <<-two /dst/\n1\none\n\t2\n\ttwo\n")).unwrap();
        assert_eq!(c.files.sources, ["file"]);
        let docs: Vec<_> = c
            .files
            .heredocs
            .iter()
            .map(|d| (d.name.as_str(), d.body()))
            .collect();
        assert_eq!(docs, [("one", "1\n".to_owned()), ("two", "2\n".to_owned())]);
    }

    #[test]
    fn copy_needs_a_source_and_a_destination() {
        let err = Copy::from_node(&node("COPY only")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:1: COPY: COPY requires at least two arguments, but only one was provided: the destination could not be determined"
        );
    }
}
