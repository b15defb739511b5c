//! Verification against a real docker-registry (Debian's distribution 2.8) on 127.0.0.1, with
//! images pushed by skopeo and "mounts" unpacked by umoci. Each test starts its own registry and
//! stops it when done (also on failure); a missing tool fails the test, saying why.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use pgext_oci::{
    Auth, DifferenceKind, EntryKind, ErrorCode, ImageReference, Platform, RegistryCredentials, TreeEntry,
    VerifyOptions, expected_image, verify,
};

fn reference(s: &str) -> ImageReference {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn sorted(mut entries: Vec<TreeEntry>) -> Vec<TreeEntry> {
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    entries
}

/// A pushed one-image repository and its unpacked mount.
struct Pushed {
    work: tempfile::TempDir,
    layout: Layout,
    image: Desc,
}

impl Pushed {
    fn mount(&self) -> std::path::PathBuf {
        self.work.path().join("mount")
    }
}

/// Writes an image of `layers` tagged `tag` into a fresh layout, pushes it as `dest`, unpacks it.
fn push_image(reg: &Registry, layers: Vec<Layer>, tag: &str, dest: &str) -> Pushed {
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image(&layers, "amd64");
    layout.tag(&image, tag);
    reg.push(&layout.dir, tag, dest, false);
    unpack(&layout.dir, tag, &work.path().join("mount"));
    Pushed { work, layout, image }
}

#[test]
fn clean_image_verifies_and_digests_match() {
    let reg = Registry::start(None);
    let p = push_image(&reg, vec![gzip(cnpg_v1())], "v1", "ext/vector:v1");
    let actual = scan(&p.mount());
    let r = reference(&format!("{}/ext/vector:v1@{}", reg.host(), p.image.digest));
    let v = verify(&r, &reg.options(), &actual, &never).expect("verify");

    assert!(v.differences.is_empty(), "{:#?}", v.differences);
    assert!(v.intact());
    // The proof: the canonical digest of the image's tree is the digest of the untouched mount.
    let mount_digest = pgext_core::tree::tree_digest(&actual).expect("mount digest");
    assert_eq!(v.image.tree_digest, mount_digest);
    assert_eq!(v.actual_tree_digest, Some(mount_digest));
    assert_eq!(v.image.entries, sorted(actual));

    assert_eq!(v.image.resolved_digest.to_string(), p.image.digest);
    assert_eq!(v.image.manifest_digest.to_string(), p.image.digest);
    assert_eq!(
        v.image.tag_digest.as_ref().map(ToString::to_string),
        Some(p.image.digest.clone())
    );
    assert!(!v.image.tag_moved);
    assert_eq!(
        v.image.platform.as_ref().map(ToString::to_string).as_deref(),
        Some("linux/amd64")
    );
    assert_eq!(v.image.layers.len(), 1);
    // Runtime conventions: implicit parent 0755, symlinks recorded with their target.
    let licenses = v
        .image
        .entries
        .iter()
        .find(|e| e.path == "licenses")
        .expect("implicit dir");
    assert_eq!((licenses.kind, licenses.mode), (EntryKind::Dir, 0o755));
    let link = v
        .image
        .entries
        .iter()
        .find(|e| e.path == "lib/vector.so.0")
        .expect("symlink");
    assert_eq!(link.link_target.as_deref(), Some("vector.so"));
}

#[test]
fn modified_missing_unexpected_and_mode_changes_are_reported() {
    let reg = Registry::start(None);
    let p = push_image(&reg, vec![gzip(cnpg_v1())], "v1", "ext/vector:v1");
    let m = p.mount();
    std::fs::write(m.join("lib/vector.so"), b"\x7fELF tampered").expect("modify");
    std::fs::remove_file(m.join("share/extension/vector--0.8.1.sql")).expect("remove");
    std::fs::write(m.join("lib/evil.so"), b"\x7fELF evil").expect("add");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        m.join("share/extension/vector.control"),
        std::fs::Permissions::from_mode(0o666),
    )
    .expect("chmod");
    let actual = scan(&m);

    let r = reference(&format!("{}/ext/vector@{}", reg.host(), p.image.digest));
    let v = verify(&r, &reg.options(), &actual, &never).expect("verify");
    let got: Vec<(&str, DifferenceKind)> = v.differences.iter().map(|d| (d.path.as_str(), d.kind)).collect();
    assert_eq!(
        got,
        [
            ("lib/evil.so", DifferenceKind::Unexpected),
            ("lib/vector.so", DifferenceKind::Modified),
            // A hard link in the mount, as in the image: one write changes both names.
            ("lib/vector.so.0.8", DifferenceKind::Modified),
            ("share/extension/vector--0.8.1.sql", DifferenceKind::Missing),
            ("share/extension/vector.control", DifferenceKind::ModeChanged),
        ]
    );
    assert!(!v.intact());
    assert_ne!(v.actual_tree_digest, Some(v.image.tree_digest));
    assert_eq!(v.differences[4].expected.as_deref(), Some("0644"));
    assert_eq!(v.differences[4].actual.as_deref(), Some("0666"));
}

