//! A hostile registry (tests/hostile/mod.rs: a hand-written HTTP server on 127.0.0.1) against
//! the registry client: it never answers, drips, lies about digests and sizes, redirects in loops
//! and to plain HTTP, sends endless manifests, tokens and error bodies. Each must end with a clear
//! error code, within the configured timeouts, without reading the body whole. (Peak memory is
//! measured in hostile_memory.rs, alone in its binary.)

mod common;
mod hostile;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hostile::{Conn, Server};
use pgext_oci::{ErrorCode, ImageReference, OciError, VerifyOptions, expected_image};

const REPO: &str = "ext/vector";

/// A one-layer image written to a layout, served from there by default.
struct Image {
    _work: tempfile::TempDir,
    dir: std::path::PathBuf,
    manifest: Desc,
    layer: Desc,
}

impl Image {
    fn new() -> Arc<Image> {
        Self::with_layer_size(None)
    }

    /// With the layer descriptor's size replaced by `size` (the blob stays as it is).
    fn with_layer_size(size: Option<u64>) -> Arc<Image> {
        let work = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(&work.path().join("layout"));
        let l = gzip(cnpg_v1());
        let mut layer = layout.blob(l.media_type, &l.blob);
        let real = layer.clone();
        if let Some(s) = size {
            layer.size = s;
        }
        let manifest = layout.image_of(&[(layer, l.diff_id.clone())], "amd64");
        Arc::new(Image {
            dir: layout.dir.clone(),
            _work: work,
            manifest,
            layer: real,
        })
    }

    fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let hex = digest.strip_prefix("sha256:")?;
        std::fs::read(self.dir.join("blobs/sha256").join(hex)).ok()
    }

    /// Answers like an honest registry.
    fn serve(&self, c: &mut Conn<'_>) {
        let path = c.req.path.clone();
        let prefix = format!("/v2/{REPO}/");
        let Some(rest) = path.strip_prefix(&prefix) else {
            return c.respond("404 Not Found", &[], b"");
        };
        let (kind, name) = rest.split_once('/').unwrap_or((rest, ""));
        let digest = if kind == "manifests" && name == "v1" {
            self.manifest.digest.clone()
        } else {
            name.to_owned()
        };
        match self.blob(&digest) {
            Some(bytes) if kind == "manifests" => c.respond("200 OK", &[("Content-Type", OCI_MANIFEST.into())], &bytes),
            Some(bytes) => c.respond("200 OK", &[], &bytes),
            None => c.respond(
                "404 Not Found",
                &[("Content-Type", "application/json".into())],
                br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#,
            ),
        }
    }

    fn reference(&self, host: &str) -> ImageReference {
        format!("{host}/{REPO}:v1@{}", self.manifest.digest)
            .parse()
            .expect("reference")
    }
}

fn options(hosts: &[&Server]) -> VerifyOptions {
    VerifyOptions {
        insecure_registries: hosts.iter().map(|s| s.host()).collect(),
        connect_timeout: Some(Duration::from_secs(2)),
        read_timeout: Some(Duration::from_secs(3)),
        total_timeout: Some(Duration::from_secs(20)),
        ..VerifyOptions::default()
    }
}

/// Runs `expected_image`, expecting failure with `code` within `within`.
fn fails(r: &ImageReference, opts: &VerifyOptions, code: ErrorCode, within: Duration) -> OciError {
    let start = Instant::now();
    let err = expected_image(r, opts, &never).expect_err("must fail");
    let took = start.elapsed();
    eprintln!("{code}: {err} ({took:?})");
    assert_eq!(err.code(), code, "{err}");
    assert!(took < within, "took {took:?} (limit {within:?}): {err}");
    err
}

fn is_manifest(c: &Conn<'_>) -> bool {
    c.req.path.contains("/manifests/")
}

#[test]
fn honest_server_verifies() {
    let img = Image::new();
    let i = img.clone();
    let server = Server::start(move |c| i.serve(c));
    let e = expected_image(&img.reference(&server.host()), &options(&[&server]), &never).expect("honest server");
    assert_eq!(e.manifest_digest.to_string(), img.manifest.digest);
    assert!(!e.entries.is_empty());
}

#[test]
fn never_answering_ends_with_the_read_timeout() {
    let img = Image::new();
    let server = Server::start(|c| c.hang());
    let opts = VerifyOptions {
        read_timeout: Some(Duration::from_millis(500)),
        ..options(&[&server])
    };
    fails(
        &img.reference(&server.host()),
        &opts,
        ErrorCode::Timeout,
        Duration::from_secs(2),
    );
}

