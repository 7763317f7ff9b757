//! What a caller asks the sandbox to run: [`RunSpec`], the [`Isolation`] mode, bind mounts, and
//! what comes back ([`RunOutcome`], [`ExitStatus`]).
//!
//! Owns: the vocabulary between the executor and the sandbox. Does not own: turning a
//! Dockerfile `RUN` into argv and env (`kiln-build`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a RUN process is isolated from the host (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Isolation {
    /// Probe what this process may do and pick the safest mode allowed.
    Auto,
    /// Fresh mount, PID, UTS and IPC namespaces, then pivot into the rootfs. Needs root.
    Chroot,
    /// As `Chroot`, inside a user namespace that maps the invoking user to root.
    Rootless,
    /// Kaniko's in-place mode: the rootfs is `/`, no namespaces. Only for a dedicated container.
    None,
}

impl Isolation {
    pub const NAMES: [&'static str; 4] = ["auto", "chroot", "rootless", "none"];

    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Auto => "auto",
            Isolation::Chroot => "chroot",
            Isolation::Rootless => "rootless",
            Isolation::None => "none",
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An isolation name that is not one of [`Isolation::NAMES`].
#[derive(Debug, thiserror::Error)]
#[error("unknown isolation {given:?}, expected one of auto, chroot, rootless, none")]
pub struct UnknownIsolation {
    pub given: String,
}

impl FromStr for Isolation {
    type Err = UnknownIsolation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Isolation::Auto),
            "chroot" => Ok(Isolation::Chroot),
            "rootless" => Ok(Isolation::Rootless),
            "none" => Ok(Isolation::None),
            other => Err(UnknownIsolation {
                given: other.to_owned(),
            }),
        }
    }
}

/// A filesystem made visible inside the rootfs for one run: the network files, and what
/// `RUN --mount` asks for. Mounts are made in order, so one may nest inside another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    Bind(BindMount),
    /// An empty tmpfs (mode 1777) at `target`, limited to `size` bytes when set.
    Tmpfs {
        target: PathBuf,
        size: Option<u64>,
    },
    /// The host directory `lower` at `target`, writable, with every write kept in a tmpfs of
    /// the sandbox and gone when the run ends (an overlay whose upper layer is that tmpfs):
    /// BuildKit's `RUN --mount=type=bind,rw`. The mount point has `lower`'s owner and mode.
    Scratch {
        lower: PathBuf,
        target: PathBuf,
    },
    /// A file that only exists in memory: written into the sandbox's `/dev` tmpfs with this
    /// owner and mode, bound read-only at `target`, and unlinked there before the command
    /// starts. Its bytes never touch the disk (`RUN --mount=type=secret`).
    File {
        target: PathBuf,
        contents: SecretBytes,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// Gives what an earlier mount put at `target` this owner and mode, from inside the
    /// sandbox, where the ids are the container's (a new cache mount's `uid`, `gid`, `mode`).
    Owner {
        target: PathBuf,
        uid: u32,
        gid: u32,
        mode: u32,
    },
}

/// Bytes that must never be printed: `Debug` shows their length only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} secret bytes>", self.0.len())
    }
}

/// `RUN --network`: which network a RUN process is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// The host's network, as Kaniko's RUN and BuildKit's `default` and `host` modes have it.
    #[default]
    Host,
    /// A new network namespace with only the loopback interface, up.
    None,
}

/// A host file or directory made visible at `target` (a path inside the rootfs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// One RUN process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The program and its arguments; `argv[0]` without a `/` is looked up in the `PATH` of
    /// `env` (or Docker's default `PATH`) inside the rootfs.
    pub argv: Vec<String>,
    /// The complete environment, `KEY=value`. `HOME` is added from the user when missing.
    pub env: Vec<String>,
    /// The working directory inside the rootfs; it must exist.
    pub cwd: PathBuf,
    /// The Dockerfile `USER` value (`""` is root), resolved in the rootfs' own databases.
    pub user: String,
    /// The stage's filesystem. `/` for [`Isolation::None`].
    pub rootfs: PathBuf,
    pub isolation: Isolation,
    /// The UTS hostname; needs a UTS namespace, so not with [`Isolation::None`].
    pub hostname: Option<String>,
    /// Extra mounts: the network files (see [`crate::network::NetworkFiles`]) and those of
    /// `RUN --mount`. Mount points the rootfs lacks are created for the run and removed after
    /// it, so nothing of them reaches the layer.
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    /// What the process reads on stdin (a heredoc body); without it stdin is empty.
    pub stdin: Option<Vec<u8>>,
}

impl RunSpec {
    /// A spec running `argv` as root in `/` of `rootfs`, chroot-isolated, with an empty
    /// environment and no extra mounts.
    pub fn new(rootfs: impl Into<PathBuf>, argv: Vec<String>) -> Self {
        RunSpec {
            argv,
            env: Vec::new(),
            cwd: PathBuf::from("/"),
            user: String::new(),
            rootfs: rootfs.into(),
            isolation: Isolation::Chroot,
            hostname: None,
            mounts: Vec::new(),
            network: NetworkMode::Host,
            stdin: None,
        }
    }
}

/// How the RUN process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// The shell's convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(signal) => 128 + signal,
        }
    }

    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exit code {code}"),
            ExitStatus::Signaled(signal) => {
                write!(f, "signal {signal} (exit code {})", 128 + signal)
            }
        }
    }
}

/// Which stream a line of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub status: ExitStatus,
    /// The mode actually used (never `Auto`).
    pub isolation: Isolation,
    /// Mount points (rootfs paths, e.g. `/etc/hosts`) that were created for the run and removed
    /// after it; the parents' times were restored where the run did not touch them. A snapshot
    /// may still see their parents' ctime change and should not report these paths.
    pub removed_mount_points: Vec<PathBuf>,
    /// Directories created as mount-point parents that the run filled, so they stay.
    pub kept_mount_points: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_names_round_trip_and_unknown_ones_are_listed() {
        for name in Isolation::NAMES {
            let parsed: Isolation = name.parse().expect(name);
            assert_eq!(parsed.to_string(), name);
        }
        let err = "sandbox".parse::<Isolation>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown isolation \"sandbox\", expected one of auto, chroot, rootless, none"
        );
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        let cases = [
            (ExitStatus::Exited(0), 0, true, "exit code 0"),
            (ExitStatus::Exited(3), 3, false, "exit code 3"),
            (
                ExitStatus::Signaled(9),
                137,
                false,
                "signal 9 (exit code 137)",
            ),
            (
                ExitStatus::Signaled(15),
                143,
                false,
                "signal 15 (exit code 143)",
            ),
        ];
        for (status, code, success, text) in cases {
            assert_eq!(
                (status.code(), status.success(), status.to_string().as_str()),
                (code, success, text)
            );
        }
    }
}
