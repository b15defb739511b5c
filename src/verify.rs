//! Verification and recheck: an image's source against its mount, and the mount against its
//! recorded tree. Runs no SQL, so the worker can run it outside a transaction; the outcome is
//! recorded by `tables`.

use std::path::PathBuf;

use pgext_core::hash;
use pgext_core::pins::PinSource;
use pgext_core::status::CheckStatus;
use pgext_core::tree::{self, TreeEntry};
use pgext_oci::attest::{self, Attestations};
use pgext_oci::cosign::{self, SignatureStatus, SignatureVerdict};
use pgext_oci::keyless;
use pgext_oci::{Auth, Difference, ErrorCode, ImageReference, RecordedTree, VerifyOptions};

use crate::session::{cancelled, with_cache};
use crate::tables::{CheckRecord, Outcome, PinRow, checked_table_name};
use crate::{gucs, server};

/// How [`scan_mount_with`] hashes.
pub(crate) struct ScanHow<'a> {
    /// Take digests of unchanged files (same size, mtime and ctime) from the backend's cache;
    /// otherwise read every file, and replace the cached digests with what was read.
    pub(crate) cached: bool,
    /// Hashing threads (1: on the calling thread, where `cancel` can pace the reads).
    pub(crate) threads: usize,
    /// Polled on the calling thread; true stops the scan (see `server::interrupt_pending`).
    pub(crate) cancel: &'a dyn Fn() -> bool,
}

/// Scans the mounted image, hashing with the backend's cache. See [`scan_mount_with`].
pub(crate) fn scan_mount(name: &str) -> Result<Vec<TreeEntry>, String> {
    scan_mount_with(
        name,
        &ScanHow {
            cached: true,
            threads: gucs::hash_threads(),
            cancel: &server::interrupt_pending,
        },
    )
}

/// Scans the mounted image. A missing root is an empty tree (everything in the image is then
/// `missing`: the mount is gone). A scan that cannot see the whole tree — too many entries, too
/// deep, an unreadable root, directory or file, an I/O error, a file that changed while it was
/// read — is `Err` with the reason: what it would report as missing or modified is unknown, not
/// drift.
pub(crate) fn scan_mount_with(name: &str, how: &ScanHow<'_>) -> Result<Vec<TreeEntry>, String> {
    checked_table_name(name, "the pin");
    let root = PathBuf::from(format!("{}/{name}", gucs::extensions_root()));
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let opts = tree::ScanOptions {
        threads: how.threads,
        cancel: how.cancel,
        ..Default::default()
    };
    let scan = if how.cached {
        with_cache(|c| tree::scan_tree(&root, &opts, Some(c)))
    } else {
        // A cache of its own starts empty, so every file is read; what it learnt then replaces
        // the backend's digests, which may describe bytes the files no longer have.
        let mut fresh = hash::HashCache::new();
        let scan = tree::scan_tree(&root, &opts, Some(&mut fresh));
        with_cache(|c| c.absorb(fresh));
        scan
    };
    match scan {
        Ok(scan) => match scan.problems.iter().find(|p| p.code.makes_scan_incomplete()) {
            Some(p) => Err(format!(
                "the mount could not be read completely: {} at {}: {}",
                p.code,
                if p.path.is_empty() { "." } else { &p.path },
                p.message
            )),
            None => Ok(scan.entries),
        },
        Err(tree::TreeError::Cancelled) => cancelled(),
        // Every other failure (including variants added later) is a scan failure.
        Err(e) => Err(format!("the mount could not be scanned: {e}")),
    }
}

/// The `error_code` of a scan failure.
pub(crate) use pgext_core::status::SCAN_FAILED;

pub(crate) fn verify_options() -> VerifyOptions {
    let (connect, read) = gucs::registry_timeouts();
    let auth_file = gucs::registry_auth_file();
    let spool = gucs::spool_directory();
    VerifyOptions {
        auth: if auth_file.is_empty() {
            Auth::Anonymous
        } else {
            Auth::DockerConfigFile(auth_file.into())
        },
        insecure_registries: gucs::insecure_registries(),
        connect_timeout: Some(connect),
        read_timeout: Some(read),
        spool_dir: if spool.is_empty() { None } else { Some(spool.into()) },
        layout_directories: Some(gucs::layout_directories()),
        spool_max_bytes: Some(gucs::spool_max_size()),
        total_timeout: Some(gucs::verify_timeout()),
        blob_cache: Some(blob_cache()),
        ..VerifyOptions::default()
    }
}

