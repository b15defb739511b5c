//! `oci:` layout directories and `oci-archive:` tarballs (written by skopeo and by GNU tar),
//! verified against mounts unpacked by umoci.

mod common;

use std::process::Command;

use common::*;
use pgext_oci::{
    ErrorCode, ExpectedImage, ImageReference, Verification, VerifyOptions, expected_image, verify, verify_with,
};

fn reference(s: &str) -> ImageReference {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn oci_layout_directory() {
    require_tools();
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let v1 = layout.image(&[gzip(cnpg_v1())], "amd64");
    layout.tag(&v1, "v1");
    let v2 = layout.image(&[plain(cnpg_v2())], "amd64");
    layout.tag(&v2, "v2");
    unpack(&layout.dir, "v1", &work.path().join("mount"));
    let actual = scan(&work.path().join("mount"));
    let dir = layout.dir.display();
    let opts = VerifyOptions::default();

    let v = verify(&reference(&format!("oci:{dir}:v1")), &opts, &actual, &never).expect("by tag");
    assert!(v.intact(), "{:#?}", v.differences);
    assert_eq!(v.image.resolved_digest.to_string(), v1.digest);
    assert_eq!(
        v.image.tree_digest,
        pgext_core::tree::tree_digest(&actual).expect("digest")
    );

    let v = verify(
        &reference(&format!("oci:{dir}:v1@{}", v1.digest)),
        &opts,
        &actual,
        &never,
    )
    .expect("pinned");
    assert!(v.intact() && !v.image.tag_moved);

    let v = verify(
        &reference(&format!("oci:{dir}:v2@{}", v1.digest)),
        &opts,
        &actual,
        &never,
    )
    .expect("moved");
    assert!(v.intact() && v.image.tag_moved);
    assert_eq!(v.image.tag_digest.map(|d| d.to_string()), Some(v2.digest.clone()));

    let v = verify(&reference(&format!("oci:{dir}:v2")), &opts, &actual, &never).expect("v2");
    assert!(!v.intact());

    let cases = [
        (format!("oci:{dir}:nope"), ErrorCode::NotFound),
        (format!("oci:{dir}"), ErrorCode::Malformed), // two manifests, no tag
        (format!("oci:{}/nowhere:v1", work.path().display()), ErrorCode::NotFound),
    ];
    for (r, code) in cases {
        let err = expected_image(&reference(&r), &opts, &never).expect_err(&r);
        assert_eq!(err.code(), code, "{r}: {err}");
    }

    // A corrupted blob in the layout.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .dir
                .join("blobs/sha256")
                .join(v1.digest.trim_start_matches("sha256:")),
        )
        .expect("read"),
    )
    .expect("json");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .trim_start_matches("sha256:")
        .to_owned();
    let path = layout.dir.join("blobs/sha256").join(layer);
    let mut data = std::fs::read(&path).expect("read");
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&path, data).expect("write");
    let err = expected_image(&reference(&format!("oci:{dir}:v1")), &opts, &never).expect_err("corrupt");
    assert_eq!(err.code(), ErrorCode::DigestMismatch, "{err}");
}

