//! One test's context, repositories and cache, its builds, and the cache lines of their logs.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use kiln_testsupport::cli::{DockerImage, destination, stderr, stdout_of};
use kiln_testsupport::{RegistryLog, TestEnv, env};
use tempfile::TempDir;

use super::KILN;

// Miss reasons as the log words them. The first build of a step in a fresh cache:
pub const FIRST: &str = "miss: no earlier build of this step is recorded";
pub const PARENT: &str = "miss: the step before it or the base image changed";
pub const VARIABLES: &str = "miss: an ARG or ENV value it sees changed";
pub const SOURCES: &str = "miss: its source files changed";

/// Which layer store a test's cache uses besides the cache repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `--cache-dir` names an existing directory: its layer store is looked up first.
    Dir,
    /// `--cache-dir` names a path that does not exist: the cache repository alone.
    RepoOnly,
}

/// One test's context, repositories and cache.
pub struct Case {
    pub env: TestEnv,
    pub ctx: TempDir,
    _cache_holder: TempDir,
    pub cache_dir: PathBuf,
    /// `kiln-cache-<name>-<pid>`: the destination repository; the base image and the cache
    /// repository are under it.
    pub repository: String,
    pub destination: String,
}

/// One finished build.
pub struct Built {
    pub log: String,
    /// `<stage>.<step> hit`, `<stage>.<step> miss: <reason>`, `<stage>.<step> not cached:
    /// <reason>`, in the order of the log.
    pub outcomes: Vec<String>,
}

impl Case {
    /// A context holding `dockerfile` (`{base}` replaced by this test's base image) and
    /// `files`; the base image is a copy of the test registry's busybox.
    pub fn new(name: &str, store: Store, dockerfile: &str, files: &[(&str, &str)]) -> Case {
        let env = env();
        let destination = destination(&env, "cache", name);
        let repository = destination
            .strip_prefix(&format!("{}/", env.registry))
            .and_then(|r| r.strip_suffix(":test"))
            .expect("a destination in the test registry")
            .to_owned();
        let cache_holder = tempfile::tempdir().expect("temp dir");
        let cache_dir = match store {
            Store::Dir => cache_holder.path().to_owned(),
            Store::RepoOnly => cache_holder.path().join("absent"),
        };
        let case = Case {
            ctx: tempfile::tempdir().expect("temp dir"),
            _cache_holder: cache_holder,
            cache_dir,
            repository,
            destination,
            env,
        };
        stdout_of(
            "skopeo",
            &[
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                &format!("docker://{}/busybox:latest", case.env.registry),
                &format!("docker://{}", case.base()),
            ],
        );
        case.dockerfile(dockerfile);
        for (name, content) in files {
            case.write(name, content);
        }
        case
    }

    /// This test's base image.
    pub fn base(&self) -> String {
        format!("{}/{}/base:latest", self.env.registry, self.repository)
    }

    pub fn dockerfile(&self, text: &str) {
        self.write("Dockerfile", &text.replace("{base}", &self.base()));
    }

    /// Writes the context file `name` (creating its directories), mode 0644.
    pub fn write(&self, name: &str, content: &str) {
        let path = self.ctx.path().join(name);
        let dir = path.parent().expect("a parent");
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self.chmod(name, 0o644);
    }

    pub fn chmod(&self, name: &str, mode: u32) {
        let path = self.ctx.path().join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }

    /// The flags every build of this test passes, then `args`.
    pub fn args<'a>(&'a self, destination: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![
            "--destination",
            destination,
            "--cache",
            "--cache-dir",
            self.cache_dir.to_str().expect("utf-8 path"),
        ];
        all.extend(args);
        all
    }

    /// Builds to this test's destination with `args`; the build must succeed.
    #[track_caller]
    pub fn build(&self, args: &[&str]) -> Built {
        self.build_to(&self.destination, args)
    }

    #[track_caller]
    pub fn build_to(&self, destination: &str, args: &[&str]) -> Built {
        let out = KILN.build(self.ctx.path(), &self.args(destination, args));
        built(&out)
    }

    /// The pushed image in the Docker Engine.
    pub fn pull(&self) -> DockerImage {
        DockerImage::pull(&self.destination)
    }

    /// Requests the registry answered since `log` was opened for this test's repositories.
    pub fn requests(&self, log: &RegistryLog) -> Vec<kiln_testsupport::log::LoggedRequest> {
        let prefix = format!("/v2/{}/", self.repository);
        log.requests()
            .expect("registry log reads")
            .into_iter()
            .filter(|r| r.uri.starts_with(&prefix))
            .collect()
    }

    pub fn registry_log(&self) -> RegistryLog {
        RegistryLog::from_now(&self.env.registry_log).expect("registry log opens")
    }
}

#[track_caller]
pub fn built(out: &Output) -> Built {
    let log = stderr(out);
    assert!(out.status.success(), "the build failed:\n{log}");
    Built {
        outcomes: outcomes(&log),
        log,
    }
}

/// The cache line of each step in `log`, as `<stage>.<step> <outcome>`.
pub fn outcomes(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find("[stage ")? + "[stage ".len()..];
            let (stage, rest) = rest.split_once('/')?;
            let (_, rest) = rest.split_once("] step ")?;
            let (step, rest) = rest.split_once('/')?;
            let (_, what) = rest.split_once(": ")?;
            let what = if what.starts_with("cache hit (") {
                "hit".to_owned()
            } else if let Some(reason) = what.strip_prefix("cache miss: ") {
                format!("miss: {reason}")
            } else if let Some(reason) = what.strip_prefix("not cached: ") {
                format!("not cached: {reason}")
            } else {
                return None;
            };
            Some(format!("{stage}.{step} {what}"))
        })
        .collect()
}
