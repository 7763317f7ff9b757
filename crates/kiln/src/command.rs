//! What each command does once its flags are parsed: resolve settings, then call the library.
//!
//! `build` runs `kiln_build::executor` and writes its outputs; a flag whose behaviour does not
//! exist yet fails with [`NotSupported`], so that no flag is ever accepted and then ignored.
//! `warm` runs `kiln_build::warm`.

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Context as _;
use kiln_build::events::Events;
use kiln_build::exec::Clock;
use kiln_build::executor::{self, output};
use kiln_build::warm;

use crate::flags::{BuildFlags, Compression, Isolation, SnapshotMode, WarmFlags};
use crate::settings::build::CacheRepo;
use crate::settings::context::{ContextSource, DockerfileSource};
use crate::settings::registry_options::ClientSettings;
use crate::settings::{BuildSettings, Environment, WarmSettings};

/// A capability kiln does not have yet.
#[derive(Debug, thiserror::Error)]
#[error("{what} is not supported yet")]
pub struct NotSupported {
    pub what: &'static str,
}

impl NotSupported {
    pub fn hint(&self) -> Option<&'static str> {
        Some("`kiln parse DOCKERFILE` checks a Dockerfile today")
    }
}

/// `kiln build` / `executor`: resolve the settings, check push permission, run the build in
/// a work directory under the kaniko dir, write every output, print a summary. A failed RUN
/// makes its exit code kiln's, as Kaniko does.
pub fn build(flags: &BuildFlags) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process()?;
    let mut warnings = Vec::new();
    let resolved = BuildSettings::resolve(flags, &env, &mut warnings);
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let mut settings = resolved?;
    tracing::debug!(?settings, "resolved build settings");
    refuse_unsupported(&settings)?;
    settings.isolation = crate::unprivileged::enter_user_namespace(settings.isolation)?;
    let dockerfile_path = match &settings.dockerfile {
        DockerfileSource::Path(path) => path.clone(),
        DockerfileSource::Url(_) => {
            return Err(NotSupported {
                what: "building from a --dockerfile URL",
            }
            .into());
        }
        DockerfileSource::InContext(_) => {
            return Err(NotSupported {
                what: "building from a remote build context",
            }
            .into());
        }
    };
    let source = std::fs::read_to_string(&dockerfile_path)
        .with_context(|| format!("cannot read the Dockerfile {}", dockerfile_path.display()))?;
    let file = kiln_dockerfile::parse_dockerfile(&source)?;

    let push = &settings.push;
    let mut client = ClientSettings::new(&settings.registry);
    // `--push-retry N` adds N retries to the client's own default, as `--image-download-retry`
    // does for pulls.
    client.options.push_retries = client.options.push_retries.saturating_add(push.retry);
    client.options.push_ignore_immutable_tag_errors = push.ignore_immutable_tag_errors;
    let registry = client.connect()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if push.enabled && !push.skip_permission_check {
        for dest in &push.destinations {
            let repo = kiln_registry::Repository::of(dest);
            runtime
                .block_on(registry.check_push_permission(&repo))
                .with_context(|| format!("cannot push to {dest}"))?;
        }
    }

    let work_dir = work_dir(&settings.kaniko_dir)?;
    let progress = std::sync::Arc::new(crate::progress::Progress::new(&flags.log));
    let events = Events::new(progress.clone());
    let mut options = build_options(&settings, work_dir.clone())?;
    options.events = events.clone();
    options.layer_cache = layer_cache(&settings, &registry)?;
    let started = std::time::Instant::now();
    let built = executor::build(&file, &source, &options, &registry, &runtime);
    let removals = built.as_ref().map(|image| image.removals.clone()).ok();
    let result = built.map_err(anyhow::Error::from).and_then(|image| {
        write_outputs(&settings, &image, &registry, &runtime, &events)?;
        Ok(image)
    });
    removals.iter().for_each(executor::Removals::wait);
    // A stage rootfs still mounted (the target's, or any after a failure) goes first, or the
    // removal would go through it.
    if let Err(e) = executor::unmount_below(&work_dir) {
        tracing::warn!("cannot unmount what is under {}: {e}", work_dir.display());
    }
    if let Err(e) = std::fs::remove_dir_all(&work_dir) {
        tracing::warn!(
            "cannot remove the work directory {}: {e}",
            work_dir.display()
        );
    }
    let image = match result {
        Ok(image) => image,
        Err(err) => {
            let code = err
                .downcast_ref::<executor::Error>()
                .and_then(executor::Error::exit_code);
            return match code {
                Some(code) => {
                    eprint!("{}", crate::report::render(&err));
                    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
                }
                None => Err(err),
            };
        }
    };
    let pushed_to = if push.enabled {
        push.destinations.iter().map(ToString::to_string).collect()
    } else {
        Vec::new()
    };
    let summary = crate::summary::Summary::new(&image, pushed_to, started.elapsed());
    progress.summary(&summary);
    Ok(ExitCode::SUCCESS)
}

