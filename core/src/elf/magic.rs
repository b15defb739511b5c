//! PostgreSQL's magic block, read without loading the library.
//!
//! `dlopen` would run the library's constructors, so instead the code of the exported
//! `Pg_magic_func` is decoded to find the address it returns (see the private `insn` module), and the
//! `Pg_magic_struct` there is read from the file image, applying the relocations the dynamic
//! loader would apply to its pointer fields. If decoding fails, the data sections are scanned for
//! a block whose length and fields match a known layout.
//!
//! Layouts, from the history of `src/include/fmgr.h` (every one starts with `int len; int version`,
//! so the version is always at offset 4):
//!
//! | PostgreSQL | fields after `len`                                                       | `len` |
//! |------------|--------------------------------------------------------------------------|-------|
//! | 8.2–8.3    | version, funcmaxargs, indexmaxkeys, namedatalen                          | 20    |
//! | 8.4–12     | … namedatalen, float4byval, float8byval                                  | 28    |
//! | 13–14      | … namedatalen, float8byval (float4 became always by-value)               | 24    |
//! | 15–17      | … float8byval, `char abi_extra[32]`                                      | 56    |
//! | 18         | the same five ints and abi_extra as `Pg_abi_values`, then `const char *name, *version` | 72 (LP64), 64 (ILP32) |
//!
//! The server (dfmgr.c `internal_load_library`) accepts a block only if `len` equals its own
//! `sizeof(Pg_magic_struct)` and the `Pg_abi_values` bytes are identical; otherwise
//! `incompatible_module_error` reports, in this order: version mismatch, ABI mismatch (abi_extra),
//! then every differing field as a "magic block mismatch".

use std::path::Path;

use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, Rel, Rela};

use super::dynamic::{DynamicInfo, parse_dynamic};
use super::file::{ElfError, ElfFile, read_ptr, read_u32};
use super::header::{ElfClass, ElfHeader};
use super::insn::{self, ReturnValue};
use super::reader::ReadLimits;
use crate::problem::{Code, Problem, Severity};

/// Name of the exported function PostgreSQL looks up with `dlsym`.
pub const MAGIC_FUNCTION: &str = "Pg_magic_func";

/// Which `Pg_magic_struct` definition a block follows, judged by its `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
pub enum MagicLayout {
    /// PostgreSQL 8.2–8.3 (`len` 20).
    #[strum(serialize = "pg8.2")]
    Pg82,
    /// PostgreSQL 8.4–12 (`len` 28, with float4byval).
    #[strum(serialize = "pg8.4-12")]
    Pg84To12,
    /// PostgreSQL 13–14 (`len` 24).
    #[strum(serialize = "pg13-14")]
    Pg13To14,
    /// PostgreSQL 15–17 (`len` 56, with abi_extra).
    #[strum(serialize = "pg15-17")]
    Pg15To17,
    /// PostgreSQL 18 (`len` 72 on 64-bit, 64 on 32-bit, with name and version pointers).
    #[strum(serialize = "pg18")]
    Pg18,
    /// A length no PostgreSQL release used.
    #[strum(serialize = "unknown")]
    Unknown,
}

impl MagicLayout {
    fn from_len(len: i32, class: ElfClass) -> MagicLayout {
        match (len, class) {
            (20, _) => MagicLayout::Pg82,
            (28, _) => MagicLayout::Pg84To12,
            (24, _) => MagicLayout::Pg13To14,
            (56, _) => MagicLayout::Pg15To17,
            (72, ElfClass::Elf64) | (64, ElfClass::Elf32) => MagicLayout::Pg18,
            _ => MagicLayout::Unknown,
        }
    }

    /// Short name: `pg8.2`, `pg8.4-12`, `pg13-14`, `pg15-17`, `pg18`, `unknown`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether `version` (PG_VERSION_NUM / 100) is one that used this layout.
    fn fits_version(self, version: i32) -> bool {
        match self {
            MagicLayout::Pg82 => matches!(version, 802 | 803),
            MagicLayout::Pg84To12 => matches!(version, 804 | 900..=906 | 1000 | 1100 | 1200),
            MagicLayout::Pg13To14 => matches!(version, 1300 | 1400),
            MagicLayout::Pg15To17 => matches!(version, 1500 | 1600 | 1700),
            MagicLayout::Pg18 => (1800..=9900).contains(&version) && version % 100 == 0,
            MagicLayout::Unknown => false,
        }
    }
}

