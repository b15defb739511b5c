//! Just enough instruction decoding to learn what `Pg_magic_func` returns.
//!
//! PostgreSQL's macro compiles to `return &static_struct;`. Optimised builds give
//! `lea rax,[rip+X]; ret` (x86_64) or `adrp x0,P; add x0,x0,#lo; ret` (aarch64); unoptimised
//! builds add a frame and spill through the stack; a struct reached through the GOT gives a load
//! (`mov rax,[rip+X]`, `ldr x0,[x0,#lo]`). The decoders follow straight-line code only, track
//! registers and stack slots, and give up (so the caller falls back to scanning) on anything else.

/// What the function leaves in the return register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReturnValue {
    /// An address computed from the program counter.
    Address(u64),
    /// A pointer loaded from this address (a GOT slot or other pointer in data).
    LoadedFrom(u64),
}

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// An instruction outside the small supported set.
    #[error("unsupported instruction at +{offset:#x}: {bytes}")]
    Unsupported {
        /// Offset from the function start.
        offset: usize,
        /// The first bytes there, hex.
        bytes: String,
    },
    /// The code ran out before a `ret`.
    #[error("no return within the first {0} bytes")]
    NoReturn(usize),
    /// Returned, but the return register's value is not known.
    #[error("return value not statically known")]
    Unknown,
}

/// Most instructions followed before giving up.
const MAX_INSNS: usize = 64;

fn unsupported(code: &[u8], offset: usize) -> DecodeError {
    let end = code.len().min(offset + 8);
    let bytes = code
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    DecodeError::Unsupported { offset, bytes }
}

/// Small map of stack slots (frame-relative offsets) to values, for unoptimised code.
#[derive(Default)]
struct Slots(Vec<(u8, i64, Option<ReturnValue>)>);

impl Slots {
    fn store(&mut self, base: u8, disp: i64, value: Option<ReturnValue>) {
        self.0.retain(|(b, d, _)| !(*b == base && *d == disp));
        if self.0.len() < 32 {
            self.0.push((base, disp, value));
        }
    }

    fn load(&self, base: u8, disp: i64) -> Option<ReturnValue> {
        self.0
            .iter()
            .find(|(b, d, _)| *b == base && *d == disp)
            .and_then(|(_, _, v)| *v)
    }
}

