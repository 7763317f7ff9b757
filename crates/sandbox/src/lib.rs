//! The isolation boundary, and the only crate with `unsafe`.
//!
//! Owns: namespaces, mounts, chroot, users and groups read from the rootfs' `/etc/passwd` and
//! `/etc/group`, spawning a RUN process and reaping its process group.
//!
//! Does not own: what a RUN step changed in the filesystem (`kiln-fs`), or how a Dockerfile
//! `RUN` becomes argv and env (`kiln-build`).
//!
//! # How a RUN process is started
//!
//! Forking from a multi-threaded async runtime is unsound (a child may inherit a lock held by
//! another thread). So the sandbox never forks from the caller: [`Sandbox::run`] re-executes
//! the current binary with a hidden first argument ([`init::INIT_ARG`]) through
//! `std::process::Command`, whose spawn is safe in any process. That fresh, single-threaded
//! process (the *sandbox init*) reads the prepared plan from stdin, creates the namespaces,
//! mounts, forks the command, drops to its user and execs it, reaps every child, kills what is
//! left when the command exits, and reports back on a status pipe. A binary that uses this crate
//! calls [`init::main_if_requested`] first thing in `main`.
//!
//! # What a RUN process sees
//!
//! In `chroot` and `rootless` modes ([`Isolation`]): the rootfs as `/` (after `pivot_root`,
//! nothing of the host's tree), its own PID namespace (it is PID 2, the reaper PID 1), a fresh
//! `/proc` with Docker's masked and read-only paths, a tmpfs `/dev` with the standard devices,
//! `/dev/pts` and `/dev/shm`, a read-only `/sys`, the caller's [`Mount`]s, the host's network
//! (or, with [`NetworkMode::None`], a network namespace of its own with only loopback),
//! Docker's default capabilities, umask 022, default signal dispositions, and the user of
//! `USER` with its supplementary groups. In `none` mode it runs in place with what the
//! container grants, as in Kaniko. In every mode, whatever it leaves running is killed when it
//! exits.
//!
//! # Use
//!
//! ```no_run
//! use std::path::Path;
//!
//! use kiln_sandbox::{Isolation, NetworkFiles, RunSpec, Sandbox, Stream};
//!
//! fn main() -> Result<(), kiln_sandbox::Error> {
//!     // First thing: a re-executed copy of this binary becomes the sandbox init here.
//!     kiln_sandbox::init::main_if_requested();
//!
//!     let sandbox = Sandbox::current_exe();
//!     let choice = sandbox.choose(Isolation::Auto)?; // log choice.isolation and choice.reason
//!     let files = NetworkFiles::write(Path::new("/work/run"), "kiln", Path::new("/etc/resolv.conf"))?;
//!     let mut spec = RunSpec::new("/work/rootfs", vec!["/bin/sh".into(), "-c".into(), "make".into()]);
//!     spec.isolation = choice.isolation;
//!     spec.env = vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()];
//!     spec.user = "builder:staff".into();
//!     spec.cwd = "/src".into();
//!     spec.hostname = Some("kiln".into());
//!     spec.mounts = files.mounts();
//!     let outcome = sandbox.run(&spec, &mut |stream, line| {
//!         let prefix = if stream == Stream::Stdout { "" } else { "err " };
//!         println!("{prefix}{}", String::from_utf8_lossy(line));
//!     })?;
//!     std::process::exit(outcome.status.code());
//! }
//! ```
//!
//! Spec references: the OCI runtime spec's Linux defaults
//! (<https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md>) for the mounts
//! and devices; `user_namespaces(7)` and `newuidmap(1)` for rootless mode; `pivot_root(2)`.

pub mod credentials;
pub mod error;
pub mod idmap;
pub mod init;
pub mod mounts;
pub mod network;
mod output;
pub mod overlay;
mod plan;
pub mod probe;
mod process;
pub mod resolve;
pub mod rootless;
mod run;
pub mod spec;
pub mod stubs;
pub mod syscall;
pub mod user;
mod userns;
mod wire;

pub use error::{Error, Result};
pub use network::NetworkFiles;
pub use probe::Probe;
pub use run::Sandbox;
pub use spec::{
    BindMount, ExitStatus, Isolation, Mount, NetworkMode, RunOutcome, RunSpec, SecretBytes, Stream,
};
pub use user::ExecUser;
