//! Following `_PG_init` and the local functions it calls: code read in bounded windows, PLT stubs
//! named, branches on the preload flag decided and others both taken, within a step budget.

use std::collections::{HashMap, HashSet};

use super::machine::{Cx, Flow, Machine, State, Target, Val};
use super::{ERROR_LEVEL, MAX_DEPTH, MAX_STATES_PER_ADDR, MAX_STEPS, MAX_WINDOWS, PGC_POSTMASTER, Refusal, WINDOW};
use crate::elf::file::ElfFile;

/// One way of refusing, at a call site.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) site: u64,
    pub(super) refusal: Result<Refusal, String>,
    /// Reached past a branch the flag decides ([`State::past_flag`]).
    pub(super) past_flag: bool,
}

pub(super) struct Walker<'f, M: Machine> {
    /// The architecture's instruction semantics.
    pub(super) machine: M,
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
    /// Names `_PG_init` passes to `dlopen()` as constant strings, in either walk.
    pub(super) dlopened: Vec<String>,
    /// Branches decided in this walk, by address: bit 1 not taken, bit 2 taken (both: followed
    /// both ways).
    pub(super) decided: HashMap<u64, u8>,
    /// The previous walk's `decided`: a branch it decided one way and this walk the other is one
    /// the flag decides, and a path that takes it is [`State::past_flag`].
    pub(super) other: HashMap<u64, u8>,
    /// A path past such a branch returned (at any depth: a callee's return continues its
    /// caller's path, which the walk does not carry back).
    pub(super) returned_past_flag: bool,
    /// Names passed to `find_rendezvous_variable()` as constant strings (at most 8).
    pub(super) rendezvous: Vec<String>,
    /// Rendezvous slots (bits, as [`State::stored_rendezvous`]) stored into on a path that
    /// returned, in this walk.
    pub(super) stored_rendezvous: u8,
}

