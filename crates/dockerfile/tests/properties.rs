//! Properties that must hold for any input: the front end never panics, and words with
//! nothing special in them expand to themselves.

use kiln_dockerfile::ignore::Matcher;
use kiln_dockerfile::{Dockerfile, Lexer, dump, parse};
use proptest::prelude::*;

proptest! {
    #[test]
    fn parsing_any_text_never_panics(src in "(?s)[ -~\\t\\n\\r]{0,400}") {
        if let Ok(ast) = parse(&src) {
            let _ = dump::to_json(&ast);
            let _ = Dockerfile::from_ast(&ast);
        }
    }

    #[test]
    fn dockerfile_shaped_text_never_panics(
        lines in proptest::collection::vec(
            "(FROM|RUN|COPY|ADD|ENV|ARG|LABEL|ONBUILD|HEALTHCHECK|SHELL|CMD) ?(--[a-z]+(=[a-z$\"'{}:,=/]*)? )?[a-z$\"'\\\\<>{}\\[\\],:=/ -]{0,30}",
            0..12,
        )
    ) {
        let src = lines.join("\n");
        if let Ok(ast) = parse(&src) {
            let _ = Dockerfile::from_ast(&ast);
        }
    }

    #[test]
    fn plain_words_expand_to_themselves(word in "[a-zA-Z0-9_./:-]{0,40}") {
        let none: &[(&str, &str)] = &[];
        prop_assert_eq!(Lexer::new('\\').expand_word(&word, none).unwrap(), word);
    }

    #[test]
    fn expansion_of_any_word_never_panics(word in "[ -~]{0,60}") {
        let env = [("A", "x y"), ("B", "")];
        let _ = Lexer::new('\\').expand_words(&word, &env[..]);
        let _ = Lexer::new('`').expand_word(&word, &env[..]);
    }

    #[test]
    fn dockerignore_patterns_never_panic(pattern in "[ -~]{0,30}", path in "[a-z/.*]{0,30}") {
        if let Ok(m) = Matcher::new([pattern.as_str()]) {
            let _ = m.matches(&path);
        }
    }
}
