use super::*;

const DIFF: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A config with every field Docker writes, in canonical order and form.
fn full_config_json() -> String {
    let config = concat!(
        r#"{"Cmd":["/bin/sh","-c","echo hi \u0026\u0026 true"],"#,
        r#""Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/"],"Interval":30000000000,"#,
        r#""Timeout":5000000000,"StartPeriod":1000000000,"StartInterval":2000000000,"Retries":3},"#,
        r#""Entrypoint":["/entry"],"Env":["PATH=/usr/bin:/bin","A=b"],"#,
        r#""Labels":{"a":"1","b":"2"},"OnBuild":["RUN echo child"],"User":"1000:1000","#,
        r#""Volumes":{"/data":{},"/var/log":{}},"WorkingDir":"/app","#,
        r#""ExposedPorts":{"443/tcp":{},"53/udp":{},"80/tcp":{}},"ArgsEscaped":true,"#,
        r#""StopSignal":"SIGQUIT","Shell":["/bin/bash","-c"],"Hostname":"","Image":"sha256:x"}"#,
    );
    format!(
        concat!(
            r#"{{"architecture":"arm","author":"someone","created":"2024-01-02T03:04:05.123456789Z","#,
            r#""docker_version":"27.0.1","history":[{{"created":"2024-01-01T00:00:00Z","#,
            r#""created_by":"/bin/sh -c #(nop) ADD file:abc in / "}},{{"created":"2024-01-01T00:00:01Z","#,
            r#""created_by":"CMD [\"sh\"]","comment":"buildkit.dockerfile.v0","empty_layer":true}}],"#,
            r#""os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}"]}},"config":{config},"#,
            r#""os.version":"1.0","variant":"v7","os.features":["f1"],"container_config":{{"Cmd":null}},"#,
            r#""moby.buildkit.buildinfo.v1":"e30="}}"#
        ),
        diff = DIFF,
        config = config
    )
}

#[test]
fn every_docker_field_round_trips_byte_for_byte() {
    let json = full_config_json();
    let parsed = ConfigFile::parse(json.as_bytes()).unwrap();
    let c = &parsed.config;
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.start_interval, 2_000_000_000);
    assert_eq!(hc.retries, 3);
    assert_eq!(
        c.on_build.as_deref(),
        Some(&["RUN echo child".to_owned()][..])
    );
    assert_eq!(c.shell.as_ref().map(Vec::len), Some(2));
    assert!(c.args_escaped);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(c.volumes.as_ref().map(BTreeMap::len), Some(2));
    assert_eq!(c.exposed_ports.as_ref().map(BTreeMap::len), Some(3));
    assert!(c.extra.contains_key("Hostname"));
    assert!(parsed.history[1].empty_layer);
    assert_eq!(parsed.rootfs.diff_ids[0].as_str(), DIFF);
    assert_eq!(parsed.os_version.as_deref(), Some("1.0"));
    assert_eq!(parsed.os_features, ["f1"]);
    assert!(parsed.extra.contains_key("container_config"));
    assert_eq!(String::from_utf8(parsed.to_json()).unwrap(), json);
    assert_eq!(parsed.digest(), Digest::of(json.as_bytes()));
}

#[test]
fn empty_and_absent_lists_stay_distinct() {
    // (input config, canonical output)
    let cases = [
        (r#"{"Cmd":[]}"#, r#"{"Cmd":[]}"#),
        (r#"{"Cmd":null}"#, r#"{}"#),
        (r#"{}"#, r#"{}"#),
        (
            r#"{"Entrypoint":[],"Cmd":["a"]}"#,
            r#"{"Cmd":["a"],"Entrypoint":[]}"#,
        ),
        (r#"{"Env":[]}"#, r#"{"Env":[]}"#),
        (r#"{"ArgsEscaped":false}"#, r#"{}"#),
    ];
    for (input, want) in cases {
        let c: Config = serde_json::from_str(input).unwrap();
        assert_eq!(
            String::from_utf8(to_canonical_json(&c)).unwrap(),
            want,
            "{input}"
        );
    }
}

#[test]
fn new_config_carries_the_platform_and_minimal_fields() {
    let platform: Platform = "linux/arm64".parse().unwrap();
    let c = ConfigFile::new(&platform);
    assert_eq!(
        String::from_utf8(c.to_json()).unwrap(),
        r#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#
    );
    assert_eq!(c.platform(), platform);
}

#[test]
fn same_value_gives_same_bytes_whatever_the_insertion_order() {
    let mut a = ConfigFile::default();
    let mut b = ConfigFile::default();
    for (k, v) in [("z", "1"), ("a", "2"), ("m", "3")] {
        a.config
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
    }
    for (k, v) in [("m", "3"), ("z", "1"), ("a", "2")] {
        b.config
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(k.into(), v.into());
    }
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.digest(), b.digest());
}

#[test]
fn invalid_diff_id_is_refused() {
    let json =
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["nope"]}}"#;
    assert!(ConfigFile::parse(json.as_bytes()).is_err());
}

#[test]
fn pushed_steps_keep_history_aligned_with_layers() {
    let mut c = ConfigFile::default();
    assert!(c.history_matches_layers());
    let step = |by: &str| History {
        created_by: Some(by.into()),
        // Whatever the caller set, the push decides.
        empty_layer: by.starts_with("RUN"),
        ..History::default()
    };
    c.push_layer(DIFF.parse().unwrap(), step("RUN make"));
    c.push_empty_step(step("ENV A=b"));
    c.push_layer(DIFF.parse().unwrap(), step("COPY . /"));
    assert_eq!(c.rootfs.diff_ids.len(), 2);
    let flags: Vec<bool> = c.history.iter().map(|h| h.empty_layer).collect();
    assert_eq!(flags, [false, true, false]);
    assert!(c.history_matches_layers());
    c.rootfs.diff_ids.pop();
    assert!(!c.history_matches_layers());
}
