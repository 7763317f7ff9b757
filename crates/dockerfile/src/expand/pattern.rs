//! Shell patterns for `${v#p}`, `${v%p}` and `${v/p/r}`.
//!
//! Owns the `*` / `?` / `\x` pattern language of POSIX parameter expansion (without bracket
//! expressions, as BuildKit's lexer), and the shortest/longest prefix, suffix and substring
//! searches built on it. Reference:
//! <https://pubs.opengroup.org/onlinepubs/9699919799/utilities/V3_chap02.html#tag_18_06_02>.

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Any,
    One,
    Literal(char),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern(Vec<Token>);

impl Pattern {
    /// Compiles `src`. A backslash makes `*`, `?` or `\` literal; before `}` or `/` it is
    /// dropped (those need escaping inside `${}`); before anything else it is an error.
    pub(crate) fn compile(src: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut chars = src.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Any,
                '?' => Token::One,
                '\\' => match chars.peek().copied() {
                    Some('}' | '/') => continue,
                    Some(n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        Token::Literal(n)
                    }
                    Some(n) => return Err(format!("invalid escape '\\{n}'")),
                    None => return Err("invalid escape at end of pattern".to_owned()),
                },
                c => Token::Literal(c),
            });
        }
        Ok(Self(tokens))
    }

    /// Whether the pattern matches all of `text`.
    fn matches(&self, text: &[char]) -> bool {
        let (p, t) = (&self.0, text);
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(Token::One) => {
                    pi += 1;
                    ti += 1;
                }
                Some(Token::Literal(c)) if *c == t[ti] => {
                    pi += 1;
                    ti += 1;
                }
                Some(Token::Any) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|t| *t == Token::Any)
    }

    /// `${v#p}` (shortest) and `${v##p}` (longest): `value` without the matched prefix.
    pub(crate) fn trim_prefix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut ends: Vec<usize> = (0..=chars.len()).collect();
        if longest {
            ends.reverse();
        }
        match ends.into_iter().find(|&e| self.matches(&chars[..e])) {
            Some(e) => chars[e..].iter().collect(),
            None => value.to_owned(),
        }
    }

    /// `${v%p}` (shortest) and `${v%%p}` (longest): `value` without the matched suffix.
    pub(crate) fn trim_suffix(&self, value: &str, longest: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut starts: Vec<usize> = (0..=chars.len()).collect();
        if !longest {
            starts.reverse();
        }
        match starts.into_iter().find(|&s| self.matches(&chars[s..])) {
            Some(s) => chars[..s].iter().collect(),
            None => value.to_owned(),
        }
    }

    /// `${v/p/r}` and `${v//p/r}`: replaces the leftmost longest match (or every match).
    pub(crate) fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i <= chars.len() {
            let found = if replaced && !all {
                None
            } else {
                (i..=chars.len())
                    .rev()
                    .find(|&e| self.matches(&chars[i..e]))
            };
            match found {
                Some(e) => {
                    out.push_str(replacement);
                    replaced = true;
                    if e == i {
                        if let Some(c) = chars.get(i) {
                            out.push(*c);
                        }
                        i += 1;
                    } else {
                        i = e;
                    }
                }
                None => {
                    if let Some(c) = chars.get(i) {
                        out.push(*c);
                    }
                    i += 1;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::compile(s).unwrap()
    }

    #[test]
    fn trims_prefixes_and_suffixes_shortest_and_longest() {
        let cases = [
            ("a*", "abcabc", false, true, "bcabc"),
            ("a*", "abcabc", true, true, ""),
            ("*c", "abcabc", false, false, "abcab"),
            ("*c", "abcabc", true, false, ""),
            ("?", "xyz", false, true, "yz"),
            ("q*", "abc", false, true, "abc"),
            ("\\*", "*x", false, true, "x"),
            ("*.tar", "a.tar.tar", false, false, "a.tar"),
        ];
        for (pat, value, longest, prefix, want) in cases {
            let got = if prefix {
                p(pat).trim_prefix(value, longest)
            } else {
                p(pat).trim_suffix(value, longest)
            };
            assert_eq!(got, want, "{pat} {value} longest={longest} prefix={prefix}");
        }
    }

    #[test]
    fn replaces_first_or_every_match() {
        assert_eq!(p("o").replace("foo boo", "0", false), "f0o boo");
        assert_eq!(p("o").replace("foo boo", "0", true), "f00 b00");
        assert_eq!(p("b*").replace("abcb", "X", false), "aX");
        assert_eq!(p("z").replace("abc", "X", true), "abc");
    }

    #[test]
    fn rejects_bad_escapes() {
        assert!(Pattern::compile("\\a").is_err());
        assert!(Pattern::compile("a\\").is_err());
        assert_eq!(p("\\}"), p("}"));
    }
}