/// Where a call goes.
enum Callee {
    Import(&'static str),
    Local(u64),
    Unknown,
}

impl<M: Machine> Walker<'_, M> {
    /// Walks `_PG_init` at `entry` with the flag as given; with `published`, every rendezvous
    /// variable it reads has been set by another library.
    pub(super) fn walk(&mut self, entry: u64, flag: bool, published: bool) -> Vec<Found> {
        self.found.clear();
        self.steps = 0;
        self.incomplete = None;
        self.decided.clear();
        self.returned_past_flag = false;
        self.stored_rendezvous = 0;
        let mut st = State::entry(M::SP);
        st.published = published;
        self.function(entry, st, flag, 0);
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
    fn decode(&mut self, addr: u64) -> Option<M::Insn> {
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
        let bytes: &[u8] = bytes;
        self.machine.decode(bytes, addr)
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
        let mut stub = Vec::with_capacity(M::PLT_INSNS);
        let mut at = addr;
        while stub.len() < M::PLT_INSNS {
            let Some(ins) = self.decode(at) else { break };
            let next = self.machine.next(&ins, at);
            stub.push((at, ins));
            at = next;
        }
        let target = M::plt_slot(&stub).and_then(|slot| self.slots.get(&slot).copied());
        self.plt.insert(addr, target);
        target
    }

    /// Where a call's target leads.
    fn callee(&mut self, target: Target) -> Callee {
        match target {
            Target::Direct(t) => match self.plt_target(t) {
                Some(name) => Callee::Import(name),
                None if self.is_plt(t) => Callee::Unknown,
                None => Callee::Local(t),
            },
            Target::Import(name) => Callee::Import(name),
            Target::OtherImport | Target::Unknown => Callee::Unknown,
        }
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
                        // only the stack and frame pointers, import addresses and a pending
                        // ereport stay. Followed once more, this over-approximates every path it
                        // stands for.
                        for (i, r) in st.regs.iter_mut().enumerate() {
                            if !(M::KEPT.contains(&i) || matches!(r, Val::Import(_))) {
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
                let next = self.machine.next(&ins, ip);
                let cx = Cx {
                    slots: &self.slots,
                    got: &self.got,
                };
                match self.machine.flow(&ins, ip, &st, &cx) {
                    Flow::Step => {
                        self.machine.step(&ins, ip, &mut st, flag, &cx);
                        ip = next;
                    }
                    Flow::Return => {
                        self.returned(&st);
                        continue 'path;
                    }
                    Flow::End => continue 'path,
                    Flow::Jump(t) => {
                        // A tail call to an import.
                        if let Some(name) = self.plt_target(t) {
                            if !self.call_import(name, ip, &mut st, flag) {
                                self.returned(&st);
                            }
                            continue 'path;
                        }
                        if self.is_plt(t) {
                            self.returned(&st); // a tail call to an import not watched
                            continue 'path;
                        }
                        joins.insert(t);
                        ip = t;
                    }
                    Flow::IndirectJump(target) => {
                        match target {
                            Target::Import(name) => {
                                if !self.call_import(name, ip, &mut st, flag) {
                                    self.returned(&st);
                                }
                            }
                            // A tail call through the GOT (-fno-plt) to an import not watched.
                            Target::OtherImport => self.returned(&st),
                            _ => self.incomplete(format!("indirect jump at {ip:#x}")),
                        }
                        continue 'path;
                    }
                    Flow::Branch(t, decided) => {
                        joins.insert(t);
                        let bit = match decided {
                            Some(true) => 2,
                            Some(false) => 1,
                            None => 3,
                        };
                        *self.decided.entry(ip).or_default() |= bit;
                        if bit != 3 && self.other.get(&ip) == Some(&(3 - bit)) {
                            st.past_flag = true;
                        }
                        match decided {
                            Some(true) => ip = t,
                            Some(false) => ip = next,
                            None => {
                                todo.push((t, st.clone()));
                                ip = next;
                            }
                        }
                    }
                    Flow::Call(target, indirect) => {
                        match self.callee(target) {
                            // call_import leaves the state as the call does (errstart's result).
                            Callee::Import(name) if self.call_import(name, ip, &mut st, flag) => continue 'path,
                            Callee::Import(_) => {
                                ip = next;
                                continue;
                            }
                            Callee::Local(t) if depth < MAX_DEPTH => {
                                let mut inner = st.clone();
                                M::enter_call(&mut inner);
                                inner.pending = None;
                                self.function(t, inner, flag, depth + 1);
                            }
                            Callee::Unknown if indirect => {
                                // A function pointer may write any of the library's variables.
                                st.globals.clear();
                            }
                            _ => {}
                        }
                        M::clobber_call(&mut st);
                        ip = next;
                    }
                }
            }
        }
    }

    /// A path returns from a function (or tail-calls an import that returns).
    fn returned(&mut self, st: &State) {
        self.returned_past_flag |= st.past_flag;
        self.stored_rendezvous |= st.stored_rendezvous;
    }

    /// What the walk found at `site` on the path of `st`.
    fn record(&mut self, st: &State, site: u64, refusal: Result<Refusal, String>) {
        self.found.push(Found {
            site,
            refusal,
            past_flag: st.past_flag,
        });
    }

    /// A call to an import; `true` when the path ends there.
    fn call_import(&mut self, name: &'static str, site: u64, st: &mut State, flag: bool) -> bool {
        match name {
            "errstart" | "errstart_cold" => {
                let level = match M::arg(st, 0) {
                    // `cond ? WARNING : ERROR` (pg_cron during binary upgrade): the level that
                    // holds in normal operation is the higher one.
                    Val::Either(a, b) if a.max(b) >= ERROR_LEVEL => Val::Const(a.max(b)),
                    v => v,
                };
                match level {
                    Val::Const(level) if level >= ERROR_LEVEL => {
                        st.pending = Some((site, level));
                        M::clobber_call(st);
                        // errstart() returns true for ERROR and above: the `else` is
                        // unreachable (the compiler may let it fall into the next function).
                        st.regs[0] = Val::Const(1);
                        return false;
                    }
                    Val::Const(_) => {}
                    _ => {
                        // Compared with the other walk like a known ERROR: only a site reached
                        // without preloading alone leaves the answer open.
                        self.record(
                            st,
                            site,
                            Err(format!("ereport at {site:#x} with a level not known statically")),
                        );
                    }
                }
            }
            "errmsg" | "errmsg_internal" => {
                if let Some((s, level)) = st.pending.take() {
                    let message = self.c_string(M::arg(st, 0));
                    self.record(st, s, Ok(Refusal::Raises { level, message }));
                    return true;
                }
            }
            "errfinish" => {
                if let Some((s, level)) = st.pending.take() {
                    self.record(st, s, Ok(Refusal::Raises { level, message: None }));
                    return true;
                }
            }
            "DefineCustomBoolVariable"
            | "DefineCustomIntVariable"
            | "DefineCustomRealVariable"
            | "DefineCustomStringVariable"
            | "DefineCustomEnumVariable" => {
                // It stores the boot value (or a placeholder's) into *valueAddr.
                if let Val::Const(addr) = M::arg(st, 3) {
                    st.store_global(addr, Val::Unknown);
                }
                // The context's position among the integer-class arguments.
                let n = match name {
                    "DefineCustomBoolVariable" | "DefineCustomStringVariable" => 5,
                    "DefineCustomIntVariable" => 7,
                    "DefineCustomRealVariable" => 4, // the doubles go in xmm registers
                    _ => 6,
                };
                match M::arg(st, n) {
                    Val::Const(PGC_POSTMASTER) if !flag => {
                        let var = self.c_string(M::arg(st, 0));
                        self.record(st, site, Ok(Refusal::PostmasterVariable { name: var }));
                        return true;
                    }
                    Val::Const(_) => {}
                    _ if !flag => {
                        self.record(
                            st,
                            site,
                            Err(format!("{name} at {site:#x} with a context not known statically")),
                        );
                    }
                    _ => {}
                }
            }
            "find_rendezvous_variable" => {
                let name = self.c_string(M::arg(st, 0));
                M::clobber_call(st);
                if let Some(name) = name {
                    let n = match self.rendezvous.iter().position(|r| *r == name) {
                        Some(n) => Some(n),
                        None if self.rendezvous.len() < 8 => {
                            self.rendezvous.push(name);
                            Some(self.rendezvous.len() - 1)
                        }
                        None => None,
                    };
                    if let Some(n) = n {
                        st.regs[0] = Val::Rendezvous(n as u8);
                    }
                }
                return false;
            }
            "dlopen" => {
                if let Some(name) = self.c_string(M::arg(st, 0))
                    && !self.dlopened.contains(&name)
                {
                    self.dlopened.push(name);
                }
            }
            "RequestAddinShmemSpace" | "RequestNamedLWLockTranche" if !flag => {
                self.record(st, site, Ok(Refusal::ShmemRequest { function: name }));
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
        M::clobber_call(st);
        false
    }
}
