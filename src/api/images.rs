//! Pins and verification: a mounted image is byte-for-byte the content of its pinned OCI image.
//!
//! `verify_image()` resolves the pin (registry, `oci:` layout or `oci-archive:`), builds the
//! expected tree from the layers, scans the mount and records both in tables, so that
//! `recheck_image()` can later re-hash only the local files, with no network.

use std::path::PathBuf;

use pgext_core::hash;
use pgext_core::pins::{self, Pin, PinSource};
use pgext_core::status::{CheckStatus, DiffTally, ImageStatus};
use pgext_core::tree::{self, EntryKind, TreeEntry};
use pgext_oci::cosign::{self, SignatureStatus, SignatureVerdict};
use pgext_oci::keyless;
use pgext_oci::{Auth, Difference, DifferenceKind, ErrorCode, ImageReference, VerifyOptions};
use pgrx::JsonB;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{PgSqlErrorCode, datum::TimestampWithTimeZone};

use crate::api::inventory::{cancelled, with_cache};
use crate::error::{OrRaise, SqlError};
use crate::{gucs, server};

/// A pin, where it comes from, and whether it is the one in effect.
#[derive(Debug, Clone)]
pub struct PinRow {
    pub pin: Pin,
    /// `pin.reference` parsed, once: an invalid reference is that image's `invalid_reference`
    /// error when it is verified, never an error that hides the other pins.
    pub parsed: Result<ImageReference, String>,
    pub source: PinSource,
    pub effective: bool,
}

impl PinRow {
    pub fn new(pin: Pin, source: PinSource, effective: bool) -> PinRow {
        let parsed = pin.reference.parse::<ImageReference>().map_err(|e| e.to_string());
        PinRow {
            pin,
            parsed,
            source,
            effective,
        }
    }
}

