//! Where the build context and the Dockerfile come from: `--context` (and the hidden
//! `--bucket`), `--context-sub-path`, `--git`, `--dockerfile`, and the environment variables
//! that Kaniko's context fetchers read (`GIT_PULL_METHOD`, `GIT_USERNAME`, `GIT_PASSWORD`,
//! `GIT_TOKEN`, `S3_ENDPOINT`, `S3_FORCE_PATH_STYLE`).
//!
//! Prefixes follow Kaniko's `pkg/buildcontext/buildcontext.go`: `gs://`, `s3://`, `dir://`,
//! `git://`, `https://` (Azure Blob Storage when the host is one of its), `tar://` (a path or
//! `stdin`); a value without `://` is a local directory. Fetching is not done here.

use std::fmt;
use std::path::PathBuf;

use kiln_registry::redact::redact_str;

use super::environment::Environment;
use super::error::SettingsError;
use crate::flags::value::GitOption;

/// Kaniko's default context when neither `--context` nor `--bucket` is given.
pub const DEFAULT_CONTEXT: &str = "/workspace/";

const AZURE_BLOB_HOST_SUFFIXES: [&str; 4] = [
    ".blob.core.windows.net",
    ".blob.core.chinacloudapi.cn",
    ".blob.core.cloudapi.de",
    ".blob.core.usgovcloudapi.net",
];

/// The build context's source.
#[derive(Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// A local directory (absolute), with `--context-sub-path` already applied.
    Dir(PathBuf),
    /// `tar://PATH`: a local tarball, possibly compressed.
    Tar(PathBuf),
    /// `tar://stdin`: a tarball on standard input.
    TarStdin,
    /// `git://HOST/REPO.git[#REF[#COMMIT]]`.
    Git(GitContext),
    /// `https://...`: a tarball over HTTPS.
    Https(String),
    /// `https://ACCOUNT.blob.core.windows.net/...`: a tarball in Azure Blob Storage.
    AzureBlob(String),
    /// `s3://BUCKET/PATH`.
    S3 {
        url: String,
        endpoint: Option<String>,
        force_path_style: bool,
    },
    /// `gs://BUCKET/PATH`.
    Gcs(String),
}

// Settings are logged at debug level; a URL may carry userinfo or a signed query, so the
// `Debug` forms show it redacted (DESIGN.md §7).
impl fmt::Debug for ContextSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => f.debug_tuple("Dir").field(path).finish(),
            Self::Tar(path) => f.debug_tuple("Tar").field(path).finish(),
            Self::TarStdin => f.write_str("TarStdin"),
            Self::Git(git) => f.debug_tuple("Git").field(git).finish(),
            Self::Https(url) => f.debug_tuple("Https").field(&redact_str(url)).finish(),
            Self::AzureBlob(url) => f.debug_tuple("AzureBlob").field(&redact_str(url)).finish(),
            Self::S3 {
                url,
                endpoint,
                force_path_style,
            } => f
                .debug_struct("S3")
                .field("url", &redact_str(url))
                .field("endpoint", &endpoint.as_deref().map(redact_str))
                .field("force_path_style", force_path_style)
                .finish(),
            Self::Gcs(url) => f.debug_tuple("Gcs").field(&redact_str(url)).finish(),
        }
    }
}

/// A git build context and the `--git` options.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct GitContext {
    /// The URL to clone, with the scheme `GIT_PULL_METHOD` picks (`https` unless `http`).
    pub url: String,
    /// The reference after the first `#`.
    pub reference: Option<String>,
    /// The commit after the second `#`.
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub single_branch: bool,
    pub recurse_submodules: bool,
    pub insecure_skip_tls: bool,
    pub auth: Option<GitAuth>,
}

/// Basic-auth credentials for a git context, from `GIT_USERNAME`/`GIT_PASSWORD` or
/// `GIT_TOKEN` (which wins, as the username with an empty password, as in Kaniko).
#[derive(Clone, PartialEq, Eq)]
pub struct GitAuth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for GitContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitContext")
            .field("url", &redact_str(&self.url))
            .field("reference", &self.reference)
            .field("commit", &self.commit)
            .field("branch", &self.branch)
            .field("single_branch", &self.single_branch)
            .field("recurse_submodules", &self.recurse_submodules)
            .field("insecure_skip_tls", &self.insecure_skip_tls)
            .field("auth", &self.auth)
            .finish()
    }
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitAuth")
            .field("username", &"<redacted>")
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The context flags as typed.
#[derive(Debug, Clone, Copy)]
pub struct ContextFlags<'a> {
    pub context: Option<&'a str>,
    pub bucket: Option<&'a str>,
    pub sub_path: Option<&'a str>,
    pub git: &'a [Vec<GitOption>],
}

