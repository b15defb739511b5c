//! Does a library refuse to load unless it is in `shared_preload_libraries`? Decided from the
//! binary: what `_PG_init` imports, and a bounded walk of its x86-64 code.
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
//! When the walk cannot finish (another architecture, an indirect jump, the budget) on a library
//! that reads the flag and can raise or define variables, the answer is
//! [`PreloadNeed::Undecided`] — never a silent "loads".

use std::collections::{HashMap, HashSet};

use iced_x86::{
    ConditionCode, Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess,
    OpKind, Register,
};
use object::Endianness;
use object::elf;
use object::pod;
use object::read::elf::Rela as _;

use super::dynamic::DynamicInfo;
use super::file::ElfFile;

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
    if !flag && !defines && !shmem {
        return facts;
    }
    if (file.header.machine, file.header.class) != (62, super::header::ElfClass::Elf64) {
        facts.undecided = Some(format!(
            "_PG_init of a {} library is not analysed (only x86-64 code is walked)",
            super::header::machine_name(file.header.machine)
        ));
        return facts;
    }
    let slots = match got_slots(file, dynamic) {
        Ok(s) => s,
        Err(e) => {
            facts.undecided = Some(format!("the relocations could not be read: {e}"));
            return facts;
        }
    };
    let got = file
        .sections
        .iter()
        .filter(|s| s.name.starts_with(".got"))
        .map(|s| (s.addr, s.addr.saturating_add(s.size)))
        .collect();
    let mut walker = Walker {
        file,
        slots,
        got,
        plt: HashMap::new(),
        windows: HashMap::new(),
        steps: 0,
        incomplete: None,
        found: Vec::new(),
    };
    let without = walker.walk(init.value, false);
    let incomplete = walker.incomplete.take();
    let with = walker.walk(init.value, true);
    // ereport sites reached with the flag true too are about something else.
    let raised_anyway: HashSet<u64> = with
        .iter()
        .filter(|f| matches!(f.refusal, Ok(Refusal::Raises { .. }) | Err(_)))
        .map(|f| f.site)
        .collect();
    let mut uncertain = None;
    for f in without {
        let raises = matches!(f.refusal, Ok(Refusal::Raises { .. }));
        match f.refusal {
            Ok(_) | Err(_) if raises && raised_anyway.contains(&f.site) => {}
            Err(why) if why.starts_with("ereport") && raised_anyway.contains(&f.site) => {}
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
    if facts.refusals.is_empty() {
        facts.undecided = uncertain
            .or(incomplete)
            .map(|why| format!("_PG_init could not be followed to the end: {why}"));
    }
    facts
}

/// GOT slot address → imported symbol name, for the watched imports (`GLOB_DAT`, `JUMP_SLOT`,
/// `R_X86_64_64`).
fn got_slots(file: &mut ElfFile, dynamic: &DynamicInfo) -> Result<HashMap<u64, &'static str>, super::ElfError> {
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
    const ENTRY: u64 = size_of::<elf::Rela64<Endianness>>() as u64;
    const CHUNK: u64 = 4096;
    for (offset, size) in sections {
        let count = size / ENTRY;
        let mut done = 0u64;
        while done < count {
            let n = (count - done).min(CHUNK);
            let at = offset
                .checked_add(done * ENTRY)
                .ok_or_else(|| super::ElfError::malformed("relocation section offset overflows"))?;
            let data = file.read_at("relocations", at, n * ENTRY)?;
            let (relas, _) = pod::slice_from_bytes::<elf::Rela64<Endianness>>(&data, n as usize)
                .map_err(|_| super::ElfError::malformed("rela unreadable"))?;
            for r in relas {
                // GLOB_DAT 6, JUMP_SLOT 7, 64 1.
                if matches!(r.r_type(endian, false).0, 1 | 6 | 7)
                    && let Some(name) = watched.get(&r.r_sym(endian, false))
                {
                    out.insert(r.r_offset(endian), *name);
                }
            }
            done += n;
        }
    }
    Ok(out)
}

/// An abstract value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Val {
    Unknown,
    Const(u64),
    /// Points into the stack: entry `rsp` + offset.
    Stack(i64),
    /// The address of an imported symbol (loaded from its GOT slot).
    Import(&'static str),
    /// One of two constants, depending on something not known (`cond ? WARNING : ERROR`).
    Either(u64, u64),
    /// The address a GOT slot holds: one of the library's own exported variables.
    Got(u64),
}

/// The key of the variable a pointer addresses, for [`State::globals`]: its address, or its GOT
/// slot (tagged) when it is reached through the GOT.
fn global_key(base: Val, disp: u64) -> Option<u64> {
    match base {
        Val::Got(slot) if disp == 0 => Some(slot | 1 << 63),
        _ => None,
    }
}

impl Val {
    /// The constants this may be.
    fn values(self) -> Option<Vec<u64>> {
        match self {
            Val::Const(c) => Some(vec![c]),
            Val::Either(a, b) => Some(vec![a, b]),
            _ => None,
        }
    }