/// Every pin: `pgext.images` entries, then table rows; a setting entry wins over a table row of
/// the same name. An unparsable setting is an error: a half-understood setting must not be
/// half-applied.
pub fn all_pins() -> Vec<PinRow> {
    let setting = pins::parse_pins(&gucs::images()).unwrap_or_else(|e| SqlError::bad_images(e).raise());
    let table: Vec<Pin> = Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select("SELECT name, reference FROM pgext.pins ORDER BY name", None, &[])? {
            if let (Some(name), Some(reference)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                checked_table_name(&name, "pgext.pins");
                out.push(Pin { name, reference });
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .or_raise("read", "pgext.pins");
    let mut rows: Vec<PinRow> = setting
        .iter()
        .cloned()
        .map(|pin| PinRow::new(pin, PinSource::Setting, true))
        .collect();
    for pin in table {
        let effective = !setting.iter().any(|s| s.name == pin.name);
        rows.push(PinRow::new(pin, PinSource::Table, effective));
    }
    rows
}

/// Names read back from pgext's tables meet the file system (they are joined to
/// `pgext.extensions_root`): the `pgext.image_name` domain refuses bad ones on write, and this
/// refuses them again on read, in case the domain was altered.
fn checked_table_name(name: &str, table: &str) {
    if let Err(why) = pins::check_image_name(name) {
        SqlError::Corrupted {
            message: format!("{table} holds an invalid image name {name:?}: {why}"),
            hint: format!(
                "Delete the row from {table}; image names are directories directly below pgext.extensions_root."
            ),
        }
        .raise()
    }
}

/// The pin in effect for `name`.
pub fn effective_pin(name: &str) -> Option<PinRow> {
    all_pins().into_iter().find(|p| p.effective && p.pin.name == name)
}

/// The latest recorded check of an image (`pgext.image_checks`).
#[derive(Debug, Clone, Default)]
pub struct CheckRecord {
    pub reference: String,
    pub pin_source: String,
    pub status: CheckStatus,
    pub resolved_digest: Option<String>,
    pub verified_at: Option<TimestampWithTimeZone>,
    pub checked_at: Option<TimestampWithTimeZone>,
    pub counts: DiffTally,
    /// `signature`, `signed_by` of the last check that read the source.
    pub signature: Option<String>,
    pub signed_by: Option<String>,
    /// When a keyless signature was logged (its transparency-log entry's time).
    pub signed_at: Option<TimestampWithTimeZone>,
    /// `metadata` of the last check that read the source.
    pub metadata: Option<serde_json::Value>,
}

/// Every recorded check, by image name.
pub fn check_records() -> std::collections::HashMap<String, CheckRecord> {
    Spi::connect(|client| {
        let mut out = std::collections::HashMap::new();
        let q = "SELECT name, reference, pin_source, status, resolved_digest, verified_at, checked_at, \
                 missing, modified, unexpected, type_changed, mode_changed, link_changed, signature, signed_by, \
                 metadata, signed_at FROM pgext.image_checks";
        for row in client.select(q, None, &[])? {
            let Some(name) = row.get::<String>(1)? else { continue };
            checked_table_name(&name, "pgext.image_checks");
            let counts = tally_columns(&row, 8)?;
            out.insert(
                name,
                CheckRecord {
                    reference: row.get::<String>(2)?.unwrap_or_default(),
                    pin_source: row.get::<String>(3)?.unwrap_or_default(),
                    status: CheckStatus::from_stored(&row.get::<String>(4)?.unwrap_or_default()),
                    resolved_digest: row.get::<String>(5)?,
                    verified_at: row.get::<TimestampWithTimeZone>(6)?,
                    checked_at: row.get::<TimestampWithTimeZone>(7)?,
                    counts,
                    signature: row.get::<String>(14)?,
                    signed_by: row.get::<String>(15)?,
                    metadata: row.get::<JsonB>(16)?.map(|j| j.0),
                    signed_at: row.get::<TimestampWithTimeZone>(17)?,
                },
            );
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .or_raise("read", "pgext.image_checks")
}

/// The status `mounted_images` shows for an image, from its pin and its latest check.
pub fn image_status(pin: Option<&PinRow>, check: Option<&CheckRecord>) -> ImageStatus {
    match (pin, check) {
        (None, _) => ImageStatus::Unpinned,
        (Some(_), None) => ImageStatus::NeverChecked,
        // A changed pin makes the old verdict meaningless.
        (Some(p), Some(c)) if c.reference != p.pin.reference => ImageStatus::NeverChecked,
        (Some(_), Some(c)) => c.status.into(),
    }
}

/// The differences, counted by kind.
fn counts(diffs: &[Difference]) -> DiffTally {
    let mut c = DiffTally::default();
    for d in diffs {
        let n = match d.kind {
            DifferenceKind::Missing => &mut c.missing,
            DifferenceKind::Modified => &mut c.modified,
            DifferenceKind::Unexpected => &mut c.unexpected,
            DifferenceKind::TypeChanged => &mut c.type_changed,
            DifferenceKind::ModeChanged => &mut c.mode_changed,
            DifferenceKind::LinkChanged => &mut c.link_changed,
        };
        *n = n.saturating_add(1);
    }
    c
}

/// `image_checks`' six count columns `missing, modified, unexpected, type_changed,
/// mode_changed, link_changed`, selected in that order from column `first` on (NULL is 0).
pub(crate) fn tally_columns(row: &pgrx::spi::SpiHeapTupleData<'_>, first: usize) -> pgrx::spi::Result<DiffTally> {
    let n = |i: usize| -> pgrx::spi::Result<i32> { Ok(row.get::<i32>(first + i)?.unwrap_or(0)) };
    Ok(DiffTally {
        missing: n(0)?,
        modified: n(1)?,
        unexpected: n(2)?,
        type_changed: n(3)?,
        mode_changed: n(4)?,
        link_changed: n(5)?,
    })
}

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
fn scan_mount(name: &str) -> Result<Vec<TreeEntry>, String> {
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
        ..VerifyOptions::default()
    }
}

/// The outcome of one verification or recheck, as returned to SQL and recorded.
pub(crate) struct Outcome {
    pub(crate) name: String,
    pub(crate) reference: String,
    pub(crate) pin_source: PinSource,
    pub(crate) status: CheckStatus,
    pub(crate) resolved_digest: Option<String>,
    pub(crate) tag_digest: Option<String>,
    pub(crate) expected_tree_digest: Option<String>,
    pub(crate) actual_tree_digest: Option<String>,
    pub(crate) differences: Vec<Difference>,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) error: Option<String>,
    /// The expected tree, when it was (re)built from the source.
    pub(crate) expected: Option<Vec<TreeEntry>>,
    /// The cosign signature check, when the source was read (rechecks keep the recorded one).
    pub(crate) signature: Option<SignatureVerdict>,
    /// What the image says about itself (platform, labels, annotations, attestations), when
    /// the source was read; rechecks keep the recorded one.
    pub(crate) metadata: Option<serde_json::Value>,
}

fn in_recovery() -> bool {
    // SAFETY: a plain read of shared state; always valid in a backend.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// Writes an outcome in one go (the calling transaction): nothing is half-written, and a cancel
/// aborts it all. Nothing is written on a standby, where the tables are read-only.
fn record(client: &mut SpiClient<'_>, o: &Outcome, network: bool) -> Result<bool, pgrx::spi::Error> {
    if in_recovery() {
        return Ok(false);
    }
    let c = counts(&o.differences);
    let success = o.error_code.is_none();
    // A recorded tree belongs to the reference it was verified against: when the pin changed,
    // it must not survive a failed verification of the new reference (a recheck would compare
    // the mount with the wrong image).
    for table in ["pgext.image_files", "pgext.image_differences"] {
        client.update(
            &format!(
                "DELETE FROM {table} f USING pgext.image_checks c
                  WHERE f.name = $1 AND c.name = $1 AND c.reference <> $2"
            ),
            None,
            &[o.name.as_str().into(), o.reference.as_str().into()],
        )?;
    }
    client.update(
        "INSERT INTO pgext.image_checks AS c (name, reference, pin_source, status, resolved_digest, tag_digest, \
           expected_tree_digest, actual_tree_digest, missing, modified, unexpected, type_changed, mode_changed, \
           link_changed, error_code, error, verified_at, checked_at, signature, signed_by, signature_detail, metadata,
           signed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 CASE WHEN $17 THEN now() END, now(), $18, $19, $20, $21, to_timestamp($22::float8))
         ON CONFLICT (name) DO UPDATE SET reference = excluded.reference, pin_source = excluded.pin_source,
           status = excluded.status,
           -- What a failure leaves unknown is kept from the last success under the same pin only.
           resolved_digest = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.resolved_digest, c.resolved_digest) ELSE excluded.resolved_digest END,
           tag_digest = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.tag_digest, c.tag_digest) ELSE excluded.tag_digest END,
           expected_tree_digest = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.expected_tree_digest, c.expected_tree_digest) ELSE excluded.expected_tree_digest END,
           actual_tree_digest = excluded.actual_tree_digest,
           missing = excluded.missing, modified = excluded.modified, unexpected = excluded.unexpected,
           type_changed = excluded.type_changed, mode_changed = excluded.mode_changed,
           link_changed = excluded.link_changed, error_code = excluded.error_code, error = excluded.error,
           verified_at = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.verified_at, c.verified_at) ELSE excluded.verified_at END,
           checked_at = excluded.checked_at,
           -- A recheck reads no source and says nothing about signatures: the last check's stay.
           signature = CASE WHEN $18 IS NULL AND c.reference = excluded.reference
             THEN c.signature ELSE excluded.signature END,
           signed_by = CASE WHEN $18 IS NULL AND c.reference = excluded.reference
             THEN c.signed_by ELSE excluded.signed_by END,
           signature_detail = CASE WHEN $18 IS NULL AND c.reference = excluded.reference
             THEN c.signature_detail ELSE excluded.signature_detail END,
           signed_at = CASE WHEN $18 IS NULL AND c.reference = excluded.reference
             THEN c.signed_at ELSE excluded.signed_at END,
           -- Metadata is read with the manifest: a failed read or a recheck keeps the last.
           metadata = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.metadata, c.metadata) ELSE excluded.metadata END",
        None,
        &[
            o.name.as_str().into(),
            o.reference.as_str().into(),
            o.pin_source.as_str().into(),
            o.status.as_str().into(),
            o.resolved_digest.clone().into(),
            o.tag_digest.clone().into(),
            o.expected_tree_digest.clone().into(),
            o.actual_tree_digest.clone().into(),
            c.missing.into(),
            c.modified.into(),
            c.unexpected.into(),
            c.type_changed.into(),
            c.mode_changed.into(),
            c.link_changed.into(),
            o.error_code.into(),
            o.error.clone().into(),
            (network && success).into(),
            o.signature.as_ref().map(|v| v.status.as_str()).into(),
            o.signature.as_ref().and_then(|v| v.signed_by.clone()).into(),
            o.signature.as_ref().map(|v| v.detail.clone()).into(),
            o.metadata.clone().map(JsonB).into(),
            o.signature.as_ref().and_then(|v| v.signed_at).into(),
        ],
    )?;
    if !success {
        return Ok(true); // keep the last good expected tree and its differences
    }
    client.update(
        "DELETE FROM pgext.image_differences WHERE name = $1",
        None,
        &[o.name.as_str().into()],
    )?;
    if !o.differences.is_empty() {
        let path: Vec<String> = o.differences.iter().map(|d| d.path.clone()).collect();
        let kind: Vec<String> = o.differences.iter().map(|d| d.kind.as_str().to_string()).collect();
        let expected: Vec<Option<String>> = o.differences.iter().map(|d| d.expected.clone()).collect();
        let actual: Vec<Option<String>> = o.differences.iter().map(|d| d.actual.clone()).collect();
        client.update(
            "INSERT INTO pgext.image_differences (name, path, kind, expected, actual)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])",
            None,
            &[
                o.name.as_str().into(),
                path.into(),
                kind.into(),
                expected.into(),
                actual.into(),
            ],
        )?;
    }
    if let Some(entries) = &o.expected {
        client.update(
            "DELETE FROM pgext.image_files WHERE name = $1",
            None,
            &[o.name.as_str().into()],
        )?;
        let path: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
        let kind: Vec<String> = entries.iter().map(|e| e.kind.as_str().to_string()).collect();
        let mode: Vec<i32> = entries.iter().map(|e| e.mode as i32).collect();
        let size: Vec<i64> = entries
            .iter()
            .map(|e| i64::try_from(e.size).unwrap_or(i64::MAX))
            .collect();
        let sha: Vec<Option<String>> = entries.iter().map(|e| e.sha256.map(|d| hash::to_hex(&d))).collect();
        let link: Vec<Option<String>> = entries.iter().map(|e| e.link_target.clone()).collect();
        client.update(
            "INSERT INTO pgext.image_files (name, path, kind, mode, size, sha256, link_target)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[], $6::text[], $7::text[])",
            None,
            &[
                o.name.as_str().into(),
                path.into(),
                kind.into(),
                mode.into(),
                size.into(),
                sha.into(),
                link.into(),
            ],
        )?;
    }
    Ok(true)
}

