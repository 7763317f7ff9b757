//! Source positions.
//!
//! Owns [`Span`], the location every node and error carries. Lines and columns are 1-based;
//! columns count characters (not bytes) on the physical line, as an editor shows them.

use std::fmt;

use serde::Serialize;

/// A region of a Dockerfile: the first line and column of a node or token, and the last
/// physical line it spans (continuations and heredoc bodies included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    /// First line, 1-based.
    pub start_line: usize,
    /// Column on the first line, 1-based, in characters.
    pub column: usize,
    /// Last line, 1-based, inclusive.
    pub end_line: usize,
}

impl Span {
    /// A span covering `start_line..=end_line`, starting at `column`.
    pub fn new(start_line: usize, column: usize, end_line: usize) -> Self {
        Self {
            start_line,
            column,
            end_line,
        }
    }

    /// A span of one line at one column.
    pub fn at(line: usize, column: usize) -> Self {
        Self::new(line, column, line)
    }

    /// The same lines, pointing at another column of the first line.
    pub fn with_column(self, column: usize) -> Self {
        Self { column, ..self }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.start_line, self.column)
    }
}
