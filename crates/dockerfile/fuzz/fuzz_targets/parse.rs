//! Fuzzes the Dockerfile front end end to end: parsing, typing and stages, the JSON dump,
//! error rendering, and expanding every argument. Nothing may panic or hang.

#![no_main]

use kiln_dockerfile::{Args, Dockerfile, Lexer, dump, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let ast = match parse(src) {
        Ok(ast) => ast,
        Err(err) => {
            let _ = err.render("Dockerfile", src);
            return;
        }
    };
    let _ = serde_json::to_string(&dump::to_json(&ast));
    let _ = dump::to_text(&ast);
    if let Err(err) = Dockerfile::from_ast(&ast) {
        let _ = err.render("Dockerfile", src);
    }
    let env = [("A", "a b"), ("EMPTY", ""), ("HOME", "/root")];
    let lexer = Lexer::new(ast.escape);
    for node in &ast.instructions {
        let words: Vec<&str> = match &node.args {
            Args::List(list) => list.iter().map(String::as_str).collect(),
            Args::Pairs(pairs) => pairs
                .iter()
                .flat_map(|kv| [kv.key.as_str(), kv.value.as_str()])
                .collect(),
        };
        for word in words
            .into_iter()
            .chain(node.flags.iter().map(String::as_str))
        {
            let _ = lexer.expand_word(word, &env[..]);
            let _ = lexer.expand_words(word, &env[..]);
        }
    }
});
