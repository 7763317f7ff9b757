//! Finding heredoc markers on RUN, COPY and ADD lines.
//!
//! Owns the rule for what counts as a marker: a whole shell word `[fd]<<[-]DELIM`, found by
//! lexing the line with quotes and escapes kept (so `"<<EOF"` is not a marker), and whether
//! the body expands (no part of the delimiter quoted). Reading the body is the parser's job.
//! Reference: <https://docs.docker.com/reference/dockerfile/#here-documents>.

use crate::ast::Heredoc;
use crate::expand::{ExpandError, Lexer};

/// The heredocs a line announces, in order, with empty bodies.
pub(crate) fn markers(line: &str) -> Result<Vec<Heredoc>, String> {
    let none: &[(&str, &str)] = &[];
    let lexer = Lexer::new('\\')
        .with_raw_quotes(true)
        .with_raw_escapes(true);
    // A line the lexer cannot read announces no heredoc, as in BuildKit.
    let words = lexer.expand_words(line, none).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = marker(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Parses one word as a marker.
fn marker(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, delim) = match rest.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, rest),
    };
    if delim.is_empty() || delim.contains('<') {
        return Ok(None);
    }
    let fd = match &word[..digits] {
        "" => 0,
        d => d
            .parse::<u32>()
            .map_err(|_| format!("invalid file descriptor {d:?} in heredoc {word:?}"))?,
    };
    let none: &[(&str, &str)] = &[];
    let unquote = Lexer::new('\\').with_keep_unset(true);
    let lex_err = |e: ExpandError| format!("invalid heredoc delimiter {delim:?}: {e}");
    let words = unquote.expand_words(delim, none).map_err(lex_err)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = unquote
        .with_raw_quotes(true)
        .expand_words(delim, none)
        .map_err(lex_err)?;
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let expand = raw.first().is_some_and(|r| quotes(r) == quotes(name));
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand,
        chomp,
        fd,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, bool, bool, u32)> {
        markers(line)
            .unwrap()
            .into_iter()
            .map(|d| (d.name, d.expand, d.chomp, d.fd))
            .collect()
    }

    #[test]
    fn finds_markers_that_are_whole_words() {
        type Marker = (&'static str, bool, bool, u32);
        let cases: &[(&str, &[Marker])] = &[
            ("RUN <<EOF", &[("EOF", true, false, 0)]),
            ("RUN <<-EOT", &[("EOT", true, true, 0)]),
            ("RUN <<'EOF'", &[("EOF", false, false, 0)]),
            ("RUN <<\"EOF\"", &[("EOF", false, false, 0)]),
            ("RUN <<E\"O\"F", &[("EOF", false, false, 0)]),
            ("RUN 3<<EOF cat /dev/fd/3", &[("EOF", true, false, 3)]),
            (
                "RUN <<A <<-B cat /dev/fd/0",
                &[("A", true, false, 0), ("B", true, true, 0)],
            ),
            (
                "COPY <<one <<two /dest/",
                &[("one", true, false, 0), ("two", true, false, 0)],
            ),
            ("RUN cat<<EOF", &[]),
            ("RUN echo \"<<EOF\"", &[]),
            ("RUN echo '<<EOF'", &[]),
            ("RUN echo <<", &[]),
            ("RUN echo a<<<b", &[]),
            ("RUN echo 'unterminated <<EOF", &[]),
        ];
        for (line, want) in cases {
            let want: Vec<_> = want
                .iter()
                .map(|(n, e, c, f)| (n.to_string(), *e, *c, *f))
                .collect();
            assert_eq!(names(line), want, "{line}");
        }
    }

    #[test]
    fn huge_file_descriptor_is_an_error() {
        assert!(markers("RUN 99999999999<<EOF").is_err());
    }
}
