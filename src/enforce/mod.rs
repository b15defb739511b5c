//! Governance: with `pgext.enforce`, the server refuses to load code from an image that fails
//! `pgext.require`, before anything is read or `dlopen`ed.
//!
//! A `ProcessUtility` hook (installed only while preloading, always chaining the previous hook)
//! plans each `CREATE EXTENSION [CASCADE]`, `ALTER EXTENSION … UPDATE`, `LOAD` and
//! `CREATE FUNCTION … LANGUAGE C` with `pgext_core::plan` — the control files, scripts and
//! libraries PostgreSQL 18 will use — and judges every image (directory below
//! `pgext.extensions_root`) those files come from. Files of the server image (`$system`,
//! `$libdir`) are not judged. Statements nested in an extension script are judged too (they may
//! be built at run time, where the plan's scanner cannot see them), except for libraries the
//! enclosing statement already judged.
//!
//! `session_preload_libraries` and `local_preload_libraries` are loaded by the server while the
//! backend starts, before any hook can intervene: the first statement of each session judges
//! them (a `post_parse_analyze_hook`), and under `on` ends the session with FATAL before that
//! statement runs. Their `_PG_init` has run by then; see the book (docs/src/operations/enforcement.md) for what this cannot cover.

mod judge;
mod load;
pub mod log;
mod preview;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

use pgext_core::paths::LibraryRef;
use pgext_core::plan::{self, Plan, Role};
use pgext_core::policy::{self, Action, Condition, Refusal, Subject};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgList, PgLogLevel, PgSqlErrorCode};

use crate::gucs::{self, EnforceMode};
use crate::server::{self, owned};
use judge::Facts;
use log::Decision;

/// Set while preloading: the hooks exist in every backend the postmaster forks.
static HOOKED: AtomicBool = AtomicBool::new(false);

static mut PREV_PROCESS_UTILITY: pg_sys::ProcessUtility_hook_type = None;
static mut PREV_POST_PARSE_ANALYZE: pg_sys::post_parse_analyze_hook_type = None;

thread_local! {
    /// Libraries judged by the enclosing top-level statement: its nested statements (extension
    /// scripts) do not judge or log them again.
    static JUDGED: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    /// The preload settings of this session were judged.
    static PRELOADS_JUDGED: Cell<bool> = const { Cell::new(false) };
    /// Re-entrancy guard: pgext's own queries never recurse into judging.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Whether the hooks are installed in this process.
pub fn hooked() -> bool {
    HOOKED.load(Ordering::Relaxed)
}

/// Installs the hooks and the decision log when preloading; otherwise warns when enforcement is
/// asked for, since nothing can be enforced.
pub fn init() {
    // SAFETY: a plain read of a flag the postmaster sets around shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        log::init();
        load::init();
        // SAFETY: _PG_init runs once per process on its main thread; previous hooks are saved
        // and always called.
        unsafe {
            PREV_PROCESS_UTILITY = pg_sys::ProcessUtility_hook;
            pg_sys::ProcessUtility_hook = Some(process_utility);
            PREV_POST_PARSE_ANALYZE = pg_sys::post_parse_analyze_hook;
            pg_sys::post_parse_analyze_hook = Some(post_parse_analyze);
        }
        HOOKED.store(true, Ordering::Relaxed);
    } else {
        warn_if_unenforced();
    }
}

/// The WARNING for `pgext.enforce` set without the hook.
pub fn warn_if_unenforced() {
    if !hooked() && gucs::enforce() != EnforceMode::Off {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_WARNING,
            format!(
                "pgext.enforce is \"{}\" but pgext is not in shared_preload_libraries: nothing is enforced",
                gucs::enforce().as_str()
            ),
            pgrx::function_name!(),
        )
        .set_hint("Add pgext to shared_preload_libraries and restart the server.")
        .report(PgLogLevel::WARNING);
    }
}

/// One statement's use of an image: the files it takes from it, grouped by extension.
struct Use {
    image: String,
    /// The extension (or, for LOAD and C functions, `None`).
    extension: Option<String>,
    /// The extension that asked for it with CASCADE, if not the statement's own.
    required_by: Option<String>,
    files: Vec<(Role, String)>,
}