/// The resolved context: its source, and the sub path still to apply inside a remote one
/// once fetched (a local directory has it applied already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSettings {
    pub source: ContextSource,
    pub sub_path: Option<PathBuf>,
}

pub fn resolve_context(
    flags: ContextFlags<'_>,
    env: &Environment,
    warnings: &mut Vec<String>,
) -> Result<ContextSettings, SettingsError> {
    let context = match (flags.bucket, flags.context) {
        (Some(_), Some(_)) => return Err(SettingsError::BucketAndContext),
        (Some(bucket), None) if bucket.contains("://") => bucket.to_owned(),
        (Some(bucket), None) => format!("gs://{bucket}"),
        (None, Some(context)) => context.to_owned(),
        (None, None) => DEFAULT_CONTEXT.to_owned(),
    };
    let source = classify(&context, flags.git, env)?;
    if !flags.git.is_empty() && !matches!(source, ContextSource::Git(_)) {
        warnings.push(format!(
            "--git has no effect: the build context {context:?} is not a git:// context"
        ));
    }
    match source {
        ContextSource::Dir(dir) => {
            if !dir.is_dir() {
                return Err(SettingsError::ContextNotFound { path: dir });
            }
            let Some(sub_path) = flags.sub_path else {
                return Ok(ContextSettings {
                    source: ContextSource::Dir(dir),
                    sub_path: None,
                });
            };
            let joined = dir.join(sub_path.trim_start_matches('/'));
            if !joined.is_dir() {
                return Err(SettingsError::ContextSubPathNotFound {
                    sub_path: sub_path.to_owned(),
                    context: dir,
                });
            }
            Ok(ContextSettings {
                source: ContextSource::Dir(joined),
                sub_path: None,
            })
        }
        ContextSource::Tar(ref path) if !path.is_file() => {
            Err(SettingsError::ContextNotFound { path: path.clone() })
        }
        source => Ok(ContextSettings {
            source,
            sub_path: flags.sub_path.map(PathBuf::from),
        }),
    }
}

fn classify(
    context: &str,
    git: &[Vec<GitOption>],
    env: &Environment,
) -> Result<ContextSource, SettingsError> {
    let Some((scheme, rest)) = context.split_once("://") else {
        return Ok(ContextSource::Dir(env.absolute(context)));
    };
    match scheme {
        "dir" => Ok(ContextSource::Dir(env.absolute(rest))),
        "tar" if rest == "stdin" => Ok(ContextSource::TarStdin),
        "tar" => Ok(ContextSource::Tar(env.absolute(rest))),
        "gs" => Ok(ContextSource::Gcs(context.to_owned())),
        "s3" => Ok(ContextSource::S3 {
            url: context.to_owned(),
            endpoint: env.non_empty("S3_ENDPOINT").map(str::to_owned),
            force_path_style: env
                .var("S3_FORCE_PATH_STYLE")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }),
        "https" => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or(host);
            let host = host.split(':').next().unwrap_or(host);
            if AZURE_BLOB_HOST_SUFFIXES.iter().any(|s| host.ends_with(s)) {
                Ok(ContextSource::AzureBlob(context.to_owned()))
            } else {
                Ok(ContextSource::Https(context.to_owned()))
            }
        }
        "git" => git_context(rest, git, env).map(ContextSource::Git),
        _ => Err(SettingsError::UnknownContextPrefix {
            context: context.to_owned(),
        }),
    }
}