#[test]
fn oci_archive_tarballs() {
    require_tools();
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let base = tar(&[E::File("lib/base.so", 0o755, b"base")]);
    let image = layout.image(&[gzip(base), zstd(cnpg_v1())], "amd64");
    layout.tag(&image, "v1");
    let twin = layout.image(
        &[gzip(tar(&[E::File("lib/base.so", 0o755, b"base")])), gzip(cnpg_v1())],
        "amd64",
    );
    layout.tag(&twin, "twin"); // umoci 0.4 cannot unpack zstd; the gzip twin has the same tars
    unpack(&layout.dir, "twin", &work.path().join("mount"));
    let actual = scan(&work.path().join("mount"));
    let opts = VerifyOptions::default();

    // Written by skopeo.
    let by_skopeo = work.path().join("skopeo.tar");
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--preserve-digests"])
        .arg(format!("oci:{}:v1", layout.dir.display()))
        .arg(format!("oci-archive:{}:v1", by_skopeo.display()))
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = reference(&format!("oci-archive:{}:v1@{}", by_skopeo.display(), image.digest));
    let v = verify(&r, &opts, &actual, &never).expect("skopeo archive");
    assert!(v.intact(), "{:#?}", v.differences);

    // Written by GNU tar, members named ./index.json, ./blobs/…
    let by_tar = work.path().join("gnu.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&layout.dir)
        .arg("-cf")
        .arg(&by_tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
    let r = reference(&format!("oci-archive:{}:v1", by_tar.display()));
    let v = verify(&r, &opts, &actual, &never).expect("tar archive");
    assert!(v.intact(), "{:#?}", v.differences);
    assert_eq!(v.image.resolved_digest.to_string(), image.digest);

    let missing = reference(&format!("oci-archive:{}/nope.tar:v1", work.path().display()));
    assert_eq!(
        expected_image(&missing, &opts, &never).expect_err("missing").code(),
        ErrorCode::NotFound
    );
    let not_tar = work.path().join("not.tar");
    std::fs::write(&not_tar, b"definitely not a tar archive".repeat(40)).expect("write");
    let r = reference(&format!("oci-archive:{}:v1", not_tar.display()));
    assert_eq!(
        expected_image(&r, &opts, &never).expect_err("not a tar").code(),
        ErrorCode::Malformed
    );
}

/// Layers download while earlier ones are applied on worker threads; the error reported is still
/// the one of the first step that fails in layer order, as if they ran one after the other.
#[test]
fn first_failing_layer_is_reported() {
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let hostile = || plain(tar(&[E::Raw(b"../escape", b"x")]));
    let good = |n: &'static [u8]| gzip(tar(&[E::File("lib/x.so", 0o755, n)]));
    // (tag, layers, index of the layer whose stored blob gets corrupted, expected error)
    let cases = [
        (
            "hostile-then-corrupt",
            vec![hostile(), good(b"1")],
            1,
            ErrorCode::HostileLayer,
        ),
        (
            "good-then-corrupt",
            vec![good(b"2"), good(b"3")],
            1,
            ErrorCode::DigestMismatch,
        ),
        (
            "corrupt-then-hostile",
            vec![good(b"4"), hostile()],
            0,
            ErrorCode::DigestMismatch,
        ),
    ];
    let mut images = Vec::new();
    for (tag, layers, bad, _) in &cases {
        let image = layout.image(layers, "amd64");
        layout.tag(&image, tag);
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(layout.dir.join("blobs/sha256").join(&image.digest[7..])).expect("manifest"),
        )
        .expect("json");
        let digest = manifest["layers"][*bad]["digest"].as_str().expect("digest").to_owned();
        images.push(digest);
    }
    for digest in &images {
        let path = layout.dir.join("blobs/sha256").join(&digest[7..]);
        let mut data = std::fs::read(&path).expect("read");
        data[0] ^= 0xff;
        std::fs::write(&path, data).expect("write");
    }
    for (tag, _, _, code) in cases {
        let r = reference(&format!("oci:{}:{tag}", layout.dir.display()));
        let err = expected_image(&r, &VerifyOptions::default(), &never).expect_err(tag);
        assert_eq!(err.code(), code, "{tag}: {err}");
    }
}

/// verify_with runs the scan once, on the calling thread, and gives what verify gives; it never
/// scans for an image it cannot fetch.
#[test]
fn verify_with_scans_once_on_the_calling_thread() {
    require_tools();
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let base = gzip(tar(&[
        E::File("lib/base.so", 0o755, b"base"),
        E::File("lib/gone.so", 0o755, b"x"),
    ]));
    let top = zstd(tar(&[E::File("lib/.wh.gone.so", 0o644, b"")]));
    let image = layout.image(&[base, gzip(cnpg_v1())], "amd64");
    layout.tag(&image, "v1");
    let two = layout.image(&[gzip(tar(&[E::File("lib/base.so", 0o755, b"base")])), top], "amd64");
    layout.tag(&two, "two");
    unpack(&layout.dir, "v1", &work.path().join("mount"));
    let mount = work.path().join("mount");
    let opts = VerifyOptions::default();
    let caller = std::thread::current().id();
    let calls = std::cell::Cell::new(0);
    let scan_here = || {
        calls.set(calls.get() + 1);
        assert_eq!(std::thread::current().id(), caller, "scan ran on another thread");
        scan(&mount)
    };
    // (tag, whether the mount is that image's content)
    for (tag, intact) in [("v1", true), ("two", false)] {
        let r = reference(&format!("oci:{}:{tag}", layout.dir.display()));
        let before = calls.get();
        let with = verify_with(&r, &opts, scan_here, &never).expect("verify_with");
        assert_eq!(calls.get(), before + 1, "{tag}");
        let plain = verify(&r, &opts, &scan(&mount), &never).expect("verify");
        assert_eq!(with, plain, "{tag}");
        assert_eq!(with.intact(), intact, "{tag}: {:#?}", with.differences);
    }
    let missing = reference(&format!("oci:{}:nope", layout.dir.display()));
    let err = verify_with(&missing, &opts, scan_here, &never).expect_err("no such tag");
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert_eq!(calls.get(), 2, "scanned for an image that could not be fetched");
}

#[test]
fn layouts_only_from_allowed_directories() {
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("allowed/layout"));
    let v1 = layout.image(&[gzip(cnpg_v1())], "amd64");
    layout.tag(&v1, "v1");
    std::fs::create_dir_all(work.path().join("other")).expect("mkdir");
    std::os::unix::fs::symlink(&layout.dir, work.path().join("other/link")).expect("symlink");
    let tar = work.path().join("allowed/layout.tar");
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&layout.dir)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(status.success());
    let w = work.path().display();
    let allowed = |dirs: &[&str]| VerifyOptions {
        layout_directories: Some(dirs.iter().map(|d| format!("{w}/{d}").into()).collect()),
        ..VerifyOptions::default()
    };
    // (reference, allowed directories, expected: Ok or the error code)
    let cases: [(String, VerifyOptions, Option<ErrorCode>); 8] = [
        (format!("oci:{w}/allowed/layout:v1"), allowed(&["allowed"]), None),
        (
            format!("oci-archive:{w}/allowed/layout.tar:v1"),
            allowed(&["allowed"]),
            None,
        ),
        (
            format!("oci:{w}/allowed/../allowed/layout:v1"),
            allowed(&["allowed"]),
            None,
        ),
        (
            format!("oci:{w}/allowed/layout:v1"),
            allowed(&[]),
            Some(ErrorCode::Forbidden),
        ),
        (
            format!("oci:{w}/allowed/layout:v1"),
            allowed(&["other"]),
            Some(ErrorCode::Forbidden),
        ),
        // A symbolic link out of the allowed directory, and `..` out of it.
        (
            format!("oci:{w}/other/link:v1"),
            allowed(&["other"]),
            Some(ErrorCode::Forbidden),
        ),
        (
            format!("oci:{w}/other/../allowed/layout:v1"),
            allowed(&["other"]),
            Some(ErrorCode::Forbidden),
        ),
        // Inside, but not there: an honest not_found.
        (
            format!("oci:{w}/allowed/none:v1"),
            allowed(&["allowed"]),
            Some(ErrorCode::NotFound),
        ),
    ];
    for (r, opts, want) in cases {
        match (expected_image(&reference(&r), &opts, &never), want) {
            (Ok(e), None) => assert_eq!(e.resolved_digest.to_string(), v1.digest, "{r}"),
            (Err(e), Some(code)) => assert_eq!(e.code(), code, "{r}: {e}"),
            (got, want) => panic!("{r}: got {got:?}, want {want:?}"),
        }
    }
}