#[test]
fn never_answering_is_cancelled_within_a_second() {
    let img = Image::new();
    let server = Server::start(|c| c.hang());
    let opts = VerifyOptions {
        read_timeout: Some(Duration::from_secs(60)),
        ..options(&[&server])
    };
    let start = Instant::now();
    let cancel = move || start.elapsed() > Duration::from_millis(300);
    let err = expected_image(&img.reference(&server.host()), &opts, &cancel).expect_err("cancelled");
    assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
}

#[test]
fn dripping_one_byte_a_second_ends_at_the_total_timeout() {
    let img = Image::new();
    let i = img.clone();
    let server = Server::start(move |c| {
        if is_manifest(c) {
            c.drip(1000, Duration::from_secs(1));
        } else {
            i.serve(c);
        }
    });
    // Each byte arrives well within the read timeout: only the total timeout can end it.
    let opts = VerifyOptions {
        read_timeout: Some(Duration::from_secs(3)),
        total_timeout: Some(Duration::from_secs(3)),
        ..options(&[&server])
    };
    fails(
        &img.reference(&server.host()),
        &opts,
        ErrorCode::Timeout,
        Duration::from_secs(5),
    );
}

#[test]
fn a_manifest_that_does_not_hash_to_the_pin_is_a_digest_mismatch() {
    let img = Image::new();
    let server = Server::start(|c| {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
        c.respond("200 OK", &[("Content-Type", OCI_MANIFEST.into())], body);
    });
    fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::DigestMismatch,
        Duration::from_secs(5),
    );
}

#[test]
fn a_blob_whose_content_length_differs_from_its_descriptor_is_refused_up_front() {
    let img = Image::new();
    let i = img.clone();
    let layer = img.layer.digest.clone();
    let server = Server::start(move |c| {
        if c.req.path.ends_with(&layer) {
            c.stream_body("200 OK", &[], Some(i.layer.size + 1));
        } else {
            i.serve(c);
        }
    });
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::DigestMismatch,
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("Content-Length"), "{err}");
}

#[test]
fn a_blob_that_breaks_off_before_its_content_length_is_unreachable() {
    let img = Image::new();
    let i = img.clone();
    let layer = img.layer.digest.clone();
    let server = Server::start(move |c| {
        if c.req.path.ends_with(&layer) {
            let bytes = i.blob(&layer).expect("layer");
            if c.head("200 OK", &[("Content-Length", bytes.len().to_string())]) {
                let _ = std::io::Write::write_all(c.stream, &bytes[..bytes.len() / 2]);
            }
        } else {
            i.serve(c);
        }
    });
    fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::Unreachable,
        Duration::from_secs(5),
    );
}

#[test]
fn an_endless_blob_stops_at_its_descriptor_size() {
    let img = Image::new();
    let i = img.clone();
    let layer = img.layer.digest.clone();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s = sent.clone();
    let server = Server::start(move |c| {
        if c.req.path.ends_with(&layer) {
            let n = c.stream_body("200 OK", &[], None);
            s.store(n, std::sync::atomic::Ordering::Relaxed);
        } else {
            i.serve(c);
        }
    });
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::DigestMismatch,
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("(size)"), "{err}");
    drop(server);
    // What the kernel buffers before the client hangs up, not gigabytes.
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent < 64 << 20, "server sent {sent} bytes");
}

#[test]
fn a_blob_with_other_bytes_of_the_right_size_is_a_digest_mismatch() {
    let img = Image::new();
    let i = img.clone();
    let layer = img.layer.digest.clone();
    let server = Server::start(move |c| {
        if c.req.path.ends_with(&layer) {
            c.stream_body("200 OK", &[], Some(i.layer.size));
        } else {
            i.serve(c);
        }
    });
    fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::DigestMismatch,
        Duration::from_secs(5),
    );
}

#[test]
fn a_layer_descriptor_of_ten_gigabytes_is_refused_before_downloading() {
    let img = Image::with_layer_size(Some(10 << 30));
    let i = img.clone();
    let server = Server::start(move |c| i.serve(c));
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::TooLarge,
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("layer"), "{err}");
}

#[test]
fn redirect_loops_end_after_a_few_redirects() {
    let img = Image::new();
    let server = Server::start(|c| {
        let to = c.req.path.clone();
        c.respond("307 Temporary Redirect", &[("Location", to)], b"");
    });
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::Unreachable,
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("redirect"), "{err}");
    assert!(
        server.requests() <= pgext_oci::MAX_REDIRECTS + 1,
        "{} requests",
        server.requests()
    );
}

/// A second server on another host name (`localhost`), which the options do not list as insecure.
fn bystander() -> Server {
    Server::start(|c| c.respond("200 OK", &[], b"{}"))
}

