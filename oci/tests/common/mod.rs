//! Real parts for the integration tests: a throwaway docker-registry (tests/registry/start.sh),
//! OCI layouts written by hand (tar + gzip/zstd + JSON), skopeo to push them, umoci to unpack them
//! into a "mount", pgext_core::tree to scan it. All traffic goes to 127.0.0.1.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use pgext_oci::{Algorithm, Digest, TreeEntry, VerifyOptions};

/// tests/registry/ of the repository.
pub const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/registry");

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Never cancels.
pub fn never() -> bool {
    false
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Installs skopeo/umoci/docker-registry if missing; fails the test, saying why, if impossible
/// (a test that passes without its tools proves nothing; scripts/setup.sh installs them).
pub fn require_tools() {
    let out = Command::new(format!("{SCRIPTS}/start.sh"))
        .arg("--check-tools")
        .output()
        .expect("running start.sh");
    match out.status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "the OCI tools are missing (run scripts/setup.sh): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        _ => panic!(
            "start.sh --check-tools failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A running docker-registry; stopped (and its storage removed) when dropped, also on panic.
pub struct Registry {
    pub port: u16,
    pub auth: Option<(String, String)>,
    running: bool,
    state: tempfile::TempDir,
}

impl Registry {
    /// Starts one; fails the test, saying why, if docker-registry cannot be installed.
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        let state = tempfile::Builder::new()
            .prefix("pgext-registry-")
            .tempdir()
            .expect("tempdir");
        let mut cmd = Command::new(format!("{SCRIPTS}/start.sh"));
        cmd.arg(state.path());
        if let Some((u, p)) = auth {
            cmd.arg("--auth").arg(format!("{u}:{p}"));
        }
        let out = cmd.output().expect("running start.sh");
        match out.status.code() {
            Some(0) => {}
            Some(3) => panic!(
                "docker-registry is missing (run scripts/setup.sh): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            _ => panic!("start.sh failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
        let port = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("start.sh prints the port");
        Registry {
            port,
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            running: true,
            state,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it now (idempotent).
    pub fn stop(&mut self) {
        if self.running {
            self.running = false;
            let _ = Command::new(format!("{SCRIPTS}/stop.sh"))
                .arg(self.state.path())
                .status();
        }
    }

    /// The file the registry keeps a blob's bytes in.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.state.path().join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }

    /// `skopeo copy oci:LAYOUT:TAG docker://HOST/DEST`, digests preserved (`all`: whole index).
    pub fn push(&self, layout: &Path, tag: &str, dest: &str, all: bool) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]);
        if all {
            cmd.arg("--all");
        }
        if let Some((u, p)) = &self.auth {
            cmd.arg("--dest-creds").arg(format!("{u}:{p}"));
        }
        cmd.arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{dest}", self.host()));
        run(&mut cmd);
    }

    /// Pushes LAYOUT:TAG converted by skopeo to Docker schema 2 media types; returns the digest
    /// of the manifest as pushed.
    pub fn push_docker_v2s2(&self, layout: &Path, tag: &str, dest: &str) -> String {
        let digest_file = layout.with_extension("digest");
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            "--digestfile",
        ])
        .arg(&digest_file);
        cmd.arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{dest}", self.host()));
        run(&mut cmd);
        std::fs::read_to_string(digest_file)
            .expect("digest file")
            .trim()
            .to_owned()
    }

    /// Options for this registry: plain HTTP allowed for it, short timeouts.
    pub fn options(&self) -> VerifyOptions {
        VerifyOptions {
            insecure_registries: vec![self.host()],
            connect_timeout: Some(std::time::Duration::from_secs(2)),
            read_timeout: Some(std::time::Duration::from_secs(10)),
            ..VerifyOptions::default()
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sha256:<hex>` of bytes.
pub fn digest_of(data: &[u8]) -> String {
    Digest::of(Algorithm::Sha256, data).to_string()
}

/// An entry of a hand-written layer tar.
pub enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, u32, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    /// Name bytes written as they are (for `../` and friends).
    Raw(&'a [u8], &'a [u8]),
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn append(b: &mut tar::Builder<Vec<u8>>, mut h: tar::Header, name: &[u8], link: Option<&[u8]>, data: &[u8]) {
    let gnu = h.as_gnu_mut().expect("gnu header");
    assert!(name.len() < 100, "test names stay short");
    gnu.name = [0; 100];
    gnu.name[..name.len()].copy_from_slice(name);
    if let Some(l) = link {
        gnu.linkname = [0; 100];
        gnu.linkname[..l.len()].copy_from_slice(l);
    }
    h.set_cksum();
    b.append(&h, data).expect("append");
}

/// A layer tar of `entries`, in order.
pub fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match *e {
            E::Dir(p, m) => append(&mut b, header(tar::EntryType::Directory, m, 0), p.as_bytes(), None, b""),
            E::File(p, m, d) => append(
                &mut b,
                header(tar::EntryType::Regular, m, d.len() as u64),
                p.as_bytes(),
                None,
                d,
            ),
            E::Sym(p, t) => append(
                &mut b,
                header(tar::EntryType::Symlink, 0o777, 0),
                p.as_bytes(),
                Some(t.as_bytes()),
                b"",
            ),
            E::Hard(p, t) => append(
                &mut b,
                header(tar::EntryType::Link, 0o644, 0),
                p.as_bytes(),
                Some(t.as_bytes()),
                b"",
            ),
            E::Raw(n, d) => append(
                &mut b,
                header(tar::EntryType::Regular, 0o644, d.len() as u64),
                n,
                None,
                d,
            ),
        }
    }
    b.into_inner().expect("tar")
}

/// A layer blob with its media type and diff ID.
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

pub fn plain(tar: Vec<u8>) -> Layer {
    Layer {
        diff_id: digest_of(&tar),
        blob: tar,
        media_type: LAYER_TAR,
    }
}

pub fn gzip(tar: Vec<u8>) -> Layer {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    Layer {
        diff_id: digest_of(&tar),
        blob: gz.finish().expect("gzip"),
        media_type: LAYER_GZIP,
    }
}

pub fn zstd(tar: Vec<u8>) -> Layer {
    Layer {
        diff_id: digest_of(&tar),
        blob: zstd::stream::encode_all(&tar[..], 3).expect("zstd"),
        media_type: LAYER_ZSTD,
    }
}

/// A content descriptor.
#[derive(Debug, Clone)]
pub struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Desc {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// An OCI image layout being written.
pub struct Layout {
    pub dir: PathBuf,
    tags: Vec<serde_json::Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
        let mut l = Layout {
            dir: dir.to_owned(),
            tags: Vec::new(),
        };
        l.write_index();
        l
    }

    fn write_index(&mut self) {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.tags});
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("index.json");
    }

    pub fn blob(&self, media_type: &str, data: &[u8]) -> Desc {
        let digest = digest_of(data);
        let path = self.dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
        std::fs::write(path, data).expect("blob");
        Desc {
            media_type: media_type.to_owned(),
            digest,
            size: data.len() as u64,
        }
    }

    /// Moves the file at `path` into the layout as a blob (hashed while streaming).
    pub fn blob_file(&self, media_type: &str, path: &Path) -> Desc {
        let mut file = std::fs::File::open(path).expect("open blob file");
        let (sha, size) = pgext_core::hash::hash_reader(&mut file, &mut []).expect("hash blob file");
        let hex = pgext_core::hash::to_hex(&sha);
        std::fs::rename(path, self.dir.join("blobs/sha256").join(&hex)).expect("move blob");
        Desc {
            media_type: media_type.to_owned(),
            digest: format!("sha256:{hex}"),
            size,
        }
    }

    /// An image manifest (and config) for `arch` with these layers.
    pub fn image(&self, layers: &[Layer], arch: &str) -> Desc {
        let descs: Vec<(Desc, String)> = layers
            .iter()
            .map(|l| (self.blob(l.media_type, &l.blob), l.diff_id.clone()))
            .collect();
        self.image_of(&descs, arch)
    }

    /// An image manifest (and config) over layer blobs already in the layout, with diff IDs.
    pub fn image_of(&self, layers: &[(Desc, String)], arch: &str) -> Desc {
        self.manifest_of(layers, arch, OCI_MANIFEST, OCI_CONFIG)
    }

    fn manifest_of(&self, layers: &[(Desc, String)], arch: &str, manifest_type: &str, config_type: &str) -> Desc {
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {}, "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.1.clone()).collect::<Vec<_>>()},
        });
        let config = self.blob(config_type, &serde_json::to_vec(&config).expect("json"));
        let layer_descs: Vec<serde_json::Value> = layers.iter().map(|l| l.0.json()).collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": manifest_type, "config": config.json(), "layers": layer_descs,
        });
        self.blob(manifest_type, &serde_json::to_vec(&manifest).expect("json"))
    }

    /// An image index over `(manifest, architecture, variant)`.
    pub fn index(&self, entries: &[(&Desc, &str, Option<&str>)]) -> Desc {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(d, arch, variant)| {
                let mut j = d.json();
                let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
                if let Some(v) = variant {
                    platform["variant"] = serde_json::json!(v);
                }
                j["platform"] = platform;
                j
            })
            .collect();
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        self.blob(OCI_INDEX, &serde_json::to_vec(&index).expect("json"))
    }

    /// Names `d` `tag` in index.json (replacing an earlier entry with that tag).
    pub fn tag(&mut self, d: &Desc, tag: &str) {
        self.tags
            .retain(|t| t["annotations"]["org.opencontainers.image.ref.name"] != tag);
        let mut j = d.json();
        j["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        self.tags.push(j);
        self.write_index();
    }
}

/// What a container runtime would mount: `umoci raw unpack` of LAYOUT:TAG into `rootfs`.
pub fn unpack(layout: &Path, tag: &str, rootfs: &Path) {
    run(Command::new("umoci")
        .args(["raw", "unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(rootfs));
}

/// pgext_core's scan of a tree (hashed), which must have no problems.
pub fn scan(root: &Path) -> Vec<TreeEntry> {
    let scan = pgext_core::tree::scan_tree(root, &pgext_core::tree::ScanOptions::default(), None).expect("scan");
    assert!(scan.problems.is_empty(), "scan problems: {:?}", scan.problems);
    scan.entries
}

/// A CNPG-style extension image (`FROM scratch`: lib/, share/extension/, licenses/), version 1.
pub fn cnpg_v1() -> Vec<u8> {
    tar(&[
        E::Dir("lib/", 0o755),
        E::File("lib/vector.so", 0o755, b"\x7fELF pretend shared object v1"),
        E::Dir("share/", 0o755),
        E::Dir("share/extension/", 0o755),
        E::File(
            "share/extension/vector.control",
            0o644,
            b"default_version = '0.8.1'\nmodule_pathname = '$libdir/vector'\n",
        ),
        E::File("share/extension/vector--0.8.1.sql", 0o644, b"CREATE TYPE vector;\n"),
        // No explicit licenses/ directory: runtimes create it 0755.
        E::File("licenses/vector/LICENSE", 0o444, b"PostgreSQL License\n"),
        E::Sym("lib/vector.so.0", "vector.so"),
        E::Hard("lib/vector.so.0.8", "lib/vector.so"),
    ])
}

/// Version 2 of the same image: different library bytes.
pub fn cnpg_v2() -> Vec<u8> {
    tar(&[
        E::Dir("lib/", 0o755),
        E::File("lib/vector.so", 0o755, b"\x7fELF pretend shared object v2"),
        E::Dir("share/", 0o755),
        E::Dir("share/extension/", 0o755),
        E::File("share/extension/vector.control", 0o644, b"default_version = '0.8.2'\n"),
    ])
}