/// Whether a number looks like a PostgreSQL magic-block version (802 … 906, 1000, 1100, …).
fn version_looks_like_pg(version: i32) -> bool {
    matches!(version, 802..=804 | 900..=906) || ((1000..=9900).contains(&version) && version % 100 == 0)
}

/// How the block was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum MagicSource {
    /// From the address `Pg_magic_func` returns.
    Decoded,
    /// By scanning data sections (the function's code was not understood).
    Scanned,
}

impl MagicSource {
    /// `decoded` or `scanned`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A decoded `Pg_magic_struct`. Fields a layout lacks are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagicBlock {
    /// `len`: `sizeof(Pg_magic_struct)` of the headers the library was built with.
    pub len: i32,
    /// Layout implied by `len`.
    pub layout: MagicLayout,
    /// PG_VERSION_NUM / 100: 1800 for PostgreSQL 18, 906 for 9.6.
    pub pg_version: i32,
    /// FUNC_MAX_ARGS.
    pub funcmaxargs: Option<i32>,
    /// INDEX_MAX_KEYS.
    pub indexmaxkeys: Option<i32>,
    /// NAMEDATALEN.
    pub namedatalen: Option<i32>,
    /// FLOAT4PASSBYVAL (8.4–12 only).
    pub float4byval: Option<i32>,
    /// FLOAT8PASSBYVAL.
    pub float8byval: Option<i32>,
    /// FMGR_ABI_EXTRA up to its NUL (`PostgreSQL` for community builds), 15 and later.
    pub abi_extra: Option<String>,
    /// All 32 bytes of abi_extra: the server compares them with `memcmp`, padding included.
    pub abi_extra_raw: Option<[u8; 32]>,
    /// Module name from `PG_MODULE_MAGIC_EXT(.name = …)` (18 and later).
    pub name: Option<String>,
    /// Module version from `PG_MODULE_MAGIC_EXT(.version = …)` (18 and later).
    pub version: Option<String>,
    /// Virtual address of the block.
    pub address: u64,
    /// How it was found.
    pub source: MagicSource,
}

impl MagicBlock {
    /// The major version as PostgreSQL prints it: `18`, or `9.6` before version 10.
    pub fn pg_major(&self) -> String {
        format_pg_version(self.pg_version)
    }

    /// Field-level plausibility, used to accept a block found by scanning.
    fn is_plausible(&self) -> bool {
        let small = |v: Option<i32>| v.is_none_or(|v| (1..=1 << 16).contains(&v));
        let boolean = |v: Option<i32>| v.is_none_or(|v| v == 0 || v == 1);
        let abi_ok = self.abi_extra_raw.is_none_or(|raw| {
            let end = raw.iter().position(|&b| b == 0);
            end.is_some_and(|end| raw[..end].iter().all(|b| b.is_ascii_graphic() || *b == b' '))
        });
        self.layout.fits_version(self.pg_version)
            && small(self.funcmaxargs)
            && small(self.indexmaxkeys)
            && small(self.namedatalen)
            && boolean(self.float4byval)
            && boolean(self.float8byval)
            && abi_ok
    }
}

/// `18` for 1800, `9.6` for 906 (dfmgr.c formats versions before 10 with a dot).
pub fn format_pg_version(version: i32) -> String {
    if version >= 1000 {
        format!("{}", version / 100)
    } else {
        format!("{}.{}", version / 100, version % 100)
    }
}

/// Result of looking for the magic block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MagicOutcome {
    /// Found and decoded.
    Found(MagicBlock),
    /// No exported `Pg_magic_func`: the server refuses the library ("missing magic block").
    Missing,
    /// `Pg_magic_func` exists, but its block could not be read statically (reason given).
    Unreadable(String),
}

/// The values the server's own magic block holds (`PG_MODULE_MAGIC_DATA` of its build).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerMagic {
    /// `sizeof(Pg_magic_struct)`.
    pub len: i32,
    /// PG_VERSION_NUM / 100.
    pub version: i32,
    /// FUNC_MAX_ARGS.
    pub funcmaxargs: i32,
    /// INDEX_MAX_KEYS.
    pub indexmaxkeys: i32,
    /// NAMEDATALEN.
    pub namedatalen: i32,
    /// FLOAT8PASSBYVAL.
    pub float8byval: i32,
    /// FMGR_ABI_EXTRA, NUL-padded.
    pub abi_extra: [u8; 32],
}