fn status_of(diffs: &[Difference], tag_moved: bool, intact: bool) -> CheckStatus {
    if !diffs.is_empty() || !intact {
        CheckStatus::Drift
    } else if tag_moved {
        CheckStatus::TagMoved
    } else {
        CheckStatus::Verified
    }
}

/// Verifies one image against its source; network errors become a status, not an error. Runs
/// no SQL: callers may run it outside a transaction (the background worker does).
pub(crate) fn verify_one(pin: &PinRow) -> Outcome {
    let name = pin.pin.name.clone();
    let mut out = Outcome {
        name: name.clone(),
        reference: pin.pin.reference.clone(),
        pin_source: pin.source,
        status: CheckStatus::Error,
        resolved_digest: None,
        tag_digest: None,
        expected_tree_digest: None,
        actual_tree_digest: None,
        differences: Vec::new(),
        error_code: None,
        error: None,
        expected: None,
        signature: None,
        metadata: None,
    };
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
    match pgext_oci::verify_with(&reference, &verify_options(), scan, &server::interrupt_pending) {
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
            out.expected = Some(v.image.entries);
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
    out.signature = Some(check_signature(&reference, out.status));
    out
}

/// What an image says about itself, as `image_checks.metadata` keeps it.
fn metadata_json(image: &pgext_oci::ExpectedImage) -> serde_json::Value {
    let m = &image.metadata;
    serde_json::json!({
        "platform": image.platform.as_ref().map(ToString::to_string),
        "labels": m.labels,
        "annotations": m.annotations,
        "attestations": m.attestations,
    })
}

/// The recorded metadata as the core judges it.
pub fn image_facts(metadata: &serde_json::Value) -> pgext_core::metadata::ImageFacts {
    let map = |key: &str| -> std::collections::BTreeMap<String, String> {
        metadata[key]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    pgext_core::metadata::ImageFacts {
        platform: metadata["platform"].as_str().map(str::to_owned),
        labels: map("labels"),
        annotations: map("annotations"),
    }
}

/// The signature policy of the settings: trusted keys, and the keyless trust root with its
/// identity rules. A setting that cannot be read is an error of every signature check (the
/// status says `error`, the detail which setting), never a silently weaker policy.
fn signature_policy() -> Result<cosign::SignaturePolicy, String> {
    let keys = cosign::load_keys(std::path::Path::new(&gucs::trusted_keys()))
        .map_err(|e| format!("pgext.trusted_keys: {e}"))?;
    let root_path = gucs::trusted_root();
    let keyless = if root_path.is_empty() {
        None
    } else {
        let root = keyless::TrustRoot::load(std::path::Path::new(&root_path))
            .map_err(|e| format!("pgext.trusted_root: {e}"))?;
        let identities = keyless::parse_identities(&gucs::trusted_identities())
            .map_err(|e| format!("pgext.trusted_identities: {e}"))?;
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
fn check_signature(reference: &ImageReference, status: CheckStatus) -> SignatureVerdict {
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

pub(crate) type VerifyRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
    i32,
    i32,
    i32,
    Option<String>,
    Option<String>,
    bool,
);

fn to_row(o: &Outcome, recorded: bool) -> VerifyRow {
    let c = counts(&o.differences).summary();
    (
        o.name.clone(),
        o.reference.clone(),
        o.pin_source.as_str().to_string(),
        o.status.as_str().to_string(),
        o.resolved_digest.clone(),
        o.tag_digest.clone(),
        o.expected_tree_digest.clone(),
        o.actual_tree_digest.clone(),
        c.missing,
        c.modified,
        c.unexpected,
        c.changed,
        o.error_code.map(str::to_string),
        o.error.clone(),
        recorded,
    )
}

/// Records outcomes (one short write; nothing on a standby) and returns the SQL rows.
pub(crate) fn record_all(outcomes: &[Outcome], network: bool) -> Vec<VerifyRow> {
    Spi::connect_mut(|client| {
        let mut rows = Vec::new();
        for o in outcomes {
            let recorded = record(client, o, network)?;
            rows.push(to_row(o, recorded));
        }
        Ok::<_, pgrx::spi::Error>(rows)
    })
    .or_raise("write", "pgext.image_checks")
}

/// Verifies the mounted image `name` against its pinned reference: fetches (or reads) the image,
/// checks every digest, rebuilds the expected tree and compares it with the mount.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_unsafe)]
fn verify_image(
    name: &str,
) -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(pin_source, String),
        name!(status, String),
        name!(resolved_digest, Option<String>),
        name!(tag_digest, Option<String>),
        name!(expected_tree_digest, Option<String>),
        name!(actual_tree_digest, Option<String>),
        name!(missing, i32),
        name!(modified, i32),
        name!(unexpected, i32),
        name!(changed, i32),
        name!(error_code, Option<String>),
        name!(error, Option<String>),
        name!(recorded, bool),
    ),
> {
    let Some(pin) = effective_pin(name) else {
        SqlError::NotPinned(name.to_string()).raise()
    };
    if let Ok(reference) = &pin.parsed {
        check_layout_allowed(reference);
    }
    let outcome = verify_one(&pin);
    TableIterator::new(record_all(&[outcome], true))
}

/// Verifies every pinned image, one row each (see `verify_image`).
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_unsafe)]
fn verify_images() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(pin_source, String),
        name!(status, String),
        name!(resolved_digest, Option<String>),
        name!(tag_digest, Option<String>),
        name!(expected_tree_digest, Option<String>),
        name!(actual_tree_digest, Option<String>),
        name!(missing, i32),
        name!(modified, i32),
        name!(unexpected, i32),
        name!(changed, i32),
        name!(error_code, Option<String>),
        name!(error, Option<String>),
        name!(recorded, bool),
    ),
