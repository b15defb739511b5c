//! x86-64 semantics for the walk of `_PG_init`: instructions decoded by iced-x86, the System V
//! calling convention, the flags of `cmp`/`test`, and one instruction's effect on the state.

use std::collections::HashMap;

use iced_x86::{
    ConditionCode, Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess,
    OpKind, Register,
};

use super::PRELOAD_FLAG;
use super::machine::{Cx, Flags, Flow, Machine, State, Target, Val, global_key, load_through, mask};

/// x86-64: registers numbered as iced numbers them (rax 0, rcx 1, rdx 2, rbx 3, rsp 4, rbp 5,
/// rsi 6, rdi 7, r8 … r15).
pub(super) struct X86_64 {
    info: InstructionInfoFactory,
}

impl Default for X86_64 {
    fn default() -> X86_64 {
        X86_64 {
            info: InstructionInfoFactory::new(),
        }
    }
}

impl Machine for X86_64 {
    type Insn = Instruction;
    const SP: usize = 4;
    const KEPT: &'static [usize] = &[4, 5];
    const PLT_INSNS: usize = 3;

    fn decode(&mut self, bytes: &[u8], addr: u64) -> Option<Instruction> {
        let ins = Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE).decode();
        (!ins.is_invalid()).then_some(ins)
    }

    fn next(&self, ins: &Instruction, _addr: u64) -> u64 {
        ins.next_ip()
    }

    fn flow(&self, ins: &Instruction, _addr: u64, st: &State, cx: &Cx) -> Flow {
        match ins.flow_control() {
            FlowControl::Return => Flow::Return,
            // int3, ud2
            FlowControl::Interrupt | FlowControl::Exception => Flow::End,
            FlowControl::UnconditionalBranch if ins.op0_kind() == OpKind::NearBranch64 => {
                Flow::Jump(ins.near_branch_target())
            }
            FlowControl::UnconditionalBranch => Flow::IndirectJump(Target::Unknown),
            FlowControl::IndirectBranch => Flow::IndirectJump(target(ins, st, cx)),
            FlowControl::ConditionalBranch => Flow::Branch(
                ins.near_branch_target(),
                st.flags.and_then(|f| eval(ins.condition_code(), f)),
            ),
            FlowControl::Call => Flow::Call(target(ins, st, cx), false),
            FlowControl::IndirectCall => Flow::Call(target(ins, st, cx), true),
            _ => Flow::Step,
        }
    }

    fn step(&mut self, ins: &Instruction, _addr: u64, st: &mut State, flag: bool, cx: &Cx) {
        step(ins, st, flag, cx.slots, cx.got, &mut self.info);
    }

    fn arg(st: &State, n: usize) -> Val {
        const REGS: [usize; 6] = [7, 6, 2, 1, 8, 9]; // rdi rsi rdx rcx r8 r9
        match REGS.get(n) {
            Some(r) => st.regs[*r],
            None => match st.regs[4] {
                Val::Stack(sp) => st.load(sp + 8 * (n as i64 - 6)),
                _ => Val::Unknown,
            },
        }
    }

    fn clobber_call(st: &mut State) {
        for r in [0, 1, 2, 6, 7, 8, 9, 10, 11] {
            st.regs[r] = Val::Unknown;
        }
        st.flags = None;
    }

    fn enter_call(st: &mut State) {
        // The return address.
        if let Val::Stack(sp) = st.regs[4] {
            st.regs[4] = Val::Stack(sp - 8);
        }
    }

    /// `[endbr64] [nop] jmp [rip+slot]`.
    fn plt_slot(stub: &[(u64, Instruction)]) -> Option<u64> {
        for (_, ins) in stub {
            match ins.mnemonic() {
                Mnemonic::Endbr64 | Mnemonic::Nop => {}
                Mnemonic::Jmp if ins.op0_kind() == OpKind::Memory && ins.memory_base() == Register::RIP => {
                    return Some(ins.memory_displacement64());
                }
                _ => return None,
            }
        }
        None
    }
}

/// Where a call or jump goes.
fn target(ins: &Instruction, st: &State, cx: &Cx) -> Target {
    match ins.op0_kind() {
        OpKind::NearBranch64 => Target::Direct(ins.near_branch_target()),
        OpKind::Memory if ins.memory_base() == Register::RIP => match cx.got_load(ins.memory_displacement64()) {
            Some(Val::Import(n)) => Target::Import(n),
            Some(_) => Target::OtherImport,
            None => Target::Unknown,
        },
        OpKind::Register => match gpr(ins.op0_register()).map(|r| st.regs[r]) {
            Some(Val::Import(n)) => Target::Import(n),
            _ => Target::Unknown,
        },
        _ => Target::Unknown,
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

fn gpr(r: Register) -> Option<usize> {
    let full = r.full_register();
    if full.is_gpr64() { Some(full.number()) } else { None }
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
        && let Some(v) = gpr(ins.memory_base()).and_then(|r| load_through(st, st.regs[r], ins.memory_displacement64()))
    {
        return v;
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
            // One known value each (a constant, or published data that reads as 1).
            let one = |v: Val| match v.values().as_deref() {
                Some(&[x]) => Some(x),
                _ => None,
            };
            st.flags = match (one(a), one(b)) {
                (Some(a), Some(b)) if bits > 0 => Some(if ins.mnemonic() == Mnemonic::Cmp {
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
