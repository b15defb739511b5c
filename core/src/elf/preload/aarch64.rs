//! AArch64 semantics for the walk of `_PG_init`: instructions decoded by yaxpeax-arm, the AAPCS64
//! calling convention (integer arguments in x0–x7, then the stack; `double`s in v0–v7, so they do
//! not take an integer position), NZCV from `cmp`/`tst`/`adds`/`subs`/`ands`, and one
//! instruction's effect on the state.
//!
//! Addresses are formed the way compilers and the linker emit them for position-independent code:
//! `adrp xN, page` then `add xN, xN, #lo` (a local string or variable), `ldr xN, [xN, #lo]` (a
//! GOT slot: an import's address), or `adr` / a literal `ldr`. The preload flag is a `bool`,
//! read with `ldrb` and tested with `cbz`/`cbnz`/`tbz`/`tbnz` or `tst`/`cmp` and `b.cond`/`cset`.
//! Registers: x0–x30 as 0–30, `sp` as 31; `xzr`/`wzr` read 0 and discard writes. A 32-bit (`w`)
//! write zero-extends, so a `w` result is known only when it is a constant.

use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand, ShiftStyle, SizeCode};

use super::PRELOAD_FLAG;
use super::machine::{Cx, Flags, Flow, Machine, State, Target, Val, global_key, load_through, mask};

/// AArch64 (little-endian code: instructions are little-endian in every data byte order).
pub(super) struct Aarch64;

const SP: usize = 31;
const FP: usize = 29;

impl Machine for Aarch64 {
    type Insn = Instruction;
    const SP: usize = SP;
    const KEPT: &'static [usize] = &[FP, SP];
    /// `[bti c] adrp x16, page; ldr x17, [x16, #lo]; add x16, x16, #lo; br x17`.
    const PLT_INSNS: usize = 3;

    fn decode(&mut self, bytes: &[u8], _addr: u64) -> Option<Instruction> {
        let word = bytes.get(..4)?;
        let mut ins = Instruction::default();
        InstDecoder::default()
            .decode_into(&mut ins, &mut U8Reader::new(word))
            .ok()?;
        Some(ins)
    }

    fn next(&self, _ins: &Instruction, addr: u64) -> u64 {
        addr.wrapping_add(4)
    }

    fn flow(&self, ins: &Instruction, addr: u64, st: &State, cx: &Cx) -> Flow {
        let [a, b, c, _] = ins.operands;
        match ins.opcode {
            Opcode::RET | Opcode::RETAA | Opcode::RETAB | Opcode::ERET => Flow::Return,
            // Traps: __builtin_trap, __builtin_unreachable's landing, undefined encodings.
            Opcode::BRK | Opcode::UDF | Opcode::HLT | Opcode::Invalid => Flow::End,
            Opcode::B => pc_rel(addr, a).map_or(Flow::IndirectJump(Target::Unknown), Flow::Jump),
            Opcode::BL => pc_rel(addr, a).map_or(Flow::Call(Target::Unknown, true), |t| {
                Flow::Call(Target::Direct(t), false)
            }),
            Opcode::BR | Opcode::BRAA | Opcode::BRAAZ | Opcode::BRAB | Opcode::BRABZ => {
                Flow::IndirectJump(reg_target(st, a, cx))
            }
            Opcode::BLR | Opcode::BLRAA | Opcode::BLRAAZ | Opcode::BLRAB | Opcode::BLRABZ => {
                Flow::Call(reg_target(st, a, cx), true)
            }
            Opcode::Bcc(cond) | Opcode::BCcc(cond) => match pc_rel(addr, a) {
                Some(t) => Flow::Branch(t, st.flags.and_then(|f| holds(cond, f))),
                None => Flow::IndirectJump(Target::Unknown),
            },
            Opcode::CBZ | Opcode::CBNZ => match pc_rel(addr, b) {
                Some(t) => {
                    let zero = read(st, a).values().and_then(|xs| {
                        let z: Vec<bool> = xs.iter().map(|x| *x == 0).collect();
                        z.iter().all(|v| *v == z[0]).then_some(z[0])
                    });
                    Flow::Branch(t, zero.map(|z| z == (ins.opcode == Opcode::CBZ)))
                }
                None => Flow::IndirectJump(Target::Unknown),
            },
            Opcode::TBZ | Opcode::TBNZ => match (pc_rel(addr, c), imm(b)) {
                (Some(t), Some(bit)) => {
                    let set = read(st, a).values().and_then(|xs| {
                        let s: Vec<bool> = xs.iter().map(|x| (x >> (bit & 63)) & 1 == 1).collect();
                        s.iter().all(|v| *v == s[0]).then_some(s[0])
                    });
                    Flow::Branch(t, set.map(|s| s == (ins.opcode == Opcode::TBNZ)))
                }
                _ => Flow::IndirectJump(Target::Unknown),
            },
            _ => Flow::Step,
        }
    }

