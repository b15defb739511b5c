//! Following `_PG_init` and the local functions it calls: code read in bounded windows, PLT stubs
//! named, branches on the preload flag decided and others both taken, within a step budget.

use std::collections::{HashMap, HashSet};

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpKind, Register};

use super::machine::{State, Val, eval, gpr, step};
use super::{ERROR_LEVEL, MAX_DEPTH, MAX_STATES_PER_ADDR, MAX_STEPS, MAX_WINDOWS, PGC_POSTMASTER, Refusal, WINDOW};
use crate::elf::file::ElfFile;

/// One way of refusing, at a call site.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) site: u64,
    pub(super) refusal: Result<Refusal, String>,
}

pub(super) struct Walker<'f> {
    pub(super) file: &'f mut ElfFile,
    pub(super) slots: HashMap<u64, &'static str>,
    /// `.got*` address ranges.
    pub(super) got: Vec<(u64, u64)>,
    /// PLT stub address → the import it jumps to (`None`: not a stub of a watched import).
    pub(super) plt: HashMap<u64, Option<&'static str>>,
    /// Code read so far, in aligned windows (`None`: the window crosses a segment's end).
    pub(super) windows: HashMap<u64, Option<Vec<u8>>>,
    pub(super) steps: usize,
    pub(super) incomplete: Option<String>,
    pub(super) found: Vec<Found>,
}

/// Where a call goes.
pub(super) enum Callee {
    Import(&'static str),
    Local(u64),
    Unknown,
}

impl Walker<'_> {
    pub(super) fn walk(&mut self, entry: u64, flag: bool) -> Vec<Found> {
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