/// Flags whose behaviour the executor does not have yet: an error, never silently ignored.
fn refuse_unsupported(settings: &BuildSettings) -> Result<(), NotSupported> {
    let refuse = |what| Err(NotSupported { what });
    if settings.snapshot.single_snapshot {
        return refuse("--single-snapshot");
    }
    if !matches!(settings.context.source, ContextSource::Dir(_)) {
        return refuse("a build context other than a local directory");
    }
    if settings.extract_retry > 0 {
        return refuse("--image-fs-extract-retry");
    }
    if settings.layers.force_build_metadata {
        return refuse("--force-build-metadata");
    }
    Ok(())
}

/// A fresh directory for this build's rootfs, layers and blobs, under the kaniko dir.
fn work_dir(kaniko_dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = kaniko_dir
        .join("builds")
        .join(format!("{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the work directory {}", dir.display()))?;
    Ok(dir)
}

fn oci_platform(p: &crate::settings::platform::Platform) -> kiln_oci::Platform {
    kiln_oci::Platform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
        os_version: p.os_version.clone(),
        ..kiln_oci::Platform::default()
    }
    .normalized()
}

/// The library's options for these settings.
fn build_options(
    settings: &BuildSettings,
    work_dir: PathBuf,
) -> anyhow::Result<executor::BuildOptions> {
    let args: Vec<String> = settings
        .build_args
        .iter()
        .map(|a| format!("{}={}", a.name, a.value))
        .collect();
    let build_args = kiln_build::BuildArgs::parse(&args, |_| None)?;
    let host = crate::settings::platform::Platform::host();
    let layers = &settings.layers;
    let clamp = match (layers.source_date_epoch, layers.reproducible) {
        (Some(epoch), _) => Some(i64::try_from(epoch).unwrap_or(i64::MAX)),
        (None, true) => Some(0),
        (None, false) => None,
    };
    let clock = match (layers.source_date_epoch, layers.reproducible) {
        (Some(epoch), _) => Clock::at_unix(epoch),
        (None, true) => Clock::at_unix(0),
        (None, false) => Clock::now(),
    };
    let cache_dir = &settings.cache.dir;
    Ok(executor::BuildOptions {
        plan: kiln_build::PlanOptions {
            build_args,
            target: settings.target.clone(),
            skip_unused_stages: settings.skip_unused_stages,
            target_platform: oci_platform(&settings.platform),
            build_platform: oci_platform(&host),
        },
        work_dir,
        cache: cache_dir
            .is_dir()
            .then(|| warm::BaseImageCache::new(cache_dir, settings.cache.ttl)),
        isolation: match settings.isolation {
            Isolation::Auto => kiln_sandbox::Isolation::Auto,
            Isolation::Chroot => kiln_sandbox::Isolation::Chroot,
            Isolation::Rootless => kiln_sandbox::Isolation::Rootless,
            Isolation::None => kiln_sandbox::Isolation::None,
        },
        in_place: in_place(settings),
        layer: kiln_fs::layer::LayerOptions {
            compression: match layers.compression {
                Compression::Gzip => kiln_fs::layer::Compression::Gzip,
                Compression::Zstd => kiln_fs::layer::Compression::Zstd,
            },
            level: layers
                .compression_level
                .map(|l| i32::try_from(l).unwrap_or(i32::MAX)),
            threads: 0,
            clamp_mtime: clamp,
        },
        // Kaniko's `--use-new-run` finds a RUN's changes by mtime alone: kiln's `time` mode.
        snapshot_mode: match settings.snapshot.mode {
            _ if settings.snapshot.use_new_run => kiln_fs::snapshot::SnapshotMode::Time,
            SnapshotMode::Full => kiln_fs::snapshot::SnapshotMode::Full,
            SnapshotMode::Redo => kiln_fs::snapshot::SnapshotMode::Redo,
            SnapshotMode::Time => kiln_fs::snapshot::SnapshotMode::Time,
        },
        ignore_paths: settings.snapshot.ignore_paths.clone(),
        labels: settings.labels.iter().cloned().collect(),
        explicit_platform: settings.platform != host,
        clock,
        run_mounts: executor::RunMountOptions {
            cache_dir: settings.kaniko_dir.join("cache-mounts"),
            secrets: settings.secrets.clone(),
            ssh: settings.ssh.clone(),
        },
        context: match (&settings.context.source, &settings.dockerfile) {
            (ContextSource::Dir(dir), DockerfileSource::Path(dockerfile)) => {
                Some(executor::ContextDir {
                    dir: dir.clone(),
                    dockerfile: dockerfile.clone(),
                })
            }
            _ => None,
        },
        // Layers go up while the build runs only when the build pushes at all.
        push_to: if settings.push.enabled {
            settings.push.destinations.clone()
        } else {
            Vec::new()
        },
        events: Events::none(),
        layer_cache: None,
    })
}

