//! `.dockerignore`: reading the file, compiling its patterns, and matching context paths.
//!
//! Owns Docker's rules (moby `patternmatcher` and `ignorefile`): a line starting with `#` is a
//! comment; blank lines are skipped; `!` makes an exception; patterns are cleaned like Go's
//! `filepath.Clean` and a leading `/` is dropped; `*` and `?` never cross `/`; `**` matches
//! any number of directories; `[...]` classes and `\` escapes; the last matching pattern
//! wins; and a path is excluded when the pattern matches it or any of its parent directories.
//! Also owns the choice of file: `<Dockerfile>.dockerignore` next to the Dockerfile wins over
//! the context's `.dockerignore`. Does not own walking the context.
//! Reference: <https://docs.docker.com/build/concepts/context/#dockerignore-files>.

mod clean;

use std::path::{Path, PathBuf};

use regex::Regex;

pub use clean::clean;

/// Why a pattern cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    #[error("invalid .dockerignore pattern {pattern:?}")]
    InvalidPattern {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("invalid .dockerignore pattern {pattern:?}: a trailing backslash escapes nothing")]
    TrailingBackslash { pattern: String },
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The cleaned pattern, without its `!`.
    pub text: String,
    /// Whether this is a `!` exception.
    pub exclusion: bool,
    regex: Regex,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Compiles patterns as written in a `.dockerignore` (see [`read_patterns`]) or given to
    /// `COPY --exclude`. A leading `/` is dropped: paths are relative to the context root.
    pub fn new<I, S>(patterns: I) -> Result<Self, IgnoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut compiled = Vec::new();
        for raw in patterns {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let cleaned = clean(raw);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => return Err(IgnoreError::LoneExclamation),
                Some(rest) => (true, rest),
                None => (false, cleaned.as_str()),
            };
            // Patterns are relative to the context root, whether or not they say so.
            let text = match text.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_owned(),
                _ => text.to_owned(),
            };
            let regex = compile(&text)?;
            compiled.push(Pattern {
                text,
                exclusion,
                regex,
            });
        }
        Ok(Self { patterns: compiled })
    }

    /// Reads and compiles the contents of a `.dockerignore` file.
    pub fn from_file_contents(contents: &str) -> Result<Self, IgnoreError> {
        Self::new(read_patterns(contents))
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is an exception: a walker must then look inside excluded
    /// directories, since an exception may bring back something under them.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded from the context.
    pub fn matches(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for pattern in &self.patterns {
            // Only a pattern that can change the verdict needs evaluating.
            if pattern.exclusion != excluded {
                continue;
            }
            let mut hit = pattern.matches(&path);
            if !hit {
                let mut prefix = String::new();
                for dir in &parents {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(dir);
                    if pattern.matches(&prefix) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }
}

/// The patterns of a `.dockerignore` file: comments and blank lines dropped, each pattern
/// trimmed and cleaned, a leading `/` removed (the `!` of an exception kept in front).
pub fn read_patterns(contents: &str) -> Vec<String> {
    let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
    let mut out = Vec::new();
    for line in contents.lines() {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (invert, body) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let mut pattern = if body.is_empty() {
            String::new()
        } else {
            clean(body)
        };
        if pattern.len() > 1 && pattern.starts_with('/') {
            pattern.remove(0);
        }
        out.push(if invert {
            format!("!{pattern}")
        } else {
            pattern
        });
    }
    out
}

/// Picks the ignore file for a build: `<dockerfile>.dockerignore` when it exists, otherwise
/// `<context>/.dockerignore` when that exists.
pub fn find_ignore_file(dockerfile: &Path, context: &Path) -> Option<PathBuf> {
    let mut specific = dockerfile.as_os_str().to_owned();
    specific.push(".dockerignore");
    let specific = PathBuf::from(specific);
    if specific.is_file() {
        return Some(specific);
    }
    let general = context.join(".dockerignore");
    general.is_file().then_some(general)
}

/// Translates one cleaned pattern into an anchored regular expression.
fn compile(pattern: &str) -> Result<Regex, IgnoreError> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '*' if !in_class => {
                if chars.peek() == Some(&'*') {
                    chars.next();
                    if chars.peek() == Some(&'/') {
                        chars.next();
                    }
                    re.push_str(if chars.peek().is_none() {
                        ".*"
                    } else {
                        "(.*/)?"
                    });
                } else {
                    re.push_str("[^/]*");
                }
            }
            '?' if !in_class => re.push_str("[^/]"),
            '[' if !in_class => {
                in_class = true;
                re.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    re.push('^');
                }
            }
            ']' if in_class => {
                in_class = false;
                re.push(']');
            }
            '\\' => match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => {
                    return Err(IgnoreError::TrailingBackslash {
                        pattern: pattern.to_owned(),
                    });
                }
            },
            // Inside a class, keep ranges but neutralise the regex crate's set operators.
            '-' if in_class => re.push('-'),
            c if in_class => re.push_str(&regex::escape(&c.to_string())),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|source| IgnoreError::InvalidPattern {
        pattern: pattern.to_owned(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests;