#[test]
fn moved_tag_is_reported_and_the_pin_still_verifies() {
    let reg = Registry::start(None);
    let mut p = push_image(&reg, vec![gzip(cnpg_v1())], "v1", "ext/vector:1");
    let v2 = p.layout.image(&[gzip(cnpg_v2())], "amd64");
    p.layout.tag(&v2, "v2");
    // The tag now points at v2.
    reg.push(&p.layout.dir, "v2", "ext/vector:1", false);
    let actual = scan(&p.mount());

    let pinned = reference(&format!("{}/ext/vector:1@{}", reg.host(), p.image.digest));
    let v = verify(&pinned, &reg.options(), &actual, &never).expect("verify");
    assert!(v.image.tag_moved);
    assert_eq!(
        v.image.tag_digest.as_ref().map(ToString::to_string),
        Some(v2.digest.clone())
    );
    assert_eq!(v.image.resolved_digest.to_string(), p.image.digest);
    assert!(v.intact(), "{:#?}", v.differences);

    // Without the pin, the tag's new content is what the mount is compared with.
    let floating = reference(&format!("{}/ext/vector:1", reg.host()));
    let v = verify(&floating, &reg.options(), &actual, &never).expect("verify");
    assert_eq!(v.image.resolved_digest.to_string(), v2.digest);
    assert!(!v.image.tag_moved);
    assert!(v.image.tag_digest.is_none());
    assert!(!v.intact());
}

fn flip_middle_byte(path: &Path) {
    let mut data = std::fs::read(path).expect("read blob");
    let i = data.len() / 2;
    data[i] ^= 0x01;
    std::fs::write(path, data).expect("write blob");
}

#[test]
fn corrupted_blobs_in_registry_storage_are_digest_mismatches() {
    let reg = Registry::start(None);
    let p = push_image(&reg, vec![gzip(cnpg_v1())], "v1", "ext/vector:v1");
    let actual = scan(&p.mount());
    let r = reference(&format!("{}/ext/vector:v1@{}", reg.host(), p.image.digest));

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reg.blob_data(&p.image.digest)).expect("manifest")).expect("json");
    let layer_digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .to_owned();
    let layer_file = reg.blob_data(&layer_digest);
    let pristine = std::fs::read(&layer_file).expect("layer");
    flip_middle_byte(&layer_file);
    let err = verify(&r, &reg.options(), &actual, &never).expect_err("corrupted layer");
    assert_eq!(err.code(), ErrorCode::DigestMismatch, "{err}");
    assert!(err.to_string().contains(&layer_digest), "{err}");
    std::fs::write(&layer_file, pristine).expect("restore");
    verify(&r, &reg.options(), &actual, &never).expect("restored layer verifies");

    flip_middle_byte(&reg.blob_data(&p.image.digest));
    let err = verify(&r, &reg.options(), &actual, &never).expect_err("corrupted manifest");
    assert_eq!(err.code(), ErrorCode::DigestMismatch, "{err}");
}

