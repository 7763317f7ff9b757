//! Real `docker-registry` instances on loopback for the integration tests: plain HTTP, and TLS
//! (a CA and certificate generated with `openssl`) with htpasswd basic auth. Each test starts
//! its own on a free port, in a temp dir, and the instance is killed when dropped. The
//! registry's log is kept in the temp dir so a test can look for what the registry saw.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kiln_registry::{
    BlobSource, BlobUpload, ConfigLocations, Keychain, RegistryClient, RemoteImage,
};

pub struct TestRegistry {
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

pub struct Tls {
    pub ca: PathBuf,
    pub user: &'static str,
    pub password: &'static str,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    l.local_addr().expect("local address").port()
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`, `ca.key`) and a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) in `dir`.
fn make_tls(dir: &Path) {
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=kiln test CA"])
        .arg("-keyout")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(dir.join("ca.pem")));
    sign(
        dir,
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    );
}

/// `client.pem`/`client.key`, signed by the CA in `dir`, for TLS client authentication.
fn make_client_cert(dir: &Path) {
    sign(
        dir,
        "client",
        "/CN=kiln test client",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
}

/// `<name>.pem` and `<name>.key` for `subject` with extensions `ext`, signed by the CA in `dir`.
fn sign(dir: &Path, name: &str, subject: &str, ext: &str) {
    let p = |suffix: &str| dir.join(format!("{name}.{suffix}"));
    run(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject])
        .arg("-keyout")
        .arg(p("key"))
        .arg("-out")
        .arg(p("csr")));
    std::fs::write(p("ext"), ext).unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("csr"))
        .arg("-CA")
        .arg(dir.join("ca.pem"))
        .arg("-CAkey")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(p("pem"))
        .arg("-extfile")
        .arg(p("ext")));
}

impl TestRegistry {
    /// Plain HTTP, anonymous.
    pub fn plain() -> Self {
        Self::start(None, false)
    }

    /// TLS with a generated CA and basic auth; returns the CA and the credentials.
    pub fn tls() -> (Self, Tls) {
        Self::tls_with(false)
    }

    /// Like [`TestRegistry::tls`], and the registry demands a client certificate signed by the
    /// same CA: `client.pem` and `client.key` in the registry's dir.
    pub fn tls_client_auth() -> (Self, Tls) {
        Self::tls_with(true)
    }

    fn tls_with(client_auth: bool) -> (Self, Tls) {
        let tls = Tls {
            ca: PathBuf::new(),
            user: "kiln",
            password: "s3cret-pw",
        };
        let reg = Self::start(Some(&tls), client_auth);
        let ca = reg.dir.path().join("ca.pem");
        (reg, Tls { ca, ..tls })
    }

    fn start(tls: Option<&Tls>, client_auth: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: debug\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some(t) = tls {
            make_tls(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("server.pem").display(),
                dir.path().join("server.key").display()
            ));
            if client_auth {
                make_client_cert(dir.path());
                config.push_str(&format!(
                    "    clientcas:\n      - {}\n",
                    dir.path().join("ca.pem").display()
                ));
            }
            let out = Command::new("htpasswd")
                .args(["-Bbn", t.user, t.password])
                .output()
                .expect("running htpasswd (apache2-utils)");
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: kiln-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting docker-registry (apt-get install docker-registry)");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { addr, dir, child }
    }

    /// What the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small image: one layer of `layer_size` pseudo-random bytes, a config and an OCI manifest.
pub struct TestImage {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

pub fn digest(bytes: &[u8]) -> kiln_oci::Digest {
    kiln_oci::Digest::of(bytes)
}

impl TestImage {
    pub fn new(layer_size: usize, seed: u32) -> Self {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        let layer: Vec<u8> = (0..layer_size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{}}}}"#,
            digest(&layer)
        )
        .into_bytes();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
            digest(&config),
            config.len(),
            digest(&layer),
            layer.len()
        )
        .into_bytes();
        Self {
            layer,
            config,
            manifest,
        }
    }
}

/// A keychain whose `config.json` (written into `dir`) has one entry: `registry` with
/// `user:password` in the `auth` field, as `docker login` writes it.
pub fn keychain(dir: &Path, registry: &str, user: &str, password: &str) -> Keychain {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    Keychain::load(&ConfigLocations {
        docker_config: Some(dir.to_owned()),
        ..Default::default()
    })
    .unwrap()
}

/// An upload of bytes held in memory, with no mount source.
pub fn upload(bytes: &[u8]) -> BlobUpload {
    BlobUpload {
        digest: digest(bytes),
        size: bytes.len() as u64,
        source: BlobSource::Bytes(Bytes::from(bytes.to_vec())),
        mount_from: vec![],
    }
}

/// Layer `i` of `image`, read whole through the verifying reader.
pub async fn read_layer(client: &RegistryClient, image: &RemoteImage, i: usize) -> Vec<u8> {
    let mut reader = image
        .open_layer(client, i)
        .await
        .expect("opening the layer");
    let mut out = Vec::new();
    while let Some(chunk) = reader.next_chunk().await.expect("reading the layer") {
        out.extend_from_slice(&chunk);
    }
    out
}