    fn from_values(mut v: Vec<u64>) -> Val {
        v.sort_unstable();
        v.dedup();
        match v[..] {
            [c] => Val::Const(c),
            [a, b] => Val::Either(a, b),
            _ => Val::Unknown,
        }
    }
}

fn mask(bits: u32) -> u64 {
    match bits {
        0 => u64::MAX, // an operand of no stated size: keep it whole
        64.. => u64::MAX,
        b => (1u64 << b) - 1,
    }
}

/// A two-operand ALU instruction on known operands: the result and, when single, its flags.
fn alu(m: Mnemonic, a: Val, b: Val, bits: u32, flags: Option<Flags>) -> Option<(Val, Option<Flags>)> {
    let (xs, ys) = (a.values()?, b.values()?);
    let cf = flags.map(|f| u64::from(f.cf));
    let mut out = Vec::new();
    let mut fl = None;
    for &x in &xs {
        for &y in &ys {
            let (r, f) = match m {
                Mnemonic::Add => {
                    let r = x.wrapping_add(y) & mask(bits);
                    (r, Some(flags_logic(r, bits, r < (x & mask(bits)))))
                }
                Mnemonic::Sub => (x.wrapping_sub(y) & mask(bits), Some(flags_sub(x, y, bits))),
                Mnemonic::And => (x & y & mask(bits), Some(flags_logic(x & y & mask(bits), bits, false))),
                Mnemonic::Or => (
                    (x | y) & mask(bits),
                    Some(flags_logic((x | y) & mask(bits), bits, false)),
                ),
                Mnemonic::Xor => (
                    (x ^ y) & mask(bits),
                    Some(flags_logic((x ^ y) & mask(bits), bits, false)),
                ),
                Mnemonic::Sbb => (x.wrapping_sub(y).wrapping_sub(cf?) & mask(bits), None),
                Mnemonic::Adc => (x.wrapping_add(y).wrapping_add(cf?) & mask(bits), None),
                Mnemonic::Shl => (x.wrapping_shl(y as u32) & mask(bits), None),
                Mnemonic::Shr => ((x & mask(bits)).wrapping_shr(y as u32), None),
                Mnemonic::Imul => (x.wrapping_mul(y) & mask(bits), None),
                _ => return None,
            };
            out.push(r);
            fl = f;
        }
    }
    let single = out.len() == 1;
    Some((Val::from_values(out), if single { fl } else { None }))
}

fn flags_logic(r: u64, bits: u32, cf: bool) -> Flags {
    Flags {
        zf: r == 0,
        sf: r & (1u64 << (bits - 1)) != 0,
        cf,
        of: false,
        pf: (r as u8).count_ones().is_multiple_of(2),
    }
}

/// Flags of the last `cmp`/`test` with known operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Flags {
    zf: bool,
    sf: bool,
    cf: bool,
    of: bool,
    pf: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    regs: [Val; 16],
    flags: Option<Flags>,
    stack: Vec<(i64, Val)>,
    /// The library's own variables written on this path (`backend_only = !flag;` tested later).
    globals: Vec<(u64, Val)>,
    /// An `ereport(ERROR)` begun here (site, level), waiting for its message.
    pending: Option<(u64, u64)>,
}

impl State {
    fn entry() -> State {
        let mut regs = [Val::Unknown; 16];
        regs[4] = Val::Stack(0);
        State {
            regs,
            flags: None,
            stack: Vec::new(),
            globals: Vec::new(),
            pending: None,
        }
    }

    fn store_global(&mut self, at: u64, v: Val) {
        self.globals.retain(|(a, _)| *a != at);
        if self.globals.len() < 64 && v != Val::Unknown {
            self.globals.push((at, v));
        }
    }

    fn load_global(&self, at: u64) -> Val {
        self.globals
            .iter()
            .find(|(a, _)| *a == at)
            .map(|(_, v)| *v)
            .unwrap_or(Val::Unknown)
    }

    fn store(&mut self, at: i64, v: Val) {
        self.stack.retain(|(o, _)| *o != at);
        if self.stack.len() < 64 {
            self.stack.push((at, v));
        }
    }

    fn load(&self, at: i64) -> Val {
        self.stack
            .iter()
            .find(|(o, _)| *o == at)
            .map(|(_, v)| *v)
            .unwrap_or(Val::Unknown)
    }

    /// The value of the n-th integer argument (0-based) at a call.
    fn arg(&self, n: usize) -> Val {
        const REGS: [usize; 6] = [7, 6, 2, 1, 8, 9]; // rdi rsi rdx rcx r8 r9
        match REGS.get(n) {
            Some(r) => self.regs[*r],
            None => match self.regs[4] {
                Val::Stack(sp) => self.load(sp + 8 * (n as i64 - 6)),
                _ => Val::Unknown,
            },
        }
    }

    fn clobber_call(&mut self) {
        for r in [0, 1, 2, 6, 7, 8, 9, 10, 11] {
            self.regs[r] = Val::Unknown;
        }
        self.flags = None;
    }
}

