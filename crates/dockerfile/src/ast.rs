//! The raw syntax tree: what the parser produces before any instruction is interpreted.
//!
//! Owns [`Ast`], [`Node`], [`Keyword`], [`Args`] and [`Heredoc`]. Arguments are split the way
//! BuildKit's `frontend/dockerfile/parser` splits them, with quotes and escapes kept: expansion
//! and typing happen later ([`crate::expand`], [`crate::instruction`]).
//! Reference: <https://docs.docker.com/reference/dockerfile/#format>.

use std::fmt;

use crate::span::Span;

/// A parsed Dockerfile: its directives, escape character and instructions in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// Parser directives from the leading comment block, in the order written.
    pub directives: Vec<Directive>,
    /// The escape character in force (`\` unless `# escape=` said otherwise).
    pub escape: char,
    /// Every instruction, in file order.
    pub instructions: Vec<Node>,
    /// Things BuildKit accepts but warns about (empty continuation lines, a continuation at
    /// the end of the file).
    pub warnings: Vec<Warning>,
}

impl Ast {
    /// The value of a directive, by lower-case name.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }
}

/// A parser directive (`# syntax=...`, `# escape=...`, `# check=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-case name.
    pub name: String,
    pub value: String,
    pub span: Span,
}

/// A non-fatal finding of the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub span: Span,
    pub message: String,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub keyword: Keyword,
    /// Leading `--flags`, with quotes removed, as BuildKit extracts them (`--from=build`).
    pub flags: Vec<String>,
    pub args: Args,
    /// Whether the arguments were written in exec (JSON array) form.
    pub json: bool,
    /// Heredoc bodies, in the order their markers appear on the instruction line.
    pub heredocs: Vec<Heredoc>,
    /// The instruction an ONBUILD registers.
    pub trigger: Option<Box<Node>>,
    /// The logical line: continuations joined, comments inside them dropped.
    pub original: String,
    pub span: Span,
    /// How many bytes at the start of `original` come from the first physical line.
    pub(crate) first_line_len: usize,
}

impl Node {
    /// The span pointing at the first occurrence of `needle` in the instruction, when it is on
    /// the first line; otherwise the instruction's own span.
    pub fn span_of(&self, needle: &str) -> Span {
        match self.original.find(needle) {
            Some(i) if i < self.first_line_len => self
                .span
                .with_column(self.span.column + self.original[..i].chars().count()),
            _ => self.span,
        }
    }
}

/// Arguments, split according to the instruction's grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// A list of strings: one string for shell form, the decoded array for exec form, or
    /// whitespace-separated words.
    List(Vec<String>),
    /// `key value` pairs of ENV and LABEL.
    Pairs(Vec<KeyValue>),
}

impl Args {
    /// The list form, or nothing for pairs.
    pub fn list(&self) -> &[String] {
        match self {
            Args::List(l) => l,
            Args::Pairs(_) => &[],
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Args::List(l) => l.is_empty(),
            Args::Pairs(p) => p.is_empty(),
        }
    }
}

/// One `key=value` (or legacy `key value`) pair of ENV or LABEL, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// `"="` for `k=v`, `""` for the legacy `ENV k v` form.
    pub sep: &'static str,
}

/// A here-document attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, with quotes removed.
    pub name: String,
    /// The body as written, each line ending in `\n`; leading tabs are kept even for `<<-`
    /// (see [`Heredoc::body`]).
    pub content: String,
    /// False when any part of the delimiter was quoted: then the body is not expanded.
    pub expand: bool,
    /// Whether the marker was `<<-`: leading tabs are stripped from the body and terminator.
    pub chomp: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 when absent.
    pub fd: u32,
}

impl Heredoc {
    /// The body as the instruction uses it: with leading tabs removed from every line for
    /// `<<-`.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

macro_rules! keywords {
    ($($variant:ident => $upper:literal,)*) => {
        /// A Dockerfile instruction keyword.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Keyword { $($variant,)* }

        impl Keyword {
            /// Every keyword, upper case, in the reference's order.
            pub const ALL: &'static [&'static str] = &[$($upper,)*];

            /// Looks a keyword up case-insensitively.
            pub fn from_word(word: &str) -> Option<Self> {
                $(if word.eq_ignore_ascii_case($upper) { return Some(Keyword::$variant); })*
                None
            }

            /// The upper-case spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Keyword::$variant => $upper,)* }
            }
        }
    };
}

keywords! {
    From => "FROM",
    Run => "RUN",
    Cmd => "CMD",
    Label => "LABEL",
    Maintainer => "MAINTAINER",
    Expose => "EXPOSE",
    Env => "ENV",
    Add => "ADD",
    Copy => "COPY",
    Entrypoint => "ENTRYPOINT",
    Volume => "VOLUME",
    User => "USER",
    Workdir => "WORKDIR",
    Arg => "ARG",
    Onbuild => "ONBUILD",
    Stopsignal => "STOPSIGNAL",
    Healthcheck => "HEALTHCHECK",
    Shell => "SHELL",
}

impl Keyword {
    /// The lower-case spelling used in dumps.
    pub fn lower(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// Whether heredocs are recognised in this instruction's shell form.
    pub fn takes_heredocs(self) -> bool {
        matches!(self, Keyword::Run | Keyword::Copy | Keyword::Add)
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(Keyword::from_word("run"), Some(Keyword::Run));
        assert_eq!(
            Keyword::from_word("HealthCheck"),
            Some(Keyword::Healthcheck)
        );
        assert_eq!(Keyword::from_word("RUNN"), None);
        assert_eq!(Keyword::ALL.len(), 18);
    }

    #[test]
    fn chomped_heredoc_body_loses_leading_tabs_only() {
        let doc = Heredoc {
            name: "EOF".into(),
            content: "\t\techo a\n \tb\n\tc\td\n".into(),
            expand: true,
            chomp: true,
            fd: 0,
        };
        assert_eq!(doc.body(), "echo a\n \tb\nc\td\n");
        let plain = Heredoc {
            chomp: false,
            ..doc
        };
        assert_eq!(plain.body(), plain.content);
    }
}
