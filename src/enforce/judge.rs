//! Judging the images a statement uses against `pgext.require`: the facts (pins, recorded checks,
//! a local re-hash of the mount, static compatibility), read once per image and statement.
//!
//! pgext's tables are read as the bootstrap superuser (an ordinary role running a trusted
//! `CREATE EXTENSION` cannot read them), only when the `pgext` extension is installed in the
//! current database and owns the `pgext` schema — otherwise anyone could create a schema of that
//! name with tables that say "verified". Every operator is spelled `OPERATOR(pg_catalog.=)` so
//! the session's `search_path` cannot substitute one. Nothing is written.

use std::collections::{BTreeSet, HashMap};

use pgext_core::compat::Verdict;
use pgext_core::elf;
use pgext_core::pins::{self, PinSource};
use pgext_core::policy::Condition;
use pgext_core::problem::Severity;
use pgext_core::status::CheckStatus;
use pgext_core::tree::TreeEntry;
use pgrx::prelude::*;

use crate::error::OrRaise;
use crate::gucs;
use crate::tables::{self, CheckRecord, PinRow};
use crate::verify::recheck_one;

/// (image, reference, checked_at) of a recorded check.
type CheckKey = (String, String, String);

/// Verdicts with the settings signature and the fingerprint of the files they come from.
type CachedVerdicts = (
    String,
    pgext_core::inventory::Fingerprint,
    std::collections::BTreeMap<String, Verdict>,
);

thread_local! {
    /// The last verdicts computed by this backend.
    static VERDICTS: std::cell::RefCell<Option<CachedVerdicts>> = const { std::cell::RefCell::new(None) };
    /// Recorded trees by check: re-read only after a new check.
    static TREES: std::cell::RefCell<HashMap<CheckKey, std::rc::Rc<Vec<TreeEntry>>>> =
        std::cell::RefCell::new(HashMap::new());
}

/// Why one condition failed, with the evidence and the fix.
#[derive(Debug, Clone)]
pub struct Failure {
    pub condition: Condition,
    pub detail: String,
    pub hint: String,
}

/// A recorded check, as enforcement needs it.
#[derive(Debug, Clone)]
struct Check {
    record: CheckRecord,
    expected_tree_digest: Option<String>,
    checked_at: String,
}

/// Facts gathered for one statement (or one preload check).
#[derive(Default)]
pub struct Facts {
    /// Whether the `pgext` extension is installed here (its tables can be trusted).
    tables: Option<bool>,
    pins: Option<Result<HashMap<String, PinRow>, String>>,
    checks: Option<HashMap<String, Check>>,
    /// Per image: the outcome of the pinned/verified conditions.
    images: HashMap<String, Vec<Failure>>,
    verdicts: Option<std::collections::BTreeMap<String, Verdict>>,
}

/// Runs `f` as the bootstrap superuser in a restricted security context, restoring the caller's
/// identity afterwards (also when `f` raises: transaction abort restores it too).
fn as_superuser<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores exactly what GetUserIdAndSecContext returned.
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) };
        }
    }
    let mut uid = pg_sys::InvalidOid;
    let mut ctx = 0;
    // SAFETY: plain reads and writes of the backend's current user, as SECURITY DEFINER does.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut uid, &mut ctx);
        pg_sys::SetUserIdAndSecContext(
            pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID),
            ctx | (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32,
        );
    }
    let _restore = Restore(uid, ctx);
    f()
}

