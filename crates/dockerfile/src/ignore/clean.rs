//! Lexical path cleaning, as Go's `path/filepath.Clean` does it on Unix.
//!
//! Owns: collapsing repeated `/`, dropping `.` elements, resolving `..` against the element
//! before it (and dropping `..` right after the root), removing a trailing `/`, and turning an
//! empty result into `.`. Nothing touches the file system.

/// Cleans `path` lexically.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        let cases = [
            ("", "."),
            (".", "."),
            ("./a", "a"),
            ("a//b", "a/b"),
            ("a/./b/", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("//a", "/a"),
            ("!a/../b", "b"),
            ("a/b/..", "a"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "{input}");
        }
    }
}
