//! `kiln warm` end to end against the plain test registry: `--image`, `--dockerfile` with
//! build args and stage references, `--force`, `--cache-ttl`, platform selection from an
//! index, Kaniko's failure rule, and the cache read back by kiln's own reader, `skopeo` and
//! `umoci`. Needs `scripts/testenv up`. Tests run in parallel against one registry, so none
//! counts the registry's requests; a run that must not touch the registry gets a registry map
//! that leads nowhere instead.

use std::path::Path;
use std::time::Duration;

use kiln_build::warm::{BaseImageCache, Entry};
use kiln_oci::{Platform, Reference};
use kiln_testsupport::cli::{Kiln, stderr};
use kiln_testsupport::{TestEnv, env};
use tempfile::TempDir;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));
const TTL: Duration = Duration::from_secs(336 * 3600);

fn image(env: &TestEnv, name: &str) -> String {
    format!("{}/{name}", env.registry)
}

fn reference(s: &str) -> Reference {
    Reference::parse(s).expect("reference")
}

fn platform(s: &str) -> Platform {
    s.parse().expect("platform")
}

fn entries(cache_dir: &Path) -> Vec<Entry> {
    BaseImageCache::new(cache_dir, TTL)
        .entries()
        .expect("cache reads")
}

fn cache_dir() -> (TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cache").display().to_string();
    (dir, path)
}

#[test]
#[ignore = "needs the test environment"]
fn images_are_cached_once_and_found_by_reference_and_digest() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let busybox = image(&env, "busybox:latest");
    let oci = image(&env, "busybox-oci:latest");
    let amd64 = "--customPlatform=linux/amd64";
    let out = KILN.warm(&["-c", &cache, "-i", &busybox, "--image", &oci, amd64]);
    assert!(out.status.success(), "{}", stderr(&out));

    let reader = BaseImageCache::new(Path::new(&cache), TTL);
    let linux_amd64 = platform("linux/amd64");
    let by_tag = reader
        .lookup(&reference(&busybox), &linux_amd64)
        .expect("lookup")
        .expect("busybox is cached");
    assert_eq!(by_tag.image.layers().count(), 1);
    let pinned = format!("{}@{}", image(&env, "busybox"), by_tag.digest());
    let by_digest = reader
        .lookup(&reference(&pinned), &linux_amd64)
        .expect("lookup")
        .expect("found by digest");
    assert_eq!(by_digest.digest(), by_tag.digest());
    assert!(
        reader
            .lookup(&reference(&oci), &linux_amd64)
            .expect("lookup")
            .is_some()
    );
    assert!(Path::new(&cache).join("v1/oci-layout").is_file());

    // A second run keeps both without asking the registry: its only route to the registry
    // leads nowhere.
    let blackhole = format!("--registry-map={}=127.0.0.1:1", env.registry);
    let out = KILN.warm(&[
        "-c",
        &cache,
        "-i",
        &busybox,
        "-i",
        &oci,
        amd64,
        &blackhole,
        "--skip-default-registry-fallback",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("already cached").count(), 2);
    assert_eq!(entries(Path::new(&cache)).len(), 2);
}

