use super::*;

fn env() -> Vec<(String, String)> {
    [
        ("PWD", "/home"),
        ("EMPTY", ""),
        ("SPACED", "a  b"),
        ("FILE", "archive.tar.gz"),
        ("X", "x"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn word(input: &str) -> Result<String, ExpandError> {
    Lexer::new('\\').expand_word(input, env().as_slice())
}

#[test]
fn expands_words_as_the_reference_defines() {
    let cases = [
        ("plain", "plain"),
        ("$PWD", "/home"),
        ("${PWD}", "/home"),
        ("${PWD}/x", "/home/x"),
        ("$PWD-x", "/home-x"),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("$", "$"),
        ("a$", "a$"),
        ("$1", ""),
        ("${UNSET:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${UNSET-def}", "def"),
        ("${PWD:-def}", "/home"),
        ("${PWD:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${PWD:?msg}", "/home"),
        ("${EMPTY?msg}", ""),
        ("${UNSET:-$PWD}", "/home"),
        ("${UNSET:-${X}y}", "xy"),
        ("${UNSET:-a b}", "a b"),
        ("'$PWD'", "$PWD"),
        ("\"$PWD\"", "/home"),
        ("\"'$PWD'\"", "'/home'"),
        ("\\$PWD", "$PWD"),
        ("\"\\$PWD\"", "$PWD"),
        ("\"a\\b\"", "a\\b"),
        ("\"a\\\"b\"", "a\"b"),
        ("'a\\b'", "a\\b"),
        ("a\\ b", "a b"),
        ("end\\", "end"),
        ("$SPACED", "a  b"),
        ("${FILE#*.}", "tar.gz"),
        ("${FILE##*.}", "gz"),
        ("${FILE%.*}", "archive.tar"),
        ("${FILE%%.*}", "archive"),
        ("${FILE/a/A}", "Archive.tar.gz"),
        ("${FILE//a/A}", "Archive.tAr.gz"),
        ("${UNSET#x}", ""),
    ];
    for (input, want) in cases {
        assert_eq!(word(input).as_deref(), Ok(want), "{input}");
    }
}

#[test]
fn reports_expansion_errors() {
    let cases = [
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET:?need it}", "UNSET: need it"),
        ("${PWD", "syntax error: missing '}'"),
        ("${PWD:-x", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:x}", "syntax error: bad substitution"),
        ("${", "syntax error: missing '}'"),
        ("${PWD:x}", "unsupported modifier (:x) in substitution"),
        ("${PWD!}", "unsupported modifier (!) in substitution"),
        (
            "'abc",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"abc",
            "unexpected end of statement while looking for matching double-quote",
        ),
        ("${PWD/a", "syntax error: missing '/' in ${}"),
    ];
    for (input, want) in cases {
        match word(input) {
            Err(e) => assert_eq!(e.to_string(), want, "{input}"),
            Ok(v) => panic!("{input} expanded to {v:?}"),
        }
    }
}

#[test]
fn splits_words_on_unquoted_whitespace_after_expansion() {
    let lexer = Lexer::new('\\');
    let e = env();
    let cases: &[(&str, &[&str])] = &[
        ("a b  c", &["a", "b", "c"]),
        ("\"a b\" c", &["a b", "c"]),
        ("$SPACED", &["a", "b"]),
        ("\"$SPACED\"", &["a  b"]),
        ("a\\ b", &["a b"]),
        ("'' x", &["x"]),
        ("x${UNSET}y", &["xy"]),
        ("", &[]),
    ];
    for (input, want) in cases {
        let got = lexer.expand_words(input, e.as_slice()).unwrap();
        assert_eq!(got, *want, "{input}");
    }
}

#[test]
fn backtick_escape_replaces_backslash() {
    let lexer = Lexer::new('`');
    let e = env();
    assert_eq!(lexer.expand_word("`$PWD", e.as_slice()).unwrap(), "$PWD");
    assert_eq!(
        lexer.expand_word("C:\\dir", e.as_slice()).unwrap(),
        "C:\\dir"
    );
    assert_eq!(lexer.expand_word("\"`\"\"", e.as_slice()).unwrap(), "\"");
}

#[test]
fn raw_lexing_keeps_quotes_escapes_and_unset_variables() {
    let lexer = Lexer::new('\\')
        .with_raw_quotes(true)
        .with_raw_escapes(true)
        .with_keep_unset(true);
    let none: &[(&str, &str)] = &[];
    let cases = [
        ("'a b'", "'a b'"),
        ("\"x\"", "\"x\""),
        ("a\\ b", "a\\ b"),
        ("$NOPE", "$NOPE"),
        ("${NOPE}", "${NOPE}"),
        ("${NOPE:-d}", "${NOPE:-d}"),
    ];
    for (input, want) in cases {
        assert_eq!(lexer.expand_word(input, none).unwrap(), want, "{input}");
    }
}

#[test]
fn skipping_quotes_expands_inside_them_and_keeps_them() {
    let lexer = Lexer::new('\\').with_skip_quotes(true);
    let env = [("N", "v")];
    let cases = [
        ("'$N' \"$N\"", "'v' \"v\""),
        ("\\$N it's", "$N it's"),
        ("${NOPE:-d}\n", "d\n"),
    ];
    for (input, want) in cases {
        assert_eq!(lexer.expand_word(input, &env[..]).unwrap(), want, "{input}");
    }
}

#[test]
fn map_environments_look_up_by_exact_name() {
    let mut map = HashMap::new();
    map.insert("a".to_owned(), "1".to_owned());
    let lexer = Lexer::new('\\');
    assert_eq!(lexer.expand_word("$a$A", &map).unwrap(), "1");
    let tree: BTreeMap<String, String> = map.into_iter().collect();
    assert_eq!(lexer.expand_word("${a:-z}", &tree).unwrap(), "1");
}