impl Facts {
    fn tables(&mut self) -> bool {
        *self.tables.get_or_insert_with(|| {
            Spi::get_one::<bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n \
                   ON n.oid OPERATOR(pg_catalog.=) e.extnamespace \
                 WHERE e.extname OPERATOR(pg_catalog.=) 'pgext' AND n.nspname OPERATOR(pg_catalog.=) 'pgext')",
            )
            .or_raise("read", "pg_extension")
            .unwrap_or(false)
        })
    }

    /// The pins in effect by image: `pgext.images`, then `pgext.pins` (when installed here).
    fn pins(&mut self) -> Result<&HashMap<String, PinRow>, String> {
        if self.pins.is_none() {
            let tables = self.tables();
            let loaded = pins::parse_pins(&gucs::images())
                .map_err(|e| format!("pgext.images cannot be parsed ({e}): no pin is trusted"))
                .map(|setting| {
                    let mut map: HashMap<String, PinRow> = HashMap::new();
                    if tables {
                        let rows = as_superuser(|| {
                            Spi::connect(|c| {
                                let mut out = Vec::new();
                                for r in
                                    c.select("SELECT name::pg_catalog.text, reference FROM pgext.pins", None, &[])?
                                {
                                    if let (Some(n), Some(rf)) = (r.get::<String>(1)?, r.get::<String>(2)?) {
                                        out.push(pins::Pin { name: n, reference: rf });
                                    }
                                }
                                Ok::<_, pgrx::spi::Error>(out)
                            })
                        })
                        .or_raise("read", "pgext.pins");
                        for pin in rows {
                            map.insert(pin.name.clone(), PinRow::new(pin, PinSource::Table, true));
                        }
                    }
                    for pin in setting {
                        map.insert(pin.name.clone(), PinRow::new(pin, PinSource::Setting, true));
                    }
                    map
                });
            self.pins = Some(loaded);
        }
        self.pins.as_ref().expect("set above").as_ref().map_err(Clone::clone)
    }

    fn checks(&mut self) -> &HashMap<String, Check> {
        if self.checks.is_none() {
            let tables = self.tables();
            let map = if !tables {
                HashMap::new()
            } else {
                as_superuser(|| {
                    Spi::connect(|c| {
                        let mut out = HashMap::new();
                        let q = "SELECT name::pg_catalog.text, reference, pin_source, status, resolved_digest, \
                                 expected_tree_digest, checked_at::pg_catalog.text, missing, modified, unexpected, \
                                 type_changed, mode_changed, link_changed, \
                                 pg_catalog.to_jsonb(c.*) OPERATOR(pg_catalog.->>) 'signature', \
                                 pg_catalog.to_jsonb(c.*) OPERATOR(pg_catalog.->>) 'signed_by' \
                                 FROM pgext.image_checks c";
                        // The signature columns through to_jsonb: a schema older than this library
                        // (before ALTER EXTENSION pgext UPDATE) reads as "never checked", not an error.
                        for r in c.select(q, None, &[])? {
                            let Some(name) = r.get::<String>(1)? else { continue };
                            let counts = tables::tally_columns(&r, 8)?;
                            out.insert(
                                name,
                                Check {
                                    record: CheckRecord {
                                        reference: r.get::<String>(2)?.unwrap_or_default(),
                                        pin_source: r.get::<String>(3)?.unwrap_or_default(),
                                        status: CheckStatus::from_stored(&r.get::<String>(4)?.unwrap_or_default()),
                                        resolved_digest: r.get::<String>(5)?,
                                        verified_at: None,
                                        checked_at: None,
                                        counts,
                                        signature: r.get::<String>(14)?,
                                        signed_by: r.get::<String>(15)?,
                                        signed_at: None,
                                        metadata: None,
                                        // Enforcement rechecks; it never verifies from the record.
                                        expected_tree_digest: None,
                                        manifest_digest: None,
                                        tree_format: None,
                                        tree_built_at: None,
                                    },
                                    expected_tree_digest: r.get::<String>(6)?,
                                    checked_at: r.get::<String>(7)?.unwrap_or_default(),
                                },
                            );
                        }
                        Ok::<_, pgrx::spi::Error>(out)
                    })
                })
                .or_raise("read", "pgext.image_checks")
            };
            self.checks = Some(map);
        }
        self.checks.as_ref().expect("set above")
    }

    /// The `pinned` and `verified` failures of `image` under `require` (computed once).
    pub fn image_failures(&mut self, image: &str, require: &[Condition]) -> Vec<Failure> {
        if let Some(f) = self.images.get(image) {
            return f.clone();
        }
        let mut out = Vec::new();
        let want_pin = require.contains(&Condition::Pinned);
        let want_verified = require.contains(&Condition::Verified);
        let want_signed = require.contains(&Condition::Signed);
        if want_pin || want_verified || want_signed {
            let pin = match self.pins() {
                Ok(p) => Ok(p.get(image).cloned()),
                Err(e) => Err(e),
            };
            let verify_hint = format!("Verify it: SELECT * FROM pgext.verify_image('{image}');");
            let pin_hint = format!(
                "Pin it (SELECT pgext.pin_image('{image}', 'registry/repo:tag@sha256:...') or pgext.images), then \
                 verify it: SELECT * FROM pgext.verify_image('{image}');"
            );
            match pin {
                Ok(Some(p)) => {
                    if want_verified && let Some(f) = self.verified(image, &p, &verify_hint) {
                        out.push(f);
                    }
                    if want_signed && let Some(f) = self.signed(image, &p, &verify_hint) {
                        out.push(f);
                    }
                }
                Ok(None) | Err(_) => {
                    let detail = match pin {
                        Err(e) => e,
                        _ => format!("Image \"{image}\" has no pin: neither pgext.images nor pgext.pins names it."),
                    };
                    for c in [Condition::Pinned, Condition::Verified, Condition::Signed] {
                        if require.contains(&c) {
                            out.push(Failure {
                                condition: c,
                                detail: if c != Condition::Pinned && want_pin {
                                    String::new() // said once, with pinned
                                } else {
                                    detail.clone()
                                },
                                hint: pin_hint.clone(),
                            });
                        }
                    }
                }
            }
        }
        self.images.insert(image.to_string(), out.clone());
        out
    }

    /// `signed`: the last check that read the source, for this pin, found a trusted signature.
    fn signed(&mut self, image: &str, pin: &PinRow, verify_hint: &str) -> Option<Failure> {
        let reference = &pin.pin.reference;
        let fail = |detail: String| {
            Some(Failure {
                condition: Condition::Signed,
                detail,
                hint: format!(
                    "Sign the pinned digest with a key listed in pgext.trusted_keys, then check again. {verify_hint}"
                ),
            })
        };
        if !self.tables() {
            return fail(format!(
                "Signatures are recorded in pgext's tables, and this database has no pgext extension: image \"{image}\" \
                 cannot be shown to be signed."
            ));
        }
        let Some(check) = self.checks().get(image) else {
            return fail(format!(
                "The signature of image \"{image}\" (pinned to {reference}) has never been checked."
            ));
        };
        let rec = &check.record;
        if &rec.reference != reference {
            return fail(format!(
                "The last check of image \"{image}\" was against {}, not its pin {reference}.",
                rec.reference
            ));
        }
        match rec.signature.as_deref() {
            Some("signed") => None,
            Some(status) => fail(format!(
                "The last check of image \"{image}\" (pin {reference}, at {}) found its signature \"{status}\".",
                check.checked_at
            )),
            None => fail(format!(
                "The signature of image \"{image}\" (pinned to {reference}) has never been checked."
            )),
        }
    }

    fn verified(&mut self, image: &str, pin: &PinRow, verify_hint: &str) -> Option<Failure> {
        let reference = pin.pin.reference.clone();
        let fail = |detail: String, hint: &str| {
            Some(Failure {
                condition: Condition::Verified,
                detail,
                hint: hint.to_string(),
            })
        };
        if !self.tables() {
            return self.verified_by_worker(image, &reference, verify_hint);
        }
        let Some(check) = self.checks().get(image).cloned() else {
            return fail(
                format!("Image \"{image}\" (pinned to {reference}) has never been verified."),
                verify_hint,
            );
        };
        let rec = &check.record;
        if rec.reference != reference {
            return fail(
                format!(
                    "The last check of image \"{image}\" was against {}, not its pin {reference}.",
                    rec.reference
                ),
                verify_hint,
            );
        }
        if rec.status != CheckStatus::Verified {
            let c = rec.counts.summary();
            return fail(
                format!(
                    "The last check of image \"{image}\" (pin {reference}, at {}) found \"{}\": {} missing, {} modified, \
                     {} unexpected, {} changed.",
                    check.checked_at, rec.status, c.missing, c.modified, c.unexpected, c.changed
                ),
                verify_hint,
            );
        }
        // The record says verified: confirm the mount has not changed since, with no network.
        // The recorded tree changes only with a new check: it is kept per image and check time.
        let key = (image.to_string(), rec.reference.clone(), check.checked_at.clone());
        let expected = match TREES.with(|t| t.borrow().get(&key).cloned()) {
            Some(t) => t,
            None => {
                let t = std::rc::Rc::new(recorded_tree(image));
                TREES.with(|c| {
                    let mut c = c.borrow_mut();
                    c.retain(|k, _| k.0 != image);
                    c.insert(key, t.clone());
                });
                t
            }
        };
        if expected.is_empty() {
            return fail(
                format!("Image \"{image}\" has no recorded tree to compare the mount with."),
                verify_hint,
            );
        }
        let outcome = recheck_one(image, rec, &expected);
        if outcome.differences.is_empty() && outcome.status == CheckStatus::Verified {
            return None;
        }
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for d in &outcome.differences {
            *counts.entry(d.kind.as_str()).or_default() += 1;
        }
        let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let paths: Vec<String> = outcome
            .differences
            .iter()
            .take(5)
            .map(|d| format!("{} ({})", d.path, d.kind.as_str()))
            .collect();
        fail(
            format!(
                "The mount of image \"{image}\" changed since it was verified against {reference} ({}): {}{}; expected \
                 tree {}, mounted tree {}.",
                rec.resolved_digest.as_deref().unwrap_or("?"),
                summary.join(", "),
                if paths.is_empty() {
                    String::new()
                } else {
                    format!(", e.g. {}", paths.join(", "))
                },
                check.expected_tree_digest.as_deref().unwrap_or("?"),
                outcome.actual_tree_digest.as_deref().unwrap_or("unreadable"),
            ),
            &format!(
                "Restore the image (remount it: restart the instance), or pin the image that is mounted and verify it: \
                 SELECT * FROM pgext.verify_image('{image}');"
            ),
        )
    }

    /// Without pgext's tables in this database, the worker's last published status decides
    /// (its database holds the records; its re-hash runs every pgext.check_interval).
    fn verified_by_worker(&self, image: &str, reference: &str, verify_hint: &str) -> Option<Failure> {
        let slot = crate::shmem::snapshot().and_then(|s| s.images.into_iter().find(|i| i.name.as_str() == image));
        let status = slot
            .as_ref()
            .map(|s| pgext_core::status::ImageStatus::from_u8(s.status));
        match (slot, status) {
            (Some(s), Some(pgext_core::status::ImageStatus::Verified)) if s.reference.as_str() == reference => None,
            (s, st) => Some(Failure {
                condition: Condition::Verified,
                detail: format!(
                    "pgext is not installed in this database, and the pgext worker's last status for image \"{image}\" \
                     (pin {reference}) is {}.",
                    match (s, st) {
                        (Some(s), Some(st)) if s.reference.as_str() == reference => format!("\"{}\"", st.as_str()),
                        (Some(_), _) => "for another pin".to_string(),
                        _ => "unknown".to_string(),
                    }
                ),
                hint: format!("{verify_hint} Run it in pgext.database, or install pgext in this database."),
            }),
        }
    }

    /// The `compatible` failure of extension `name` (pgext's verdict for the statement's view).
    /// `statement_extensions`: every extension the statement creates (their verdicts are
    /// computed together, once).
    pub fn extension_failure(&mut self, name: &str, statement_extensions: &[String]) -> Option<Failure> {
        if self.verdicts.is_none() {
            self.verdicts = Some(verdicts(statement_extensions));
        }
        let v = self.verdicts.as_ref().and_then(|m| m.get(name))?;
        // Undecided (`compatible_sql()` NULL: a library whose preload need could not be read
        // from its code) passes: refusing would block extensions pgext merely cannot judge, and
        // a library that does refuse to load makes PostgreSQL fail the statement by itself.
        if v.compatible {
            return None;
        }
        let problems: Vec<String> = v
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| format!("{}: {}", p.code, p.message.trim_end_matches('.')))
            .collect();
        Some(Failure {
            condition: Condition::Compatible,
            detail: format!(
                "Extension \"{name}\" is not compatible with this server: {}.",
                problems.join("; ")
            ),
            hint: format!("See SELECT pgext.check_extension('{name}'); and mount an image built for this server."),
        })
    }

    /// The `compatible` failure of a library about to be loaded (static analysis).
    pub fn library_failure(&mut self, path: &str) -> Option<Failure> {
        let report = crate::session::analyzer::analyze(path);
        if report.loadable {
            return None;
        }
        let problems: Vec<String> = report
            .problems
            .iter()
            .filter(|p| p.severity == elf::Severity::Error)
            .map(|p| format!("{}: {}", p.code.as_str(), p.message.trim_end_matches('.')))
            .collect();
        Some(Failure {
            condition: Condition::Compatible,
            detail: format!(
                "Library {path} cannot be loaded by this server: {}.",
                problems.join("; ")
            ),
            hint: "See SELECT * FROM pgext.library_compat; and mount an image built for this server.".to_string(),
        })
    }
}

