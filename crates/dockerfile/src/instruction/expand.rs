//! Expanding an instruction's words with the variables in scope.
//!
//! Owns which fields expand, as the reference lists them: ADD and COPY (sources, destination,
//! `--from`, `--chown`, `--chmod`, `--checksum`, `--exclude`), ENV and LABEL (keys and
//! values, all against the scope before the instruction), ARG (names and defaults), EXPOSE,
//! VOLUME, USER, WORKDIR, STOPSIGNAL, and FROM (image and `--platform`, with the meta ARGs).
//! RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and MAINTAINER are returned unchanged: shell
//! form is the shell's to expand, and RUN's `--mount` values expand through
//! [`super::RawMount::parse`]. ONBUILD triggers expand when they run, in the child build.
//! Reference: <https://docs.docker.com/reference/dockerfile/#environment-replacement>.

use super::{ArgDecl, Files, Instruction};
use crate::ast::KeyValue;
use crate::error::Error;
use crate::expand::{Env, Lexer};
use crate::span::Span;

struct Expander<'a, E: ?Sized> {
    lexer: &'a Lexer,
    env: &'a E,
    span: Span,
}

impl<E: Env + ?Sized> Expander<'_, E> {
    fn word(&self, word: &str) -> Result<String, Error> {
        self.lexer
            .expand_word(word, self.env)
            .map_err(|source| Error::Expand {
                span: self.span,
                word: word.to_owned(),
                source: Box::new(source),
            })
    }

    fn opt(&self, word: &Option<String>) -> Result<Option<String>, Error> {
        word.as_deref().map(|w| self.word(w)).transpose()
    }

    fn all(&self, words: &[String]) -> Result<Vec<String>, Error> {
        words.iter().map(|w| self.word(w)).collect()
    }

    fn pairs(&self, pairs: &[KeyValue]) -> Result<Vec<KeyValue>, Error> {
        pairs
            .iter()
            .map(|kv| {
                Ok(KeyValue {
                    key: self.word(&kv.key)?,
                    value: self.word(&kv.value)?,
                    sep: kv.sep,
                })
            })
            .collect()
    }

    fn files(&self, f: &Files) -> Result<Files, Error> {
        Ok(Files {
            sources: self.all(&f.sources)?,
            heredocs: f.heredocs.clone(),
            dest: self.word(&f.dest)?,
            chown: self.opt(&f.chown)?,
            chmod: self.opt(&f.chmod)?,
            link: f.link,
            excludes: self.all(&f.excludes)?,
            json: f.json,
            span: f.span,
        })
    }
}

