//! Memory stays bounded whatever a hostile registry sends: endless (10 GB, generated while sent,
//! never stored) manifests, token replies, error bodies and blobs are cut at their caps while they
//! stream. Alone in its test binary so that the process's peak RSS is this test's.

mod common;
mod hostile;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use hostile::{Conn, Server};
use pgext_oci::{ErrorCode, ImageReference, VerifyOptions, expected_image};

const TEN_GB: u64 = 10 << 30;

/// A server whose every answer to a path containing `target` is a 10 GB body (`chunked`: with no
/// length; else with its true Content-Length), with `status`; everything else is a fixed
/// manifest of one layer and a token service. Counts the bytes it managed to send.
fn flood(target: String, status: &'static str, chunked: bool, sent: Arc<AtomicU64>) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let realm = format!("http://127.0.0.1:{port}/token");
    Server::start_on(&format!("127.0.0.1:{port}"), move |c: &mut Conn<'_>| {
        if c.req.path.contains(&target) {
            let n = c.stream_body(status, &[], if chunked { None } else { Some(TEN_GB) });
            sent.fetch_add(n, Ordering::Relaxed);
        } else if c.req.path.starts_with("/token") {
            c.respond("200 OK", &[], br#"{"token":"t"}"#);
        } else if target == "/token" && c.req.header("Authorization").is_none() {
            let challenge = format!(r#"Bearer realm="{realm}",service="s""#);
            c.respond("401 Unauthorized", &[("WWW-Authenticate", challenge)], b"");
        } else if c.req.path.contains("/manifests/") {
            // One layer of 1000 bytes that the blob flood will not match.
            let manifest = serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": digest_of(b"{}"), "size": 2},
                "layers": [{"mediaType": LAYER_TAR, "digest": digest_of(b"layer"), "size": 1000}],
            });
            c.respond("200 OK", &[], &serde_json::to_vec(&manifest).unwrap());
        } else if c.req.path.ends_with(&digest_of(b"{}")) {
            c.respond("200 OK", &[], b"{}");
        } else {
            c.respond("404 Not Found", &[], b"");
        }
    })
}

#[test]
fn ten_gigabyte_answers_leave_memory_bounded() {
    // Warm up: the first verification allocates the runtime, TLS and client state once.
    let sent = Arc::new(AtomicU64::new(0));
    let warm = flood("/nothing".into(), "200 OK", true, sent.clone());
    let r: ImageReference = format!("{}/ext/x:v1", warm.host()).parse().unwrap();
    let opts = |s: &Server| VerifyOptions {
        insecure_registries: vec![s.host()],
        read_timeout: Some(Duration::from_secs(5)),
        total_timeout: Some(Duration::from_secs(60)),
        ..VerifyOptions::default()
    };
    let _ = expected_image(&r, &opts(&warm), &never);
    drop(warm);
    let before = hostile::peak_rss_kib();

    let layer = digest_of(b"layer");
    // (path part flooded, status, chunked, expected code)
    let cases = [
        ("/manifests/", "200 OK", true, ErrorCode::TooLarge),
        ("/manifests/", "200 OK", false, ErrorCode::TooLarge),
        ("/token", "200 OK", true, ErrorCode::TooLarge),
        ("/manifests/", "404 Not Found", true, ErrorCode::NotFound),
        (
            "/manifests/",
            "500 Internal Server Error",
            false,
            ErrorCode::Unreachable,
        ),
        // The config, then the layer.
        ("/blobs/sha256:", "200 OK", true, ErrorCode::DigestMismatch),
        (&layer, "200 OK", true, ErrorCode::DigestMismatch),
    ];
    for (target, status, chunked, code) in cases {
        let sent = Arc::new(AtomicU64::new(0));
        let server = flood(target.to_owned(), status, chunked, sent.clone());
        let r: ImageReference = format!("{}/ext/x:v1", server.host()).parse().unwrap();
        let start = Instant::now();
        let err = expected_image(&r, &opts(&server), &never).expect_err("flooded");
        let took = start.elapsed();
        drop(server);
        let sent = sent.load(Ordering::Relaxed);
        eprintln!("{target} {status} chunked={chunked}: {err} ({took:?}, server sent {sent} bytes)");
        assert_eq!(err.code(), code, "{target} {status}: {err}");
        assert!(took < Duration::from_secs(10), "{target} {status}: {took:?}");
        // Never more than the caps plus what the sockets buffer.
        assert!(sent < 64 << 20, "{target} {status}: the server sent {sent} bytes");
    }
    let growth_mib = (hostile::peak_rss_kib().saturating_sub(before)) / 1024;
    eprintln!("peak RSS growth: {growth_mib} MiB");
    assert!(growth_mib < 32, "peak RSS grew by {growth_mib} MiB");
}