/// What the statement is, for messages and the log.
struct Statement {
    action: &'static str,
    /// The extension or library as the statement names it.
    object: String,
    plan: Plan,
}

/// The options of a CREATE/ALTER EXTENSION statement: new_version and cascade.
unsafe fn extension_options(options: *mut pg_sys::List) -> (Option<String>, bool) {
    let mut version = None;
    let mut cascade = false;
    // SAFETY: options is a List of DefElem built by the grammar.
    let list = unsafe { PgList::<pg_sys::DefElem>::from_pg(options) };
    for d in list.iter_ptr() {
        // SAFETY: d is a valid DefElem; defGetString/defGetBoolean raise on bad input as the
        // server itself would.
        unsafe {
            match owned((*d).defname).as_str() {
                "new_version" => version = Some(owned(pg_sys::defGetString(d))),
                "cascade" => cascade = pg_sys::defGetBoolean(d),
                _ => {}
            }
        }
    }
    (version, cascade)
}

/// The session's view, as the statement will have it.
struct EnvData {
    control: Vec<pgext_core::paths::PathElement>,
    library: Vec<pgext_core::paths::PathElement>,
    pkglibdir: String,
    installed: HashMap<String, String>,
}

impl EnvData {
    fn read(with_installed: bool) -> EnvData {
        let (control, library) = crate::session::current_elements();
        let installed = if with_installed {
            crate::session::installed_extensions()
        } else {
            HashMap::new()
        };
        EnvData {
            control,
            library,
            pkglibdir: server::pkglibdir(),
            installed,
        }
    }

    fn env(&self) -> plan::Env<'_> {
        plan::Env {
            control: &self.control,
            library: &self.library,
            pkglibdir: &self.pkglibdir,
            installed: &self.installed,
        }
    }
}

/// Decodes a utility statement into the plan of what it will use; `None` for statements that
/// load nothing.
unsafe fn statement_of(node: *mut pg_sys::Node) -> Option<Statement> {
    // SAFETY: node is the statement's parse tree; each cast follows its tag.
    unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_CreateExtensionStmt => {
                let s = node.cast::<pg_sys::CreateExtensionStmt>();
                let name = owned((*s).extname);
                let (version, cascade) = extension_options((*s).options);
                let data = EnvData::read(true);
                let plan = plan::create_extension(&data.env(), &name, version.as_deref(), cascade);
                Some(Statement {
                    action: "create_extension",
                    object: name,
                    plan,
                })
            }
            pg_sys::NodeTag::T_AlterExtensionStmt => {
                let s = node.cast::<pg_sys::AlterExtensionStmt>();
                let name = owned((*s).extname);
                let (version, _) = extension_options((*s).options);
                let data = EnvData::read(true);
                let plan = plan::update_extension(&data.env(), &name, version.as_deref());
                Some(Statement {
                    action: "alter_extension",
                    object: name,
                    plan,
                })
            }
            pg_sys::NodeTag::T_LoadStmt => {
                let s = node.cast::<pg_sys::LoadStmt>();
                let name = owned((*s).filename);
                let data = EnvData::read(false);
                let plan = plan::library(&data.env(), &name, LibraryRef::Load);
                Some(Statement {
                    action: "load",
                    object: name,
                    plan,
                })
            }
            pg_sys::NodeTag::T_CreateFunctionStmt => {
                let s = node.cast::<pg_sys::CreateFunctionStmt>();
                let name = server::c_function_as(s)?.into_iter().next()?;
                let data = EnvData::read(false);
                let plan = plan::library(&data.env(), &name, LibraryRef::Function);
                Some(Statement {
                    action: "create_function",
                    object: name,
                    plan,
                })
            }
            _ => None,
        }
    }
}