> {
    let outcomes: Vec<Outcome> = all_pins().iter().filter(|p| p.effective).map(verify_one).collect();
    TableIterator::new(record_all(&outcomes, true))
}

/// Re-hashes the mounted files of `name` and compares them with the tree recorded by the last
/// successful `verify_image`, with no network.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_unsafe)]
fn recheck_image(
    name: &str,
) -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(pin_source, String),
        name!(status, String),
        name!(resolved_digest, Option<String>),
        name!(tag_digest, Option<String>),
        name!(expected_tree_digest, Option<String>),
        name!(actual_tree_digest, Option<String>),
        name!(missing, i32),
        name!(modified, i32),
        name!(unexpected, i32),
        name!(changed, i32),
        name!(error_code, Option<String>),
        name!(error, Option<String>),
        name!(recorded, bool),
    ),
> {
    let records = check_records();
    let Some(rec) = records.get(name).filter(|r| r.resolved_digest.is_some()) else {
        SqlError::Prerequisite {
            message: format!("image \"{name}\" has no recorded verification"),
            hint: format!("Run SELECT * FROM pgext.verify_image('{name}') first."),
        }
        .raise()
    };
    let outcome = recheck_one(name, rec, &recorded_tree(name));
    TableIterator::new(record_all(&[outcome], false))
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
                name: name.to_string(),
                reference: rec.reference.clone(),
                pin_source,
                status: CheckStatus::Error,
                resolved_digest: None,
                tag_digest: None,
                expected_tree_digest: None,
                actual_tree_digest: None,
                differences: Vec::new(),
                error_code: Some(SCAN_FAILED.as_str()),
                error: Some(why),
                expected: None,
                signature: None,
                metadata: None,
            };
        }
    };
    let differences = pgext_oci::compare(expected, &actual);
    let expected_digest = tree::tree_digest(expected).ok();
    let actual_digest = tree::tree_digest(&actual).ok();
    let intact = expected_digest.is_some() && expected_digest == actual_digest;
    Outcome {
        name: name.to_string(),
        reference: rec.reference.clone(),
        pin_source,
        status: status_of(&differences, rec.status == CheckStatus::TagMoved, intact),
        resolved_digest: rec.resolved_digest.clone(),
        tag_digest: None,
        expected_tree_digest: expected_digest.map(|d| hash::to_prefixed_hex(&d)),
        actual_tree_digest: actual_digest.map(|d| hash::to_prefixed_hex(&d)),
        differences,
        error_code: None,
        error: None,
        expected: None,
        signature: None,
        metadata: None,
    }
}

