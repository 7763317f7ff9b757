use super::*;

fn p(s: &str) -> Platform {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn parse_normalises_aliases_and_default_variants() {
    // (input, Display of the normalised platform)
    let cases = [
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("Linux/AMD64", "linux/amd64"),
        ("linux/arm64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/aarch64/8", "linux/arm64"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/v7", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("linux/s390x", "linux/s390x"),
        ("linux/ppc64le", "linux/ppc64le"),
        ("macos/arm64", "darwin/arm64"),
        (
            "windows/amd64:10.0.17763.1234",
            "windows/amd64:10.0.17763.1234",
        ),
        ("arm64", "linux/arm64"),
        ("aarch64", "linux/arm64"),
        (" linux/riscv64 ", "linux/riscv64"),
    ];
    for (input, want) in cases {
        assert_eq!(p(input).to_string(), want, "{input}");
    }
}

#[test]
fn parse_of_a_lone_os_takes_the_host_architecture() {
    let host = Platform::host();
    let linux = p("linux");
    assert_eq!(linux.os, "linux");
    assert_eq!(linux.architecture, host.architecture);
}

#[test]
fn parse_refuses_malformed_platforms() {
    let cases = [
        "",
        "  ",
        "linux/",
        "/amd64",
        "linux//v7",
        "a/b/c/d",
        "linux/amd64:",
        "potato",
    ];
    for input in cases {
        assert!(input.parse::<Platform>().is_err(), "{input:?} parsed");
    }
    assert_eq!(
        "potato".parse::<Platform>().unwrap_err().to_string(),
        "invalid platform \"potato\": \"potato\" is neither a known os nor a known architecture"
    );
}

#[test]
fn matches_compares_normalised_forms() {
    // (wanted, candidate as written in an index, matches)
    let cases = [
        ("linux/arm64/v8", ("linux", "arm64", None), true),
        ("linux/arm64", ("linux", "arm64", Some("v8")), true),
        ("linux/arm64", ("linux", "aarch64", None), true),
        ("linux/arm/v7", ("linux", "arm", None), true),
        ("linux/arm/v7", ("linux", "arm", Some("v6")), false),
        ("linux/arm", ("linux", "arm", Some("v7")), true),
        ("linux/amd64", ("linux", "x86_64", None), true),
        ("linux/amd64", ("linux", "arm64", None), false),
        ("linux/amd64", ("windows", "amd64", None), false),
        ("linux/amd64", ("unknown", "unknown", None), false),
    ];
    for (want, (os, arch, variant), ok) in cases {
        let candidate = Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            ..Platform::default()
        };
        assert_eq!(p(want).matches(&candidate), ok, "{want} vs {candidate}");
    }
}

#[test]
fn os_version_and_features_are_required_only_when_asked_for() {
    let mut candidate = p("windows/amd64");
    candidate.os_version = Some("10.0.17763.1".into());
    candidate.os_features = vec!["win32k".into()];
    assert!(p("windows/amd64").matches(&candidate));
    assert!(p("windows/amd64:10.0.17763.1").matches(&candidate));
    assert!(!p("windows/amd64:10.0.20348.1").matches(&candidate));
    let mut wants_feature = p("windows/amd64");
    wants_feature.os_features = vec!["win32k".into()];
    assert!(wants_feature.matches(&candidate));
    assert!(!wants_feature.matches(&p("windows/amd64")));
}

#[test]
fn compatible_lists_fallbacks_best_first() {
    let show =
        |s: &str| -> Vec<String> { p(s).compatible().iter().map(ToString::to_string).collect() };
    assert_eq!(show("linux/amd64"), ["linux/amd64", "linux/386"]);
    assert_eq!(
        show("linux/amd64/v3"),
        [
            "linux/amd64/v3",
            "linux/amd64/v2",
            "linux/amd64",
            "linux/386"
        ]
    );
    assert_eq!(
        show("linux/arm/v7"),
        ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]
    );
    assert_eq!(show("linux/arm/v5"), ["linux/arm/v5"]);
    assert_eq!(
        show("linux/arm64/v8"),
        [
            "linux/arm64",
            "linux/arm/v8",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/arm/v5"
        ]
    );
    assert_eq!(show("linux/s390x"), ["linux/s390x"]);
}

#[test]
fn rank_orders_exact_before_fallback() {
    let want = p("linux/arm/v7");
    assert_eq!(want.rank(&p("linux/arm/v7")), Some(0));
    assert_eq!(want.rank(&p("linux/arm/v6")), Some(1));
    assert_eq!(want.rank(&p("linux/arm64")), None);
}

#[test]
fn host_is_normalised() {
    let host = Platform::host();
    assert_eq!(host, host.normalized());
    assert!(!host.architecture.is_empty());
    assert_ne!(host.architecture, "x86_64");
    assert_ne!(host.architecture, "aarch64");
}

#[test]
fn json_uses_oci_field_names_and_keeps_unknown_fields() {
    let json = r#"{"architecture":"arm","os":"linux","os.version":"1","os.features":["f"],"variant":"v7","x-extra":true}"#;
    let parsed: Platform = serde_json::from_str(json).unwrap();
    assert_eq!(parsed.variant.as_deref(), Some("v7"));
    assert_eq!(parsed.os_version.as_deref(), Some("1"));
    assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
}

proptest::proptest! {
    /// Parsing never panics, and a parsed platform prints a form that parses to itself.
    #[test]
    fn parse_never_panics_and_display_round_trips(s in "[a-zA-Z0-9_./:-]{0,40}") {
        if let Ok(p) = s.parse::<Platform>() {
            let again: Platform = p.to_string().parse().unwrap();
            proptest::prop_assert_eq!(again, p);
        }
    }
}
