//! Does a library refuse to load unless it is in `shared_preload_libraries`? Decided from the
//! binary: what `_PG_init` imports, and a bounded walk of its code (x86-64 or AArch64).
//!
//! PostgreSQL runs `_PG_init` when a library is first loaded (`internal_load_library()` in
//! dfmgr.c). Outside `shared_preload_libraries`, `process_shared_preload_libraries_in_progress` is
//! false, and a library refuses to load when `_PG_init` then:
//! - raises `ereport(ERROR|FATAL)` (pgaudit, pg_cron, citus: "… must be loaded via
//!   shared_preload_libraries"): a call to `errstart`/`errstart_cold` with elevel ≥ 21;
//! - defines a `PGC_POSTMASTER` variable (`init_custom_variable()` in guc.c:
//!   `elog(FATAL, "cannot create PGC_POSTMASTER variables after startup")`): a call to
//!   `DefineCustom*Variable` whose `context` argument is 1;
//! - requests shared memory or LWLock tranches directly (`RequestAddinShmemSpace()`,
//!   `RequestNamedLWLockTranche()` raise FATAL outside `shmem_request_hook`).
//!
//! Others only degrade (pg_stat_statements returns early, `RegisterBackgroundWorker()` logs and
//! returns, a `shmem_request_hook` is never called).
//!
//! The walk follows `_PG_init` (and the local functions it calls, a few levels deep) twice: once
//! with the flag false, once true. It tracks constants in registers and stack slots, the flag's
//! address loaded from the GOT, and the flags of `cmp`/`test`, so branches on the flag are
//! decided and other branches are both followed. An `ereport(ERROR)` reachable only with the flag
//! false is a refusal; one reachable either way is not about preloading (it is some other
//! condition) and is ignored. Imports are named through the PLT/GOT relocations.
//!
//! The facts, the decision and the walk's budgets are shared; only instruction semantics differ,
//! behind [`machine::Machine`]: `x86_64.rs` (iced-x86, System V) and `aarch64.rs` (yaxpeax-arm,
//! AAPCS64: `adrp`/`add`/`ldr` address formation, `cbz`/`tbz`/`b.cond` on the flag, PLT stubs
//! through x16/x17, GOT slots named by `R_AARCH64_GLOB_DAT`/`JUMP_SLOT`/`ABS64`).
//!
//! The walk also collects the names `_PG_init` passes to `dlopen()` as constant strings
//! (mysql_fdw opens its client library so, not through `DT_NEEDED`): they are searched like
//! dependencies, and one that cannot be found is an error when `_PG_init` can raise an ERROR
//! whether or not it is preloaded, a warning otherwise (`report.rs`).
//!
//! Two refinements. A library can refuse to be *preloaded* (pgtt raises FATAL when the flag is
//! set): branches the two walks decide differently are the flag's, and when every path past them
//! with the flag set raises an ERROR the other walk never reaches, the errors reached only
//! without the flag are other conditions ([`PreloadFacts::preload_refused`]). And a library can
//! refuse unless preloaded *or* loaded by its preloaded loader (timescaledb's versioned library
//! reads the loader's `find_rendezvous_variable()` slot): the walk records the rendezvous
//! variables `_PG_init` stores into when preloaded ([`PreloadFacts::publishes`]), and walks a
//! refusing library a third time, without the flag and with every slot published by someone
//! else ([`PreloadFacts::unless_published`]).
//!
//! When the walk cannot finish (another architecture, an indirect jump, the budget) on a library
//! that reads the flag and can raise or define variables, the answer is
//! [`PreloadNeed::Undecided`] — never a silent "loads".

use std::collections::{HashMap, HashSet};

use object::Endianness;
use object::elf;
use object::read::elf::Rela as _;

use super::dynamic::DynamicInfo;
use super::file::ElfFile;

mod aarch64;
mod machine;
mod walk;
mod x86_64;

