//! Known, justified differences between two builders' images.
//!
//! Owns: the allow-list and its text form, one allowance a line:
//!
//! ```text
//! # comment
//! file /etc/hostname -- written by the runtime, not the build
//! file /usr/share/** mode -- a field limits the allowance to it
//! config history[*].created -- build time
//! config config.Volumes empty -- `empty` limits the allowance to an absent or empty value
//! ```
//!
//! Patterns are globs over file paths or rendered config keys: `*` matches within one path
//! segment or key part (it stops at `/` and `.`), `**` matches anything. Every allowance needs a
//! reason after ` -- `. A config allowance marked `empty` allows a key only where neither side
//! has a value other than absent, `null`, `false`, `0`, `""`, `[]` or `{}`: a builder that writes
//! every empty field differs from one that leaves them out, and that allowance must not hide a
//! field that holds something.

use super::diff::{Difference, Field};

/// One allowed difference and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub scope: Scope,
    pub pattern: String,
    pub field: Option<Field>,
    /// A config allowance that covers only absent or empty values on both sides.
    pub only_empty: bool,
    pub reason: String,
}

/// What an allowance is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    File,
    Config,
}

/// A set of allowances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    pub allowances: Vec<Allowance>,
}

/// A line of an allow-list that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("allow-list line {line}: {reason}")]
pub struct AllowListError {
    pub line: usize,
    pub reason: String,
}

impl AllowList {
    pub fn new() -> Self {
        Self::default()
    }

    /// The config fields that record when and with what an image was built, not what it is.
    pub fn builder_metadata() -> Self {
        let reasons = [
            ("created", "the build time"),
            ("history[*].created", "the build time of each step"),
            ("history[*].comment", "builders annotate steps differently"),
            (
                "container",
                "the classic builder's intermediate container id",
            ),
            (
                "container_config.**",
                "the classic builder's intermediate container",
            ),
            ("docker_version", "the engine's version"),
            (
                "config.Hostname",
                "the classic builder's intermediate container id",
            ),
            ("config.Image", "the classic builder's parent image id"),
            ("moby.buildkit.**", "BuildKit's build provenance"),
            (
                "rootfs.diff_ids",
                "layer bytes carry mtimes and entry order; files are compared one by one instead",
            ),
        ];
        let mut list = Self::new();
        for (pattern, reason) in reasons {
            list = list.config(pattern, reason);
        }
        list
    }

    /// Allows any difference of the files matching `pattern`.
    pub fn file(mut self, pattern: &str, reason: &str) -> Self {
        self.allowances.push(Allowance {
            scope: Scope::File,
            pattern: pattern.to_owned(),
            field: None,
            only_empty: false,
            reason: reason.to_owned(),
        });
        self
    }

    /// Allows a difference in one field of the files matching `pattern`.
    pub fn file_field(mut self, pattern: &str, field: Field, reason: &str) -> Self {
        self.allowances.push(Allowance {
            scope: Scope::File,
            pattern: pattern.to_owned(),
            field: Some(field),
            only_empty: false,
            reason: reason.to_owned(),
        });
        self
    }

    /// Allows any difference of the config keys matching `pattern`.
    pub fn config(mut self, pattern: &str, reason: &str) -> Self {
        self.allowances.push(Allowance {
            scope: Scope::Config,
            pattern: pattern.to_owned(),
            field: None,
            only_empty: false,
            reason: reason.to_owned(),
        });
        self
    }

    /// Allows the config keys matching `pattern` to differ only between absent and empty
    /// values (`null`, `false`, `0`, `""`, `[]`, `{}`).
    pub fn config_empty(mut self, pattern: &str, reason: &str) -> Self {
        self.allowances.push(Allowance {
            scope: Scope::Config,
            pattern: pattern.to_owned(),
            field: None,
            only_empty: true,
            reason: reason.to_owned(),
        });
        self
    }

    /// Adds the allowances of another list.
    pub fn extend(mut self, other: AllowList) -> Self {
        self.allowances.extend(other.allowances);
        self
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, AllowListError> {
        let mut list = Self::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: &str| AllowListError {
                line: i + 1,
                reason: reason.to_owned(),
            };
            let (rule, reason) = line
                .split_once(" -- ")
                .ok_or_else(|| error("missing ` -- reason`"))?;
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(error("the reason is empty"));
            }
            let words: Vec<&str> = rule.split_whitespace().collect();
            match words.as_slice() {
                ["file", pattern] => list = list.file(pattern, reason),
                ["file", pattern, field] => {
                    let field = Field::parse(field)
                        .ok_or_else(|| error(&format!("unknown field {field:?}")))?;
                    list = list.file_field(pattern, field, reason);
                }
                ["config", pattern] => list = list.config(pattern, reason),
                ["config", pattern, "empty"] => list = list.config_empty(pattern, reason),
                _ => {
                    return Err(error(
                        "expected `file PATTERN [FIELD] -- reason` or `config PATTERN [empty] -- reason`",
                    ));
                }
            }
        }
        Ok(list)
    }

    /// The reason a difference is allowed, if it is.
    pub fn reason(&self, difference: &Difference) -> Option<&str> {
        self.allowances
            .iter()
            .find(|a| a.allows(difference))
            .map(|a| a.reason.as_str())
    }
}

impl Allowance {
    fn allows(&self, difference: &Difference) -> bool {
        match (self.scope, difference) {
            (Scope::File, Difference::Missing { path, .. }) => {
                self.field.is_none() && glob(&self.pattern, path)
            }
            (Scope::File, Difference::File { path, field, .. }) => {
                self.field.is_none_or(|f| f == *field) && glob(&self.pattern, path)
            }
            (Scope::Config, Difference::Config { key, left, right }) => {
                (!self.only_empty || (is_empty(left.as_ref()) && is_empty(right.as_ref())))
                    && glob(&self.pattern, key)
            }
            _ => false,
        }
    }
}

