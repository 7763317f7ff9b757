//! Shell-word expansion, as the Dockerfile reference and BuildKit's `shell/lex.go` define it.
//!
//! Owns quote removal (`'...'` literal, `"..."` with `$` and escapes), the escape character,
//! `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?msg}`, `${v?msg}`, and the
//! newer `${v#p}`, `${v%p}`, `${v/p/r}` forms, plus word splitting for the instructions that
//! split. Does not own which instructions expand: see [`crate::instruction`]; RUN, CMD and
//! ENTRYPOINT in shell form are left to the shell.
//! Reference: <https://docs.docker.com/reference/dockerfile/#environment-replacement>.

mod pattern;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use pattern::Pattern;

/// Where expansion looks variables up: the executor passes the ENV and ARGs in scope.
pub trait Env {
    /// The value of `name`, or `None` when it is unset (set-but-empty is `Some("")`).
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// A list of `(name, value)`; a later entry overrides an earlier one.
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for [(&str, &str)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${v?msg}` or `${v:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
}

/// The word lexer. [`Lexer::new`] gives the behaviour of Dockerfile instructions; the
/// parser uses the raw variants to find heredoc markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    keep_unset: bool,
    skip_quotes: bool,
}

impl Lexer {
    /// A lexer for the given escape character (`\` or `` ` ``).
    pub fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            keep_unset: false,
            skip_quotes: false,
        }
    }

    /// Treats quotes as plain characters (BuildKit `SkipProcessQuotes`), as heredoc bodies
    /// of COPY and ADD are expanded.
    pub fn with_skip_quotes(self, on: bool) -> Self {
        Self {
            skip_quotes: on,
            ..self
        }
    }

    /// Keeps quotes in the output instead of removing them.
    pub(crate) fn with_raw_quotes(self, on: bool) -> Self {
        Self {
            raw_quotes: on,
            ..self
        }
    }

    /// Keeps escape characters in the output.
    pub(crate) fn with_raw_escapes(self, on: bool) -> Self {
        Self {
            raw_escapes: on,
            ..self
        }
    }

    /// Leaves references to unset variables as written instead of expanding them to "".
    pub(crate) fn with_keep_unset(self, on: bool) -> Self {
        Self {
            keep_unset: on,
            ..self
        }
    }

    /// Expands `word` into one string: quotes removed, variables substituted, whitespace
    /// kept (ENV values, WORKDIR, USER, LABEL, ...).
    pub fn expand_word<E: Env + ?Sized>(&self, word: &str, env: &E) -> Result<String, ExpandError> {
        Ok(self.run(word, env)?.0)
    }

    /// Expands `word` and splits the result on unquoted whitespace, including whitespace that
    /// came from a variable's value.
    pub fn expand_words<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<Vec<String>, ExpandError> {
        Ok(self.run(word, env)?.1)
    }

    fn run<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut state = State {
            lexer: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
        };
        state.until(None, self.raw_escapes)
    }
}

/// Splits a result into words the way BuildKit's lexer does: unquoted whitespace separates,
/// quoted text and escaped characters never do, and an empty quoted string makes no word.
#[derive(Debug, Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct State<'a, E: ?Sized> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a E,
}

impl<E: Env + ?Sized> State<'_, E> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.env.lookup(name).map(str::to_owned)
    }

    /// Processes up to `stop` (consumed) or the end of input.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.add_str(&value);
                }
                '\'' if !self.lexer.skip_quotes => {
                    let value = self.single_quote()?;
                    result.push_str(&value);
                    words.add_raw_str(&value);
                }
                '"' if !self.lexer.skip_quotes => {
                    let value = self.double_quote(raw_escapes)?;
                    result.push_str(&value);
                    words.add_raw_str(&value);
                }
                _ => {
                    self.next();
                    if c == self.lexer.escape {
                        if raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some('}') => Err(ExpandError::MissingBrace),
            Some('/') => Err(ExpandError::MissingSlash),
            Some(_) => Err(ExpandError::Unterminated("delimiter")),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.next();
        if self.lexer.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => return Err(ExpandError::Unterminated("single-quote")),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.next();
        if self.lexer.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(ExpandError::Unterminated("double-quote")),
                Some('"') => {
                    self.next();
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(c) => {
                    self.next();
                    let mut c = c;
                    if c == self.lexer.escape {
                        if raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            // Only these can be escaped inside double quotes; any other
                            // escape character stays literal.
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                self.next();
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// A name after `$`: a run of digits, one special parameter, or letters, digits and `_`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.next();
        let keep = self.lexer.keep_unset;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if keep => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let Some(op) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        match op {
            '}' => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if keep => format!("${{{name}}}"),
                None => String::new(),
            }),
            '/' => self.replace(&name),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let (null_is_unset, op) = if op == ':' {
                    (true, self.next().ok_or(ExpandError::MissingBrace)?)
                } else {
                    (false, op)
                };
                let shown = if null_is_unset {
                    format!(":{op}")
                } else {
                    op.to_string()
                };
                let raw = op == '#' || op == '%';
                let (word, _) = self.until(Some('}'), raw)?;
                let value = self.lookup(&name);
                if keep && value.is_none() {
                    return Ok(format!("${{{name}{shown}{word}}}"));
                }
                let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match op {
                    '-' if unset => Ok(word),
                    '-' => Ok(value.unwrap_or_default()),
                    '+' if unset => Ok(String::new()),
                    '+' => Ok(word),
                    '?' if unset => {
                        let default = if value.is_none() {
                            "is not allowed to be unset"
                        } else {
                            "is not allowed to be empty"
                        };
                        Err(ExpandError::Required {
                            name,
                            message: if word.is_empty() {
                                default.to_owned()
                            } else {
                                word
                            },
                        })
                    }
                    '?' => Ok(value.unwrap_or_default()),
                    '#' | '%' => {
                        let (longest, pat) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest.to_owned()),
                            None => (false, word),
                        };
                        let pattern = compile(&pat)?;
                        let value = value.unwrap_or_default();
                        Ok(if op == '#' {
                            pattern.trim_prefix(&value, longest)
                        } else {
                            pattern.trim_suffix(&value, longest)
                        })
                    }
                    _ => Err(ExpandError::UnsupportedModifier(shown)),
                }
            }
            other => Err(ExpandError::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let (pat, _) = self.until(Some('/'), true)?;
        let (replacement, _) = self.until(Some('}'), true)?;
        let value = self.lookup(name);
        if self.lexer.keep_unset && value.is_none() {
            let slashes = if all { "//" } else { "/" };
            return Ok(format!("${{{name}{slashes}{pat}/{replacement}}}"));
        }
        let pattern = compile(&pat)?;
        Ok(pattern.replace(&value.unwrap_or_default(), &replacement, all))
    }
}

fn compile(pat: &str) -> Result<Pattern, ExpandError> {
    Pattern::compile(pat).map_err(|reason| ExpandError::InvalidPattern {
        pattern: pat.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests;