/// The layer cache `--cache` asks for: the cache dir's layer store when the directory exists
/// (looked up first), then `--cache-repo` (or `<destination repository>/cache`).
fn layer_cache(
    settings: &BuildSettings,
    registry: &kiln_registry::RegistryClient,
) -> anyhow::Result<Option<executor::LayerCacheOptions>> {
    let cache = &settings.cache;
    if !cache.enabled {
        return Ok(None);
    }
    let mut stores = Vec::new();
    if cache.dir.is_dir() {
        stores.push(executor::CacheStore::Local(
            kiln_build::cache::LocalStore::new(&cache.dir, cache.ttl),
        ));
    }
    match &cache.repo {
        Some(CacheRepo::Registry(name)) => {
            let reference = kiln_oci::Reference::parse(name)
                .with_context(|| format!("--cache-repo {name} is not a repository"))?;
            stores.push(executor::CacheStore::Registry(
                kiln_build::cache::RegistryStore::new(
                    registry.clone(),
                    kiln_registry::Repository::of(&reference),
                    oci_platform(&settings.platform),
                    cache.ttl,
                ),
            ));
        }
        Some(CacheRepo::OciLayout(path)) => {
            stores.push(executor::CacheStore::Layout(
                kiln_build::cache::LayoutStore::new(
                    path,
                    oci_platform(&settings.platform),
                    cache.ttl,
                ),
            ));
        }
        None => {}
    }
    if stores.is_empty() {
        anyhow::bail!(
            "--cache needs --cache-repo, a --destination to infer it from, or an existing \
             --cache-dir ({})",
            cache.dir.display()
        );
    }
    // Misses are explained against the keys of the last build of the same context,
    // Dockerfile, target and cache, kept beside the cache dir's store or else in the kaniko dir.
    let identity = format!(
        "{:?} {:?} {:?} {:?}",
        settings.context.source, settings.dockerfile, settings.target, cache.repo
    );
    let name = format!("{}.json", kiln_oci::Digest::of(identity.as_bytes()).hex());
    let records = if cache.dir.is_dir() {
        cache.dir.join("v1").join("records").join(name)
    } else {
        settings.kaniko_dir.join("cache-records").join(name)
    };
    Ok(Some(executor::LayerCacheOptions {
        stores,
        run_layers: cache.run_layers,
        copy_layers: cache.copy_layers,
        push: cache.push,
        records: Some(records),
        // Mounting the rootfs from unpacked layers needs root and kiln's own mount namespace;
        // the executor checks the rest (the filesystem, the isolation) and says when it cannot.
        unpacked: (cache.dir.is_dir()
            && kiln_sandbox::rootless::is_host_root()
            && kiln_sandbox::overlay::in_private_namespace())
        .then(|| kiln_build::cache::UnpackedStore::new(&cache.dir)),
    }))
}