#[test]
fn stopped_registry_is_unreachable_fast() {
    let mut reg = Registry::start(None);
    let p = push_image(&reg, vec![gzip(cnpg_v1())], "v1", "ext/vector:v1");
    reg.stop();
    let r = reference(&format!("{}/ext/vector:v1@{}", reg.host(), p.image.digest));
    let start = Instant::now();
    let err = expected_image(&r, &reg.options(), &never).expect_err("stopped");
    assert_eq!(err.code(), ErrorCode::Unreachable, "{err}");
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
}

/// A TCP listener that accepts connections and never answers.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn options(&self, read_timeout: Duration) -> VerifyOptions {
        VerifyOptions {
            insecure_registries: vec![format!("127.0.0.1:{}", self.port)],
            connect_timeout: Some(Duration::from_secs(1)),
            read_timeout: Some(read_timeout),
            ..VerifyOptions::default()
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn silent_server_ends_with_read_timeout() {
    let silent = Silent::start();
    let r = reference(&format!("127.0.0.1:{}/ext/vector:v1", silent.port));
    let start = Instant::now();
    let err = expected_image(&r, &silent.options(Duration::from_millis(300)), &never).expect_err("silent");
    assert_eq!(err.code(), ErrorCode::Timeout, "{err}");
    assert!(start.elapsed() < Duration::from_millis(1500), "{:?}", start.elapsed());
}

#[test]
fn silent_server_wait_is_cancelled_within_a_second() {
    let silent = Silent::start();
    let r = reference(&format!("127.0.0.1:{}/ext/vector:v1", silent.port));
    let start = Instant::now();
    let cancel = move || start.elapsed() > Duration::from_millis(300);
    let err = expected_image(&r, &silent.options(Duration::from_secs(60)), &cancel).expect_err("cancelled");
    assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
    assert!(start.elapsed() < Duration::from_millis(1000), "{:?}", start.elapsed());
}

#[test]
fn multi_arch_index_picks_the_platform() {
    let reg = Registry::start(None);
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let amd = layout.image(&[gzip(cnpg_v1())], "amd64");
    let arm = layout.image(&[gzip(cnpg_v2())], "arm64");
    let index = layout.index(&[(&amd, "amd64", None), (&arm, "arm64", Some("v8"))]);
    layout.tag(&index, "multi");
    layout.tag(&amd, "amd");
    layout.tag(&arm, "arm");
    reg.push(&layout.dir, "multi", "ext/multi:1", true);
    unpack(&layout.dir, "amd", &work.path().join("amd"));
    unpack(&layout.dir, "arm", &work.path().join("arm"));

    let r = reference(&format!("{}/ext/multi:1@{}", reg.host(), index.digest));
    let amd_mount = scan(&work.path().join("amd"));
    let v = verify(&r, &reg.options(), &amd_mount, &never).expect("verify amd64");
    assert!(v.intact(), "{:#?}", v.differences);
    assert_eq!(v.image.resolved_digest.to_string(), index.digest);
    assert_eq!(v.image.manifest_digest.to_string(), amd.digest);

    let arm64 = VerifyOptions {
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: None,
        },
        ..reg.options()
    };
    let e = expected_image(&r, &arm64, &never).expect("arm64");
    assert_eq!(e.manifest_digest.to_string(), arm.digest);
    assert_eq!(e.entries, sorted(scan(&work.path().join("arm"))));

    let s390x = VerifyOptions {
        platform: Platform {
            os: "linux".into(),
            architecture: "s390x".into(),
            variant: None,
        },
        ..reg.options()
    };
    let err = expected_image(&r, &s390x, &never).expect_err("no s390x");
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(err.to_string().contains("linux/arm64/v8"), "{err}");
}

