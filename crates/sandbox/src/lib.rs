//! The isolation boundary, and the only crate with `unsafe`.
//!
//! Owns: namespaces, mounts, chroot, users and groups read from the rootfs' `/etc/passwd` and
//! `/etc/group`, spawning a RUN process and reaping its process group.
//!
//! Does not own: what a RUN step changed in the filesystem (`kiln-fs`).
