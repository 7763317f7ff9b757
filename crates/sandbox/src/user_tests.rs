use super::*;

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
adm:x:42:43:adm:/var/adm:/bin/false
app:x:1000:1000:App,,,:/home/app:/bin/sh
toor:x:0:0:second root:/toor:/bin/sh
  spaced:x:7:7::/spaced:/bin/sh
broken:x:abc:zz::/broken:/bin/sh
";

const GROUP: &str = "\
root:x:0:root
# a comment line is skipped
adm:x:43:
wheel:x:10:app,root
staff:x:50:app
app:x:1000:
dup:x:10:app
1234:x:777:
";

fn ok(spec: &str) -> ExecUser {
    match resolve(spec, Some(PASSWD), Some(GROUP)) {
        Ok(user) => user,
        Err(e) => panic!("resolving {spec:?}: {e}"),
    }
}

fn user(uid: u32, gid: u32, sgids: &[u32], home: &str) -> ExecUser {
    ExecUser {
        uid,
        gid,
        additional_gids: sgids.to_vec(),
        home: home.into(),
    }
}

#[test]
fn user_values_resolve_as_docker_does() {
    let cases: &[(&str, ExecUser)] = &[
        // Empty: root's entry, with root's member groups.
        ("", user(0, 0, &[0, 10], "/root")),
        ("root", user(0, 0, &[0, 10], "/root")),
        // A name: its gid, home, and every group listing it (duplicate gids once).
        ("app", user(1000, 1000, &[10, 50], "/home/app")),
        // A number with an entry behaves like the name.
        ("1000", user(1000, 1000, &[10, 50], "/home/app")),
        // A number without an entry: gid 0, HOME=/ and no groups.
        ("4242", user(4242, 0, &[], "/")),
        // An explicit group replaces the gid and drops supplementary groups.
        ("app:staff", user(1000, 50, &[], "/home/app")),
        ("app:43", user(1000, 43, &[], "/home/app")),
        ("1000:1000", user(1000, 1000, &[], "/home/app")),
        // A numeric group without an entry is used as is.
        ("app:9999", user(1000, 9999, &[], "/home/app")),
        ("4242:4343", user(4242, 4343, &[], "/")),
        ("4242:adm", user(4242, 43, &[], "/")),
        // A numeric group is matched against gids, never names.
        ("app:1234", user(1000, 1234, &[], "/home/app")),
        // A second uid-0 name resolves to uid 0; HOME comes from the first uid-0 entry.
        ("toor", user(0, 0, &[], "/root")),
        // Leading blanks are trimmed as runc does.
        ("spaced", user(7, 7, &[], "/spaced")),
        // Unparsable numeric fields read as 0.
        ("broken", user(0, 0, &[], "/root")),
        // A group alone applies to root.
        (":staff", user(0, 50, &[], "/root")),
    ];
    for (spec, want) in cases {
        assert_eq!(&ok(spec), want, "USER {spec}");
    }
}

#[test]
fn unknown_names_fail_with_dockers_messages() {
    let cases = [
        (
            "nobody",
            "unable to find user nobody: no matching entries in passwd file",
        ),
        (
            "app:nogroup",
            "unable to find group nogroup: no matching entries in group file",
        ),
        (
            "99999999999",
            "uids and gids must be in range 0-2147483647, got 99999999999",
        ),
        (
            "app:-1",
            "uids and gids must be in range 0-2147483647, got -1",
        ),
    ];
    for (spec, want) in cases {
        match resolve(spec, Some(PASSWD), Some(GROUP)) {
            Ok(user) => panic!("USER {spec} resolved to {user:?}"),
            Err(e) => assert_eq!(e.to_string(), want, "USER {spec}"),
        }
    }
}

#[test]
fn missing_databases_allow_numbers_only() {
    assert_eq!(resolve("", None, None).ok(), Some(user(0, 0, &[], "/")));
    assert_eq!(
        resolve("123:456", None, None).ok(),
        Some(user(123, 456, &[], "/"))
    );
    assert!(matches!(
        resolve("app", None, None),
        Err(UserError::NoSuchUser { .. })
    ));
    assert!(matches!(
        resolve("0:wheel", Some(PASSWD), None),
        Err(UserError::NoSuchGroup { .. })
    ));
}

#[test]
fn user_resolves_through_the_rootfs_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).expect("mkdir etc");
    // /etc/passwd is a symlink that must resolve inside the rootfs, never on the host.
    std::fs::write(etc.join("passwd.real"), PASSWD).expect("write passwd");
    std::os::unix::fs::symlink("/etc/passwd.real", etc.join("passwd")).expect("symlink");
    std::fs::write(etc.join("group"), GROUP).expect("write group");
    let got = resolve_in_rootfs(dir.path(), "app").expect("resolve");
    assert_eq!(got, user(1000, 1000, &[10, 50], "/home/app"));
    // Without the files only numbers resolve.
    let empty = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        resolve_in_rootfs(empty.path(), "5").ok(),
        Some(user(5, 0, &[], "/"))
    );
    assert!(resolve_in_rootfs(empty.path(), "app").is_err());
}
