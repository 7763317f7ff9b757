//! Parser directives: `# syntax=`, `# escape=` and `# check=`.
//!
//! Owns recognising directives in the leading comment block and the rule for when that block
//! ends: the first line that is not a well-formed `# name=value` comment with a known name
//! (an instruction, a blank line, an ordinary comment, or an unknown directive) ends it, and
//! everything after is an ordinary comment. Names are case-insensitive; each may appear once.
//! Reference: <https://docs.docker.com/reference/dockerfile/#parser-directives>.

use crate::ast::Directive;
use crate::error::Error;
use crate::span::Span;

/// Directive names kiln knows.
pub const KNOWN: &[&str] = &["syntax", "escape", "check"];

/// The directive scanner's state while the leading block is read.
#[derive(Debug)]
pub(crate) struct Directives {
    done: bool,
    pub(crate) escape: char,
    pub(crate) parsed: Vec<Directive>,
}

impl Directives {
    pub(crate) fn new() -> Self {
        Self {
            done: false,
            escape: '\\',
            parsed: Vec::new(),
        }
    }

    /// Looks at one physical line (left-trimmed) and records it if it is a directive.
    pub(crate) fn observe(&mut self, line: &str, line_no: usize) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        let Some((name, value, column)) = split(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(());
        }
        let span = Span::at(line_no, column);
        if self.parsed.iter().any(|d| d.name == name) {
            return Err(Error::DuplicateDirective { span, name });
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(Error::InvalidEscape {
                        span,
                        value: value.to_owned(),
                    });
                }
            };
        }
        self.parsed.push(Directive {
            name,
            value: value.to_owned(),
            span,
        });
        Ok(())
    }
}

/// Matches `#[ \t]*name[ \t]*=[ \t]*value[ \t]*` where the name is ASCII alphanumeric starting
/// with a letter and the value is not empty. Returns name, value and the name's column.
fn split(line: &str) -> Option<(&str, &str, usize)> {
    let blanks = |c: char| c == ' ' || c == '\t';
    let after_hash = line.strip_prefix('#')?;
    let rest = after_hash.trim_start_matches(blanks);
    let column = line.len() - rest.len() + 1;
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let after_eq = rest[name_len..]
        .trim_start_matches(blanks)
        .strip_prefix('=')?;
    let value = after_eq.trim_matches(blanks);
    if !value.is_empty() {
        return Some((name, value, column));
    }
    // Only blanks after `=`: the pattern's lazy value still takes the last one.
    let last = after_eq.char_indices().last()?;
    Some((name, &after_eq[last.0..], column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_well_formed_directive_comments() {
        let cases = [
            (
                "# syntax=docker/dockerfile:1",
                Some(("syntax", "docker/dockerfile:1")),
            ),
            ("#escape=`", Some(("escape", "`"))),
            ("#  ESCAPE \t=  \\  ", Some(("ESCAPE", "\\"))),
            (
                "# check=skip=all;error=true",
                Some(("check", "skip=all;error=true")),
            ),
            ("# escape=  ", Some(("escape", " "))),
            ("# escape=", None),
            ("# no directive here", None),
            ("# 1x=y", None),
            ("#x-y=z", None),
            ("FROM x", None),
        ];
        for (line, want) in cases {
            assert_eq!(split(line).map(|(n, v, _)| (n, v)), want, "{line}");
        }
    }

    #[test]
    fn directive_block_ends_at_first_other_line() {
        let mut d = Directives::new();
        d.observe("# syntax=a", 1).unwrap();
        d.observe("# unknown=b", 2).unwrap();
        d.observe("# escape=`", 3).unwrap();
        assert_eq!(d.escape, '\\');
        assert_eq!(d.parsed.len(), 1);
    }

    #[test]
    fn duplicate_and_invalid_directives_are_errors() {
        let mut d = Directives::new();
        d.observe("# escape=`", 1).unwrap();
        let err = d.observe("# Escape=\\", 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2:3: only one escape parser directive can be used"
        );
        let mut d = Directives::new();
        let err = d.observe("# escape=x", 1).unwrap_err();
        assert!(matches!(err, Error::InvalidEscape { .. }), "{err}");
    }
}