/// The expected tree recorded for `name` by its last successful verification.
pub(crate) fn recorded_tree(name: &str) -> Vec<TreeEntry> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        let rows = client.select(
            // Qualified operator and cast: enforcement runs this as the superuser, under whatever
            // search_path the session has.
            "SELECT path, kind, mode, size, sha256, link_target FROM pgext.image_files \
             WHERE name OPERATOR(pg_catalog.=) $1::pg_catalog.text ORDER BY path",
            None,
            &[name.into()],
        )?;
        for row in rows {
            out.push(TreeEntry {
                path: row.get::<String>(1)?.unwrap_or_default(),
                kind: EntryKind::from_name(&row.get::<String>(2)?.unwrap_or_default()),
                mode: row.get::<i32>(3)?.unwrap_or(0) as u32,
                size: row.get::<i64>(4)?.unwrap_or(0) as u64,
                sha256: row.get::<String>(5)?.and_then(|h| hash::parse_sha256_hex(&h)),
                link_target: row.get::<String>(6)?,
            });
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .or_raise("read", "pgext.image_files")
}

/// Raises 42501 if `reference` is a local layout outside `pgext.layout_directories` (the same
/// answer whether or not the path exists; verify_one reports it as `forbidden` for the worker and
/// `verify_images()`, where one pin must not stop the others).
fn check_layout_allowed(reference: &ImageReference) {
    let path = match reference {
        ImageReference::Layout(l) | ImageReference::Archive(l) => l.path(),
        ImageReference::Registry(_) => return,
    };
    if let Err(e) = pgext_oci::confine_layout_path(path, &gucs::layout_directories()) {
        SqlError::InsufficientPrivilege {
            message: e.to_string(),
            hint: "Local layouts must lie in one of the directories of pgext.layout_directories \
                   (a superuser setting; empty refuses them all)."
                .into(),
        }
        .raise()
    }
}

