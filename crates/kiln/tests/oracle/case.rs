//! One oracle case: a directory holding a `Dockerfile`, an optional `context/` directory, an
//! optional `case` file, an optional `skip` file (the case is not built) and an optional
//! `buildah-skip` file (the case is not built when Buildah is the reference).
//!
//! The `case` file has one `key: value` a line (`#` starts a comment):
//!
//! ```text
//! reference: classic -- why the Engine's BuildKit cannot be the reference
//! build-arg: NAME=value
//! target: stage
//! kiln-flag: --skip-unused-stages -- why kiln needs a flag to match (a Kaniko default)
//! run: what `docker run IMAGE` prints
//! reference-dockerfile: Dockerfile.reference -- why the reference builds another Dockerfile
//! chmod: path/in/context 0600
//! chown: path/in/context 1000:1000
//! symlink: path/in/context target
//! hardlink: path/in/context existing/path
//! mkdir: path/in/context (an empty directory, which git does not keep)
//! allow: file /path mode -- reason (an allow-list line, see kiln_testsupport::compare)
//! buildah-allow: config history[*].created_by -- reason (the same, when Buildah is the reference)
//! ```
//!
//! `allow:` lines apply when the Docker Engine is the reference, `buildah-allow:` lines when
//! Buildah is: each builder differs from kiln in its own ways, and an allowance for one must
//! not hide a difference from the other.
//!
//! Owners, odd modes and hard links are set by the harness because git keeps none of them.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kiln_testsupport::compare::AllowList;

/// Which of the Docker Engine's builders produces the reference image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineBuilder {
    /// The engine's BuildKit with its built-in Dockerfile frontend.
    BuildKit,
    /// The engine's classic builder (`DOCKER_BUILDKIT=0 docker build`).
    Classic,
}

impl fmt::Display for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineBuilder::BuildKit => "docker build (BuildKit)",
            EngineBuilder::Classic => "docker build (classic builder)",
        })
    }
}

/// A change the harness makes to the copied context before building.
#[derive(Debug, Clone)]
enum Setup {
    Chmod(String, u32),
    Chown(String, u32, u32),
    Symlink(String, String),
    Hardlink(String, String),
    Mkdir(String),
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub skip: Option<String>,
    pub buildah_skip: Option<String>,
    pub engine_builder: EngineBuilder,
    pub reference_dockerfile: Option<String>,
    pub build_args: Vec<String>,
    pub kiln_flags: Vec<String>,
    pub target: Option<String>,
    pub run: Option<String>,
    pub allow: AllowList,
    pub buildah_allow: AllowList,
    setup: Vec<Setup>,
}

fn with_reason(value: &str) -> Result<&str, String> {
    match value.split_once(" -- ") {
        Some((v, reason)) if !reason.trim().is_empty() => Ok(v.trim()),
        _ => Err(format!("{value:?} needs a ` -- reason`")),
    }
}