/// Groups the plan's files by (image, extension), in plan order; files of the server image are
/// left out.
fn uses_of(st: &Statement, root: &str) -> Vec<Use> {
    let mut out: Vec<Use> = Vec::new();
    for f in &st.plan.files {
        let Some(image) = plan::image_of_path(&f.path, root) else {
            continue;
        };
        let required_by = match &f.extension {
            Some(e) if st.action == "create_extension" && *e != st.object => Some(st.object.clone()),
            _ => None,
        };
        match out.iter_mut().find(|u| u.image == image && u.extension == f.extension) {
            Some(u) => u.files.push((f.role, f.path.clone())),
            None => out.push(Use {
                image,
                extension: f.extension.clone(),
                required_by,
                files: vec![(f.role, f.path.clone())],
            }),
        }
    }
    out
}

/// The subject of a message, as the policy words it.
fn subject<'a>(u: &'a Use, st: &'a Statement) -> Subject<'a> {
    let path = u.files.first().map(|(_, p)| p.as_str()).unwrap_or("");
    if let Some(setting) = st.action.strip_suffix("_preload") {
        return Subject::Preload { path, setting };
    }
    let only_libraries = u.files.iter().all(|(r, _)| *r == Role::Library);
    match (&u.extension, only_libraries) {
        (Some(e), true) => Subject::ScriptLibrary { path, extension: e },
        (Some(e), false) => Subject::Extension {
            name: e,
            required_by: u.required_by.as_deref(),
        },
        (None, _) => Subject::Library { path },
    }
}

/// The policy in effect: `pgext.require` (the strictest default for a value that cannot be
/// parsed) and `pgext.enforce_exempt`.
pub(crate) fn policy_in_effect() -> (Vec<Condition>, Vec<policy::Exempt>) {
    (
        policy::require_or_default(&gucs::require()),
        policy::parse_exempt(&gucs::enforce_exempt()).unwrap_or_default(),
    )
}

/// Reports a decision under `warn` (WARNING) or `on` (at `level`), with SQLSTATE 42501.
pub(crate) fn report(r: &Refusal, mode: EnforceMode, level: PgLogLevel) {
    let (detail, level) = match mode {
        EnforceMode::On => (r.detail.clone(), level),
        _ => (r.warn_detail(), PgLogLevel::WARNING),
    };
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        r.message.clone(),
        pgrx::function_name!(),
    )
    .set_detail(detail)
    .set_hint(r.hint.clone())
    .report(level);
}

/// Judges every use of `st` under the current policy: records each decision, warns, and raises
/// the first refusal (after recording all of them).
fn judge(st: &Statement, mode: EnforceMode, nested: bool, refuse_at: PgLogLevel) {
    let root = gucs::extensions_root();
    let mut uses = uses_of(st, &root);
    if nested {
        // Libraries the enclosing statement judged are not judged again.
        uses.retain(|u| !u.files.iter().all(|(_, p)| JUDGED.with(|j| j.borrow().contains(p))));
    }
    if uses.is_empty() {
        return;
    }
    let (require, exempt) = policy_in_effect();
    let mut facts = Facts::default();
    let mut refusal: Option<Refusal> = None;
    for u in &uses {
        for (_, p) in &u.files {
            JUDGED.with(|j| j.borrow_mut().insert(p.clone()));
        }
        let object = u
            .extension
            .clone()
            .unwrap_or_else(|| u.files.first().map(|(_, p)| p.clone()).unwrap_or_default());
        let exempted = policy::is_exempt(&exempt, u.extension.as_deref(), &u.image);
        let mut failures = Vec::new();
        if !exempted {
            failures = facts.image_failures(&u.image, &require);
            if require.contains(&Condition::Compatible) {
                if st.action == "create_extension"
                    && let Some(e) = &u.extension
                    && let Some(f) = facts.extension_failure(e, &st.plan.extensions)
                {
                    failures.push(f);
                } else {
                    for (role, p) in &u.files {
                        if *role == Role::Library
                            && let Some(f) = facts.library_failure(p)
                        {
                            failures.push(f);
                            break;
                        }
                    }
                }
            }
        }
        let action = policy::decide(mode.into(), exempted, &failures);
        let r = (!failures.is_empty()).then(|| {
            policy::refusal(
                &subject(u, st),
                &u.image,
                &failures,
                &policy::exempt_entry(u.extension.as_deref(), &u.image),
            )
        });
        log::record(&Decision {
            outcome: action.into(),
            action: st.action,
            object: &object,
            image: &u.image,
            failed: r.as_ref().map(|r| r.failed.as_str()).unwrap_or(""),
            detail: match action {
                Action::Exempt => "pgext.enforce_exempt",
                _ => r.as_ref().map(|r| r.detail.as_str()).unwrap_or(""),
            },
        });
        match (action, r) {
            (Action::Refuse, Some(r)) => {
                refusal.get_or_insert(r);
            }
            (Action::Warn, Some(r)) => report(&r, mode, PgLogLevel::WARNING),
            _ => {}
        }
    }
    if let Some(r) = refusal {
        report(&r, mode, refuse_at);
    }
}

