//! Where the time of a verification goes, outside the server: `make bench`'s OCI image (built with
//! scripts/bench.sh's own functions, pushed to a loopback docker-registry), timed phase by phase
//! and end to end, side by side with `skopeo copy` of the same image. Ignored by default:
//!
//! ```sh
//! cargo test -p pgext-oci --release --lib bench -- --ignored --nocapture
//! ```
//!
//! Environment: PGEXT_OCI_BENCH_REPEAT (runs, default 5), PGEXT_OCI_BENCH_MB (tree size, 100),
//! PGEXT_OCI_BENCH_DIR (work directory kept between runs, so the tree is built only once).
//!
//! The phases are measured separately on the same verified spool file (page cache warm), so each
//! is the cost of that stage alone: inflate only; inflate plus tar parsing; the full application
//! (inflate, parse, per-file SHA-256); and SHA-256 alone over the uncompressed bytes.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::apply::{Applier, Job};
use crate::interrupt::Interrupt;
use crate::layer::{TreeBuilder, decoder};
use crate::manifest::{Compression, Document, parse_document};
use crate::source::{BlobSink, Source};
use crate::{Digest, ImageReference, VerifyOptions, compare, expected_image, open_source, verify, verify_with};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Builds bench.sh's image tree and one-layer gzip layout in `work` (once) with bench.sh's
/// own shell functions, so the image is the one `make bench` verifies.
fn build_image(work: &Path, mb: u64) -> (PathBuf, PathBuf) {
    let tree = work.join("tree/ocibench");
    let layout = work.join("layout");
    if layout.join("index.json").is_file() && tree.is_dir() {
        return (tree, layout);
    }
    let bench_sh = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/bench.sh");
    let script = format!(
        r#"set -euo pipefail
WORK=$1; MB=1000000
eval "$(sed -n '/^make_pool()/,/^}}/p;/^make_tree()/,/^}}/p;/^blob()/,/^}}/p;/^oci_layout()/,/^}}/p' {bench_sh})"
make_tree "$WORK/tree/ocibench" $(({mb} * 4)) {mb} 2
oci_layout "$WORK/tree/ocibench" "$WORK/layout" 1"#
    );
    std::fs::create_dir_all(work).expect("work dir");
    let st = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("bench")
        .arg(work)
        .status()
        .expect("bash");
    assert!(st.success(), "building the image failed");
    (tree, layout)
}

/// CPU time (user + system) of the whole process so far: worker threads count.
fn cpu_now() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Wall and CPU time of one run of a phase.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

struct Timer(Instant, Duration);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now(), cpu_now())
    }
    fn stop(&self) -> Sample {
        Sample {
            wall: self.0.elapsed(),
            cpu: cpu_now().saturating_sub(self.1),
        }
    }
}

/// Best and median of the wall times, and the median CPU time.
fn stats(v: &[Sample]) -> (f64, f64, f64) {
    let sorted = |f: fn(&Sample) -> Duration| {
        let mut s: Vec<f64> = v.iter().map(|x| f(x).as_secs_f64()).collect();
        s.sort_by(f64::total_cmp);
        s
    };
    let wall = sorted(|x| x.wall);
    let cpu = sorted(|x| x.cpu);
    (wall[0], wall[(wall.len() - 1) / 2], cpu[(cpu.len() - 1) / 2])
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status.lines().find(|l| l.starts_with(field)).expect("field");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number")
}

fn rewind(f: &mut File) {
    f.seek(SeekFrom::Start(0)).expect("rewind");
}