#[test]
fn whiteouts_and_opaque_directories_across_two_layers() {
    let reg = Registry::start(None);
    let lower = tar(&[
        E::Dir("lib/", 0o755),
        E::File("lib/a.so", 0o755, b"a"),
        E::File("lib/b.so", 0o755, b"b"),
        E::Dir("share/", 0o755),
        E::Dir("share/extension/", 0o755),
        E::File("share/extension/keep.control", 0o644, b"keep"),
        E::Dir("share/extension/old/", 0o755),
        E::File("share/extension/old/x.sql", 0o644, b"x"),
        E::Dir("share/extension/old/sub/", 0o700),
        E::File("share/extension/old/sub/y.sql", 0o644, b"y"),
        E::Dir("gone/", 0o755),
        E::File("gone/deep/file", 0o644, b"deep"),
    ]);
    let upper = tar(&[
        E::Dir("lib/", 0o755),
        E::File("lib/.wh.b.so", 0o644, b""),
        E::File("lib/c.so", 0o755, b"c"),
        E::File(".wh.gone", 0o644, b""),
        E::Dir("share/extension/old/", 0o750),
        E::File("share/extension/old/.wh..wh..opq", 0o644, b""),
        E::File("share/extension/old/z.sql", 0o644, b"z"),
    ]);
    let p = push_image(&reg, vec![gzip(lower), gzip(upper)], "v1", "ext/layers:v1");
    let actual = scan(&p.mount());
    let r = reference(&format!("{}/ext/layers@{}", reg.host(), p.image.digest));
    let v = verify(&r, &reg.options(), &actual, &never).expect("verify");
    assert!(v.intact(), "{:#?}", v.differences);
    let paths: Vec<&str> = v.image.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "lib",
            "lib/a.so",
            "lib/c.so",
            "share",
            "share/extension",
            "share/extension/keep.control",
            "share/extension/old",
            "share/extension/old/z.sql",
        ]
    );
    let old = v
        .image
        .entries
        .iter()
        .find(|e| e.path == "share/extension/old")
        .expect("old");
    assert_eq!(old.mode, 0o750);
}

#[test]
fn zstd_layer_verifies() {
    let reg = Registry::start(None);
    let work = tempfile::tempdir().expect("tempdir");
    let base = || tar(&[E::File("lib/base.so", 0o755, b"base")]);
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image(&[gzip(base()), zstd(cnpg_v1())], "amd64");
    layout.tag(&image, "v1");
    reg.push(&layout.dir, "v1", "ext/zstd:v1", false);
    // umoci 0.4 cannot unpack zstd layers: the mount comes from a gzip twin of the same tars
    // (same diff IDs), still unpacked by umoci rather than by the code under test.
    let mut twin = Layout::new(&work.path().join("twin"));
    let twin_image = twin.image(&[gzip(base()), gzip(cnpg_v1())], "amd64");
    twin.tag(&twin_image, "v1");
    unpack(&twin.dir, "v1", &work.path().join("mount"));

    let actual = scan(&work.path().join("mount"));
    let r = reference(&format!("{}/ext/zstd:v1@{}", reg.host(), image.digest));
    let v = verify(&r, &reg.options(), &actual, &never).expect("verify");
    assert_eq!(v.image.layers[1].media_type, LAYER_ZSTD);
    assert!(v.intact(), "{:#?}", v.differences);
    assert!(v.image.entries.iter().any(|e| e.path == "lib/base.so"));
}

#[test]
fn docker_schema2_media_types_verify() {
    let reg = Registry::start(None);
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image(&[gzip(cnpg_v1())], "amd64");
    layout.tag(&image, "v1");
    let pushed = reg.push_docker_v2s2(&layout.dir, "v1", "ext/docker:v1");
    assert_ne!(pushed, image.digest, "skopeo converted the manifest");
    unpack(&layout.dir, "v1", &work.path().join("mount"));
    let actual = scan(&work.path().join("mount"));
    let r = reference(&format!("{}/ext/docker:v1@{pushed}", reg.host()));
    let v = verify(&r, &reg.options(), &actual, &never).expect("verify");
    assert_eq!(v.image.layers[0].media_type, DOCKER_LAYER_GZIP);
    assert!(v.intact(), "{:#?}", v.differences);
}

