//! Pulls one image from a registry into an OCI image layout, the way `skopeo copy
//! docker://REF oci:DIR:TAG` does: used by `bench/pull` to compare the two.
//!
//! Usage: `pull_layout REFERENCE LAYOUT_DIR TAG [OS/ARCH]`. Layers are downloaded in parallel
//! straight into the layout's `blobs/` (verified, renamed into place), then the config and
//! manifest are written and `index.json` gets an entry named TAG. Prints the manifest digest.

use std::process::ExitCode;

use kiln_oci::{Layout, LocalImage, Platform, Reference};
use kiln_registry::{ConfigLocations, Keychain, RegistryClient, RegistryOptions};

async fn run(args: &[String]) -> Result<String, Box<dyn std::error::Error>> {
    let [reference, dir, tag, rest @ ..] = args else {
        return Err("usage: pull_layout REFERENCE LAYOUT_DIR TAG [OS/ARCH]".into());
    };
    let reference = Reference::parse(reference)?;
    let platform = match rest.first() {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    let client = RegistryClient::new(
        RegistryOptions::default(),
        Keychain::load(&ConfigLocations::from_env())?,
    );
    let image = client.resolve_image(&reference, &platform).await?;
    let layout = if std::path::Path::new(dir).join("oci-layout").is_file() {
        Layout::open(dir.as_str())?
    } else {
        Layout::create(dir.as_str())?
    };
    let blobs_dir = layout.root().join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs_dir)?;
    let jobs: Vec<_> = image
        .layers()
        .iter()
        .filter(|l| !layout.has_blob(&l.digest))
        .map(|l| (l.digest.clone(), Some(l.size), layout.blob_path(&l.digest)))
        .collect();
    client.download_blobs(&image.source, jobs).await?;
    let config = image.read_config(&client).await?;
    let paths = image
        .layers()
        .iter()
        .map(|l| layout.blob_path(&l.digest))
        .collect();
    let local = LocalImage::new(image.fetched.bytes.clone(), config, paths)?;
    layout.append_image(&local, Some(tag))?;
    Ok(image.digest().to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(digest) => {
            println!("{digest}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprint!("\ncaused by: {s}");
                source = s.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}
