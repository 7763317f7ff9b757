//! Instruction flags (`--name=value`), typed per instruction.
//!
//! Owns the rules of BuildKit's `instructions/bflag.go`: every flag starts with `--`, names are
//! case-sensitive, booleans take no value or `=true`/`=false`, strings need `=value`, only
//! repeatable flags may repeat, and an unknown flag is an error with the nearest known name.
//! Values are kept as written; expansion is the instruction's business.

use crate::ast::Node;
use crate::error::Error;
use crate::suggest;

/// The shape of a flag's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    String,
    /// A string flag that may be given several times (`--mount`, `--exclude`).
    Repeated,
}

/// The flags an instruction was given, checked against what it takes.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, String)>,
}

impl Flags {
    /// Checks `node.flags` against `allowed`.
    pub(crate) fn parse(node: &Node, allowed: &[(&'static str, Kind)]) -> Result<Self, Error> {
        let mut values: Vec<(&'static str, String)> = Vec::new();
        let invalid = |flag: &str, reason: String| Error::InvalidFlag {
            span: node.span_of(&format!("--{flag}")),
            instruction: node.keyword.to_string(),
            flag: flag.to_owned(),
            reason,
        };
        for raw in &node.flags {
            let Some(body) = raw.strip_prefix("--") else {
                return Err(Error::InvalidArguments {
                    span: node.span,
                    instruction: node.keyword.to_string(),
                    reason: format!("arg should start with -- : {raw}"),
                });
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(known, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                return Err(Error::UnknownFlag {
                    span: node.span_of(raw),
                    instruction: node.keyword.to_string(),
                    flag: name.to_owned(),
                    suggestion: suggest::closest(name, &names).map(str::to_owned),
                });
            };
            if kind != Kind::Repeated && values.iter().any(|(n, _)| *n == known) {
                return Err(invalid(name, "flag given more than once".to_owned()));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => "true".to_owned(),
                (Kind::Bool, Some(v)) if v.eq_ignore_ascii_case("true") => "true".to_owned(),
                (Kind::Bool, Some(v)) if v.eq_ignore_ascii_case("false") => "false".to_owned(),
                (Kind::Bool, Some("")) => return Err(invalid(name, "missing a value".to_owned())),
                (Kind::Bool, Some(v)) => {
                    return Err(invalid(
                        name,
                        format!("expecting a boolean value, not {v:?}"),
                    ));
                }
                (_, None) => return Err(invalid(name, "missing a value".to_owned())),
                (_, Some(v)) => v.to_owned(),
            };
            values.push((known, value));
        }
        Ok(Self { values })
    }

    /// The value of a string flag, if given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// Every value of a repeated flag, in order.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean flag: false when absent.
    pub(crate) fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    const COPY: &[(&str, Kind)] = &[
        ("from", Kind::String),
        ("link", Kind::Bool),
        ("exclude", Kind::Repeated),
    ];

    fn flags(line: &str) -> Result<Flags, Error> {
        let ast = parse(line).unwrap();
        Flags::parse(&ast.instructions[0], COPY)
    }

    #[test]
    fn parses_typed_flag_values() {
        let f = flags("COPY --from=a --link --exclude=x --exclude=y s d").unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert!(f.bool("link"));
        assert_eq!(f.strings("exclude"), ["x", "y"]);
        assert!(!flags("COPY --link=FALSE s d").unwrap().bool("link"));
        assert!(flags("COPY --link=True s d").unwrap().bool("link"));
        assert_eq!(
            flags("COPY --from= s d").unwrap().string("from").as_deref(),
            Some("")
        );
    }

    #[test]
    fn rejects_bad_flags_with_a_suggestion() {
        let cases = [
            (
                "COPY --form=a s d",
                "1:6: unknown flag --form for COPY (did you mean --from?)",
            ),
            ("COPY --chmown=1 s d", "1:6: unknown flag --chmown for COPY"),
            ("COPY --from a s d", "1:6: COPY --from: missing a value"),
            (
                "COPY --link=yes s d",
                "1:6: COPY --link: expecting a boolean value, not \"yes\"",
            ),
            ("COPY --link= s d", "1:6: COPY --link: missing a value"),
            (
                "COPY --from=a --from=b s d",
                "1:6: COPY --from: flag given more than once",
            ),
            (
                "COPY --From=a s d",
                "1:6: unknown flag --From for COPY (did you mean --from?)",
            ),
        ];
        for (line, want) in cases {
            match flags(line) {
                Err(e) => assert_eq!(e.to_string(), want, "{line}"),
                Ok(f) => panic!("{line}: accepted {f:?}"),
            }
        }
    }
}
