//! Real documents written by other tools, read with kiln-oci's types: the test registry's
//! manifests, indexes and configs (both media-type families), and a config that Docker itself
//! wrote for a Dockerfile using every instruction that sets a config field.

use std::io::Read;

use kiln_oci::{ConfigFile, Digest, Family, ManifestOrIndex, MediaType, Platform};
use serde_json::Value;

use crate::{json, run};

/// The plain registry's address: `KILN_TEST_REGISTRY`, else the line in the test environment's
/// env file (`$KILN_TESTENV_DIR/env`, default `/var/cache/kiln/testenv/env`), as
/// `kiln_testsupport::env()` reads it. (kiln-testsupport itself depends on this crate.)
fn registry() -> String {
    const KEY: &str = "KILN_TEST_REGISTRY";
    if let Ok(value) = std::env::var(KEY) {
        return value;
    }
    let dir =
        std::env::var("KILN_TESTENV_DIR").unwrap_or_else(|_| "/var/cache/kiln/testenv".into());
    let file = std::path::Path::new(&dir).join("env");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == KEY)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| {
            panic!(
                "{KEY} is not set and {} does not name it: run `scripts/testenv up`",
                file.display()
            )
        })
}

/// `skopeo inspect --raw` of an image in the test registry (plain HTTP).
fn raw(image: &str, config: bool) -> Vec<u8> {
    let src = format!("docker://{}/{image}", registry());
    let mut args = vec!["inspect", "--tls-verify=false", "--raw"];
    if config {
        args.push("--config");
    }
    args.push(&src);
    run("skopeo", &args).into_bytes()
}

/// `v` without object members that are `null` or `false`, which kiln omits when it writes a
/// config (Docker writes some of them, e.g. `"Entrypoint": null`); the meaning is the same.
fn significant(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !matches!(v, Value::Null | Value::Bool(false)))
                .map(|(k, v)| (k, significant(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(significant).collect()),
        other => other,
    }
}

/// Parses a config and checks that writing it again loses nothing significant.
fn parse_config_losslessly(bytes: &[u8]) -> ConfigFile {
    let config = ConfigFile::parse(bytes).unwrap();
    let original: Value = serde_json::from_slice(bytes).unwrap();
    let rewritten: Value = serde_json::from_slice(&config.to_json()).unwrap();
    assert_eq!(significant(rewritten), significant(original));
    config
}

