//! Parsers for Kaniko's flag values, as Go's `strconv` and Kaniko's `pkg/config/args.go` read
//! them: pflag booleans and integers, `key=value` pairs, registry maps (`a=b;c=d`) and the
//! `--git` options.
//!
//! Does not own: durations (`duration.rs`) or what the values mean (`settings`).
//!
//! Each parser returns a message that says what was expected; clap puts the flag name and the
//! offending value in front of it.

/// Go's `strconv.ParseBool`, which pflag uses for `--flag=value` on boolean flags.
pub fn parse_go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("expected true or false (or 1, 0, t, f, TRUE, FALSE)".to_owned()),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, which pflag uses for integer flags: decimal, or `0x`,
/// `0o`, `0b` and a leading `0` (octal), with an optional sign.
pub fn parse_go_int(value: &str) -> Result<i64, String> {
    let expected = || "expected an integer".to_owned();
    let (negative, unsigned) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.replace('_', ""))
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.replace('_', ""))
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.replace('_', ""))
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].replace('_', ""))
    } else {
        (10, lower)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(expected());
    }
    let magnitude = i128::from_str_radix(&digits, radix).map_err(|_| expected())?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| "integer out of range".to_owned())
}

/// A pflag integer that must not be negative, such as a retry count.
pub fn parse_count(value: &str) -> Result<u32, String> {
    let n = parse_go_int(value)?;
    u32::try_from(n).map_err(|_| "expected a count of 0 or more".to_owned())
}

/// One `key=value` pair, split at the first `=` (Kaniko's `keyValueArg`): `--label`,
/// `--registry-certificate`, `--registry-client-cert`. The key must not be empty.
pub fn parse_key_value(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, val)) if !key.is_empty() => Ok((key.to_owned(), val.to_owned())),
        _ => Err("expected key=value".to_owned()),
    }
}

/// A `--build-arg`: `NAME=value`, or a bare `NAME` whose value comes from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArgFlag {
    pub name: String,
    pub value: Option<String>,
}

pub fn parse_build_arg(value: &str) -> Result<BuildArgFlag, String> {
    let (name, val) = match value.split_once('=') {
        Some((name, val)) => (name, Some(val.to_owned())),
        None => (value, None),
    };
    if name.is_empty() {
        return Err("expected NAME=value or NAME".to_owned());
    }
    Ok(BuildArgFlag {
        name: name.to_owned(),
        value: val,
    })
}

/// A `--registry-map` value (Kaniko's `multiKeyMultiValueArg`): `from=to`, or several pairs
/// separated by `;`. An empty value maps nothing, as in Kaniko.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryMapFlag(pub Vec<(String, String)>);

pub fn parse_registry_map(value: &str) -> Result<RegistryMapFlag, String> {
    if value.is_empty() {
        return Ok(RegistryMapFlag::default());
    }
    let mut pairs = Vec::new();
    for pair in value.split(';') {
        match pair.split_once('=') {
            Some((from, to)) if !from.is_empty() && !to.is_empty() => {
                pairs.push((from.to_owned(), to.to_owned()));
            }
            _ => {
                return Err(format!(
                    "expected original.registry=mirror.registry[;other=mirror], \
                     got the pair {pair:?}"
                ));
            }
        }
    }
    Ok(RegistryMapFlag(pairs))
}

/// The keys `--git` knows, as Kaniko's `KanikoGitOptions.Set` spells them.
pub const GIT_OPTION_KEYS: [&str; 4] = [
    "branch",
    "single-branch",
    "recurse-submodules",
    "insecure-skip-tls",
];

/// One `--git` option. Kaniko takes one `key=value` per flag; kiln also takes several joined by
/// commas (`branch=main,single-branch=true`), which is how Kaniko prints the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitOption {
    Branch(String),
    SingleBranch(bool),
    RecurseSubmodules(bool),
    InsecureSkipTls(bool),
}

/// Parses one `--git` value into its options. A comma starts a new option only when a known
/// key and `=` follow it, so a branch name that contains a comma survives.
pub fn parse_git_options(value: &str) -> Result<Vec<GitOption>, String> {
    let mut items: Vec<String> = Vec::new();
    for piece in value.split(',') {
        let starts_option = GIT_OPTION_KEYS
            .iter()
            .any(|key| piece.strip_prefix(key).is_some_and(|r| r.starts_with('=')));
        match items.last_mut() {
            Some(last) if !starts_option => {
                last.push(',');
                last.push_str(piece);
            }
            _ => items.push(piece.to_owned()),
        }
    }
    items.iter().map(|item| parse_git_option(item)).collect()
}

