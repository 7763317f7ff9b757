use super::*;

fn matcher(patterns: &[&str]) -> Matcher {
    Matcher::new(patterns).unwrap()
}

#[test]
fn patterns_match_as_docker_does() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["*.md"], "README.md", true),
        (&["*.md"], "docs/README.md", false),
        (&["*/*.md"], "docs/README.md", true),
        (&["**/*.md"], "docs/deep/README.md", true),
        (&["**/*.md"], "README.md", true),
        (&["docs/**"], "docs/a/b", true),
        (&["docs/**"], "docs", false),
        (&["a/**/b"], "a/b", true),
        (&["a/**/b"], "a/x/y/b", true),
        (&["**"], "anything/at/all", true),
        (&["?.txt"], "a.txt", true),
        (&["?.txt"], "ab.txt", false),
        (&["?"], "/", false),
        (&["[abc].txt"], "b.txt", true),
        (&["[a-c].txt"], "d.txt", false),
        (&["[^a].txt"], "a.txt", false),
        (&["[^a].txt"], "b.txt", true),
        (&["file\\*"], "file*", true),
        (&["file\\*"], "filex", false),
        (&["a.b"], "axb", false),
        (&["a+b(c)|{d}$"], "a+b(c)|{d}$", true),
        (&["node_modules"], "node_modules/pkg/index.js", true),
        (&["build"], "src/build", false),
        (&["/build"], "build/out", true),
        (&["./build"], "build", true),
        (&["build/"], "build/x", true),
        (&["a/../b"], "b", true),
        (&["*", "!keep"], "keep", false),
        (&["*", "!keep"], "other", true),
        (&["!keep", "*"], "keep", true),
        (
            &["*.md", "!README.md", "README*.md"],
            "README-secret.md",
            true,
        ),
        (&["*.md", "!README.md", "README*.md"], "README.md", true),
        (&["dir", "!dir/keep"], "dir/keep", false),
        (&["dir", "!dir/keep"], "dir/other", true),
        (&["dir/*", "!dir/keep"], "dir/keep/file", false),
        (&[], "anything", false),
    ];
    for (patterns, path, want) in cases {
        assert_eq!(
            matcher(patterns).matches(path),
            *want,
            "{patterns:?} vs {path}"
        );
    }
}

#[test]
fn reads_dockerignore_files() {
    let contents = "\u{feff}# comment\n\n  *.log  \n!important.log\n /abs/path\n./rel\n#not/a/pattern\n  # spaced is a pattern\n!  spaced-exception\r\n";
    assert_eq!(
        read_patterns(contents),
        [
            "*.log",
            "!important.log",
            "abs/path",
            "rel",
            "# spaced is a pattern",
            "!spaced-exception"
        ]
    );
    let m = Matcher::from_file_contents(contents).unwrap();
    assert!(m.matches("debug.log"));
    assert!(!m.matches("important.log"));
    assert!(m.matches("abs/path/file"));
    assert!(m.has_exclusions());
}

#[test]
fn invalid_patterns_are_errors() {
    assert!(matches!(
        Matcher::new(["!"]),
        Err(IgnoreError::LoneExclamation)
    ));
    assert!(matches!(
        Matcher::new(["[abc"]),
        Err(IgnoreError::InvalidPattern { .. })
    ));
    assert!(matches!(
        Matcher::new(["abc\\"]),
        Err(IgnoreError::TrailingBackslash { .. })
    ));
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = std::env::temp_dir().join(format!("kiln-ignore-{}", std::process::id()));
    let context = dir.join("ctx");
    std::fs::create_dir_all(context.join("build")).unwrap();
    let dockerfile = context.join("build/app.Dockerfile");
    assert_eq!(find_ignore_file(&dockerfile, &context), None);
    std::fs::write(context.join(".dockerignore"), "x").unwrap();
    assert_eq!(
        find_ignore_file(&dockerfile, &context),
        Some(context.join(".dockerignore"))
    );
    std::fs::write(context.join("build/app.Dockerfile.dockerignore"), "y").unwrap();
    assert_eq!(
        find_ignore_file(&dockerfile, &context),
        Some(context.join("build/app.Dockerfile.dockerignore"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