    fn step(&mut self, ins: &Instruction, addr: u64, st: &mut State, flag: bool, cx: &Cx) {
        step(ins, addr, st, flag, cx);
    }

    fn arg(st: &State, n: usize) -> Val {
        match n {
            0..=7 => st.regs[n],
            _ => match st.regs[SP] {
                Val::Stack(sp) => st.load(sp + 8 * (n as i64 - 8)),
                _ => Val::Unknown,
            },
        }
    }

    fn clobber_call(st: &mut State) {
        // x0–x18 (arguments, results, scratch, the intra-procedure-call and platform registers)
        // and the link register; x19–x28, fp and sp are callee-saved.
        for r in (0..=18).chain([30]) {
            st.regs[r] = Val::Unknown;
        }
        st.flags = None;
    }

    fn enter_call(_st: &mut State) {
        // `bl` leaves the return address in x30; the stack is as the caller left it.
    }

    fn plt_slot(stub: &[(u64, Instruction)]) -> Option<u64> {
        let mut page = None;
        for (at, ins) in stub {
            match (ins.opcode, ins.operands) {
                (Opcode::HINT, _) => {} // bti c, nop
                (Opcode::ADRP, [Operand::Register(SizeCode::X, 16), Operand::PCOffset(off), ..]) => {
                    page = Some((at & !0xfff).wrapping_add(off as u64));
                }
                (
                    Opcode::LDR,
                    [
                        Operand::Register(SizeCode::X, 17),
                        Operand::RegPreIndex(16, off, false),
                        ..,
                    ],
                ) => {
                    return page.map(|p| p.wrapping_add(off as i64 as u64));
                }
                _ => return None,
            }
        }
        None
    }
}

/// A PC-relative target.
fn pc_rel(addr: u64, op: Operand) -> Option<u64> {
    match op {
        Operand::PCOffset(off) => Some(addr.wrapping_add(off as u64)),
        _ => None,
    }
}

/// Where `br`/`blr` through a register go.
fn reg_target(st: &State, op: Operand, cx: &Cx) -> Target {
    match read(st, op) {
        Val::Import(name) => Target::Import(name),
        Val::Got(slot) if cx.got_load(slot).is_some() => Target::OtherImport,
        _ => Target::Unknown,
    }
}

/// An immediate operand's value.
fn imm(op: Operand) -> Option<u64> {
    match op {
        Operand::Immediate(v) => Some(u64::from(v)),
        Operand::Imm64(v) => Some(v),
        Operand::Imm16(v) => Some(u64::from(v)),
        Operand::ImmShift(v, s) => Some(u64::from(v).checked_shl(u32::from(s)).unwrap_or(0)),
        _ => None,
    }
}

fn width(size: SizeCode) -> u32 {
    match size {
        SizeCode::X => 64,
        SizeCode::W => 32,
    }
}

/// Narrows a value to a `w` register: constants keep their low 32 bits, anything else (an
/// address) is not a 32-bit value.
fn narrow(v: Val, bits: u32) -> Val {
    if bits >= 64 {
        return v;
    }
    match v.values() {
        Some(xs) => Val::from_values(xs.into_iter().map(|x| x & mask(bits)).collect()),
        None => Val::Unknown,
    }
}

/// The value an operand reads: a register (zr reads 0), a shifted register, an immediate.
fn read(st: &State, op: Operand) -> Val {
    match op {
        Operand::Register(_, 31) => Val::Const(0),
        Operand::Register(size, n) | Operand::RegisterOrSP(size, n) if n <= 31 => {
            narrow(st.regs[usize::from(n)], width(size))
        }
        Operand::RegShift(style, amount, size, n) => {
            let v = read(st, Operand::Register(size, n));
            if amount == 0 && matches!(style, ShiftStyle::LSL | ShiftStyle::UXTX | ShiftStyle::SXTX) {
                return v;
            }
            let bits = width(size);
            match v.values() {
                Some(xs) => Val::from_values(
                    xs.into_iter()
                        .filter_map(|x| shift(style, amount, x, bits))
                        .collect::<Vec<_>>(),
                ),
                None => Val::Unknown,
            }
            .only_if_complete(v)
        }
        op => imm(op).map_or(Val::Unknown, Val::Const),
    }
}

