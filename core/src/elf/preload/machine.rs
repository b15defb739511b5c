//! What the walk of `_PG_init` shares between architectures: abstract values in registers and
//! stack slots, the library's own variables written on a path, and the one interface each
//! architecture's instruction semantics implement ([`Machine`]). The walk itself (budgets, joins,
//! calls, what an import call means) is in `walk.rs`; x86-64 is `x86_64.rs`, AArch64 `aarch64.rs`.

use std::collections::HashMap;

/// An abstract value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Val {
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
    /// What `find_rendezvous_variable()` returned for the walk's n-th name: the address of the
    /// shared `void *` slot.
    Rendezvous(u8),
    /// Read through a rendezvous slot nothing on this path stored into, in the walk where
    /// another library has published it: a non-null pointer to set (non-zero) data. Only that
    /// walk makes it; it reads as 1.
    Published,
}

/// The key of the variable a pointer addresses, for [`State::globals`]: its address, or its GOT
/// slot (tagged) when it is reached through the GOT.
pub(super) fn global_key(base: Val, disp: u64) -> Option<u64> {
    match base {
        Val::Got(slot) if disp == 0 => Some(slot | 1 << 63),
        Val::Rendezvous(n) if disp == 0 => Some(RENDEZVOUS_KEY | u64::from(n)),
        _ => None,
    }
}

/// [`global_key`]'s tag of a rendezvous slot (no address or GOT slot key has it).
const RENDEZVOUS_KEY: u64 = 0x3f << 56;

/// A load of `disp` bytes past `base`, when the walk models what is there: one of the library's
/// variables reached through the GOT, a rendezvous slot, or data another library published.
pub(super) fn load_through(st: &State, base: Val, disp: u64) -> Option<Val> {
    match base {
        Val::Published => Some(Val::Published),
        _ => {
            let key = global_key(base, disp)?;
            Some(match st.load_global(key) {
                Val::Unknown if st.published && matches!(base, Val::Rendezvous(_)) => Val::Published,
                v => v,
            })
        }
    }
}

impl Val {
    /// The constants this may be.
    pub(super) fn values(self) -> Option<Vec<u64>> {
        match self {
            Val::Const(c) => Some(vec![c]),
            Val::Either(a, b) => Some(vec![a, b]),
            Val::Published => Some(vec![1]),
            _ => None,
        }
    }

    pub(super) fn from_values(mut v: Vec<u64>) -> Val {
        v.sort_unstable();
        v.dedup();
        match v[..] {
            [c] => Val::Const(c),
            [a, b] => Val::Either(a, b),
            _ => Val::Unknown,
        }
    }
}

pub(super) fn mask(bits: u32) -> u64 {
    match bits {
        0 => u64::MAX, // an operand of no stated size: keep it whole
        64.. => u64::MAX,
        b => (1u64 << b) - 1,
    }
}

/// Flags of the last comparison with known operands: x86-64's ZF SF CF OF PF, or AArch64's
/// NZCV as `sf zf cf of` (`cf` is AArch64's C, set when a subtraction does *not* borrow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Flags {
    pub(super) zf: bool,
    pub(super) sf: bool,
    pub(super) cf: bool,
    pub(super) of: bool,
    pub(super) pf: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct State {
    /// General registers, numbered by each machine (x86-64: rax = 0 … r15 = 15; AArch64:
    /// x0 … x30, sp = 31).
    pub(super) regs: [Val; 32],
    pub(super) flags: Option<Flags>,
    pub(super) stack: Vec<(i64, Val)>,
    /// The library's own variables written on this path (`backend_only = !flag;` tested later).
    pub(super) globals: Vec<(u64, Val)>,
    /// An `ereport(ERROR)` begun here (site, level), waiting for its message.
    pub(super) pending: Option<(u64, u64)>,
    /// The path took a branch the other walk decided the other way: it is here because of the
    /// flag (set only in the walk with the flag true).
    pub(super) past_flag: bool,
    /// Rendezvous slots (bit n: the walk's n-th name) this path stored into.
    pub(super) stored_rendezvous: u8,
    /// The walk in which other libraries have published every rendezvous variable (constant
    /// for a walk).
    pub(super) published: bool,
}

impl State {
    /// The state at `_PG_init`'s entry: only the stack pointer (register `sp`) is known.
    pub(super) fn entry(sp: usize) -> State {
        let mut regs = [Val::Unknown; 32];
        regs[sp] = Val::Stack(0);
        State {
            regs,
            flags: None,
            stack: Vec::new(),
            globals: Vec::new(),
            pending: None,
            past_flag: false,
            stored_rendezvous: 0,
            published: false,
        }
    }

