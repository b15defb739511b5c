//! `pgext_oci::unpack`: an image written into a directory, compared with what umoci unpacks from
//! the same layout; symlinks that cannot lead out of it; selection; budget; hostile layers.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;
use pgext_oci::{ErrorCode, ImageReference, Selection, VerifyOptions, unpack};

fn reference(s: &str) -> ImageReference {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// path -> (kind, size, sha256) of a scanned tree: what must be equal (modes and link targets are
/// compared apart: ours are owner-writable and confined).
fn content(root: &Path) -> BTreeMap<String, String> {
    scan_allowing_dangling(root)
        .into_iter()
        .map(|e| {
            let what = format!(
                "{:?} {} {}",
                e.kind,
                e.size,
                e.sha256.map(|s| pgext_core::hash::to_hex(&s)).unwrap_or_default()
            );
            (e.path, what)
        })
        .collect()
}

/// Three layers exercising every change a runtime applies.
fn layered(layout: &mut Layout) {
    let base = tar(&[
        E::Dir("usr/", 0o755),
        E::Dir("usr/lib/", 0o755),
        E::File("usr/lib/libfoo.so.1.2", 0o644, b"\x7fELF foo 1.2"),
        E::Sym("usr/lib/libfoo.so.1", "libfoo.so.1.2"),
        E::Dir("lib64/", 0o755),
        E::Sym("lib64/ld.so", "/usr/lib/ld.so"),
        E::File("usr/lib/ld.so", 0o755, b"\x7fELF loader"),
        E::Dir("etc/", 0o755),
        E::File("etc/os-release", 0o644, b"PRETTY_NAME=\"Test 1\"\n"),
        E::Dir("opaque/", 0o755),
        E::File("opaque/old", 0o644, b"old"),
        E::Dir("gone/", 0o755),
        E::File("gone/a", 0o644, b"a"),
        E::Dir("replaced/", 0o555),
        E::File("replaced/inner", 0o644, b"inner"),
        E::Sym("escape", "../../../../etc/passwd"),
        E::Sym("absolute-escape", "/../../etc/shadow"),
        E::Dir("usr/share/", 0o755),
        E::Dir("usr/share/doc/", 0o755),
        E::File("usr/share/doc/README", 0o644, b"documentation"),
        E::Dir("usr/share/postgresql/", 0o755),
        E::Dir("usr/share/postgresql/18/", 0o755),
        E::Dir("usr/share/postgresql/18/extension/", 0o755),
        E::File(
            "usr/share/postgresql/18/extension/plpgsql.control",
            0o644,
            b"comment = 'x'\n",
        ),
        E::File("usr/bin-script", 0o755, b"#!/bin/sh\necho hi\n"),
    ]);
    let second = tar(&[
        E::File("usr/lib/libfoo.so.1.2", 0o644, b"\x7fELF foo 1.2 rebuilt"),
        E::File("opaque/.wh..wh..opq", 0o644, b""),
        E::File("opaque/new", 0o644, b"new"),
        E::File(".wh.gone", 0o644, b""),
        E::File("replaced", 0o600, b"now a file"),
        E::Hard("usr/lib/libfoo-hard.so", "usr/lib/libfoo.so.1.2"),
        E::Sym("lib64/ld.so", "../usr/lib/ld.so"),
    ]);
    let third = tar(&[E::File("usr/lib/.wh.libfoo.so.1", 0o644, b""), E::Dir("gone/", 0o700)]);
    let img = layout.image(&[gzip(base), gzip(second), plain(third)], "amd64");
    layout.tag(&img, "v1");
}

/// The layered image in a layout under a fresh directory, unpacked with `selection` into `ours`.
fn unpack_layered(selection: Selection) -> (tempfile::TempDir, Layout, std::path::PathBuf, pgext_oci::Unpacked) {
    require_tools();
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    layered(&mut layout);
    let r = reference(&format!("oci:{}:v1", layout.dir.display()));
    let dest = work.path().join("ours");
    std::fs::create_dir(&dest).expect("dest");
    let got = unpack(&r, &VerifyOptions::default(), &dest, selection, 1 << 30, &never).expect("unpack");
    (work, layout, dest, got)
}

#[test]
fn unpacks_what_a_runtime_unpacks_and_nothing_leads_outside() {
    let (work, layout, dest, got) = unpack_layered(Selection::Everything);
    unpack_with_umoci(&layout.dir, "v1", &work.path().join("umoci"));

    assert_eq!(content(&dest), content(&work.path().join("umoci")));
    assert_eq!(got.image.entries.len(), scan_allowing_dangling(&dest).len());
    // Nine files in the base layer, three in the second (hard links are not file writes).
    assert_eq!(got.files, 12);
    // Symlinks: confined, relative, and still naming what they named inside the root.
    let link = |p: &str| std::fs::read_link(dest.join(p)).expect(p).display().to_string();
    assert_eq!(link("lib64/ld.so"), "../usr/lib/ld.so");
    assert_eq!(link("escape"), "etc/passwd");
    assert_eq!(link("absolute-escape"), "etc/shadow");
    for e in walk(&dest) {
        let m = std::fs::symlink_metadata(&e).expect("lstat");
        if m.file_type().is_symlink() {
            let resolved = normalize(&e.parent().expect("parent").join(std::fs::read_link(&e).expect("link")));
            assert!(
                resolved.starts_with(&dest),
                "{} leads to {}",
                e.display(),
                resolved.display()
            );
        } else {
            assert_eq!(m.uid(), nix_uid(), "{} is ours", e.display());
            assert_eq!(m.mode() & 0o7000, 0, "{}: no setuid/setgid/sticky", e.display());
            assert_eq!(m.mode() & 0o600, 0o600, "{}: owner read-write", e.display());
        }
    }
    assert_eq!(
        std::fs::read(dest.join("usr/lib/libfoo-hard.so")).expect("hard"),
        b"\x7fELF foo 1.2 rebuilt"
    );
    assert_eq!(
        std::fs::metadata(dest.join("usr/lib/libfoo-hard.so"))
            .expect("hard")
            .ino(),
        std::fs::metadata(dest.join("usr/lib/libfoo.so.1.2"))
            .expect("file")
            .ino()
    );
}

#[test]
fn analysis_selection_writes_only_what_the_engine_reads() {
    let (_work, _layout, dest, got) = unpack_layered(Selection::ForAnalysis);
    for kept in [
        "usr/lib/libfoo.so.1.2",
        "usr/lib/ld.so",
        "usr/lib/libfoo-hard.so",
        "etc/os-release",
        "usr/share/postgresql/18/extension/plpgsql.control",
    ] {
        assert!(dest.join(kept).is_file(), "{kept} written");
    }
    for skipped in ["usr/share/doc/README", "usr/bin-script", "replaced", "opaque/new"] {
        assert!(!dest.join(skipped).exists(), "{skipped} skipped");
    }
    assert!(dest.join("usr/share/doc").is_dir(), "directories are always written");
    // libfoo twice (both layers), ld.so, os-release, plpgsql.control.
    assert_eq!(got.files, 5);
    // The tree still describes the whole image.
    assert!(got.image.entries.iter().any(|e| e.path == "usr/share/doc/README"));
}

#[test]
fn budget_used_directory_and_hostile_layers() {
    require_tools();
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    layered(&mut layout);
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).expect("outside");
    // A symlink to a directory outside, then a file through it: refused, nothing written there.
    let through = tar(&[
        E::Sym("lib", outside.to_str().expect("utf-8")),
        E::File("lib/planted", 0o644, b"x"),
    ]);
    let img = layout.image(&[plain(through)], "amd64");
    layout.tag(&img, "through");
    let dotdot = tar(&[E::Raw(b"../../planted", b"x")]);
    let img = layout.image(&[plain(dotdot)], "amd64");
    layout.tag(&img, "dotdot");
    let dir = layout.dir.display().to_string();
    let fresh = |name: &str| {
        let d = work.path().join(name);
        std::fs::create_dir(&d).expect("dest");
        d
    };

    let err = unpack(
        &reference(&format!("oci:{dir}:v1")),
        &VerifyOptions::default(),
        &fresh("small"),
        Selection::Everything,
        16,
        &never,
    )
    .expect_err("over budget");
    assert_eq!(err.code(), ErrorCode::TooLarge, "{err}");

    let used = fresh("used");
    std::fs::write(used.join("x"), b"x").expect("write");
    let err = unpack(
        &reference(&format!("oci:{dir}:v1")),
        &VerifyOptions::default(),
        &used,
        Selection::Everything,
        1 << 30,
        &never,
    )
    .expect_err("not empty");
    assert!(err.to_string().contains("not empty"), "{err}");

    for tag in ["through", "dotdot"] {
        let err = unpack(
            &reference(&format!("oci:{dir}:{tag}")),
            &VerifyOptions::default(),
            &fresh(tag),
            Selection::Everything,
            1 << 30,
            &never,
        )
        .expect_err(tag);
        assert_eq!(err.code(), ErrorCode::HostileLayer, "{tag}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(&outside).expect("outside").count(),
        0,
        "nothing written outside"
    );
    assert!(!work.path().join("planted").exists());

    let err = unpack(
        &reference(&format!("oci:{dir}:v1")),
        &VerifyOptions::default(),
        &fresh("cancelled"),
        Selection::Everything,
        1 << 30,
        &|| true,
    )
    .expect_err("cancelled");
    assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
}

/// A scan whose only problems may be symlinks to what the image does not have (`escape`).
fn scan_allowing_dangling(root: &Path) -> Vec<pgext_oci::TreeEntry> {
    let scan = pgext_core::tree::scan_tree(root, &pgext_core::tree::ScanOptions::default(), None).expect("scan");
    let other: Vec<_> = scan
        .problems
        .iter()
        .filter(|p| !p.message.starts_with("symlink target does not exist"))
        .collect();
    assert!(other.is_empty(), "scan problems: {other:?}");
    scan.entries
}

fn unpack_with_umoci(layout: &Path, tag: &str, rootfs: &Path) {
    common::unpack(layout, tag, rootfs);
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if e.file_type().expect("type").is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Lexical normalisation (the link targets are already clean; this resolves the `..`s).
fn normalize(p: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn nix_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}
