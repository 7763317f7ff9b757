//! "Did you mean" suggestions for misspelt keywords and flags.
//!
//! Owns the edit-distance search only; callers decide what the candidates are. The threshold
//! follows what users expect from BuildKit's suggestions: a typo of one or two characters in a
//! short word, proportionally more in a long one, compared case-insensitively.

/// Returns the candidate closest to `word`, if it is close enough to be a plausible typo or
/// an abbreviation of at least three characters.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    if word.len() >= 3 {
        if let Some(c) = candidates
            .iter()
            .find(|c| c.to_ascii_lowercase().starts_with(&word))
        {
            return Some(c);
        }
    }
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (distance(&word, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            let cost = usize::from(ca != *cb);
            row[j + 1] = (prev + cost).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_candidate_within_the_threshold() {
        let keywords = ["RUN", "COPY", "ENTRYPOINT", "ENV", "WORKDIR"];
        let cases = [
            ("RUNN", Some("RUN")),
            ("copy", Some("COPY")),
            ("CPOY", Some("COPY")),
            ("ENTRYPONT", Some("ENTRYPOINT")),
            ("WORKDIRR", Some("WORKDIR")),
            ("XYZZY", None),
            ("ENTRY", Some("ENTRYPOINT")),
            ("EN", Some("ENV")),
            ("HELLOWORLD", None),
        ];
        for (word, want) in cases {
            assert_eq!(closest(word, &keywords), want, "{word}");
        }
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", "abc"), 0);
    }
}
