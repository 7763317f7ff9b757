//! `RUN --mount=type=ssh`: an SSH agent of the build (`--ssh`) reachable from inside a RUN.
//!
//! As BuildKit's `session/sshforward`, the RUN never sees the agent's own socket: kiln listens
//! on a socket of its own in the run's scratch directory and forwards every connection made to
//! it to the agent. So the socket can take the mount's `uid`, `gid` and `mode` (default 0, 0,
//! 0600) without touching the user's agent, and the agent's directory need not be reachable
//! from the sandbox. The socket is bound at `target` (default `/run/buildkit/ssh_agent.N`, N
//! counting the RUN's ssh mounts) and `SSH_AUTH_SOCK` names the first ssh mount unless the
//! RUN's environment sets it, as BuildKit's `llb.AddSSHSocket` does. The sandbox makes and
//! removes the mount point, so nothing of it reaches the layer.
//!
//! Does not own: parsing `--ssh` (the CLI, which refuses key files: kiln forwards agents, it is
//! none). Reference: <https://docs.docker.com/reference/dockerfile/#run---mounttypessh>.

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use kiln_dockerfile::instruction::Mount as MountOption;
use kiln_sandbox::{BindMount, Mount};

use super::{MountError, PreparedMounts, io};

/// The id an ssh mount without `id` asks for, and `--ssh` without one gives.
pub const DEFAULT_ID: &str = "default";

/// One `--ssh`: an agent's socket under an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAgent {
    pub id: String,
    /// The agent's socket (`$SSH_AUTH_SOCK` for `--ssh default`).
    pub socket: PathBuf,
}

/// A socket forwarding each connection to an agent, until dropped.
#[derive(Debug)]
pub(super) struct Forward {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Forward {
    /// Listens on `path` and forwards what connects to `agent`.
    fn start(agent: &Path, path: &Path) -> io::Result<Self> {
        let listener = UnixListener::bind(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let agent = agent.to_owned();
        let stopped = Arc::clone(&stop);
        let accept = std::thread::Builder::new()
            .name("kiln-ssh-forward".to_owned())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let agent = agent.clone();
                    // A connection lives as long as the RUN holds it; the sandbox ends every
                    // process of the RUN, which closes it.
                    let _ = std::thread::Builder::new()
                        .name("kiln-ssh-conn".to_owned())
                        .spawn(move || {
                            if let Ok(upstream) = UnixStream::connect(&agent) {
                                pipe(client, upstream);
                            }
                        });
                }
            })?;
        Ok(Self {
            path: path.to_owned(),
            stop,
            accept: Some(accept),
        })
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let woke = UnixStream::connect(&self.path).is_ok();
        if let Some(accept) = self.accept.take()
            && woke
        {
            let _ = accept.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies bytes both ways until each side has closed its half.
fn pipe(client: UnixStream, upstream: UnixStream) {
    let (Ok(mut client_read), Ok(mut upstream_write)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

/// Prepares the `index`-th ssh mount of a RUN: a forwarding socket in `scratch` bound at the
/// target. An agent the build was not given fails when `required`, else is left out.
pub(super) fn ssh_mount(
    option: &MountOption,
    agents: &[SshAgent],
    target: Option<PathBuf>,
    index: usize,
    scratch: &Path,
    prepared: &mut PreparedMounts,
) -> Result<PathBuf, MountError> {
    let target =
        target.unwrap_or_else(|| PathBuf::from(format!("/run/buildkit/ssh_agent.{index}")));
    let id = option.id.clone().unwrap_or_else(|| DEFAULT_ID.to_owned());
    let Some(agent) = agents.iter().find(|a| a.id == id) else {
        return match option.required {
            true => Err(MountError::SshMissing { id }),
            false => Ok(target),
        };
    };
    std::fs::create_dir_all(scratch).map_err(io(scratch))?;
    prepared.temporary.push(scratch.to_owned());
    let socket = scratch.join("agent.sock");
    let forward = Forward::start(&agent.socket, &socket).map_err(io(&socket))?;
    prepared.forwards.push(forward);
    prepared.mounts.push(Mount::Bind(BindMount {
        source: socket,
        target: target.clone(),
        read_only: false,
    }));
    prepared.mounts.push(Mount::Owner {
        target: target.clone(),
        uid: option.uid.unwrap_or(0),
        gid: option.gid.unwrap_or(0),
        mode: option.mode.unwrap_or(0o600),
    });
    Ok(target)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn option(text: &str) -> MountOption {
        MountOption::parse(text, &mut |v| Ok(v.to_owned())).expect("parse")
    }

    #[test]
    fn a_missing_agent_fails_only_when_required_and_names_the_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut prepared = PreparedMounts::default();
        let target = ssh_mount(&option("type=ssh"), &[], None, 1, dir.path(), &mut prepared)
            .expect("optional");
        assert_eq!(target, Path::new("/run/buildkit/ssh_agent.1"));
        assert!(prepared.mounts.is_empty());
        let err = ssh_mount(
            &option("type=ssh,id=deploy,required=true"),
            &[],
            None,
            0,
            dir.path(),
            &mut prepared,
        )
        .expect_err("required");
        assert_eq!(
            err.to_string(),
            "ssh agent \"deploy\" is required but no --ssh deploy was given"
        );
    }

    #[test]
    fn the_forwarding_socket_carries_bytes_both_ways_and_goes_when_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agent_path = dir.path().join("agent");
        let agent = UnixListener::bind(&agent_path).expect("bind");
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = agent.accept().expect("accept");
            let mut buf = [0u8; 5];
            conn.read_exact(&mut buf).expect("read");
            conn.write_all(&buf).expect("write");
        });
        let agents = [SshAgent {
            id: DEFAULT_ID.to_owned(),
            socket: agent_path,
        }];
        let mut prepared = PreparedMounts::default();
        let scratch = dir.path().join("ssh0");
        let target = ssh_mount(
            &option("type=ssh,mode=0640,uid=5"),
            &agents,
            None,
            0,
            &scratch,
            &mut prepared,
        )
        .expect("mount");
        assert_eq!(target, Path::new("/run/buildkit/ssh_agent.0"));
        let socket = scratch.join("agent.sock");
        assert_eq!(
            prepared.mounts[1],
            Mount::Owner {
                target: target.clone(),
                uid: 5,
                gid: 0,
                mode: 0o640
            }
        );
        let mut client = UnixStream::connect(&socket).expect("connect");
        client.write_all(b"hello").expect("write");
        let mut answer = [0u8; 5];
        client.read_exact(&mut answer).expect("answer");
        assert_eq!(&answer, b"hello");
        echo.join().expect("echo");
        drop(prepared);
        assert!(!socket.exists() && !scratch.exists());
    }
}
