//! Fuzzes `.dockerignore` handling: reading, compiling and matching the file's own lines as
//! paths. Nothing may panic.

#![no_main]

use kiln_dockerfile::ignore::{Matcher, read_patterns};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(matcher) = Matcher::new(read_patterns(src)) else {
        return;
    };
    for line in src.lines().take(64) {
        let _ = matcher.matches(line);
    }
});
