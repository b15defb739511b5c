//! One check cycle. What the database knows (pins, recorded checks and trees) is read in one short
//! transaction; the inventory, re-hashing and registry verification run with no transaction open
//! (they may take minutes and must not hold a snapshot); the results are written in one short
//! transaction, on a primary only. A failing step is caught, logged and recorded; it never ends
//! the worker.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::CString;
use std::panic::AssertUnwindSafe;

use pgext_core::compat::Verdict;
use pgext_core::conditions::Conditions;
use pgext_core::inventory::{Inventory, ReadCache, Settings};
use pgext_core::pins::{self, PinSource};
use pgext_core::problem::{Code, Severity};
use pgext_core::status::{self, CheckStatus, DiffCounts, Micros, MountCheck, PinnedImage, SignatureStatus};
use pgext_core::tree::TreeEntry;
use pgrx::bgworkers::BackgroundWorker;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{PgLogLevel, PgSqlErrorCode};

use crate::error::{OrRaise, SqlError};
use crate::session::extension_rows;
use crate::shmem::{self, FixedStr, ImageSlot};
use crate::tables::{self, CheckRecord, Outcome, PinRow, RunCounts};
use crate::{gucs, session, verify};

pub use pgext_core::status::{CycleOutcome, Finding, ImageStatus, RegistryStatus};

/// A step that failed with an ERROR or a Rust panic. (A FATAL, such as SIGTERM's, never comes
/// back here: PostgreSQL exits the process.)
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    code: PgSqlErrorCode,
    message: String,
}

impl StepError {
    /// A cancel request (`pg_cancel_backend()` of the worker, or a stray interrupt) rather than
    /// a real failure: the step is simply retried next cycle.
    fn is_cancel(&self) -> bool {
        self.code == PgSqlErrorCode::ERRCODE_QUERY_CANCELED
    }
}

/// Runs `f`; an ERROR or panic inside becomes `Err`, with any open transaction aborted so the
/// worker can go on, as PostgreSQL's own error recovery in a background worker would.
pub fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, StepError> {
    PgTryBuilder::new(AssertUnwindSafe(move || Ok(f())))
        .catch_others(|e| {
            let report = match e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
                CaughtError::RustPanic { ereport, .. } => ereport,
            };
            if report.level() >= PgLogLevel::FATAL {
                // Not ours to swallow.
                std::panic::panic_any(CaughtError::ErrorReport(report));
            }
            // SAFETY: pgrx has copied and flushed the error; aborting the (possibly idle)
            // transaction releases its locks, snapshots and memory. A no-op outside one.
            unsafe { pg_sys::AbortCurrentTransaction() };
            Err(StepError {
                code: report.sql_error_code(),
                message: match report.detail() {
                    Some(d) => format!("{} ({d})", report.message()),
                    None => report.message().to_string(),
                },
            })
        })
        .execute()
}

/// Runs `f` in a transaction of its own (committed when `f` returns).
fn in_transaction<R>(f: impl FnOnce() -> R) -> R {
    BackgroundWorker::transaction(AssertUnwindSafe(f))
}

