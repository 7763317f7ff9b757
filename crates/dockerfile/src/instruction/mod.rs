//! Typed instructions: one variant per Dockerfile keyword, with typed flags.
//!
//! Owns turning a raw [`Node`] into an [`Instruction`]: checking flags and argument counts,
//! and shaping arguments into fields. Values are kept as written (unexpanded); each type's
//! docs say which fields the executor expands. Which instructions expand follows the
//! reference: ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG and
//! ONBUILD's trigger when it runs; never RUN, CMD, ENTRYPOINT or SHELL in shell form.
//! Reference: <https://docs.docker.com/reference/dockerfile/#overview>.

pub mod copy;
mod expand;
mod flags;
pub mod from;
pub mod healthcheck;
pub mod metadata;
pub mod mount;
pub mod run;

use crate::ast::{KeyValue, Keyword, Node};
use crate::error::Error;
use crate::span::Span;

pub use copy::{Add, Copy, Files};
pub use from::From;
pub use healthcheck::Healthcheck;
pub use metadata::ArgDecl;
pub use mount::{Mount, MountError, MountType, Sharing};
pub use run::{CommandLine, Network, RawMount, Run, Security};

/// One instruction, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Cmd {
        command: CommandLine,
        span: Span,
    },
    Entrypoint {
        command: CommandLine,
        span: Span,
    },
    Shell {
        shell: Vec<String>,
        span: Span,
    },
    Healthcheck(Healthcheck),
    Copy(Copy),
    Add(Add),
    /// ENV pairs; keys and values are expanded with the variables in scope before the
    /// instruction (all pairs of one ENV see the same values).
    Env {
        pairs: Vec<KeyValue>,
        span: Span,
    },
    Label {
        pairs: Vec<KeyValue>,
        span: Span,
    },
    Arg {
        args: Vec<ArgDecl>,
        span: Span,
    },
    Expose {
        ports: Vec<String>,
        span: Span,
    },
    Volume {
        paths: Vec<String>,
        span: Span,
    },
    User {
        user: String,
        span: Span,
    },
    Workdir {
        path: String,
        span: Span,
    },
    Stopsignal {
        signal: String,
        span: Span,
    },
    Maintainer {
        name: String,
        span: Span,
    },
    /// ONBUILD: the trigger as written (stored in the image config) and typed.
    Onbuild {
        expression: String,
        trigger: Box<Instruction>,
        span: Span,
    },
}

impl Instruction {
    /// Types one raw node.
    pub fn from_node(node: &Node) -> Result<Self, Error> {
        use Keyword as K;
        let span = node.span;
        if !matches!(
            node.keyword,
            K::From | K::Run | K::Healthcheck | K::Copy | K::Add
        ) {
            metadata::no_flags(node)?;
        }
        Ok(match node.keyword {
            K::From => Instruction::From(From::from_node(node)?),
            K::Run => Instruction::Run(Run::from_node(node)?),
            K::Cmd => Instruction::Cmd {
                command: CommandLine::from_node(node),
                span,
            },
            K::Entrypoint => Instruction::Entrypoint {
                command: CommandLine::from_node(node),
                span,
            },
            K::Shell => Instruction::Shell {
                shell: run::shell_from_node(node)?,
                span,
            },
            K::Healthcheck => Instruction::Healthcheck(Healthcheck::from_node(node)?),
            K::Copy => Instruction::Copy(Copy::from_node(node)?),
            K::Add => Instruction::Add(Add::from_node(node)?),
            K::Env => Instruction::Env {
                pairs: metadata::pairs(node)?,
                span,
            },
            K::Label => Instruction::Label {
                pairs: metadata::pairs(node)?,
                span,
            },
            K::Arg => Instruction::Arg {
                args: metadata::arg_decls(node)?,
                span,
            },
            K::Expose => Instruction::Expose {
                ports: metadata::words(node)?,
                span,
            },
            K::Volume => Instruction::Volume {
                paths: metadata::words(node)?,
                span,
            },
            K::User => Instruction::User {
                user: metadata::single(node)?,
                span,
            },
            K::Workdir => Instruction::Workdir {
                path: metadata::single(node)?,
                span,
            },
            K::Stopsignal => Instruction::Stopsignal {
                signal: metadata::single(node)?,
                span,
            },
            K::Maintainer => Instruction::Maintainer {
                name: metadata::single(node)?,
                span,
            },
            K::Onbuild => onbuild(node)?,
        })
    }

    /// The keyword of this instruction.
    pub fn keyword(&self) -> Keyword {
        match self {
            Instruction::From(_) => Keyword::From,
            Instruction::Run(_) => Keyword::Run,
            Instruction::Cmd { .. } => Keyword::Cmd,
            Instruction::Entrypoint { .. } => Keyword::Entrypoint,
            Instruction::Shell { .. } => Keyword::Shell,
            Instruction::Healthcheck(_) => Keyword::Healthcheck,
            Instruction::Copy(_) => Keyword::Copy,
            Instruction::Add(_) => Keyword::Add,
            Instruction::Env { .. } => Keyword::Env,
            Instruction::Label { .. } => Keyword::Label,
            Instruction::Arg { .. } => Keyword::Arg,
            Instruction::Expose { .. } => Keyword::Expose,
            Instruction::Volume { .. } => Keyword::Volume,
            Instruction::User { .. } => Keyword::User,
            Instruction::Workdir { .. } => Keyword::Workdir,
            Instruction::Stopsignal { .. } => Keyword::Stopsignal,
            Instruction::Maintainer { .. } => Keyword::Maintainer,
            Instruction::Onbuild { .. } => Keyword::Onbuild,
        }
    }

