//! Redaction of URLs before they reach an error message or a log line.
//!
//! Owns: the rule that a URL shown to a user carries no userinfo and no query value that could
//! be a credential (bearer tokens, pre-signed storage signatures). Query keys are kept so that a
//! redacted URL still says what was asked; only values outside a short allowlist of protocol
//! parameters (`mount`, `from`, `digest`, `n`, `last`, `service`, `scope`) are replaced.
//!
//! Does not own: headers, which are never rendered at all.

use reqwest::Url;

/// Query parameters of the distribution protocol that never carry a secret.
const SAFE_QUERY_KEYS: &[&str] = &["mount", "from", "digest", "n", "last", "service", "scope"];

/// The text that replaces a secret.
pub(crate) const REDACTED: &str = "REDACTED";

/// `url` without userinfo, and with every query value not on the allowlist replaced.
pub fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    // Both setters only fail for URLs that cannot carry userinfo, which then have none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if SAFE_QUERY_KEYS.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    REDACTED.to_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Like [`redact_url`] for a string that may not parse; an unparsable one is hidden whole.
pub fn redact_str(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => redact_url(&u),
        Err(_) => "<unparsable url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_userinfo_and_secret_query_values() {
        let cases = [
            (
                "https://user:pw@reg.example/v2/a/blobs/uploads/?mount=sha256:ab&from=b",
                "https://reg.example/v2/a/blobs/uploads/?mount=sha256%3Aab&from=b",
            ),
            (
                "https://storage.example/blob?X-Amz-Signature=abc&token=xyz",
                "https://storage.example/blob?X-Amz-Signature=REDACTED&token=REDACTED",
            ),
            (
                "https://auth.example/token?service=reg&scope=repository:a:pull&access_token=t",
                "https://auth.example/token?service=reg&scope=repository%3Aa%3Apull&access_token=REDACTED",
            ),
            ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/v2/"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_str(input), want, "{input}");
        }
    }

    #[test]
    fn unparsable_url_is_hidden_whole() {
        assert_eq!(redact_str("::not a url secret"), "<unparsable url>");
    }
}