fn parse_git_option(item: &str) -> Result<GitOption, String> {
    let Some((key, val)) = item.split_once('=') else {
        return Err(format!(
            "expected key=value with a key among {}, got {item:?}",
            GIT_OPTION_KEYS.join(", ")
        ));
    };
    let flag = |val: &str| parse_go_bool(val).map_err(|e| format!("{key}: {e}"));
    match key {
        "branch" => Ok(GitOption::Branch(val.to_owned())),
        "single-branch" => flag(val).map(GitOption::SingleBranch),
        "recurse-submodules" => flag(val).map(GitOption::RecurseSubmodules),
        "insecure-skip-tls" => flag(val).map(GitOption::InsecureSkipTls),
        _ => Err(format!(
            "unknown git option {key:?}: expected one of {}",
            GIT_OPTION_KEYS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bool_accepts_what_strconv_accepts() {
        let cases = [
            ("true", Some(true)),
            ("True", Some(true)),
            ("TRUE", Some(true)),
            ("t", Some(true)),
            ("1", Some(true)),
            ("false", Some(false)),
            ("F", Some(false)),
            ("0", Some(false)),
            ("yes", None),
            ("", None),
            ("tRUE", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_bool(input).ok(), want, "input {input:?}");
        }
    }

    #[test]
    fn go_int_accepts_base_prefixes_and_signs() {
        let cases = [
            ("0", Some(0)),
            ("3", Some(3)),
            ("-1", Some(-1)),
            ("+7", Some(7)),
            ("0x10", Some(16)),
            ("010", Some(8)),
            ("0o17", Some(15)),
            ("0b101", Some(5)),
            ("0x_ff", Some(255)),
            ("", None),
            ("1.5", None),
            ("08", None),
            ("ten", None),
            ("99999999999999999999", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_int(input).ok(), want, "input {input:?}");
        }
    }

    #[test]
    fn counts_refuse_negative_numbers() {
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("-1").is_err());
    }

    #[test]
    fn key_value_splits_at_the_first_equals_sign() {
        let cases = [
            ("a=b", Some(("a", "b"))),
            ("a=b=c", Some(("a", "b=c"))),
            ("a=", Some(("a", ""))),
            (
                "reg.io=/certs/a.crt,/certs/a.key",
                Some(("reg.io", "/certs/a.crt,/certs/a.key")),
            ),
            ("=b", None),
            ("novalue", None),
        ];
        for (input, want) in cases {
            let got = parse_key_value(input).ok();
            let want = want.map(|(k, v)| (k.to_owned(), v.to_owned()));
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn build_arg_without_value_is_left_for_the_environment() {
        let cases = [
            ("A=1", Some(("A", Some("1")))),
            ("A=", Some(("A", Some("")))),
            ("A=x=y", Some(("A", Some("x=y")))),
            ("A", Some(("A", None))),
            ("=1", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = parse_build_arg(input).ok();
            let want = want.map(|(name, value)| BuildArgFlag {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            });
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn registry_map_takes_semicolon_separated_pairs() {
        type Case<'a> = (&'a str, Option<Vec<(&'a str, &'a str)>>);
        let cases: [Case<'_>; 7] = [
            (
                "index.docker.io=mirror.gcr.io",
                Some(vec![("index.docker.io", "mirror.gcr.io")]),
            ),
            (
                "index.docker.io=a.io;index.docker.io=b.io;gcr.io=127.0.0.1",
                Some(vec![
                    ("index.docker.io", "a.io"),
                    ("index.docker.io", "b.io"),
                    ("gcr.io", "127.0.0.1"),
                ]),
            ),
            (
                "docker.io=harbor.io/project",
                Some(vec![("docker.io", "harbor.io/project")]),
            ),
            ("", Some(vec![])),
            ("gcr.io", None),
            ("a=b;", None),
            ("=b", None),
        ];
        for (input, want) in cases {
            let got = parse_registry_map(input).ok().map(|m| m.0);
            let want = want.map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn git_options_take_one_or_several_pairs() {
        use GitOption::*;
        let cases: [(&str, Option<Vec<GitOption>>); 8] = [
            ("branch=main", Some(vec![Branch("main".into())])),
            ("single-branch=true", Some(vec![SingleBranch(true)])),
            (
                "branch=dev,single-branch=true,recurse-submodules=1",
                Some(vec![
                    Branch("dev".into()),
                    SingleBranch(true),
                    RecurseSubmodules(true),
                ]),
            ),
            (
                "insecure-skip-tls=false",
                Some(vec![InsecureSkipTls(false)]),
            ),
            ("branch=a,b", Some(vec![Branch("a,b".into())])),
            ("single-branch=maybe", None),
            ("depth=1", None),
            ("main", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_git_options(input).ok(), want, "input {input:?}");
        }
    }
}
