//! The facts enforcement judges by, gathered for `pgext_core::policy`: the pin in effect, the
//! latest recorded check, the mount compared with its recorded tree (no network), the worker's
//! published status, and static compatibility. Each is read once per [`Facts`] (one statement,
//! or one generation of the function-load cache). The decision itself is the core's.
//!
//! pgext's tables are read through `tables.rs` as the bootstrap superuser (an ordinary role
//! running a trusted `CREATE EXTENSION` cannot read them), and only when the `pgext` extension
//! is installed in the current database and owns the `pgext` schema. Nothing is written.

use std::collections::HashMap;

use pgext_core::compat::Verdict;
use pgext_core::elf;
use pgext_core::pins::{self, Pin};
use pgext_core::policy::{
    self, CatalogFact, Condition, Failure, ImageFacts, MountFact, PinFact, ProvenanceFact, ProvenanceFacts, WorkerFact,
};
use pgext_core::problem::Severity;
use pgext_core::tree::TreeEntry;
use pgrx::prelude::*;

use crate::gucs;
use crate::tables::{self, CheckRecord};
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

/// `pgext.images` (or why it cannot be parsed), and the rows of `pgext.pins`.
type PinSources = (Result<Vec<Pin>, String>, Vec<Pin>);

/// Facts gathered for one statement (or one generation of the load cache).
#[derive(Default)]
pub struct Facts {
    /// Whether the `pgext` extension is installed here (its tables can be trusted), with the
    /// oids of the tables read.
    tables: Option<Option<Vec<pg_sys::Oid>>>,
    /// `pgext.images` (or why it cannot be parsed) and the rows of `pgext.pins`.
    pins: Option<PinSources>,
    checks: Option<HashMap<String, CheckRecord>>,
    /// Recorded provenance by image, read only when `provenance` is required.
    provenance: Option<HashMap<String, Vec<tables::ProvenanceRow>>>,
    /// `pgext.trusted_builders`, parsed once.
    builders: Option<Result<Vec<pgext_oci::attest::builders::BuilderRule>, String>>,
    /// Per image: the outcome of the pinned/verified/signed/provenance/catalog conditions.
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
        self.tables
            .get_or_insert_with(|| as_superuser(tables::pgext_tables))
            .is_some()
    }

    /// The oids of pgext's tables read here (empty without the extension).
    pub fn table_oids(&mut self) -> Vec<pg_sys::Oid> {
        self.tables();
        self.tables.clone().flatten().unwrap_or_default()
    }

    fn pin(&mut self, image: &str) -> PinFact {
        if self.pins.is_none() {
            let setting = pins::parse_pins(&gucs::images()).map_err(|e| e.to_string());
            let table = if self.tables() {
                as_superuser(tables::table_pins)
            } else {
                Vec::new()
            };
            self.pins = Some((setting, table));
        }
        match self.pins.as_ref().expect("set above") {
            (Err(why), _) => PinFact::Unreadable(why.clone()),
            (Ok(setting), table) => match policy::pin_in_effect(setting, table, image) {
                Some((p, _)) => PinFact::Pinned(p.reference.clone()),
                None => PinFact::Unpinned,
            },
        }
    }

    fn check(&mut self, image: &str) -> Option<CheckRecord> {
        if self.checks.is_none() {
            let map = if self.tables() {
                as_superuser(tables::check_records)
            } else {
                HashMap::new()
            };
            self.checks = Some(map);
        }
        self.checks.as_ref().expect("set above").get(image).cloned()
    }

    /// The `pinned`, `verified`, `signed` and `catalog` failures of `image` under `require`
    /// (computed once).
    pub fn image_failures(&mut self, image: &str, require: &[Condition]) -> Vec<Failure> {
        if let Some(f) = self.images.get(image) {
            return f.clone();
        }
        let wanted = [
            Condition::Pinned,
            Condition::Verified,
            Condition::Signed,
            Condition::Provenance,
            Condition::Catalog,
        ];
        let out = if !require.iter().any(|c| wanted.contains(c)) {
            Vec::new()
        } else {
            let pin = self.pin(image);
            let tables = self.tables();
            let record = self.check(image);
            let mut facts = ImageFacts {
                pin,
                tables,
                check: record.as_ref().map(CheckRecord::fact),
                mount: None,
                worker: if tables { None } else { worker_fact(image) },
                provenance: None,
                catalog: None,
            };
            if tables && require.contains(&Condition::Provenance) {
                facts.provenance = Some(self.provenance_facts(image, &facts.pin));
            }
            if require.contains(&Condition::Catalog)
                && let PinFact::Pinned(reference) = &facts.pin
            {
                facts.catalog = Some(catalog_fact(image, reference, facts.check.as_ref()));
            }
            if policy::needs_mount(require, &facts)
                && let Some(rec) = &record
            {
                facts.mount = Some(mount_fact(image, rec));
            }
            policy::image_failures(image, require, &facts)
        };
        self.images.insert(image.to_string(), out.clone());
        out
    }

    /// The recorded provenance of `image`, each judged against `pgext.trusted_builders` for
    /// the pin in effect.
    fn provenance_facts(&mut self, image: &str, pin: &PinFact) -> ProvenanceFacts {
        let builders = self
            .builders
            .get_or_insert_with(|| pgext_oci::attest::builders::parse_builders(&gucs::trusted_builders()))
            .clone();
        let rows = self
            .provenance
            .get_or_insert_with(|| as_superuser(tables::provenance_records))
            .get(image)
            .cloned()
            .unwrap_or_default();
        let reference = match pin {
            PinFact::Pinned(r) => r.as_str(),
            _ => "",
        };
        let rules = builders.as_deref().unwrap_or_default();
        ProvenanceFacts {
            rows: rows
                .into_iter()
                .map(|r| ProvenanceFact {
                    accepted: rules
                        .iter()
                        .any(|rule| rule.accepts(r.builder_id.as_deref(), r.source_repository.as_deref(), reference)),
                    builder_id: r.builder_id,
                    source_repository: r.source_repository,
                    trust: r.trust,
                })
                .collect(),
            rules: builders.map(|b| b.len()),
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
        Some(Failure::incompatible_extension(name, &problems))
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
        Some(Failure::incompatible_library(path, &problems))
    }
}