/// The current time as PostgreSQL's `TimestampTz`.
pub fn now() -> Micros {
    // SAFETY: reads the clock; no shared state.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// Says what the worker is doing, in `pg_stat_activity` and `pgext.worker_status()`.
pub fn activity(what: &str, running: bool) {
    let state = if running {
        pg_sys::BackendState::STATE_RUNNING
    } else {
        pg_sys::BackendState::STATE_IDLE
    };
    if let Ok(c) = CString::new(what) {
        // SAFETY: the string is copied into the backend status entry.
        unsafe { pg_sys::pgstat_report_activity(state, c.as_ptr()) };
    }
    shmem::update_header(|h| h.activity.set(what));
}

/// What the worker remembers about an image between cycles (and, through the slots, across its
/// own restarts).
#[derive(Clone, Debug, Default)]
struct ImageMemory {
    reference: String,
    last_attempt: Micros,
    last_verified: Micros,
    registry: RegistryStatus,
    error_code: String,
    error: String,
    /// The last comparison of the mount with the expected tree.
    local: Option<MountCheck>,
    status: ImageStatus,
    since: Micros,
    last_checked: Micros,
    /// Last full re-hash (every byte read, no digest cache); 0: none yet.
    last_full: Micros,
    /// The signature verdict of the last verification that judged one.
    signature: Option<SignatureStatus>,
}

/// Recorded expected trees, keyed by what identifies one written tree: the pin, the tree's
/// digest and when it was built (a verification that reuses the tree writes none).
type TreeKey = (String, Option<String>, Option<Micros>);

/// Everything the worker keeps between cycles.
#[derive(Default)]
pub struct Memory {
    images: HashMap<String, ImageMemory>,
    /// What a previous worker process published, by [`shmem::name_hash`] of the image name (a
    /// slot may hold a name cut short); taken over by the first cycle.
    restored: HashMap<u64, ImageMemory>,
    trees: HashMap<String, (TreeKey, Vec<TreeEntry>)>,
    /// Library references of unchanged scripts, as a backend keeps them.
    read_cache: ReadCache,
    /// Conditions in effect, for state-change logging.
    pub conditions: Conditions,
}

impl Memory {
    /// Picks up what a previous worker process published (registry state and schedule), so a
    /// restart neither forgets an outage nor re-verifies everything at once.
    pub fn from_published(slots: &[ImageSlot]) -> Memory {
        let mut m = Memory::default();
        for s in slots.iter().filter(|s| s.pinned) {
            let status = ImageStatus::from_u8(s.status);
            let local = matches!(
                status,
                ImageStatus::Verified | ImageStatus::Drift | ImageStatus::TagMoved
            )
            .then(|| MountCheck {
                drift: status == ImageStatus::Drift,
                counts: DiffCounts {
                    missing: s.missing,
                    modified: s.modified,
                    unexpected: s.unexpected,
                    changed: s.changed,
                },
                ..MountCheck::default()
            });
            m.restored.insert(
                s.name_hash,
                ImageMemory {
                    reference: s.reference.as_str().to_string(),
                    last_attempt: s.last_verify_attempt,
                    last_verified: s.last_verified,
                    registry: RegistryStatus::from_u8(s.registry),
                    error_code: s.error_code.as_str().to_string(),
                    error: s.last_error.as_str().to_string(),
                    local,
                    status,
                    since: s.status_since,
                    last_checked: s.last_checked,
                    last_full: s.last_full_rehash,
                    signature: SignatureStatus::from_code(s.signature),
                },
            );
        }
        m
    }
}

/// What one cycle produced.
pub struct Report {
    /// When the cycle started.
    pub started_at: Micros,
    /// How it ended.
    pub outcome: CycleOutcome,
    /// The first step failure, for `worker_status().last_error`.
    pub error: Option<String>,
    /// The images to publish, by name.
    pub slots: Vec<ImageSlot>,
    /// The server is a standby (nothing was written).
    pub in_recovery: bool,
    /// pgext is installed in `pgext.database`.
    pub installed: bool,
    /// Everything found, as recorded in `pgext.findings`.
    pub findings: Vec<Finding>,
}

/// What the first transaction reads.
struct Gathered {
    settings: Settings,
    installed: bool,
    in_recovery: bool,
    pins: Vec<PinRow>,
    records: HashMap<String, CheckRecord>,
}

fn in_recovery() -> bool {
    // SAFETY: a plain read of shared state.
    unsafe { pg_sys::RecoveryInProgress() }
}

fn micros(t: Option<TimestampWithTimeZone>) -> Option<Micros> {
    t.map(pg_sys::TimestampTz::from)
}

/// The record of `name` when it belongs to the pin in effect and has a recorded tree.
fn usable_record<'a>(records: &'a HashMap<String, CheckRecord>, pin: &PinRow) -> Option<&'a CheckRecord> {
    records
        .get(&pin.pin.name)
        .filter(|r| r.reference == pin.pin.reference && r.resolved_digest.is_some())
}

