use super::*;

fn one(src: &str) -> Node {
    let ast = parse(src).unwrap();
    assert_eq!(ast.instructions.len(), 1, "{src:?}");
    ast.instructions.into_iter().next().unwrap()
}

fn list(node: &Node) -> Vec<&str> {
    node.args.list().iter().map(String::as_str).collect()
}

#[test]
fn continuations_join_lines_and_skip_comments_and_blanks() {
    let cases = [
        ("RUN a \\\n  b", "RUN a   b"),
        ("RUN a \\\n# comment\n  b", "RUN a   b"),
        ("RUN a \\\n   # indented comment\nb", "RUN a b"),
        ("RUN a \\\n\n\nb", "RUN a b"),
        ("RUN a \\  \t\nb", "RUN a b"),
        ("RUN a\\\\\nb", "RUN a\\b"),
        ("RUN a \\\r\nb\r\n", "RUN a b"),
    ];
    for (src, want) in cases {
        assert_eq!(one(src).original, want, "{src:?}");
    }
}

#[test]
fn spans_cover_continuations_and_point_at_the_keyword() {
    let ast = parse("FROM a\n\n  RUN x \\\n   y\nCMD z").unwrap();
    let spans: Vec<_> = ast.instructions.iter().map(|n| n.span).collect();
    assert_eq!(
        spans,
        vec![Span::new(1, 1, 1), Span::new(3, 3, 4), Span::new(5, 1, 5)]
    );
}

#[test]
fn escape_directive_switches_to_backtick() {
    let ast = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  /w\n").unwrap();
    assert_eq!(ast.escape, '`');
    assert_eq!(ast.instructions[1].original, "RUN dir c:\\   /w");
    assert_eq!(ast.directive("escape"), Some("`"));
}

#[test]
fn directives_after_the_leading_block_are_comments() {
    let cases = [
        ("# syntax=x\n# escape=`\nFROM a", Some('`')),
        ("FROM a\n# escape=`\nRUN b \\\nc", None),
        ("# comment\n# escape=`\nFROM a", None),
        ("\n# escape=`\nFROM a", None),
        ("# unknown=1\n# escape=`\nFROM a", None),
        ("\u{feff}# escape=`\nFROM a", Some('`')),
        ("  # escape=`\nFROM a", Some('`')),
    ];
    for (src, want) in cases {
        let ast = parse(src).unwrap();
        assert_eq!(
            ast.directive("escape").and_then(|v| v.chars().next()),
            want,
            "{src:?}"
        );
    }
}

#[test]
fn exec_and_shell_forms_are_told_apart() {
    let run = one(r#"RUN ["echo", "a b"]"#);
    assert!(run.json);
    assert_eq!(list(&run), ["echo", "a b"]);
    let shell = one("RUN ['echo', 'a']");
    assert!(!shell.json);
    assert_eq!(list(&shell), ["['echo', 'a']"]);
    let copy = one("COPY a  b   /c/");
    assert_eq!(list(&copy), ["a", "b", "/c/"]);
}

#[test]
fn heredocs_read_bodies_in_order() {
    let src = "RUN <<A cat /dev/stdin - <<-'B'\nline a\n$X\nA\n\tline b\n\tB\nCMD x\n";
    let ast = parse(src).unwrap();
    let run = &ast.instructions[0];
    assert_eq!(run.span, Span::new(1, 1, 6));
    let docs: Vec<_> = run
        .heredocs
        .iter()
        .map(|d| (d.name.as_str(), d.content.as_str(), d.expand, d.chomp))
        .collect();
    assert_eq!(
        docs,
        [
            ("A", "line a\n$X\n", true, false),
            ("B", "\tline b\n", false, true)
        ]
    );
    assert_eq!(ast.instructions[1].span.start_line, 7);
}

#[test]
fn heredocs_in_exec_form_and_other_instructions_are_text() {
    let ast = parse("RUN [\"<<EOF\"]\nLABEL a=<<EOF\n").unwrap();
    assert!(ast.instructions.iter().all(|n| n.heredocs.is_empty()));
}

#[test]
fn onbuild_carries_its_trigger() {
    let node = one("ONBUILD RUN <<EOF\nhi\nEOF");
    let trigger = node.trigger.as_deref().unwrap();
    assert_eq!(trigger.keyword, Keyword::Run);
    assert_eq!(trigger.heredocs[0].content, "hi\n");
    assert_eq!(trigger.span.column, 9);
}

#[test]
fn parse_errors_name_line_and_cause() {
    let long = format!("FROM a\nRUN {}", "x".repeat(MAX_LINE));
    let cases = [
        ("", "1:1: file with no instructions"),
        ("# only a comment\n\n", "2:1: file with no instructions"),
        (
            "FROM a\nRUNN x",
            "2:1: unknown instruction RUNN (did you mean RUN?)",
        ),
        (
            "FROM a\n  cpoy a b",
            "2:3: unknown instruction cpoy (did you mean COPY?)",
        ),
        ("FROM a\nENV A", "2:1: ENV: ENV must have two arguments"),
        (
            "CMD [\"a\", 1]",
            "1:1: when using JSON array syntax, arrays must be comprised of strings only",
        ),
        ("FROM a\nRUN <<EOF\nx\n", "2:1: unterminated heredoc EOF"),
        (
            long.as_str(),
            "2:1: dockerfile line greater than max allowed size of 65535",
        ),
        (
            "# escape=x\nFROM a",
            "1:3: invalid escape token \"x\" does not match ` or \\",
        ),
    ];
    for (src, want) in cases {
        let err = parse(src).unwrap_err();
        assert_eq!(err.to_string(), want, "{src:?}");
    }
}

#[test]
fn a_line_of_exactly_the_limit_is_accepted() {
    let src = format!("RUN {}", "x".repeat(MAX_LINE - 4));
    assert_eq!(parse(&src).unwrap().instructions.len(), 1);
}

#[test]
fn continuation_at_end_of_file_is_accepted_with_a_warning() {
    let ast = parse("FROM a\nRUN echo \\").unwrap();
    assert_eq!(ast.instructions[1].original, "RUN echo ");
    assert_eq!(ast.warnings.len(), 1);
    assert_eq!(ast.warnings[0].span.start_line, 2);
}

#[test]
fn empty_lines_inside_a_continuation_are_a_warning() {
    let ast = parse("FROM a\nRUN a \\\n\nb\nRUN c \\\n# only a comment\nd\n").unwrap();
    assert_eq!(ast.instructions[1].original, "RUN a b");
    let warned: Vec<_> = ast.warnings.iter().map(|w| w.span.start_line).collect();
    assert_eq!(warned, [2]);
}

#[test]
fn directive_values_are_recorded_in_order() {
    let ast = parse("# syntax=docker/dockerfile:1\n# check=skip=all\nFROM a").unwrap();
    let got: Vec<_> = ast
        .directives
        .iter()
        .map(|d| (d.name.as_str(), d.value.as_str(), d.span.start_line))
        .collect();
    assert_eq!(
        got,
        [
            ("syntax", "docker/dockerfile:1", 1),
            ("check", "skip=all", 2)
        ]
    );
}