/// Runs `f` with the re-entrancy guard set (cleared again on error, as the guard unwinds).
fn guarded(f: impl FnOnce()) {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            BUSY.with(|b| b.set(false));
        }
    }
    BUSY.with(|b| b.set(true));
    let _clear = Clear;
    f();
}

/// Runs `f`, catching any error pgext itself raises (an unreadable table, a broken pin) as
/// `Err(message)`. With `soft`, in an internal subtransaction rolled back on error, so the
/// caller may carry on (`warn` fails open); otherwise (and in parallel mode, where no
/// subtransaction can start) the caller must raise: the transaction is aborting anyway
/// (`on` fails closed).
fn attempt<T>(soft: bool, f: impl FnOnce() -> T) -> Result<T, String> {
    // SAFETY: the subtransaction pattern of PL/pgSQL's exception blocks: begin, run, then release
    // or roll back, restoring the caller's memory context and resource owner either way.
    unsafe {
        let soft = soft && !pg_sys::IsInParallelMode();
        let ctx = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        if soft {
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            pg_sys::MemoryContextSwitchTo(ctx);
        }
        // On error the subtransaction is rolled back (or the transaction aborts): nothing f
        // touched is observed afterwards.
        let f = std::panic::AssertUnwindSafe(f);
        let out = PgTryBuilder::new(move || Ok((f)()))
            .catch_others(|e| {
                Err(match e {
                    pg_sys::panic::CaughtError::PostgresError(r) | pg_sys::panic::CaughtError::ErrorReport(r) => {
                        r.message().to_string()
                    }
                    pg_sys::panic::CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
                })
            })
            .execute();
        if soft {
            if out.is_ok() {
                pg_sys::ReleaseCurrentSubTransaction();
            } else {
                pg_sys::RollbackAndReleaseCurrentSubTransaction();
            }
        }
        pg_sys::MemoryContextSwitchTo(ctx);
        pg_sys::CurrentResourceOwner = owner;
        out
    }
}

/// Runs `f` with [`attempt`] and turns any error it raises into a WARNING: under `warn`, a
/// failure of pgext itself never breaks the statement.
fn softly(f: impl FnOnce()) {
    if let Err(msg) = attempt(true, f) {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_WARNING,
            format!("pgext.enforce could not judge this statement: {msg}"),
            pgrx::function_name!(),
        )
        .set_detail("pgext.enforce = warn: the statement runs.")
        .report(PgLogLevel::WARNING);
    }
}