/// Absent, `null`, `false`, `0`, `""`, `[]` or `{}`.
fn is_empty(value: Option<&serde_json::Value>) -> bool {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Bool(true)) => false,
    }
}

/// Glob match: `**` anything, `*` anything but `/` and `.`, other characters literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    // Memoised on (pattern index, text index): patterns and paths are short.
    let mut memo = vec![None; (p.len() + 1) * (t.len() + 1)];
    matches(p, t, 0, 0, &mut memo)
}

fn matches(p: &[u8], t: &[u8], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let slot = i * (t.len() + 1) + j;
    if let Some(known) = memo[slot] {
        return known;
    }
    let result = if i == p.len() {
        j == t.len()
    } else if p[i..].starts_with(b"**") {
        (j..=t.len()).any(|k| matches(p, t, i + 2, k, memo))
    } else if p[i] == b'*' {
        let mut k = j;
        loop {
            if matches(p, t, i + 1, k, memo) {
                break true;
            }
            if k == t.len() || t[k] == b'/' || t[k] == b'.' {
                break false;
            }
            k += 1;
        }
    } else {
        j < t.len() && p[i] == t[j] && matches(p, t, i + 1, j + 1, memo)
    };
    memo[slot] = Some(result);
    result
}

#[cfg(test)]
mod tests {
    use super::super::diff::Side;
    use super::*;

    #[test]
    fn glob_stars_stop_at_separators_and_double_stars_do_not() {
        let cases = [
            ("/etc/hostname", "/etc/hostname", true),
            ("/etc/*", "/etc/hostname", true),
            ("/etc/*", "/etc/ssl/certs", false),
            ("/etc/**", "/etc/ssl/certs", true),
            ("/**/*.pyc", "/usr/lib/a/b.pyc", true),
            ("history[*].created", "history[12].created", true),
            ("history[*].created", "history[1].created_by", false),
            ("config.*", "config.Env", true),
            ("config.*", "config.Labels.a", false),
            ("", "", true),
            ("a", "", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn parse_reads_scopes_fields_and_reasons() {
        let list = AllowList::parse(
            "# known differences\n\nfile /etc/hostname -- runtime\nfile /usr/** mode -- umask\nconfig created -- time\nconfig config.Volumes empty -- every field\n",
        )
        .expect("valid");
        assert_eq!(
            list,
            AllowList::new()
                .file("/etc/hostname", "runtime")
                .file_field("/usr/**", Field::Mode, "umask")
                .config("created", "time")
                .config_empty("config.Volumes", "every field")
        );
    }

    #[test]
    fn parse_refuses_lines_without_a_reason_or_with_unknown_words() {
        let cases = [
            ("file /etc/hostname", 1, "missing"),
            ("\nfile /a -- ", 2, "missing"),
            ("file /a colour -- why", 1, "unknown field"),
            ("path /a -- why", 1, "expected"),
            ("config a full -- why", 1, "expected"),
        ];
        for (text, line, needle) in cases {
            let error = AllowList::parse(text).expect_err(text);
            assert_eq!(error.line, line, "{text:?}");
            assert!(error.to_string().contains(needle), "{error}");
        }
    }

    #[test]
    fn empty_config_allowances_cover_absent_and_empty_values_only() {
        use serde_json::json;
        let list = AllowList::new().config_empty("config.*", "every empty field");
        let config = |left: Option<serde_json::Value>, right: Option<serde_json::Value>| {
            Difference::Config {
                key: "config.Entrypoint".into(),
                left,
                right,
            }
        };
        let cases = [
            (None, Some(json!([])), true),
            (None, Some(json!({})), true),
            (None, Some(json!("")), true),
            (None, Some(json!(false)), true),
            (Some(json!(null)), Some(json!(0)), true),
            (None, Some(json!(["sh"])), false),
            (Some(json!([])), Some(json!(["sh"])), false),
            (None, Some(json!(true)), false),
            (None, Some(json!("/w")), false),
            (Some(json!({"a": "b"})), None, false),
        ];
        for (left, right, want) in cases {
            let difference = config(left, right);
            assert_eq!(list.reason(&difference).is_some(), want, "{difference}");
        }
    }

    #[test]
    fn allowances_cover_only_their_scope_and_field() {
        let list = AllowList::new()
            .file_field("/usr/**", Field::Mode, "umask")
            .file("/etc/hostname", "runtime")
            .config("created", "time");
        let file = |path: &str, field| Difference::File {
            path: path.into(),
            field,
            left: "a".into(),
            right: "b".into(),
        };
        let cases = [
            (file("/usr/bin/x", Field::Mode), Some("umask")),
            (file("/usr/bin/x", Field::Uid), None),
            (
                Difference::Missing {
                    path: "/usr/bin/x".into(),
                    side: Side::Left,
                    summary: String::new(),
                },
                None,
            ),
            (
                Difference::Missing {
                    path: "/etc/hostname".into(),
                    side: Side::Right,
                    summary: String::new(),
                },
                Some("runtime"),
            ),
            (
                Difference::Config {
                    key: "created".into(),
                    left: None,
                    right: None,
                },
                Some("time"),
            ),
            (file("created", Field::Mode), None),
        ];
        for (difference, want) in cases {
            assert_eq!(list.reason(&difference), want, "{difference}");
        }
    }
}
