//! The line-level parser: source text to [`Ast`].
//!
//! Owns reading physical lines (UTF-8 BOM, CRLF, the 64 KiB line limit), the directive block,
//! comments, line continuations with the escape character (comment and blank lines inside a
//! continuation are skipped), heredoc bodies, and building one [`Node`] per instruction. The
//! rules are BuildKit's `frontend/dockerfile/parser/parser.go`; the typed meaning of each
//! instruction is [`crate::instruction`]'s.

use std::borrow::Cow;

use crate::args::{self, SplitError};
use crate::ast::{Args, Ast, Keyword, Node, Warning};
use crate::directive::Directives;
use crate::error::Error;
use crate::heredoc;
use crate::span::Span;
use crate::suggest;

/// The longest physical line accepted, in bytes (BuildKit's scanner limit less one).
pub const MAX_LINE: usize = 64 * 1024 - 1;

/// Parses a Dockerfile into its raw syntax tree.
pub fn parse(src: &str) -> Result<Ast, Error> {
    let mut lines = Lines::new(src);
    let mut directives = Directives::new();
    // One instruction per line at most: reserving up front avoids copying a large vector.
    let newlines = src.bytes().filter(|b| *b == b'\n').count();
    let mut instructions = Vec::with_capacity(newlines / 2 + 1);
    let mut warnings = Vec::new();
    while let Some((start, raw)) = lines.next()? {
        let trimmed = raw.trim_start();
        directives.observe(trimmed, start)?;
        let escape = directives.escape;
        let content = if trimmed.starts_with('#') {
            ""
        } else {
            trimmed
        };
        let (first, mut done) = trim_continuation(content, escape);
        if done && first.is_empty() {
            continue;
        }
        let column = raw[..raw.len() - trimmed.len()].chars().count() + 1;
        // Most instructions fit on one line: borrow until a continuation forces a copy.
        let mut logical = Cow::Borrowed(first);
        let mut blank_inside = false;
        while !done {
            let Some((n, raw)) = lines.next()? else {
                warnings.push(Warning {
                    span: Span::at(lines.last, 1),
                    message: "line continuation at the end of the file".to_owned(),
                });
                break;
            };
            directives.observe(raw, n)?;
            let trimmed = raw.trim_start();
            if trimmed.starts_with('#') {
                continue;
            }
            if trimmed.is_empty() {
                blank_inside = true;
                continue;
            }
            let (part, end) = trim_continuation(raw, escape);
            logical.to_mut().push_str(part);
            done = end;
        }
        let mut span = Span::new(start, column, lines.last);
        if blank_inside {
            warnings.push(Warning {
                span,
                message: "empty continuation line".to_owned(),
            });
        }
        let mut node = node_from_line(&logical, first.len(), escape, span)?;
        read_heredocs(&mut node, &mut lines)?;
        span.end_line = lines.last;
        node.span = span;
        instructions.push(node);
    }
    if instructions.is_empty() {
        return Err(Error::Empty {
            span: Span::at(lines.last.max(1), 1),
        });
    }
    Ok(Ast {
        directives: directives.parsed,
        escape: directives.escape,
        instructions,
        warnings,
    })
}

/// Physical lines, numbered from 1, with the BOM and line terminators removed.
struct Lines<'a> {
    rest: Option<&'a str>,
    /// Number of the line returned last.
    last: usize,
}

impl<'a> Lines<'a> {
    fn new(src: &'a str) -> Self {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        Self {
            rest: (!src.is_empty()).then_some(src),
            last: 0,
        }
    }

    fn next(&mut self) -> Result<Option<(usize, &'a str)>, Error> {
        let Some(rest) = self.rest else {
            return Ok(None);
        };
        let (line, rest) = match rest.split_once('\n') {
            Some((line, rest)) => (line, (!rest.is_empty()).then_some(rest)),
            None => (rest, None),
        };
        self.rest = rest;
        self.last += 1;
        if line.len() > MAX_LINE {
            return Err(Error::LineTooLong {
                span: Span::at(self.last, 1),
                max: MAX_LINE,
            });
        }
        Ok(Some((self.last, line.strip_suffix('\r').unwrap_or(line))))
    }
}

/// Removes a trailing escape character (and blanks after it). Returns the line and whether
/// the instruction ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix(escape) {
        Some(before) => (before, false),
        None => (line, true),
    }
}

/// Builds the node for one logical line.
fn node_from_line(
    line: &str,
    first_line_len: usize,
    escape: char,
    span: Span,
) -> Result<Node, Error> {
    let (word, rest) = args::split_keyword(line);
    let keyword = Keyword::from_word(word).ok_or_else(|| Error::UnknownInstruction {
        span,
        keyword: word.to_owned(),
        suggestion: suggest::closest(word, Keyword::ALL).map(str::to_owned),
    })?;
    let (flags, rest) = args::extract_flags(rest);
    if keyword == Keyword::Onbuild {
        let trigger = if rest.is_empty() {
            None
        } else {
            // `rest` is a slice of `line`: its offset is the distance between their starts.
            let offset = rest.as_ptr() as usize - line.as_ptr() as usize;
            let column = span.column + line[..offset].chars().count();
            Some(Box::new(node_from_line(
                rest,
                first_line_len.saturating_sub(offset),
                escape,
                span.with_column(column),
            )?))
        };
        let args = if rest.is_empty() {
            vec![]
        } else {
            vec![rest.to_owned()]
        };
        return Ok(Node {
            keyword,
            flags,
            args: Args::List(args),
            json: false,
            heredocs: Vec::new(),
            trigger,
            original: line.to_owned(),
            span,
            first_line_len,
        });
    }
    let (args, json) = args::split_args(keyword, rest, escape).map_err(|e| match e {
        SplitError::NotStringArray => Error::NotStringArray { span },
        SplitError::Invalid(reason) => Error::InvalidArguments {
            span,
            instruction: keyword.to_string(),
            reason,
        },
    })?;
    Ok(Node {
        keyword,
        flags,
        args,
        json,
        heredocs: Vec::new(),
        trigger: None,
        original: line.to_owned(),
        span,
        first_line_len,
    })
}

/// Reads the bodies of the heredocs the node's line announces, from the following lines.
fn read_heredocs(node: &mut Node, lines: &mut Lines<'_>) -> Result<(), Error> {
    let span = node.span;
    let target = match node.trigger.as_deref_mut() {
        Some(trigger) => trigger,
        None => node,
    };
    if !target.keyword.takes_heredocs() || target.json || !target.original.contains("<<") {
        return Ok(());
    }
    let docs = heredoc::markers(&target.original).map_err(|reason| Error::InvalidArguments {
        span,
        instruction: target.keyword.to_string(),
        reason,
    })?;
    for mut doc in docs {
        loop {
            let Some((_, line)) = lines.next()? else {
                return Err(Error::UnterminatedHeredoc {
                    span: Span::new(span.start_line, span.column, lines.last),
                    name: doc.name,
                });
            };
            let candidate = line.trim_end_matches(['\r', '\n']);
            let candidate = if doc.chomp {
                candidate.trim_start_matches('\t')
            } else {
                candidate
            };
            if candidate == doc.name {
                break;
            }
            doc.content.push_str(line);
            doc.content.push('\n');
        }
        target.heredocs.push(doc);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
