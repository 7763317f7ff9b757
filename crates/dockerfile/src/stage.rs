//! Stages: a typed Dockerfile grouped by FROM, with the meta ARGs declared before the first.
//!
//! Owns [`Dockerfile`], [`Stage`] and [`MetaArg`]: grouping instructions into stages, stage
//! names (case-insensitive, lower-cased here) and lookup by name or index, and the checks that
//! span stages: duplicate names, and `COPY --from` / `RUN --mount from=` naming the current
//! stage or one further down (kiln builds stages in file order, so a stage must be defined
//! before it is copied from). Names that match no stage are image references. Does not own
//! variable values: see [`crate::scope`].
//! Reference: <https://docs.docker.com/build/building/multi-stage/>.

use crate::ast::{Ast, Directive, Keyword, Warning};
use crate::error::Error;
use crate::expand::Lexer;
use crate::instruction::{From, Instruction};
use crate::parser::parse;
use crate::span::Span;

/// A typed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Vec<Directive>,
    pub escape: char,
    /// ARGs declared before the first FROM, in order. They are in scope for FROM lines only,
    /// unless a stage re-declares them with `ARG name`.
    pub meta_args: Vec<MetaArg>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<Warning>,
}

/// An ARG before the first FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaArg {
    pub name: String,
    /// The default, unexpanded (quotes kept).
    pub default: Option<String>,
    pub span: Span,
}

/// One build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position in the file, from 0.
    pub index: usize,
    /// The `AS` name, lower-cased.
    pub name: Option<String>,
    pub from: From,
    /// The instructions after FROM, in order.
    pub instructions: Vec<Instruction>,
    /// From the FROM line to the stage's last line.
    pub span: Span,
}

/// Parses and types a Dockerfile in one step.
pub fn parse_dockerfile(src: &str) -> Result<Dockerfile, Error> {
    Dockerfile::from_ast(&parse(src)?)
}

impl Dockerfile {
    /// Types every instruction of `ast` and groups them into stages.
    pub fn from_ast(ast: &Ast) -> Result<Self, Error> {
        let mut meta_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for node in &ast.instructions {
            let instruction = Instruction::from_node(node)?;
            match instruction {
                Instruction::From(from) => {
                    if let Some(name) = &from.name {
                        if let Some(first) = stages.iter().find(|s| s.name.as_ref() == Some(name)) {
                            return Err(Error::DuplicateStage {
                                span: from.span,
                                name: name.clone(),
                                first: first.from.span,
                            });
                        }
                    }
                    stages.push(Stage {
                        index: stages.len(),
                        name: from.name.clone(),
                        span: from.span,
                        from,
                        instructions: Vec::new(),
                    });
                }
                Instruction::Arg { args, span } if stages.is_empty() => {
                    meta_args.extend(args.into_iter().map(|a| MetaArg {
                        name: a.name,
                        default: a.default,
                        span,
                    }));
                }
                other => {
                    let Some(stage) = stages.last_mut() else {
                        return Err(Error::NoStage {
                            span: node.span,
                            instruction: node.keyword.to_string(),
                        });
                    };
                    stage.span.end_line = node.span.end_line;
                    stage.instructions.push(other);
                }
            }
        }
        if stages.is_empty() {
            let span = ast.instructions.last().map_or(Span::at(1, 1), |n| n.span);
            return Err(Error::InvalidArguments {
                span,
                instruction: Keyword::From.to_string(),
                reason: "the Dockerfile has no FROM instruction".to_owned(),
            });
        }
        let file = Dockerfile {
            directives: ast.directives.clone(),
            escape: ast.escape,
            meta_args,
            stages,
            warnings: ast.warnings.clone(),
        };
        file.check_references()?;
        Ok(file)
    }

    /// The lexer for this file's escape character.
    pub fn lexer(&self) -> Lexer {
        Lexer::new(self.escape)
    }

    /// A stage by name (case-insensitive) or by index.
    pub fn stage(&self, name_or_index: &str) -> Option<&Stage> {
        let lower = name_or_index.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                let index: usize = name_or_index.parse().ok()?;
                self.stages.get(index)
            })
    }

    /// Checks that stages are referenced only after they are defined.
    fn check_references(&self) -> Result<(), Error> {
        for stage in &self.stages {
            for instruction in &stage.instructions {
                for (name, span) in stage_refs(instruction) {
                    if name.contains('$') {
                        continue;
                    }
                    let target = match name.parse::<usize>() {
                        Ok(i) => Some(i),
                        Err(_) => self
                            .stages
                            .iter()
                            .find(|s| s.name.as_deref() == Some(name.to_ascii_lowercase().as_str()))
                            .map(|s| s.index),
                    };
                    if target.is_some_and(|t| t >= stage.index) {
                        return Err(Error::StageNotDefined { span, name });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The stage names or indexes an instruction reads from, unexpanded.
fn stage_refs(instruction: &Instruction) -> Vec<(String, Span)> {
    match instruction {
        Instruction::Copy(c) => c.from.iter().map(|f| (f.clone(), c.from_span)).collect(),
        Instruction::Run(r) => r
            .mounts
            .iter()
            .filter_map(|m| {
                m.value
                    .split(',')
                    .find_map(|field| {
                        let (k, v) = field.split_once('=')?;
                        k.eq_ignore_ascii_case("from")
                            .then(|| v.trim_matches('"').to_owned())
                    })
                    .map(|from| (from, m.span))
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