/// Decodes x86_64 code starting at virtual address `vaddr`.
pub(crate) fn x86_64_return(code: &[u8], vaddr: u64) -> Result<ReturnValue, DecodeError> {
    const RAX: usize = 0;
    const RSP: u8 = 4;
    const RBP: u8 = 5;
    let mut regs: [Option<ReturnValue>; 16] = [None; 16];
    let mut slots = Slots::default();
    let mut p = 0usize;
    for _ in 0..MAX_INSNS {
        let at = |i: usize| code.get(p + i).copied();
        let b0 = at(0).ok_or(DecodeError::NoReturn(code.len()))?;
        match b0 {
            0xc3 => return regs[RAX].ok_or(DecodeError::Unknown), // ret
            0xf3 if at(1) == Some(0xc3) => return regs[RAX].ok_or(DecodeError::Unknown), // rep ret
            0xf3 if code.get(p..p + 4) == Some(&[0xf3, 0x0f, 0x1e, 0xfa]) => p += 4, // endbr64
            0x90 | 0xc9 => p += 1,                                // nop, leave
            0x50..=0x57 => p += 1,                                // push r64
            0x58..=0x5f => {
                // pop r64: the value comes from the stack; only rbp (frame pointer) is harmless.
                regs[usize::from(b0 - 0x58)] = None;
                p += 1;
            }
            0x41 if matches!(at(1), Some(0x50..=0x5f)) => {
                // push/pop r8–r15
                if let Some(op @ 0x58..=0x5f) = at(1) {
                    regs[8 + usize::from(op - 0x58)] = None;
                }
                p += 2;
            }
            0xe8 => {
                // call rel32: the callee may change every caller-saved register.
                clobber_x86_64(&mut regs);
                p += 5;
            }
            0xff if matches!(at(1), Some(0xd0..=0xd7)) => {
                // call r64
                clobber_x86_64(&mut regs);
                p += 2;
            }
            0xff if at(1) == Some(0x15) => {
                // call [rip+disp32]
                clobber_x86_64(&mut regs);
                p += 6;
            }
            0xeb => {
                // jmp rel8 (pgrx debug builds jump over an unwinding landing pad)
                let rel = i64::from(at(1).ok_or_else(|| unsupported(code, p))? as i8);
                p = jump_target(p + 2, rel, code.len()).ok_or_else(|| unsupported(code, p))?;
            }
            0xe9 => {
                let rel = disp32(code, p + 1).ok_or_else(|| unsupported(code, p))?;
                p = jump_target(p + 5, rel, code.len()).ok_or_else(|| unsupported(code, p))?;
            }
            0x66 if at(1) == Some(0x90) => p += 2,
            // Operand-size / segment prefixes in front of a long nop.
            0x66 | 0x2e if matches!(at(1), Some(0x66 | 0x2e | 0x0f)) => p += 1,
            0x0f if at(1) == Some(0x1f) => p += 2 + nop_modrm_len(at(2)).ok_or_else(|| unsupported(code, p))?,
            0x48..=0x4f => {
                // REX.W-prefixed 64-bit forms only.
                if b0 & 0x08 == 0 {
                    return Err(unsupported(code, p));
                }
                let rex_r = usize::from(b0 & 0x04 != 0) << 3;
                let rex_b = usize::from(b0 & 0x01 != 0) << 3;
                let op = at(1).ok_or_else(|| unsupported(code, p))?;
                let modrm = at(2).ok_or_else(|| unsupported(code, p))?;
                let (md, reg, rm) = (modrm >> 6, usize::from((modrm >> 3) & 7) | rex_r, modrm & 7);
                match op {
                    // sub/add rsp, imm8 / imm32: frame set-up and tear-down.
                    0x83 if modrm == 0xec || modrm == 0xc4 => p += 4,
                    0x81 if modrm == 0xec || modrm == 0xc4 => p += 7,
                    0x89 if md == 3 => {
                        // mov r/m64, r64 (register to register), e.g. mov rbp, rsp.
                        regs[usize::from(rm) | rex_b] = regs[reg];
                        p += 3;
                    }
                    0x8b if md == 3 => {
                        regs[reg] = regs[usize::from(rm) | rex_b];
                        p += 3;
                    }
                    0x8d | 0x8b if md == 0 && rm == 5 => {
                        // lea / mov r64, [rip+disp32]; rip is the next instruction's address.
                        let disp = disp32(code, p + 3).ok_or_else(|| unsupported(code, p))?;
                        let next = vaddr.wrapping_add((p + 7) as u64);
                        let target = next.wrapping_add_signed(disp);
                        regs[reg] = Some(if op == 0x8d {
                            ReturnValue::Address(target)
                        } else {
                            ReturnValue::LoadedFrom(target)
                        });
                        p += 7;
                    }
                    0x89 | 0x8b if md == 1 || md == 2 => {
                        // Spill to / reload from [rbp+disp] or [rsp+disp] (unoptimised code).
                        let (base, sib_len) = match rm {
                            5 if rex_b == 0 => (RBP, 0),
                            4 if rex_b == 0 && at(3) == Some(0x24) => (RSP, 1),
                            _ => return Err(unsupported(code, p)),
                        };
                        let d_at = p + 3 + sib_len;
                        let (disp, d_len) = if md == 1 {
                            (
                                i64::from(code.get(d_at).copied().ok_or_else(|| unsupported(code, p))? as i8),
                                1,
                            )
                        } else {
                            (disp32(code, d_at).ok_or_else(|| unsupported(code, p))?, 4)
                        };
                        if op == 0x89 {
                            slots.store(base, disp, regs[reg]);
                        } else {
                            regs[reg] = slots.load(base, disp);
                        }
                        p = d_at + d_len;
                    }
                    _ => return Err(unsupported(code, p)),
                }
            }
            _ => return Err(unsupported(code, p)),
        }
    }
    Err(DecodeError::NoReturn(p))
}

/// Registers a System V x86_64 call may change: rax, rcx, rdx, rsi, rdi, r8–r11.
fn clobber_x86_64(regs: &mut [Option<ReturnValue>; 16]) {
    for r in [0, 1, 2, 6, 7, 8, 9, 10, 11] {
        regs[r] = None;
    }
}