/// Where configs, signature payloads and attestations downloaded from registries are kept by
/// digest, so that a repeated verification reads only manifests: in `pg_stat_tmp`, the data
/// directory's place for transient files (never in a base backup). Every blob is checked against
/// its digest when read back.
pub(crate) fn blob_cache() -> pgext_oci::blobcache::BlobCache {
    pgext_oci::blobcache::BlobCache::new(std::path::Path::new(&server::data_dir()).join("pg_stat_tmp/pgext_blobs"))
}

pub(crate) fn status_of(diffs: &[Difference], tag_moved: bool, intact: bool) -> CheckStatus {
    if !diffs.is_empty() || !intact {
        CheckStatus::Drift
    } else if tag_moved {
        CheckStatus::TagMoved
    } else {
        CheckStatus::Verified
    }
}

/// Verifies one image against its source; network errors become a status, not an error. Runs
/// no SQL: callers may run it outside a transaction (the background worker does). `record` is
/// the expected tree recorded by an earlier verification (see `CheckRecord::reusable_tree`):
/// used, without downloading a layer, when the pin still resolves to the manifest it was built
/// from; every verification still reads the manifests, config and signatures, and scans the mount.
pub(crate) fn verify_one(pin: &PinRow, record: Option<RecordedTree>) -> Outcome {
    let name = pin.pin.name.clone();
    let mut out = Outcome::error(&name, &pin.pin.reference, pin.source);
    let reference = match &pin.parsed {
        Ok(r) => r.clone(),
        Err(e) => {
            out.error_code = Some("invalid_reference");
            out.error = Some(e.clone());
            return out;
        }
    };
    // The mount is scanned on this thread while the layers inflate on workers, and not at all
    // when the image cannot be fetched.
    let scan_failure = std::cell::RefCell::new(None);
    let scan = || {
        scan_mount(&name).unwrap_or_else(|why| {
            scan_failure.replace(Some(why));
            Vec::new()
        })
    };
    match pgext_oci::verify_with_record(&reference, &verify_options(), record, scan, &server::interrupt_pending) {
        Ok(_) if scan_failure.borrow().is_some() => {
            // The image is fine, the mount could not be read: nothing is known about drift.
            // The digests stay unset, so a recorded tree of an earlier success is kept.
            out.error_code = Some(SCAN_FAILED.as_str());
            out.error = scan_failure.take();
        }
        Ok(v) => {
            let intact = v.intact();
            out.status = status_of(&v.differences, v.image.tag_moved, intact);
            out.resolved_digest = Some(v.image.resolved_digest.to_string());
            out.tag_digest = v.image.tag_digest.as_ref().map(|d| d.to_string());
            out.expected_tree_digest = Some(hash::to_prefixed_hex(&v.image.tree_digest));
            out.actual_tree_digest = v.actual_tree_digest.map(|d| hash::to_prefixed_hex(&d));
            out.metadata = Some(metadata_json(&v.image));
            out.differences = v.differences;
            out.manifest_digest = Some(v.image.manifest_digest.to_string());
            out.tree_format = Some(pgext_oci::TREE_FORMAT);
            // A reused tree is the recorded one: nothing to write again.
            out.expected = (!v.image.from_record).then_some(v.image.entries);
        }
        Err(e) if e.code() == ErrorCode::Cancelled => cancelled(),
        Err(e) => {
            let code = e.code();
            out.status = if matches!(code, ErrorCode::Unreachable | ErrorCode::Timeout) {
                CheckStatus::Unreachable
            } else {
                CheckStatus::Error
            };
            out.error_code = Some(code.as_str());
            out.error = Some(e.to_string());
        }
    }
    let signature = check_signature(&reference, out.status);
    out.attestations = Some(check_attestations(&reference, out.status, &signature));
    out.signature = Some(signature);
    out
}

/// The attestations of a verified (or failed) image, judged with the signature policy;
/// BuildKit's in-index ones are covered by a trusted signature of the pinned index. Skipped when
/// the source was just found unreachable.
pub(crate) fn check_attestations(
    reference: &ImageReference,
    status: CheckStatus,
    signature: &SignatureVerdict,
) -> Attestations {
    if status == CheckStatus::Unreachable {
        return Attestations::failed("the image's source is unreachable");
    }
    let policy = match signature_policy() {
        Ok(p) => p,
        Err(detail) => return Attestations::failed(detail),
    };
    match attest::check(reference, &verify_options(), &policy, &server::interrupt_pending) {
        Ok(mut a) => {
            a.covered_by(signature);
            a
        }
        Err(_) => cancelled(), // only a cancel is an Err
    }
}

