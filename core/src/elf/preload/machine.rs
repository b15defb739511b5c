//! The abstract x86-64 machine the walk runs `_PG_init` on: constants and symbolic values in
//! registers and stack slots, the flags of `cmp`/`test`, and one instruction's effect on them.

use std::collections::HashMap;

use iced_x86::{ConditionCode, Instruction, InstructionInfoFactory, Mnemonic, OpAccess, OpKind, Register};

use super::PRELOAD_FLAG;

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
}

/// The key of the variable a pointer addresses, for [`State::globals`]: its address, or its GOT
/// slot (tagged) when it is reached through the GOT.
pub(super) fn global_key(base: Val, disp: u64) -> Option<u64> {
    match base {
        Val::Got(slot) if disp == 0 => Some(slot | 1 << 63),
        _ => None,
    }
}

impl Val {
    /// The constants this may be.
    pub(super) fn values(self) -> Option<Vec<u64>> {
        match self {
            Val::Const(c) => Some(vec![c]),
            Val::Either(a, b) => Some(vec![a, b]),
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

/// A two-operand ALU instruction on known operands: the result and, when single, its flags.
pub(super) fn alu(m: Mnemonic, a: Val, b: Val, bits: u32, flags: Option<Flags>) -> Option<(Val, Option<Flags>)> {
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

pub(super) fn flags_logic(r: u64, bits: u32, cf: bool) -> Flags {
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
pub(super) struct Flags {
    pub(super) zf: bool,
    pub(super) sf: bool,
    pub(super) cf: bool,
    pub(super) of: bool,
    pub(super) pf: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct State {
    pub(super) regs: [Val; 16],
    pub(super) flags: Option<Flags>,
    pub(super) stack: Vec<(i64, Val)>,
    /// The library's own variables written on this path (`backend_only = !flag;` tested later).
    pub(super) globals: Vec<(u64, Val)>,
    /// An `ereport(ERROR)` begun here (site, level), waiting for its message.
    pub(super) pending: Option<(u64, u64)>,
}

impl State {
    pub(super) fn entry() -> State {
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

    pub(super) fn store_global(&mut self, at: u64, v: Val) {
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

    /// The value of the n-th integer argument (0-based) at a call.
    pub(super) fn arg(&self, n: usize) -> Val {
        const REGS: [usize; 6] = [7, 6, 2, 1, 8, 9]; // rdi rsi rdx rcx r8 r9
        match REGS.get(n) {
            Some(r) => self.regs[*r],
            None => match self.regs[4] {
                Val::Stack(sp) => self.load(sp + 8 * (n as i64 - 6)),
                _ => Val::Unknown,
            },
        }
    }

    pub(super) fn clobber_call(&mut self) {
        for r in [0, 1, 2, 6, 7, 8, 9, 10, 11] {
            self.regs[r] = Val::Unknown;
        }
        self.flags = None;
    }
}

pub(super) fn gpr(r: Register) -> Option<usize> {
    let full = r.full_register();
    if full.is_gpr64() { Some(full.number()) } else { None }
}

/// Evaluates a condition on known flags.
pub(super) fn eval(cc: ConditionCode, f: Flags) -> Option<bool> {
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

pub(super) fn flags_sub(a: u64, b: u64, bits: u32) -> Flags {
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

pub(super) fn flags_and(a: u64, b: u64, bits: u32) -> Flags {
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
pub(super) fn stack_addr(ins: &Instruction, st: &State) -> Option<i64> {
    if ins.memory_index() != Register::None {
        return None;
    }
    match gpr(ins.memory_base()).map(|r| st.regs[r]) {
        Some(Val::Stack(o)) => Some(o + ins.memory_displacement64() as i64),
        _ => None,
    }
}

/// The value a memory operand reads.
pub(super) fn mem_load(
    ins: &Instruction,
    st: &State,
    flag: bool,
    slots: &HashMap<u64, &'static str>,
    got: &[(u64, u64)],
) -> Val {
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
pub(super) fn operand(
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

pub(super) fn op_bits(ins: &Instruction) -> u32 {
    match ins.op_kind(0) {
        OpKind::Register => ins.op0_register().size() as u32 * 8,
        OpKind::Memory => ins.memory_size().size() as u32 * 8,
        _ => 64,
    }
}

/// Applies one non-branch instruction to the state.
pub(super) fn step(
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