/// Verdicts of the visible extensions, with the scripts of `names` and what they require read
/// for library references (as `check_extension` does: other extensions' scripts say nothing
/// about these).
fn verdicts(names: &[String]) -> std::collections::BTreeMap<String, Verdict> {
    let mut settings = crate::session::settings(true);
    // The verdicts follow from the settings, the statement's extensions and the files: while none
    // changed (the fingerprint watches every file and directory they were read from), reuse them.
    let installed: std::collections::BTreeMap<_, _> = settings.installed.iter().collect();
    let signature = format!(
        "{:?}|{:?}|{}|{}|{:?}|{names:?}|{installed:?}",
        settings.control, settings.library, settings.pkglibdir, settings.extensions_root, settings.ld_library_path,
    );
    if let Some(v) = VERDICTS.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(sig, fp, _)| *sig == signature && fp.unchanged())
            .map(|(_, _, v)| v.clone())
    }) {
        return v;
    }
    let first = crate::session::read_inventory(false);
    let closure = pgext_core::compat::requirement_closure(&first, names);
    settings.references_for = Some(closure);
    let inv = crate::session::read_inventory_with(&settings);
    let verdicts = crate::session::analyzer::verdicts(&inv);
    let fingerprint = pgext_core::inventory::Fingerprint::of(&inv, &settings);
    VERDICTS.with(|c| {
        *c.borrow_mut() = fingerprint.map(|fp| (signature, fp, verdicts.clone()));
    });
    verdicts
}

/// The expected tree recorded for `image` (read as the superuser; see the module comment).
fn recorded_tree(image: &str) -> Vec<TreeEntry> {
    as_superuser(|| tables::recorded_tree(image))
}

/// Failed conditions as a list for messages: "not pinned, not verified and not compatible".
pub fn describe(failures: &[Failure]) -> String {
    let names: Vec<String> = failures
        .iter()
        .map(|f| f.condition)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|c| format!("not {c}"))
        .collect();
    match names.len() {
        0 => String::new(),
        1 => names[0].clone(),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}