fn gpr(r: Register) -> Option<usize> {
    let full = r.full_register();
    if full.is_gpr64() { Some(full.number()) } else { None }
}

/// One way of refusing, at a call site.
#[derive(Debug, Clone)]
struct Found {
    site: u64,
    refusal: Result<Refusal, String>,
}

struct Walker<'f> {
    file: &'f mut ElfFile,
    slots: HashMap<u64, &'static str>,
    /// `.got*` address ranges.
    got: Vec<(u64, u64)>,
    /// PLT stub address → the import it jumps to (`None`: not a stub of a watched import).
    plt: HashMap<u64, Option<&'static str>>,
    /// Code read so far, in aligned windows (`None`: the window crosses a segment's end).
    windows: HashMap<u64, Option<Vec<u8>>>,
    steps: usize,
    incomplete: Option<String>,
    found: Vec<Found>,
}

/// Where a call goes.
enum Callee {
    Import(&'static str),
    Local(u64),
    Unknown,
}

impl Walker<'_> {
    fn walk(&mut self, entry: u64, flag: bool) -> Vec<Found> {
        self.found.clear();
        self.steps = 0;
        self.incomplete = None;
        self.function(entry, State::entry(), flag, 0);
        std::mem::take(&mut self.found)
    }

    fn incomplete(&mut self, why: String) {
        if self.incomplete.is_none() {
            self.incomplete = Some(why);
        }
    }

