//! Any byte string extracted as a layer leaves everything outside the rootfs untouched: a
//! canary beside the rootfs keeps its content and its directory gains nothing.
#![no_main]

use std::fs;

use kiln_fs::extract::{Options, extract_layer};
use kiln_fs::resolve::Root;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tmpfs when there is one: extraction writes files.
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let tmp = tempfile::tempdir_in(base).expect("tempdir");
    let rootfs = tmp.path().join("rootfs");
    let outside = tmp.path().join("outside");
    fs::create_dir(&rootfs).expect("mkdir");
    fs::create_dir(&outside).expect("mkdir");
    fs::write(outside.join("canary"), b"canary").expect("canary");
    let root = Root::open(&rootfs).expect("root");
    let _ = extract_layer(&root, data, &Options::default());
    assert_eq!(fs::read(outside.join("canary")).expect("canary"), b"canary");
    assert_eq!(fs::read_dir(&outside).expect("outside").count(), 1);
    assert_eq!(fs::read_dir(tmp.path()).expect("tmp").count(), 2);
});