    /// Where the instruction is.
    pub fn span(&self) -> Span {
        match self {
            Instruction::From(f) => f.span,
            Instruction::Run(r) => r.span,
            Instruction::Healthcheck(h) => h.span,
            Instruction::Copy(c) => c.files.span,
            Instruction::Add(a) => a.files.span,
            Instruction::Cmd { span, .. }
            | Instruction::Entrypoint { span, .. }
            | Instruction::Shell { span, .. }
            | Instruction::Env { span, .. }
            | Instruction::Label { span, .. }
            | Instruction::Arg { span, .. }
            | Instruction::Expose { span, .. }
            | Instruction::Volume { span, .. }
            | Instruction::User { span, .. }
            | Instruction::Workdir { span, .. }
            | Instruction::Stopsignal { span, .. }
            | Instruction::Maintainer { span, .. }
            | Instruction::Onbuild { span, .. } => *span,
        }
    }
}

fn onbuild(node: &Node) -> Result<Instruction, Error> {
    let invalid = |reason: String| Error::InvalidArguments {
        span: node.span,
        instruction: "ONBUILD".to_owned(),
        reason,
    };
    let Some(trigger) = node.trigger.as_deref() else {
        return Err(invalid("ONBUILD requires at least one argument".to_owned()));
    };
    match trigger.keyword {
        Keyword::Onbuild => {
            return Err(invalid(
                "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_owned(),
            ));
        }
        Keyword::From | Keyword::Maintainer => {
            return Err(invalid(format!(
                "{} isn't allowed as an ONBUILD trigger",
                trigger.keyword
            )));
        }
        _ => {}
    }
    Ok(Instruction::Onbuild {
        expression: node.args.list().first().cloned().unwrap_or_default(),
        trigger: Box::new(Instruction::from_node(trigger)?),
        span: node.span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn typed(src: &str) -> Result<Instruction, Error> {
        Instruction::from_node(&parse(src).unwrap().instructions[0])
    }

    #[test]
    fn every_keyword_types() {
        let cases = [
            ("FROM a", Keyword::From),
            ("RUN a", Keyword::Run),
            ("CMD a", Keyword::Cmd),
            ("LABEL a=b", Keyword::Label),
            ("MAINTAINER me", Keyword::Maintainer),
            ("EXPOSE 80/tcp", Keyword::Expose),
            ("ENV a b", Keyword::Env),
            ("ADD a b", Keyword::Add),
            ("COPY a b", Keyword::Copy),
            ("ENTRYPOINT [\"a\"]", Keyword::Entrypoint),
            ("VOLUME /v", Keyword::Volume),
            ("USER app", Keyword::User),
            ("WORKDIR /w", Keyword::Workdir),
            ("ARG a", Keyword::Arg),
            ("ONBUILD RUN a", Keyword::Onbuild),
            ("STOPSIGNAL SIGTERM", Keyword::Stopsignal),
            ("HEALTHCHECK NONE", Keyword::Healthcheck),
            ("SHELL [\"sh\", \"-c\"]", Keyword::Shell),
        ];
        for (src, kw) in cases {
            let i = typed(src).unwrap();
            assert_eq!(i.keyword(), kw, "{src}");
            assert_eq!(i.span().start_line, 1);
        }
    }

    #[test]
    fn onbuild_rules() {
        let cases = [
            (
                "ONBUILD ONBUILD RUN x",
                "1:1: ONBUILD: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ),
            (
                "ONBUILD FROM x",
                "1:1: ONBUILD: FROM isn't allowed as an ONBUILD trigger",
            ),
            (
                "ONBUILD MAINTAINER x",
                "1:1: ONBUILD: MAINTAINER isn't allowed as an ONBUILD trigger",
            ),
            (
                "ONBUILD",
                "1:1: ONBUILD: ONBUILD requires at least one argument",
            ),
            (
                "ONBUILD COPY --form=x a b",
                "1:14: unknown flag --form for COPY (did you mean --from?)",
            ),
            (
                "SHELL sh -c",
                "1:1: SHELL: SHELL requires the arguments to be in JSON form",
            ),
            ("CMD --x=1 a", "1:5: unknown flag --x for CMD"),
        ];
        for (src, want) in cases {
            assert_eq!(typed(src).unwrap_err().to_string(), want, "{src}");
        }
        match typed("ONBUILD ADD . /app/src").unwrap() {
            Instruction::Onbuild {
                expression,
                trigger,
                ..
            } => {
                assert_eq!(expression, "ADD . /app/src");
                assert_eq!(trigger.keyword(), Keyword::Add);
            }
            other => panic!("{other:?}"),
        }
    }
}