impl Instruction {
    /// This instruction with every expandable word expanded against `env`. The executor
    /// passes the ENV and ARGs in scope (the meta ARGs and platform ARGs for FROM).
    pub fn expand<E: Env + ?Sized>(&self, lexer: &Lexer, env: &E) -> Result<Instruction, Error> {
        let x = Expander {
            lexer,
            env,
            span: self.span(),
        };
        Ok(match self {
            Instruction::From(f) => {
                let mut f = f.clone();
                f.image = x.word(&f.image)?;
                f.platform = x.opt(&f.platform)?;
                Instruction::From(f)
            }
            Instruction::Copy(c) => {
                let mut c = c.clone();
                c.files = x.files(&c.files)?;
                c.from = x.opt(&c.from)?;
                Instruction::Copy(c)
            }
            Instruction::Add(a) => {
                let mut a = a.clone();
                a.files = x.files(&a.files)?;
                a.checksum = x.opt(&a.checksum)?;
                Instruction::Add(a)
            }
            Instruction::Env { pairs, span } => Instruction::Env {
                pairs: x.pairs(pairs)?,
                span: *span,
            },
            Instruction::Label { pairs, span } => Instruction::Label {
                pairs: x.pairs(pairs)?,
                span: *span,
            },
            Instruction::Arg { args, span } => Instruction::Arg {
                args: args
                    .iter()
                    .map(|a| {
                        Ok(ArgDecl {
                            name: x.word(&a.name)?,
                            default: x.opt(&a.default)?,
                        })
                    })
                    .collect::<Result<_, Error>>()?,
                span: *span,
            },
            Instruction::Expose { ports, span } => Instruction::Expose {
                ports: x.all(ports)?,
                span: *span,
            },
            Instruction::Volume { paths, span } => {
                let paths = x.all(paths)?;
                if paths.iter().any(String::is_empty) {
                    return Err(Error::InvalidArguments {
                        span: *span,
                        instruction: "VOLUME".to_owned(),
                        reason: "VOLUME specified can not be an empty string".to_owned(),
                    });
                }
                Instruction::Volume { paths, span: *span }
            }
            Instruction::User { user, span } => Instruction::User {
                user: x.word(user)?,
                span: *span,
            },
            Instruction::Workdir { path, span } => Instruction::Workdir {
                path: x.word(path)?,
                span: *span,
            },
            Instruction::Stopsignal { signal, span } => Instruction::Stopsignal {
                signal: x.word(signal)?,
                span: *span,
            },
            Instruction::Run(_)
            | Instruction::Cmd { .. }
            | Instruction::Entrypoint { .. }
            | Instruction::Shell { .. }
            | Instruction::Healthcheck(_)
            | Instruction::Maintainer { .. }
            | Instruction::Onbuild { .. } => self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn expand(src: &str) -> Result<Instruction, Error> {
        let env = [
            ("A", "1"),
            ("DIR", "/srv/app"),
            ("USER", "app"),
            ("EMPTY", ""),
        ];
        let node = &parse(src).unwrap().instructions[0];
        Instruction::from_node(node)?.expand(&Lexer::new('\\'), &env[..])
    }

    #[test]
    fn expanding_instructions_substitute_their_words() {
        match expand("ENV B=$A C=\"${DIR}/x y\" $USER=z").unwrap() {
            Instruction::Env { pairs, .. } => {
                let got: Vec<_> = pairs
                    .iter()
                    .map(|kv| (kv.key.as_str(), kv.value.as_str()))
                    .collect();
                assert_eq!(got, [("B", "1"), ("C", "/srv/app/x y"), ("app", "z")]);
            }
            other => panic!("{other:?}"),
        }
        match expand(
            "COPY --chown=$USER:$USER --from=stage$A --exclude=*.$A ${DIR}/a '$DIR'/b $DIR/",
        )
        .unwrap()
        {
            Instruction::Copy(c) => {
                assert_eq!(c.files.sources, ["/srv/app/a", "$DIR/b"]);
                assert_eq!(c.files.dest, "/srv/app/");
                assert_eq!(c.files.chown.as_deref(), Some("app:app"));
                assert_eq!(c.from.as_deref(), Some("stage1"));
                assert_eq!(c.files.excludes, ["*.1"]);
            }
            other => panic!("{other:?}"),
        }
        match expand("WORKDIR ${DIR:-/x}/sub").unwrap() {
            Instruction::Workdir { path, .. } => assert_eq!(path, "/srv/app/sub"),
            other => panic!("{other:?}"),
        }
        match expand("FROM --platform=$A image:${A}").unwrap() {
            Instruction::From(f) => {
                assert_eq!(f.image, "image:1");
                assert_eq!(f.platform.as_deref(), Some("1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shell_forms_are_left_to_the_shell() {
        let original =
            Instruction::from_node(&parse("RUN echo $A").unwrap().instructions[0]).unwrap();
        assert_eq!(expand("RUN echo $A").unwrap(), original);
        match expand("CMD echo $A").unwrap() {
            Instruction::Cmd { command, .. } => {
                assert_eq!(command, super::super::CommandLine::Shell("echo $A".into()))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expansion_errors_carry_the_span() {
        let err = expand("USER ${NOPE:?user required}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:1: cannot expand \"${NOPE:?user required}\""
        );
        let err = expand("VOLUME $EMPTY").unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:1: VOLUME: VOLUME specified can not be an empty string"
        );
    }
}
