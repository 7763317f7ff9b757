use super::*;

/// (document, content type, which error it must be)
type RefusalCase<'a> = (&'a str, Option<&'a str>, fn(&ManifestError) -> bool);

const C: &str = "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7";
const L: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn docker_manifest_json() -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{C}","size":1469}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{L}","size":2}}]}}"#
    )
}

fn oci_index_json(with_media_type: bool) -> String {
    let mt = if with_media_type {
        r#""mediaType":"application/vnd.oci.image.index.v1+json","#
    } else {
        ""
    };
    let entry = |digest: &str, platform: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":100,"platform":{platform}}}"#
        )
    };
    format!(
        r#"{{"schemaVersion":2,{mt}"manifests":[{},{},{}],"annotations":{{"x":"y"}}}}"#,
        entry(C, r#"{"architecture":"amd64","os":"linux"}"#),
        entry(L, r#"{"architecture":"arm64","os":"linux","variant":"v8"}"#),
        entry(C, r#"{"architecture":"unknown","os":"unknown"}"#),
    )
}

#[test]
fn docker_manifest_round_trips_byte_for_byte() {
    let json = docker_manifest_json();
    let parsed = ManifestOrIndex::parse(json.as_bytes(), None).unwrap();
    let ManifestOrIndex::Manifest(m) = parsed else {
        panic!("not a manifest")
    };
    assert_eq!(m.media_type(), MediaType::DockerManifest);
    assert_eq!(m.config.media_type, MediaType::DockerConfig);
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.to_json(), json.as_bytes());
    assert_eq!(m.digest(), Digest::of(json.as_bytes()));
}

#[test]
fn unknown_fields_are_kept() {
    let json = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"DIG","size":2},"layers":[],"annotations":{"a":"b"},"vendor.extension":{"n":1}}"#
        .replace("DIG", C);
    let ManifestOrIndex::Manifest(m) = ManifestOrIndex::parse(json.as_bytes(), None).unwrap()
    else {
        panic!("not a manifest")
    };
    assert!(m.extra.contains_key("vendor.extension"));
    assert_eq!(m.to_json(), json.as_bytes());
}

#[test]
fn kind_comes_from_body_then_content_type_then_shape() {
    let index = oci_index_json(false);
    let manifest = docker_manifest_json();
    let oci = "application/vnd.oci.image.index.v1+json";
    // (bytes, content type, is an index, media type)
    let cases: [(&str, Option<&str>, bool, MediaType); 5] = [
        (&index, None, true, MediaType::OciIndex),
        (&index, Some(oci), true, MediaType::OciIndex),
        (&index, Some("application/json"), true, MediaType::OciIndex),
        (
            &manifest,
            Some("text/plain"),
            false,
            MediaType::DockerManifest,
        ),
        (
            &oci_index_json(true),
            Some("application/octet-stream"),
            true,
            MediaType::OciIndex,
        ),
    ];
    for (bytes, ct, is_index, mt) in cases {
        let parsed = ManifestOrIndex::parse(bytes.as_bytes(), ct).unwrap();
        assert_eq!(
            matches!(parsed, ManifestOrIndex::Index(_)),
            is_index,
            "{ct:?}"
        );
        assert_eq!(parsed.media_type(), mt, "{ct:?}");
    }
}

#[test]
fn schema1_is_refused_with_a_hint_to_re_push() {
    let signed = r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[],"signatures":[]}"#;
    let cases = [
        (signed, None),
        (
            signed,
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        ),
        (
            "{}",
            Some("application/vnd.docker.distribution.manifest.v1+json"),
        ),
        (
            r#"{"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}"#,
            None,
        ),
    ];
    for (bytes, ct) in cases {
        let err = ManifestOrIndex::parse(bytes.as_bytes(), ct).unwrap_err();
        assert!(
            matches!(err, ManifestError::Schema1 { .. }),
            "{bytes} {ct:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("schema 1") && msg.contains("re-push"), "{msg}");
    }
}