#[test]
fn hostile_layer_with_parent_traversal_is_refused() {
    let reg = Registry::start(None);
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let evil = tar(&[
        E::File("lib/ok.so", 0o755, b"ok"),
        E::Raw(b"lib/../../../etc/cron.d/evil", b"* * * * * root sh"),
    ]);
    let image = layout.image(&[gzip(evil)], "amd64");
    layout.tag(&image, "v1");
    reg.push(&layout.dir, "v1", "ext/evil:v1", false);
    let r = reference(&format!("{}/ext/evil:v1@{}", reg.host(), image.digest));
    let err = expected_image(&r, &reg.options(), &never).expect_err("hostile");
    assert_eq!(err.code(), ErrorCode::HostileLayer, "{err}");
    assert!(
        err.to_string().contains("etc/cron.d/evil") && err.to_string().contains(".."),
        "{err}"
    );
}

fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> std::path::PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join("config.json");
    std::fs::write(&path, format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)).expect("config.json");
    path
}

#[test]
fn basic_auth_with_docker_config() {
    let reg = Registry::start(Some(("alice", "s3cret-pw")));
    let p = push_image(&reg, vec![gzip(cnpg_v1())], "v1", "ext/private:v1");
    let actual = scan(&p.mount());
    let r = reference(&format!("{}/ext/private:v1@{}", reg.host(), p.image.digest));

    let good = docker_config(p.work.path(), &reg.host(), "alice", "s3cret-pw");
    let opts = VerifyOptions {
        auth: Auth::DockerConfigFile(good),
        ..reg.options()
    };
    let v = verify(&r, &opts, &actual, &never).expect("authenticated verify");
    assert!(v.intact(), "{:#?}", v.differences);

    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = docker_config(dir.path(), &reg.host(), "alice", "wrong-horse-battery");
    let opts = VerifyOptions {
        auth: Auth::DockerConfigFile(wrong),
        ..reg.options()
    };
    let err = expected_image(&r, &opts, &never).expect_err("wrong password");
    assert_eq!(err.code(), ErrorCode::Auth, "{err}");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("wrong-horse-battery") && !shown.contains("s3cret-pw"),
        "{shown}"
    );

    let err = expected_image(&r, &reg.options(), &never).expect_err("anonymous");
    assert_eq!(err.code(), ErrorCode::Auth, "{err}");

    // A FIFO where the config.json should be is refused at once, never waited on.
    let fifo = dir.path().join("fifo.json");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let opts = VerifyOptions {
        auth: Auth::DockerConfigFile(fifo),
        ..reg.options()
    };
    let started = std::time::Instant::now();
    let err = expected_image(&r, &opts, &never).expect_err("a FIFO is no config.json");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "waited on the FIFO"
    );
    assert!(err.to_string().contains("not a regular file"), "{err}");

    let opts = VerifyOptions {
        auth: Auth::Credentials(RegistryCredentials::new("alice", "s3cret-pw")),
        ..reg.options()
    };
    expected_image(&r, &opts, &never).expect("explicit credentials");
}

/// `openssl s_server` with a self-signed certificate; killed when dropped.
struct TlsServer {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
        assert!(
            std::process::Command::new("openssl").arg("version").output().is_ok(),
            "no openssl command (run scripts/setup.sh)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl req");
        assert!(status.success(), "openssl req failed");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let server = TlsServer { port, child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn untrusted_tls_certificate_is_refused() {
    let server = TlsServer::start();
    let r = reference(&format!("127.0.0.1:{}/ext/vector:v1", server.port));
    let opts = VerifyOptions {
        connect_timeout: Some(Duration::from_secs(2)),
        ..VerifyOptions::default()
    };
    let err = expected_image(&r, &opts, &never).expect_err("self-signed");
    eprintln!("{err}");
    assert_eq!(err.code(), ErrorCode::Unreachable, "{err}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}
