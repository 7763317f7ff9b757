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
//! - [`parse`]: text to the raw [`Ast`] (what `kiln parse` prints);
//! - [`parse_dockerfile`] / [`Dockerfile::from_ast`]: typed instructions grouped in stages,
//!   with the meta ARGs declared before the first FROM;
//! - [`Lexer`]: shell-word expansion against an [`Env`] lookup;
//! - [`ignore::Matcher`]: `.dockerignore` patterns.

mod args;
pub mod ast;
pub mod directive;
pub mod error;
pub mod expand;
mod heredoc;
pub mod parser;
pub mod span;
pub mod suggest;

pub use ast::{Args, Ast, Directive, Heredoc, KeyValue, Keyword, Node, Warning};
pub use error::Error;
pub use expand::{Env, ExpandError, Lexer};
pub use parser::parse;
pub use span::Span;
pub mod instruction;
pub mod stage;

pub use stage::{Dockerfile, MetaArg, Stage, parse_dockerfile};
pub mod scope;

pub use scope::{ArgScope, Predefined};
pub mod dump;
pub mod ignore;
