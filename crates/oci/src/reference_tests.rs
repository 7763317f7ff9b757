use super::*;

/// (input, registry, repository, tag, has a digest, canonical `Display`)
type NormalCase<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, bool, String);
/// (input, which error it must be)
type RefusalCase<'a> = (&'a str, fn(&ReferenceError) -> bool);

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn parse_normalises_like_docker() {
    let d = D;
    let cases: &[NormalCase] = &[
        (
            "busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "busybox:1.36",
            "docker.io",
            "library/busybox",
            Some("1.36"),
            false,
            "docker.io/library/busybox:1.36".into(),
        ),
        (
            "library/busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "docker.io/busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "index.docker.io/busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "index.docker.io/user/app:v1",
            "docker.io",
            "user/app",
            Some("v1"),
            false,
            "docker.io/user/app:v1".into(),
        ),
        (
            "user/app",
            "docker.io",
            "user/app",
            Some("latest"),
            false,
            "docker.io/user/app:latest".into(),
        ),
        (
            &format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
            None,
            true,
            format!("docker.io/library/busybox@{d}"),
        ),
        (
            &format!("busybox:1@{d}"),
            "docker.io",
            "library/busybox",
            Some("1"),
            true,
            format!("docker.io/library/busybox:1@{d}"),
        ),
        (
            "localhost/app",
            "localhost",
            "app",
            Some("latest"),
            false,
            "localhost/app:latest".into(),
        ),
        (
            "localhost:5000/a/b/c:t",
            "localhost:5000",
            "a/b/c",
            Some("t"),
            false,
            "localhost:5000/a/b/c:t".into(),
        ),
        (
            "127.0.0.1:5000/busybox",
            "127.0.0.1:5000",
            "busybox",
            Some("latest"),
            false,
            "127.0.0.1:5000/busybox:latest".into(),
        ),
        (
            "[::1]:5000/busybox:x",
            "[::1]:5000",
            "busybox",
            Some("x"),
            false,
            "[::1]:5000/busybox:x".into(),
        ),
        (
            "quay.io/org/app:1.0-rc.1",
            "quay.io",
            "org/app",
            Some("1.0-rc.1"),
            false,
            "quay.io/org/app:1.0-rc.1".into(),
        ),
        (
            "Registry.Example/app",
            "Registry.Example",
            "app",
            Some("latest"),
            false,
            "Registry.Example/app:latest".into(),
        ),
        (
            "gcr.io/a__b/c-d.e---f",
            "gcr.io",
            "a__b/c-d.e---f",
            Some("latest"),
            false,
            "gcr.io/a__b/c-d.e---f:latest".into(),
        ),
        (
            "docker.io/library/busybox:_x",
            "docker.io",
            "library/busybox",
            Some("_x"),
            false,
            "docker.io/library/busybox:_x".into(),
        ),
    ];
    for (input, registry, repository, tag, has_digest, display) in cases {
        let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.registry(), *registry, "{input}");
        assert_eq!(r.repository(), *repository, "{input}");
        assert_eq!(r.tag(), *tag, "{input}");
        assert_eq!(r.digest().is_some(), *has_digest, "{input}");
        assert_eq!(&r.to_string(), display, "{input}");
        // The canonical form parses back to the same reference.
        assert_eq!(Reference::parse(&r.to_string()).unwrap(), r, "{input}");
    }
}

#[test]
fn parse_refuses_invalid_references() {
    let hex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let long = format!("a/{}", "b".repeat(260));
    let long_tag = format!("a:{}", "t".repeat(129));
    let cases: &[RefusalCase] = &[
        ("", |e| matches!(e, ReferenceError::Empty)),
        ("Busybox", |e| matches!(e, ReferenceError::UpperCase(_))),
        ("docker.io/User/app", |e| {
            matches!(e, ReferenceError::UpperCase(_))
        }),
        (hex64, |e| matches!(e, ReferenceError::HexName(_))),
        ("busybox@sha256:abc", |e| {
            matches!(e, ReferenceError::Digest { .. })
        }),
        ("busybox@", |e| matches!(e, ReferenceError::Digest { .. })),
        ("busybox:", |e| matches!(e, ReferenceError::Tag { .. })),
        ("busybox:-x", |e| matches!(e, ReferenceError::Tag { .. })),
        // `busybox:a` is taken as a host with a non-numeric port, as Docker does.
        ("busybox:a/b", |e| {
            matches!(e, ReferenceError::Registry { .. })
        }),
        (&long_tag, |e| matches!(e, ReferenceError::Tag { .. })),
        ("a//b", |e| matches!(e, ReferenceError::Repository { .. })),
        ("a/b/", |e| matches!(e, ReferenceError::Repository { .. })),
        ("-a", |e| matches!(e, ReferenceError::Repository { .. })),
        ("a-", |e| matches!(e, ReferenceError::Repository { .. })),
        ("a..b", |e| matches!(e, ReferenceError::Repository { .. })),
        ("a___b", |e| matches!(e, ReferenceError::Repository { .. })),
        ("a._b", |e| matches!(e, ReferenceError::Repository { .. })),
        ("reg.io:/a", |e| {
            matches!(e, ReferenceError::Registry { .. })
        }),
        ("reg.io:50x0/a", |e| {
            matches!(e, ReferenceError::Registry { .. })
        }),
        ("-reg.io/a", |e| {
            matches!(e, ReferenceError::Registry { .. })
        }),
        ("[::1/a", |e| matches!(e, ReferenceError::Registry { .. })),
        (&long, |e| matches!(e, ReferenceError::NameTooLong(_))),
        ("a b", |e| matches!(e, ReferenceError::Repository { .. })),
    ];
    for (input, expect) in cases {
        match Reference::parse(input) {
            Ok(r) => panic!("{input:?} parsed as {r}"),
            Err(e) => assert!(expect(&e), "{input:?}: unexpected error {e:?}"),
        }
    }
}