    /// Decodes the instruction at `addr`. Code is read in aligned windows of [`WINDOW`] bytes
    /// (plus the longest instruction) and kept for both walks: a large `_PG_init` decodes ~100 k
    /// instructions, one `pread` each otherwise. Worst case (every step in a new window) reads
    /// 2 × `MAX_STEPS` windows, well inside the per-file read budget; at most [`MAX_WINDOWS`]
    /// are kept.
    fn decode(&mut self, addr: u64) -> Option<Instruction> {
        let start = addr & !(WINDOW - 1);
        if !self.windows.contains_key(&start) {
            if self.windows.len() >= MAX_WINDOWS {
                self.windows.clear();
            }
            let w = self.file.read_vaddr(start, WINDOW + 16).ok().flatten();
            self.windows.insert(start, w);
        }
        let owned;
        let bytes = match self.windows.get(&start) {
            Some(Some(w)) => {
                let at = (addr - start) as usize; // < WINDOW
                &w[at..at + 16]
            }
            // At a segment's edge: what is mapped of the 16 bytes at `addr`.
            _ => {
                owned = self.code_at_edge(addr)?;
                &owned[..]
            }
        };
        let mut d = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE);
        let ins = d.decode();
        (!ins.is_invalid()).then_some(ins)
    }

    /// Code bytes at `addr` (up to 16, fewer near the end of a segment).
    fn code_at_edge(&mut self, addr: u64) -> Option<Vec<u8>> {
        let mut len = 16;
        while len > 0 {
            match self.file.read_vaddr(addr, len) {
                Ok(Some(b)) => return Some(b),
                Ok(None) => len /= 2,
                Err(_) => return None,
            }
        }
        None
    }

    /// The import a PLT stub at `addr` jumps to.
    fn plt_target(&mut self, addr: u64) -> Option<&'static str> {
        if let Some(t) = self.plt.get(&addr) {
            return *t;
        }
        let mut at = addr;
        let mut target = None;
        for _ in 0..3 {
            let Some(ins) = self.decode(at) else { break };
            match ins.mnemonic() {
                Mnemonic::Endbr64 | Mnemonic::Nop => at = ins.next_ip(),
                Mnemonic::Jmp if ins.op0_kind() == OpKind::Memory && ins.memory_base() == Register::RIP => {
                    target = self.slots.get(&ins.memory_displacement64()).copied();
                    break;
                }
                _ => break,
            }
        }
        self.plt.insert(addr, target);
        target
    }

    fn callee(&mut self, ins: &Instruction, st: &State) -> Callee {
        match ins.op0_kind() {
            OpKind::NearBranch64 => {
                let t = ins.near_branch_target();
                match self.plt_target(t) {
                    Some(name) => Callee::Import(name),
                    None if self.is_plt(t) => Callee::Unknown,
                    None => Callee::Local(t),
                }
            }
            OpKind::Memory if ins.memory_base() == Register::RIP => {
                match self.slots.get(&ins.memory_displacement64()) {
                    Some(n) => Callee::Import(n),
                    None => Callee::Unknown,
                }
            }
            OpKind::Register => match gpr(ins.op0_register()).map(|r| st.regs[r]) {
                Some(Val::Import(n)) => Callee::Import(n),
                _ => Callee::Unknown,
            },
            _ => Callee::Unknown,
        }
    }

    fn is_got(&self, addr: u64) -> bool {
        self.file
            .sections
            .iter()
            .any(|s| s.name.starts_with(".got") && addr >= s.addr && addr < s.addr.saturating_add(s.size))
    }

    fn is_plt(&self, addr: u64) -> bool {
        self.file
            .sections
            .iter()
            .any(|s| s.name.starts_with(".plt") && addr >= s.addr && addr < s.addr.saturating_add(s.size))
    }

    fn c_string(&mut self, v: Val) -> Option<String> {
        match v {
            Val::Const(a) => self.file.read_c_string(a, 512).ok().flatten(),
            _ => None,
        }
    }

    /// Follows one function from `entry` with `st`; records refusals in `self.found`.
    fn function(&mut self, entry: u64, st: State, flag: bool, depth: usize) {
        let mut todo: Vec<(u64, State)> = vec![(entry, st)];
        // States are kept only where paths can join: the entry and every branch target taken or
        // queued so far. Every cycle passes a branch target, so loops still meet their own earlier
        // states; a path that fell through a target before the branch to it was seen is walked
        // once more at most. (Keeping a state per instruction cloned it at every step.)
        let mut joins: HashSet<u64> = HashSet::from([entry]);
        let mut seen: HashMap<u64, Vec<State>> = HashMap::new();
        let mut info = InstructionInfoFactory::new();
        'path: while let Some((mut ip, mut st)) = todo.pop() {
            loop {
                self.steps += 1;
                if self.steps > MAX_STEPS {
                    self.incomplete(format!("more than {MAX_STEPS} instructions"));
                    return;
                }
                if joins.contains(&ip) {
                    let states = seen.entry(ip).or_default();
                    if states.contains(&st) {
                        continue 'path;
                    }
                    if states.len() >= MAX_STATES_PER_ADDR {
                        // Too many variants here (a loop): widen to what every path agrees on —
                        // only the stack pointers, the flag's address and a pending ereport stay.
                        // Followed once more, this over-approximates every path it stands for.
                        for (i, r) in st.regs.iter_mut().enumerate() {
                            if !(i == 4 || i == 5 || matches!(r, Val::Import(_))) {
                                *r = Val::Unknown;
                            }
                        }
                        st.flags = None;
                        st.stack.clear();
                        st.globals.clear();
                        if states.contains(&st) {
                            continue 'path;
                        }
                        if states.len() >= 4 * MAX_STATES_PER_ADDR {
                            self.incomplete(format!("too many paths through {ip:#x}"));
                            continue 'path;
                        }
                    }
                    states.push(st.clone());
                }
                let Some(ins) = self.decode(ip) else {
                    self.incomplete(format!("undecodable code at {ip:#x}"));
                    continue 'path;
                };
                let next = ins.next_ip();
                match ins.flow_control() {
                    FlowControl::Return => continue 'path,
                    FlowControl::Interrupt | FlowControl::Exception => continue 'path, // int3, ud2
                    FlowControl::UnconditionalBranch => {
                        if ins.op0_kind() == OpKind::NearBranch64 {
                            let t = ins.near_branch_target();
                            // A tail call to an import.
                            if let Some(name) = self.plt_target(t) {
                                self.call_import(name, ip, &mut st, flag);
                                continue 'path;
                            }
                            if self.is_plt(t) {
                                continue 'path; // a tail call to an import not watched
                            }
                            joins.insert(t);
                            ip = t;
                            continue;
                        }
                        self.incomplete(format!("unsupported jump at {ip:#x}"));
                        continue 'path;
                    }
                    FlowControl::IndirectBranch => {
                        match self.callee(&ins, &st) {
                            Callee::Import(name) => {
                                self.call_import(name, ip, &mut st, flag);
                            }
                            // A tail call through the GOT (-fno-plt) to an import not watched.
                            _ if ins.op0_kind() == OpKind::Memory
                                && ins.memory_base() == Register::RIP
                                && self.is_got(ins.memory_displacement64()) => {}
                            _ => self.incomplete(format!("indirect jump at {ip:#x}")),
                        }
                        continue 'path;
                    }
                    FlowControl::ConditionalBranch => {
                        let t = ins.near_branch_target();
                        joins.insert(t);
                        match st.flags.and_then(|f| eval(ins.condition_code(), f)) {
                            Some(true) => ip = t,
                            Some(false) => ip = next,
                            None => {
                                todo.push((t, st.clone()));
                                ip = next;
                            }
                        }
                        continue;
                    }
                    FlowControl::Call | FlowControl::IndirectCall => {
                        match self.callee(&ins, &st) {
                            Callee::Import(name) if self.call_import(name, ip, &mut st, flag) => continue 'path,
                            Callee::Import(_) => {}
                            Callee::Local(t) if depth < MAX_DEPTH => {
                                let mut inner = st.clone();
                                // The return address.
                                if let Val::Stack(sp) = inner.regs[4] {
                                    inner.regs[4] = Val::Stack(sp - 8);
                                }
                                inner.pending = None;
                                self.function(t, inner, flag, depth + 1);
                            }
                            Callee::Unknown if ins.flow_control() == FlowControl::IndirectCall => {
                                // A function pointer may write any of the library's variables.
                                st.globals.clear();
                            }
                            _ => {}
                        }
                        st.clobber_call();
                        ip = next;
                        continue;
                    }
                    _ => {}
                }
                step(&ins, &mut st, flag, &self.slots, &self.got, &mut info);
                ip = next;
            }
        }
    }

    /// A call to an import; `true` when the path ends there.
    fn call_import(&mut self, name: &'static str, site: u64, st: &mut State, flag: bool) -> bool {
        match name {
            "errstart" | "errstart_cold" => {
                let level = match st.arg(0) {
                    // `cond ? WARNING : ERROR` (pg_cron during binary upgrade): the level that
                    // holds in normal operation is the higher one.
                    Val::Either(a, b) if a.max(b) >= ERROR_LEVEL => Val::Const(a.max(b)),
                    v => v,
                };
                match level {
                    Val::Const(level) if level >= ERROR_LEVEL => {
                        st.pending = Some((site, level));
                        st.clobber_call();
                        // errstart() returns true for ERROR and above: the `else` is
                        // unreachable (the compiler may let it fall into the next function).
                        st.regs[0] = Val::Const(1);
                        return false;
                    }
                    Val::Const(_) => {}
                    _ => {
                        // Compared with the other walk like a known ERROR: only a site reached
                        // without preloading alone leaves the answer open.
                        self.found.push(Found {
                            site,
                            refusal: Err(format!("ereport at {site:#x} with a level not known statically")),
                        });
                    }
                }
            }
            "errmsg" | "errmsg_internal" => {
                if let Some((s, level)) = st.pending.take() {
                    let message = self.c_string(st.arg(0));
                    self.found.push(Found {
                        site: s,
                        refusal: Ok(Refusal::Raises { level, message }),
                    });
                    return true;
                }
            }
            "errfinish" => {
                if let Some((s, level)) = st.pending.take() {
                    self.found.push(Found {
                        site: s,
                        refusal: Ok(Refusal::Raises { level, message: None }),
                    });
                    return true;
                }
            }
            "DefineCustomBoolVariable"
            | "DefineCustomIntVariable"
            | "DefineCustomRealVariable"
            | "DefineCustomStringVariable"
            | "DefineCustomEnumVariable" => {
                // It stores the boot value (or a placeholder's) into *valueAddr.
                if let Val::Const(addr) = st.arg(3) {
                    st.store_global(addr, Val::Unknown);
                }
                // The context's position among the integer-class arguments.
                let n = match name {
                    "DefineCustomBoolVariable" | "DefineCustomStringVariable" => 5,
                    "DefineCustomIntVariable" => 7,
                    "DefineCustomRealVariable" => 4, // the doubles go in xmm registers
                    _ => 6,
                };
                match st.arg(n) {
                    Val::Const(PGC_POSTMASTER) if !flag => {
                        let var = self.c_string(st.arg(0));
                        self.found.push(Found {
                            site,
                            refusal: Ok(Refusal::PostmasterVariable { name: var }),
                        });
                        return true;
                    }
                    Val::Const(_) => {}
                    _ if !flag => {
                        self.found.push(Found {
                            site,
                            refusal: Err(format!("{name} at {site:#x} with a context not known statically")),
                        });
                    }
                    _ => {}
                }
            }
            "RequestAddinShmemSpace" | "RequestNamedLWLockTranche" if !flag => {
                self.found.push(Found {
                    site,
                    refusal: Ok(Refusal::ShmemRequest { function: name }),
                });
                return true;
            }
            "abort"
            | "exit"
            | "_exit"
            | "__stack_chk_fail"
            | "ExceptionalCondition"
            | "pg_re_throw"
            | "proc_exit"
            | "__cxa_throw"
            | "_Unwind_Resume" => return true,
            _ => {}
        }
        st.clobber_call();
        false
    }
}

