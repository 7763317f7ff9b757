use super::*;

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn digest() -> Digest {
    D.parse().unwrap()
}

#[test]
fn digest_file_is_the_digest_without_newline() {
    assert_eq!(format_digest_file(&digest()), D.as_bytes());
}

#[test]
fn name_files_match_kaniko_for_each_destination() {
    // (destination, name-with-digest line, name-tag-with-digest line), from Kaniko's own tests
    // where they exist (`gcr.io/foo/bar:123`, `bob/image`).
    let cases = [
        (
            "gcr.io/foo/bar:123",
            format!("gcr.io/foo/bar@{D}"),
            format!("gcr.io/foo/bar:123@{D}"),
        ),
        (
            "bob/image",
            format!("index.docker.io/bob/image@{D}"),
            format!("index.docker.io/bob/image:latest@{D}"),
        ),
        (
            "busybox",
            format!("index.docker.io/library/busybox@{D}"),
            format!("index.docker.io/library/busybox:latest@{D}"),
        ),
        (
            "docker.io/library/busybox:1",
            format!("index.docker.io/library/busybox@{D}"),
            format!("index.docker.io/library/busybox:1@{D}"),
        ),
        (
            "127.0.0.1:5000/app:v2",
            format!("127.0.0.1:5000/app@{D}"),
            format!("127.0.0.1:5000/app:v2@{D}"),
        ),
    ];
    for (dest, name, name_tag) in &cases {
        let got = format_image_name_with_digest_file(&[dest], &digest()).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            format!("{name}\n"),
            "{dest}"
        );
        let got = format_image_name_tag_with_digest_file(&[dest], &digest()).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            format!("{name_tag}\n"),
            "{dest}"
        );
    }
    let all: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let joined: String = cases.iter().map(|c| format!("{}\n", c.2)).collect();
    let got = format_image_name_tag_with_digest_file(&all, &digest()).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), joined);
}

#[test]
fn an_invalid_destination_is_named_in_the_error() {
    let err = format_image_name_with_digest_file(&["Bad/Name"], &digest()).unwrap_err();
    assert!(err.to_string().contains("\"Bad/Name\""), "{err}");
}

#[test]
fn builder_output_lists_destinations_as_typed() {
    let got = format_builder_output_images(&["busybox", "gcr.io/a/b:1"], &digest());
    let want = format!(
        "{{\"name\":\"busybox\",\"digest\":\"{D}\"}}\n{{\"name\":\"gcr.io/a/b:1\",\"digest\":\"{D}\"}}\n"
    );
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn write_output_file_creates_parents_and_replaces_atomically() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/digest");
    write_output_file(&path, b"one").unwrap();
    write_output_file(&path, b"two").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"two");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1, "temporary files were left behind");
}

#[test]
fn write_output_file_refuses_urls() {
    let err = write_output_file(Path::new("https://bucket/x?sig=1"), b"d").unwrap_err();
    assert!(matches!(err, OutputError::Url(_)), "{err:?}");
}
