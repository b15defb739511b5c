//! Memory stays bounded while a large layer is verified: spooled to disk, streamed through the
//! decompressor and the tar reader, hashed on the fly. Alone in its test binary so that the
//! process's peak RSS is this test's. Layer size: PGEXT_OCI_BIG_LAYER_MB (default 512).

mod common;

use std::io::{BufWriter, Read, Write};
use std::time::Instant;

use common::*;
use pgext_oci::{VerifyOptions, expected_image};

/// Incompressible bytes, cheaply.
struct Noise {
    left: u64,
    state: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX)) / 8 * 8;
        let n = if n == 0 { buf.len().min(self.left as usize) } else { n };
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            let bytes = self.state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Hashes what passes through (the diff ID of the uncompressed tar).
struct Tee<W: Write> {
    inner: W,
    ctx: aws_lc_rs::digest::Context,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.ctx.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status.lines().find(|l| l.starts_with(field)).expect("field");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number")
}

#[test]
fn big_layer_verifies_in_bounded_memory() {
    let mib: u64 = std::env::var("PGEXT_OCI_BIG_LAYER_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let blob_path = work.path().join("layer.tar.zst");
    let diff_id = {
        let file = std::fs::File::create(&blob_path).expect("create");
        let enc = zstd::Encoder::new(BufWriter::new(file), 1).expect("zstd");
        let tee = Tee {
            inner: enc,
            ctx: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
        };
        let mut b = tar::Builder::new(tee);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o755);
        h.set_size(mib << 20);
        b.append_data(
            &mut h,
            "lib/big.so",
            Noise {
                left: mib << 20,
                state: 0x9E37_79B9_7F4A_7C15,
            },
        )
        .expect("tar");
        let tee = b.into_inner().expect("finish tar");
        let sha = tee.ctx.finish();
        tee.inner.finish().expect("finish zstd").flush().expect("flush");
        format!("sha256:{}", pgext_core::hash::to_hex(sha.as_ref()))
    };
    let layer = layout.blob_file(LAYER_ZSTD, &blob_path);
    let image = layout.image_of(&[(layer, diff_id)], "amd64");
    layout.tag(&image, "big");

    // Reset the peak to the current RSS, then measure the peak during verification.
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
    let before = status_kib("VmRSS:");
    let start = Instant::now();
    let r = format!("oci:{}:big", layout.dir.display()).parse().expect("reference");
    let e = expected_image(&r, &VerifyOptions::default(), &never).expect("verify");
    let peak = status_kib("VmHWM:");
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "{mib} MiB layer verified in {:.1} s; RSS {} MiB → peak {} MiB (+{growth_mib} MiB)",
        start.elapsed().as_secs_f64(),
        before / 1024,
        peak / 1024
    );
    assert_eq!(e.entries.last().map(|x| x.size), Some(mib << 20));
    assert!(growth_mib <= 64, "RSS grew by {growth_mib} MiB");
}