#[test]
#[ignore = "needs the test environment"]
fn dockerfile_bases_are_expanded_and_stages_and_scratch_skipped() {
    let env = env();
    let (dir, cache) = cache_dir();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "ARG REGISTRY=nowhere.example\nARG BASE=busybox\n\
         FROM ${REGISTRY}/${BASE}:latest AS build\nRUN true\n\
         FROM build\nFROM scratch\nFROM Build AS again\n\
         FROM $REGISTRY/busybox:latest\nFROM ${REGISTRY}/debian:bookworm AS deb\n",
    )
    .expect("write Dockerfile");
    let out = KILN.warm(&[
        "-c",
        &cache,
        "-d",
        &dockerfile.display().to_string(),
        "--build-arg",
        &format!("REGISTRY={}", env.registry),
        "--build-arg=BASE=busybox-oci",
        "--custom-platform=linux/amd64",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut cached: Vec<String> = entries(Path::new(&cache))
        .into_iter()
        .map(|e| e.reference)
        .collect();
    cached.sort();
    assert_eq!(
        cached,
        [
            image(&env, "busybox-oci:latest"),
            image(&env, "busybox:latest"),
            image(&env, "debian:bookworm"),
        ]
    );
    // The multi-layer image arrives whole: every layer, at its declared size.
    let debian = BaseImageCache::new(Path::new(&cache), TTL)
        .lookup(
            &reference(&image(&env, "debian:bookworm")),
            &platform("linux/amd64"),
        )
        .expect("lookup")
        .expect("debian is cached");
    assert_eq!(debian.image.layers().count(), 3);
    for (descriptor, file) in debian.image.layers() {
        let size = std::fs::metadata(file).expect("layer file").len();
        assert_eq!(size, descriptor.size, "{}", descriptor.digest);
    }
}

#[test]
#[ignore = "needs the test environment"]
fn force_pulls_a_cached_image_again() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let busybox = image(&env, "busybox:latest");
    assert!(KILN.warm(&["-c", &cache, "-i", &busybox]).status.success());
    let first = entries(Path::new(&cache)).remove(0);

    let out = KILN.warm(&["-c", &cache, "-i", &busybox, "--force"]);
    assert!(out.status.success());
    assert!(!stderr(&out).contains("already cached"), "{}", stderr(&out));
    assert!(stderr(&out).contains(" cached "), "{}", stderr(&out));
    let again = entries(Path::new(&cache));
    assert_eq!(again.len(), 1, "the entry is replaced, not added");
    assert_eq!(again[0].digest(), first.digest());
    assert!(again[0].created > first.created);
}

#[test]
#[ignore = "needs the test environment"]
fn an_entry_older_than_the_ttl_is_pulled_again() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let busybox = image(&env, "busybox:latest");
    assert!(KILN.warm(&["-c", &cache, "-i", &busybox]).status.success());
    let first = entries(Path::new(&cache)).remove(0);
    std::thread::sleep(Duration::from_millis(1100));

    // Still fresh under the default TTL.
    let out = KILN.warm(&["-c", &cache, "-i", &busybox]);
    assert!(stderr(&out).contains("already cached"), "{}", stderr(&out));
    // Expired under one second.
    let out = KILN.warm(&["-c", &cache, "-i", &busybox, "--cache-ttl=1s"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("cache entry expired"),
        "{}",
        stderr(&out)
    );
    let again = entries(Path::new(&cache)).remove(0);
    assert!(again.created > first.created);
    // The executor's reader applies the same TTL.
    let short = BaseImageCache::new(Path::new(&cache), Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(1100));
    let found = short
        .lookup(&reference(&busybox), &Platform::host())
        .expect("lookup");
    assert!(found.is_none(), "an expired entry is not returned");
}

#[test]
#[ignore = "needs the test environment"]
fn the_platform_is_selected_from_an_index() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let multiarch = image(&env, "multiarch:latest");
    for flag in [
        "--customPlatform=linux/arm64",
        "--custom-platform=linux/amd64",
    ] {
        let out = KILN.warm(&["-c", &cache, "-i", &multiarch, flag]);
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
    }
    let reader = BaseImageCache::new(Path::new(&cache), TTL);
    let arm = reader
        .lookup(&reference(&multiarch), &platform("linux/arm64/v8"))
        .expect("lookup")
        .expect("arm64 cached");
    let amd = reader
        .lookup(&reference(&multiarch), &platform("linux/amd64"))
        .expect("lookup")
        .expect("amd64 cached");
    assert_ne!(arm.digest(), amd.digest());
    let arch = |c: &kiln_build::warm::CachedImage| c.image.config().expect("config").architecture;
    assert_eq!(
        (arch(&arm).as_str(), arch(&amd).as_str()),
        ("arm64", "amd64")
    );
    assert_eq!(arm.entry.index_digest, amd.entry.index_digest);
    assert!(arm.entry.index_digest.is_some());

    let out = KILN.warm(&[
        "-c",
        &cache,
        "-i",
        &multiarch,
        "--customPlatform=linux/s390x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("failed to warm any of the 1 images"),
        "{text}"
    );
    assert!(
        text.contains(&format!("registry {}", env.registry)),
        "{text}"
    );
    assert!(text.contains("linux/s390x"), "{text}");
}

