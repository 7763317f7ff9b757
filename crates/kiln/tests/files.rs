//! COPY and ADD end to end, for what goes beyond copying from the context: heredoc sources,
//! `COPY --from` an image, `--link`, and ADD from http(s) URLs (served by a small HTTP server
//! on 127.0.0.1 inside the test). Images are built with `--no-push --tar-path`, loaded with
//! `docker load` and checked with `docker run`; layers are read from the tarball. Tests that
//! need the registry and Docker are ignored unless run with `--include-ignored` after
//! `scripts/testenv up`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use kiln_testsupport::cli::{DockerImage, Kiln, context, destination, stderr, stdout_of};
use kiln_testsupport::env;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

/// `Last-Modified` of the served files, and the same instant in seconds.
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const LAST_MODIFIED_SECS: &str = "1445412480";

/// `tar -tv` of layer `index` (counting from the end when negative) of the `docker save`
/// tarball `tar`: type and mode, owner, and path of each entry.
fn layer_listing(tar: &Path, index: isize) -> Vec<String> {
    let unpacked = tempfile::tempdir().expect("temp dir");
    let dir = unpacked.path().to_str().expect("utf-8");
    stdout_of("tar", &["-xf", tar.to_str().expect("utf-8"), "-C", dir]);
    let manifest: serde_json::Value =
        serde_json::from_str(&stdout_of("cat", &[&format!("{dir}/manifest.json")]))
            .expect("manifest.json");
    let layers = manifest[0]["Layers"].as_array().expect("layers").clone();
    let at = if index < 0 {
        layers.len() - index.unsigned_abs()
    } else {
        index as usize
    };
    let layer = format!("{dir}/{}", layers[at].as_str().expect("layer path"));
    stdout_of("tar", &["--numeric-owner", "-tvf", &layer])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!("{} {} {}", f[0], f[1], f[5..].join(" "))
        })
        .collect()
}

/// An image built with `--no-push --tar-path` and loaded into Docker.
struct Built {
    image: DockerImage,
    /// The `docker save` tarball kiln wrote.
    tar: PathBuf,
    /// kiln's stderr.
    log: String,
}