trait Complete {
    fn only_if_complete(self, from: Val) -> Val;
}

impl Complete for Val {
    /// `Unknown` when a shift could not be applied to every value `from` may hold.
    fn only_if_complete(self, from: Val) -> Val {
        match (self, from.values()) {
            (Val::Const(_), Some(xs)) if xs.len() == 1 => self,
            (Val::Either(..), Some(xs)) if xs.len() == 2 => self,
            (Val::Const(_), Some(xs)) if xs.len() == 2 => self, // two values shifted to one
            _ => Val::Unknown,
        }
    }
}

fn shift(style: ShiftStyle, amount: u8, x: u64, bits: u32) -> Option<u64> {
    let a = u32::from(amount);
    let x = x & mask(bits);
    Some(
        match style {
            ShiftStyle::LSL => x.checked_shl(a).unwrap_or(0),
            ShiftStyle::LSR => x.checked_shr(a).unwrap_or(0),
            ShiftStyle::ASR => {
                let signed = sign_extend(x, bits) as i64;
                (signed >> a.min(63)) as u64
            }
            ShiftStyle::UXTB => (x & 0xff) << a,
            ShiftStyle::UXTH => (x & 0xffff) << a,
            ShiftStyle::UXTW => (x & 0xffff_ffff) << a,
            ShiftStyle::SXTB => sign_extend(x & 0xff, 8) << a,
            ShiftStyle::SXTH => sign_extend(x & 0xffff, 16) << a,
            ShiftStyle::SXTW => sign_extend(x & 0xffff_ffff, 32) << a,
            ShiftStyle::UXTX | ShiftStyle::SXTX => x << a,
            ShiftStyle::ROR => return None,
        } & mask(bits),
    )
}

fn sign_extend(x: u64, bits: u32) -> u64 {
    if bits == 0 || bits >= 64 {
        return x;
    }
    let s = 64 - bits;
    (((x << s) as i64) >> s) as u64
}

/// The register an operand writes (`None`: zr, or not a general register).
fn dest(op: Operand) -> Option<(usize, u32)> {
    match op {
        Operand::Register(_, 31) => None,
        Operand::Register(size, n) | Operand::RegisterOrSP(size, n) if n <= 31 => Some((usize::from(n), width(size))),
        _ => None,
    }
}

fn write(st: &mut State, op: Operand, v: Val) {
    if let Some((r, bits)) = dest(op) {
        st.regs[r] = narrow(v, bits);
    }
}

/// NZCV of `a - b` (`cmp`, `subs`): C set when there is no borrow.
fn flags_sub(a: u64, b: u64, bits: u32) -> Flags {
    let (a, b) = (a & mask(bits), b & mask(bits));
    let r = a.wrapping_sub(b) & mask(bits);
    let sign = 1u64 << (bits - 1);
    Flags {
        zf: r == 0,
        sf: r & sign != 0,
        cf: a >= b,
        of: ((a ^ b) & (a ^ r) & sign) != 0,
        pf: false,
    }
}

/// NZCV of `a + b` (`cmn`, `adds`).
fn flags_add(a: u64, b: u64, bits: u32) -> Flags {
    let (a, b) = (a & mask(bits), b & mask(bits));
    let r = a.wrapping_add(b) & mask(bits);
    let sign = 1u64 << (bits - 1);
    Flags {
        zf: r == 0,
        sf: r & sign != 0,
        cf: r < a,
        of: (!(a ^ b) & (a ^ r) & sign) != 0,
        pf: false,
    }
}

/// NZCV of `a & b` (`tst`, `ands`).
fn flags_and(r: u64, bits: u32) -> Flags {
    let r = r & mask(bits);
    Flags {
        zf: r == 0,
        sf: r & (1u64 << (bits - 1)) != 0,
        cf: false,
        of: false,
        pf: false,
    }
}

