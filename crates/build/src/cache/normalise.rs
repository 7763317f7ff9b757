//! The instruction text as a cache key sees it: the same instruction written with other
//! spacing, line breaks or keyword case gives the same text, and nothing that changes what it
//! does is lost.
//!
//! Owns: joining line continuations (the Dockerfile's escape character, then spaces or tabs,
//! then a line break), collapsing runs of whitespace outside quotes into one space, trimming,
//! and upper-casing the keyword. Inside single or double quotes and after the escape character
//! every byte is kept, so `RUN echo "a  b"` and `RUN echo "a b"` stay apart. Heredoc bodies are
//! not text of the line; [`super::key::Instruction`] hashes them verbatim.
//!
//! Does not own: parsing (`kiln-dockerfile` gives the logical line as `Node::original`, already
//! joined; joining again here is harmless and lets a caller pass the raw text).

/// `text` normalised; `escape` is the Dockerfile's escape character (`\` or `` ` ``).
pub fn normalise(text: &str, escape: char) -> String {
    let joined = join_continuations(text, escape);
    let mut out = String::with_capacity(joined.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    let mut chars = joined.chars();
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        if c == escape && quote != Some('\'') {
            if let Some(next) = chars.next() {
                out.push(next);
            }
            continue;
        }
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
    }
    let keyword_end = out.find(' ').unwrap_or(out.len());
    let keyword = out[..keyword_end].to_ascii_uppercase();
    out.replace_range(..keyword_end, &keyword);
    out
}

/// `text` with every continuation (escape, optional spaces or tabs, `\n` or `\r\n`) removed.
fn join_continuations(text: &str, escape: char) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(escape) {
        out.push_str(&rest[..i]);
        let after = &rest[i + escape.len_utf8()..];
        let trimmed = after.trim_start_matches([' ', '\t']);
        let newline = trimmed
            .strip_prefix("\r\n")
            .or_else(|| trimmed.strip_prefix('\n'));
        match newline {
            Some(next) => rest = next,
            None => {
                // An escaped character is kept with its escape, whatever it is.
                out.push(escape);
                let mut it = after.chars();
                if let Some(c) = it.next() {
                    out.push(c);
                }
                rest = it.as_str();
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_line_breaks_and_keyword_case_do_not_matter() {
        let cases = [
            ("RUN make   all", "RUN make all"),
            ("  RUN\tmake all  ", "RUN make all"),
            ("run make all", "RUN make all"),
            ("RUN make \\\n    all", "RUN make all"),
            ("RUN make \\  \r\n all", "RUN make all"),
            ("COPY --chown=1:1  a   b /d/", "COPY --chown=1:1 a b /d/"),
        ];
        for (text, want) in cases {
            assert_eq!(normalise(text, '\\'), want, "{text:?}");
        }
    }

    #[test]
    fn quoted_and_escaped_text_is_kept_as_written() {
        let cases = [
            ("RUN echo \"a  b\"", "RUN echo \"a  b\""),
            ("RUN echo 'a \t b'  c", "RUN echo 'a \t b' c"),
            ("RUN echo a\\  b", "RUN echo a\\  b"),
            ("RUN echo 'it\\'  x", "RUN echo 'it\\' x"),
            ("RUN echo \"a\\\"  b\"", "RUN echo \"a\\\"  b\""),
        ];
        for (text, want) in cases {
            assert_eq!(normalise(text, '\\'), want, "{text:?}");
        }
    }

    #[test]
    fn the_backtick_escape_joins_lines_and_leaves_backslashes_alone() {
        assert_eq!(normalise("RUN dir c:\\   `\n  /w", '`'), "RUN dir c:\\ /w");
    }

    #[test]
    fn different_commands_stay_different() {
        assert_ne!(
            normalise("RUN echo a b", '\\'),
            normalise("RUN echo ab", '\\')
        );
        assert_ne!(
            normalise("RUN echo \"a  b\"", '\\'),
            normalise("RUN echo \"a b\"", '\\')
        );
    }
}
