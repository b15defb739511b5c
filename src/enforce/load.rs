//! Every load, not only the door: PostgreSQL loads a library again in every backend, lazily, the
//! first time a C-language function from it is looked up (`fmgr_info_cxt_security()` in
//! src/backend/utils/fmgr/fmgr.c). Before it resolves a non-built-in function's language and
//! library it asks `needs_fmgr_hook(fn_oid)`; an ERROR raised there stops the lookup before
//! `load_external_function()` opens anything. Types' I/O, operators, casts, aggregates, index
//! access methods and support functions, triggers, event triggers and procedural-language
//! handlers all come through that lookup.
//!
//! The hook never answers `true`: that would route every call of the function through
//! `fmgr_security_definer()` (as contrib/sepgsql does to watch calls); pgext only needs to judge
//! the load, so it raises or lets the lookup go on, and costs nothing per call.
//!
//! Decisions are cached per backend, keyed by `probin` (the library as the function names it),
//! and each function whose lookup was allowed is remembered by oid (dropped at any invalidation
//! of `pg_proc` or `pg_language`): a repeated lookup costs a hash probe and the comparison of
//! four counters, with no catalog access. Both are stale when anything a decision rests on
//! changes:
//! - pgext's tables (`pgext.pins`, `pgext.image_checks`, `pgext.image_files`): a statement
//!   trigger (`pgext.policy_changed()`) sends a relcache invalidation of the table at commit;
//!   PostgreSQL delivers it to every backend of the database, and replays it on standbys from
//!   the commit record, so no backend keeps judging by rows that changed;
//! - the worker's published status (a shared-memory generation counter, bumped at every
//!   publication);
//! - on a primary, committed changes of those tables (a second shared-memory counter, bumped by
//!   the trigger at commit);
//! - `pgext.require`, `pgext.enforce_exempt`, `pgext.images`, `pgext.extensions_root`,
//!   `dynamic_library_path`, the trust and catalog settings, and with `catalog` required the
//!   identity of the catalog's files: pgext's settings through a counter their assign hooks
//!   bump (`gucs::enforcement_assignments`), the server's `dynamic_library_path` and the
//!   catalog's files compared by value at every lookup (`settings_generation`).
//!
//! A new session would otherwise judge each library again — read pgext's tables, re-hash the
//! mount, analyse the library: milliseconds per connection. So on a primary an `allowed`
//! decision is also shared through shared memory (`shmem::share_decision`), keyed by database,
//! library name and settings and valid while neither counter moved; another backend takes it
//! with a hash and a shared-lock scan. A refusal is never shared: each backend judges it again.
//! On a standby nothing is shared (the trigger runs on the primary only).
//!
//! A mount that changes after a decision is seen when the worker's next re-hash publishes it
//! (`pgext.check_interval`): every publication makes cached and shared decisions stale.
//!
//! Where it runs: client backends and background workers with a database. Not in autovacuum,
//! parallel workers (their leader judged the same functions before launching them) or WAL
//! senders: maintenance and replication are never held up by a check that needs SPI. Loads that
//! do not go through fmgr (logical decoding output plugins, `archive_library`, a background
//! worker's `bgw_library_name`) are not judged here.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;

use pgext_core::paths::LibraryRef;
use pgext_core::plan::{self, Role};
use pgext_core::policy::{self, Action, Condition, Failure, Subject};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgLogLevel, PgSqlErrorCode, PgXactCallbackEvent};

use super::judge::Facts;
use super::log::{self, Decision};
use crate::gucs::{self, EnforceMode};

/// `ClanguageId`: the fixed oid of language `c` (src/include/catalog/pg_language.dat).
const C_LANGUAGE: u32 = 13;

static mut PREV_NEEDS_FMGR: pg_sys::needs_fmgr_hook_type = None;

/// The decision for one library, as of one generation.
#[derive(Clone)]
pub(crate) struct Judged {
    /// The file the name resolves to (`None`: not found; the server will say so).
    pub path: Option<String>,
    /// The image it comes from (`None`: the server image or outside the extensions root).
    pub image: Option<String>,
    /// The failed conditions (empty: allowed).
    pub failures: Vec<Failure>,
}