/// Whether condition `cond` (the A64 encoding: 0 eq, 1 ne, 2 hs, … 14 al) holds.
fn holds(cond: u8, f: Flags) -> Option<bool> {
    let base = match cond >> 1 {
        0 => f.zf,
        1 => f.cf,
        2 => f.sf,
        3 => f.of,
        4 => f.cf && !f.zf,
        5 => f.sf == f.of,
        6 => !f.zf && f.sf == f.of,
        7 => return Some(true), // al, nv
        _ => return None,
    };
    Some(if cond & 1 == 1 { !base } else { base })
}

/// A memory operand: the address it accesses (as a value) and the base register's value after
/// write-back, if any.
fn address(st: &State, op: Operand, addr: u64) -> Option<(Val, Option<(usize, Val)>)> {
    let offset = |v: Val, off: i64| match v {
        Val::Stack(o) => Val::Stack(o + off),
        Val::Const(c) => Val::Const(c.wrapping_add(off as u64)),
        Val::Got(slot) if off == 0 => Val::Got(slot),
        Val::Import(n) if off == 0 => Val::Import(n),
        Val::Rendezvous(n) if off == 0 => Val::Rendezvous(n),
        Val::Published => Val::Published,
        _ => Val::Unknown,
    };
    match op {
        Operand::RegPreIndex(n, off, wb) => {
            let base = st.regs[usize::from(n.min(31))];
            let at = offset(base, i64::from(off));
            Some((at, wb.then_some((usize::from(n.min(31)), at))))
        }
        Operand::RegPostIndex(n, off) => {
            let base = st.regs[usize::from(n.min(31))];
            Some((base, Some((usize::from(n.min(31)), offset(base, i64::from(off))))))
        }
        Operand::RegPostIndexReg(n, _) => Some((
            st.regs[usize::from(n.min(31))],
            Some((usize::from(n.min(31)), Val::Unknown)),
        )),
        Operand::RegRegOffset(..) => Some((Val::Unknown, None)),
        Operand::PCOffset(off) => Some((Val::Const(addr.wrapping_add(off as u64)), None)),
        _ => None,
    }
}

/// The value `bytes` bytes at `at` hold, as far as the state knows.
fn load(st: &State, at: Val, bytes: u32, flag: bool, cx: &Cx) -> Val {
    let v = match at {
        Val::Const(a) if bytes == 8 => cx.got_load(a).unwrap_or_else(|| st.load_global(a)),
        Val::Const(a) => st.load_global(a),
        Val::Got(_) | Val::Rendezvous(_) | Val::Published => load_through(st, at, 0).unwrap_or(Val::Unknown),
        Val::Stack(o) => st.load(o),
        // `bool process_shared_preload_libraries_in_progress`, read through its GOT slot.
        Val::Import(PRELOAD_FLAG) => Val::Const(u64::from(flag)),
        _ => Val::Unknown,
    };
    if bytes >= 8 { v } else { narrow(v, bytes * 8) }
}

/// Records a store of `v` (`bytes` wide) at `at`.
fn store(st: &mut State, at: Val, v: Val, bytes: u32) {
    let v = if bytes >= 8 { v } else { narrow(v, bytes * 8) };
    match at {
        Val::Stack(o) => {
            st.store(o, v);
            if bytes > 8 {
                st.store(o + 8, Val::Unknown);
            }
        }
        Val::Const(a) => st.store_global(a, v),
        Val::Got(_) | Val::Rendezvous(_) => {
            if let Some(k) = global_key(at, 0) {
                st.store_global(k, v);
            }
        }
        _ => {}
    }
}

/// Bytes a load or store moves per register.
fn access_bytes(opcode: Opcode, reg: Operand) -> u32 {
    match opcode {
        Opcode::LDRB | Opcode::LDURB | Opcode::LDRSB | Opcode::LDURSB | Opcode::STRB | Opcode::STURB => 1,
        Opcode::LDRH | Opcode::LDURH | Opcode::LDRSH | Opcode::LDURSH | Opcode::STRH | Opcode::STURH => 2,
        Opcode::LDRSW | Opcode::LDURSW | Opcode::LDPSW => 4,
        _ => match reg {
            Operand::Register(size, _) => width(size) / 8,
            Operand::SIMDRegister(s, _) => match s {
                yaxpeax_arm::armv8::a64::SIMDSizeCode::B => 1,
                yaxpeax_arm::armv8::a64::SIMDSizeCode::H => 2,
                yaxpeax_arm::armv8::a64::SIMDSizeCode::S => 4,
                yaxpeax_arm::armv8::a64::SIMDSizeCode::D => 8,
                yaxpeax_arm::armv8::a64::SIMDSizeCode::Q => 16,
            },
            _ => 8,
        },
    }
}