impl ServerMagic {
    /// A community PostgreSQL 18 build with default settings, for the given pointer size.
    pub fn pg18(class: ElfClass) -> ServerMagic {
        let mut abi_extra = [0u8; 32];
        abi_extra[..10].copy_from_slice(b"PostgreSQL");
        ServerMagic {
            len: match class {
                ElfClass::Elf64 => 72,
                ElfClass::Elf32 => 64,
            },
            version: 1800,
            funcmaxargs: 100,
            indexmaxkeys: 32,
            namedatalen: 64,
            float8byval: 1,
            abi_extra,
        }
    }

    /// The values of the server a module was built with: a module the server ships (`plpgsql.so`)
    /// carries the server's own `PG_MODULE_MAGIC_DATA`. Fields a pre-15 block lacks keep the
    /// community defaults.
    pub fn from_block(block: &MagicBlock) -> ServerMagic {
        let mut m = ServerMagic::pg18(ElfClass::Elf64);
        m.len = block.len;
        m.version = block.pg_version;
        m.funcmaxargs = block.funcmaxargs.unwrap_or(m.funcmaxargs);
        m.indexmaxkeys = block.indexmaxkeys.unwrap_or(m.indexmaxkeys);
        m.namedatalen = block.namedatalen.unwrap_or(m.namedatalen);
        m.float8byval = block.float8byval.unwrap_or(m.float8byval);
        if let Some(raw) = block.abi_extra_raw {
            m.abi_extra = raw;
        }
        m
    }

    /// Replaces abi_extra (forks set their own; at most 31 bytes are kept, as in C).
    pub fn with_abi_extra(mut self, abi_extra: &str) -> ServerMagic {
        self.abi_extra = [0u8; 32];
        let bytes = abi_extra.as_bytes();
        let n = bytes.len().min(31);
        self.abi_extra[..n].copy_from_slice(&bytes[..n]);
        self
    }