#[test]
#[ignore = "needs the test environment"]
fn test_registry_images_parse_in_both_families() {
    for (image, family) in [
        ("busybox:latest", Family::Docker),
        ("busybox-oci:latest", Family::Oci),
        ("debian:bookworm", Family::Docker),
    ] {
        let bytes = raw(image, false);
        let ManifestOrIndex::Manifest(m) = ManifestOrIndex::parse(&bytes, None).unwrap() else {
            panic!("{image} is not a single manifest");
        };
        assert_eq!(m.media_type().family(), Some(family), "{image}");
        let config_bytes = raw(image, true);
        assert_eq!(m.config.digest, Digest::of(&config_bytes), "{image}");
        assert!(m.config.media_type.is_config(), "{image}");
        let config = parse_config_losslessly(&config_bytes);
        assert_eq!(config.rootfs.diff_ids.len(), m.layers.len(), "{image}");
        for layer in &m.layers {
            assert!(layer.media_type.is_layer(), "{image}: {}", layer.media_type);
            assert_eq!(layer.media_type.family(), Some(family), "{image}");
        }
        // Parsing and writing again keeps a manifest's meaning.
        let again = ManifestOrIndex::parse(&m.to_json(), None).unwrap();
        assert_eq!(again, ManifestOrIndex::Manifest(m), "{image}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn test_registry_index_selects_each_platform() {
    let bytes = raw("multiarch:latest", false);
    let ManifestOrIndex::Index(index) = ManifestOrIndex::parse(&bytes, None).unwrap() else {
        panic!("multiarch:latest is not an index");
    };
    assert!(index.media_type().is_index());
    let amd: Platform = "linux/amd64".parse().unwrap();
    let arm: Platform = "linux/arm64/v8".parse().unwrap();
    let amd_entry = index.select(&amd).expect("an amd64 entry");
    let arm_entry = index.select(&arm).expect("an arm64 entry");
    assert_ne!(amd_entry.digest, arm_entry.digest);
    assert_eq!(amd_entry.media_type, MediaType::OciManifest);
    assert!(index.select(&"linux/s390x".parse().unwrap()).is_none());
}

#[test]
#[ignore = "needs the test environment"]
fn config_written_by_docker_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        r#"FROM {}/busybox:latest
LABEL a=1 b="two words"
ENV X=1 Y="a && b <c>"
EXPOSE 80 53/udp
VOLUME /data /var/log
USER 1000:1000
WORKDIR /app
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=5s --start-period=1s --retries=3 CMD wget -q localhost || exit 1
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo hi
"#,
        registry()
    );
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    let tag = format!("kiln-oci-test/config:{}", std::process::id());
    let context = dir.path().display().to_string();
    run("docker", &["build", "-q", "-t", &tag, &context]);
    let tar_path = dir.path().join("saved.tar");
    run(
        "docker",
        &["save", "-o", &tar_path.display().to_string(), &tag],
    );
    run("docker", &["rmi", &tag]);

    // docker save names the config in manifest.json; find it in the archive.
    let mut files = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") || name.starts_with("blobs/") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(name, bytes);
        }
    }
    let manifest = json(std::str::from_utf8(&files["manifest.json"]).unwrap());
    let config_name = manifest[0]["Config"].as_str().unwrap();
    let bytes = &files[config_name];

    let config = parse_config_losslessly(bytes);
    let c = &config.config;
    let hc = c.healthcheck.as_ref().expect("a healthcheck");
    assert_eq!(hc.test, ["CMD-SHELL", "wget -q localhost || exit 1"]);
    assert_eq!(
        (hc.interval, hc.timeout, hc.start_period, hc.retries),
        (30_000_000_000, 5_000_000_000, 1_000_000_000, 3)
    );
    assert_eq!(
        c.on_build.as_deref(),
        Some(&["RUN echo child".to_owned()][..])
    );
    assert_eq!(
        c.shell.as_deref(),
        Some(&["/bin/sh".to_owned(), "-ec".to_owned()][..])
    );
    assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(c.user.as_deref(), Some("1000:1000"));
    assert_eq!(c.working_dir.as_deref(), Some("/app"));
    let keys = |m: &Option<std::collections::BTreeMap<String, kiln_oci::Empty>>| {
        m.as_ref().map(|m| m.keys().cloned().collect::<Vec<_>>())
    };
    assert_eq!(
        keys(&c.volumes),
        Some(vec!["/data".into(), "/var/log".into()])
    );
    assert_eq!(
        keys(&c.exposed_ports),
        Some(vec!["53/udp".into(), "80/tcp".into()])
    );
    assert_eq!(c.labels.as_ref().unwrap()["b"], "two words");
    assert_eq!(
        c.entrypoint.as_deref(),
        Some(&["/bin/sh".to_owned(), "-c".to_owned()][..])
    );
    assert!(c.env.as_ref().unwrap().contains(&"Y=a && b <c>".to_owned()));
    assert!(config.history.iter().any(|h| h.empty_layer));
    assert!(config.extra.contains_key("container_config"));
    // kiln escapes as Go does: the same bytes for the same string.
    let ours = String::from_utf8(config.to_json()).unwrap();
    let escaped = r#""Y=a \u0026\u0026 b \u003cc\u003e""#;
    assert!(std::str::from_utf8(bytes).unwrap().contains(escaped));
    assert!(ours.contains(escaped), "{ours}");
}