fn signed_load(opcode: Opcode) -> bool {
    matches!(
        opcode,
        Opcode::LDRSB
            | Opcode::LDURSB
            | Opcode::LDRSH
            | Opcode::LDURSH
            | Opcode::LDRSW
            | Opcode::LDURSW
            | Opcode::LDPSW
    )
}

/// Instructions that set NZCV and are not modelled below.
fn sets_flags(opcode: Opcode) -> bool {
    matches!(
        opcode,
        Opcode::BICS
            | Opcode::ADCS
            | Opcode::SBCS
            | Opcode::CCMP
            | Opcode::CCMN
            | Opcode::FCMP
            | Opcode::FCMPE
            | Opcode::FCCMP
            | Opcode::FCCMPE
            | Opcode::SETF8
            | Opcode::SETF16
            | Opcode::RMIF
            | Opcode::MSR
            | Opcode::SUBPS
    )
}

/// Applies one non-branch instruction to the state.
fn step(ins: &Instruction, addr: u64, st: &mut State, flag: bool, cx: &Cx) {
    let [a, b, c, d] = ins.operands;
    let op = ins.opcode;
    match op {
        Opcode::HINT => {}
        Opcode::ADRP => {
            if let Operand::PCOffset(off) = b {
                write(st, a, Val::Const((addr & !0xfff).wrapping_add(off as u64)));
            } else {
                write(st, a, Val::Unknown);
            }
        }
        Opcode::ADR => write(st, a, pc_rel(addr, b).map_or(Val::Unknown, Val::Const)),
        Opcode::ADD | Opcode::SUB | Opcode::ADDS | Opcode::SUBS => {
            let bits = dest(a).map_or_else(|| reg_bits(a), |(_, w)| w);
            let (x, y) = (read(st, b), read(st, c));
            let sub = matches!(op, Opcode::SUB | Opcode::SUBS);
            let v = match (x, y) {
                (Val::Stack(o), Val::Const(k)) if bits == 64 => {
                    Val::Stack(if sub { o - k as i64 } else { o + k as i64 })
                }
                (Val::Const(p), Val::Const(k)) if bits == 64 && !sub => Val::Const(p.wrapping_add(k)),
                _ => match (x.values(), y.values()) {
                    (Some(xs), Some(ys)) => Val::from_values(
                        xs.iter()
                            .flat_map(|x| {
                                ys.iter().map(move |y| {
                                    (if sub { x.wrapping_sub(*y) } else { x.wrapping_add(*y) }) & mask(bits)
                                })
                            })
                            .collect(),
                    ),
                    _ => Val::Unknown,
                },
            };
            if matches!(op, Opcode::ADDS | Opcode::SUBS) {
                st.flags = match (x, y) {
                    (Val::Const(x), Val::Const(y)) => Some(if sub {
                        flags_sub(x, y, bits)
                    } else {
                        flags_add(x, y, bits)
                    }),
                    _ => None,
                };
            }
            write(st, a, v);
        }
        Opcode::MOVZ | Opcode::MOVN => {
            let v = imm(b).map_or(Val::Unknown, |v| Val::Const(if op == Opcode::MOVN { !v } else { v }));
            write(st, a, v);
        }
        Opcode::MOVK => {
            let v = match (read(st, a), b) {
                (Val::Const(old), Operand::ImmShift(v, s)) if s < 64 => {
                    Val::Const((old & !(0xffffu64 << s)) | (u64::from(v) << s))
                }
                _ => Val::Unknown,
            };
            write(st, a, v);
        }
        Opcode::ORR | Opcode::AND | Opcode::EOR | Opcode::ANDS | Opcode::ORN | Opcode::BIC | Opcode::EON => {
            let bits = dest(a).map_or_else(|| reg_bits(a), |(_, w)| w);
            let (x, y) = (read(st, b), read(st, c));
            // `mov xd, xm` is `orr xd, xzr, xm`: the value moves whole, addresses included.
            let v = if op == Opcode::ORR
                && x == Val::Const(0)
                && matches!(c, Operand::RegShift(ShiftStyle::LSL, 0, _, _) | Operand::Register(..))
            {
                y
            } else {
                match (x.values(), y.values()) {
                    (Some(xs), Some(ys)) => Val::from_values(
                        xs.iter()
                            .flat_map(|x| {
                                ys.iter().map(move |y| {
                                    (match op {
                                        Opcode::ORR => x | y,
                                        Opcode::AND | Opcode::ANDS => x & y,
                                        Opcode::EOR => x ^ y,
                                        Opcode::ORN => x | !y,
                                        Opcode::BIC => x & !y,
                                        _ => x ^ !y,
                                    }) & mask(bits)
                                })
                            })
                            .collect(),
                    ),
                    _ => Val::Unknown,
                }
            };
            if op == Opcode::ANDS {
                st.flags = match v {
                    Val::Const(r) => Some(flags_and(r, bits)),
                    _ => None,
                };
            }
            write(st, a, v);
        }
        Opcode::UBFM | Opcode::SBFM => {
            let bits = dest(a).map_or(64, |(_, w)| w);
            let v = match (read(st, b).values(), imm(c), imm(d)) {
                (Some(xs), Some(immr), Some(imms)) if immr < u64::from(bits) && imms < u64::from(bits) => {
                    Val::from_values(
                        xs.into_iter()
                            .map(|x| bitfield(op == Opcode::SBFM, x, immr as u32, imms as u32, bits))
                            .collect(),
                    )
                }
                _ => Val::Unknown,
            };
            write(st, a, v);
        }
        Opcode::CSEL | Opcode::CSINC | Opcode::CSINV | Opcode::CSNEG => {
            let bits = dest(a).map_or(64, |(_, w)| w);
            let Operand::ConditionCode(cond) = d else {
                write(st, a, Val::Unknown);
                return;
            };
            let t = read(st, b);
            let e = match read(st, c).values() {
                Some(xs) => Val::from_values(
                    xs.into_iter()
                        .map(|x| {
                            (match op {
                                Opcode::CSINC => x.wrapping_add(1),
                                Opcode::CSINV => !x,
                                Opcode::CSNEG => 0u64.wrapping_sub(x),
                                _ => x,
                            }) & mask(bits)
                        })
                        .collect(),
                ),
                None if op == Opcode::CSEL => read(st, c),
                None => Val::Unknown,
            };
            let v = match st.flags.and_then(|f| holds(cond, f)) {
                Some(true) => t,
                Some(false) => e,
                None => match (t.values(), e.values()) {
                    (Some(mut xs), Some(ys)) => {
                        xs.extend(ys);
                        Val::from_values(xs)
                    }
                    _ => Val::Unknown,
                },
            };
            write(st, a, v);
        }
        Opcode::LDR
        | Opcode::LDUR
        | Opcode::LDRB
        | Opcode::LDURB
        | Opcode::LDRH
        | Opcode::LDURH
        | Opcode::LDRSB
        | Opcode::LDURSB
        | Opcode::LDRSH
        | Opcode::LDURSH
        | Opcode::LDRSW
        | Opcode::LDURSW
        | Opcode::LDAR
        | Opcode::LDARB
        | Opcode::LDAPR
        | Opcode::LDAPRB => {
            let bytes = access_bytes(op, a);
            let Some((at, wb)) = address(st, b, addr) else {
                write(st, a, Val::Unknown);
                return;
            };
            let mut v = load(st, at, bytes.min(8), flag, cx);
            if signed_load(op) {
                v = match v.values() {
                    Some(xs) => Val::from_values(xs.into_iter().map(|x| sign_extend(x, bytes * 8)).collect()),
                    None => Val::Unknown,
                };
            }
            if let Some((r, nv)) = wb {
                st.regs[r] = nv;
            }
            if matches!(a, Operand::Register(..)) {
                write(st, a, v);
            }
        }
        Opcode::LDP | Opcode::LDPSW | Opcode::LDNP => {
            let bytes = access_bytes(op, a);
            let Some((at, wb)) = address(st, c, addr) else {
                write(st, a, Val::Unknown);
                write(st, b, Val::Unknown);
                return;
            };
            let second = match at {
                Val::Stack(o) => Val::Stack(o + i64::from(bytes)),
                Val::Const(p) => Val::Const(p.wrapping_add(u64::from(bytes))),
                _ => Val::Unknown,
            };
            let (mut v1, mut v2) = (
                load(st, at, bytes.min(8), flag, cx),
                load(st, second, bytes.min(8), flag, cx),
            );
            if signed_load(op) {
                let ext = |v: Val| match v.values() {
                    Some(xs) => Val::from_values(xs.into_iter().map(|x| sign_extend(x, 32)).collect()),
                    None => Val::Unknown,
                };
                (v1, v2) = (ext(v1), ext(v2));
            }
            if let Some((r, nv)) = wb {
                st.regs[r] = nv;
            }
            if matches!(a, Operand::Register(..)) {
                write(st, a, v1);
                write(st, b, v2);
            }
        }
        Opcode::STR
        | Opcode::STUR
        | Opcode::STRB
        | Opcode::STURB
        | Opcode::STRH
        | Opcode::STURH
        | Opcode::STLR
        | Opcode::STLRB => {
            let bytes = access_bytes(op, a);
            let v = if matches!(a, Operand::Register(..)) {
                read(st, a)
            } else {
                Val::Unknown
            };
            if let Some((at, wb)) = address(st, b, addr) {
                store(st, at, v, bytes);
                if let Some((r, nv)) = wb {
                    st.regs[r] = nv;
                }
            }
        }
        Opcode::STP | Opcode::STNP => {
            let bytes = access_bytes(op, a);
            let gpr = matches!(a, Operand::Register(..));
            let (v1, v2) = if gpr {
                (read(st, a), read(st, b))
            } else {
                (Val::Unknown, Val::Unknown)
            };
            if let Some((at, wb)) = address(st, c, addr) {
                let second = match at {
                    Val::Stack(o) => Val::Stack(o + i64::from(bytes)),
                    Val::Const(p) => Val::Const(p.wrapping_add(u64::from(bytes))),
                    _ => Val::Unknown,
                };
                store(st, at, v1, bytes);
                store(st, second, v2, bytes);
                if let Some((r, nv)) = wb {
                    st.regs[r] = nv;
                }
            }
        }
        _ => unmodelled(ins, addr, st),
    }
}

