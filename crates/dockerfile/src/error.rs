//! Errors of the Dockerfile front end.
//!
//! Owns [`Error`]: every variant carries the [`Span`] it refers to, and [`Error::render`] turns
//! one into the diagnostic users see (file, line and column, the offending line with a caret,
//! and the suggestion for a typo). Messages follow BuildKit's wording where users know it
//! (`file with no instructions`, `unterminated heredoc`) but are kiln's own sentences.

use crate::expand::ExpandError;
use crate::instruction::mount::MountError;
use crate::span::Span;

/// Everything that can go wrong while parsing a Dockerfile or resolving its stages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A physical line longer than BuildKit's scanner accepts.
    #[error("{span}: dockerfile line greater than max allowed size of {max}")]
    LineTooLong { span: Span, max: usize },
    /// A parser directive given twice in the leading comment block.
    #[error("{span}: only one {name} parser directive can be used")]
    DuplicateDirective { span: Span, name: String },
    /// `# escape=` with something other than a backslash or a backtick.
    #[error("{span}: invalid escape token {value:?} does not match ` or \\")]
    InvalidEscape { span: Span, value: String },
    /// A file with no instruction at all (only comments, blank lines or directives).
    #[error("{span}: file with no instructions")]
    Empty { span: Span },
    /// A keyword that is not a Dockerfile instruction.
    #[error("{span}: unknown instruction {keyword}{}", did_you_mean(suggestion))]
    UnknownInstruction {
        span: Span,
        keyword: String,
        suggestion: Option<String>,
    },
    /// A `--flag` the instruction does not take.
    #[error(
        "{span}: unknown flag --{flag} for {instruction}{}",
        did_you_mean_flag(suggestion)
    )]
    UnknownFlag {
        span: Span,
        instruction: String,
        flag: String,
        suggestion: Option<String>,
    },
    /// A flag the instruction takes, with a value it does not accept.
    #[error("{span}: {instruction} --{flag}: {reason}")]
    InvalidFlag {
        span: Span,
        instruction: String,
        flag: String,
        reason: String,
    },
    /// Arguments of the wrong number or shape.
    #[error("{span}: {instruction}: {reason}")]
    InvalidArguments {
        span: Span,
        instruction: String,
        reason: String,
    },
    /// A valid JSON array with something other than strings in it.
    #[error("{span}: when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray { span: Span },
    /// A heredoc whose terminator never came.
    #[error("{span}: unterminated heredoc {name}")]
    UnterminatedHeredoc { span: Span, name: String },
    /// A word that cannot be lexed or expanded.
    #[error("{span}: cannot expand {word:?}")]
    Expand {
        span: Span,
        word: String,
        #[source]
        source: Box<ExpandError>,
    },
    /// A `RUN --mount` value that does not parse.
    #[error("{span}: invalid --mount={value}")]
    Mount {
        span: Span,
        value: String,
        #[source]
        source: Box<MountError>,
    },
    /// An instruction other than ARG before the first FROM.
    #[error("{span}: {instruction} must come after a FROM")]
    NoStage { span: Span, instruction: String },
    /// `AS name` with a name BuildKit would refuse.
    #[error(
        "{span}: invalid name for build stage {name:?}: it must start with a letter and contain only letters, digits, '-', '_' and '.'"
    )]
    InvalidStageName { span: Span, name: String },
    /// Two stages with the same (case-insensitive) name.
    #[error("{span}: duplicate stage name {name:?}, first defined on line {}", first.start_line)]
    DuplicateStage {
        span: Span,
        name: String,
        first: Span,
    },
    /// `--from` or `from=` naming the current stage or one defined further down.
    #[error("{span}: stage {name:?} is referenced before it is defined")]
    StageNotDefined { span: Span, name: String },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

fn did_you_mean_flag(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean --{s}?)"),
        None => String::new(),
    }
}

impl Error {
    /// Where in the Dockerfile the error is.
    pub fn span(&self) -> Span {
        match self {
            Error::LineTooLong { span, .. }
            | Error::DuplicateDirective { span, .. }
            | Error::InvalidEscape { span, .. }
            | Error::Empty { span }
            | Error::UnknownInstruction { span, .. }
            | Error::UnknownFlag { span, .. }
            | Error::InvalidFlag { span, .. }
            | Error::InvalidArguments { span, .. }
            | Error::NotStringArray { span }
            | Error::UnterminatedHeredoc { span, .. }
            | Error::Expand { span, .. }
            | Error::Mount { span, .. }
            | Error::NoStage { span, .. }
            | Error::InvalidStageName { span, .. }
            | Error::DuplicateStage { span, .. }
            | Error::StageNotDefined { span, .. } => *span,
        }
    }

    /// A diagnostic for humans: `file:line:column: message`, the offending line, a caret under
    /// the column, and the cause chain.
    pub fn render(&self, file: &str, src: &str) -> String {
        let span = self.span();
        let message = self.to_string();
        let message = message
            .strip_prefix(&format!("{span}: "))
            .unwrap_or(&message);
        let mut out = format!("{file}:{span}: {message}\n");
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(&format!("  caused by: {c}\n"));
            cause = c.source();
        }
        if let Some(text) = line_text(src, span.start_line).filter(|t| !t.trim().is_empty()) {
            let number = span.start_line.to_string();
            let pad = " ".repeat(number.len());
            let shown: String = text.chars().take(200).collect();
            let caret_at = span.column.saturating_sub(1).min(shown.chars().count());
            let indent: String = shown
                .chars()
                .take(caret_at)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!("{pad} |\n{number} | {shown}\n{pad} | {indent}^\n"));
        }
        out
    }
}

/// The text of physical line `line` (1-based), without BOM or carriage return.
fn line_text(src: &str, line: usize) -> Option<&str> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let text = src.split('\n').nth(line.checked_sub(1)?)?;
    Some(text.strip_suffix('\r').unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_file_line_column_and_caret() {
        let src = "FROM busybox\n  RUNN echo hi\n";
        let err = Error::UnknownInstruction {
            span: Span::at(2, 3),
            keyword: "RUNN".into(),
            suggestion: Some("RUN".into()),
        };
        let shown = err.render("Dockerfile", src);
        assert_eq!(
            shown,
            "Dockerfile:2:3: unknown instruction RUNN (did you mean RUN?)\n  |\n2 |   RUNN echo hi\n  |   ^\n"
        );
    }

    #[test]
    fn render_without_the_line_still_names_the_place() {
        let err = Error::Empty {
            span: Span::at(9, 1),
        };
        assert_eq!(err.render("x", ""), "x:9:1: file with no instructions\n");
    }
}