#[test]
fn upper_case_error_names_the_input() {
    let err = Reference::parse("Busybox").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid reference \"Busybox\": repository name must be lowercase"
    );
}

#[test]
fn familiar_form_drops_docker_hub_defaults() {
    let cases = [
        ("busybox", "busybox:latest".to_owned()),
        ("docker.io/library/busybox:1", "busybox:1".to_owned()),
        ("user/app:2", "user/app:2".to_owned()),
        ("docker.io/library/a/b", "library/a/b:latest".to_owned()),
        ("localhost:5000/app", "localhost:5000/app:latest".to_owned()),
        (&format!("busybox@{D}"), format!("busybox@{D}")),
    ];
    for (input, familiar) in cases {
        assert_eq!(
            Reference::parse(input).unwrap().familiar(),
            familiar,
            "{input}"
        );
    }
}

#[test]
fn context_is_registry_and_repository() {
    let r = Reference::parse(&format!("localhost:5000/a/b:t@{D}")).unwrap();
    assert_eq!(r.context(), "localhost:5000/a/b");
}

#[test]
fn identifier_prefers_the_digest() {
    let tagged = Reference::parse("busybox:1").unwrap();
    assert_eq!(tagged.identifier(), "1");
    let pinned = tagged.with_digest(D.parse().unwrap());
    assert_eq!(pinned.identifier(), D);
    assert_eq!(
        pinned.to_string(),
        format!("docker.io/library/busybox:1@{D}")
    );
}

#[test]
fn with_tag_replaces_tag_and_drops_digest() {
    let r = Reference::parse(&format!("busybox@{D}")).unwrap();
    let t = r.with_tag("v2").unwrap();
    assert_eq!(t.to_string(), "docker.io/library/busybox:v2");
    assert!(r.with_tag("-bad").is_err());
}

#[test]
fn serde_uses_the_canonical_string() {
    let r = Reference::parse("busybox").unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, r#""docker.io/library/busybox:latest""#);
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    assert!(serde_json::from_str::<Reference>(r#""UPPER""#).is_err());
}

proptest::proptest! {
    /// Whatever the input, parsing returns (never panics), and what parses prints a canonical
    /// form that parses back to the same reference.
    #[test]
    fn parse_never_panics_and_canonical_form_round_trips(s in "[a-zA-Z0-9._:/@-]{0,80}") {
        if let Ok(r) = Reference::parse(&s) {
            let again = Reference::parse(&r.to_string()).unwrap();
            proptest::prop_assert_eq!(&again, &r);
            proptest::prop_assert!(r.to_string().len() <= MAX_NAME_LEN + 200);
        }
    }

    #[test]
    fn well_formed_names_always_parse(
        host in "[a-z][a-z0-9]{0,8}\\.[a-z]{2,3}(:[0-9]{1,5})?",
        path in "[a-z0-9]{1,8}((\\.|_|__|-+)[a-z0-9]{1,8}){0,2}(/[a-z0-9]{1,8}){0,2}",
        tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
    ) {
        let input = format!("{host}/{path}:{tag}");
        let r = Reference::parse(&input).unwrap();
        proptest::prop_assert_eq!(r.registry(), host.as_str());
        proptest::prop_assert_eq!(r.repository(), path.as_str());
        proptest::prop_assert_eq!(r.tag(), Some(tag.as_str()));
        proptest::prop_assert_eq!(r.to_string(), input);
    }
}
