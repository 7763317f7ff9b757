//! `RUN --mount`, `--network` and `--security` end to end through the `kiln` binary: bind
//! mounts from the context (through its `.dockerignore`, never escaping it), a stage and an
//! image,
//! read-only or with writes discarded; cache mounts that outlive a build; tmpfs; secrets that
//! reach the RUN and nothing else (layers, config, history and log lines are searched);
//! ssh mounts that reach a real `ssh-agent` and leave no socket; `--network=none`; and what
//! is refused by name. Images are pushed to the test registry,
//! their layers listed and the result run with `docker`. Ignored unless run with
//! `--include-ignored` after `scripts/testenv up`.

use std::path::Path;

use kiln_testsupport::cli::{
    DockerImage, Kiln, context_with, destination, fetch, stderr, stdout_of,
};
use kiln_testsupport::env;
use tempfile::TempDir;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

/// Keeps the kaniko dir, which lies inside the context, out of it.
const IGNORE_KANIKO: &[(&str, &str)] = &[(".dockerignore", "kaniko\n")];

/// The paths a layer blob holds, without `./` and trailing slashes.
fn layer_paths(blob: &Path) -> Vec<String> {
    let listing = stdout_of("tar", &["-tzf", blob.to_str().expect("utf-8")]);
    let mut paths: Vec<String> = listing
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    paths.sort();
    paths
}