fn gather(memory: &mut Memory) -> Gathered {
    // A read-only SPI call: Spi::get_one() would assign a transaction id, which a standby refuses.
    let installed = Spi::connect(|client| {
        client
            .select(
                "SELECT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pgext')
                        AND pg_catalog.to_regclass('pgext.check_runs') IS NOT NULL",
                Some(1),
                &[],
            )?
            .first()
            .get_one::<bool>()
    })
    .or_raise("read", "pg_extension")
    .unwrap_or(false);
    // With references: compatibility follows the libraries the install scripts name.
    let settings = session::settings(true);
    let (pins, records) = if installed {
        let pins: Vec<PinRow> = tables::all_pins().into_iter().filter(|p| p.effective).collect();
        (pins, tables::check_records())
    } else {
        // Without the extension's tables only the setting's pins exist, and nothing is recorded.
        let pins = pins::parse_pins(&gucs::images()).unwrap_or_else(|e| SqlError::bad_images(e).raise());
        let rows = pins
            .into_iter()
            .map(|pin| PinRow::new(pin, PinSource::Setting, true))
            .collect();
        (rows, HashMap::new())
    };
    // Expected trees change only when a verification succeeds: read each one once.
    for pin in &pins {
        let Some(rec) = usable_record(&records, pin) else {
            memory.trees.remove(&pin.pin.name);
            continue;
        };
        let key: TreeKey = (
            rec.reference.clone(),
            rec.expected_tree_digest.clone(),
            micros(rec.tree_built_at),
        );
        if memory.trees.get(&pin.pin.name).map(|(k, _)| k) != Some(&key) {
            let tree = tables::recorded_tree(&pin.pin.name);
            memory.trees.insert(pin.pin.name.clone(), (key, tree));
        }
    }
    Gathered {
        settings,
        installed,
        in_recovery: in_recovery(),
        pins,
        records,
    }
}

fn verify_due(now: Micros, mem: &ImageMemory, rec: Option<&CheckRecord>, pin: &PinRow) -> bool {
    let attempted = Some(mem)
        .filter(|m| m.reference == pin.pin.reference)
        .map_or(0, |m| m.last_attempt);
    let verified = rec
        .filter(|r| r.reference == pin.pin.reference)
        .and_then(|r| micros(r.verified_at))
        .unwrap_or(0);
    status::verify_due(now, gucs::verify_interval(), attempted, verified)
}

fn local_of(o: &Outcome) -> MountCheck {
    if o.error_code == Some(status::SCAN_FAILED.as_str()) {
        return MountCheck::scan_failed(o.error.clone().unwrap_or_default());
    }
    MountCheck::compared(
        o.status == CheckStatus::Drift,
        o.differences
            .iter()
            .map(|d| (d.kind.class(), d.kind.as_str(), d.path.as_str())),
    )
}

/// Compatibility verdicts of the visible extensions, as `pgext.mounted_extensions.compatible`
/// judges them (static analysis; nothing is loaded).
fn compatibility(inv: &Inventory) -> BTreeMap<String, Verdict> {
    session::analyzer::verdicts(inv)
}

/// Per-image results of the work phase.
#[derive(Default)]
struct Work {
    verified: Vec<Outcome>,
    rechecked: Vec<Outcome>,
    /// Images whose check failed (ERROR or panic): finding and message.
    failed: BTreeMap<String, String>,
    /// Images whose check was interrupted or failed: their previous state stands.
    frozen: HashSet<String>,
}

/// The image whose full re-hash is due this cycle, if any (see [`status::full_rehash_due`]):
/// among the pins with a recorded tree.
fn full_rehash_due(g: &Gathered, memory: &Memory, now: Micros) -> Option<String> {
    let candidates = g
        .pins
        .iter()
        .filter(|p| usable_record(&g.records, p).is_some() && memory.trees.contains_key(&p.pin.name))
        .map(|p| {
            let last = memory
                .images
                .get(&p.pin.name)
                .filter(|m| m.reference == p.pin.reference)
                .map_or(0, |m| m.last_full);
            (p.pin.name.as_str(), last)
        });
    status::full_rehash_due(now, gucs::full_rehash_interval(), candidates).map(str::to_string)
}