    fn abi_extra_str(&self) -> String {
        c_string(&self.abi_extra)
    }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Compares a library's magic block with the server's like `internal_load_library` does, and
/// returns the error it would raise (worded as dfmgr.c words it), or `None` if it would accept.
pub fn check_magic(libname: &str, outcome: &MagicOutcome, server: &ServerMagic) -> Option<Problem> {
    let block = match outcome {
        MagicOutcome::Found(block) => block,
        MagicOutcome::Missing => {
            return Some(
                Problem::error(
                    Code::MissingMagicBlock,
                    format!("incompatible library \"{libname}\": missing magic block"),
                )
                .with_hint("Extension libraries are required to use the PG_MODULE_MAGIC macro."),
            );
        }
        MagicOutcome::Unreadable(reason) => {
            return Some(
                Problem::warning(
                    Code::UnreadableMagicBlock,
                    format!("magic block of \"{libname}\" could not be read without loading the library"),
                )
                .with_detail(reason.clone()),
            );
        }
    };
    let same = block.len == server.len
        && block.pg_version == server.version
        && block.funcmaxargs == Some(server.funcmaxargs)
        && block.indexmaxkeys == Some(server.indexmaxkeys)
        && block.namedatalen == Some(server.namedatalen)
        && block.float8byval == Some(server.float8byval)
        && block.abi_extra_raw == Some(server.abi_extra);
    if same {
        return None;
    }
    if block.pg_version != server.version {
        return Some(
            Problem::error(
                Code::PgVersionMismatch,
                format!("incompatible library \"{libname}\": version mismatch"),
            )
            .with_detail(format!(
                "Server is version {}, library is version {}.",
                server.version / 100,
                format_pg_version(block.pg_version)
            ))
            .with_subject("version"),
        );
    }
    let library_abi = block.abi_extra.clone().unwrap_or_default();
    if library_abi != server.abi_extra_str() {
        return Some(
            Problem::error(
                Code::MagicMismatch,
                format!("incompatible library \"{libname}\": ABI mismatch"),
            )
            .with_detail(format!(
                "Server has ABI \"{}\", library has \"{library_abi}\".",
                server.abi_extra_str()
            ))
            .with_subject("abi_extra"),
        );
    }
    let mut details = Vec::new();
    let mut fields = Vec::new();
    let ints = [
        ("funcmaxargs", "FUNC_MAX_ARGS", block.funcmaxargs, server.funcmaxargs),
        (
            "indexmaxkeys",
            "INDEX_MAX_KEYS",
            block.indexmaxkeys,
            server.indexmaxkeys,
        ),
        ("namedatalen", "NAMEDATALEN", block.namedatalen, server.namedatalen),
    ];
    for (field, macro_name, lib, srv) in ints {
        if let Some(lib) = lib.filter(|&v| v != srv) {
            details.push(format!("Server has {macro_name} = {srv}, library has {lib}."));
            fields.push(field);
        }
    }
    if let Some(lib) = block.float8byval.filter(|&v| v != server.float8byval) {
        let b = |v: i32| if v != 0 { "true" } else { "false" };
        details.push(format!(
            "Server has FLOAT8PASSBYVAL = {}, library has {}.",
            b(server.float8byval),
            b(lib)
        ));
        fields.push("float8byval");
    }
    if details.is_empty() {
        details.push("Magic block has unexpected length or padding difference.".to_owned());
        fields.push("len");
    }
    Some(
        Problem::new(
            Code::MagicMismatch,
            Severity::Error,
            format!("incompatible library \"{libname}\": magic block mismatch"),
        )
        .with_detail(details.join("\n"))
        .with_subject(fields.join(",")),
    )
}

/// Longest module name/version string read.
const MAX_MAGIC_STRING: u64 = 1024;
/// Largest data section scanned when decoding fails.
const MAX_SCAN_SECTION: u64 = 64 << 20;

/// Reads only what is needed to decode the magic block of one file (no dependency resolution).
pub fn read_magic(path: &Path, limits: ReadLimits) -> Result<MagicOutcome, ElfError> {
    let mut file = ElfFile::open(path, limits)?;
    let dynamic = parse_dynamic(&mut file)?;
    Ok(find_magic(&mut file, &dynamic))
}

/// Finds and decodes the magic block of a parsed library.
pub(crate) fn find_magic(file: &mut ElfFile, dynamic: &DynamicInfo) -> MagicOutcome {
    let Some(func) = dynamic
        .symbols
        .iter()
        .find(|s| s.name == MAGIC_FUNCTION && s.is_export())
    else {
        return MagicOutcome::Missing;
    };
    let (func_addr, func_size) = (func.value, func.size);
    let mut relocs = Relocations::default();
    let decoded = match decode_function(file, func_addr, func_size) {
        Ok(ReturnValue::Address(addr)) => Ok(addr),
        Ok(ReturnValue::LoadedFrom(slot)) => match relocs.resolve_pointer(file, dynamic, slot) {
            Ok(Some(addr)) => Ok(addr),
            Ok(None) => Err(format!(
                "Pg_magic_func loads its result from {slot:#x}, which could not be resolved"
            )),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e),
    };
    let decode_error = match decoded.and_then(|addr| {
        decode_block(file, dynamic, &mut relocs, addr, MagicSource::Decoded).map_err(|e| e.to_string())
    }) {
        Ok(Some(block)) if version_looks_like_pg(block.pg_version) => return MagicOutcome::Found(block),
        Ok(Some(block)) => format!(
            "the block Pg_magic_func returns has an implausible version {}",
            block.pg_version
        ),
        Ok(None) => "the address Pg_magic_func returns is not in a loaded segment".to_owned(),
        Err(e) => e,
    };
    match scan(file, dynamic, &mut relocs) {
        Ok(Some(block)) => MagicOutcome::Found(block),
        Ok(None) => MagicOutcome::Unreadable(format!("{decode_error}; no magic block found in the data sections")),
        Err(e) => MagicOutcome::Unreadable(format!("{decode_error}; scanning failed: {e}")),
    }
}

fn decode_function(file: &mut ElfFile, addr: u64, size: u64) -> Result<ReturnValue, String> {
    let decoder: fn(&[u8], u64) -> Result<ReturnValue, insn::DecodeError> =
        match (file.header.machine, file.header.class) {
            (62, ElfClass::Elf64) => insn::x86_64_return,
            (183, ElfClass::Elf64) => insn::aarch64_return,
            (machine, _) => return Err(format!("no decoder for {}", super::header::machine_name(machine))),
        };
    // The function may sit at the very end of its segment: shrink the window until it maps.
    let mut window = if size == 0 { 64 } else { size.clamp(4, 256) };
    let code = loop {
        match file.read_vaddr(addr, window) {
            Ok(Some(code)) => break code,
            Ok(None) if window > 4 => window /= 2,
            Ok(None) => return Err(format!("Pg_magic_func at {addr:#x} is not in a loaded segment")),
            Err(e) => return Err(e.to_string()),
        }
    };
    decoder(&code, addr).map_err(|e| format!("Pg_magic_func: {e}"))
}

/// Reads the block at `addr`; `Ok(None)` if the address is not mapped.
fn decode_block(
    file: &mut ElfFile,
    dynamic: &DynamicInfo,
    relocs: &mut Relocations,
    addr: u64,
    source: MagicSource,
) -> Result<Option<MagicBlock>, ElfError> {
    let class = file.header.class;
    let order = file.header.byte_order;
    let ptr = class.pointer_size();
    // Largest layout first; a smaller block may end right at its segment's end.
    let mut bytes = None;
    for want in [56 + 2 * ptr, 56, 28, 24, 20] {
        if let Some(b) = file.read_vaddr(addr, want)? {
            bytes = Some(b);
            break;
        }
    }
    let Some(bytes) = bytes else { return Ok(None) };
    let int = |at: usize| read_u32(&bytes, at, order).map(|v| v as i32);
    let (Some(len), Some(pg_version)) = (int(0), int(4)) else {
        return Ok(None);
    };
    let layout = MagicLayout::from_len(len, class);
    let available = bytes.len();
    let needed = match layout {
        MagicLayout::Pg82 => 20,
        MagicLayout::Pg84To12 => 28,
        MagicLayout::Pg13To14 => 24,
        MagicLayout::Pg15To17 => 56,
        MagicLayout::Pg18 => 56 + 2 * ptr as usize,
        MagicLayout::Unknown => 20,
    };
    if available < needed {
        return Ok(None);
    }
    let (float4byval, float8byval, has_abi) = match layout {
        MagicLayout::Pg82 => (None, None, false),
        MagicLayout::Pg84To12 => (int(20), int(24), false),
        MagicLayout::Pg13To14 => (None, int(20), false),
        MagicLayout::Pg15To17 | MagicLayout::Pg18 => (None, int(20), true),
        // Read an unknown block the way the PG 18 server reads it.
        MagicLayout::Unknown => (None, int(20), available >= 56),
    };
    let abi_extra_raw: Option<[u8; 32]> = if has_abi {
        bytes.get(24..56).and_then(|b| b.try_into().ok())
    } else {
        None
    };
    let (name, version) = if layout == MagicLayout::Pg18 {
        let name_at = addr.wrapping_add(56);
        let version_at = name_at.wrapping_add(ptr);
        (
            read_pointed_string(file, dynamic, relocs, name_at)?,
            read_pointed_string(file, dynamic, relocs, version_at)?,
        )
    } else {
        (None, None)
    };
    Ok(Some(MagicBlock {
        len,
        layout,
        pg_version,
        funcmaxargs: int(8),
        indexmaxkeys: int(12),
        namedatalen: int(16),
        float4byval,
        float8byval,
        abi_extra: abi_extra_raw.map(|raw| c_string(&raw)),
        abi_extra_raw,
        name,
        version,
        address: addr,
        source,
    }))
}

fn read_pointed_string(
    file: &mut ElfFile,
    dynamic: &DynamicInfo,
    relocs: &mut Relocations,
    slot: u64,
) -> Result<Option<String>, ElfError> {
    match relocs.resolve_pointer(file, dynamic, slot)? {
        Some(0) | None => Ok(None),
        Some(target) => file.read_c_string(target, MAX_MAGIC_STRING),
    }
}

/// Scans non-executable allocated data for exactly one plausible block.
fn scan(file: &mut ElfFile, dynamic: &DynamicInfo, relocs: &mut Relocations) -> Result<Option<MagicBlock>, ElfError> {
    let class = file.header.class;
    let order = file.header.byte_order;
    let candidates: Vec<(u64, u64)> = file
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_alloc() && !s.is_exec() && s.sh_type == elf::SHT_PROGBITS.0 && s.size <= MAX_SCAN_SECTION)
        .map(|(i, s)| (i as u64, s.addr))
        .collect();
    let mut found: Option<MagicBlock> = None;
    for (index, section_addr) in candidates {
        let data = file.section_data(index as usize)?;
        let mut at = (4 - (section_addr % 4) as usize) % 4;
        while at + 20 <= data.len() {
            let len = read_u32(&data, at, order).map(|v| v as i32);
            let version = read_u32(&data, at + 4, order).map(|v| v as i32);
            if let (Some(len), Some(version)) = (len, version)
                && MagicLayout::from_len(len, class).fits_version(version)
            {
                let addr = section_addr.wrapping_add(at as u64);
                if let Some(block) = decode_block(file, dynamic, relocs, addr, MagicSource::Scanned)?
                    && block.is_plausible()
                {
                    match &found {
                        None => found = Some(block),
                        Some(first) if same_values(first, &block) => {}
                        Some(_) => return Ok(None),
                    }
                }
            }
            at += 4;
        }
    }
    Ok(found)
}