/// Pins `name` to `reference` (stored in `pgext.pins`; `pgext.images` wins on conflict).
#[pg_extern(volatile, parallel_unsafe)]
fn pin_image(name: &str, reference: &str) {
    if let Err(why) = pins::check_image_name(name) {
        SqlError::InvalidParameter {
            message: format!("\"{name}\" is not a valid image name: {why}"),
        }
        .raise()
    }
    match reference.parse::<ImageReference>() {
        Ok(r) => check_layout_allowed(&r),
        Err(e) => SqlError::InvalidParameter {
            // The parser's message already names the reference.
            message: e.to_string(),
        }
        .raise(),
    }
    Spi::run_with_args(
        "INSERT INTO pgext.pins (name, reference) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET reference = excluded.reference, pinned_at = now(), pinned_by = current_user",
        &[name.into(), reference.into()],
    )
    .or_raise("write", "pgext.pins");
    if pins::parse_pins(&gucs::images())
        .map(|p| p.iter().any(|p| p.name == name))
        .unwrap_or(false)
    {
        pgrx::ereport!(
            PgLogLevel::WARNING,
            PgSqlErrorCode::ERRCODE_WARNING,
            format!("image \"{name}\" is also pinned in pgext.images, which takes precedence")
        );
    }
}

/// Removes the table pin of `name`; true if there was one.
#[pg_extern(volatile, parallel_unsafe)]
fn unpin_image(name: &str) -> bool {
    Spi::get_one_with_args::<bool>(
        "WITH d AS (DELETE FROM pgext.pins WHERE name = $1 RETURNING 1) SELECT count(*) > 0 FROM d",
        &[name.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// Every pin, from the setting and the table, and which one is in effect.
#[pg_extern(volatile)]
fn image_pins() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(source, String),
        name!(effective, bool),
    ),
> {
    TableIterator::new(
        all_pins()
            .into_iter()
            .map(|p| (p.pin.name, p.pin.reference, p.source.as_str().to_string(), p.effective)),
    )
}

extension_sql_file!(
    "../../sql/images.sql",
    name = "image_tables",
    requires = [
        verify_image,
        verify_images,
        recheck_image,
        pin_image,
        unpin_image,
        image_pins
    ]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test(error = "\"../x\" is not a valid image name: contains '/'")]
    fn pin_rejects_path_names() {
        Spi::run("SELECT pgext.pin_image('../x', 'a/b:1')").expect("spi");
    }

    #[pg_test(error = "image \"nowhere\" is not pinned")]
    fn verify_needs_a_pin() {
        Spi::run("SELECT * FROM pgext.verify_image('nowhere')").expect("spi");
    }

    #[pg_test]
    fn table_pins_round_trip_and_setting_wins() {
        // The configuration pins pgtest_setting_pin (see pg_test::postgresql_conf_options).
        Spi::run("SET pgext.layout_directories = '/layouts'").expect("set");
        Spi::run("SELECT pgext.pin_image('pgtest_setting_pin', 'oci:/layouts/a:1')").expect("pin");
        let rows = Spi::get_one::<i64>(
            "SELECT count(*) FROM pgext.image_pins WHERE name = 'pgtest_setting_pin' AND \
             ((source = 'setting' AND effective AND reference = 'oci:/other:2') OR (source = 'table' AND NOT effective))",
        )
        .expect("spi");
        assert_eq!(rows, Some(2));
        let status =
            Spi::get_one::<String>("SELECT status FROM pgext.mounted_images WHERE name = 'pgtest_setting_pin'")
                .expect("spi");
        assert_eq!(status.as_deref(), Some("never_checked"));
        let unpin = "SELECT pgext.unpin_image('pgtest_setting_pin')";
        assert_eq!(Spi::get_one::<bool>(unpin).expect("spi"), Some(true));
        assert_eq!(Spi::get_one::<bool>(unpin).expect("spi"), Some(false));
    }

    #[pg_test(error = "local layout \"/etc/x\": local layouts are not allowed (no layout directory is configured)")]
    fn layouts_are_refused_without_layout_directories() {
        Spi::run("SELECT pgext.pin_image('probe', 'oci:/etc/x:1')").expect("spi");
    }

    #[pg_test(error = "local layout \"/layouts/../etc/passwd\": not under an allowed layout directory")]
    fn layouts_outside_layout_directories_are_refused() {
        Spi::run("SET pgext.layout_directories = '/layouts'").expect("set");
        Spi::run("SELECT pgext.pin_image('probe', 'oci-archive:/layouts/../etc/passwd')").expect("spi");
    }

    #[pg_test]
    fn an_unreachable_registry_is_a_status_not_an_error() {
        Spi::run("SELECT pgext.pin_image('gone', '127.0.0.1:1/x:1')").expect("pin");
        let (status, code) =
            Spi::get_two::<String, String>("SELECT status, error_code FROM pgext.verify_image('gone')").expect("spi");
        assert_eq!(
            (status.as_deref(), code.as_deref()),
            (Some("unreachable"), Some("unreachable"))
        );
    }
}
