//! The Dockerfile front end.
//!
//! Owns: parser directives, the escape character, line continuations, heredocs, JSON and shell
//! forms, instruction flags, shell-word expansion, typed instructions, stages and ARG scoping,
//! and `.dockerignore` patterns. Follows the Dockerfile reference
//! (<https://docs.docker.com/reference/dockerfile/>).
//!
//! Does not own: reading files from a build context, or executing anything.