/// Builds `dir` into a tarball for the image `name` and loads it.
fn build_and_load(dir: &Path, name: &str) -> Built {
    let name = destination(&env(), "files", name);
    let tar = dir.join("image.tar");
    let out = KILN.build(
        dir,
        &[
            "--no-push",
            "--destination",
            &name,
            "--tar-path",
            tar.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    Built {
        image: DockerImage::load(&tar, &name),
        tar,
        log: stderr(&out),
    }
}

#[test]
#[ignore = "needs the test environment"]
fn heredoc_sources_are_files_of_mode_0644_expanded_unless_quoted() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\n\
         ARG WHO=arg\n\
         ENV NAME=world\n\
         COPY <<EOF /greeting\n\
         hello $NAME 'single $NAME' \\$NAME ${{MISSING:-default}}\n\
         EOF\n\
         COPY <<'RAW' <<-TABS /docs/\n\
         $NAME stays\n\
         RAW\n\
         \ttabbed $WHO\n\
         \tTABS\n\
         COPY --chown=1:2 --chmod=0600 <<X /owned/x\n\
         x\n\
         X\n\
         ADD --link <<A /added\n\
         a\n\
         A\n\
         COPY --chown=1002 <<U /uid-only\n\
         u\n\
         U\n",
        env.registry
    ));
    let image = build_and_load(dir.path(), "heredoc").image;
    let got = image.sh("cat /greeting /docs/RAW /docs/TABS /added; \
         stat -c '%a %u:%g %n' /greeting /docs /docs/RAW /docs/TABS /owned /owned/x /added \
         /uid-only");
    assert_eq!(
        got,
        "hello world 'single world' $NAME default\n\
         $NAME stays\n\
         tabbed arg\n\
         a\n\
         644 0:0 /greeting\n\
         755 0:0 /docs\n\
         644 0:0 /docs/RAW\n\
         644 0:0 /docs/TABS\n\
         600 1:2 /owned\n\
         600 1:2 /owned/x\n\
         644 0:0 /added\n\
         644 1002:1002 /uid-only\n"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn copy_from_an_image_reads_its_filesystem_and_a_stage_name_wins() {
    let env = env();
    let reg = &env.registry;
    let dir = context(&format!(
        "FROM {reg}/busybox:latest AS busybox\n\
         RUN echo from-stage > /marker\n\
         FROM scratch\n\
         COPY --from={reg}/busybox:latest /bin/busybox /bin/\n\
         COPY --from={reg}/busybox:latest /etc/passwd /etc/\n\
         COPY --from=busybox /marker /marker\n"
    ));
    let out = KILN.build(dir.path(), &["--no-push"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("for COPY --from").count(),
        1,
        "the image is extracted once per build"
    );
    let image = build_and_load(dir.path(), "copy-from-image").image;
    assert_eq!(
        image.run(&["/bin/busybox", "cat", "/marker"]),
        "from-stage\n"
    );
    let passwd = image.run(&["/bin/busybox", "head", "-n1", "/etc/passwd"]);
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
}

#[test]
#[ignore = "needs the test environment"]
fn copy_link_makes_a_layer_of_its_own_that_replaces_symlinks_in_the_way() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\n\
         RUN mkdir /real && ln -s /real /linked && mkdir -p /opt/app && chmod 700 /opt\n\
         COPY --link a.txt /linked/a.txt\n\
         COPY --link a.txt /opt/app/\n\
         COPY --link --chown=1:2 a.txt /new/deep/\n\
         RUN stat -c '%a %F %n' /linked /opt /new/deep/a.txt > /seen\n",
        env.registry
    ));
    std::fs::write(dir.path().join("a.txt"), "a\n").expect("file written");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("a.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let Built { image, tar, .. } = build_and_load(dir.path(), "link");
    assert_eq!(
        layer_listing(&tar, -4),
        ["drwxr-xr-x 0/0 linked/", "-rw-r--r-- 0/0 linked/a.txt"]
    );
    assert_eq!(
        layer_listing(&tar, -2),
        [
            "drwxr-xr-x 1/2 new/",
            "drwxr-xr-x 1/2 new/deep/",
            "-rw-r--r-- 1/2 new/deep/a.txt"
        ]
    );
    let got = image.sh(
        "stat -c '%a %u:%g %F %n' /linked /linked/a.txt /opt /opt/app/a.txt /new/deep/a.txt; \
         ls /real | wc -l; cat /seen",
    );
    assert_eq!(
        got,
        "755 0:0 directory /linked\n\
         644 0:0 regular file /linked/a.txt\n\
         755 0:0 directory /opt\n\
         644 0:0 regular file /opt/app/a.txt\n\
         644 1:2 regular file /new/deep/a.txt\n\
         0\n\
         755 directory /linked\n\
         755 directory /opt\n\
         644 regular file /new/deep/a.txt\n"
    );
}

/// A tarball holding `inside.txt`.
fn tarball() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("inside.txt"), "inside\n").expect("file written");
    let tar = dir.path().join("a.tar");
    stdout_of(
        "tar",
        &[
            "-cf",
            tar.to_str().expect("utf-8"),
            "-C",
            dir.path().to_str().expect("utf-8"),
            "inside.txt",
        ],
    );
    std::fs::read(tar).expect("tarball read")
}