fn check_images(g: &Gathered, memory: &mut Memory, started: Micros) -> Work {
    let mut work = Work::default();
    // What a previous worker process published, matched by the hash of the full name.
    for pin in &g.pins {
        if !memory.images.contains_key(&pin.pin.name)
            && let Some(m) = memory.restored.remove(&shmem::name_hash(&pin.pin.name))
        {
            memory.images.insert(pin.pin.name.clone(), m);
        }
    }
    memory.restored.clear();
    let full_due = full_rehash_due(g, memory, started);
    for pin in &g.pins {
        pgrx::check_for_interrupts!();
        let name = pin.pin.name.clone();
        let mut mem = memory.images.remove(&name).unwrap_or_default();
        if mem.reference != pin.pin.reference {
            // A new pin: what was known about the old one says nothing about it.
            mem = ImageMemory {
                reference: pin.pin.reference.clone(),
                ..ImageMemory::default()
            };
            if let Some(rec) = g.records.get(&name).filter(|r| r.reference == pin.pin.reference) {
                mem.last_verified = micros(rec.verified_at).unwrap_or(0);
                mem.signature = rec.signature.as_deref().and_then(|s| s.parse().ok());
                mem.registry = RegistryStatus::of_record(rec.status, rec.resolved_digest.is_some());
            }
        }
        let rec = usable_record(&g.records, pin);
        // Taken out while the image is checked; put back unless a verification replaced it.
        let mut cached = memory.trees.remove(&name);
        let tree = rec.and(cached.as_ref()).map(|(_, t)| t.as_slice());
        let mut verify_failed = false;
        let mut verified_ok = false;
        let mut tree_rewritten = false;
        if g.installed && verify_due(started, &mem, g.records.get(&name), pin) {
            activity(&format!("verifying image {name} against {}", pin.pin.reference), true);
            mem.last_attempt = now();
            let record = rec.and_then(|r| r.reusable_tree(pin, || tree.map(<[TreeEntry]>::to_vec).unwrap_or_default()));
            let outcome = guarded(|| verify::verify_one(pin, record));
            if let Ok(o) = &outcome
                && let Some(v) = &o.signature
            {
                mem.signature = Some(v.status);
            }
            match outcome {
                Ok(o) if o.error_code == Some(status::SCAN_FAILED.as_str()) => {
                    // The source answered; the mount could not be read. Not a registry failure.
                    mem.local = Some(local_of(&o));
                    mem.last_checked = now();
                    verify_failed = true;
                    work.verified.push(o);
                }
                Ok(o) => {
                    mem.registry = RegistryStatus::of_verification(o.status, o.error_code.is_some());
                    if o.error_code.is_none() {
                        tree_rewritten = o.expected.is_some();
                        mem.last_verified = now();
                        mem.error_code.clear();
                        mem.error.clear();
                        mem.local = Some(local_of(&o));
                        mem.last_checked = now();
                        verified_ok = true;
                    } else {
                        mem.error_code = o.error_code.unwrap_or("error").to_string();
                        mem.error = o.error.clone().unwrap_or_default();
                        verify_failed = true;
                    }
                    work.verified.push(o);
                }
                Err(e) => {
                    verify_failed = true;
                    work.frozen.insert(name.clone());
                    if !e.is_cancel() {
                        work.failed.insert(name.clone(), format!("verification failed: {e}"));
                    }
                }
            }
        }
        if !verified_ok && let (Some(rec), Some(tree)) = (rec, tree) {
            // Also after a failed verification: an outage must not blind drift detection.
            let full = full_due.as_deref() == Some(name.as_str());
            let result = if full {
                activity(&format!("fully re-hashing image {name}"), true);
                guarded(|| super::rehash::full_rehash(&name, rec, tree))
            } else {
                activity(&format!("re-hashing image {name}"), true);
                guarded(|| verify::recheck_one(&name, rec, tree))
            };
            match result {
                Ok(o) => {
                    let mut local = local_of(&o);
                    if full && local.scan_error.is_none() {
                        mem.last_full = now();
                        if local.drift {
                            local.detail = format!("full re-hash: {}", local.detail);
                        }
                    }
                    mem.local = Some(local);
                    mem.last_checked = now();
                    if !verify_failed {
                        work.rechecked.push(o);
                    }
                }
                Err(e) => {
                    work.frozen.insert(name.clone());
                    if !e.is_cancel() {
                        work.failed.insert(name.clone(), format!("re-hashing failed: {e}"));
                    }
                }
            }
        }
        if tree_rewritten {
            // The expected tree is rewritten with the results: read it again next cycle.
            cached = None;
        }
        if let Some(c) = cached {
            memory.trees.insert(name.clone(), c);
        }
        memory.images.insert(name, mem);
    }
    work
}

/// Writes the results: recorded checks, the run and its findings, pruning. Nothing on a standby.
fn record(g: &Gathered, work: &Work, report: &Report, counts: &RunCounts) -> Result<(), StepError> {
    if !g.installed || g.in_recovery {
        return Ok(());
    }
    activity("recording results", true);
    guarded(|| {
        in_transaction(|| {
            // A lock held elsewhere on our tables must not stall the worker for long.
            Spi::run("SET LOCAL lock_timeout = '10s'").or_raise("set", "lock_timeout");
            if !work.verified.is_empty() {
                tables::record_all(&work.verified, true);
            }
            if !work.rechecked.is_empty() {
                tables::record_all(&work.rechecked, false);
            }
            let Some(retention) = gucs::history_retention() else {
                return;
            };
            let duration_us = now().saturating_sub(report.started_at);
            let outcome = report.outcome.as_str().unwrap_or("error");
            tables::record_run(
                report.started_at,
                duration_us,
                outcome,
                counts,
                &report.findings,
                retention,
            );
        })
    })
}

