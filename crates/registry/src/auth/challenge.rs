//! `WWW-Authenticate` challenges (RFC 7235 §4.1) as registries send them.
//!
//! Owns: parsing a header value into [`Challenge`]s with their parameters (quoted strings with
//! escapes, several challenges in one header) and picking the one kiln can answer: `Bearer`
//! (Docker's token auth, <https://distribution.github.io/distribution/spec/auth/token/>) or
//! `Basic`.

use std::collections::BTreeMap;

/// One challenge: a scheme (lowercased) and its parameters (keys lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

fn token_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && !matches!(s[i], b' ' | b'\t' | b',' | b'=' | b'"') {
        i += 1;
    }
    i
}

/// Parses every challenge in a header value. Malformed trailing parts are dropped, never a panic.
pub fn parse(header: &str) -> Vec<Challenge> {
    let s = header.as_bytes();
    let mut out: Vec<Challenge> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        i = skip_ws(s, i);
        while i < s.len() && s[i] == b',' {
            i = skip_ws(s, i + 1);
        }
        let start = i;
        i = token_end(s, i);
        if i == start {
            // Not a token: skip one byte so that the loop always advances.
            i += 1;
            continue;
        }
        let word = &header[start..i];
        let after = skip_ws(s, i);
        if after < s.len() && s[after] == b'=' && !out.is_empty() {
            // A parameter of the current challenge.
            let (value, next) = parse_value(header, skip_ws(s, after + 1));
            if let Some(last) = out.last_mut() {
                last.params.insert(word.to_ascii_lowercase(), value);
            }
            i = next;
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            i = after;
        }
    }
    out
}

fn parse_value(header: &str, i: usize) -> (String, usize) {
    let s = header.as_bytes();
    if i < s.len() && s[i] == b'"' {
        let mut value = String::new();
        let mut chars = header[i + 1..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '"' => return (value, i + 1 + off + 1),
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                c => value.push(c),
            }
        }
        (value, s.len())
    } else {
        let end = token_end(s, i);
        (header[i..end].to_owned(), end)
    }
}

/// The challenge kiln answers among several: Bearer first, then Basic, as go-containerregistry.
pub fn pick(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges
        .iter()
        .find(|c| c.scheme == "bearer")
        .or_else(|| challenges.iter().find(|c| c.scheme == "basic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn bearer_with_quoted_scope_containing_commas() {
        let got = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].scheme, "bearer");
        assert_eq!(
            params(&got[0]),
            [
                ("realm", "https://auth.docker.io/token"),
                ("scope", "repository:samalba/my-app:pull,push"),
                ("service", "registry.docker.io"),
            ]
        );
    }

    #[test]
    fn several_challenges_and_odd_spacing() {
        let got = parse(
            r#"Negotiate, Basic realm="Registry Realm" , BEARER realm=https://a/t,error="insufficient_scope""#,
        );
        let schemes: Vec<&str> = got.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["negotiate", "basic", "bearer"]);
        assert_eq!(got[1].param("realm"), Some("Registry Realm"));
        assert_eq!(got[2].param("realm"), Some("https://a/t"));
        assert_eq!(got[2].param("error"), Some("insufficient_scope"));
        assert_eq!(pick(&got).map(|c| c.scheme.as_str()), Some("bearer"));
    }

    #[test]
    fn escapes_and_garbage_do_not_panic() {
        let got = parse(r#"Basic realm="a \"quoted\" realm""#);
        assert_eq!(got[0].param("realm"), Some(r#"a "quoted" realm"#));
        for junk in [
            "",
            "=",
            "\"",
            "Bearer realm=\"unterminated",
            ",,,",
            "Bearer ==",
            "é=ü",
        ] {
            let _ = parse(junk);
        }
        assert_eq!(pick(&parse("Negotiate")), None);
    }
}
