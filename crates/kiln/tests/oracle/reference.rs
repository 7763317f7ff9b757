//! The reference builder: which one the suite compares kiln against, and what each allows.
//!
//! The Docker Engine's BuildKit when an Engine answers `docker version` (see `engine.rs`),
//! else Buildah (see `buildah.rs`). `KILN_ORACLE_REFERENCE=docker` or `=buildah` forces one;
//! forcing the Engine where none answers is an error, not a fall back.
//!
//! Each reference has its own allowances: `tests/oracle/allow-docker.txt` and a case's `allow:`
//! lines for the Engine, `tests/oracle/allow-buildah.txt` and a case's `buildah-allow:` lines
//! for Buildah. The two builders differ from kiln in different ways, and an allowance one of
//! them needs must not hide a difference from the other.

use std::path::Path;
use std::process::Command;

use kiln_testsupport::compare::AllowList;

use super::buildah::Buildah;
use super::case::Case;
use super::engine;

/// The environment variable that forces a reference.
pub const REFERENCE_VAR: &str = "KILN_ORACLE_REFERENCE";

pub enum Reference {
    /// The Docker Engine (its version).
    Docker(String),
    Buildah(Buildah),
}

impl Reference {
    /// The Engine when it answers, else Buildah; `KILN_ORACLE_REFERENCE` forces one.
    pub fn select() -> Result<Reference, String> {
        match std::env::var(REFERENCE_VAR).as_deref() {
            Ok("docker") => engine::version().map(Reference::Docker).ok_or_else(|| {
                format!("{REFERENCE_VAR}=docker, but no Docker Engine answers `docker version`")
            }),
            Ok("buildah") => Buildah::start().map(Reference::Buildah),
            Ok(other) => Err(format!(
                "{REFERENCE_VAR}={other:?}: expected `docker` or `buildah`"
            )),
            Err(_) => match engine::version() {
                Some(version) => Ok(Reference::Docker(version)),
                None => Buildah::start().map(Reference::Buildah).map_err(|e| {
                    format!("no Docker Engine answers `docker version`, and Buildah cannot stand in: {e}")
                }),
            },
        }
    }

    /// `docker` or `buildah`: the value of `KILN_ORACLE_REFERENCE` that picks this reference.
    pub fn name(&self) -> &'static str {
        match self {
            Reference::Docker(_) => "docker",
            Reference::Buildah(_) => "buildah",
        }
    }

    /// What the suite's log says it compares against.
    pub fn describe(&self) -> String {
        match self {
            Reference::Docker(version) => format!(
                "the Docker Engine {version} (BuildKit through the Engine API; \
                 the classic builder where a case says so)"
            ),
            Reference::Buildah(buildah) => format!(
                "Buildah {} (buildah bud --isolation chroot --format docker --layers)",
                buildah.version
            ),
        }
    }

    /// What built a case's reference image, for a failure's report.
    pub fn describe_case(&self, case: &Case) -> String {
        match self {
            Reference::Docker(_) => case.engine_builder.to_string(),
            Reference::Buildah(_) => "buildah bud".to_owned(),
        }
    }

    /// The allowances every case has under this reference, read from `dir`.
    pub fn suite_allowances(&self, dir: &Path) -> Result<AllowList, String> {
        let path = dir.join(format!("allow-{}.txt", self.name()));
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let list = AllowList::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(AllowList::builder_metadata().extend(list))
    }

    /// The case's own allowances under this reference.
    pub fn case_allowances<'a>(&self, case: &'a Case) -> &'a AllowList {
        match self {
            Reference::Docker(_) => &case.allow,
            Reference::Buildah(_) => &case.buildah_allow,
        }
    }

    /// Why the case is not built under this reference, if it is not.
    pub fn skip<'a>(&self, case: &'a Case) -> Option<&'a str> {
        let only_here = match self {
            Reference::Docker(_) => None,
            Reference::Buildah(_) => case.buildah_skip.as_deref(),
        };
        case.skip.as_deref().or(only_here)
    }

    /// Builds the case's reference image from the laid-out context `ctx` and writes it to `tar`
    /// in the `docker save` format, tagged `tag`. When the case names a reference Dockerfile it
    /// replaces `ctx/Dockerfile` first (kiln has built by then).
    pub fn build(&self, case: &Case, ctx: &Path, tag: &str, tar: &Path) -> Result<(), String> {
        if let Some(file) = &case.reference_dockerfile {
            std::fs::copy(case.dir.join(file), ctx.join("Dockerfile"))
                .map_err(|e| format!("{file}: {e}"))?;
        }
        match self {
            Reference::Docker(_) => {
                engine::build(case, ctx, tag).and_then(|()| engine::save(tag, tar))
            }
            Reference::Buildah(buildah) => buildah.build(case, ctx, tag, tar),
        }
    }

    /// Removes the reference image `tag` wherever it was built, ignoring failure.
    pub fn remove(&self, tag: &str) {
        if let Reference::Buildah(buildah) = self {
            buildah.remove(tag);
        }
    }
}

/// Runs a command and returns its standard output, or an error with everything it printed.
pub fn run(command: &mut Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