#[test]
#[ignore = "needs the test environment"]
fn bind_cache_and_tmpfs_mounts_work_and_leave_nothing_in_the_layer() {
    let env = env();
    for isolation in ["chroot", "rootless"] {
        let dir = context_with(
            &format!(
                "FROM {}/busybox:latest\n\
             WORKDIR /work\n\
             RUN --mount=type=bind,source=data,target=/mnt/data \\\n\
                 --mount=type=bind,target=ctx,rw \\\n\
                 --mount=type=cache,target=/var/cache/app,uid=1000,mode=0700 \\\n\
                 --mount=type=tmpfs,target=/scratch,size=1m \\\n\
                 cat /mnt/data/hello > /out-bind && ls -A /work/ctx/data > /out-ctx && \\\n\
                 echo changed > /work/ctx/data/hello && cat /work/ctx/data/hello >> /out-ctx && \\\n\
                 stat -c '%a %u' /var/cache/app > /out-cache && \\\n\
                 echo run >> /var/cache/app/runs && echo x > /scratch/x && \\\n\
                 (echo no 2>/dev/null > /mnt/data/hello || echo read-only > /out-ro)\n\
             RUN --mount=type=cache,target=/var/cache/app wc -l < /var/cache/app/runs > /out-runs\n",
                env.registry
            ),
            IGNORE_KANIKO,
        );
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::write(data.join("hello"), "from-context\n").expect("write");
        std::fs::write(data.join("ignored.txt"), "hidden\n").expect("write");
        std::fs::write(
            dir.path().join(".dockerignore"),
            "kaniko\ndata/ignored.txt\n",
        )
        .expect("dockerignore");
        let dest = destination(&env, "run-mount", &format!("bind-{isolation}"));
        let isolation_flag = format!("--isolation={isolation}");
        for runs in ["1", "2"] {
            let out =
                KILN.build_with_env(dir.path(), &["--destination", &dest, &isolation_flag], &[]);
            assert!(out.status.success(), "{isolation}: {}", stderr(&out));
            let got = DockerImage::pull(&dest).sh(
                "cat /out-bind /out-ctx /out-cache /out-ro /out-runs; \
                 for p in /work/ctx /mnt /var/cache/app /scratch; do test -e $p && echo $p; done; \
                 true",
            );
            assert_eq!(
                got,
                format!("from-context\nhello\nchanged\n700 1000\nread-only\n{runs}\n"),
                "{isolation}: the cache keeps its runs from one build to the next"
            );
        }
        assert_eq!(
            std::fs::read_to_string(data.join("hello")).expect("read"),
            "from-context\n",
            "{isolation}: a rw bind wrote to the context"
        );
        let (_blobs, layers) = fetch(&dest);
        let n = layers.len();
        assert_eq!(
            layer_paths(&layers[n - 2]),
            ["out-bind", "out-cache", "out-ctx", "out-ro"],
            "{isolation}: the mounting RUN's layer"
        );
        assert_eq!(layer_paths(&layers[n - 1]), ["out-runs"], "{isolation}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn bind_mounts_come_from_a_stage_and_cannot_leave_the_context() {
    let env = env();
    let dir = context_with(
        &format!(
            "FROM {0}/busybox:latest AS build\n\
         RUN echo built > /artifact && mkdir /seed && echo seeded > /seed/f\n\
         FROM {0}/busybox:latest\n\
         RUN --mount=type=bind,from=build,source=/artifact,target=/a cat /a > /copied\n\
         RUN --mount=type=bind,source=link,target=/x cat /x/marker > /through-link\n\
         RUN --mount=type=bind,source=../../..,target=/up ls /up > /up-listing\n\
         RUN --mount=type=bind,from={0}/busybox:latest,source=/bin,target=/img \\\n\
             test -x /img/busybox && echo image > /from-image\n\
         RUN --mount=type=cache,id=s,target=/c,from=build,source=/seed cat /c/f > /cache-seed\n",
            env.registry
        ),
        IGNORE_KANIKO,
    );
    std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
    std::fs::write(dir.path().join("etc/marker"), "inside\n").expect("write");
    std::os::unix::fs::symlink("/etc", dir.path().join("link")).expect("symlink");
    let dest = destination(&env, "run-mount", "stage");
    let out = KILN.build_with_env(dir.path(), &["--destination", &dest], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = DockerImage::pull(&dest)
        .sh("cat /copied /through-link /from-image /cache-seed; sort /up-listing | tr '\\n' ' '");
    assert_eq!(got, "built\ninside\nimage\nseeded\nDockerfile etc link ");

    let missing = context_with(
        &format!(
            "FROM {}/busybox:latest\nRUN --mount=type=bind,source=nope,target=/x true\n",
            env.registry
        ),
        IGNORE_KANIKO,
    );
    let out = KILN.build_with_env(missing.path(), &["--no-push"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bind source nope does not exist in the build context"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs the test environment"]
fn secrets_reach_the_run_and_nothing_else() {
    let env = env();
    let file_secret = "file-s3cr3t-3b1f9";
    let env_secret = "env-s3cr3t-77c2a";
    let dir = context_with(
        &format!(
            "FROM {}/busybox:latest\n\
         RUN --mount=type=secret,id=token \\\n\
             stat -c '%a %u %g' /run/secrets/token > /stat && \\\n\
             sha256sum < /run/secrets/token | cut -c1-16 > /sum && \\\n\
             echo \"$(cat /run/secrets/token)\" | wc -c > /len\n\
         RUN --mount=type=secret,id=api,env=API_TOKEN,target=/etc/api,mode=0440,uid=1000,gid=50 \\\n\
             stat -c '%a %u %g' /etc/api > /api-stat && \\\n\
             test \"$API_TOKEN\" = \"$(cat /etc/api)\" && echo same > /api-same\n\
         RUN --mount=type=secret,id=absent ls /run/secrets 2>&1 | wc -l > /absent\n",
            env.registry
        ),
        IGNORE_KANIKO,
    );
    let secret_file = dir.path().join("token.txt");
    std::fs::write(&secret_file, file_secret).expect("write");
    std::fs::write(dir.path().join(".dockerignore"), "kaniko\ntoken.txt\n").expect("dockerignore");
    let dest = destination(&env, "run-mount", "secret");
    let src = format!("id=token,src={}", secret_file.display());
    let out = KILN.build_with_env(
        dir.path(),
        &[
            "--destination",
            &dest,
            "--secret",
            &src,
            "--secret",
            "id=api,env=KILN_TEST_API",
            "--verbosity=trace",
        ],
        &[("KILN_TEST_API", env_secret)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for secret in [file_secret, env_secret] {
        assert!(!stderr(&out).contains(secret), "a log line shows {secret}");
    }
    let sum = stdout_of(
        "sh",
        &[
            "-c",
            &format!("printf %s {file_secret} | sha256sum | cut -c1-16"),
        ],
    );
    let got = DockerImage::pull(&dest).sh("cat /stat /sum /len /api-stat /api-same /absent; \
         test -e /run/secrets || test -e /etc/api || echo clean");
    assert_eq!(
        got,
        format!(
            "400 0 0\n{sum}{}\n440 1000 50\nsame\n1\nclean\n",
            file_secret.len() + 1
        )
    );

    // Every blob of the pushed image, decompressed, and its config: no trace of either secret.
    let (blobs, _) = fetch(&dest);
    let everything = stdout_of(
        "sh",
        &[
            "-c",
            &format!(
                "for f in {}/image/*; do zcat -f \"$f\"; done",
                blobs.path().display()
            ),
        ],
    );
    for secret in [file_secret, env_secret] {
        assert!(!everything.contains(secret), "the image holds {secret}");
    }
    assert!(
        everything.contains("/run/secrets/token"),
        "the history was searched"
    );

    let required = context_with(
        &format!(
            "FROM {}/busybox:latest\nRUN --mount=type=secret,id=npm,required true\n",
            env.registry
        ),
        IGNORE_KANIKO,
    );
    let out = KILN.build_with_env(required.path(), &["--no-push"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("secret \"npm\" is required but no --secret id=npm was given"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs the test environment"]
fn network_none_has_only_loopback() {
    let env = env();
    let dir = context_with(
        &format!(
            "FROM {}/busybox:latest\n\
         RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /none\n\
         RUN --network=host tail -n +3 /proc/net/dev | wc -l > /host\n\
         RUN --network=default tail -n +3 /proc/net/dev | wc -l > /default\n",
            env.registry
        ),
        IGNORE_KANIKO,
    );
    let dest = destination(&env, "run-mount", "network");
    let out = KILN.build_with_env(dir.path(), &["--destination", &dest], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = DockerImage::pull(&dest)
        .sh("cat /none; test $(cat /host) -gt 1 && cmp /host /default && echo host");
    assert_eq!(got, "lo\nhost\n");
}

#[test]
#[ignore = "needs the test environment"]
fn insecure_security_is_refused_by_name() {
    let env = env();
    let dir = context_with(
        &format!(
            "FROM {}/busybox:latest\nRUN --security=insecure true\n",
            env.registry
        ),
        IGNORE_KANIKO,
    );
    let out = KILN.build_with_env(dir.path(), &["--no-push"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "RUN --security=insecure (BuildKit grants it only with the entitlement --allow \
             security.insecure, which kiln does not have) is not supported yet"
        ),
        "{}",
        stderr(&out)
    );
}

/// An `ssh-agent` holding one new key (comment `kiln-ssh-test`), stopped when dropped.
struct Agent {
    dir: TempDir,
    process: std::process::Child,
}

impl Agent {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("key");
        let socket = dir.path().join("agent.sock");
        let key_path = key.to_str().expect("utf-8");
        stdout_of(
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "kiln-ssh-test",
                "-f",
                key_path,
            ],
        );
        let process = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent runs");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let added = std::process::Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .expect("ssh-add runs");
        assert!(added.status.success(), "ssh-add: {added:?}");
        Self { dir, process }
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("agent.sock")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A Perl script (Debian's `perl-base` has what it needs) that asks the agent at
/// `$SSH_AUTH_SOCK` for its identities (`SSH_AGENTC_REQUEST_IDENTITIES`) and prints the answer's
/// type, the number of keys and the last key's comment.
const REQUEST_IDENTITIES: &str = r#"use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Peer => $ENV{SSH_AUTH_SOCK}) or die "connect: $!";
print $s pack("NC", 1, 11);
read($s, my $len, 4) == 4 or die "no answer";
read($s, my $body, unpack("N", $len));
my ($type, $n) = unpack("CN", $body);
my $rest = substr($body, 5);
my $comment = "";
for (1 .. $n) {
    my $blob = unpack("N", $rest); $rest = substr($rest, 4 + $blob);
    my $c = unpack("N", $rest); $comment = substr($rest, 4, $c); $rest = substr($rest, 4 + $c);
}
print "$type $n $comment\n";
"#;

#[test]
#[ignore = "needs the test environment"]
fn ssh_mounts_reach_the_agent_and_leave_nothing_in_the_layer() {
    let env = env();
    let agent = Agent::start();
    for isolation in ["chroot", "rootless"] {
        let dir = context_with(
            &format!(
                "FROM {}/debian:bookworm\n\
             COPY ask.pl /ask.pl\n\
             RUN --mount=type=ssh \\\n\
                 perl /ask.pl > /default && echo \"$SSH_AUTH_SOCK\" > /sock && \\\n\
                 stat -c '%F %a %u %g' \"$SSH_AUTH_SOCK\" > /stat\n\
             RUN --mount=type=ssh,id=deploy,target=/tmp/agent,mode=0660,uid=1000,gid=50 \\\n\
                 SSH_AUTH_SOCK=/tmp/agent perl /ask.pl > /deploy && \\\n\
                 stat -c '%F %a %u %g' /tmp/agent >> /stat\n\
             RUN --mount=type=ssh,id=absent test -z \"$(ls /run/buildkit 2>/dev/null)\" && \\\n\
                 echo optional > /absent\n",
                env.registry
            ),
            IGNORE_KANIKO,
        );
        std::fs::write(dir.path().join("ask.pl"), REQUEST_IDENTITIES).expect("script");
        let dest = destination(&env, "run-mount", &format!("ssh-{isolation}"));
        let deploy = format!("deploy={}", agent.socket().display());
        let out = KILN.build_with_env(
            dir.path(),
            &[
                "--destination",
                &dest,
                &format!("--isolation={isolation}"),
                "--ssh",
                "default",
                "--ssh",
                &deploy,
            ],
            &[("SSH_AUTH_SOCK", agent.socket().to_str().expect("utf-8"))],
        );
        assert!(out.status.success(), "{isolation}: {}", stderr(&out));
        let got = DockerImage::pull(&dest).sh("cat /default /deploy /sock /stat /absent; \
             test -e /run/buildkit || test -e /tmp/agent || echo clean");
        assert_eq!(
            got,
            "12 1 kiln-ssh-test\n12 1 kiln-ssh-test\n/run/buildkit/ssh_agent.0\n\
             socket 600 0 0\nsocket 660 1000 50\noptional\nclean\n",
            "{isolation}"
        );
        let (_blobs, layers) = fetch(&dest);
        let n = layers.len();
        let paths: Vec<String> = layers[n - 3..]
            .iter()
            .flat_map(|l| layer_paths(l))
            .collect();
        assert_eq!(
            paths,
            ["default", "sock", "stat", "deploy", "stat", "absent"],
            "{isolation}: the RUNs' layers hold their files and no socket"
        );
    }

    let required = context_with(
        &format!(
            "FROM {}/busybox:latest\nRUN --mount=type=ssh,id=gh,required=true true\n",
            env.registry
        ),
        IGNORE_KANIKO,
    );
    let out = KILN.build_with_env(required.path(), &["--no-push"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ssh agent \"gh\" is required but no --ssh gh was given"),
        "{}",
        stderr(&out)
    );
    let key = agent.dir.path().join("key");
    let out = KILN.build_with_env(
        required.path(),
        &["--no-push", "--ssh", &format!("gh={}", key.display())],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not an agent socket: kiln forwards an ssh-agent"),
        "{}",
        stderr(&out)
    );
}