    pub(super) fn store_global(&mut self, at: u64, v: Val) {
        if at & !0xff == RENDEZVOUS_KEY {
            self.stored_rendezvous |= 1 << (at & 7);
        }
        self.globals.retain(|(a, _)| *a != at);
        if self.globals.len() < 64 && v != Val::Unknown {
            self.globals.push((at, v));
        }
    }

    pub(super) fn load_global(&self, at: u64) -> Val {
        self.globals
            .iter()
            .find(|(a, _)| *a == at)
            .map(|(_, v)| *v)
            .unwrap_or(Val::Unknown)
    }

    pub(super) fn store(&mut self, at: i64, v: Val) {
        self.stack.retain(|(o, _)| *o != at);
        if self.stack.len() < 64 {
            self.stack.push((at, v));
        }
    }

    pub(super) fn load(&self, at: i64) -> Val {
        self.stack
            .iter()
            .find(|(o, _)| *o == at)
            .map(|(_, v)| *v)
            .unwrap_or(Val::Unknown)
    }
}

/// What the walk knows about the library while it steps: the watched imports' GOT slots and the
/// `.got*` ranges.
pub(super) struct Cx<'a> {
    pub(super) slots: &'a HashMap<u64, &'static str>,
    pub(super) got: &'a [(u64, u64)],
}

impl Cx<'_> {
    /// A load of 8 bytes from `at`: the import a watched slot names, the address an unwatched GOT
    /// slot holds (one of the library's own variables, or an import not watched), or `None`.
    pub(super) fn got_load(&self, at: u64) -> Option<Val> {
        if let Some(name) = self.slots.get(&at) {
            return Some(Val::Import(name));
        }
        self.got
            .iter()
            .any(|(a, b)| at >= *a && at < *b)
            .then_some(Val::Got(at))
    }
}

/// Where a call or jump goes, as far as the instruction says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// A direct address: a local function or a PLT stub (the walk tells which).
    Direct(u64),
    /// Through a watched import's GOT slot (`-fno-plt`), or a register holding its address.
    Import(&'static str),
    /// Through a GOT slot of an import not watched.
    OtherImport,
    /// Not known statically (a function pointer).
    Unknown,
}

/// What an instruction does to the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Falls through after [`Machine::step`].
    Step,
    /// The function returns.
    Return,
    /// The path ends without returning (a trap).
    End,
    /// An unconditional direct jump (or a tail call, when it reaches a PLT stub).
    Jump(u64),
    /// A conditional jump to the address; `Some` when the state decides it (`true`: taken).
    Branch(u64, Option<bool>),
    /// A call; `true` when it is through a register or memory.
    Call(Target, bool),
    /// An indirect jump: a tail call through the GOT or a register, or a jump table.
    IndirectJump(Target),
}

/// One architecture's instruction semantics, behind which the walk is shared.
pub(super) trait Machine {
    /// One decoded instruction.
    type Insn;
    /// The stack pointer's register.
    const SP: usize;
    /// Registers kept when the states of a loop are widened: the stack and frame pointers.
    const KEPT: &'static [usize];
    /// Decodes the instruction at `addr` from the bytes there (up to 16).
    fn decode(&mut self, bytes: &[u8], addr: u64) -> Option<Self::Insn>;
    /// The address after it.
    fn next(&self, ins: &Self::Insn, addr: u64) -> u64;
    /// What it does to control flow.
    fn flow(&self, ins: &Self::Insn, addr: u64, st: &State, cx: &Cx) -> Flow;
    /// Applies a [`Flow::Step`] instruction to the state.
    fn step(&mut self, ins: &Self::Insn, addr: u64, st: &mut State, flag: bool, cx: &Cx);
    /// The n-th integer-class argument (0-based) at a call (the calling convention's
    /// registers, then the stack).
    fn arg(st: &State, n: usize) -> Val;
    /// What a call leaves unknown: the caller-saved registers and the flags.
    fn clobber_call(st: &mut State);
    /// The callee's view of the state at its entry (x86-64 pushes the return address).
    fn enter_call(st: &mut State);
    /// Instructions a PLT stub may take up to its jump.
    const PLT_INSNS: usize;
    /// The GOT slot a PLT stub jumps through, from its first instructions (address, instruction).
    fn plt_slot(stub: &[(u64, Self::Insn)]) -> Option<u64>;
}
