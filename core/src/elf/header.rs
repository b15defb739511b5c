//! The ELF file header, and whether it fits the server's process.

use std::fmt;
use std::path::Path;

use object::Endianness;
use object::elf;
use object::read::elf::FileHeader;

use super::reader::{ReadLimits, Reader};

/// 32-bit or 64-bit ELF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
pub enum ElfClass {
    /// `ELFCLASS32`.
    #[strum(serialize = "ELFCLASS32")]
    Elf32,
    /// `ELFCLASS64`.
    #[strum(serialize = "ELFCLASS64")]
    Elf64,
}

impl ElfClass {
    /// `ELFCLASS32` / `ELFCLASS64`, as ld.so spells them.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Size of a pointer in bytes.
    pub fn pointer_size(self) -> u64 {
        match self {
            ElfClass::Elf32 => 4,
            ElfClass::Elf64 => 8,
        }
    }
}

/// Byte order of the file's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase", suffix = "-endian")]
pub enum ByteOrder {
    /// `ELFDATA2LSB`.
    Little,
    /// `ELFDATA2MSB`.
    Big,
}

impl ByteOrder {
    /// `little-endian` / `big-endian`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub(crate) fn endianness(self) -> Endianness {
        match self {
            ByteOrder::Little => Endianness::Little,
            ByteOrder::Big => Endianness::Big,
        }
    }
}

/// The identifying fields of an ELF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ElfHeader {
    /// 32/64-bit.
    pub class: ElfClass,
    /// Data byte order.
    pub byte_order: ByteOrder,
    /// `e_machine` (62 = x86_64, 183 = aarch64, …).
    pub machine: u16,
    /// `EI_OSABI` (0 = System V, 3 = GNU/Linux).
    pub os_abi: u8,
    /// `EI_ABIVERSION`.
    pub abi_version: u8,
    /// `e_type` (3 = `ET_DYN`).
    pub file_type: u16,
    /// `e_flags` (processor specific).
    pub flags: u32,
}

/// Why the first bytes of a file are not a usable ELF header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// No `\x7fELF` magic.
    #[error("invalid ELF header")]
    NotElf,
    /// Fewer bytes than an ELF header.
    #[error("file too short ({len} bytes)")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// `EI_CLASS` is neither 32 nor 64-bit.
    #[error("invalid ELF class {0}")]
    BadClass(u8),
    /// `EI_DATA` is neither little nor big-endian.
    #[error("invalid ELF data encoding {0}")]
    BadByteOrder(u8),
    /// `EI_VERSION` is not `EV_CURRENT`.
    #[error("ELF file version {0} does not match current one")]
    BadVersion(u8),
}

/// Size of the ELF identification bytes plus enough of the header for every class.
pub(crate) const HEADER_READ_SIZE: u64 = 64;

impl ElfHeader {
    /// Parses the file header from the first bytes of a file (64 bytes suffice for both classes).
    pub fn parse(bytes: &[u8]) -> Result<ElfHeader, HeaderError> {
        if bytes.len() < 4 || bytes[..4] != elf::ELFMAG {
            return if bytes.len() < 4 && elf::ELFMAG.starts_with(bytes) {
                Err(HeaderError::Truncated { len: bytes.len() })
            } else {
                Err(HeaderError::NotElf)
            };
        }
        if bytes.len() < 16 {
            return Err(HeaderError::Truncated { len: bytes.len() });
        }
        let byte_order = match bytes[5] {
            1 => ByteOrder::Little,
            2 => ByteOrder::Big,
            other => return Err(HeaderError::BadByteOrder(other)),
        };
        if bytes[6] != 1 {
            return Err(HeaderError::BadVersion(bytes[6]));
        }
        match bytes[4] {
            1 => Self::parse_class::<elf::FileHeader32<Endianness>>(bytes, ElfClass::Elf32, byte_order),
            2 => Self::parse_class::<elf::FileHeader64<Endianness>>(bytes, ElfClass::Elf64, byte_order),
            other => Err(HeaderError::BadClass(other)),
        }
    }