/// Fetches the manifest (through the tag, then by digest if the tag moved, as a pinned
/// `tag@digest` reference does) and the config; returns the layer's digest, size and compression.
fn fetch_documents(
    source: &mut Source,
    r: &ImageReference,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> (Digest, u64, Compression) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let pinned = r.digest().expect("pinned").clone();
        let tagged = source
            .resolve_tag(
                r.tag().expect("tag"),
                pinned.algorithm(),
                crate::MAX_MANIFEST_BYTES,
                intr,
            )
            .await
            .expect("tag");
        let top = match tagged {
            Some((now, Some(bytes))) if now == pinned => bytes,
            _ => source.manifest(&pinned, None, 1 << 20, intr).await.expect("manifest"),
        };
        let Document::Image { config, layers, .. } = parse_document(&top, "m").expect("parse") else {
            panic!("an index");
        };
        crate::fetch_small_blob(source, &config, options, intr)
            .await
            .expect("config");
        let l = &layers[0];
        let c = crate::manifest::layer_compression(&l.media_type).expect("compression");
        (l.digest.clone(), l.size, c)
    })
}

fn download(source: &mut Source, digest: &Digest, size: u64, intr: &Interrupt<'_>) -> File {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut sink = BlobSink::new(digest, size, "layer".into(), None, intr).expect("sink");
        source.blob(&mut sink, intr).await.expect("blob");
        sink.finish().expect("verified")
    })
}

