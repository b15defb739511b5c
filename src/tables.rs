//! Reads and writes of pgext's own tables: pins, recorded checks and expected trees, the outcome
//! of a verification as it is stored, the worker's runs and findings. Nothing else in the crate
//! reads or writes them. Every query names its schema, qualifies its operators and casts
//! (`OPERATOR(pg_catalog.=)`, `pg_catalog.text`): enforcement runs the reads as the superuser
//! under whatever `search_path` the session has, and no session may change what it sees.

use pgext_core::hash;
use pgext_core::pins::{self, Pin, PinSource};
use pgext_core::policy;
use pgext_core::status::{CheckStatus, DiffTally, Finding, ImageStatus, Micros};
use pgext_core::tree::{EntryKind, TreeEntry};
use pgext_oci::attest::Attestations;
use pgext_oci::cosign::SignatureVerdict;
use pgext_oci::{Difference, DifferenceKind, ImageReference};
use pgrx::JsonB;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

use crate::error::{OrRaise, SqlError};
use crate::gucs;

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
    let table = table_pins();
    let mut rows: Vec<PinRow> = setting
        .iter()
        .cloned()
        .map(|pin| PinRow::new(pin, PinSource::Setting, true))
        .collect();
    for pin in table.iter().cloned() {
        // The precedence rule is the policy's: a setting entry wins over a table row.
        let effective = policy::pin_in_effect(&setting, &table, &pin.name).map(|(_, s)| s) == Some(PinSource::Table);
        rows.push(PinRow::new(pin, PinSource::Table, effective));
    }
    rows
}