fn git_context(
    rest: &str,
    options: &[Vec<GitOption>],
    env: &Environment,
) -> Result<GitContext, SettingsError> {
    let mut parts = rest.split('#');
    let repo = parts.next().unwrap_or_default();
    let scheme = match env.var("GIT_PULL_METHOD") {
        Some("http") => "http",
        _ => "https",
    };
    let mut git = GitContext {
        url: format!("{scheme}://{repo}"),
        reference: parts.next().filter(|r| !r.is_empty()).map(str::to_owned),
        commit: parts.next().filter(|c| !c.is_empty()).map(str::to_owned),
        ..GitContext::default()
    };
    for option in options.iter().flatten() {
        match option {
            GitOption::Branch(branch) => {
                git.branch = Some(branch.clone()).filter(|b| !b.is_empty())
            }
            GitOption::SingleBranch(v) => git.single_branch = *v,
            GitOption::RecurseSubmodules(v) => git.recurse_submodules = *v,
            GitOption::InsecureSkipTls(v) => git.insecure_skip_tls = *v,
        }
    }
    let username = env.non_empty("GIT_USERNAME");
    let password = env.non_empty("GIT_PASSWORD");
    git.auth = match (env.non_empty("GIT_TOKEN"), username, password) {
        (Some(token), _, _) => Some(GitAuth {
            username: token.to_owned(),
            password: String::new(),
        }),
        (None, None, None) => None,
        (None, user, pass) => Some(GitAuth {
            username: user.unwrap_or_default().to_owned(),
            password: pass.unwrap_or_default().to_owned(),
        }),
    };
    Ok(git)
}

/// Where the Dockerfile is.
#[derive(Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    /// A local file (absolute).
    Path(PathBuf),
    /// An `http://` or `https://` URL.
    Url(String),
    /// A path inside a remote context, found once the context is fetched.
    InContext(PathBuf),
}

impl fmt::Debug for DockerfileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Url(url) => f.debug_tuple("Url").field(&redact_str(url)).finish(),
            Self::InContext(path) => f.debug_tuple("InContext").field(path).finish(),
        }
    }
}