    fn parse_class<Elf: FileHeader<Endian = Endianness>>(
        bytes: &[u8],
        class: ElfClass,
        byte_order: ByteOrder,
    ) -> Result<ElfHeader, HeaderError> {
        let header = Elf::parse(bytes).map_err(|_| HeaderError::Truncated { len: bytes.len() })?;
        let endian = byte_order.endianness();
        let ident = header.e_ident();
        Ok(ElfHeader {
            class,
            byte_order,
            machine: header.e_machine(endian).0,
            os_abi: ident.os_abi.0,
            abi_version: ident.abi_version,
            file_type: header.e_type(endian).0,
            flags: header.e_flags(endian).0,
        })
    }

    /// A short name for [`ElfHeader::machine`].
    pub fn machine_name(&self) -> &'static str {
        machine_name(self.machine)
    }

    /// `EXEC`, `DYN`, `REL`, `CORE` or `NONE`/`OTHER`.
    pub fn file_type_name(&self) -> &'static str {
        match self.file_type {
            0 => "NONE",
            1 => "REL",
            2 => "EXEC",
            3 => "DYN",
            4 => "CORE",
            _ => "OTHER",
        }
    }

    /// Whether `e_type` is `ET_DYN` (shared object or PIE executable).
    pub fn is_dyn(&self) -> bool {
        self.file_type == elf::ET_DYN.0
    }
}

/// A short, lower-case name for an `e_machine` value (`unknown` for the rest).
pub fn machine_name(machine: u16) -> &'static str {
    match machine {
        2 => "sparc",
        3 => "i386",
        8 => "mips",
        20 => "ppc",
        21 => "ppc64",
        22 => "s390",
        40 => "arm",
        43 => "sparcv9",
        62 => "x86_64",
        183 => "aarch64",
        243 => "riscv",
        258 => "loongarch",
        _ => "unknown",
    }
}

/// The ABI of the process that will load libraries: the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostAbi {
    /// 32/64-bit.
    pub class: ElfClass,
    /// Data byte order.
    pub byte_order: ByteOrder,
    /// `e_machine`.
    pub machine: u16,
}

/// How a library's header disagrees with the host (first disagreement only, in ld.so's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMismatch {
    /// Other class.
    Class {
        /// The library's class.
        found: ElfClass,
    },
    /// Other byte order.
    ByteOrder {
        /// The library's byte order.
        found: ByteOrder,
    },
    /// Other OS ABI than System V or GNU.
    OsAbi {
        /// The library's `EI_OSABI`.
        found: u8,
    },
    /// Other `e_machine`.
    Machine {
        /// The library's `e_machine`.
        found: u16,
    },
}

impl fmt::Display for HeaderMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderMismatch::Class { found } => write!(f, "wrong ELF class: {}", found.as_str()),
            HeaderMismatch::ByteOrder { found } => write!(f, "ELF file data encoding is {}", found.as_str()),
            HeaderMismatch::OsAbi { found } => write!(f, "ELF file OS ABI invalid ({found})"),
            HeaderMismatch::Machine { found } => {
                write!(f, "ELF file machine is {} ({found})", machine_name(*found))
            }
        }
    }
}

impl HostAbi {
    /// The ABI of the running process, from the ELF header of `/proc/self/exe` (in a backend: the
    /// postgres executable), falling back to what this crate was compiled for.
    pub fn current() -> HostAbi {
        Self::from_file(Path::new("/proc/self/exe")).unwrap_or_else(Self::compiled)
    }

    /// The ABI of an executable or library on disk, if it has a readable ELF header.
    pub fn from_file(path: &Path) -> Option<HostAbi> {
        let mut reader = Reader::open(path, ReadLimits::default()).ok()?;
        let bytes = reader.read_up_to("ELF header", 0, HEADER_READ_SIZE).ok()?;
        ElfHeader::parse(&bytes).ok().map(|h| Self::from_header(&h))
    }

    /// The ABI described by a header.
    pub fn from_header(header: &ElfHeader) -> HostAbi {
        HostAbi {
            class: header.class,
            byte_order: header.byte_order,
            machine: header.machine,
        }
    }