use aarch64::Aarch64;
use machine::Machine;
use walk::Walker;
use x86_64::X86_64;

/// The flag `_PG_init` tests.
pub const PRELOAD_FLAG: &str = "process_shared_preload_libraries_in_progress";
/// `PGC_POSTMASTER` in `GucContext`.
const PGC_POSTMASTER: u64 = 1;
/// `ERROR` in elog.h (`FATAL` 22, `PANIC` 23).
const ERROR_LEVEL: u64 = 21;
/// Instructions followed at most over both walks of one library.
const MAX_STEPS: usize = 60_000;
/// Local call depth followed below `_PG_init`.
const MAX_DEPTH: usize = 4;
/// Code is read in aligned windows of this many bytes (see `Walker::decode`).
const WINDOW: u64 = 256;
/// Most code windows kept at once (~1 MiB).
const MAX_WINDOWS: usize = 4096;
/// States kept per instruction address (paths differing only in unrelated values merge poorly).
const MAX_STATES_PER_ADDR: usize = 6;

/// Imports whose presence means the library does more when preloaded (a warning when it is not).
/// The flag itself is not one: many libraries only test it to pick a per-backend fallback
/// (pgvector), which loses nothing.
const DEGRADES_WITHOUT: &[&str] = &[
    "RegisterBackgroundWorker",
    "shmem_request_hook",
    "shmem_startup_hook",
    "RequestAddinShmemSpace",
    "RequestNamedLWLockTranche",
];

/// Imports the walk names at call sites.
const WATCHED: &[&str] = &[
    PRELOAD_FLAG,
    "errstart",
    "errstart_cold",
    "errmsg",
    "errmsg_internal",
    "errfinish",
    "DefineCustomBoolVariable",
    "DefineCustomIntVariable",
    "DefineCustomRealVariable",
    "DefineCustomStringVariable",
    "DefineCustomEnumVariable",
    "RequestAddinShmemSpace",
    "RequestNamedLWLockTranche",
    "RegisterBackgroundWorker",
    "dlopen",
    "find_rendezvous_variable",
    "abort",
    "exit",
    "_exit",
    "__stack_chk_fail",
    "ExceptionalCondition",
    "pg_re_throw",
    "proc_exit",
    "__cxa_throw",
    "_Unwind_Resume",
];

/// Why `_PG_init` fails without preloading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `ereport` with this level (21 ERROR, 22 FATAL, 23 PANIC) and message, if it was found.
    Raises { level: u64, message: Option<String> },
    /// A `PGC_POSTMASTER` variable is defined: FATAL outside preloading.
    PostmasterVariable { name: Option<String> },
    /// Shared memory requested outside `shmem_request_hook`: FATAL.
    ShmemRequest { function: &'static str },
}

impl Refusal {
    /// What PostgreSQL says, as close as known statically.
    pub fn message(&self) -> String {
        match self {
            Refusal::Raises { level, message } => {
                let level = match level {
                    21 => "ERROR",
                    22 => "FATAL",
                    _ => "PANIC",
                };
                match message {
                    Some(m) => format!("_PG_init raises {level}: \"{m}\""),
                    None => format!("_PG_init raises {level} unless preloaded"),
                }
            }
            Refusal::PostmasterVariable { name } => format!(
                "_PG_init defines PGC_POSTMASTER variable {}: FATAL \"cannot create PGC_POSTMASTER variables after startup\"",
                name.as_deref()
                    .map(|n| format!("\"{n}\""))
                    .unwrap_or_else(|| "(name not known)".into())
            ),
            Refusal::ShmemRequest { function } => {
                format!("_PG_init calls {function} outside shmem_request_hook: FATAL")
            }
        }
    }
}