/// What an image says about itself, as `image_checks.metadata` keeps it.
pub(crate) fn metadata_json(image: &pgext_oci::ExpectedImage) -> serde_json::Value {
    let m = &image.metadata;
    serde_json::json!({
        "platform": image.platform.as_ref().map(ToString::to_string),
        "labels": m.labels,
        "annotations": m.annotations,
        "attestations": m.attestations,
    })
}

/// The signature policy of the settings: trusted keys, and the keyless trust root with its
/// identity rules. A setting that cannot be read is an error of every signature check (the
/// status says `error`, the detail which setting), never a silently weaker policy.
pub(crate) fn signature_policy() -> Result<cosign::SignaturePolicy, String> {
    let keys = cosign::load_keys(std::path::Path::new(&gucs::trusted_keys()))
        .map_err(|e| format!("pgext.trusted_keys: {e}"))?;
    let root_path = gucs::trusted_root();
    let keyless = if root_path.is_empty() {
        None
    } else {
        let root = keyless::TrustRoot::load(std::path::Path::new(&root_path))
            .map_err(|e| format!("pgext.trusted_root: {e}"))?;
        let mut identities = keyless::parse_identities(&gucs::trusted_identities())
            .map_err(|e| format!("pgext.trusted_identities: {e}"))?;
        // The built-in profiles add their rules to the site's.
        identities.extend(
            pgext_oci::profiles::parse_profiles(&gucs::trust_profile())
                .map_err(|e| format!("pgext.trust_profile: {e}"))?,
        );
        Some(keyless::KeylessPolicy {
            root,
            identities,
            require_tlog: gucs::keyless_require_tlog(),
        })
    };
    Ok(cosign::SignaturePolicy { keys, keyless })
}

/// The cosign signature check of a verified (or failed) image: one more small read from the
/// same source, skipped when that source was just found unreachable.
pub(crate) fn check_signature(reference: &ImageReference, status: CheckStatus) -> SignatureVerdict {
    if status == CheckStatus::Unreachable {
        return SignatureVerdict {
            status: SignatureStatus::Unreachable,
            signed_by: None,
            signed_at: None,
            detail: "the image's source is unreachable".into(),
        };
    }
    let policy = match signature_policy() {
        Ok(p) => p,
        Err(detail) => {
            return SignatureVerdict {
                status: SignatureStatus::Error,
                signed_by: None,
                signed_at: None,
                detail,
            };
        }
    };
    match cosign::check(reference, &verify_options(), &policy, &server::interrupt_pending) {
        Ok(v) => v,
        Err(_) => cancelled(), // only a cancel is an Err
    }
}

/// Compares the mount of `name` with its recorded expected tree. Runs no SQL (read `rec` and
/// `expected` first, with `check_records` and `recorded_tree`).
pub(crate) fn recheck_one(name: &str, rec: &CheckRecord, expected: &[TreeEntry]) -> Outcome {
    recheck_with(name, rec, expected, scan_mount(name))
}

/// [`recheck_one`] with the scan done by the caller.
pub(crate) fn recheck_with(
    name: &str,
    rec: &CheckRecord,
    expected: &[TreeEntry],
    scan: Result<Vec<TreeEntry>, String>,
) -> Outcome {
    let pin_source = if rec.pin_source == "setting" {
        PinSource::Setting
    } else {
        PinSource::Table
    };
    let actual = match scan {
        Ok(actual) => actual,
        Err(why) => {
            return Outcome {
                error_code: Some(SCAN_FAILED.as_str()),
                error: Some(why),
                ..Outcome::error(name, &rec.reference, pin_source)
            };
        }
    };
    let differences = pgext_oci::compare(expected, &actual);
    let expected_digest = tree::tree_digest(expected).ok();
    let actual_digest = tree::tree_digest(&actual).ok();
    let intact = expected_digest.is_some() && expected_digest == actual_digest;
    Outcome {
        status: status_of(&differences, rec.status == CheckStatus::TagMoved, intact),
        resolved_digest: rec.resolved_digest.clone(),
        expected_tree_digest: expected_digest.map(|d| hash::to_prefixed_hex(&d)),
        actual_tree_digest: actual_digest.map(|d| hash::to_prefixed_hex(&d)),
        differences,
        ..Outcome::error(name, &rec.reference, pin_source)
    }
}