/// Evaluates a condition on known flags.
fn eval(cc: ConditionCode, f: Flags) -> Option<bool> {
    Some(match cc {
        ConditionCode::o => f.of,
        ConditionCode::no => !f.of,
        ConditionCode::b => f.cf,
        ConditionCode::ae => !f.cf,
        ConditionCode::e => f.zf,
        ConditionCode::ne => !f.zf,
        ConditionCode::be => f.cf || f.zf,
        ConditionCode::a => !f.cf && !f.zf,
        ConditionCode::s => f.sf,
        ConditionCode::ns => !f.sf,
        ConditionCode::p => f.pf,
        ConditionCode::np => !f.pf,
        ConditionCode::l => f.sf != f.of,
        ConditionCode::ge => f.sf == f.of,
        ConditionCode::le => f.zf || f.sf != f.of,
        ConditionCode::g => !f.zf && f.sf == f.of,
        ConditionCode::None => return None,
    })
}

fn flags_sub(a: u64, b: u64, bits: u32) -> Flags {
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let (a, b) = (a & mask, b & mask);
    let r = a.wrapping_sub(b) & mask;
    let sign = 1u64 << (bits - 1);
    Flags {
        zf: r == 0,
        sf: r & sign != 0,
        cf: a < b,
        of: ((a ^ b) & (a ^ r) & sign) != 0,
        pf: (r as u8).count_ones().is_multiple_of(2),
    }
}

