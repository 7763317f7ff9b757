//! Reading what a build left behind: pushed manifests and configs, and the entries of a
//! cache dir's layer store.

use std::path::Path;

use kiln_testsupport::cli::stdout_of;

/// The digest of the pushed `image`.
pub fn digest_of(image: &str) -> String {
    stdout_of(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{image}"),
        ],
    )
    .trim()
    .to_owned()
}

pub fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// The config without its `created` times (the image's and each history entry's).
pub fn without_created(mut config: serde_json::Value) -> serde_json::Value {
    if let Some(object) = config.as_object_mut() {
        object.remove("created");
    }
    if let Some(history) = config["history"].as_array_mut() {
        for entry in history {
            if let Some(entry) = entry.as_object_mut() {
                entry.remove("created");
            }
        }
    }
    config
}

/// The sha256 of the file at `path`, as `sha256:<hex>`.
pub fn sha256_of(path: &Path) -> String {
    let out = stdout_of("sha256sum", &[path.to_str().expect("utf-8 path")]);
    let hex = out
        .split_whitespace()
        .next()
        .expect("sha256sum prints a digest");
    format!("sha256:{hex}")
}

/// Checks every entry of the layer store in `cache_dir`: it parses, is named after its key,
/// and names a blob that is there with the digest and size of its descriptor. Returns how many
/// entries there are.
#[track_caller]
pub fn check_entries(cache_dir: &Path) -> usize {
    let dir = cache_dir.join("v1/entries");
    let mut count = 0;
    if !dir.exists() {
        return 0;
    }
    for item in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
    {
        let path = item.expect("entry listed").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        count += 1;
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let entry: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", path.display()));
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("a name");
        assert_eq!(entry["key"], format!("sha256:{stem}"), "{}", path.display());
        match (entry.get("layer"), entry.get("diffId")) {
            (None, None) => {}
            (Some(layer), Some(_)) => {
                let digest = layer["digest"].as_str().expect("layer digest");
                let blob = cache_dir
                    .join("v1/blobs/sha256")
                    .join(digest.trim_start_matches("sha256:"));
                assert!(
                    blob.is_file(),
                    "{} names {digest}, which is not there",
                    path.display()
                );
                assert_eq!(sha256_of(&blob), digest, "{}", blob.display());
                let size = std::fs::metadata(&blob).expect("blob metadata").len();
                assert_eq!(layer["size"].as_u64(), Some(size), "{}", path.display());
            }
            _ => panic!(
                "{} has a layer without a diff ID or the other way round",
                path.display()
            ),
        }
    }
    count
}