    /// The ABI this crate was compiled for (`std::env::consts::ARCH`, pointer width, endianness).
    pub fn compiled() -> HostAbi {
        let class = if cfg!(target_pointer_width = "64") {
            ElfClass::Elf64
        } else {
            ElfClass::Elf32
        };
        let byte_order = if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        };
        let machine = match std::env::consts::ARCH {
            "x86" => 3,
            "x86_64" => 62,
            "aarch64" => 183,
            "arm" => 40,
            "powerpc" => 20,
            "powerpc64" => 21,
            "s390x" => 22,
            "riscv64" | "riscv32" => 243,
            "loongarch64" => 258,
            "mips" | "mips64" => 8,
            "sparc64" => 43,
            _ => 0,
        };
        HostAbi {
            class,
            byte_order,
            machine,
        }
    }

    /// Checks what ld.so checks before it considers mapping a file (`open_verify`): class, byte
    /// order, OS ABI (System V or GNU), machine.
    pub fn check(&self, header: &ElfHeader) -> Result<(), HeaderMismatch> {
        if header.class != self.class {
            return Err(HeaderMismatch::Class { found: header.class });
        }
        if header.byte_order != self.byte_order {
            return Err(HeaderMismatch::ByteOrder {
                found: header.byte_order,
            });
        }
        if header.os_abi != elf::ELFOSABI_SYSV.0 && header.os_abi != elf::ELFOSABI_GNU.0 {
            return Err(HeaderMismatch::OsAbi { found: header.os_abi });
        }
        if header.machine != self.machine {
            return Err(HeaderMismatch::Machine { found: header.machine });
        }
        Ok(())
    }

    /// Name of the machine.
    pub fn machine_name(&self) -> &'static str {
        machine_name(self.machine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(class: u8, data: u8) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(&elf::ELFMAG);
        b[4] = class;
        b[5] = data;
        b[6] = 1;
        b
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&[u8], HeaderError)] = &[
            (b"", HeaderError::Truncated { len: 0 }),
            (b"\x7fEL", HeaderError::Truncated { len: 3 }),
            (b"#!/bin/sh\n", HeaderError::NotElf),
            (b"\x7fELF\x02\x01\x01", HeaderError::Truncated { len: 7 }),
        ];
        for (bytes, want) in cases {
            assert_eq!(ElfHeader::parse(bytes).unwrap_err(), *want, "{bytes:?}");
        }
        assert_eq!(ElfHeader::parse(&ident(3, 1)).unwrap_err(), HeaderError::BadClass(3));
        assert_eq!(
            ElfHeader::parse(&ident(2, 0)).unwrap_err(),
            HeaderError::BadByteOrder(0)
        );
        // 64-bit header needs 64 bytes.
        assert_eq!(
            ElfHeader::parse(&ident(2, 1)[..40]).unwrap_err(),
            HeaderError::Truncated { len: 40 }
        );
        let h = ElfHeader::parse(&ident(1, 2)[..52]).unwrap();
        assert_eq!((h.class, h.byte_order), (ElfClass::Elf32, ByteOrder::Big));
    }

    #[test]
    fn host_checks_in_order() {
        let host = HostAbi {
            class: ElfClass::Elf64,
            byte_order: ByteOrder::Little,
            machine: 62,
        };
        let base = ElfHeader {
            class: ElfClass::Elf64,
            byte_order: ByteOrder::Little,
            machine: 62,
            os_abi: 0,
            abi_version: 0,
            file_type: 3,
            flags: 0,
        };
        let cases = [
            (base, Ok(())),
            (ElfHeader { os_abi: 3, ..base }, Ok(())),
            (
                ElfHeader {
                    class: ElfClass::Elf32,
                    machine: 3,
                    ..base
                },
                Err(HeaderMismatch::Class { found: ElfClass::Elf32 }),
            ),
            (
                ElfHeader {
                    byte_order: ByteOrder::Big,
                    ..base
                },
                Err(HeaderMismatch::ByteOrder { found: ByteOrder::Big }),
            ),
            (ElfHeader { os_abi: 9, ..base }, Err(HeaderMismatch::OsAbi { found: 9 })),
            (
                ElfHeader { machine: 183, ..base },
                Err(HeaderMismatch::Machine { found: 183 }),
            ),
        ];
        for (header, want) in cases {
            assert_eq!(host.check(&header), want, "{header:?}");
        }
    }

    #[test]
    fn current_host_is_this_process() {
        let host = HostAbi::current();
        assert_eq!(host, HostAbi::compiled());
        assert_ne!(host.machine_name(), "unknown");
    }
}