fn flags_and(a: u64, b: u64, bits: u32) -> Flags {
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let r = a & b & mask;
    Flags {
        zf: r == 0,
        sf: r & (1u64 << (bits - 1)) != 0,
        cf: false,
        of: false,
        pf: (r as u8).count_ones().is_multiple_of(2),
    }
}

/// The stack offset a memory operand addresses, when its base points into the stack.
fn stack_addr(ins: &Instruction, st: &State) -> Option<i64> {
    if ins.memory_index() != Register::None {
        return None;
    }
    match gpr(ins.memory_base()).map(|r| st.regs[r]) {
        Some(Val::Stack(o)) => Some(o + ins.memory_displacement64() as i64),
        _ => None,
    }
}

/// The value a memory operand reads.
fn mem_load(ins: &Instruction, st: &State, flag: bool, slots: &HashMap<u64, &'static str>, got: &[(u64, u64)]) -> Val {
    if ins.memory_base() == Register::RIP {
        let at = ins.memory_displacement64();
        return match slots.get(&at) {
            Some(name) => Val::Import(name),
            None if got.iter().any(|(a, b)| at >= *a && at < *b) && ins.memory_size().size() == 8 => Val::Got(at),
            None => st.load_global(at),
        };
    }
    if ins.memory_index() == Register::None
        && let Some(key) = gpr(ins.memory_base()).and_then(|r| global_key(st.regs[r], ins.memory_displacement64()))
    {
        return st.load_global(key);
    }
    if let Some(o) = stack_addr(ins, st) {
        return st.load(o);
    }
    match gpr(ins.memory_base()).map(|r| st.regs[r]) {
        Some(Val::Import(PRELOAD_FLAG)) if ins.memory_displacement64() == 0 && ins.memory_index() == Register::None => {
            Val::Const(u64::from(flag))
        }
        _ => Val::Unknown,
    }
}

/// The value of operand `n` (register, immediate, memory).
fn operand(
    ins: &Instruction,
    n: u32,
    st: &State,
    flag: bool,
    slots: &HashMap<u64, &'static str>,
    got: &[(u64, u64)],
) -> Val {
    match ins.op_kind(n) {
        OpKind::Register => gpr(ins.op_register(n)).map(|r| st.regs[r]).unwrap_or(Val::Unknown),
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate64
        | OpKind::Immediate8to16
        | OpKind::Immediate8to32
        | OpKind::Immediate8to64
        | OpKind::Immediate32to64 => Val::Const(ins.immediate(n)),
        OpKind::Memory => mem_load(ins, st, flag, slots, got),
        _ => Val::Unknown,
    }
}

fn op_bits(ins: &Instruction) -> u32 {
    match ins.op_kind(0) {
        OpKind::Register => ins.op0_register().size() as u32 * 8,
        OpKind::Memory => ins.memory_size().size() as u32 * 8,
        _ => 64,
    }
}

