//! Splitting an instruction line into keyword, flags and arguments.
//!
//! Owns the per-instruction argument grammars of BuildKit's `frontend/dockerfile/parser`
//! (`line_parsers.go`): leading `--flag` extraction, whitespace-delimited words, quote-aware
//! words (ENV, LABEL, ARG), `key=value` pairs, exec (JSON) versus shell form, and HEALTHCHECK's
//! type word. Quotes and escapes are kept in arguments; nothing is expanded here.

use crate::ast::{Args, KeyValue, Keyword};

/// Why an argument list could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// A JSON array holding something other than strings.
    NotStringArray,
    /// Any other shape error, with the message to show.
    Invalid(String),
}

/// The whitespace BuildKit splits on between words (`[\t\v\f\r ]+`).
fn is_split_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits `line` into its first word and the rest, trimmed (BuildKit `splitCommand` before
/// flag extraction).
pub(crate) fn split_keyword(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(is_split_space) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(is_split_space)),
        None => (line, ""),
    }
}

/// Extracts leading `--name[=value]` words. Quotes inside a flag group words and are removed;
/// a backslash escapes the next character; a lone `--` ends the flags. Returns the flags and
/// the rest of the line, trimmed.
pub(crate) fn extract_flags(line: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("--") {
            return (flags, trimmed.trim());
        }
        // Fast path: a flag without quotes or escapes is the text up to the next blank.
        let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        let plain = &trimmed[..end];
        if !plain.contains(['\'', '"', '\\']) {
            if plain == "--" {
                return (flags, trimmed[end..].trim());
            }
            flags.push(plain.to_owned());
            rest = &trimmed[end..];
            continue;
        }
        let mut word = String::new();
        let mut quoted_blank = false;
        let mut quote: Option<char> = None;
        let mut chars = trimmed.char_indices();
        let mut end = trimmed.len();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = i;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    quoted_blank = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == '\\' => match chars.next() {
                    Some((_, next)) => word.push(next),
                    None => quote = None,
                },
                _ => word.push(c),
            }
        }
        if word == "--" {
            return (flags, trimmed[end..].trim());
        }
        if quoted_blank || !word.is_empty() {
            flags.push(word);
        }
        rest = &trimmed[end..];
    }
}