/// What is known about a library's `_PG_init` and preloading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreloadFacts {
    /// The library exports `_PG_init`.
    pub has_init: bool,
    /// Imports that make it do more when preloaded (flag, background workers, shared memory).
    pub degrades_imports: Vec<String>,
    /// Ways `_PG_init` fails without preloading (empty: it loads).
    pub refusals: Vec<Refusal>,
    /// Why the walk could not decide, when it could not and it mattered.
    pub undecided: Option<String>,
    /// Libraries `_PG_init` opens itself with `dlopen()`, named by a constant string
    /// (mysql_fdw opens its client library so): the server never sees them as dependencies.
    pub dlopens: Vec<String>,
    /// `_PG_init` can raise an ERROR whether or not it is preloaded (some other condition: with
    /// `dlopens`, a library it cannot open).
    pub raises_anyway: bool,
    /// `_PG_init` refuses to be preloaded: with the flag set, every path past the branches the
    /// flag decides raises this (pgtt: "can not be loaded using shared_preload_libraries"). The
    /// postmaster stops on it.
    pub preload_refused: Option<Refusal>,
    /// Rendezvous variables (`find_rendezvous_variable()`) `_PG_init` stores into when it is
    /// preloaded: a loader announcing itself (timescaledb.so sets `timescaledb.loader_present`).
    pub publishes: Vec<String>,
    /// The refusals all disappear when these rendezvous variables have been set by a preloaded
    /// library (timescaledb's versioned library, loaded by its preloaded loader): see
    /// [`PreloadFacts::need_given`].
    pub unless_published: Vec<String>,
}

/// The answer for one library when it is not preloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreloadNeed {
    /// Loading works the same either way.
    None,
    /// Loads, but does less than when preloaded (why).
    Recommended(String),
    /// Refuses to load unless preloaded (why).
    Required(String),
    /// Could not be decided statically (why).
    Undecided(String),
}

impl PreloadFacts {
    /// The answer for a library that is not in `shared_preload_libraries`.
    pub fn need(&self) -> PreloadNeed {
        if let Some(r) = self.refusals.first() {
            return PreloadNeed::Required(r.message());
        }
        if let Some(why) = &self.undecided {
            return PreloadNeed::Undecided(why.clone());
        }
        if !self.degrades_imports.is_empty() {
            return PreloadNeed::Recommended(format!(
                "it uses {} (only effective when preloaded)",
                self.degrades_imports.join(", ")
            ));
        }
        PreloadNeed::None
    }
}

impl PreloadFacts {
    /// Applies what the server's preloaded libraries publish ([`PreloadFacts::publishes`] of
    /// each): when they set every rendezvous variable that lifts the refusals, there are none.
    pub fn assume_published(&mut self, published: &[String]) {
        if !self.unless_published.is_empty() && self.unless_published.iter().all(|n| published.contains(n)) {
            self.refusals.clear();
        }
    }
}

/// Analyses `_PG_init` of a parsed library.
pub(crate) fn analyze(file: &mut ElfFile, dynamic: &DynamicInfo) -> PreloadFacts {
    let mut facts = PreloadFacts::default();
    let Some(init) = dynamic.symbols.iter().find(|s| s.name == "_PG_init" && s.is_export()) else {
        return facts;
    };
    facts.has_init = true;
    let imported: HashSet<&str> = dynamic
        .symbols
        .iter()
        .filter(|s| !s.defined)
        .map(|s| s.name.as_str())
        .collect();
    facts.degrades_imports = DEGRADES_WITHOUT
        .iter()
        .filter(|n| imported.contains(**n))
        .map(|n| n.to_string())
        .collect();
    let defines = imported
        .iter()
        .any(|n| n.starts_with("DefineCustom") && n.ends_with("Variable"));
    let shmem = imported.contains("RequestAddinShmemSpace") || imported.contains("RequestNamedLWLockTranche");
    let flag = imported.contains(PRELOAD_FLAG);
    // Without any of these, nothing in _PG_init can depend on preloading in a way that fails.
    let decides = flag || defines || shmem;
    // A library that opens others itself, or publishes a rendezvous variable, is walked for
    // their names, however it answers the rest.
    if !decides && !imported.contains("dlopen") && !imported.contains("find_rendezvous_variable") {
        return facts;
    }
    use super::header::{ByteOrder, ElfClass};
    match (file.header.machine, file.header.class, file.header.byte_order) {
        (62, ElfClass::Elf64, _) => walk_both(
            X86_64::default(),
            file,
            dynamic,
            init.value,
            &X86_64_GOT,
            decides,
            &mut facts,
        ),
        (183, ElfClass::Elf64, ByteOrder::Little) => {
            walk_both(Aarch64, file, dynamic, init.value, &AARCH64_GOT, decides, &mut facts)
        }
        (machine, ..) if decides => {
            facts.undecided = Some(format!(
                "_PG_init of a {} library is not analysed (only x86-64 and little-endian AArch64 code is walked)",
                super::header::machine_name(machine)
            ));
        }
        _ => {}
    }
    facts
}