/// Runs one cycle and returns what it found. Never fails: failures are part of the report.
pub fn run(memory: &mut Memory) -> Report {
    let started = now();
    let mut report = Report {
        started_at: started,
        outcome: CycleOutcome::Ok,
        error: None,
        slots: Vec::new(),
        in_recovery: in_recovery(),
        installed: false,
        findings: Vec::new(),
    };
    activity("reading pins and recorded checks", true);
    let gathered = match guarded(|| in_transaction(|| gather(memory))) {
        Ok(g) => g,
        Err(e) => {
            report.outcome = CycleOutcome::Error;
            report.error = Some(format!("reading pins and recorded checks: {e}"));
            report.findings.push(Finding::worker(
                Code::ReadFailed,
                Severity::Error,
                format!("reading pins and recorded checks: {e}"),
            ));
            // Nothing was looked at: the published images and their conditions stay as they are.
            report.slots = shmem::published_images();
            let changes = memory.conditions.update(&report.findings, &HashSet::new(), true);
            super::log::emit(&changes);
            return report;
        }
    };
    report.in_recovery = gathered.in_recovery;
    report.installed = gathered.installed;

    activity("taking the inventory", true);
    let mut settings = gathered.settings.clone();
    settings.pinned = gathered.pins.iter().map(|p| p.pin.name.clone()).collect();
    let inventory = match guarded(|| Inventory::collect_cached(&settings, &mut memory.read_cache)) {
        Ok(inv) => inv,
        Err(e) => {
            report.outcome = CycleOutcome::Error;
            report.error = Some(format!("taking the inventory: {e}"));
            Inventory::default()
        }
    };
    let work = check_images(&gathered, memory, started);
    activity("analysing compatibility", true);
    let verdicts = match guarded(|| compatibility(&inventory)) {
        Ok(v) => {
            // New sessions in this database start from these rows instead of deriving them.
            if let Err(e) = guarded(|| extension_rows::share(&settings, &inventory, &v)) {
                pgrx::log!("pgext: sharing mounted_extensions rows failed: {e}");
            }
            Some(v)
        }
        Err(e) => {
            report.outcome = CycleOutcome::Error;
            report.error.get_or_insert(format!("analysing compatibility: {e}"));
            None
        }
    };

    // Every library's digest, so that a new session's `pgext.libraries` finds it in the shared
    // digest file instead of reading the file: read once, then only `stat`ed while unchanged.
    activity("hashing libraries", true);
    let mut libraries = inventory.libraries.clone();
    let hashed = guarded(|| {
        session::with_cache(|c| {
            pgext_core::inventory::hash_libraries(
                &mut libraries,
                c,
                gucs::hash_threads(),
                &crate::server::interrupt_pending,
            )
        })
    });
    if let Err(e) = hashed {
        // Only speed is lost: the views hash what is missing themselves.
        pgrx::log!("pgext: hashing libraries failed: {e}");
    }

    // Findings and slots, image by image.
    let pinned: HashMap<&str, &PinRow> = gathered.pins.iter().map(|p| (p.pin.name.as_str(), p)).collect();
    let mut counts = RunCounts::default();
    let mut slots = Vec::with_capacity(inventory.images.len());
    let now_ts = now();
    let mut names: Vec<&str> = inventory.images.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let img = inventory.images.iter().find(|i| i.name == name);
        let status::InventoryFindings {
            mut findings,
            incompatible,
        } = status::inventory_findings(&inventory, verdicts.as_ref(), name);
        let inventory_problems = findings.len();
        let inventory_errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
        let first_problem = findings.first().map(|f| format!("{}: {}", f.code, f.message));

        let pin = pinned.get(name).copied();
        let mut slot = ImageSlot::EMPTY;
        slot.name = FixedStr::new(name);
        slot.name_hash = shmem::name_hash(name);
        slot.mounted = img.is_some_and(|i| i.mounted);
        slot.pinned = pin.is_some();
        slot.extensions = img.map(|i| i.extension_count as i32).unwrap_or(0);
        slot.problems = inventory_problems as i32;
        slot.problem_errors = inventory_errors as i32;
        if let Some(p) = &first_problem {
            slot.problem.set(p);
        }
        let mem = memory.images.entry(name.to_string()).or_default();
        if let Some(pin) = pin {
            slot.reference.set(&pin.pin.reference);
            if let Some(l) = &mem.local {
                let c = l.counts;
                [slot.missing, slot.modified, slot.unexpected, slot.changed] =
                    [c.missing, c.modified, c.unexpected, c.changed];
            }
            slot.last_checked = mem.last_checked;
            slot.last_verified = mem.last_verified;
            slot.last_verify_attempt = mem.last_attempt;
            slot.last_full_rehash = mem.last_full;
            slot.registry = mem.registry as u8;
            slot.signature = SignatureStatus::code(mem.signature);
            slot.error_code.set(&mem.error_code);
            slot.last_error.set(&mem.error);
            if let Some(why) = mem.local.as_ref().and_then(|l| l.scan_error.as_ref()) {
                slot.error_code.set(status::SCAN_FAILED.as_str());
                slot.last_error.set(why);
            }
        }
        let status = status::image_status(pin.is_some(), mem.local.as_ref(), mem.registry);
        if status != mem.status {
            mem.status = status;
            mem.since = now_ts;
        }
        slot.status = status as u8;
        slot.status_since = mem.since;
        if let Some(pin) = pin {
            findings.extend(status::pinned_findings(&PinnedImage {
                name,
                reference: &pin.pin.reference,
                status,
                mount: mem.local.as_ref(),
                registry: mem.registry,
                error_code: &mem.error_code,
                error: &mem.error,
                signature: mem.signature,
                keys_trusted: gucs::signers_configured(),
            }));
        }
        if let Some(msg) = work.failed.get(name) {
            slot.last_error.set(msg);
            findings.push(Finding::image(name, Code::CheckFailed, Severity::Error, msg.clone()));
        }
        if verdicts.is_some() {
            slot.incompatible = incompatible.len() as i32;
            let names: Vec<&str> = incompatible.iter().map(|(e, _)| e.as_str()).collect();
            slot.incompatible_names.set(&names.join(","));
            for (extension, why) in incompatible {
                findings.push(Finding {
                    extension: Some(extension),
                    ..Finding::image(name, Code::Incompatible, Severity::Error, why)
                });
            }
        }
        counts.images += 1;
        counts.incompatible += slot.incompatible.max(0);
        match status {
            ImageStatus::Verified => counts.verified += 1,
            ImageStatus::Drift => counts.drift += 1,
            ImageStatus::Unreachable => counts.unreachable += 1,
            ImageStatus::Error => counts.errors += 1,
            _ => {}
        }
        report.findings.extend(findings);
        slots.push(slot);
    }
    // Images that are gone are forgotten (by full name: a slot may hold a name cut short).
    let present: HashSet<&str> = inventory.images.iter().map(|i| i.name.as_str()).collect();
    memory.images.retain(|k, _| present.contains(k.as_str()));

    if !gathered.installed {
        report.findings.push(Finding::worker(
            Code::NotInstalled,
            Severity::Warning,
            format!(
                "pgext is not installed in database \"{}\" (pgext.database): pins, recorded trees and history \
                 are unavailable",
                gucs::database()
            ),
        ));
    }
    let checks_failed = !work.failed.is_empty() || !work.frozen.is_empty();
    report.outcome = CycleOutcome::of(report.outcome == CycleOutcome::Error || checks_failed, &report.findings);
    if checks_failed && report.error.is_none() {
        report.error = work
            .failed
            .iter()
            .next()
            .map(|(k, v)| format!("image {k}: {v}"))
            .or_else(|| Some("a check was interrupted".to_string()));
    }

    if let Err(e) = record(&gathered, &work, &report, &counts) {
        report.outcome = CycleOutcome::Error;
        report.error = Some(format!("recording results: {e}"));
        report.findings.push(Finding::worker(
            Code::WriteFailed,
            Severity::Error,
            format!("recording results: {e}"),
        ));
    }

    let changes = memory.conditions.update(&report.findings, &work.frozen, false);
    super::log::emit(&changes);
    report.slots = slots;
    report
}