fn same_values(a: &MagicBlock, b: &MagicBlock) -> bool {
    MagicBlock {
        address: 0,
        ..a.clone()
    } == MagicBlock {
        address: 0,
        ..b.clone()
    }
}

/// How one relocation computes the pointer stored at its offset.
#[derive(Debug, Clone, Copy)]
enum RelocKind {
    /// Base + addend.
    Relative,
    /// Symbol value + addend.
    Absolute,
    /// Symbol value (GOT entry).
    GlobDat,
}

#[derive(Debug, Clone, Copy)]
struct Reloc {
    kind: RelocKind,
    sym: u32,
    /// Explicit addend (RELA), or `None` for REL, whose addend is the stored value.
    addend: Option<i64>,
}

/// Dynamic relocations, looked up by the offset they patch.
///
/// A PG 18 block needs two lookups (its name and version pointers), while a large library
/// carries 10^5 relocations (pgext.so ~120k, 2.8 MB). So small tables are read once into a list
/// sorted by offset; large ones are streamed in chunks for each of the first
/// [`STREAMED_LOOKUPS`] lookups without keeping anything, and only a caller that keeps asking (the
/// data scan) has them read into the sorted list.
#[derive(Debug, Default)]
struct Relocations {
    lookups: usize,
    sorted: Option<Vec<(u64, Reloc)>>,
}