#[pg_guard]
#[allow(clippy::too_many_arguments)] // PostgreSQL's hook signature
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    let mode = gucs::enforce();
    // SAFETY: pstmt is the statement the server is about to execute; reads of backend flags.
    unsafe {
        if mode != EnforceMode::Off
            && !BUSY.with(Cell::get)
            && pg_sys::IsTransactionState()
            && !pg_sys::IsBinaryUpgrade
            && !(*pstmt).utilityStmt.is_null()
        {
            // Statements outside an extension script start a new judgement.
            let nested = pg_sys::creating_extension;
            if !nested {
                JUDGED.with(|j| j.borrow_mut().clear());
            }
            let node = (*pstmt).utilityStmt;
            guarded(|| match mode {
                EnforceMode::On => {
                    if let Some(st) = statement_of(node) {
                        judge(&st, mode, nested, PgLogLevel::ERROR);
                    }
                }
                _ => softly(|| {
                    if let Some(st) = statement_of(node) {
                        judge(&st, mode, nested, PgLogLevel::ERROR);
                    }
                }),
            });
        }
        match PREV_PROCESS_UTILITY {
            Some(prev) => prev(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
            None => pg_sys::standard_ProcessUtility(
                pstmt,
                query_string,
                read_only_tree,
                context,
                params,
                query_env,
                dest,
                qc,
            ),
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn post_parse_analyze(
    pstate: *mut pg_sys::ParseState,
    query: *mut pg_sys::Query,
    jstate: *mut pg_sys::JumbleState,
) {
    // SAFETY: chaining the previous hook with the server's own arguments.
    unsafe {
        if let Some(prev) = PREV_POST_PARSE_ANALYZE {
            prev(pstate, query, jstate);
        }
    }
    if PRELOADS_JUDGED.with(Cell::get) || BUSY.with(Cell::get) {
        return;
    }
    // SAFETY: reads of backend state.
    let ready = unsafe { pg_sys::IsTransactionState() && pg_sys::MyBackendType == pg_sys::BackendType::B_BACKEND };
    if !ready {
        return;
    }
    PRELOADS_JUDGED.with(|p| p.set(true));
    let mode = gucs::enforce();
    if mode == EnforceMode::Off {
        return;
    }
    guarded(|| judge_preloads(mode));
}

/// Judges what `session_preload_libraries` and `local_preload_libraries` loaded at backend start.
/// Under `on`, a refusal ends the session (FATAL): the library is loaded and cannot be unloaded.
fn judge_preloads(mode: EnforceMode) {
    let data = EnvData::read(false);
    for (setting, action, restricted) in [
        (c"session_preload_libraries", "session_preload", false),
        (c"local_preload_libraries", "local_preload", true),
    ] {
        for name in plan::preload_names(&server::setting(setting), restricted) {
            let st = Statement {
                action,
                object: name.clone(),
                plan: plan::library(&data.env(), &name, LibraryRef::Load),
            };
            judge(&st, mode, false, PgLogLevel::FATAL);
        }
    }
}

/// Recent enforcement decisions (shared memory; the newest `CAPACITY` since server start).
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_safe)]
fn enforcement_log() -> TableIterator<
    'static,
    (
        name!(seq, i64),
        name!(at, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(pid, i32),
        name!(database, String),
        name!(role, String),
        name!(action, String),
        name!(object, String),
        name!(image, String),
        name!(outcome, String),
        name!(failed, Option<String>),
        name!(detail, Option<String>),
    ),
> {
    warn_if_unenforced();
    TableIterator::new(log::rows())
}

/// Enforcement in effect and decision counters since server start.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_safe)]
fn enforcement_status() -> TableIterator<
    'static,
    (
        name!(mode, String),
        name!(require, String),
        name!(exempt, String),
        name!(hook_installed, bool),
        name!(allowed, i64),
        name!(warned, i64),
        name!(refused, i64),
        name!(exempted, i64),
        name!(problem, Option<String>),
        name!(locked, bool),
    ),
> {
    let mode = gucs::enforce();
    let counts = log::counts().unwrap_or([0; 4]);
    let problem = if !hooked() && mode != EnforceMode::Off {
        Some("pgext.enforce is set but pgext is not in shared_preload_libraries: nothing is enforced".to_string())
    } else {
        policy::parse_require(&gucs::require()).err()
    };
    let n = |i: usize| i64::try_from(counts[i]).unwrap_or(i64::MAX);
    TableIterator::once((
        mode.as_str().to_string(),
        gucs::require(),
        gucs::enforce_exempt(),
        hooked(),
        n(0),
        n(1),
        n(2),
        n(3),
        problem,
        gucs::enforce_locked(),
    ))
}

extension_sql_file!(
    "../../sql/enforce.sql",
    name = "enforce_views",
    requires = [
        enforcement_log,
        enforcement_status,
        preview::enforcement_preview,
        load::policy_changed,
        "image_tables"
    ]
);