/// Splits on BuildKit's word whitespace, keeping everything else as written.
pub(crate) fn whitespace_words(rest: &str) -> Vec<String> {
    rest.split(is_split_space)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits into words on unquoted whitespace, keeping quotes and escapes in the words
/// (BuildKit `parseWords`). Inside single quotes the escape character is literal.
pub(crate) fn quoted_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None => {
                if c.is_whitespace() {
                    if in_word && (blank_ok || !word.is_empty()) {
                        words.push(word.clone());
                        word.clear();
                    }
                    in_word = false;
                    blank_ok = false;
                    continue;
                }
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                    word.push(c);
                } else if c == escape {
                    // An escape at the very end is dropped; otherwise it stays with the
                    // character it escapes, even a quote.
                    if let Some(next) = chars.next() {
                        word.push(c);
                        word.push(next);
                    }
                } else {
                    word.push(c);
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                    word.push(c);
                } else if c == escape && q != '\'' {
                    match chars.next() {
                        Some(next) => {
                            word.push(c);
                            word.push(next);
                        }
                        None => quote = None,
                    }
                } else {
                    word.push(c);
                }
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Tries the exec form: a JSON array of strings. `Ok(None)` when the text is not a JSON array
/// at all (it is then shell form, as BuildKit decides); an error when it is an array with
/// something other than strings.
pub(crate) fn json_array(rest: &str) -> Result<Option<Vec<String>>, SplitError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(SplitError::NotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// ENV and LABEL: the legacy `name value` form when the first word has no `=`, otherwise a
/// list of `name=value` words.
fn name_values(rest: &str, keyword: Keyword, escape: char) -> Result<Args, SplitError> {
    let words = quoted_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Args::Pairs(Vec::new()));
    };
    if !first.contains('=') {
        let (key, value) = split_keyword(rest);
        if value.is_empty() {
            return Err(SplitError::Invalid(format!(
                "{keyword} must have two arguments"
            )));
        }
        return Ok(Args::Pairs(vec![KeyValue {
            key: key.to_owned(),
            value: value.to_owned(),
            sep: "",
        }]));
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) => Ok(KeyValue {
                key: key.to_owned(),
                value: value.to_owned(),
                sep: "=",
            }),
            None => Err(SplitError::Invalid(format!(
                "syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ))),
        })
        .collect::<Result<_, _>>()
        .map(Args::Pairs)
}

/// Splits the arguments of `keyword` (everything after the flags) per its grammar. Returns
/// the arguments and whether they were in exec form. ONBUILD is handled by the parser.
pub(crate) fn split_args(
    keyword: Keyword,
    rest: &str,
    escape: char,
) -> Result<(Args, bool), SplitError> {
    use Keyword as K;
    let list = |v: Vec<String>| Ok((Args::List(v), false));
    match keyword {
        K::Env | K::Label => Ok((name_values(rest, keyword, escape)?, false)),
        K::Arg => list(quoted_words(rest, escape)),
        K::From | K::Expose => list(whitespace_words(rest)),
        K::Maintainer | K::User | K::Workdir | K::Stopsignal | K::Onbuild => {
            list(if rest.is_empty() {
                vec![]
            } else {
                vec![rest.to_owned()]
            })
        }
        K::Run | K::Cmd | K::Entrypoint | K::Shell => match json_array(rest)? {
            Some(v) => Ok((Args::List(v), true)),
            None if rest.is_empty() => list(vec![]),
            None => list(vec![rest.to_owned()]),
        },
        K::Add | K::Copy | K::Volume => match json_array(rest)? {
            Some(v) => Ok((Args::List(v), true)),
            None => list(whitespace_words(rest)),
        },
        K::Healthcheck => {
            let (kind, command) = split_keyword(rest);
            if kind.is_empty() {
                return list(vec![]);
            }
            let mut args = vec![kind.to_owned()];
            match json_array(command)? {
                Some(v) => {
                    args.extend(v);
                    Ok((Args::List(args), true))
                }
                None => {
                    if !command.is_empty() {
                        args.push(command.to_owned());
                    }
                    list(args)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_are_extracted_with_quotes_removed() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("--from=build /a /b", &["--from=build"], "/a /b"),
            (
                "  --chown=1:1   --link src dst",
                &["--chown=1:1", "--link"],
                "src dst",
            ),
            (
                "--mount=type=cache,target=\"/a b\" make",
                &["--mount=type=cache,target=/a b"],
                "make",
            ),
            ("--x='' y", &["--x="], "y"),
            ("-- --notaflag", &[], "--notaflag"),
            ("-x y", &[], "-x y"),
            ("--a\\ b c", &["--a b"], "c"),
            ("--only", &["--only"], ""),
            ("", &[], ""),
        ];
        for (line, flags, rest) in cases {
            let (f, r) = extract_flags(line);
            assert_eq!(f, s(flags), "{line}");
            assert_eq!(r, *rest, "{line}");
        }
    }

    #[test]
    fn quoted_words_keep_quotes_and_escapes() {
        let cases: &[(&str, char, &[&str])] = &[
            ("a b  c", '\\', &["a", "b", "c"]),
            ("a=\"x y\" b='p q'", '\\', &["a=\"x y\"", "b='p q'"]),
            ("a=x\\ y", '\\', &["a=x\\ y"]),
            ("a='x\\' b", '\\', &["a='x\\'", "b"]),
            ("a=\"x\\\" y\"", '\\', &["a=\"x\\\" y\""]),
            ("a=x` y", '`', &["a=x` y"]),
            ("\"\"", '\\', &["\"\""]),
            ("end\\", '\\', &["end"]),
        ];
        for (rest, esc, want) in cases {
            assert_eq!(quoted_words(rest, *esc), s(want), "{rest}");
        }
    }

    #[test]
    fn json_array_decides_exec_form() {
        assert_eq!(json_array(r#"["a", "b c"]"#), Ok(Some(s(&["a", "b c"]))));
        assert_eq!(json_array("[]"), Ok(Some(vec![])));
        assert_eq!(json_array("['a']"), Ok(None));
        assert_eq!(json_array(r#"["a" "b"]"#), Ok(None));
        assert_eq!(json_array(r#"["a"] x"#), Ok(None));
        assert_eq!(json_array("echo [a]"), Ok(None));
        assert_eq!(json_array(r#"["a", 1]"#), Err(SplitError::NotStringArray));
    }

    #[test]
    fn env_forms_split_into_pairs() {
        let pairs = |r: &str| match name_values(r, Keyword::Env, '\\') {
            Ok(Args::Pairs(p)) => Ok(p
                .into_iter()
                .map(|kv| (kv.key, kv.value, kv.sep))
                .collect::<Vec<_>>()),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(
            pairs("A 1 2  3"),
            Ok(vec![("A".into(), "1 2  3".into(), "")])
        );
        assert_eq!(
            pairs("A=1 B=\"x y\""),
            Ok(vec![
                ("A".into(), "1".into(), "="),
                ("B".into(), "\"x y\"".into(), "=")
            ])
        );
        assert!(
            matches!(pairs("A"), Err(SplitError::Invalid(m)) if m == "ENV must have two arguments")
        );
        assert!(matches!(pairs("A=1 B"), Err(SplitError::Invalid(_))));
        assert_eq!(pairs(""), Ok(vec![]));
    }

    #[test]
    fn healthcheck_splits_type_from_command() {
        let (args, json) = split_args(Keyword::Healthcheck, "CMD curl -f x", '\\').unwrap();
        assert_eq!(args, Args::List(s(&["CMD", "curl -f x"])));
        assert!(!json);
        let (args, json) = split_args(Keyword::Healthcheck, r#"CMD ["curl", "-f"]"#, '\\').unwrap();
        assert_eq!(args, Args::List(s(&["CMD", "curl", "-f"])));
        assert!(json);
        let (args, _) = split_args(Keyword::Healthcheck, "NONE", '\\').unwrap();
        assert_eq!(args, Args::List(s(&["NONE"])));
    }
}