/// The width of a register operand that is not written (an `xzr` destination).
fn reg_bits(op: Operand) -> u32 {
    match op {
        Operand::Register(size, _) | Operand::RegisterOrSP(size, _) => width(size),
        _ => 64,
    }
}

/// `ubfm`/`sbfm` (lsl, lsr, asr, ubfx, sbfx, uxtb, sxtw, …) on a constant.
fn bitfield(signed: bool, x: u64, immr: u32, imms: u32, bits: u32) -> u64 {
    let x = x & mask(bits);
    let r = if imms >= immr {
        let width = imms - immr + 1;
        let field = (x >> immr) & mask(width);
        if signed { sign_extend(field, width) } else { field }
    } else {
        let width = imms + 1;
        let field = x & mask(width);
        let field = if signed { sign_extend(field, width) } else { field };
        field.checked_shl(bits - immr).unwrap_or(0)
    };
    r & mask(bits)
}

/// An instruction the walk does not model: what it may write becomes unknown. Destinations come
/// first in A64's operand order; pair loads, exclusive and atomic memory operations also write
/// their second register; a memory operand with write-back changes its base; a store of any kind
/// into a known stack slot makes that slot unknown.
fn unmodelled(ins: &Instruction, addr: u64, st: &mut State) {
    let [a, b, c, _] = ins.operands;
    let memory = [b, c].into_iter().find(|o| {
        matches!(
            o,
            Operand::RegPreIndex(..)
                | Operand::RegPostIndex(..)
                | Operand::RegPostIndexReg(..)
                | Operand::RegRegOffset(..)
        )
    });
    let name = format!("{:?}", ins.opcode);
    let is_store = name.starts_with("ST") || name.starts_with("CAS") || name.starts_with("SWP");
    if let Some(m) = memory {
        if let Some((at, wb)) = address(st, m, addr) {
            if let (true, Val::Stack(o)) = (is_store, at) {
                for k in 0..4 {
                    st.store(o + 8 * k, Val::Unknown);
                }
            }
            if let Some((r, _)) = wb {
                st.regs[r] = Val::Unknown;
            }
        }
        if !name.starts_with("ST") || name.starts_with("STX") || name.starts_with("STLX") {
            // Loads, exclusive stores' status, atomics' old value: the leading registers.
            for o in [a, b] {
                if matches!(o, Operand::Register(..)) {
                    write(st, o, Val::Unknown);
                }
            }
        }
    } else if !is_store {
        write(st, a, Val::Unknown);
    }
    if sets_flags(ins.opcode) {
        st.flags = None;
    }
}