impl Case {
    pub fn load(dir: &Path) -> Result<Case, String> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut case = Case {
            name,
            dir: dir.to_owned(),
            skip: None,
            buildah_skip: None,
            engine_builder: EngineBuilder::BuildKit,
            reference_dockerfile: None,
            build_args: Vec::new(),
            kiln_flags: Vec::new(),
            target: None,
            run: None,
            allow: AllowList::new(),
            buildah_allow: AllowList::new(),
            setup: Vec::new(),
        };
        if let Ok(text) = std::fs::read_to_string(dir.join("skip")) {
            case.skip = Some(text.trim().replace('\n', " "));
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("buildah-skip")) {
            case.buildah_skip = Some(text.trim().replace('\n', " "));
        }
        let text = match std::fs::read_to_string(dir.join("case")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(case),
            Err(e) => return Err(format!("{}/case: {e}", dir.display())),
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |e: String| format!("{}/case line {}: {e}", dir.display(), i + 1);
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| at("expected `key: value`".into()))?;
            let value = value.trim();
            let words: Vec<&str> = value.split_whitespace().collect();
            match (key.trim(), words.as_slice()) {
                ("reference", _) => {
                    case.engine_builder = match with_reason(value).map_err(at)? {
                        "classic" => EngineBuilder::Classic,
                        "buildkit" => EngineBuilder::BuildKit,
                        other => return Err(at(format!("unknown reference {other:?}"))),
                    }
                }
                ("reference-dockerfile", _) => {
                    case.reference_dockerfile = Some(with_reason(value).map_err(at)?.to_owned())
                }
                ("build-arg", _) => case.build_args.push(value.to_owned()),
                ("kiln-flag", _) => case
                    .kiln_flags
                    .push(with_reason(value).map_err(at)?.to_owned()),
                ("target", _) => case.target = Some(value.to_owned()),
                ("run", _) => case.run = Some(value.to_owned()),
                ("allow", _) => {
                    let list = AllowList::parse(value).map_err(|e| at(e.to_string()))?;
                    case.allow = std::mem::take(&mut case.allow).extend(list);
                }
                ("buildah-allow", _) => {
                    let list = AllowList::parse(value).map_err(|e| at(e.to_string()))?;
                    case.buildah_allow = std::mem::take(&mut case.buildah_allow).extend(list);
                }
                ("chmod", [path, mode]) => {
                    let mode = u32::from_str_radix(mode, 8).map_err(|e| at(e.to_string()))?;
                    case.setup.push(Setup::Chmod(path.to_string(), mode));
                }
                ("chown", [path, owner]) => {
                    let (uid, gid) = owner
                        .split_once(':')
                        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)))
                        .ok_or_else(|| at(format!("bad owner {owner:?}")))?;
                    case.setup.push(Setup::Chown(path.to_string(), uid, gid));
                }
                ("symlink", [path, target]) => case
                    .setup
                    .push(Setup::Symlink(path.to_string(), target.to_string())),
                ("hardlink", [path, existing]) => case
                    .setup
                    .push(Setup::Hardlink(path.to_string(), existing.to_string())),
                ("mkdir", [path]) => case.setup.push(Setup::Mkdir(path.to_string())),
                (key, _) => return Err(at(format!("unknown key {key:?} or wrong arguments"))),
            }
        }
        Ok(case)
    }

    /// Copies `context/` and the Dockerfile to `ctx` and applies the setup lines.
    pub fn lay_out_context(&self, ctx: &Path) -> Result<(), String> {
        std::fs::create_dir_all(ctx).map_err(|e| format!("{}: {e}", ctx.display()))?;
        let source = self.dir.join("context");
        if source.is_dir() {
            copy_tree(&source, ctx)?;
        }
        std::fs::copy(self.dir.join("Dockerfile"), ctx.join("Dockerfile"))
            .map_err(|e| format!("Dockerfile: {e}"))?;
        for step in &self.setup {
            let result = match step {
                Setup::Chmod(path, mode) => {
                    std::fs::set_permissions(ctx.join(path), std::fs::Permissions::from_mode(*mode))
                }
                Setup::Chown(path, uid, gid) => {
                    std::os::unix::fs::lchown(ctx.join(path), Some(*uid), Some(*gid))
                }
                Setup::Symlink(path, target) => std::os::unix::fs::symlink(target, ctx.join(path)),
                Setup::Hardlink(path, existing) => {
                    std::fs::hard_link(ctx.join(existing), ctx.join(path))
                }
                Setup::Mkdir(path) => std::fs::create_dir_all(ctx.join(path)),
            };
            result.map_err(|e| format!("{}: setup {step:?}: {e}", self.name))?;
        }
        Ok(())
    }
}

/// Copies a directory tree: files with their mode, directories, symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", src.display()))?;
        let result = if kind.is_symlink() {
            std::fs::read_link(&src).and_then(|t| std::os::unix::fs::symlink(t, &dst))
        } else if kind.is_dir() {
            std::fs::create_dir(&dst)
                .map_err(|e| format!("{}: {e}", dst.display()))
                .and_then(|()| copy_tree(&src, &dst))?;
            Ok(())
        } else {
            std::fs::copy(&src, &dst).map(drop)
        };
        result.map_err(|e| format!("{}: {e}", src.display()))?;
    }
    Ok(())
}