/// The rows of `pgext.pins`, by name.
pub fn table_pins() -> Vec<Pin> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT name::pg_catalog.text, reference FROM pgext.pins ORDER BY 1",
            None,
            &[],
        )? {
            if let (Some(name), Some(reference)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                checked_table_name(&name, "pgext.pins");
                out.push(Pin { name, reference });
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .or_raise("read", "pgext.pins")
}

/// Whether pgext's tables can be trusted in this database: the `pgext` extension is installed
/// and owns the `pgext` schema (anyone could otherwise create a schema of that name with tables
/// that say "verified"). With the oids of the tables enforcement reads, whose changes invalidate
/// its decisions.
pub fn pgext_tables() -> Option<Vec<pg_sys::Oid>> {
    Spi::connect(|c| {
        let mut installed = false;
        let mut oids = Vec::new();
        for r in c.select(
            "SELECT cl.oid FROM pg_catalog.pg_extension e \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace \
               LEFT JOIN pg_catalog.pg_class cl ON cl.relnamespace OPERATOR(pg_catalog.=) n.oid \
                AND cl.relname OPERATOR(pg_catalog.=) ANY ('{pins,image_checks,image_files,image_provenance}'::pg_catalog.name[]) \
             WHERE e.extname OPERATOR(pg_catalog.=) 'pgext' AND n.nspname OPERATOR(pg_catalog.=) 'pgext'",
            None,
            &[],
        )? {
            installed = true;
            if let Some(oid) = r.get::<pg_sys::Oid>(1)? {
                oids.push(oid);
            }
        }
        Ok::<_, pgrx::spi::Error>(installed.then_some(oids))
    })
    .or_raise("read", "pg_extension")
}

/// Names read back from pgext's tables meet the file system (they are joined to
/// `pgext.extensions_root`): the `pgext.image_name` domain refuses bad ones on write, and this
/// refuses them again on read, in case the domain was altered.
pub(crate) fn checked_table_name(name: &str, table: &str) {
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
    /// The recorded expected tree: its digest, the image manifest whose layers built it, the
    /// rules it was built under (`pgext_oci::TREE_FORMAT`) and when.
    pub expected_tree_digest: Option<String>,
    pub manifest_digest: Option<String>,
    pub tree_format: Option<i32>,
    pub tree_built_at: Option<TimestampWithTimeZone>,
    /// `checked_at` as the session shows it (for messages).
    pub checked_at_text: String,
}

impl CheckRecord {
    /// The record as the policy judges it.
    pub fn fact(&self) -> policy::CheckFact {
        policy::CheckFact {
            reference: self.reference.clone(),
            status: self.status,
            checked_at: self.checked_at_text.clone(),
            counts: self.counts.summary(),
            signature: self.signature.clone(),
            resolved_digest: self.resolved_digest.clone(),
        }
    }

    /// What a verification of `pin` may reuse instead of downloading layers: the recorded tree
    /// (read by `tree` only when needed) of the last successful verification under the same
    /// pin, with the manifest it came from. `pgext_oci` uses it only when the reference still
    /// resolves to that manifest, under the same tree rules, and the tree still hashes to its
    /// recorded digest. `None` with `pgext.reuse_recorded_trees` off.
    pub(crate) fn reusable_tree(
        &self,
        pin: &PinRow,
        tree: impl FnOnce() -> Vec<TreeEntry>,
    ) -> Option<pgext_oci::RecordedTree> {
        if !gucs::reuse_recorded_trees() || self.reference != pin.pin.reference || self.resolved_digest.is_none() {
            return None;
        }
        Some(pgext_oci::RecordedTree {
            manifest_digest: self.manifest_digest.as_deref()?.parse().ok()?,
            format: self.tree_format?,
            tree_digest: hash::parse_prefixed_sha256(self.expected_tree_digest.as_deref()?)?,
            entries: tree(),
        })
    }
}

/// Every recorded check, by image name.
pub fn check_records() -> std::collections::HashMap<String, CheckRecord> {
    Spi::connect(|client| {
        let mut out = std::collections::HashMap::new();
        // The signature and metadata columns through to_jsonb: a schema older than this library
        // (before ALTER EXTENSION pgext UPDATE) reads as "never checked", not an error.
        let q = "SELECT name::pg_catalog.text, reference, pin_source, status, resolved_digest, verified_at, checked_at, \
                 missing, modified, unexpected, type_changed, mode_changed, link_changed, \
                 j OPERATOR(pg_catalog.->>) 'signature', j OPERATOR(pg_catalog.->>) 'signed_by', \
                 j OPERATOR(pg_catalog.->) 'metadata', \
                 (j OPERATOR(pg_catalog.->>) 'signed_at')::pg_catalog.timestamptz, expected_tree_digest, \
                 checked_at::pg_catalog.text, j OPERATOR(pg_catalog.->>) 'manifest_digest', \
                 (j OPERATOR(pg_catalog.->>) 'tree_format')::pg_catalog.int4, \
                 (j OPERATOR(pg_catalog.->>) 'tree_built_at')::pg_catalog.timestamptz \
                 FROM pgext.image_checks c, LATERAL pg_catalog.to_jsonb(c.*) j";
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
                    expected_tree_digest: row.get::<String>(18)?,
                    checked_at_text: row.get::<String>(19)?.unwrap_or_default(),
                    manifest_digest: row.get::<String>(20)?,
                    tree_format: row.get::<i32>(21)?,
                    tree_built_at: row.get::<TimestampWithTimeZone>(22)?,
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
        (Some(p), Some(c)) if !policy::check_is_for_pin(&c.reference, &p.pin.reference) => ImageStatus::NeverChecked,
        (Some(_), Some(c)) => c.status.into(),
    }
}

/// The differences, counted by kind.
pub(crate) fn counts(diffs: &[Difference]) -> DiffTally {
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
    /// The expected tree, when it was (re)built from the layers (not when a verification
    /// reused the recorded one).
    pub(crate) expected: Option<Vec<TreeEntry>>,
    /// The image manifest whose layers make the expected tree, and the tree rules
    /// (`pgext_oci::TREE_FORMAT`), when the source was read.
    pub(crate) manifest_digest: Option<String>,
    pub(crate) tree_format: Option<i32>,
    /// The cosign signature check, when the source was read (rechecks keep the recorded one).
    pub(crate) signature: Option<SignatureVerdict>,
    /// What the image says about itself (platform, labels, annotations, attestations), when
    /// the source was read; rechecks keep the recorded one.
    pub(crate) metadata: Option<serde_json::Value>,
    /// The attestations (SBOMs, provenance) read and judged, when the source was read; rechecks
    /// keep the recorded ones.
    pub(crate) attestations: Option<Attestations>,
}

impl Outcome {
    /// An outcome that says nothing yet: status `error`, no digest, no difference, no message.
    pub(crate) fn error(name: &str, reference: &str, pin_source: PinSource) -> Outcome {
        Outcome {
            name: name.to_string(),
            reference: reference.to_string(),
            pin_source,
            status: CheckStatus::Error,
            resolved_digest: None,
            tag_digest: None,
            expected_tree_digest: None,
            actual_tree_digest: None,
            differences: Vec::new(),
            error_code: None,
            error: None,
            expected: None,
            manifest_digest: None,
            tree_format: None,
            signature: None,
            metadata: None,
            attestations: None,
        }
    }
}

pub(crate) fn in_recovery() -> bool {
    // SAFETY: a plain read of shared state; always valid in a backend.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// Writes an outcome in one go (the calling transaction): nothing is half-written, and a cancel
/// aborts it all. Nothing is written on a standby, where the tables are read-only.
pub(crate) fn record(client: &mut SpiClient<'_>, o: &Outcome, network: bool) -> Result<bool, pgrx::spi::Error> {
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
    // Attestations describe the source as the last read found it: replaced by every read,
    // kept by a recheck, dropped with a changed pin.
    for table in ATTESTATION_TABLES {
        if o.attestations.is_some() {
            client.update(
                &format!("DELETE FROM {table} WHERE image = $1"),
                None,
                &[o.name.as_str().into()],
            )?;
        } else {
            client.update(
                &format!(
                    "DELETE FROM {table} a USING pgext.image_checks c
                      WHERE a.image = $1 AND c.name = $1 AND c.reference <> $2"
                ),
                None,
                &[o.name.as_str().into(), o.reference.as_str().into()],
            )?;
        }
    }
    if let Some(a) = &o.attestations {
        record_attestations(client, &o.name, a)?;
    }
    client.update(
        "INSERT INTO pgext.image_checks AS c (name, reference, pin_source, status, resolved_digest, tag_digest, \
           expected_tree_digest, actual_tree_digest, missing, modified, unexpected, type_changed, mode_changed, \
           link_changed, error_code, error, verified_at, checked_at, signature, signed_by, signature_detail, metadata,
           signed_at, manifest_digest, tree_format, tree_built_at, attestations_detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 CASE WHEN $17 THEN now() END, now(), $18, $19, $20, $21, to_timestamp($22::float8),
                 $23, $24, CASE WHEN $25 THEN now() END, $26)
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
             THEN coalesce(excluded.metadata, c.metadata) ELSE excluded.metadata END,
           -- They describe the recorded tree (image_files): kept with it.
           manifest_digest = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.manifest_digest, c.manifest_digest) ELSE excluded.manifest_digest END,
           tree_format = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.tree_format, c.tree_format) ELSE excluded.tree_format END,
           tree_built_at = CASE WHEN c.reference = excluded.reference
             THEN coalesce(excluded.tree_built_at, c.tree_built_at) ELSE excluded.tree_built_at END,
           -- Like the attestation rows: a recheck keeps them.
           attestations_detail = CASE WHEN $26 IS NULL AND c.reference = excluded.reference
             THEN c.attestations_detail ELSE excluded.attestations_detail END",
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
            o.manifest_digest.clone().filter(|_| success).into(),
            o.tree_format.filter(|_| success).into(),
            (success && o.expected.is_some()).into(),
            o.attestations.as_ref().map(Attestations::summary).into(),
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

pub(crate) fn to_row(o: &Outcome, recorded: bool) -> VerifyRow {
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

/// Counts stored with each run.
#[derive(Default)]
pub(crate) struct RunCounts {
    pub(crate) images: i32,
    pub(crate) verified: i32,
    pub(crate) drift: i32,
    pub(crate) unreachable: i32,
    pub(crate) errors: i32,
    pub(crate) incompatible: i32,
}

/// Records one worker cycle in `pgext.check_runs`, its findings in `pgext.findings`, and drops the
/// runs (and with them their findings) older than `retention`. In the caller's transaction.
pub(crate) fn record_run(
    started_at: Micros,
    duration_us: i64,
    outcome: &str,
    counts: &RunCounts,
    findings: &[Finding],
    retention: std::time::Duration,
) {
    let started = TimestampWithTimeZone::try_from(started_at)
        .unwrap_or_else(|e| SqlError::Internal(format!("cycle start time: {e}")).raise());
    let run_id = Spi::get_one_with_args::<i64>(
        "INSERT INTO pgext.check_runs (started_at, duration, outcome, images, verified, drift, unreachable,
           errors, incompatible, findings)
         VALUES ($1, $2 * interval '1 microsecond', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        &[
            started.into(),
            duration_us.into(),
            outcome.into(),
            counts.images.into(),
            counts.verified.into(),
            counts.drift.into(),
            counts.unreachable.into(),
            counts.errors.into(),
            counts.incompatible.into(),
            (findings.len() as i32).into(),
        ],
    )
    .or_raise("write", "pgext.check_runs")
    .unwrap_or_else(|| SqlError::Internal("writing pgext.check_runs: no id returned".into()).raise());
    if !findings.is_empty() {
        let f = findings;
        let image: Vec<Option<String>> = f.iter().map(|f| f.image.clone()).collect();
        let extension: Vec<Option<String>> = f.iter().map(|f| f.extension.clone()).collect();
        let code: Vec<String> = f.iter().map(|f| f.code.to_string()).collect();
        let severity: Vec<String> = f.iter().map(|f| f.severity.to_string()).collect();
        let message: Vec<String> = f.iter().map(|f| f.message.clone()).collect();
        Spi::run_with_args(
            "INSERT INTO pgext.findings (run_id, image, extension, code, severity, message)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
            &[
                run_id.into(),
                image.into(),
                extension.into(),
                code.into(),
                severity.into(),
                message.into(),
            ],
        )
        .or_raise("write", "pgext.findings");
    }
    let keep_us = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
    Spi::run_with_args(
        "DELETE FROM pgext.check_runs WHERE started_at < pg_catalog.now() - $1 * interval '1 microsecond'",
        &[keep_us.into()],
    )
    .or_raise("prune", "pgext.check_runs");
}

/// Stores a table pin (`pgext.pins`), replacing one of the same name.
pub(crate) fn save_pin(name: &str, reference: &str) {
    Spi::run_with_args(
        "INSERT INTO pgext.pins (name, reference) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET reference = excluded.reference, pinned_at = now(), pinned_by = current_user",
        &[name.into(), reference.into()],
    )
    .or_raise("write", "pgext.pins");
}

/// Removes the table pin of `name`; true if there was one.
pub(crate) fn delete_pin(name: &str) -> bool {
    Spi::get_one_with_args::<bool>(
        "WITH d AS (DELETE FROM pgext.pins WHERE name = $1 RETURNING 1) SELECT count(*) > 0 FROM d",
        &[name.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// The tables of what an image's attestations say, replaced together.
const ATTESTATION_TABLES: [&str; 3] = [
    "pgext.image_packages",
    "pgext.image_provenance",
    "pgext.image_attestations",
];

/// Writes the attestations of one verification (their rows were deleted by the caller).
fn record_attestations(client: &mut SpiClient<'_>, image: &str, all: &Attestations) -> Result<(), pgrx::spi::Error> {
    for (i, a) in all.found.iter().enumerate() {
        let n = i as i32 + 1;
        let signed_at = a.signed_at.map(|t| t as f64);
        client.update(
            "INSERT INTO pgext.image_attestations (image, attestation, source, kind, predicate_type, statement_digest,
               subject_digest, trust, signed_by, signed_at, detail)
             VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''), $8, $9, to_timestamp($10), $11)",
            None,
            &[
                image.into(),
                n.into(),
                a.origin.as_str().into(),
                a.kind.as_str().into(),
                a.predicate_type.as_str().into(),
                a.digest.as_str().into(),
                a.subject.as_str().into(),
                a.trust.as_str().into(),
                a.signed_by.clone().into(),
                signed_at.into(),
                a.detail.as_str().into(),
            ],
        )?;
        if let Some(p) = &a.provenance {
            client.update(
                "INSERT INTO pgext.image_provenance (image, attestation, source, trust, signed_by, signed_at,
                   predicate_type, builder_id, build_type, source_repository, source_commit, workflow, built_at,
                   invocation_id)
                 VALUES ($1, $2, $3, $4, $5, to_timestamp($6), $7, $8, $9, $10, $11, $12, to_timestamp($13), $14)",
                None,
                &[
                    image.into(),
                    n.into(),
                    a.origin.as_str().into(),
                    a.trust.as_str().into(),
                    a.signed_by.clone().into(),
                    signed_at.into(),
                    a.predicate_type.as_str().into(),
                    p.builder_id.clone().into(),
                    p.build_type.clone().into(),
                    p.source_repository.clone().into(),
                    p.source_commit.clone().into(),
                    p.workflow.clone().into(),
                    p.built_at.map(|t| t as f64).into(),
                    p.invocation_id.clone().into(),
                ],
            )?;
        }
        if let Some(sbom) = &a.sbom {
            let pk = &sbom.packages;
            let id: Vec<String> = pk.iter().map(|p| p.id.clone()).collect();
            let name: Vec<String> = pk.iter().map(|p| p.name.clone()).collect();
            let version: Vec<Option<String>> = pk.iter().map(|p| p.version.clone()).collect();
            let purl: Vec<Option<String>> = pk.iter().map(|p| p.purl.clone()).collect();
            let license: Vec<Option<String>> = pk.iter().map(|p| p.license.clone()).collect();
            let supplier: Vec<Option<String>> = pk.iter().map(|p| p.supplier.clone()).collect();
            // Arrays of arrays must be rectangular in SQL: the files go as one JSON text each.
            let files: Vec<String> = pk
                .iter()
                .map(|p| serde_json::to_string(&p.files).unwrap_or_else(|_| "[]".into()))
                .collect();
            // A document may repeat an SPDX id: the first one counts.
            client.update(
                "INSERT INTO pgext.image_packages (image, attestation, source, trust, signed_by, package_id, name,
                   version, purl, license, supplier, files)
                 SELECT $1, $2, $3, $4, $5, u.id, u.name, u.version, u.purl, u.license, u.supplier,
                        ARRAY(SELECT pg_catalog.jsonb_array_elements_text(u.files::pg_catalog.jsonb))
                   FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                        AS u(id, name, version, purl, license, supplier, files)
                 ON CONFLICT DO NOTHING",
                None,
                &[
                    image.into(),
                    n.into(),
                    a.origin.as_str().into(),
                    a.trust.as_str().into(),
                    a.signed_by.clone().into(),
                    id.into(),
                    name.into(),
                    version.into(),
                    purl.into(),
                    license.into(),
                    supplier.into(),
                    files.into(),
                ],
            )?;
        }
    }
    Ok(())
}

/// One recorded provenance of an image, as the `provenance` condition judges it.
#[derive(Debug, Clone)]
pub struct ProvenanceRow {
    pub builder_id: Option<String>,
    pub source_repository: Option<String>,
    pub trust: String,
}

/// Every image's recorded provenance (`pgext.image_provenance`), by image name. A schema older
/// than this library (before ALTER EXTENSION pgext UPDATE) reads as none.
pub fn provenance_records() -> std::collections::HashMap<String, Vec<ProvenanceRow>> {
    Spi::connect(|client| {
        let mut out: std::collections::HashMap<String, Vec<ProvenanceRow>> = std::collections::HashMap::new();
        let exists = client
            .select(
                "SELECT pg_catalog.to_regclass('pgext.image_provenance') IS NOT NULL",
                None,
                &[],
            )?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        if !exists {
            return Ok(out);
        }
        for row in client.select(
            "SELECT image::pg_catalog.text, builder_id, source_repository, trust FROM pgext.image_provenance \
             ORDER BY image, attestation",
            None,
            &[],
        )? {
            let Some(image) = row.get::<String>(1)? else { continue };
            out.entry(image).or_default().push(ProvenanceRow {
                builder_id: row.get::<String>(2)?,
                source_repository: row.get::<String>(3)?,
                trust: row.get::<String>(4)?.unwrap_or_default(),
            });
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .or_raise("read", "pgext.image_provenance")
}