#[derive(Default)]
struct Times {
    client: Vec<Sample>,
    docs: Vec<Sample>,
    download: Vec<Sample>,
    inflate: Vec<Sample>,
    inflate_tar: Vec<Sample>,
    apply: Vec<Sample>,
    pipelined: Vec<Sample>,
    sha: Vec<Sample>,
    scan: Vec<Sample>,
    compare: Vec<Sample>,
    expected: Vec<Sample>,
    e2e: Vec<Sample>,
    e2e_with: Vec<Sample>,
    e2e_with1: Vec<Sample>,
    skopeo: Vec<Sample>,
    rss_kib: Vec<u64>,
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn verify_phases() {
    let repeat = env_num("PGEXT_OCI_BENCH_REPEAT", 5).max(1);
    let mb = env_num("PGEXT_OCI_BENCH_MB", 100);
    let kept = std::env::var_os("PGEXT_OCI_BENCH_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = kept.clone().unwrap_or_else(|| tmp.path().to_owned());
    let (tree, layout) = build_image(&work, mb);
    let reg = common::Registry::start(None);
    reg.push(&layout, "1", "pgext-bench/ocibench:1", false);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index")).expect("json");
    let manifest = index["manifests"][0]["digest"].as_str().expect("digest").to_owned();
    let remote = format!("{}/pgext-bench/ocibench:1", reg.host());
    let r: ImageReference = format!("{remote}@{manifest}").parse().expect("reference");
    let options = reg.options();
    let never = || false;
    let intr = Interrupt::new(&never, None);
    let sk_out = work.join("skopeo-out");

    let mut t = Times::default();
    for run in 0..repeat {
        // End to end as verify_image does it (scan the mount, then verify), peak RSS growth.
        std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
        let before = status_kib("VmRSS:");
        let timer = Timer::start();
        let opts = pgext_core::tree::ScanOptions::default();
        let actual = pgext_core::tree::scan_tree(&tree, &opts, None).expect("scan").entries;
        let v = verify(&r, &options, &actual, &never).expect("verify");
        t.e2e.push(timer.stop());
        t.rss_kib.push(status_kib("VmHWM:").saturating_sub(before));
        assert!(v.intact(), "{:?}", v.differences.first());
        drop(v);

        // The same with the scan overlapping the layer's application.
        std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
        let before = status_kib("VmRSS:");
        let timer = Timer::start();
        let scan = || pgext_core::tree::scan_tree(&tree, &opts, None).expect("scan").entries;
        let v = verify_with(&r, &options, scan, &never).expect("verify_with");
        t.e2e_with.push(timer.stop());
        t.rss_kib.push(status_kib("VmHWM:").saturating_sub(before));
        assert!(v.intact(), "{:?}", v.differences.first());
        drop(v);

        // The same with a one-thread scan, which leaves the decompressing worker its core.
        let timer = Timer::start();
        let one = pgext_core::tree::ScanOptions {
            threads: 1,
            ..Default::default()
        };
        let scan = || pgext_core::tree::scan_tree(&tree, &one, None).expect("scan").entries;
        let v = verify_with(&r, &options, scan, &never).expect("verify_with");
        t.e2e_with1.push(timer.stop());
        assert!(v.intact(), "{:?}", v.differences.first());
        drop(v);

        // skopeo copy of the same image into an empty oci: layout.
        let _ = std::fs::remove_dir_all(&sk_out);
        let timer = Timer::start();
        let st = Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{remote}"))
            .arg(format!("oci:{}:1", sk_out.display()))
            .status()
            .expect("skopeo");
        t.skopeo.push(timer.stop());
        assert!(st.success());

        let timer = Timer::start();
        let e = expected_image(&r, &options, &never).expect("expected");
        t.expected.push(timer.stop());

        // Phases.
        let timer = Timer::start();
        let mut source = open_source(&r, &options, &intr).expect("source");
        t.client.push(timer.stop());
        let timer = Timer::start();
        let (digest, size, compression) = fetch_documents(&mut source, &r, &options, &intr);
        t.docs.push(timer.stop());
        let timer = Timer::start();
        let mut spool = download(&mut source, &digest, size, &intr);
        t.download.push(timer.stop());

        let timer = Timer::start();
        let mut n = 0u64;
        {
            let mut d = decoder(&mut spool, compression).expect("decoder");
            let mut buf = vec![0u8; pgext_core::hash::READ_BUFFER_SIZE];
            loop {
                match d.read(&mut buf).expect("inflate") {
                    0 => break,
                    k => n += k as u64,
                }
            }
        }
        t.inflate.push(timer.stop());
        rewind(&mut spool);

        let timer = Timer::start();
        {
            let mut archive = tar::Archive::new(decoder(&mut spool, compression).expect("decoder"));
            let mut buf = vec![0u8; pgext_core::hash::READ_BUFFER_SIZE];
            for entry in archive.entries().expect("tar") {
                let mut entry = entry.expect("entry");
                while entry.read(&mut buf).expect("data") > 0 {}
            }
        }
        t.inflate_tar.push(timer.stop());
        rewind(&mut spool);

        let timer = Timer::start();
        let mut builder = TreeBuilder::new(&options.limits);
        builder
            .apply_layer(&mut spool, compression, "layer", &intr)
            .expect("apply");
        let entries = builder.into_entries();
        t.apply.push(timer.stop());
        assert_eq!(entries, e.entries);
        rewind(&mut spool);

        let timer = Timer::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let piped = rt.block_on(async {
            let mut applier = Applier::start(&options.limits, None).expect("applier");
            let job = Job {
                spool: spool.try_clone().expect("dup"),
                compression,
                layer: "layer".into(),
            };
            applier.submit(job, "layer".into(), &intr).await.expect("submit");
            applier.finish(&intr).await.expect("applied").into_entries()
        });
        t.pipelined.push(timer.stop());
        assert_eq!(piped, e.entries);
        rewind(&mut spool);

        let mut plain = Vec::with_capacity(usize::try_from(n).expect("fits"));
        decoder(&mut spool, compression)
            .expect("decoder")
            .read_to_end(&mut plain)
            .expect("inflate");
        let timer = Timer::start();
        for chunk in plain.chunks(pgext_core::hash::READ_BUFFER_SIZE) {
            std::hint::black_box(pgext_core::hash::sha256(chunk));
        }
        t.sha.push(timer.stop());
        drop(plain);

        let timer = Timer::start();
        let actual = pgext_core::tree::scan_tree(&tree, &opts, None).expect("scan").entries;
        t.scan.push(timer.stop());
        let timer = Timer::start();
        let d = compare(&entries, &actual);
        let _ = pgext_core::tree::tree_digest(&actual);
        t.compare.push(timer.stop());
        assert!(d.is_empty());
        eprintln!(
            "run {}: verify+scan {:.3} s (RSS +{:.1} MiB) | skopeo {:.3} s",
            run + 1,
            t.e2e[run as usize].wall.as_secs_f64(),
            t.rss_kib[run as usize] as f64 / 1024.0,
            t.skopeo[run as usize].wall.as_secs_f64()
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "load average: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    eprintln!("{:<48} {:>8} {:>8} {:>8}", "phase (s)", "best", "median", "cpu med");
    let rows: [(&str, &[Sample]); 15] = [
        ("HTTP client setup", &t.client),
        ("manifest (via the tag) + config fetch", &t.docs),
        ("blob download + hash + spool", &t.download),
        ("gzip inflate only", &t.inflate),
        ("inflate + tar parse", &t.inflate_tar),
        ("apply_layer, 1 thread (inflate + tar + sha)", &t.apply),
        ("Applier: inflate | tar + sha on 2 workers", &t.pipelined),
        ("sha-256 alone over the tar bytes", &t.sha),
        ("mount scan (scan_tree, default threads)", &t.scan),
        ("compare + tree digest", &t.compare),
        ("expected_image end to end", &t.expected),
        ("scan, then verify (= verify_image now)", &t.e2e),
        ("verify_with: scan while layers apply", &t.e2e_with),
        ("verify_with, 1-thread scan", &t.e2e_with1),
        ("skopeo copy (cpu: not counted, another process)", &t.skopeo),
    ];
    for (name, v) in rows {
        let (best, median, cpu) = stats(v);
        eprintln!("{name:<48} {best:>8.3} {median:>8.3} {cpu:>8.3}");
    }
    let (sb, sm, _) = stats(&t.skopeo);
    for (name, v) in [
        ("scan, then verify", &t.e2e),
        ("verify_with", &t.e2e_with),
        ("verify_with, 1-thread scan", &t.e2e_with1),
    ] {
        let (b, m, _) = stats(v);
        eprintln!("{name} / skopeo copy: best {:.2}, median {:.2}", b / sb, m / sm);
    }
    eprintln!(
        "peak RSS growth, largest of the end-to-end runs: {:.1} MiB",
        t.rss_kib.iter().max().copied().unwrap_or(0) as f64 / 1024.0
    );
}

/// Only the layer application, single-threaded and on the workers, best of many runs: for
/// tuning the pipeline without the registry's noise.
#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn apply_only() {
    let repeat = env_num("PGEXT_OCI_BENCH_REPEAT", 9).max(1);
    let mb = env_num("PGEXT_OCI_BENCH_MB", 100);
    let kept = std::env::var_os("PGEXT_OCI_BENCH_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = kept.clone().unwrap_or_else(|| tmp.path().to_owned());
    let (_, layout) = build_image(&work, mb);
    let blobs = layout.join("blobs/sha256");
    let largest = std::fs::read_dir(&blobs)
        .expect("blobs")
        .filter_map(Result::ok)
        .max_by_key(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .expect("a blob");
    let mut spool = File::open(largest.path()).expect("layer");
    let never = || false;
    let intr = Interrupt::new(&never, None);
    let limits = crate::Limits::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        let timer = Timer::start();
        let mut b = TreeBuilder::new(&limits);
        b.apply_layer(&mut spool, Compression::Gzip, "l", &intr).expect("apply");
        one.push(timer.stop());
        rewind(&mut spool);
        let timer = Timer::start();
        rt.block_on(async {
            let mut applier = Applier::start(&limits, None).expect("applier");
            let job = Job {
                spool: spool.try_clone().expect("dup"),
                compression: Compression::Gzip,
                layer: "l".into(),
            };
            applier.submit(job, "l".into(), &intr).await.expect("submit");
            applier.finish(&intr).await.expect("applied");
        });
        two.push(timer.stop());
        rewind(&mut spool);
    }
    for (name, v) in [("1 thread", &one), ("Applier", &two)] {
        let (b, m, c) = stats(v);
        eprintln!("{name:<10} best {b:.3} median {m:.3} cpu {c:.3}");
    }
}