struct Entry {
    generation: Generation,
    judged: Judged,
    /// An `allowed` decision was logged for it.
    logged: bool,
}

/// What the cached decisions rest on: four counters, so that a lookup compares integers.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Generation {
    /// Relcache invalidations of pgext's tables seen by this backend.
    local: u64,
    /// The worker's publications.
    shared: u64,
    /// Committed changes of pgext's tables (shared memory, bumped at commit by the trigger).
    policy: u64,
    /// Assignments of the settings decisions rest on (`gucs::enforcement_assignments`), plus the
    /// changes of `dynamic_library_path` and, with `catalog` required, of the catalog's files,
    /// as this backend saw them (`settings_generation`).
    settings: u64,
}

/// The settings a decision rests on that have no assign hook of pgext's, as last seen.
#[derive(Default)]
struct Seen {
    dynamic_library_path: Vec<u8>,
    catalog_files: Vec<u8>,
    changes: u64,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    /// Functions whose lookup was allowed (or loads nothing from an image), with the generation
    /// it was decided at: a repeated lookup costs one probe here and no catalog access. Emptied
    /// by any invalidation of `pg_proc` or `pg_language` (a function's library or a language's
    /// handler may have changed).
    static FUNCTIONS: RefCell<HashMap<pg_sys::Oid, Generation>> = RefCell::new(HashMap::new());
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
    /// Facts gathered for the current generation, shared by every library judged in it.
    static FACTS: RefCell<Option<(Generation, Facts)>> = const { RefCell::new(None) };
    /// Bumped by the relcache callback for pgext's tables.
    static LOCAL: Cell<u64> = const { Cell::new(0) };
    /// The oids of pgext's tables in this database (learned when they are first read).
    static WATCHED: RefCell<Vec<pg_sys::Oid>> = const { RefCell::new(Vec::new()) };
    /// Libraries warned about in this session (under `warn`, once each).
    static WARNED: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    /// Set while the hook judges: pgext's own queries do not recurse into judging.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Installs the hook and the invalidation callback (only while preloading).
pub fn init() {
    // SAFETY: _PG_init runs once per process on its main thread; the previous hook is saved and
    // always called. The callback array is per process.
    unsafe {
        PREV_NEEDS_FMGR = pg_sys::needs_fmgr_hook;
        pg_sys::needs_fmgr_hook = Some(needs_fmgr);
        pg_sys::CacheRegisterRelcacheCallback(Some(relcache_changed), pg_sys::Datum::from(0));
        for cache in [pg_sys::SysCacheIdentifier::PROCOID, pg_sys::SysCacheIdentifier::LANGOID] {
            pg_sys::CacheRegisterSyscacheCallback(cache as i32, Some(functions_changed), pg_sys::Datum::from(0));
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn functions_changed(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    FUNCTIONS.with(|f| f.borrow_mut().clear());
}

#[pg_guard]
unsafe extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    // InvalidOid: the whole relcache was reset (e.g. after an invalidation overflow).
    if relid == pg_sys::InvalidOid || WATCHED.with(|w| w.borrow().contains(&relid)) {
        LOCAL.with(|l| l.set(l.get().wrapping_add(1)));
    }
}

/// The settings a decision rests on, as bytes: the key of a shared decision.
fn settings_signature() -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    gucs::enforcement_signature(&mut out);
    if gucs::catalog_required() {
        out.extend_from_slice(&crate::catalog::files_key());
    }
    out
}

/// See `Generation::settings`. `dynamic_library_path` is compared by value (a pointer could be
/// reused by a later value); the catalog's files are `stat`ed only when `catalog` is required.
fn settings_generation() -> u64 {
    // SAFETY: the server's own variable; the GUC machinery owns the string until the next
    // assignment, which cannot happen while this runs.
    let dlp = unsafe { pg_sys::Dynamic_library_path };
    let dlp = if dlp.is_null() {
        &b""[..]
    } else {
        unsafe { CStr::from_ptr(dlp) }.to_bytes()
    };
    let changes = SEEN.with(|s| {
        let mut s = s.borrow_mut();
        if s.dynamic_library_path != dlp {
            s.dynamic_library_path = dlp.to_vec();
            s.changes += 1;
        }
        if gucs::catalog_required() {
            let key = crate::catalog::files_key();
            if s.catalog_files != key {
                s.catalog_files = key;
                s.changes += 1;
            }
        }
        s.changes
    });
    // Both terms only grow, so the sum changes whenever either does.
    gucs::enforcement_assignments().wrapping_add(changes)
}

fn generation() -> Generation {
    Generation {
        local: LOCAL.with(Cell::get),
        shared: crate::shmem::published_generation(),
        policy: crate::shmem::policy_generation(),
        settings: settings_generation(),
    }
}

/// Whether this process judges function loads at all.
fn judging_here(mode: EnforceMode) -> bool {
    // SAFETY: reads of backend-global flags.
    unsafe {
        mode != EnforceMode::Off
            && !BUSY.with(Cell::get)
            && !super::BUSY.with(Cell::get)
            && !pg_sys::IsBinaryUpgrade
            && pg_sys::ParallelWorkerNumber < 0
            && (pg_sys::MyBackendType == pg_sys::BackendType::B_BACKEND
                || pg_sys::MyBackendType == pg_sys::BackendType::B_BG_WORKER)
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn needs_fmgr(fn_oid: pg_sys::Oid) -> bool {
    // SAFETY: chaining the previous hook with the server's own argument.
    let prev = unsafe { PREV_NEEDS_FMGR.map(|p| p(fn_oid)).unwrap_or(false) };
    let mode = gucs::enforce();
    if !judging_here(mode) {
        return prev;
    }
    let generation = generation();
    if FUNCTIONS.with(|f| f.borrow().get(&fn_oid) == Some(&generation)) {
        return prev;
    }
    let allowed = match c_library_of(fn_oid) {
        Some((oid, probin)) => check(oid, &probin, mode, generation),
        None => true,
    };
    if allowed {
        FUNCTIONS.with(|f| f.borrow_mut().insert(fn_oid, generation));
    }
    prev
}

/// `Anum_pg_language_lanplcallfoid` (src/include/catalog/pg_language.h; not in pgrx's bindings).
const LANPLCALLFOID: pg_sys::AttrNumber = 6;

/// Languages whose functions are not looked up through a call handler.
const INTERNAL_LANGUAGE: u32 = 12;
const SQL_LANGUAGE: u32 = 14;

/// The C function whose library a lookup of `fn_oid` loads, with that library (`probin`): the
/// function itself in language C; for a procedural language, its call handler — fmgr looks the
/// handler up with `ignore_security` (`fmgr_info_other_lang()`), which skips this hook, so it is
/// judged here, at the lookup of the function written in it. `None` for built-in and SQL
/// functions.
fn c_library_of(fn_oid: pg_sys::Oid) -> Option<(pg_sys::Oid, String)> {
    let lang = match proc_library(fn_oid)? {
        Ok(probin) => return probin.map(|p| (fn_oid, p)),
        Err(lang) => lang,
    };
    if lang == pg_sys::Oid::from(INTERNAL_LANGUAGE) || lang == pg_sys::Oid::from(SQL_LANGUAGE) {
        return None;
    }
    // SAFETY: a syscache probe, released on every path; the tuple is read while pinned.
    let handler = unsafe {
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::LANGOID as i32, lang.into());
        if tup.is_null() {
            return None;
        }
        let d = pg_sys::SysCacheGetAttrNotNull(pg_sys::SysCacheIdentifier::LANGOID as i32, tup, LANPLCALLFOID);
        let h = pg_sys::Oid::from(d.value() as u32);
        pg_sys::ReleaseSysCache(tup);
        h
    };
    match proc_library(handler)? {
        Ok(probin) => probin.map(|p| (handler, p)),
        Err(_) => None, // a handler not written in C loads no library
    }
}

/// One probe of `pg_proc`: `Ok(probin)` of a C-language function, `Err(language)` of any other;
/// `None` for a missing function (fmgr reports it itself).
fn proc_library(fn_oid: pg_sys::Oid) -> Option<Result<Option<String>, pg_sys::Oid>> {
    // SAFETY: a syscache probe, released on every path; the tuple is read while pinned.
    unsafe {
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::PROCOID as i32, fn_oid.into());
        if tup.is_null() {
            return None;
        }
        let lang = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_proc>(tup)).prolang;
        let out = if lang == pg_sys::Oid::from(C_LANGUAGE) {
            let mut isnull = false;
            let d = pg_sys::SysCacheGetAttr(
                pg_sys::SysCacheIdentifier::PROCOID as i32,
                tup,
                pg_sys::Anum_pg_proc_probin as pg_sys::AttrNumber,
                &mut isnull,
            );
            let mut probin = None;
            if !isnull {
                let c = pg_sys::text_to_cstring(d.cast_mut_ptr());
                probin = Some(CStr::from_ptr(c).to_string_lossy().into_owned());
                pg_sys::pfree(c.cast());
            }
            Ok(probin)
        } else {
            Err(lang)
        };
        pg_sys::ReleaseSysCache(tup);
        Some(out)
    }
}

/// Judges (or takes from the cache) the library of a function about to be looked up, and acts:
/// refuses under `on`, warns once under `warn`. True when the library is allowed (or not from
/// an image) for every function that names it, so the lookup of `fn_oid` may be remembered.
fn check(fn_oid: pg_sys::Oid, probin: &str, mode: EnforceMode, generation: Generation) -> bool {
    // The common case, without a copy: a library allowed (or not from an image) and logged.
    let allowed = CACHE.with(|c| {
        c.borrow()
            .get(probin)
            .is_some_and(|e| e.logged && e.judged.failures.is_empty() && e.generation == generation)
    });
    if allowed {
        return true;
    }
    let cached = CACHE.with(|c| {
        c.borrow()
            .get(probin)
            .filter(|e| e.generation == generation)
            .map(|e| (e.judged.clone(), e.logged))
    });
    let (judged, logged) = match cached {
        Some(hit) => hit,
        None => {
            let key = shared_key(probin);
            match key.as_ref().and_then(|k| shared_hit(k, &generation)) {
                Some(judged) => (judged, false),
                None => match judge_guarded(fn_oid, probin, mode, &generation) {
                    Some(judged) => {
                        if let Some(k) = &key {
                            share(k, &generation, &judged);
                        }
                        (judged, false)
                    }
                    None => return false, // could not judge, under warn: said so, not cached
                },
            }
        }
    };
    let Some(image) = judged.image.clone() else {
        store(probin, generation, judged, true);
        return true;
    };
    let image = image.as_str();
    let path = judged.path.clone().unwrap_or_else(|| probin.to_string());
    let (require_exempt, extension) = exemption(fn_oid, image, &judged.failures);
    let action = policy::decide(mode.into(), require_exempt, &judged.failures);
    let record = |action: Action, failed: &str, detail: &str| {
        log::record(&Decision {
            outcome: action.into(),
            action: "function_load",
            object: &path,
            image,
            failed,
            detail,
        })
    };
    match action {
        Action::Allow | Action::Exempt => {
            if !logged {
                record(
                    action,
                    "",
                    if action == Action::Exempt {
                        "pgext.enforce_exempt"
                    } else {
                        ""
                    },
                );
            }
            store(probin, generation, judged, true);
            // An exemption is the function's (its extension), not the library's.
            action == Action::Allow
        }
        Action::Warn | Action::Refuse => {
            let function = function_name(fn_oid);
            let r = policy::refusal(
                &Subject::Function {
                    path: &path,
                    function: &function,
                },
                image,
                &judged.failures,
                &policy::exempt_entry(extension.as_deref(), image),
            );
            let first = WARNED.with(|w| w.borrow_mut().insert(path.clone()));
            if action == Action::Refuse || first {
                record(action, &r.failed, &r.detail);
            }
            store(probin, generation, judged, logged);
            if action == Action::Refuse || first {
                super::report(&r, mode, PgLogLevel::ERROR);
            }
            false
        }
    }
}

/// The key of a decision shared between backends: the database (pgext's tables are per
/// database), the library as the function names it, and the settings the decision rests on
/// (they may differ per role or database).
fn shared_key(probin: &str) -> Option<[u8; 32]> {
    // SAFETY: plain reads of backend globals. On a standby nothing is shared: the trigger that
    // bumps the policy counter runs on the primary only (there the relcache invalidations it
    // sends, replayed from WAL, reach each backend's own cache instead).
    if !crate::shmem::available() || unsafe { pg_sys::RecoveryInProgress() } {
        return None;
    }
    let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
    let settings = settings_signature();
    let mut bytes = Vec::with_capacity(8 + probin.len() + settings.len());
    bytes.extend_from_slice(&database.to_le_bytes());
    bytes.extend_from_slice(probin.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&settings);
    Some(pgext_core::hash::sha256(&bytes))
}

/// An `allowed` decision another backend made at the current generations.
fn shared_hit(key: &[u8; 32], generation: &Generation) -> Option<Judged> {
    let (path, image) = crate::shmem::shared_decision(key, generation.policy, generation.shared)?;
    Some(Judged {
        path: Some(path),
        image: Some(image).filter(|i| !i.is_empty()),
        failures: Vec::new(),
    })
}

/// Shares an `allowed` decision (a refusal or a warning is judged again by each backend: it
/// is the rare, slow path, and its message needs the failures in full).
fn share(key: &[u8; 32], generation: &Generation, judged: &Judged) {
    let (true, Some(path)) = (judged.failures.is_empty(), judged.path.as_deref()) else {
        return;
    };
    let image = judged.image.as_deref().unwrap_or("");
    crate::shmem::share_decision(key, generation.policy, generation.shared, path, image);
}

fn store(probin: &str, generation: Generation, judged: Judged, logged: bool) {
    CACHE.with(|c| {
        c.borrow_mut().insert(
            probin.to_string(),
            Entry {
                generation,
                judged,
                logged,
            },
        )
    });
}

/// Whether `pgext.enforce_exempt` allows this function's library, and the extension the
/// function belongs to (looked up only for a failing library: it costs a `pg_depend` scan).
fn exemption(fn_oid: pg_sys::Oid, image: &str, failures: &[Failure]) -> (bool, Option<String>) {
    if failures.is_empty() {
        return (false, None);
    }
    let exempt = policy::parse_exempt(&gucs::enforce_exempt()).unwrap_or_default();
    let extension = extension_of(fn_oid);
    (policy::is_exempt(&exempt, extension.as_deref(), image), extension)
}

/// The extension a function belongs to.
pub(crate) fn extension_of(fn_oid: pg_sys::Oid) -> Option<String> {
    // SAFETY: catalog lookups inside a transaction (the hook runs in one when it gets here).
    unsafe {
        if !pg_sys::IsTransactionState() {
            return None;
        }
        let ext = pg_sys::getExtensionOfObject(pg_sys::ProcedureRelationId, fn_oid);
        if ext == pg_sys::InvalidOid {
            return None;
        }
        let name = pg_sys::get_extension_name(ext);
        (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
    }
}

/// `schema.name(argtypes)` of a function, for messages.
fn function_name(fn_oid: pg_sys::Oid) -> String {
    // SAFETY: format_procedure returns a palloc'd string (or the oid as text).
    unsafe {
        let p = pg_sys::format_procedure(fn_oid);
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Judges `probin` for this generation, failing closed under `on` and open under `warn` when
/// pgext itself fails (an unreadable table, a broken pin, no transaction).
fn judge_guarded(fn_oid: pg_sys::Oid, probin: &str, mode: EnforceMode, generation: &Generation) -> Option<Judged> {
    // SAFETY: a plain read of the transaction state.
    if !unsafe { pg_sys::IsTransactionState() } {
        could_not_judge(fn_oid, probin, mode, "no transaction is open".to_string());
        return None;
    }
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            BUSY.with(|b| b.set(false));
        }
    }
    BUSY.with(|b| b.set(true));
    let _clear = Clear;
    match super::attempt(mode == EnforceMode::Warn, || judge_library(probin, generation)) {
        Ok(j) => Some(j),
        Err(msg) => {
            could_not_judge(fn_oid, probin, mode, msg);
            None
        }
    }
}

/// A judgement that could not be made: under `on`, pgext's refusal (fail closed); under
/// `warn`, a WARNING and the load goes on (fail open). Never cached.
fn could_not_judge(fn_oid: pg_sys::Oid, probin: &str, mode: EnforceMode, why: String) {
    let message = format!(
        "pgext.enforce could not judge library \"{probin}\" (loaded by function {}): {why}",
        function_name(fn_oid)
    );
    match mode {
        EnforceMode::On => ErrorReport::new(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, message, "needs_fmgr")
            .set_detail("pgext.enforce = on: a load that cannot be judged is refused.")
            .set_hint("See the server log and SELECT * FROM pgext.enforcement_preview;")
            .report(PgLogLevel::ERROR),
        _ => ErrorReport::new(PgSqlErrorCode::ERRCODE_WARNING, message, "needs_fmgr")
            .set_detail("pgext.enforce = warn: the load goes on.")
            .report(PgLogLevel::WARNING),
    }
}

/// The decision for a library as a function names it, with the facts of `generation` (gathered
/// once per generation, for every library). Used by the hook and by the preview.
fn judge_library(probin: &str, generation_now: &Generation) -> Judged {
    let data = super::EnvData::read(false);
    let planned = plan::library(&data.env(), probin, LibraryRef::Function);
    let path = planned
        .files
        .iter()
        .find(|f| f.role == Role::Library)
        .map(|f| f.path.clone());
    let image = path
        .as_deref()
        .and_then(|p| plan::image_of_path(p, &gucs::extensions_root()));
    let (Some(p), Some(i)) = (path.as_deref(), image.as_deref()) else {
        return Judged {
            path,
            image,
            failures: Vec::new(),
        };
    };
    let (require, _) = super::policy_in_effect();
    let failures = FACTS.with(|f| {
        let mut f = f.borrow_mut();
        if f.as_ref().is_none_or(|(g, _)| g != generation_now) {
            *f = Some((*generation_now, Facts::default()));
        }
        let facts = &mut f.as_mut().expect("set above").1;
        let mut failures = facts.image_failures(i, &require);
        if require.contains(&Condition::Compatible)
            && let Some(c) = facts.library_failure(p)
        {
            failures.push(c);
        }
        WATCHED.with(|w| *w.borrow_mut() = facts.table_oids());
        failures
    });
    Judged {
        path: Some(p.to_string()),
        image: Some(i.to_string()),
        failures,
    }
}

/// The decision for `probin` now (from the cache when it is current), for the preview.
pub(crate) fn decision_now(probin: &str) -> Judged {
    struct Clear(bool);
    impl Drop for Clear {
        fn drop(&mut self) {
            BUSY.with(|b| b.set(self.0));
        }
    }
    // pgext's own queries below do not recurse into the hook.
    let _clear = Clear(BUSY.with(|b| b.replace(true)));
    let generation = generation();
    if let Some(j) = CACHE.with(|c| {
        c.borrow()
            .get(probin)
            .filter(|e| e.generation == generation)
            .map(|e| e.judged.clone())
    }) {
        return j;
    }
    judge_library(probin, &generation)
}

/// The policy-change trigger of pgext's tables: a relcache invalidation of the table, sent at
/// commit to every backend of the database (and replayed on standbys), drops their decisions.
#[pg_trigger]
fn policy_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let relid = trigger.relid()?;
    // SAFETY: registers an invalidation message for the current transaction.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    // The decisions shared between backends go stale once the change is visible: at commit
    // (after it is visible to others) or at PREPARE TRANSACTION (the worker's next publication
    // covers the window until COMMIT PREPARED).
    for event in [PgXactCallbackEvent::Commit, PgXactCallbackEvent::Prepare] {
        pgrx::register_xact_callback(event, crate::shmem::bump_policy_generation);
    }
    Ok(None)
}