#[test]
fn malformed_or_mismatched_documents_are_refused() {
    let manifest = docker_manifest_json();
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json";
    let cases: [RefusalCase; 6] = [
        ("not json", None, |e| {
            matches!(e, ManifestError::Json { .. })
        }),
        ("{}", None, |e| matches!(e, ManifestError::UnknownShape)),
        (&manifest, Some(oci_manifest), |e| {
            matches!(e, ManifestError::MediaTypeMismatch { .. })
        }),
        (r#"{"mediaType":"application/vnd.foo+json"}"#, None, |e| {
            matches!(e, ManifestError::UnsupportedMediaType { .. })
        }),
        (r#"{"schemaVersion":3,"manifests":[]}"#, None, |e| {
            matches!(e, ManifestError::SchemaVersion(3))
        }),
        (
            r#"{"schemaVersion":2,"config":{},"layers":[]}"#,
            None,
            |e| matches!(e, ManifestError::Json { .. }),
        ),
    ];
    for (bytes, ct, expect) in cases {
        let err = ManifestOrIndex::parse(bytes.as_bytes(), ct).unwrap_err();
        assert!(expect(&err), "{bytes}: {err:?}");
    }
}

#[test]
fn select_picks_exact_then_compatible_platforms() {
    let ManifestOrIndex::Index(index) =
        ManifestOrIndex::parse(oci_index_json(true).as_bytes(), None).unwrap()
    else {
        panic!("not an index")
    };
    let pick = |s: &str| {
        let p: Platform = s.parse().unwrap();
        index.select(&p).map(|d| d.digest.to_string())
    };
    assert_eq!(pick("linux/amd64").as_deref(), Some(C));
    assert_eq!(pick("linux/arm64").as_deref(), Some(L));
    assert_eq!(pick("linux/arm64/v8").as_deref(), Some(L));
    assert_eq!(pick("linux/aarch64").as_deref(), Some(L));
    assert_eq!(pick("linux/s390x"), None);
    assert_eq!(pick("windows/amd64"), None);
    assert_eq!(
        index.platforms(),
        ["linux/amd64", "linux/arm64/v8", "unknown/unknown"]
    );
}

#[test]
fn select_prefers_exact_variant_over_earlier_fallback() {
    let mut index = Index::new(Family::Oci);
    for (digest, variant) in [(C, "v6"), (L, "v7")] {
        let d = Descriptor::new(MediaType::OciManifest, digest.parse().unwrap(), 1);
        index
            .manifests
            .push(d.with_platform(Platform::new("linux", "arm", Some(variant))));
    }
    let v7: Platform = "linux/arm/v7".parse().unwrap();
    assert_eq!(index.select(&v7).unwrap().digest.as_str(), L);
    let v6: Platform = "linux/arm/v6".parse().unwrap();
    assert_eq!(index.select(&v6).unwrap().digest.as_str(), C);
    let arm64: Platform = "linux/arm64".parse().unwrap();
    assert_eq!(index.select(&arm64).unwrap().digest.as_str(), L);
}

#[test]
fn new_manifest_has_schema_version_2_and_its_family_type() {
    let config = Descriptor::of(MediaType::OciConfig, b"{}");
    let m = Manifest::new(Family::Oci, config, vec![]);
    let json = String::from_utf8(m.to_json()).unwrap();
    assert!(json.starts_with(
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":"#
    ));
    assert_eq!(m.descriptor().digest, m.digest());
    assert_eq!(
        Index::new(Family::Docker).media_type(),
        MediaType::DockerManifestList
    );
}

#[test]
fn with_family_rewrites_every_media_type_and_keeps_blobs() {
    let ManifestOrIndex::Manifest(docker) =
        ManifestOrIndex::parse(docker_manifest_json().as_bytes(), None).unwrap()
    else {
        panic!("not a manifest")
    };
    let oci = docker.with_family(Family::Oci);
    assert_eq!(oci.media_type(), MediaType::OciManifest);
    assert_eq!(oci.config.media_type, MediaType::OciConfig);
    assert_eq!(oci.layers[0].media_type, MediaType::OciLayerGzip);
    assert_eq!(oci.config.digest, docker.config.digest);
    assert_eq!(oci.layers[0].digest, docker.layers[0].digest);
    assert_ne!(oci.digest(), docker.digest());
    assert_eq!(oci.with_family(Family::Docker), docker);
}
