//! `application/x-www-form-urlencoded` decoding, for query strings and OAuth2 form bodies.
//!
//! Follows the WHATWG URL standard's urlencoded parser
//! (<https://url.spec.whatwg.org/#urlencoded-parsing>): `&`-separated pairs, `+` is a space,
//! `%XX` is a byte, and invalid escapes are kept as written.

/// Decodes `a=1&b=2` into pairs, in order, keeping repeated keys.
pub fn parse(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_decodes_pairs_in_order() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("a=1&b=2", &[("a", "1"), ("b", "2")]),
            ("scope=a&scope=b", &[("scope", "a"), ("scope", "b")]),
            (
                "s=repository%3Ateam%2Fapp%3Apull",
                &[("s", "repository:team/app:pull")],
            ),
            ("s=a+b", &[("s", "a b")]),
            ("flag", &[("flag", "")]),
            ("bad=%zz%4", &[("bad", "%zz%4")]),
            ("end=%41", &[("end", "A")]),
        ];
        for (input, want) in cases {
            let got = parse(input);
            let got: Vec<(&str, &str)> =
                got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(&got, want, "input {input:?}");
        }
    }
}