/// Relocation tables up to this size are read whole on the first lookup.
const STREAM_ABOVE: u64 = 256 << 10;
/// Lookups answered by streaming a large table before it is read into a sorted list.
const STREAMED_LOOKUPS: usize = 4;

impl Relocations {
    /// The relocation at `slot`; the last one listed wins, as the loader applies them in order.
    fn find(&mut self, file: &mut ElfFile, slot: u64) -> Result<Option<Reloc>, ElfError> {
        if self.sorted.is_none() {
            // Saturating: section sizes are the file's word and may be absurd.
            let total = reloc_sections(file)
                .iter()
                .fold(0u64, |sum, &(i, _)| sum.saturating_add(file.sections[i].size));
            if total > STREAM_ABOVE && self.lookups < STREAMED_LOOKUPS {
                self.lookups += 1;
                return match file.header.class {
                    ElfClass::Elf32 => stream_find::<elf::FileHeader32<Endianness>>(file, slot),
                    ElfClass::Elf64 => stream_find::<elf::FileHeader64<Endianness>>(file, slot),
                };
            }
            self.sorted = Some(match file.header.class {
                ElfClass::Elf32 => read_relocs::<elf::FileHeader32<Endianness>>(file)?,
                ElfClass::Elf64 => read_relocs::<elf::FileHeader64<Endianness>>(file)?,
            });
        }
        let sorted = self.sorted.as_deref().unwrap_or_default();
        let end = sorted.partition_point(|(offset, _)| *offset <= slot);
        Ok(end
            .checked_sub(1)
            .and_then(|i| sorted.get(i))
            .filter(|(offset, _)| *offset == slot)
            .map(|(_, reloc)| *reloc))
    }
}

impl Relocations {
    /// The pointer value the loader would leave at `slot`, with load base 0. `None` if `slot` is
    /// not mapped or points into another object.
    fn resolve_pointer(
        &mut self,
        file: &mut ElfFile,
        dynamic: &DynamicInfo,
        slot: u64,
    ) -> Result<Option<u64>, ElfError> {
        let class = file.header.class;
        let Some(stored_bytes) = file.read_vaddr(slot, class.pointer_size())? else {
            return Ok(None);
        };
        let stored = read_ptr(&stored_bytes, 0, class, file.header.byte_order).unwrap_or(0);
        let Some(reloc) = self.find(file, slot)? else {
            // No relocation: RELR (implicit addend), or a plain stored value.
            return Ok(Some(stored));
        };
        let addend = reloc.addend.unwrap_or(stored as i64);
        let value = match reloc.kind {
            RelocKind::Relative => Some(addend as u64),
            RelocKind::Absolute | RelocKind::GlobDat => {
                let sym = (reloc.sym as usize).checked_sub(1).and_then(|i| dynamic.symbols.get(i));
                sym.filter(|s| s.defined).map(|s| {
                    let addend = if matches!(reloc.kind, RelocKind::GlobDat) && reloc.addend.is_none() {
                        0
                    } else {
                        addend
                    };
                    s.value.wrapping_add_signed(addend)
                })
            }
        };
        Ok(value.map(|v| mask_to_class(v, class)))
    }
}

fn mask_to_class(value: u64, class: ElfClass) -> u64 {
    match class {
        ElfClass::Elf32 => value & 0xffff_ffff,
        ElfClass::Elf64 => value,
    }
}