#[test]
fn a_redirect_to_plain_http_on_a_host_not_listed_is_refused() {
    let img = Image::new();
    let other = bystander();
    let target = format!("http://localhost:{}/blob", other.port);
    let i = img.clone();
    let layer = img.layer.digest.clone();
    let server = Server::start(move |c| {
        if c.req.path.ends_with(&layer) {
            c.respond("302 Found", &[("Location", target.clone())], b"");
        } else {
            i.serve(c);
        }
    });
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::Unreachable,
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("plain HTTP"), "{err}");
    assert!(
        !err.to_string().contains("/blob"),
        "a registry-chosen URL reached the message: {err}"
    );
    assert_eq!(other.requests(), 0, "the refused host was contacted");
}

#[test]
fn a_redirect_to_a_listed_host_is_followed() {
    let img = Image::new();
    let i = img.clone();
    let mirror = Server::start(move |c| i.serve(c));
    let to = mirror.host();
    let i = img.clone();
    let layer = img.layer.digest.clone();
    let server = Server::start(move |c| {
        if c.req.path.ends_with(&layer) {
            let target = format!("http://{to}{}", c.req.path);
            c.respond("302 Found", &[("Location", target)], b"");
        } else {
            i.serve(c);
        }
    });
    expected_image(&img.reference(&server.host()), &options(&[&server, &mirror]), &never).expect("redirect followed");
    assert_eq!(mirror.requests(), 1);
}

/// Demands a bearer token from `realm`; serves `img` to requests that carry `Bearer good`.
fn token_protected(img: Arc<Image>, realm: String) -> impl Fn(&mut Conn<'_>) + Send + Sync + 'static {
    move |c| {
        if c.req.path.starts_with("/token") {
            return c.respond("200 OK", &[], br#"{"token":"good"}"#);
        }
        if c.req.header("Authorization") == Some("Bearer good") {
            return img.serve(c);
        }
        let challenge = format!(r#"Bearer realm="{realm}",service="test",scope="repository:{REPO}:pull""#);
        c.respond(
            "401 Unauthorized",
            &[("WWW-Authenticate", challenge)],
            br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        );
    }
}

#[test]
fn a_bearer_token_from_a_listed_realm_is_used() {
    let img = Image::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let realm = format!("http://127.0.0.1:{port}/token");
    let server = Server::start_on(&format!("127.0.0.1:{port}"), token_protected(img.clone(), realm));
    expected_image(&img.reference(&server.host()), &options(&[&server]), &never).expect("token flow");
}

#[test]
fn a_token_realm_on_plain_http_of_a_host_not_listed_is_refused() {
    let img = Image::new();
    let other = bystander();
    let realm = format!("http://localhost:{}/token", other.port);
    let server = Server::start(token_protected(img.clone(), realm));
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::Unreachable,
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("token realm"), "{err}");
    assert_eq!(other.requests(), 0, "the token was asked for over plain HTTP");
}

#[test]
fn a_ten_gigabyte_manifest_is_refused_from_its_content_length() {
    let img = Image::new();
    let server = Server::start(|c| {
        c.stream_body("200 OK", &[("Content-Type", OCI_MANIFEST.into())], Some(10 << 30));
    });
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::TooLarge,
        Duration::from_secs(2),
    );
    assert!(err.to_string().contains("manifest"), "{err}");
}

#[test]
fn an_endless_manifest_is_cut_at_the_cap() {
    let img = Image::new();
    let server = Server::start(|c| {
        c.stream_body("200 OK", &[("Content-Type", OCI_MANIFEST.into())], None);
    });
    fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::TooLarge,
        Duration::from_secs(5),
    );
}

#[test]
fn an_endless_token_reply_is_cut_at_the_cap() {
    let img = Image::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let realm = format!("http://127.0.0.1:{port}/token");
    let protected = token_protected(img.clone(), realm);
    let server = Server::start_on(&format!("127.0.0.1:{port}"), move |c| {
        if c.req.path.starts_with("/token") {
            c.stream_body("200 OK", &[], None);
        } else {
            protected(c);
        }
    });
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::TooLarge,
        Duration::from_secs(5),
    );
    assert!(err.to_string().contains("token"), "{err}");
}

#[test]
fn an_endless_error_body_is_not_read_and_not_kept() {
    let img = Image::new();
    let server = Server::start(|c| {
        c.stream_body("404 Not Found", &[], None);
    });
    let err = fails(
        &img.reference(&server.host()),
        &options(&[&server]),
        ErrorCode::NotFound,
        Duration::from_secs(5),
    );
    assert!(!err.to_string().contains("xxxx"), "{err}");
}

