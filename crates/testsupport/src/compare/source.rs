//! Finding an image's config and layers in a store.
//!
//! Owns: the two on-disk formats' indexes. A `docker save` tarball has `manifest.json`, a list
//! whose first item names `Config` and `Layers` by member path (the legacy format described in
//! <https://github.com/moby/moby/blob/master/image/spec/v1.2.md>). An OCI layout has
//! `index.json`, whose descriptors lead, through nested indexes, to image manifests whose blobs
//! live at `blobs/<algorithm>/<hex>` (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>).
//! When several manifests are found, the one for the requested platform is taken, else
//! `linux/amd64`, else the first. A `docker save` tarball holds one platform.
//!
//! This is deliberately independent of `kiln-oci`: the comparison is an oracle for kiln's
//! output, so it must not share kiln's reading of the formats.

use serde_json::Value;

use super::CompareError;
use super::store::Store;

/// The parts of one image: its config and its layers' member names, bottom first.
#[derive(Debug)]
pub struct Parts {
    pub config: Value,
    pub layers: Vec<String>,
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Reads the image's parts from a `docker save` tarball or an OCI layout; `platform`
/// (`os/arch[/variant]`) picks among an OCI layout's manifests.
pub fn read(store: &Store, platform: Option<&str>) -> Result<Parts, CompareError> {
    if store.has("manifest.json") {
        return read_docker_save(store);
    }
    if store.has("index.json") {
        return read_oci_layout(store, platform);
    }
    Err(CompareError::Format {
        image: store.path().to_owned(),
        reason: "neither manifest.json (docker save) nor index.json (OCI layout) found".into(),
    })
}

fn format_error(store: &Store, reason: impl Into<String>) -> CompareError {
    CompareError::Format {
        image: store.path().to_owned(),
        reason: reason.into(),
    }
}

fn read_docker_save(store: &Store) -> Result<Parts, CompareError> {
    let manifest = store.read_json("manifest.json")?;
    let first = manifest
        .get(0)
        .ok_or_else(|| format_error(store, "manifest.json lists no image"))?;
    let config_name = first["Config"]
        .as_str()
        .ok_or_else(|| format_error(store, "manifest.json has no Config"))?;
    let layers = first["Layers"]
        .as_array()
        .ok_or_else(|| format_error(store, "manifest.json has no Layers"))?
        .iter()
        .map(|l| {
            l.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format_error(store, "a Layers item is not a string"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parts {
        config: store.read_json(config_name)?,
        layers,
    })
}

fn blob_name(store: &Store, descriptor: &Value) -> Result<String, CompareError> {
    let digest = descriptor["digest"]
        .as_str()
        .ok_or_else(|| format_error(store, "a descriptor has no digest"))?;
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| format_error(store, format!("malformed digest {digest}")))?;
    Ok(format!("blobs/{algorithm}/{hex}"))
}

/// `os/architecture[/variant]` of a descriptor's platform; empty when it has none.
fn platform_of(descriptor: &Value) -> String {
    let p = &descriptor["platform"];
    let mut out = format!(
        "{}/{}",
        p["os"].as_str().unwrap_or_default(),
        p["architecture"].as_str().unwrap_or_default()
    );
    if let Some(variant) = p["variant"].as_str() {
        out.push('/');
        out.push_str(variant);
    }
    if out == "/" { String::new() } else { out }
}

fn read_oci_layout(store: &Store, platform: Option<&str>) -> Result<Parts, CompareError> {
    let mut manifests = Vec::new();
    collect_manifests(store, &store.read_json("index.json")?, &mut manifests, 0)?;
    let chosen = match platform {
        // `linux/arm64` also picks a manifest that says `linux/arm64/v8`.
        Some(want) => manifests
            .iter()
            .find(|d| platform_of(d) == want)
            .or_else(|| {
                manifests
                    .iter()
                    .find(|d| platform_of(d).starts_with(&format!("{want}/")))
            })
            .ok_or_else(|| {
                let found: Vec<String> = manifests.iter().map(platform_of).collect();
                format_error(
                    store,
                    format!("no manifest for {want}; found [{}]", found.join(", ")),
                )
            })?,
        None => manifests
            .iter()
            .find(|d| platform_of(d) == "linux/amd64")
            .or_else(|| manifests.first())
            .ok_or_else(|| format_error(store, "index.json leads to no image manifest"))?,
    };
    let manifest = store.read_json(&blob_name(store, chosen)?)?;
    let config = store.read_json(&blob_name(store, &manifest["config"])?)?;
    let layers = manifest["layers"]
        .as_array()
        .ok_or_else(|| format_error(store, "the manifest has no layers"))?
        .iter()
        .map(|l| blob_name(store, l))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parts { config, layers })
}

/// The image-manifest descriptors under an index, nested indexes followed (to a sane depth).
fn collect_manifests(
    store: &Store,
    index: &Value,
    out: &mut Vec<Value>,
    depth: usize,
) -> Result<(), CompareError> {
    if depth > 4 {
        return Err(format_error(store, "indexes nested more than 4 deep"));
    }
    let descriptors = index["manifests"]
        .as_array()
        .ok_or_else(|| format_error(store, "an index has no manifests"))?;
    for descriptor in descriptors {
        let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
        if INDEX_TYPES.contains(&media_type) {
            let nested = store.read_json(&blob_name(store, descriptor)?)?;
            collect_manifests(store, &nested, out, depth + 1)?;
        } else {
            out.push(descriptor.clone());
        }
    }
    Ok(())
}