/// (RELATIVE, absolute word, GLOB_DAT) relocation types per machine.
fn reloc_types(header: &ElfHeader) -> Option<(u32, u32, Option<u32>)> {
    Some(match header.machine {
        62 => (8, 1, Some(6)),          // x86_64
        183 => (1027, 257, Some(1025)), // aarch64
        3 => (8, 1, Some(6)),           // i386
        40 => (23, 2, Some(21)),        // arm
        21 => (22, 38, Some(20)),       // ppc64
        22 => (12, 22, Some(10)),       // s390x
        243 | 258 => (3, 2, None),      // riscv, loongarch
        _ => return None,
    })
}

/// Allocated `SHT_RELA`/`SHT_REL` sections: (index, is RELA).
fn reloc_sections(file: &ElfFile) -> Vec<(usize, bool)> {
    file.sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_alloc() && (s.sh_type == elf::SHT_RELA.0 || s.sh_type == elf::SHT_REL.0))
        .map(|(i, s)| (i, s.sh_type == elf::SHT_RELA.0))
        .collect()
}

/// Calls `each(offset, reloc)` for every relocation that can store a pointer, in file order,
/// each section streamed by [`ElfFile::stream_records`].
fn for_each_reloc<Elf: FileHeader<Endian = Endianness>>(
    file: &mut ElfFile,
    mut each: impl FnMut(u64, Reloc),
) -> Result<(), ElfError> {
    let Some((relative, absolute, glob_dat)) = reloc_types(&file.header) else {
        return Ok(());
    };
    let endian = file.endian();
    let kind_of = |t: u32| {
        if t == relative {
            Some(RelocKind::Relative)
        } else if t == absolute {
            Some(RelocKind::Absolute)
        } else if Some(t) == glob_dat {
            Some(RelocKind::GlobDat)
        } else {
            None
        }
    };
    for (index, is_rela) in reloc_sections(file) {
        let (offset, size) = (file.sections[index].offset, file.sections[index].size);
        if is_rela {
            file.stream_records::<Elf::Rela>("relocations", offset, size, |relas| {
                for r in relas {
                    if let Some(kind) = kind_of(r.r_type(endian, false).0) {
                        let reloc = Reloc {
                            kind,
                            sym: r.r_sym(endian, false),
                            addend: Some(r.r_addend(endian).into()),
                        };
                        each(r.r_offset(endian).into(), reloc);
                    }
                }
            })?;
        } else {
            file.stream_records::<Elf::Rel>("relocations", offset, size, |rels| {
                for r in rels {
                    if let Some(kind) = kind_of(r.r_type(endian).0) {
                        let reloc = Reloc {
                            kind,
                            sym: r.r_sym(endian),
                            addend: None,
                        };
                        each(r.r_offset(endian).into(), reloc);
                    }
                }
            })?;
        }
    }
    Ok(())
}

/// The last relocation of `slot`, streamed.
fn stream_find<Elf: FileHeader<Endian = Endianness>>(file: &mut ElfFile, slot: u64) -> Result<Option<Reloc>, ElfError> {
    let mut found = None;
    for_each_reloc::<Elf>(file, |offset, reloc| {
        if offset == slot {
            found = Some(reloc);
        }
    })?;
    Ok(found)
}