/// Relocation types that fill a GOT slot with an import's address: x86-64's `R_X86_64_64`,
/// `GLOB_DAT`, `JUMP_SLOT`.
const X86_64_GOT: [u32; 3] = [1, 6, 7];
/// AArch64's `R_AARCH64_ABS64`, `GLOB_DAT`, `JUMP_SLOT`.
const AARCH64_GOT: [u32; 3] = [257, 1025, 1026];

/// Walks `_PG_init` at `init` without and with the flag, and records in `facts` what refuses
/// (when `decides`: the library can depend on preloading) and what it opens with `dlopen()`.
fn walk_both<M: Machine>(
    machine: M,
    file: &mut ElfFile,
    dynamic: &DynamicInfo,
    init: u64,
    got_types: &[u32],
    decides: bool,
    facts: &mut PreloadFacts,
) {
    let slots = match got_slots(file, dynamic, got_types) {
        Ok(s) => s,
        Err(e) => {
            facts.undecided = Some(format!("the relocations could not be read: {e}"));
            return;
        }
    };
    let got = file
        .sections
        .iter()
        .filter(|s| s.name.starts_with(".got"))
        .map(|s| (s.addr, s.addr.saturating_add(s.size)))
        .collect();
    let mut walker = Walker {
        machine,
        file,
        slots,
        got,
        plt: HashMap::new(),
        windows: HashMap::new(),
        steps: 0,
        incomplete: None,
        found: Vec::new(),
        dlopened: Vec::new(),
        decided: HashMap::new(),
        other: HashMap::new(),
        returned_past_flag: false,
        rendezvous: Vec::new(),
        stored_rendezvous: 0,
    };
    let without = walker.walk(init, false, false);
    let incomplete = walker.incomplete.take();
    walker.other = std::mem::take(&mut walker.decided);
    let with = walker.walk(init, true, false);
    facts.publishes = (0..walker.rendezvous.len())
        .filter(|n| walker.stored_rendezvous & (1 << n) != 0)
        .map(|n| walker.rendezvous[n].clone())
        .collect();
    // Preloading itself fails when, with the flag set, no path past a branch the flag decides
    // returns and one of them raises an ERROR the walk without the flag never reaches. Then the
    // errors reached only without the flag are not "unless preloaded": the walk with it stopped
    // before their conditions (pgtt's "not in a transaction" after its refusal to be preloaded).
    let without_sites: HashSet<u64> = without.iter().map(|f| f.site).collect();
    let preload_refused = if walker.incomplete.is_none() && !walker.returned_past_flag {
        with.iter().find_map(|f| match &f.refusal {
            Ok(r @ Refusal::Raises { level, .. })
                if f.past_flag && *level >= ERROR_LEVEL && !without_sites.contains(&f.site) =>
            {
                Some(r.clone())
            }
            _ => None,
        })
    } else {
        None
    };
    // ereport sites reached with the flag true too are about something else.
    let raised_anyway: HashSet<u64> = with
        .iter()
        .filter(|f| matches!(f.refusal, Ok(Refusal::Raises { .. }) | Err(_)))
        .map(|f| f.site)
        .collect();
    facts.dlopens = std::mem::take(&mut walker.dlopened);
    let is_error = |f: &walk::Found| matches!(f.refusal, Ok(Refusal::Raises { level, .. }) if level >= ERROR_LEVEL);
    // An ERROR the walk without the flag reaches and the walk with it reaches too (or that is
    // not about the flag at all, when preloading itself fails).
    facts.raises_anyway = with.iter().any(|f| is_error(f) && without_sites.contains(&f.site))
        || (preload_refused.is_some() && without.iter().any(is_error));
    if !decides {
        return;
    }
    // Raised whatever the flag says: at a site the walk with the flag reaches too, or anywhere
    // when preloading itself fails.
    let refused = preload_refused.is_some();
    facts.preload_refused = preload_refused;
    let anyway = |site: u64| refused || raised_anyway.contains(&site);
    let mut uncertain = None;
    for f in without {
        let raises = matches!(f.refusal, Ok(Refusal::Raises { .. }));
        match f.refusal {
            Ok(_) | Err(_) if raises && anyway(f.site) => {}
            Err(why) if why.starts_with("ereport") && anyway(f.site) => {}
            Ok(r) => {
                if !facts.refusals.contains(&r) {
                    facts.refusals.push(r);
                }
            }
            Err(why) => {
                uncertain.get_or_insert(why);
            }
        }
    }
    let undecided = uncertain
        .or(incomplete)
        .map(|why| format!("_PG_init could not be followed to the end: {why}"));
    if facts.refusals.is_empty() {
        facts.undecided = undecided;
        return;
    }
    // A refusal may be "unless preloaded, or unless a preloaded loader said it is there": walked
    // once more without the flag, with every rendezvous variable set by another library.
    if !walker.rendezvous.is_empty() {
        let published = walker.walk(init, false, true);
        let remains = walker.incomplete.is_some()
            || published.iter().any(|f| {
                let raise = matches!(&f.refusal, Ok(Refusal::Raises { .. }))
                    || matches!(&f.refusal, Err(why) if why.starts_with("ereport"));
                !(raise && anyway(f.site))
            });
        if !remains {
            facts.unless_published = walker.rendezvous.clone();
            // What holds once they are set.
            facts.undecided = undecided;
        }
    }
}