/// A recorded tree of the manifest the reference resolves to is reused: no layer is read (the
/// layer blobs are gone from the layout and the verification still succeeds), the mount is still
/// scanned and compared. A record of another manifest, of another tree format or that no longer
/// hashes to its digest is not used: the tree is rebuilt from the layers.
#[test]
fn a_recorded_tree_of_the_same_manifest_is_reused_without_reading_layers() {
    use pgext_oci::{RecordedTree, TREE_FORMAT, verify_with_record};
    require_tools();
    let work = tempfile::tempdir().expect("tempdir");
    let mut layout = Layout::new(&work.path().join("layout"));
    let v1 = layout.image(&[gzip(cnpg_v1())], "amd64");
    layout.tag(&v1, "v1");
    let v2 = layout.image(&[gzip(cnpg_v2())], "amd64");
    layout.tag(&v2, "v2");
    let mount = work.path().join("mount");
    unpack(&layout.dir, "v1", &mount);
    let opts = VerifyOptions::default();
    let r = reference(&format!("oci:{}:v1@{}", layout.dir.display(), v1.digest));
    let first = verify(&r, &opts, &scan(&mount), &never).expect("first");
    assert!(first.intact() && !first.image.from_record);
    let record = RecordedTree {
        manifest_digest: first.image.manifest_digest.clone(),
        format: TREE_FORMAT,
        tree_digest: first.image.tree_digest,
        entries: first.image.entries.clone(),
    };
    let again = |rec: RecordedTree| verify_with_record(&r, &opts, Some(rec), || scan(&mount), &never);

    // Equal to a verification from the layers, but for where the tree came from.
    let reused = again(record.clone()).expect("reused");
    assert!(reused.image.from_record);
    assert_eq!(
        Verification {
            image: ExpectedImage {
                from_record: false,
                ..reused.image.clone()
            },
            ..reused.clone()
        },
        first
    );

    // Records that must not be used are rebuilt from the layers: still intact.
    let other = verify(
        &reference(&format!("oci:{}:v2", layout.dir.display())),
        &opts,
        &[],
        &never,
    )
    .expect("v2");
    let mut altered = record.clone();
    altered.entries.retain(|e| !e.path.ends_with(".control"));
    for (what, bad) in [
        (
            "another manifest",
            RecordedTree {
                manifest_digest: other.image.manifest_digest.clone(),
                ..record.clone()
            },
        ),
        (
            "another format",
            RecordedTree {
                format: TREE_FORMAT + 1,
                ..record.clone()
            },
        ),
        ("altered entries", altered),
    ] {
        let v = again(bad).expect(what);
        assert!(!v.image.from_record && v.intact(), "{what}");
    }

    // The layer blobs are removed: only a reused record can still verify.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .dir
                .join("blobs/sha256")
                .join(v1.digest.trim_start_matches("sha256:")),
        )
        .expect("read"),
    )
    .expect("json");
    for l in manifest["layers"].as_array().expect("layers") {
        let hex = l["digest"].as_str().expect("digest").trim_start_matches("sha256:");
        std::fs::remove_file(layout.dir.join("blobs/sha256").join(hex)).expect("remove layer");
    }
    let v = again(record.clone()).expect("no layer needed");
    assert!(v.intact() && v.image.from_record);
    let err = verify(&r, &opts, &scan(&mount), &never).expect_err("layers gone");
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");

    // The mount is still compared: a changed byte is drift, with the record.
    let control = std::fs::read_dir(mount.join("share/extension"))
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "control"))
        .expect("a control file");
    let mut bytes = std::fs::read(&control).expect("read");
    bytes[0] ^= 0x20;
    std::fs::write(&control, bytes).expect("write");
    let v = again(record).expect("drift");
    assert!(v.image.from_record && !v.intact());
    assert_eq!(v.differences.len(), 1, "{:#?}", v.differences);
}
