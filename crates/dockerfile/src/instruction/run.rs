//! RUN, CMD, ENTRYPOINT and SHELL: the instructions that carry a command.
//!
//! Owns the exec/shell distinction ([`CommandLine`]), RUN's flags (`--mount`, `--network`,
//! `--security`) and SHELL's requirement of exec form. Shell-form commands are never expanded
//! by kiln: the shell does it at run time. `--mount` values are checked here and expanded by
//! the executor through [`RawMount::parse`].
//! Reference: <https://docs.docker.com/reference/dockerfile/#run>.

use super::flags::{Flags, Kind};
use super::mount::{Mount, MountError};
use crate::ast::{Heredoc, Node};
use crate::error::Error;
use crate::expand::{Env, Lexer};
use crate::span::Span;

/// A command in exec form (run as is) or shell form (run through the SHELL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

impl CommandLine {
    pub(crate) fn from_node(node: &Node) -> Self {
        let args = node.args.list();
        if node.json {
            CommandLine::Exec(args.to_vec())
        } else {
            CommandLine::Shell(args.first().cloned().unwrap_or_default())
        }
    }
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Default,
    None,
    Host,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Sandbox,
    Insecure,
}

/// A `--mount` value as written, checked for syntax; [`RawMount::parse`] expands and types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMount {
    pub value: String,
    pub span: Span,
}

impl RawMount {
    /// Expands each field with `env` (as BuildKit does) and parses the result.
    pub fn parse<E: Env + ?Sized>(&self, lexer: &Lexer, env: &E) -> Result<Mount, Error> {
        Mount::parse(&self.value, &mut |v| lexer.expand_word(v, env)).map_err(|source| {
            Error::Mount {
                span: self.span,
                value: self.value.clone(),
                source: Box::new(source),
            }
        })
    }
}

/// A RUN instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// Heredocs on the RUN line; when the command starts with one, its body is the script.
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<RawMount>,
    pub network: Option<Network>,
    pub security: Option<Security>,
    pub span: Span,
}

const RUN_FLAGS: &[(&str, Kind)] = &[
    ("mount", Kind::Repeated),
    ("network", Kind::String),
    ("security", Kind::String),
];

impl Run {
    pub(crate) fn from_node(node: &Node) -> Result<Self, Error> {
        let flags = Flags::parse(node, RUN_FLAGS)?;
        let invalid = |flag: &str, reason: String| Error::InvalidFlag {
            span: node.span_of(&format!("--{flag}")),
            instruction: "RUN".to_owned(),
            flag: flag.to_owned(),
            reason,
        };
        let network = match flags.string("network").as_deref() {
            None => None,
            Some("default") => Some(Network::Default),
            Some("none") => Some(Network::None),
            Some("host") => Some(Network::Host),
            Some(other) => {
                return Err(invalid(
                    "network",
                    format!(
                        "network mode {other:?} not supported (expected default, none or host)"
                    ),
                ));
            }
        };
        let security = match flags.string("security").as_deref() {
            None => None,
            Some("sandbox") => Some(Security::Sandbox),
            Some("insecure") => Some(Security::Insecure),
            Some(other) => {
                return Err(invalid(
                    "security",
                    format!("security mode {other:?} not supported (expected sandbox or insecure)"),
                ));
            }
        };
        let mounts: Vec<RawMount> = flags
            .strings("mount")
            .into_iter()
            .map(|value| RawMount {
                span: node.span_of("--mount"),
                value,
            })
            .collect();
        for mount in &mounts {
            check_mount(mount)?;
        }
        Ok(Run {
            command: CommandLine::from_node(node),
            heredocs: node.heredocs.clone(),
            mounts,
            network,
            security,
            span: node.span,
        })
    }
}

/// Checks a mount's syntax before any variable is known: fields holding `$` are taken as
/// valid placeholders, everything else must parse.
fn check_mount(mount: &RawMount) -> Result<(), Error> {
    let mut placeholder = |v: &str| {
        Ok(if v.contains('$') {
            "0".to_owned()
        } else {
            v.to_owned()
        })
    };
    match Mount::parse(&mount.value, &mut placeholder) {
        Ok(_) => Ok(()),
        Err(MountError::InvalidValue { ref value, .. })
            if value == "0" && mount.value.contains('$') =>
        {
            Ok(())
        }
        Err(source) => Err(Error::Mount {
            span: mount.span,
            value: mount.value.clone(),
            source: Box::new(source),
        }),
    }
}

/// SHELL: the exec-form shell used for shell-form commands.
pub(crate) fn shell_from_node(node: &Node) -> Result<Vec<String>, Error> {
    let invalid = |reason: &str| Error::InvalidArguments {
        span: node.span,
        instruction: "SHELL".to_owned(),
        reason: reason.to_owned(),
    };
    if !node.json {
        return Err(invalid("SHELL requires the arguments to be in JSON form"));
    }
    if node.args.is_empty() {
        return Err(invalid("SHELL requires at least one argument"));
    }
    Ok(node.args.list().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruction::mount::MountType;
    use crate::parse;

    fn run(src: &str) -> Result<Run, Error> {
        Run::from_node(&parse(src).unwrap().instructions[0])
    }

    #[test]
    fn run_forms_and_flags() {
        let r = run("RUN --network=none --security=insecure --mount=type=cache,target=/c make")
            .unwrap();
        assert_eq!(r.command, CommandLine::Shell("make".into()));
        assert_eq!(r.network, Some(Network::None));
        assert_eq!(r.security, Some(Security::Insecure));
        let none: &[(&str, &str)] = &[];
        let m = r.mounts[0].parse(&Lexer::new('\\'), none).unwrap();
        assert_eq!(m.kind, MountType::Cache);
        let r = run("RUN [\"a\", \"b\"]").unwrap();
        assert_eq!(r.command, CommandLine::Exec(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn mount_values_expand_with_the_environment() {
        let r = run("RUN --mount=type=cache,target=$DIR,uid=${UID} x").unwrap();
        let env = [("DIR", "/cache"), ("UID", "7")];
        let m = r.mounts[0].parse(&Lexer::new('\\'), &env[..]).unwrap();
        assert_eq!(m.target.as_deref(), Some("/cache"));
        assert_eq!(m.uid, Some(7));
    }

    #[test]
    fn bad_run_flags_are_errors() {
        let cases = [
            (
                "RUN --network=bridge x",
                "1:5: RUN --network: network mode \"bridge\" not supported (expected default, none or host)",
            ),
            (
                "RUN --security=root x",
                "1:5: RUN --security: security mode \"root\" not supported (expected sandbox or insecure)",
            ),
            (
                "RUN --mount=type=nfs,target=/x x",
                "1:5: invalid --mount=type=nfs,target=/x",
            ),
            (
                "RUN --mout=type=bind x",
                "1:5: unknown flag --mout for RUN (did you mean --mount?)",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(run(src).unwrap_err().to_string(), want, "{src}");
        }
    }
}
