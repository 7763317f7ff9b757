//! Assembling the target's image: its config finished (`--label`, an explicit platform,
//! `created` from the [`crate::exec::Clock`]) and its manifest, whose media types follow the
//! base image's family, or OCI when a layer is zstd (Docker media types cannot name zstd for
//! every client).
//!
//! Does not own: writing or pushing the image ([`super::output`]).

use kiln_fs::layer::LayerOptions;
use kiln_oci::{ConfigFile, Descriptor, Family, Manifest, MediaType};

use super::{BuildOptions, BuiltImage, DoneStage, LayerBlob, Removals};
use crate::exec;

/// The family of the built image: the base's, or OCI when layers are zstd.
pub(super) fn layer_family(base: Family, layer: &LayerOptions) -> Family {
    if layer.compression == kiln_fs::layer::Compression::Zstd {
        Family::Oci
    } else {
        base
    }
}

/// The target's manifest and config.
pub(super) fn assemble(target: DoneStage, options: &BuildOptions) -> BuiltImage {
    let DoneStage { state, image, .. } = target;
    let mut config: ConfigFile = state.config;
    let platform = options
        .explicit_platform
        .then_some(&options.plan.target_platform);
    exec::finish_target(&mut config, &options.labels, platform);
    config.created = Some(options.clock.created().to_owned());
    let family = layer_family(image.family, &options.layer);
    let config_bytes = config.to_json();
    let config_descriptor = Descriptor::of(MediaType::config(family), &config_bytes);
    let new_layers = image.layers.iter().filter(|l| l.source.is_none()).count();
    let layers: Vec<LayerBlob> = image
        .layers
        .into_iter()
        .map(|mut l| {
            l.descriptor.media_type = l.descriptor.media_type.in_family(family);
            l
        })
        .collect();
    let manifest = Manifest::new(
        family,
        config_descriptor,
        layers.iter().map(|l| l.descriptor.clone()).collect(),
    );
    BuiltImage {
        manifest,
        config_bytes,
        layers,
        new_layers,
        timings: Vec::new(),
        cache: Vec::new(),
        uploads: None,
        removals: Removals::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use kiln_oci::Platform;

    fn options(compression: kiln_fs::layer::Compression) -> BuildOptions {
        let platform: Platform = "linux/amd64".parse().expect("platform");
        BuildOptions {
            plan: PlanOptions {
                build_args: crate::BuildArgs::default(),
                target: None,
                skip_unused_stages: false,
                target_platform: platform.clone(),
                build_platform: platform,
            },
            work_dir: PathBuf::from("/nonexistent"),
            cache: None,
            isolation: Isolation::Chroot,
            in_place: InPlace::default(),
            layer: LayerOptions {
                compression,
                ..LayerOptions::default()
            },
            snapshot_mode: SnapshotMode::Full,
            ignore_paths: Vec::new(),
            labels: BTreeMap::from([("team".to_owned(), "build".to_owned())]),
            explicit_platform: false,
            clock: Clock::at_unix(0),
            context: None,
            run_mounts: RunMountOptions::default(),
            push_to: Vec::new(),
            events: Events::none(),
            layer_cache: None,
        }
    }

    fn docker_base() -> DoneStage {
        let stage = crate::StageRef {
            index: 0,
            name: None,
        };
        let platform: Platform = "linux/amd64".parse().expect("platform");
        let digest = Digest::of(b"layer");
        DoneStage {
            state: StageState::scratch(stage, &platform, '\\'),
            image: StageImage {
                family: Family::Docker,
                layers: vec![LayerBlob {
                    descriptor: Descriptor::new(MediaType::DockerLayerGzip, digest, 5),
                    path: PathBuf::from("/blobs/layer"),
                    source: None,
                }],
            },
            rootfs: None,
            layerless: false,
        }
    }

    #[test]
    fn a_docker_base_keeps_docker_media_types_with_gzip() {
        let image = assemble(docker_base(), &options(kiln_fs::layer::Compression::Gzip));
        assert_eq!(image.manifest.media_type(), MediaType::DockerManifest);
        assert_eq!(image.manifest.config.media_type, MediaType::DockerConfig);
        assert_eq!(
            image.manifest.layers[0].media_type,
            MediaType::DockerLayerGzip
        );
    }

    #[test]
    fn zstd_turns_the_whole_manifest_into_oci_types() {
        let image = assemble(docker_base(), &options(kiln_fs::layer::Compression::Zstd));
        assert_eq!(image.manifest.media_type(), MediaType::OciManifest);
        assert_eq!(image.manifest.config.media_type, MediaType::OciConfig);
        assert_eq!(image.manifest.layers[0].media_type, MediaType::OciLayerGzip);
    }

    #[test]
    fn the_target_config_gets_labels_and_the_clock_as_created() {
        let image = assemble(docker_base(), &options(kiln_fs::layer::Compression::Gzip));
        let config = ConfigFile::parse(&image.config_bytes).expect("config");
        assert_eq!(config.created.as_deref(), Some("1970-01-01T00:00:00Z"));
        let labels = config.config.labels.expect("labels");
        assert_eq!(labels.get("team").map(String::as_str), Some("build"));
        assert_eq!(
            image.manifest.config.digest,
            Digest::of(&image.config_bytes)
        );
    }
}
