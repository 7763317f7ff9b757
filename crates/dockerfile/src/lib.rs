//! The Dockerfile front end.
//!
//! Owns: parser directives, the escape character, line continuations, heredocs, JSON and shell
//! forms, instruction flags, shell-word expansion, typed instructions, stages and ARG scoping,
//! and `.dockerignore` patterns. Follows the Dockerfile reference
//! (<https://docs.docker.com/reference/dockerfile/>) and, where the reference is silent,
//! what BuildKit's `frontend/dockerfile` parser does.
//!
//! Does not own: reading files from a build context, or executing anything.
//!
//! The entry points:
//! - [`parse`]: text to the raw [`Ast`] (what `kiln parse` prints, in the JSON shape
//!   documented in [`dump`] and `docs/parse-json.md`);
//! - [`parse_dockerfile`] / [`Dockerfile::from_ast`]: typed [`instruction::Instruction`]s
//!   grouped in [`Stage`]s, with the [`MetaArg`]s declared before the first FROM;
//! - [`Lexer`]: shell-word expansion against an [`Env`] lookup, and
//!   [`instruction::Instruction::expand`] for the fields an instruction expands;
//! - [`ArgScope`] and [`Predefined`]: ARG values, including the platform ARGs;
//! - [`ignore::Matcher`] and [`ignore::find_ignore_file`]: `.dockerignore`.
//!
//! Every error is an [`Error`] carrying a [`Span`]; [`Error::render`] shows it to people.

mod args;
pub mod ast;
pub mod directive;
pub mod dump;
pub mod error;
pub mod expand;
mod heredoc;
pub mod ignore;
pub mod instruction;
pub mod parser;
pub mod scope;
pub mod span;
pub mod stage;
pub mod suggest;

pub use ast::{Args, Ast, Directive, Heredoc, KeyValue, Keyword, Node, Warning};
pub use error::Error;
pub use expand::{Env, ExpandError, Lexer};
pub use parser::parse;
pub use scope::{ArgScope, Predefined};
pub use span::Span;
pub use stage::{Dockerfile, MetaArg, Stage, parse_dockerfile};