/// The relocations that can store a pointer, sorted by offset (stable: equal offsets keep their
/// order in the file).
fn read_relocs<Elf: FileHeader<Endian = Endianness>>(file: &mut ElfFile) -> Result<Vec<(u64, Reloc)>, ElfError> {
    let mut out = Vec::new();
    for_each_reloc::<Elf>(file, |offset, reloc| out.push((offset, reloc)))?;
    // Linkers emit them mostly in order, which a stable merge sort handles in about one pass.
    out.sort_by_key(|(offset, _)| *offset);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(version: i32) -> MagicBlock {
        let server = ServerMagic::pg18(ElfClass::Elf64);
        MagicBlock {
            len: 72,
            layout: MagicLayout::Pg18,
            pg_version: version,
            funcmaxargs: Some(100),
            indexmaxkeys: Some(32),
            namedatalen: Some(64),
            float4byval: None,
            float8byval: Some(1),
            abi_extra: Some("PostgreSQL".into()),
            abi_extra_raw: Some(server.abi_extra),
            name: None,
            version: None,
            address: 0,
            source: MagicSource::Decoded,
        }
    }

    #[test]
    fn comparison_follows_dfmgr_order_and_wording() {
        let server = ServerMagic::pg18(ElfClass::Elf64);
        let lib = "/x/lib.so";
        let mut fork = block(1800);
        fork.abi_extra = Some("EDB".into());
        fork.abi_extra_raw = Some(ServerMagic::pg18(ElfClass::Elf64).with_abi_extra("EDB").abi_extra);
        let mut pg17 = block(1700);
        pg17.len = 56;
        pg17.layout = MagicLayout::Pg15To17;
        let mut fields = block(1800);
        fields.funcmaxargs = Some(200);
        fields.float8byval = Some(0);
        let mut padding = block(1800);
        padding.abi_extra_raw.as_mut().unwrap()[20] = 1;
        let mut short = block(1800);
        short.len = 56;
        // (outcome, expected (code, message suffix, detail, subject))
        type Expected<'a> = Option<(Code, &'a str, Option<&'a str>, Option<&'a str>)>;
        let cases: Vec<(MagicOutcome, Expected)> = vec![
            (MagicOutcome::Found(block(1800)), None),
            (
                MagicOutcome::Found(pg17),
                Some((
                    Code::PgVersionMismatch,
                    "version mismatch",
                    Some("Server is version 18, library is version 17."),
                    Some("version"),
                )),
            ),
            (
                MagicOutcome::Found(block(906)),
                Some((
                    Code::PgVersionMismatch,
                    "version mismatch",
                    Some("Server is version 18, library is version 9.6."),
                    Some("version"),
                )),
            ),
            (
                MagicOutcome::Found(fork),
                Some((
                    Code::MagicMismatch,
                    "ABI mismatch",
                    Some("Server has ABI \"PostgreSQL\", library has \"EDB\"."),
                    Some("abi_extra"),
                )),
            ),
            (
                MagicOutcome::Found(fields),
                Some((
                    Code::MagicMismatch,
                    "magic block mismatch",
                    Some(
                        "Server has FUNC_MAX_ARGS = 100, library has 200.\nServer has FLOAT8PASSBYVAL = true, library has false.",
                    ),
                    Some("funcmaxargs,float8byval"),
                )),
            ),
            (
                MagicOutcome::Found(padding),
                Some((
                    Code::MagicMismatch,
                    "magic block mismatch",
                    Some("Magic block has unexpected length or padding difference."),
                    Some("len"),
                )),
            ),
            (
                MagicOutcome::Found(short),
                Some((
                    Code::MagicMismatch,
                    "magic block mismatch",
                    Some("Magic block has unexpected length or padding difference."),
                    Some("len"),
                )),
            ),
            (
                MagicOutcome::Missing,
                Some((Code::MissingMagicBlock, "missing magic block", None, None)),
            ),
        ];
        for (outcome, want) in cases {
            let got = check_magic(lib, &outcome, &server);
            match (got, want) {
                (None, None) => {}
                (Some(p), Some((code, msg, detail, subject))) => {
                    assert_eq!(p.code, code, "{outcome:?}");
                    assert_eq!(p.message, format!("incompatible library \"{lib}\": {msg}"));
                    assert_eq!(p.detail.as_deref(), detail, "{outcome:?}");
                    assert_eq!(p.subject.as_deref(), subject, "{outcome:?}");
                }
                (got, want) => panic!("{outcome:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn layouts_by_length_and_version() {
        let cases = [
            (20, ElfClass::Elf64, MagicLayout::Pg82, 803),
            (28, ElfClass::Elf64, MagicLayout::Pg84To12, 1200),
            (24, ElfClass::Elf64, MagicLayout::Pg13To14, 1400),
            (56, ElfClass::Elf64, MagicLayout::Pg15To17, 1700),
            (72, ElfClass::Elf64, MagicLayout::Pg18, 1800),
            (64, ElfClass::Elf32, MagicLayout::Pg18, 1900),
        ];
        for (len, class, layout, version) in cases {
            assert_eq!(MagicLayout::from_len(len, class), layout);
            assert!(layout.fits_version(version), "{layout:?} {version}");
            assert!(!layout.fits_version(version + 1), "{layout:?} {}", version + 1);
        }
        assert_eq!(MagicLayout::from_len(72, ElfClass::Elf32), MagicLayout::Unknown);
        assert_eq!(MagicLayout::from_len(64, ElfClass::Elf64), MagicLayout::Unknown);
        assert!(!MagicLayout::Pg15To17.fits_version(1800));
        assert_eq!(format_pg_version(1800), "18");
        assert_eq!(format_pg_version(906), "9.6");
    }
}
