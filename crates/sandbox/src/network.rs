//! The files a RUN process needs to resolve names: `/etc/hosts`, `/etc/resolv.conf` and
//! `/etc/hostname`, generated outside the rootfs and bind-mounted read-only over it, so they
//! never end up in a layer.
//!
//! Owns: their content. The hosts file is BuildKit's (`localhost` and the sandbox hostname on
//! the loopback addresses); `resolv.conf` is the host's, since RUN shares the host's network as
//! in Kaniko; `hostname` holds the hostname. Does not own: mounting them (`mounts`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::spec::{BindMount, Mount};

/// The hostname a RUN process gets when the caller does not choose one.
pub const DEFAULT_HOSTNAME: &str = "kiln";

/// Generated network files in a directory the caller owns (kiln's work dir, never the rootfs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
    pub hostname: PathBuf,
}

/// The hosts file for `hostname`.
pub fn hosts_content(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

impl NetworkFiles {
    /// Writes the three files into `dir`, taking `resolv.conf` from `host_resolv_conf` (usually
    /// `/etc/resolv.conf`; a missing one gives an empty file, and the resolver its defaults).
    pub fn write(dir: &Path, hostname: &str, host_resolv_conf: &Path) -> Result<Self> {
        let write = |name: &str, content: &[u8]| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|source| Error::Io {
                action: "write",
                path: path.clone(),
                source,
            })?;
            Ok(path)
        };
        let resolv = match std::fs::read(host_resolv_conf) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path: host_resolv_conf.to_owned(),
                    source,
                });
            }
        };
        Ok(NetworkFiles {
            hosts: write("hosts", hosts_content(hostname).as_bytes())?,
            resolv_conf: write("resolv.conf", &resolv)?,
            hostname: write("hostname", format!("{hostname}\n").as_bytes())?,
        })
    }

    /// The read-only bind mounts that put the files in place.
    pub fn mounts(&self) -> Vec<Mount> {
        [
            (&self.hosts, "/etc/hosts"),
            (&self.resolv_conf, "/etc/resolv.conf"),
            (&self.hostname, "/etc/hostname"),
        ]
        .into_iter()
        .map(|(source, target)| {
            Mount::Bind(BindMount {
                source: source.clone(),
                target: target.into(),
                read_only: true,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_files_name_the_hostname_and_copy_resolv_conf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host_resolv = dir.path().join("host-resolv.conf");
        std::fs::write(&host_resolv, "nameserver 192.0.2.53\n").expect("write");
        let files = NetworkFiles::write(dir.path(), "builder", &host_resolv).expect("write files");
        let read = |p: &Path| std::fs::read_to_string(p).expect("read");
        assert_eq!(
            read(&files.hosts),
            "127.0.0.1\tlocalhost builder\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
        assert_eq!(read(&files.resolv_conf), "nameserver 192.0.2.53\n");
        assert_eq!(read(&files.hostname), "builder\n");
        let targets: Vec<_> = files
            .mounts()
            .into_iter()
            .map(|m| match m {
                Mount::Bind(b) => (b.target, b.read_only),
                other => panic!("not a bind: {other:?}"),
            })
            .collect();
        assert_eq!(
            targets,
            [
                ("/etc/hosts".into(), true),
                ("/etc/resolv.conf".into(), true),
                ("/etc/hostname".into(), true)
            ]
        );
    }

    #[test]
    fn a_missing_host_resolv_conf_gives_an_empty_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files =
            NetworkFiles::write(dir.path(), "kiln", &dir.path().join("absent")).expect("write");
        assert_eq!(std::fs::read(&files.resolv_conf).expect("read"), b"");
    }
}