/// Kaniko's `resolveDockerfilePath`: a URL as is; else the path as given if it exists; else
/// the path inside a local context if it exists there; a remote context is looked in after
/// it is fetched.
pub fn resolve_dockerfile(
    dockerfile: &str,
    context: &ContextSettings,
    env: &Environment,
) -> Result<DockerfileSource, SettingsError> {
    if dockerfile.starts_with("http://") || dockerfile.starts_with("https://") {
        return Ok(DockerfileSource::Url(dockerfile.to_owned()));
    }
    let as_given = env.absolute(dockerfile);
    if as_given.is_file() {
        return Ok(DockerfileSource::Path(as_given));
    }
    match &context.source {
        ContextSource::Dir(dir) => {
            let inside = dir.join(dockerfile);
            if inside.is_file() {
                Ok(DockerfileSource::Path(inside))
            } else {
                Err(SettingsError::DockerfileNotFound {
                    path: dockerfile.to_owned(),
                    context: dir.clone(),
                })
            }
        }
        _ => Ok(DockerfileSource::InContext(PathBuf::from(dockerfile))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment::new(vars.iter().copied(), "/work")
    }

    #[test]
    fn context_prefixes_pick_the_source() {
        let cases = [
            ("/workspace/", ContextSource::Dir("/workspace/".into())),
            ("ctx", ContextSource::Dir("/work/ctx".into())),
            ("dir:///src", ContextSource::Dir("/src".into())),
            ("dir://rel", ContextSource::Dir("/work/rel".into())),
            ("tar://stdin", ContextSource::TarStdin),
            ("tar:///c.tar.gz", ContextSource::Tar("/c.tar.gz".into())),
            (
                "gs://bucket/c.tar.gz",
                ContextSource::Gcs("gs://bucket/c.tar.gz".into()),
            ),
            (
                "https://example.com/c.tgz",
                ContextSource::Https("https://example.com/c.tgz".into()),
            ),
            (
                "https://acct.blob.core.windows.net/c/c.tgz",
                ContextSource::AzureBlob("https://acct.blob.core.windows.net/c/c.tgz".into()),
            ),
            (
                "s3://bucket/c.tgz",
                ContextSource::S3 {
                    url: "s3://bucket/c.tgz".into(),
                    endpoint: None,
                    force_path_style: false,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                classify(input, &[], &env(&[])).ok(),
                Some(want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn unknown_prefixes_are_refused() {
        for input in ["http://example.com/c.tgz", "ftp://x", "oci://x"] {
            assert!(
                matches!(
                    classify(input, &[], &env(&[])),
                    Err(SettingsError::UnknownContextPrefix { .. })
                ),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn s3_reads_endpoint_and_path_style_from_the_environment() {
        let vars = [
            ("S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("S3_FORCE_PATH_STYLE", "TRUE"),
        ];
        let got = classify("s3://b/c.tgz", &[], &env(&vars)).ok();
        assert_eq!(
            got,
            Some(ContextSource::S3 {
                url: "s3://b/c.tgz".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                force_path_style: true,
            })
        );
    }

    #[test]
    fn git_context_splits_reference_and_commit_and_applies_options() {
        let options = vec![vec![
            GitOption::Branch("dev".into()),
            GitOption::SingleBranch(true),
        ]];
        let got = git_context(
            "github.com/acme/app.git#refs/heads/main#abc123",
            &options,
            &env(&[]),
        );
        let want = GitContext {
            url: "https://github.com/acme/app.git".into(),
            reference: Some("refs/heads/main".into()),
            commit: Some("abc123".into()),
            branch: Some("dev".into()),
            single_branch: true,
            ..GitContext::default()
        };
        assert_eq!(got.ok(), Some(want));
    }

    #[test]
    fn git_auth_and_pull_method_come_from_the_environment() {
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            &'a str,
            Option<(&'a str, &'a str)>,
        );
        let cases: [Case<'_>; 4] = [
            (&[], "https://h/r.git", None),
            (&[("GIT_PULL_METHOD", "http")], "http://h/r.git", None),
            (&[("GIT_PULL_METHOD", "ssh")], "https://h/r.git", None),
            (
                &[
                    ("GIT_USERNAME", "u"),
                    ("GIT_PASSWORD", "p"),
                    ("GIT_TOKEN", "t"),
                ],
                "https://h/r.git",
                Some(("t", "")),
            ),
        ];
        for (vars, url, auth) in cases {
            let got = git_context("h/r.git", &[], &env(vars))
                .ok()
                .map(|g| (g.url, g.auth));
            let want_auth = auth.map(|(u, p)| GitAuth {
                username: u.into(),
                password: p.into(),
            });
            assert_eq!(got, Some((url.to_owned(), want_auth)), "vars {vars:?}");
        }
    }

    #[test]
    fn git_auth_is_redacted_in_debug_output() {
        let auth = GitAuth {
            username: "alice".into(),
            password: "hunter2".into(),
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
    }

    #[test]
    fn urls_with_credentials_are_redacted_in_debug_output() {
        let secret_url = "https://bob:s3cret@example.com/ctx.tgz?sig=t0ken";
        let shown = [
            format!("{:?}", ContextSource::Https(secret_url.into())),
            format!("{:?}", ContextSource::AzureBlob(secret_url.into())),
            format!("{:?}", ContextSource::Gcs(secret_url.into())),
            format!(
                "{:?}",
                ContextSource::S3 {
                    url: secret_url.into(),
                    endpoint: Some(secret_url.into()),
                    force_path_style: false,
                }
            ),
            format!(
                "{:?}",
                ContextSource::Git(GitContext {
                    url: secret_url.into(),
                    ..GitContext::default()
                })
            ),
            format!("{:?}", DockerfileSource::Url(secret_url.into())),
        ];
        for shown in shown {
            assert!(shown.contains("example.com"), "{shown}");
            for secret in ["bob", "s3cret", "t0ken"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
    }

    #[test]
    fn dockerfile_is_found_as_given_then_in_the_context() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ctx = dir.path().join("ctx");
        std::fs::create_dir_all(ctx.join("sub")).expect("mkdir");
        std::fs::write(ctx.join("Dockerfile"), "FROM scratch\n").expect("write");
        std::fs::write(ctx.join("sub/Other"), "FROM scratch\n").expect("write");
        let env = Environment::new(Vec::<(String, String)>::new(), dir.path());
        let local = ContextSettings {
            source: ContextSource::Dir(ctx.clone()),
            sub_path: None,
        };
        let remote = ContextSettings {
            source: ContextSource::Gcs("gs://b/c.tgz".into()),
            sub_path: None,
        };
        let cases = [
            (
                "ctx/Dockerfile",
                &local,
                Some(DockerfileSource::Path(ctx.join("Dockerfile"))),
            ),
            (
                "Dockerfile",
                &local,
                Some(DockerfileSource::Path(ctx.join("Dockerfile"))),
            ),
            (
                "sub/Other",
                &local,
                Some(DockerfileSource::Path(ctx.join("sub/Other"))),
            ),
            ("Missing", &local, None),
            (
                "https://h/Dockerfile",
                &local,
                Some(DockerfileSource::Url("https://h/Dockerfile".into())),
            ),
            (
                "Dockerfile",
                &remote,
                Some(DockerfileSource::InContext("Dockerfile".into())),
            ),
        ];
        for (input, context, want) in cases {
            assert_eq!(
                resolve_dockerfile(input, context, &env).ok(),
                want,
                "input {input:?}"
            );
        }
    }
}