#[test]
#[ignore = "needs the test environment"]
fn a_failed_image_is_reported_and_the_others_are_still_cached() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let missing = image(&env, "no-such-image:1");
    let busybox = image(&env, "busybox:latest");
    // As Kaniko's warmer: a failure among successes is a warning, exit code 0.
    let out = KILN.warm(&["-c", &cache, "-i", &missing, "-i", &busybox]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("failed to warm {missing}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("registry {}", env.registry)),
        "{text}"
    );
    assert!(text.contains("manifest unknown"), "{text}");
    assert_eq!(entries(Path::new(&cache)).len(), 1);
    // When nothing could be cached, the run fails.
    let out = KILN.warm(&["-c", &cache, "-i", &missing, "-i", "Bad/Reference"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("error: failed to warm any of the 2 images"),
        "{text}"
    );
    assert!(
        text.contains("\"Bad/Reference\" is not a valid image reference"),
        "{text}"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn skopeo_and_umoci_read_the_cached_layout() {
    let env = env();
    let (dir, cache) = cache_dir();
    let oci = image(&env, "busybox-oci:latest");
    let multiarch = image(&env, "multiarch:latest");
    let out = KILN.warm(&[
        "-c",
        &cache,
        "-i",
        &oci,
        "-i",
        &multiarch,
        "--customPlatform=linux/arm64",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let layout = format!("{cache}/v1");
    for entry in entries(Path::new(&cache)) {
        let name = entry
            .descriptor
            .ref_name()
            .expect("entries are named")
            .to_owned();
        let inspect = std::process::Command::new("skopeo")
            .args(["inspect", &format!("oci:{layout}:{name}")])
            .output()
            .expect("skopeo runs");
        let text = String::from_utf8_lossy(&inspect.stdout);
        assert!(
            inspect.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&inspect.stderr)
        );
        assert!(text.contains(entry.digest().as_str()), "{name}: {text}");

        let bundle = dir.path().join(format!("bundle-{}", entry.digest().hex()));
        let unpack = std::process::Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{layout}:{name}"))
            .arg(&bundle)
            .output()
            .expect("umoci runs");
        assert!(
            unpack.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&unpack.stderr)
        );
        assert!(bundle.join("rootfs/bin/busybox").is_file(), "{name}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn two_warmers_sharing_a_cache_keep_each_others_entries() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let spawn = |name: &str| {
        KILN.warm_command()
            .args(["--log-format=text", "-c", &cache, "-i"])
            .arg(image(&env, name))
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kiln starts")
    };
    let children = [
        spawn("busybox:latest"),
        spawn("busybox-oci:latest"),
        spawn("multiarch:latest"),
    ];
    for child in children {
        let out = child.wait_with_output().expect("kiln runs");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(entries(Path::new(&cache)).len(), 3);
    let blobs = Path::new(&cache).join("v1/blobs/sha256");
    let leftovers: Vec<_> = std::fs::read_dir(&blobs)
        .expect("blobs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() != 64)
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
#[ignore = "needs the test environment"]
fn a_registry_map_sends_the_pull_to_the_mirror() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let out = KILN.warm(&[
        "-c",
        &cache,
        "-i",
        "unreachable.invalid/busybox:latest",
        &format!("--registry-map=unreachable.invalid={}", env.registry),
        "--skip-default-registry-fallback",
    ]);
    // The name does not resolve and there is no fallback: the mirror served it.
    assert!(out.status.success(), "{}", stderr(&out));
    let cached = entries(Path::new(&cache));
    assert_eq!(cached[0].reference, "unreachable.invalid/busybox:latest");
}

#[test]
#[ignore = "needs the test environment"]
fn the_pull_side_tls_flags_reach_the_registry_client() {
    let env = env();
    let (_dir, cache) = cache_dir();
    // The TLS registry holds no base images: getting as far as "manifest unknown" shows that
    // the TLS handshake and the basic auth worked.
    let missing = format!("{}/busybox:latest", env.tls_registry);
    let config = tempfile::tempdir().expect("temp dir");
    let auth = base64_encode(&format!("{}:{}", env.tls_user, env.tls_password));
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            env.tls_registry
        ),
    )
    .expect("write config.json");
    let run = |extra: &[&str]| {
        let config = config.path().to_str().expect("utf-8 path");
        let args = [&["-c", cache.as_str(), "-i", missing.as_str()][..], extra].concat();
        let out = KILN.warm_with_env(&args, &[("DOCKER_CONFIG", config)]);
        assert_eq!(out.status.code(), Some(1));
        stderr(&out)
    };
    let untrusted = run(&[]);
    assert!(!untrusted.contains("manifest unknown"), "{untrusted}");
    assert!(untrusted.contains(&env.tls_registry), "{untrusted}");
    let certificate = format!("{}={}", env.tls_registry, env.tls_ca.display());
    for flags in [
        vec!["--registry-certificate", certificate.as_str()],
        vec!["--skip-tls-verify-pull"],
        vec!["--skip-tls-verify-registry", env.tls_registry.as_str()],
    ] {
        let text = run(&flags);
        assert!(text.contains("manifest unknown"), "{flags:?}: {text}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn credentials_from_docker_config_answer_a_token_challenge() {
    let env = env();
    let (_dir, cache) = cache_dir();
    // The token registry gives anonymous pulls a token without access, and holds no images:
    // "manifest unknown" means the credentials bought a token that works.
    let missing = format!("{}/busybox:latest", env.token_registry);
    let with_config = |config: &Path| {
        let config = config.to_str().expect("utf-8 path");
        let out = KILN.warm_with_env(
            &["-c", &cache, "-i", &missing],
            &[("DOCKER_CONFIG", config)],
        );
        assert_eq!(out.status.code(), Some(1));
        stderr(&out)
    };
    let empty = tempfile::tempdir().expect("temp dir");
    let anonymous = with_config(empty.path());
    let refused = format!("registry {} refused the credentials", env.token_registry);
    assert!(anonymous.contains(&refused), "{anonymous}");

    let config = tempfile::tempdir().expect("temp dir");
    let auth = base64_encode(&format!("{}:{}", env.token_user, env.token_password));
    std::fs::write(
        config.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            env.token_registry
        ),
    )
    .expect("write config.json");
    let authenticated = with_config(config.path());
    assert!(
        authenticated.contains("manifest unknown"),
        "{authenticated}"
    );
    assert!(
        !authenticated.contains(&env.token_password),
        "the password leaked"
    );
}

/// Standard base64, for a `config.json` `auth` field.
fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
#[ignore = "needs the test environment"]
fn a_dockerfile_is_fetched_from_a_url() {
    use std::io::{Read, Write};

    let env = env();
    let (_dir, cache) = cache_dir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("address").port();
    let body = format!("FROM {}/busybox-oci:latest AS a\nFROM a\n", env.registry);
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).expect("respond");
    });
    let url = format!("http://127.0.0.1:{port}/Dockerfile");
    let out = KILN.warm(&["-c", &cache, "-d", &url]);
    server.join().expect("server");
    assert!(out.status.success(), "{}", stderr(&out));
    let cached: Vec<String> = entries(Path::new(&cache))
        .into_iter()
        .map(|e| e.reference)
        .collect();
    assert_eq!(cached, [image(&env, "busybox-oci:latest")]);
}

#[test]
#[ignore = "needs the test environment"]
fn a_damaged_cache_entry_is_repaired_by_the_next_warm() {
    let env = env();
    let (_dir, cache) = cache_dir();
    let busybox = image(&env, "busybox:latest");
    assert!(KILN.warm(&["-c", &cache, "-i", &busybox]).status.success());
    let reader = BaseImageCache::new(Path::new(&cache), TTL);
    let host = Platform::host();
    let cached = reader
        .lookup(&reference(&busybox), &host)
        .expect("lookup")
        .expect("cached");
    let blobs = Path::new(&cache).join("v1/blobs/sha256");
    let (_, layer) = cached.image.layers().next().expect("one layer");
    std::fs::write(layer, b"truncated").expect("damage the layer");
    std::fs::write(blobs.join(cached.digest().hex()), b"{}").expect("damage the manifest");
    assert!(reader.lookup(&reference(&busybox), &host).is_err());

    let out = KILN.warm(&["-c", &cache, "-i", &busybox]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cached image is unusable, pulling it again"),
        "{}",
        stderr(&out)
    );
    let repaired = reader
        .lookup(&reference(&busybox), &host)
        .expect("the cache reads again")
        .expect("cached");
    assert_eq!(repaired.digest(), cached.digest());
    let (descriptor, layer) = repaired.image.layers().next().expect("one layer");
    assert_eq!(
        std::fs::metadata(layer).expect("layer").len(),
        descriptor.size
    );
}