/// What a build in place in `/` (`--isolation=none`) leaves alone besides the kaniko dir:
/// what kiln reads during the build or writes after it.
fn in_place(settings: &BuildSettings) -> executor::InPlace {
    let outputs = &settings.outputs;
    let mut keep: Vec<PathBuf> = [
        &outputs.tar_path,
        &outputs.digest_file,
        &outputs.image_name_with_digest_file,
        &outputs.image_name_tag_with_digest_file,
        &outputs.oci_layout_path,
        &outputs.builder_output,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    // Read for base images only when it exists; otherwise a RUN may make it in the image.
    if settings.cache.dir.is_dir() {
        keep.push(settings.cache.dir.clone());
    }
    if let ContextSource::Dir(dir) = &settings.context.source {
        keep.push(dir.clone());
    }
    if let DockerfileSource::Path(path) = &settings.dockerfile {
        keep.push(path.clone());
    }
    executor::InPlace {
        kaniko_dir: settings.kaniko_dir.clone(),
        ignore_var_run: settings.snapshot.ignore_var_run,
        keep,
        force: settings.force,
    }
}

/// Pushes and writes every output the settings ask for, then the digest files.
fn write_outputs(
    settings: &BuildSettings,
    image: &executor::BuiltImage,
    registry: &kiln_registry::RegistryClient,
    runtime: &tokio::runtime::Runtime,
    events: &Events,
) -> anyhow::Result<()> {
    let destinations = &settings.push.destinations;
    let outputs = &settings.outputs;
    if outputs.tar_path.is_some() || outputs.oci_layout_path.is_some() {
        image.fetch_layers(registry, runtime)?;
    }
    if let Some(path) = &outputs.tar_path {
        output::write_tarball(image, path, destinations)?;
        tracing::info!("wrote the image tarball {}", path.display());
    }
    if let Some(path) = &outputs.oci_layout_path {
        output::write_layout(image, path)?;
        tracing::info!("wrote the image to the OCI layout {}", path.display());
    }
    if settings.push.enabled && !destinations.is_empty() {
        output::push(image, destinations, registry, runtime, events)?;
    } else {
        tracing::info!("not pushing (--no-push or no --destination)");
    }
    let digest = image.digest();
    let names: Vec<String> = destinations.iter().map(ToString::to_string).collect();
    if let Some(path) = &outputs.digest_file {
        kiln_oci::write_output_file(path, &kiln_oci::format_digest_file(&digest))?;
    }
    if let Some(path) = &outputs.image_name_with_digest_file {
        let bytes = kiln_oci::format_image_name_with_digest_file(&names, &digest)?;
        kiln_oci::write_output_file(path, &bytes)?;
    }
    if let Some(path) = &outputs.image_name_tag_with_digest_file {
        let bytes = kiln_oci::format_image_name_tag_with_digest_file(&names, &digest)?;
        kiln_oci::write_output_file(path, &bytes)?;
    }
    if let Some(dir) = &outputs.builder_output {
        if settings.push.enabled && !names.is_empty() {
            let bytes = kiln_oci::format_builder_output_images(&names, &digest);
            let path = dir.join(kiln_oci::BUILDER_OUTPUT_FILE);
            kiln_oci::write_output_file(&path, &bytes)?;
        }
    }
    Ok(())
}

/// `kiln warm` / `warmer`: pull every image asked for into `--cache-dir`. A failed image is
/// logged and the others are still tried; the exit code is 1 only when none could be cached,
/// as Kaniko's warmer does.
pub fn warm(flags: &WarmFlags) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process()?;
    let settings = WarmSettings::resolve(flags, &env)?;
    tracing::debug!(?settings, "resolved warm settings");
    let client = ClientSettings::new(&settings.registry);
    let registry = client.connect()?;
    let platform = oci_platform(&settings.platform);
    let dockerfile = settings.dockerfile.as_ref().map(|d| match d {
        DockerfileSource::Url(url) => warm::DockerfileSource::Url(url.clone()),
        DockerfileSource::Path(path) | DockerfileSource::InContext(path) => {
            warm::DockerfileSource::Path(path.clone())
        }
    });
    let options = warm::WarmOptions {
        images: settings.images.clone(),
        dockerfile,
        build_args: settings
            .build_args
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect(),
        cache_dir: settings.cache_dir.clone(),
        ttl: settings.ttl,
        force: settings.force,
        platform,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(warm::warm(&options, &registry))?;
    for (warmed, err) in report.failures() {
        let chain: Vec<String> = anyhow::Chain::new(err).map(ToString::to_string).collect();
        tracing::warn!(
            "failed to warm {} for {}: {}",
            warmed.image,
            warmed.platform,
            chain.join(": ")
        );
    }
    report.into_result()?;
    Ok(ExitCode::SUCCESS)
}

/// `kiln version` / `executor version`.
pub fn version() -> ExitCode {
    println!("kiln version {}", env!("CARGO_PKG_VERSION"));
    ExitCode::SUCCESS
}