/// Offset of a jump target within the decoded buffer of `len` bytes (`None` if outside it).
fn jump_target(next: usize, rel: i64, len: usize) -> Option<usize> {
    usize::try_from(i64::try_from(next).ok()?.checked_add(rel)?)
        .ok()
        .filter(|&t| t < len)
}

/// Length of the ModRM-encoded operand of a multi-byte `nop` (`0f 1f /0`), after the opcode.
fn nop_modrm_len(modrm: Option<u8>) -> Option<usize> {
    let modrm = modrm?;
    let sib = usize::from(modrm & 7 == 4 && modrm >> 6 != 3);
    let disp = match modrm >> 6 {
        0 if modrm & 7 == 5 => 4,
        1 => 1,
        2 => 4,
        _ => 0,
    };
    Some(1 + sib + disp)
}

fn disp32(code: &[u8], at: usize) -> Option<i64> {
    let b: [u8; 4] = code.get(at..at + 4)?.try_into().ok()?;
    Some(i64::from(i32::from_le_bytes(b)))
}

fn sign_extend(value: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((value << shift) as i64) >> shift
}

/// Decodes AArch64 code (instructions are little-endian in every data byte order).
pub(crate) fn aarch64_return(code: &[u8], vaddr: u64) -> Result<ReturnValue, DecodeError> {
    const SP: u32 = 31;
    let mut regs: [Option<ReturnValue>; 32] = [None; 32];
    let mut slots = Slots::default();
    let mut i = 0usize;
    for _ in 0..MAX_INSNS {
        let Some(word) = code.get(i * 4..i * 4 + 4) else {
            return Err(DecodeError::NoReturn(code.len()));
        };
        let pc = vaddr.wrapping_add((i * 4) as u64);
        let insn = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let mut next = i + 1;
        let rd = (insn & 31) as usize;
        let rn = (insn >> 5) & 31;
        let addr_of = |r: u32| match regs[r as usize] {
            Some(ReturnValue::Address(a)) => Some(a),
            _ => None,
        };
        if insn & 0xffff_fc1f == 0xd65f_0000 || insn == 0xd65f_0bff || insn == 0xd65f_0fff {
            // ret {xN}, retaa, retab
            return regs[0].ok_or(DecodeError::Unknown);
        } else if insn & 0xffff_f01f == 0xd503_201f {
            // HINT space: nop, bti, paciasp, autiasp, …
        } else if insn & 0x9f00_0000 == 0x9000_0000 || insn & 0x9f00_0000 == 0x1000_0000 {
            // adrp / adr
            let imm = (u64::from((insn >> 5) & 0x7ffff) << 2) | u64::from((insn >> 29) & 3);
            let value = if insn & 0x8000_0000 != 0 {
                (pc & !0xfff).wrapping_add_signed(sign_extend(imm, 21) << 12)
            } else {
                pc.wrapping_add_signed(sign_extend(imm, 21))
            };
            regs[rd] = Some(ReturnValue::Address(value));
        } else if insn & 0xff00_0000 == 0x9100_0000 || insn & 0xff00_0000 == 0xd100_0000 {
            // add/sub xd, xn, #imm{, lsl #12} (64-bit); rd or rn 31 is sp.
            let mut imm = u64::from((insn >> 10) & 0xfff);
            if insn & (1 << 22) != 0 {
                imm <<= 12;
            }
            let sub = insn & 0x4000_0000 != 0;
            if rd != SP as usize {
                regs[rd] = if rn == SP {
                    None
                } else {
                    addr_of(rn)
                        .map(|a| ReturnValue::Address(if sub { a.wrapping_sub(imm) } else { a.wrapping_add(imm) }))
                };
            }
        } else if insn & 0xffc0_0000 == 0xf940_0000 || insn & 0xffc0_0000 == 0xf900_0000 {
            // ldr / str xt, [xn, #imm12*8]
            let off = u64::from((insn >> 10) & 0xfff) * 8;
            let load = insn & 0x0040_0000 != 0;
            if rn == SP {
                if load {
                    regs[rd] = slots.load(31, off as i64);
                } else {
                    slots.store(31, off as i64, regs[rd]);
                }
            } else if load {
                regs[rd] = addr_of(rn).map(|a| ReturnValue::LoadedFrom(a.wrapping_add(off)));
            }
        } else if matches!(insn & 0xffc0_0000, 0xa980_0000 | 0xa880_0000 | 0xa900_0000) {
            // stp (pre/post/offset): frame records
        } else if matches!(insn & 0xffc0_0000, 0xa9c0_0000 | 0xa8c0_0000 | 0xa940_0000) {
            // ldp: clobbers rt and rt2
            regs[rd] = None;
            regs[((insn >> 10) & 31) as usize] = None;
        } else if insn & 0xffe0_ffe0 == 0xaa00_03e0 {
            // mov xd, xm (orr xd, xzr, xm)
            regs[rd] = regs[((insn >> 16) & 31) as usize];
        } else if insn & 0xfc00_0000 == 0x9400_0000 || insn & 0xffff_fc1f == 0xd63f_0000 {
            // bl / blr: the callee may change x0–x18 and the link register.
            for r in regs.iter_mut().take(19) {
                *r = None;
            }
            regs[30] = None;
        } else if insn & 0xfc00_0000 == 0x1400_0000 {
            // b imm26 (words)
            let target = i64::try_from(i)
                .ok()
                .and_then(|i| i.checked_add(sign_extend(u64::from(insn & 0x03ff_ffff), 26)));
            next = target
                .and_then(|t| usize::try_from(t).ok())
                .filter(|&t| t < code.len() / 4)
                .ok_or_else(|| unsupported(code, i * 4))?;
        } else {
            return Err(unsupported(code, i * 4));
        }
        i = next;
    }
    Err(DecodeError::NoReturn(code.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReturnValue::*;

    #[test]
    fn x86_64_patterns() {
        let base = 0x1000;
        let cases: &[(&str, &[u8], Result<ReturnValue, ()>)] = &[
            // gcc -O2: lea rax,[rip+0x4149]; ret
            (
                "O2",
                &[0x48, 0x8d, 0x05, 0x49, 0x41, 0x00, 0x00, 0xc3],
                Ok(Address(0x1007 + 0x4149)),
            ),
            // endbr64; lea; ret
            (
                "cet",
                &[0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x8d, 0x05, 0x10, 0, 0, 0, 0xc3],
                Ok(Address(0x100b + 0x10)),
            ),
            // gcc -O0: push rbp; mov rbp,rsp; lea rax,[rip-0x20]; pop rbp; ret
            (
                "O0",
                &[
                    0x55, 0x48, 0x89, 0xe5, 0x48, 0x8d, 0x05, 0xe0, 0xff, 0xff, 0xff, 0x5d, 0xc3,
                ],
                Ok(Address(0x100b - 0x20)),
            ),
            // mov rax,[rip+0x100]; ret (through the GOT)
            (
                "got",
                &[0x48, 0x8b, 0x05, 0x00, 0x01, 0, 0, 0xc3],
                Ok(LoadedFrom(0x1007 + 0x100)),
            ),
            // lea rax,[rip+8]; mov [rbp-8],rax; mov rcx,[rbp-8]; mov rax,rcx; ret
            (
                "spill",
                &[
                    0x48, 0x8d, 0x05, 8, 0, 0, 0, 0x48, 0x89, 0x45, 0xf8, 0x48, 0x8b, 0x4d, 0xf8, 0x48, 0x89, 0xc8,
                    0xc3,
                ],
                Ok(Address(0x1007 + 8)),
            ),
            // 66 2e 0f 1f 84 00 00 00 00 00 (long nop); lea; ret
            (
                "nop",
                &[
                    0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0, 0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xc3,
                ],
                Ok(Address(0x1011)),
            ),
            // pgrx (debug): push rax; mov rax,[rip+X]; call rax; jmp +6; call [rip+Y]; lea rax,[rip+Z]; pop rcx; ret
            (
                "pgrx",
                &[
                    0x50, 0x48, 0x8b, 0x05, 0xc8, 0x95, 0xbe, 0x00, 0xff, 0xd0, 0xeb, 0x06, 0xff, 0x15, 0x26, 0x93,
                    0xbe, 0x00, 0x48, 0x8d, 0x05, 0x9f, 0x27, 0xb9, 0x00, 0x59, 0xc3,
                ],
                Ok(Address(0x1019 + 0xb9279f)),
            ),
            // a call clobbers rax: lea rax,[rip]; call rel32; ret
            (
                "clobbered",
                &[0x48, 0x8d, 0x05, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xc3],
                Err(()),
            ),
            // pop rax: unknown value
            ("pop rax", &[0x48, 0x8d, 0x05, 0, 0, 0, 0, 0x58, 0xc3], Err(())),
            // a jump before the buffer
            ("jmp back", &[0xeb, 0x80], Err(())),
            // jmp to itself: bounded by the instruction limit
            ("loop", &[0xeb, 0xfe], Err(())),
            // xor eax,eax; ret: unsupported
            ("xor", &[0x31, 0xc0, 0xc3], Err(())),
            // ret with unknown rax
            ("bare ret", &[0xc3], Err(())),
            // runs off the end
            ("short", &[0x48, 0x8d, 0x05, 1], Err(())),
            ("empty", &[], Err(())),
        ];
        for (name, code, want) in cases {
            assert_eq!(x86_64_return(code, base).map_err(|_| ()), *want, "{name}");
        }
    }

    fn words(insns: &[u32]) -> Vec<u8> {
        insns.iter().flat_map(|i| i.to_le_bytes()).collect()
    }

    #[test]
    fn aarch64_patterns() {
        let base = 0x10_0ff0;
        let cases: &[(&str, Vec<u8>, Result<ReturnValue, ()>)] = &[
            // adrp x0, +1 page; add x0, x0, #0x120; ret
            (
                "O2",
                words(&[0xb000_0000, 0x9104_8000, 0xd65f_03c0]),
                Ok(Address(0x10_1120)),
            ),
            // bti c; adrp x0, 0; add x0, x0, #8; ret
            (
                "bti",
                words(&[0xd503_245f, 0x9000_0000, 0x9100_2000, 0xd65f_03c0]),
                Ok(Address(0x10_0000 + 8)),
            ),
            // adrp x0, 0; ldr x0, [x0, #16]; ret (GOT)
            (
                "got",
                words(&[0x9000_0000, 0xf940_0800, 0xd65f_03c0]),
                Ok(LoadedFrom(0x10_0000 + 16)),
            ),
            // -O0 style: stp x29,x30,[sp,#-16]!; mov x29,sp; adrp x1,0; add x1,x1,#4; mov x0,x1; ldp x29,x30,[sp],#16; ret
            (
                "O0",
                words(&[
                    0xa9bf_7bfd,
                    0x9100_03fd,
                    0x9000_0001,
                    0x9100_1021,
                    0xaa01_03e0,
                    0xa8c1_7bfd,
                    0xd65f_03c0,
                ]),
                Ok(Address(0x10_0000 + 4)),
            ),
            // str x1,[sp,#8] / ldr x0,[sp,#8] through a stack slot
            (
                "slot",
                words(&[0x9000_0001, 0xf900_07e1, 0xf940_07e0, 0xd65f_03c0]),
                Ok(Address(0x10_0000)),
            ),
            // b +2; (skipped) nop; adrp x0, 0; ret
            (
                "branch",
                words(&[0x1400_0002, 0xd503_201f, 0x9000_0000, 0xd65f_03c0]),
                Ok(Address(0x10_0000)),
            ),
            // adrp x0, 0; bl somewhere; ret: x0 clobbered
            ("bl", words(&[0x9000_0000, 0x9400_0010, 0xd65f_03c0]), Err(())),
            // b . (loop)
            ("loop", words(&[0x1400_0000]), Err(())),
            // mov w0, #0; ret: unsupported
            ("movz", words(&[0x5280_0000, 0xd65f_03c0]), Err(())),
            ("bare ret", words(&[0xd65f_03c0]), Err(())),
            ("no ret", words(&[0xd503_201f]), Err(())),
        ];
        for (name, code, want) in cases {
            assert_eq!(aarch64_return(code, base).map_err(|_| ()), *want, "{name}");
        }
    }
}