#[test]
fn error_bodies_leave_only_the_status_and_a_well_formed_code() {
    let img = Image::new();
    // (status, body, code, what the message must end with)
    let cases: [(&str, &[u8], ErrorCode, &str); 4] = [
        (
            "403 Forbidden",
            br#"{"errors":[{"code":"DENIED","message":"SECRET-TEXT-1","detail":"SECRET-TEXT-2"}]}"#,
            ErrorCode::Auth,
            "HTTP 403 (DENIED)",
        ),
        (
            "500 Internal Server Error",
            br#"{"errors":[{"code":"<script>SECRET-TEXT</script>"}]}"#,
            ErrorCode::Unreachable,
            "HTTP 500",
        ),
        (
            "502 Bad Gateway",
            b"<html><body>SECRET-TEXT from the proxy</body></html>",
            ErrorCode::Unreachable,
            "HTTP 502",
        ),
        ("418 I'm a teapot", b"SECRET-TEXT", ErrorCode::Malformed, "HTTP 418"),
    ];
    for (status, body, code, tail) in cases {
        let server = Server::start(move |c| c.respond(status, &[], body));
        let err = fails(
            &img.reference(&server.host()),
            &options(&[&server]),
            code,
            Duration::from_secs(5),
        );
        let text = err.to_string();
        assert!(text.ends_with(tail), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }
}

/// Resolves every name to 127.0.0.1, after ten seconds: a resolver that does not answer.
fn slow_lookup(_host: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
    std::thread::sleep(Duration::from_secs(10));
    Ok(vec![([127, 0, 0, 1], 0).into()])
}

#[test]
fn cancel_does_not_wait_for_a_slow_resolver() {
    let img = Image::new();
    let i = img.clone();
    let server = Server::start(move |c| i.serve(c));
    let host = format!("slow-resolver.test:{}", server.port);
    let opts = VerifyOptions {
        resolver: Some(slow_lookup),
        insecure_registries: vec![host.clone()],
        connect_timeout: Some(Duration::from_secs(30)),
        ..options(&[])
    };
    let start = Instant::now();
    let cancel = move || start.elapsed() > Duration::from_millis(300);
    // The whole call, runtime shutdown included, returns within a tick of the cancel.
    let err = expected_image(&img.reference(&host), &opts, &cancel).expect_err("cancelled");
    assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    assert_eq!(server.requests(), 0);
}

#[test]
fn a_slow_resolver_that_answers_still_works() {
    fn lookup(_host: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
        std::thread::sleep(Duration::from_millis(200));
        Ok(vec![([127, 0, 0, 1], 0).into()])
    }
    let img = Image::new();
    let i = img.clone();
    let server = Server::start(move |c| i.serve(c));
    let host = format!("resolver.test:{}", server.port);
    let opts = VerifyOptions {
        resolver: Some(lookup),
        insecure_registries: vec![host.clone()],
        ..options(&[])
    };
    expected_image(&img.reference(&host), &opts, &never).expect("resolved after 200 ms");
}

/// The real resolver (`getaddrinfo`) when its name server never answers: re-runs
/// `system_resolver_that_never_answers_inner` in private mount and network namespaces (root,
/// `unshare`, `ip`), where /etc/resolv.conf names 127.0.0.1 and a socket there swallows queries.
#[test]
fn cancel_does_not_wait_for_the_system_resolver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("resolv.conf");
    std::fs::write(&conf, "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n").expect("resolv.conf");
    let exe = std::env::current_exe().expect("test binary");
    let script = format!(
        "set -e; /usr/sbin/ip link set lo up || /sbin/ip link set lo up; mount --bind '{}' /etc/resolv.conf; \
         exec '{}' --exact system_resolver_that_never_answers_inner --ignored --nocapture",
        conf.display(),
        exe.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--net", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux) must be installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the namespaced run failed (needs root, unshare and ip):\n{text}"
    );
}

#[test]
#[ignore = "run by cancel_does_not_wait_for_the_system_resolver inside its namespaces"]
fn system_resolver_that_never_answers_inner() {
    let conf = std::fs::read_to_string("/etc/resolv.conf").expect("resolv.conf");
    assert!(conf.contains("nameserver 127.0.0.1"), "not in the namespace: {conf}");
    let _blackhole = std::net::UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53");
    // The resolver really hangs here.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::net::ToSocketAddrs::to_socket_addrs(&("pgext-slow.example.com", 80)).is_ok());
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(1500)).is_err(),
        "getaddrinfo answered: the test would prove nothing"
    );
    let r: ImageReference = "pgext-slow.example.com:5000/ext/vector:v1".parse().expect("reference");
    let start = Instant::now();
    let cancel = move || start.elapsed() > Duration::from_millis(300);
    let err = expected_image(&r, &VerifyOptions::default(), &cancel).expect_err("cancelled");
    assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
}