/// Serves `/file.txt` and `/a.tar` with `Last-Modified`, `/plain` without, and 404 for the
/// rest, on 127.0.0.1; returns the port.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let tar = tarball();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body, modified): (&str, Vec<u8>, bool) = match path.as_str() {
                "/file.txt" => ("200 OK", b"downloaded\n".to_vec(), true),
                "/a.tar" => ("200 OK", tar.clone(), true),
                "/plain" => ("200 OK", b"plain\n".to_vec(), false),
                _ => ("404 Not Found", b"no\n".to_vec(), false),
            };
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            if modified {
                head.push_str(&format!("Last-Modified: {LAST_MODIFIED}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

fn sha256_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).expect("written");
    let out = stdout_of("sha256sum", &[path.to_str().expect("utf-8")]);
    format!("sha256:{}", out.split_whitespace().next().expect("hash"))
}

#[test]
#[ignore = "needs the test environment"]
fn add_downloads_urls_with_mode_0600_and_the_last_modified_time_without_extracting() {
    let env = env();
    let port = serve();
    let url = format!("http://127.0.0.1:{port}");
    let sum = sha256_of(b"downloaded\n");
    let dir = context(&format!(
        "FROM {}/busybox:latest\n\
         ADD {url}/file.txt /dl/\n\
         ADD {url}/a.tar /t/\n\
         ADD --checksum={sum} --chown=1:2 --chmod=644 {url}/file.txt /checked\n\
         ADD {url}/plain local.txt /mixed/\n",
        env.registry
    ));
    std::fs::write(dir.path().join("local.txt"), "local\n").expect("file written");
    let image = build_and_load(dir.path(), "add-url").image;
    let got = image.sh("cat /dl/file.txt /mixed/local.txt /mixed/plain; ls /t; \
         stat -c '%a %u:%g %Y %n' /dl/file.txt /t/a.tar /checked /mixed/plain");
    assert_eq!(
        got,
        format!(
            "downloaded\nlocal\nplain\na.tar\n\
             600 0:0 {LAST_MODIFIED_SECS} /dl/file.txt\n\
             600 0:0 {LAST_MODIFIED_SECS} /t/a.tar\n\
             644 1:2 {LAST_MODIFIED_SECS} /checked\n\
             600 0:0 0 /mixed/plain\n"
        )
    );
}

#[test]
#[ignore = "needs the test environment"]
fn add_url_errors_name_the_url_without_credentials_and_the_status_or_digests() {
    let env = env();
    let port = serve();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nADD http://user:secret@127.0.0.1:{port}/missing /m\n",
        env.registry
    ));
    let out = KILN.build(dir.path(), &["--no-push"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "GET http://127.0.0.1:{port}/missing: HTTP status 404"
        )),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");

    let wrong = sha256_of(b"something else\n");
    let right = sha256_of(b"downloaded\n");
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}/busybox:latest\nADD --checksum={wrong} http://127.0.0.1:{port}/file.txt /f\n",
            env.registry
        ),
    )
    .expect("Dockerfile written");
    let out = KILN.build(dir.path(), &["--no-push"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "checksum mismatch for http://127.0.0.1:{port}/file.txt: expected {wrong}, got {right}"
        )),
        "{err}"
    );
}

#[test]
fn checksum_on_a_local_source_and_git_urls_are_refused() {
    let dir = context("FROM scratch\nADD --checksum=sha256:0000 a /a\n");
    std::fs::write(dir.path().join("a"), "a").expect("file written");
    let out = KILN.build(dir.path(), &["--no-push"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("checksum requires HTTP(S) or Git sources"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nADD --checksum=sha256:0000 https://user:pw@example.com/repo.git /src\n",
    )
    .expect("Dockerfile written");
    let out = KILN.build(dir.path(), &["--no-push"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--checksum of a Git source (its commit id) is not supported yet"),
        "{err}"
    );
    assert!(!err.contains("pw@"), "{err}");
}

#[test]
#[ignore = "needs the test environment"]
fn url_credentials_stay_out_of_the_image_history_and_the_log() {
    let env = env();
    let port = serve();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nADD http://user:s3cret-word@127.0.0.1:{port}/file.txt /f\n",
        env.registry
    ));
    let Built { image, log, .. } = build_and_load(dir.path(), "url-secret");
    assert!(!log.contains("s3cret-word"), "{log}");
    assert_eq!(image.sh("cat /f"), "downloaded\n");
    let history = stdout_of(
        "docker",
        &[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            image.name(),
        ],
    );
    assert!(history.contains("ADD http://"), "{history}");
    assert!(!history.contains("s3cret-word"), "{history}");
}
