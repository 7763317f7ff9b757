//! Any byte string given to the tar reader ends in entries or an error, never a panic, a hang
//! or an allocation larger than the bounds in `kiln_fs::extract::reader`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kiln_fs::extract::for_each_entry(data, |entry, content| {
        let mut sink = [0u8; 4096];
        let mut total = 0u64;
        loop {
            match content.read(&mut sink) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(_) => break,
            }
        }
        assert!(total <= entry.size, "read more than the header announced");
        Ok(())
    });
});
