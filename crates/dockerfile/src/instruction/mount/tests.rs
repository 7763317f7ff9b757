use super::*;

fn parse(value: &str) -> Result<Mount, MountError> {
    Mount::parse(value, &mut |v| Ok(v.to_owned()))
}

#[test]
fn bind_mounts_are_read_only_unless_rw() {
    let m = parse("target=/src").unwrap();
    assert_eq!(m.kind, MountType::Bind);
    assert!(m.readonly);
    assert!(!parse("type=bind,target=/src,rw").unwrap().readonly);
    assert!(!parse("type=bind,dst=/src,readwrite=true").unwrap().readonly);
    let m = parse("type=bind,from=build,source=/out,target=/in").unwrap();
    assert_eq!(m.from.as_deref(), Some("build"));
    assert_eq!(m.source.as_deref(), Some("/out"));
}

#[test]
fn cache_mounts_take_every_cache_option() {
    let m = parse(
        "type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1001,ro",
    )
    .unwrap();
    assert_eq!(m.id.as_deref(), Some("pip"));
    assert_eq!(m.sharing, Sharing::Locked);
    assert_eq!(m.mode, Some(0o700));
    assert_eq!((m.uid, m.gid), (Some(1000), Some(1001)));
    assert!(m.readonly);
    let m = parse("type=cache,target=/var/cache/apt").unwrap();
    assert_eq!(m.id.as_deref(), Some("/var/cache/apt"));
    assert!(!m.readonly);
    assert_eq!(m.sharing, Sharing::Shared);
}

#[test]
fn secret_and_ssh_defaults_follow_the_reference() {
    let m = parse("type=secret,id=aws").unwrap();
    assert_eq!(m.target.as_deref(), Some("/run/secrets/aws"));
    let m = parse("type=secret,target=/root/.npmrc,required").unwrap();
    assert_eq!(m.id.as_deref(), Some(".npmrc"));
    assert!(m.required);
    let m = parse("type=secret,id=tok,env=TOKEN").unwrap();
    assert_eq!((m.target, m.env.as_deref()), (None, Some("TOKEN")));
    let m = parse("type=ssh").unwrap();
    assert_eq!(m.id.as_deref(), Some("default"));
    assert_eq!(m.target, None);
    let m = parse("type=tmpfs,target=/tmp,size=64m").unwrap();
    assert_eq!(m.size, Some(64 << 20));
}

#[test]
fn quoted_fields_may_hold_commas() {
    let m = parse("type=bind,\"target=/a,b\"").unwrap();
    assert_eq!(m.target.as_deref(), Some("/a,b"));
}

#[test]
fn values_are_expanded_but_the_type_is_not() {
    let mut expand = |v: &str| Ok(v.replace("$UID", "42"));
    let m = Mount::parse("type=cache,target=/c,uid=$UID", &mut expand).unwrap();
    assert_eq!(m.uid, Some(42));
}

#[test]
fn invalid_mounts_say_why() {
    let cases = [
        ("type=volume,target=/x", "unsupported mount type \"volume\""),
        ("type=bind", "mount type bind needs a target"),
        ("type=cache", "mount type cache needs a target"),
        ("type=secret", "secret mount needs an id or a target"),
        (
            "target=/x,bogus=1",
            "unexpected key \"bogus\" in \"bogus=1\"",
        ),
        (
            "target=/x,bogus",
            "invalid field \"bogus\": it must be a key=value pair",
        ),
        (
            "target=/x,size=1",
            "key \"size\" is not valid for mount type bind",
        ),
        (
            "type=bind,target=/x,required",
            "key \"required\" is not valid for mount type bind",
        ),
        (
            "type=cache,target=/x,mode=999",
            "invalid value \"999\" for mode: not an octal mode",
        ),
        (
            "type=cache,target=/x,uid=-1",
            "invalid value \"-1\" for uid: not a number",
        ),
        (
            "type=cache,target=/x,sharing=all",
            "invalid value \"all\" for sharing: expected shared, private or locked",
        ),
        (
            "type=tmpfs,target=/x,size=lots",
            "invalid value \"lots\" for size: not a size",
        ),
        (
            "type=bind,target=/x,ro=maybe",
            "invalid value \"maybe\" for ro: not a boolean",
        ),
        (
            "\"target=/x",
            "malformed option list: unterminated quote in \"\\\"target=/x\"",
        ),
    ];
    for (value, want) in cases {
        match parse(value) {
            Err(e) => assert_eq!(e.to_string(), want, "{value}"),
            Ok(m) => panic!("{value}: accepted {m:?}"),
        }
    }
}

#[test]
fn sizes_use_binary_multiples() {
    let cases = [
        ("1024", Some(1024)),
        ("1k", Some(1024)),
        ("1KiB", Some(1024)),
        ("2mb", Some(2 << 20)),
        ("1.5g", Some(3 << 29)),
        ("1x", None),
        ("", None),
    ];
    for (s, want) in cases {
        assert_eq!(parse_size(s), want, "{s}");
    }
}