/// `image` (pinned to `reference`) judged against the signed catalog: the file is read and its
/// bundle verified once per backend while nothing it rests on changes (`crate::catalog`).
fn catalog_fact(image: &str, reference: &str, check: Option<&policy::CheckFact>) -> CatalogFact {
    let loaded = crate::catalog::current();
    match &loaded.catalog {
        Some(c) if loaded.status == pgext_core::catalog::CatalogStatus::Verified => CatalogFact::Judged {
            catalog: gucs::catalog(),
            judgement: c.judge(
                &crate::catalog::server(),
                image,
                policy::image_digest(reference, check).as_deref(),
            ),
        },
        _ => CatalogFact::Unusable {
            status: loaded.status.as_str().to_string(),
            detail: loaded.detail.clone(),
        },
    }
}

/// The worker's last published status of `image` (shared memory).
fn worker_fact(image: &str) -> Option<WorkerFact> {
    let slot = crate::shmem::snapshot()?
        .images
        .into_iter()
        .find(|i| i.name.as_str() == image)?;
    Some(WorkerFact {
        reference: slot.reference.as_str().to_string(),
        status: pgext_core::status::ImageStatus::from_u8(slot.status),
    })
}

/// The mount of `image` compared with the tree its verified check recorded.
fn mount_fact(image: &str, rec: &CheckRecord) -> MountFact {
    // The recorded tree changes only with a new check: it is kept per image and check time.
    let key = (image.to_string(), rec.reference.clone(), rec.checked_at_text.clone());
    let expected = match TREES.with(|t| t.borrow().get(&key).cloned()) {
        Some(t) => t,
        None => {
            let t = std::rc::Rc::new(as_superuser(|| tables::recorded_tree(image)));
            TREES.with(|c| {
                let mut c = c.borrow_mut();
                c.retain(|k, _| k.0 != image);
                c.insert(key, t.clone());
            });
            t
        }
    };
    if expected.is_empty() {
        return MountFact::NoRecordedTree;
    }
    let outcome = recheck_one(image, rec, &expected);
    if outcome.differences.is_empty() && outcome.status == pgext_core::status::CheckStatus::Verified {
        return MountFact::Unchanged;
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
    MountFact::Changed {
        resolved_digest: rec.resolved_digest.clone(),
        differences: format!(
            "{}{}",
            summary.join(", "),
            if paths.is_empty() {
                String::new()
            } else {
                format!(", e.g. {}", paths.join(", "))
            }
        ),
        expected_tree: rec.expected_tree_digest.clone(),
        mounted_tree: outcome.actual_tree_digest.clone(),
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