/// GOT slot address → imported symbol name, for the watched imports (relocations of `got_types`).
fn got_slots(
    file: &mut ElfFile,
    dynamic: &DynamicInfo,
    got_types: &[u32],
) -> Result<HashMap<u64, &'static str>, super::ElfError> {
    // dynsym index (1-based in relocations) → watched name.
    let watched: HashMap<u32, &'static str> = dynamic
        .symbols
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.defined)
        .filter_map(|(i, s)| WATCHED.iter().find(|w| **w == s.name).map(|w| (i as u32 + 1, *w)))
        .collect();
    let mut out = HashMap::new();
    if watched.is_empty() {
        return Ok(out);
    }
    let endian = file.endian();
    let sections: Vec<(u64, u64)> = file
        .sections
        .iter()
        .filter(|s| s.is_alloc() && s.sh_type == elf::SHT_RELA.0)
        .map(|s| (s.offset, s.size))
        .collect();
    for (offset, size) in sections {
        file.stream_records::<elf::Rela64<Endianness>>("relocations", offset, size, |relas| {
            for r in relas {
                if got_types.contains(&r.r_type(endian, false).0)
                    && let Some(name) = watched.get(&r.r_sym(endian, false))
                {
                    out.insert(r.r_offset(endian), *name);
                }
            }
        })?;
    }
    Ok(out)
}
