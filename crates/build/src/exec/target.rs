//! What happens to the target stage's config after its last instruction.
//!
//! Owns the two steps BuildKit's `toDispatchState` takes on the target only: the `--label`
//! values are set over the Dockerfile's labels (no history entry), and an explicitly requested
//! platform (`--custom-platform`) overrides the base image's os and architecture, and its
//! variant and os.version when they are given or the os/architecture changed.
//! Reference: BuildKit `frontend/dockerfile/dockerfile2llb/convert.go`.

use std::collections::BTreeMap;

use kiln_oci::{ConfigFile, Platform};

use super::metadata::apply_labels;

/// Finishes the target's config: `labels` from the command line, then `platform` when the
/// user asked for one.
pub fn finish_target(
    config: &mut ConfigFile,
    labels: &BTreeMap<String, String>,
    platform: Option<&Platform>,
) {
    apply_labels(config, labels);
    let Some(platform) = platform else {
        return;
    };
    let same = platform.os == config.os && platform.architecture == config.architecture;
    config.os = platform.os.clone();
    config.architecture = platform.architecture.clone();
    if platform.variant.is_some() || !same {
        config.variant = platform.variant.clone();
    }
    if platform.os_version.is_some() || !same {
        config.os_version = platform.os_version.clone();
    }
    if !platform.os_features.is_empty() {
        config.os_features = platform.os_features.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_owned),
            ..Platform::default()
        }
    }

    #[test]
    fn an_explicit_platform_overrides_the_base_image_platform() {
        let cases = [
            // Same os/arch without a variant keeps the base's variant.
            (
                platform("arm", Some("v6")),
                platform("arm", None),
                Some("v6"),
            ),
            (
                platform("arm", Some("v6")),
                platform("arm", Some("v7")),
                Some("v7"),
            ),
            (platform("arm", Some("v7")), platform("amd64", None), None),
        ];
        for (base, target, variant) in cases {
            let mut config = ConfigFile::new(&base);
            finish_target(&mut config, &BTreeMap::new(), Some(&target));
            assert_eq!(config.architecture, target.architecture, "{target}");
            assert_eq!(config.variant.as_deref(), variant, "{target}");
        }
    }

    #[test]
    fn labels_from_the_command_line_win() {
        let mut config = ConfigFile::default();
        config.config.labels = Some([("a".to_owned(), "file".to_owned())].into());
        let cli = [
            ("a".to_owned(), "cli".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]
        .into();
        finish_target(&mut config, &cli, None);
        let labels = config.config.labels.unwrap();
        assert_eq!((labels["a"].as_str(), labels["b"].as_str()), ("cli", "2"));
    }
}
