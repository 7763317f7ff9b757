//! A [`Syscall`] double that records every call and can be told to fail one.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};

use super::{MountFlags, Namespaces, Syscall};

/// One recorded call, with owned arguments so tests can compare whole sequences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Unshare(Namespaces),
    Mount {
        source: Option<PathBuf>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MountFlags,
        data: Option<String>,
    },
    Detach(PathBuf),
    PivotRoot(PathBuf, PathBuf),
    Chroot(PathBuf),
    Chdir(PathBuf),
    Sethostname(String),
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    Mkdir(PathBuf, u32),
    CreateFile(PathBuf, u32),
    Symlink(PathBuf, PathBuf),
    WriteFile(PathBuf, Vec<u8>),
    DropBoundingCapability(u32),
    Chown(PathBuf, u32, u32),
    Chmod(PathBuf, u32),
    Remove(PathBuf, bool),
    LoopbackUp,
}

/// Chooses the calls that fail.
type Matcher = Box<dyn Fn(&Call) -> bool>;

/// Records calls instead of making them. `fail_when` makes the first call it matches return the
/// given errno (and be recorded all the same), to test error paths and fallbacks.
#[derive(Default)]
pub struct RecordingSyscall {
    calls: RefCell<Vec<Call>>,
    failure: Option<(Matcher, i32)>,
    locked: MountFlags,
    existing: Vec<(PathBuf, bool)>,
}

impl std::fmt::Debug for RecordingSyscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSyscall")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl RecordingSyscall {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails every call `matches` accepts with `errno`.
    pub fn fail_when(mut self, matches: impl Fn(&Call) -> bool + 'static, errno: i32) -> Self {
        self.failure = Some((Box::new(matches), errno));
        self
    }

    /// The flags [`Syscall::locked_flags`] reports for every path.
    pub fn with_locked_flags(mut self, flags: MountFlags) -> Self {
        self.locked = flags;
        self
    }

    /// Paths [`Syscall::is_dir`] finds (`true`: a directory); every other path is missing.
    pub fn with_existing(mut self, paths: &[(&str, bool)]) -> Self {
        self.existing = paths
            .iter()
            .map(|(p, dir)| (PathBuf::from(p), *dir))
            .collect();
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: Call) -> io::Result<()> {
        let fail = self
            .failure
            .as_ref()
            .filter(|(matches, _)| matches(&call))
            .map(|(_, e)| *e);
        self.calls.borrow_mut().push(call);
        match fail {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }
}

impl Syscall for RecordingSyscall {
    fn unshare(&self, namespaces: Namespaces) -> io::Result<()> {
        self.record(Call::Unshare(namespaces))
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MountFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        self.record(Call::Mount {
            source: source.map(Path::to_path_buf),
            target: target.to_path_buf(),
            fstype: fstype.map(str::to_owned),
            flags,
            data: data.map(str::to_owned),
        })
    }

    fn detach(&self, target: &Path) -> io::Result<()> {
        self.record(Call::Detach(target.to_path_buf()))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.record(Call::PivotRoot(
            new_root.to_path_buf(),
            put_old.to_path_buf(),
        ))
    }

    fn chroot(&self, path: &Path) -> io::Result<()> {
        self.record(Call::Chroot(path.to_path_buf()))
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        self.record(Call::Chdir(path.to_path_buf()))
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        self.record(Call::Sethostname(name.to_owned()))
    }

    fn setgroups(&self, gids: &[u32]) -> io::Result<()> {
        self.record(Call::Setgroups(gids.to_vec()))
    }

    fn setresgid(&self, gid: u32) -> io::Result<()> {
        self.record(Call::Setresgid(gid))
    }

    fn setresuid(&self, uid: u32) -> io::Result<()> {
        self.record(Call::Setresuid(uid))
    }

    fn locked_flags(&self, _path: &Path) -> io::Result<MountFlags> {
        Ok(self.locked)
    }

    fn mkdir(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.record(Call::Mkdir(path.to_path_buf(), mode))
    }

    fn create_file(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.record(Call::CreateFile(path.to_path_buf(), mode))
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.record(Call::Symlink(target.to_path_buf(), link.to_path_buf()))
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.record(Call::WriteFile(path.to_path_buf(), contents.to_vec()))
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        match self.existing.iter().find(|(p, _)| p == path) {
            Some((_, dir)) => Ok(*dir),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn drop_bounding_capability(&self, cap: u32) -> io::Result<()> {
        self.record(Call::DropBoundingCapability(cap))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        self.record(Call::Chown(path.to_path_buf(), uid, gid))
    }

    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        self.record(Call::Chmod(path.to_path_buf(), mode))
    }

    fn remove(&self, path: &Path, dir: bool) -> io::Result<()> {
        self.record(Call::Remove(path.to_path_buf(), dir))
    }

    /// Every path is root's, mode 0755.
    fn owner(&self, _path: &Path) -> io::Result<(u32, u32, u32)> {
        Ok((0, 0, 0o755))
    }

    fn loopback_up(&self) -> io::Result<()> {
        self.record(Call::LoopbackUp)
    }
}