/// Applies one non-branch instruction to the state.
fn step(
    ins: &Instruction,
    st: &mut State,
    flag: bool,
    slots: &HashMap<u64, &'static str>,
    got: &[(u64, u64)],
    info: &mut InstructionInfoFactory,
) {
    let sp = match st.regs[4] {
        Val::Stack(o) => Some(o),
        _ => None,
    };
    // The computed result for the destination register, if this instruction is understood.
    let mut result: Option<(usize, Val)> = None;
    let mut new_flags: Option<Option<Flags>> = None;
    match ins.mnemonic() {
        Mnemonic::Push => {
            let v = operand(ins, 0, st, flag, slots, got);
            if let Some(o) = sp {
                st.store(o - 8, v);
                st.regs[4] = Val::Stack(o - 8);
            }
            return;
        }
        Mnemonic::Pop => {
            let v = sp.map(|o| st.load(o)).unwrap_or(Val::Unknown);
            if let Some(o) = sp {
                st.regs[4] = Val::Stack(o + 8);
            }
            if let Some(r) = gpr(ins.op0_register()) {
                st.regs[r] = v;
            }
            return;
        }
        Mnemonic::Mov | Mnemonic::Movzx => {
            let v = operand(ins, 1, st, flag, slots, got);
            let bits = op_bits(ins);
            match ins.op0_kind() {
                OpKind::Register => {
                    if let Some(r) = gpr(ins.op0_register()) {
                        let v = match (v.values(), ins.mnemonic(), bits) {
                            (_, _, 64) => v,
                            // A byte or word moved into a register leaves the upper bits as
                            // they were, which code does not rely on after such a move (the
                            // compiler knows them to be undefined): the low bits are the value.
                            (Some(xs), Mnemonic::Movzx, _) | (Some(xs), _, 8 | 16 | 32) => {
                                // movzx reads a byte or word; the source value was that wide
                                // when it came from a flag or a small constant.
                                let src = match ins.op_kind(1) {
                                    OpKind::Memory => ins.memory_size().size() as u32 * 8,
                                    OpKind::Register => ins.op1_register().size() as u32 * 8,
                                    _ => bits,
                                };
                                Val::from_values(xs.into_iter().map(|x| x & mask(src.min(bits))).collect())
                            }
                            _ => Val::Unknown,
                        };
                        result = Some((r, v));
                    }
                }
                OpKind::Memory => {
                    let v = match v {
                        Val::Const(c) if bits < 64 => Val::Const(c & ((1u64 << bits) - 1)),
                        v if bits == 64 => v,
                        _ => Val::Unknown,
                    };
                    if let Some(o) = stack_addr(ins, st) {
                        st.store(o, v);
                    } else if ins.memory_base() == Register::RIP {
                        st.store_global(ins.memory_displacement64(), v);
                    } else if let Some(key) = gpr(ins.memory_base())
                        .filter(|_| ins.memory_index() == Register::None)
                        .and_then(|r| global_key(st.regs[r], ins.memory_displacement64()))
                    {
                        st.store_global(key, v);
                    }
                    return;
                }
                _ => {}
            }
        }
        Mnemonic::Lea => {
            if let Some(r) = gpr(ins.op0_register()) {
                let base = gpr(ins.memory_base()).map(|b| st.regs[b]);
                let v = if ins.memory_base() == Register::RIP {
                    Val::Const(ins.memory_displacement64())
                } else if let Some(o) = stack_addr(ins, st) {
                    Val::Stack(o)
                } else if let (Some(xs), Register::None) = (base.and_then(Val::values), ins.memory_index()) {
                    // `lea r, [base+disp]` as arithmetic on a known base.
                    let bits = op_bits(ins);
                    Val::from_values(
                        xs.into_iter()
                            .map(|x| x.wrapping_add(ins.memory_displacement64()) & mask(bits))
                            .collect(),
                    )
                } else {
                    Val::Unknown
                };
                result = Some((
                    r,
                    if op_bits(ins) >= 32 || matches!(v, Val::Const(_) | Val::Either(..)) {
                        v
                    } else {
                        Val::Unknown
                    },
                ));
            }
        }
        Mnemonic::Xor
            if ins.op0_kind() == OpKind::Register
                && ins.op_kind(1) == OpKind::Register
                && ins.op0_register() == ins.op1_register() =>
        {
            if let Some(r) = gpr(ins.op0_register()) {
                result = Some((r, Val::Const(0)));
                new_flags = Some(Some(flags_and(0, 0, 32)));
            }
        }
        Mnemonic::Sub | Mnemonic::Add if ins.op0_kind() == OpKind::Register && ins.op0_register() == Register::RSP => {
            if let (Some(o), Val::Const(c)) = (sp, operand(ins, 1, st, flag, slots, got)) {
                let c = c as i64;
                st.regs[4] = Val::Stack(if ins.mnemonic() == Mnemonic::Sub { o - c } else { o + c });
                st.flags = None;
                return;
            }
        }
        Mnemonic::Sbb
            if ins.op0_kind() == OpKind::Register
                && ins.op_kind(1) == OpKind::Register
                && ins.op0_register() == ins.op1_register() =>
        {
            // `sbb r, r` is minus the carry (the branchless `c ? x : y`): 0 or all ones.
            if let Some(r) = gpr(ins.op0_register()) {
                let bits = op_bits(ins);
                let v = match st.flags {
                    _ if bits < 32 => Val::Unknown,
                    Some(f) => Val::Const(if f.cf { mask(bits) } else { 0 }),
                    None => Val::Either(0, mask(bits)),
                };
                result = Some((r, v));
            }
        }
        Mnemonic::Add
        | Mnemonic::Sub
        | Mnemonic::And
        | Mnemonic::Or
        | Mnemonic::Xor
        | Mnemonic::Sbb
        | Mnemonic::Adc
        | Mnemonic::Shl
        | Mnemonic::Shr
        | Mnemonic::Imul
            if ins.op0_kind() == OpKind::Register && ins.op_count() == 2 =>
        {
            let bits = op_bits(ins);
            if let Some(r) = gpr(ins.op0_register())
                && bits >= 32
            {
                let (a, b) = (st.regs[r], operand(ins, 1, st, flag, slots, got));
                match alu(ins.mnemonic(), a, b, bits, st.flags) {
                    Some((v, f)) => {
                        result = Some((r, v));
                        new_flags = Some(f);
                    }
                    None => result = Some((r, Val::Unknown)),
                }
            }
        }
        Mnemonic::Neg | Mnemonic::Not | Mnemonic::Inc | Mnemonic::Dec if ins.op0_kind() == OpKind::Register => {
            let bits = op_bits(ins);
            if let Some(r) = gpr(ins.op0_register())
                && bits >= 32
            {
                let v = st.regs[r].values().map(|xs| {
                    Val::from_values(
                        xs.into_iter()
                            .map(|x| {
                                (match ins.mnemonic() {
                                    Mnemonic::Neg => 0u64.wrapping_sub(x),
                                    Mnemonic::Not => !x,
                                    Mnemonic::Inc => x.wrapping_add(1),
                                    _ => x.wrapping_sub(1),
                                }) & mask(bits)
                            })
                            .collect(),
                    )
                });
                result = Some((r, v.unwrap_or(Val::Unknown)));
            }
        }
        Mnemonic::Cmp | Mnemonic::Test => {
            let bits = op_bits(ins);
            let (a, b) = (
                operand(ins, 0, st, flag, slots, got),
                operand(ins, 1, st, flag, slots, got),
            );
            st.flags = match (a, b) {
                (Val::Const(a), Val::Const(b)) if bits > 0 => Some(if ins.mnemonic() == Mnemonic::Cmp {
                    flags_sub(a, b, bits)
                } else {
                    flags_and(a, b, bits)
                }),
                _ => None,
            };
            return;
        }
        Mnemonic::Cmove
        | Mnemonic::Cmovne
        | Mnemonic::Cmovb
        | Mnemonic::Cmovae
        | Mnemonic::Cmovbe
        | Mnemonic::Cmova
        | Mnemonic::Cmovs
        | Mnemonic::Cmovns
        | Mnemonic::Cmovl
        | Mnemonic::Cmovge
        | Mnemonic::Cmovle
        | Mnemonic::Cmovg => {
            if let Some(r) = gpr(ins.op0_register()) {
                let v = match st.flags.and_then(|f| eval(ins.condition_code(), f)) {
                    Some(true) => operand(ins, 1, st, flag, slots, got),
                    Some(false) => st.regs[r],
                    None => match (st.regs[r], operand(ins, 1, st, flag, slots, got)) {
                        (Val::Const(a), Val::Const(b)) => Val::from_values(vec![a, b]),
                        _ => Val::Unknown,
                    },
                };
                let v = match (v, op_bits(ins)) {
                    (Val::Const(c), 32) => Val::Const(c & 0xffff_ffff),
                    (v, 64) => v,
                    _ => Val::Unknown,
                };
                result = Some((r, v));
            }
        }
        Mnemonic::Sete
        | Mnemonic::Setne
        | Mnemonic::Setb
        | Mnemonic::Setae
        | Mnemonic::Setbe
        | Mnemonic::Seta
        | Mnemonic::Sets
        | Mnemonic::Setns
        | Mnemonic::Setl
        | Mnemonic::Setge
        | Mnemonic::Setle
        | Mnemonic::Setg => {
            // Writes a byte: the full register is known only if it was a known constant.
            if let (OpKind::Register, Some(r)) = (ins.op0_kind(), gpr(ins.op0_register())) {
                let v = match (st.regs[r], st.flags.and_then(|f| eval(ins.condition_code(), f))) {
                    (Val::Const(c), Some(b)) if ins.op0_register().size() == 1 => {
                        Val::Const((c & !0xff) | u64::from(b))
                    }
                    (Val::Const(c), None) if ins.op0_register().size() == 1 => Val::Either(c & !0xff, (c & !0xff) | 1),
                    _ => Val::Unknown,
                };
                result = Some((r, v));
            }
        }
        _ => {}
    }
    // Everything written that was not computed above becomes unknown.
    let written: Vec<(Register, OpAccess)> = info
        .info(ins)
        .used_registers()
        .iter()
        .map(|u| (u.register(), u.access()))
        .collect();
    for (reg, access) in written {
        if matches!(
            access,
            OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite | OpAccess::ReadCondWrite
        ) && let Some(r) = gpr(reg)
        {
            if r == 4 && !matches!(ins.mnemonic(), Mnemonic::Leave) {
                // rsp changed in a way not modelled: stack arguments become unknown.
                st.regs[4] = Val::Unknown;
            } else if r == 4 {
                // leave: rsp = rbp + 8, rbp popped.
                let rbp = st.regs[5];
                if let Val::Stack(o) = rbp {
                    st.regs[5] = st.load(o);
                    st.regs[4] = Val::Stack(o + 8);
                } else {
                    st.regs[4] = Val::Unknown;
                    st.regs[5] = Val::Unknown;
                }
            } else if !matches!(ins.mnemonic(), Mnemonic::Leave) {
                st.regs[r] = Val::Unknown;
            }
        }
    }
    if let Some(mem_sp) = (ins.op0_kind() == OpKind::Memory)
        .then(|| stack_addr(ins, st))
        .flatten()
        && !matches!(ins.mnemonic(), Mnemonic::Cmp | Mnemonic::Test)
    {
        // A stack slot written by an instruction not modelled.
        st.store(mem_sp, Val::Unknown);
    }
    if ins.op0_kind() == OpKind::Memory
        && ins.memory_base() == Register::RIP
        && !matches!(ins.mnemonic(), Mnemonic::Cmp | Mnemonic::Test)
    {
        st.store_global(ins.memory_displacement64(), Val::Unknown);
    }
    if let Some((r, v)) = result {
        st.regs[r] = v;
    }
    match new_flags {
        Some(f) => st.flags = f,
        None if ins.rflags_modified() != 0 => st.flags = None,
        None => {}
    }
}
