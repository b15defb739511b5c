//! The dynamic symbol table of one object, kept as the file's bytes and searched the way ld.so
//! searches it (`do_lookup_x` in glibc's `dl-lookup.c`): the `DT_GNU_HASH` table (bloom filter,
//! bucket, chain) or the `DT_HASH` table yields the few entries whose hash matches, and only those
//! are decoded, compared by name and checked against `.gnu.version`.
//!
//! Why not a map of every name: libraries such as libgdal, libproj or libstdc++ export tens of
//! thousands of symbols, and the closure of a PostGIS module holds 130 objects; copying every name
//! into a map cost most of an analysis, while binding looks at a few percent of them.
//! The tables are read once per object, each with one positional read bounded by the file's read
//! budget. Building the table is one pass over `.dynsym` that decodes three fields per entry and
//! validates only the names that will certainly be read (the object's required imports); other
//! names are compared in place, bounded by the length of the name looked up. Every walk is
//! bounded: chains by [`MAX_CHAIN`] (checked when the table is built), arrays by their length.
//!
//! An object without a usable hash table (none, one that is inconsistent, or one with absurdly
//! long chains) falls back to a map of its exported names built once, which finds the same
//! definitions.

use std::cell::Cell;
use std::collections::HashMap;

// `gnu_hash` is ld.so's `dl_new_hash`, `sysv_hash` its `_dl_elf_hash`: object has both.
use object::elf::{gnu_hash, hash as sysv_hash};

use super::dynamic::{Binding, SymbolKind, is_export, is_required_import};
use super::file::{ElfError, c_str_len_at, read_u16, read_u32, read_u64};
use super::header::{ByteOrder, ElfClass};

/// A version index table entry: version name and, for requirements, the file it is needed from.
pub(crate) type VersionName = Option<(String, Option<String>)>;

/// Longest hash chain searched. Linkers size tables for chains of a few entries; a longer one
/// only comes from a hostile file, whose table is then replaced by a name map.
pub(crate) const MAX_CHAIN: usize = 256;

/// One decoded `Elf32_Sym` / `Elf64_Sym`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawSym {
    /// `st_name`: offset of the name in the string table.
    pub name: u32,
    /// `st_info`: binding (high nibble) and type (low nibble).
    pub info: u8,
    /// `st_other`: visibility in the low two bits.
    pub other: u8,
    /// `st_shndx`: 0 for undefined symbols.
    pub shndx: u16,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
}

impl RawSym {
    /// `STB_*`.
    pub(crate) fn binding(&self) -> Binding {
        Binding::from_raw(self.info >> 4)
    }

    /// `STT_*`.
    pub(crate) fn kind(&self) -> SymbolKind {
        SymbolKind::from_raw(self.info & 0xf)
    }

    /// `STV_*`.
    pub(crate) fn visibility(&self) -> u8 {
        self.other & 3
    }

    /// Defined in this object.
    pub(crate) fn defined(&self) -> bool {
        self.shndx != 0
    }

    /// [`super::dynamic::DynSymbol::is_export`] on the raw entry.
    fn is_export(&self) -> bool {
        is_export(
            self.defined(),
            self.binding(),
            self.visibility(),
            self.kind(),
            self.value,
        )
    }
}

/// A symbol reference to bind, with its hashes computed at most once for all objects.
#[derive(Debug)]
pub(crate) struct Wanted<'a> {
    name: &'a [u8],
    version: Option<&'a str>,
    gnu: u32,
    /// The SysV hash, computed the first time an object without `DT_GNU_HASH` is searched.
    sysv: Cell<Option<u32>>,
}

impl<'a> Wanted<'a> {
    /// A reference to `name`, optionally of one version (`GLIBC_2.38`).
    pub(crate) fn new(name: &'a [u8], version: Option<&'a str>) -> Wanted<'a> {
        Wanted {
            name,
            version,
            gnu: gnu_hash(name),
            sysv: Cell::new(None),
        }
    }

    fn sysv(&self) -> u32 {
        match self.sysv.get() {
            Some(h) => h,
            None => {
                let h = sysv_hash(self.name);
                self.sysv.set(Some(h));
                h
            }
        }
    }
}

/// `DT_GNU_HASH`, decoded into host byte order.
#[derive(Debug)]
struct GnuHash {
    symoffset: u32,
    shift: u32,
    /// Bloom words; 32 or 64 bits used, as the class says.
    bloom: Vec<u64>,
    buckets: Vec<u32>,
    /// Hash values (low bit: end of chain) of symbols `symoffset..`.
    chains: Vec<u32>,
}

/// `DT_HASH`, decoded into host byte order.
#[derive(Debug)]
struct SysvHash {
    buckets: Vec<u32>,
    chains: Vec<u32>,
}

#[derive(Debug)]
enum Index {
    Gnu(GnuHash),
    Sysv(SysvHash),
    /// No usable hash table: exported names → symbol indices.
    Names(HashMap<Box<[u8]>, Vec<u32>>),
}

/// Which hash table the file has, with its section contents.
#[derive(Debug)]
pub(crate) enum HashSection {
    /// `SHT_GNU_HASH`.
    Gnu(Vec<u8>),
    /// `SHT_HASH`.
    Sysv(Vec<u8>),
    /// Neither.
    None,
}

/// What a symbol table is built from: section contents of one file.
#[derive(Debug)]
pub(crate) struct SymbolSections {
    /// `.dynsym`.
    pub syms: Vec<u8>,
    /// The string table `.dynsym` links to.
    pub strings: Vec<u8>,
    /// `.gnu.version`, empty if the file has none.
    pub versym: Vec<u8>,
    /// Version index → name, from `.gnu.version_d` and `.gnu.version_r`.
    pub versions: Vec<VersionName>,
    /// The hash table.
    pub hash: HashSection,
}

/// The dynamic symbols of one object, searchable by name and version.
#[derive(Debug)]
pub(crate) struct SymbolTable {
    class: ElfClass,
    order: ByteOrder,
    syms: Vec<u8>,
    count: usize,
    strings: Vec<u8>,
    /// `.gnu.version`; empty when the object has none (ld.so's `l_versyms == NULL`).
    versym: Vec<u8>,
    /// Version index → name (ld.so's `l_versions`), from `.gnu.version_d` and `.gnu.version_r`.
    versions: Vec<VersionName>,
    index: Index,
    /// Indices of the undefined, non-weak symbols: what must be bound for the object to load.
    imports: Vec<u32>,
    max_name_len: usize,
}

impl SymbolTable {
    /// An object without dynamic symbols.
    pub(crate) fn empty(class: ElfClass, order: ByteOrder) -> SymbolTable {
        SymbolTable {
            class,
            order,
            syms: Vec::new(),
            count: 0,
            strings: Vec::new(),
            versym: Vec::new(),
            versions: Vec::new(),
            index: Index::Names(HashMap::new()),
            imports: Vec::new(),
            max_name_len: 0,
        }
    }

    /// Builds the table from section contents. The names of the required imports are checked
    /// (inside `strings`, terminated within `max_name_len`) and their lengths charged to `charge`,
    /// which bounds the total work of overlapping names like copying them would.
    pub(crate) fn new(
        class: ElfClass,
        order: ByteOrder,
        sections: SymbolSections,
        max_name_len: usize,
        mut charge: impl FnMut(usize) -> Result<(), ElfError>,
    ) -> Result<SymbolTable, ElfError> {
        let SymbolSections {
            syms,
            strings,
            versym,
            versions,
            hash,
        } = sections;
        let size = entry_size(class);
        let count = syms.len() / size;
        // (st_info, st_shndx) offsets: the two layouts order the fields differently.
        let (info_at, shndx_at) = match class {
            ElfClass::Elf32 => (12, 14),
            ElfClass::Elf64 => (4, 6),
        };
        let mut imports = Vec::new();
        for (i, e) in syms.chunks_exact(size).enumerate().skip(1) {
            let (Some(name), Some(shndx)) = (read_u32(e, 0, order), read_u16(e, shndx_at, order)) else {
                continue;
            };
            let binding = Binding::from_raw(e[info_at] >> 4);
            if shndx != 0 || !is_required_import(false, binding, false) {
                continue;
            }
            let len = c_str_len_at(&strings, u64::from(name), max_name_len)?;
            charge(len)?;
            if len > 0 {
                // Fits: the count is bounded by the read budget (entries of 16 bytes or more).
                imports.push(u32::try_from(i).map_err(|_| ElfError::malformed("too many dynamic symbols"))?);
            }
        }
        let mut table = SymbolTable {
            class,
            order,
            syms,
            count,
            strings,
            versym,
            versions,
            index: Index::Names(HashMap::new()),
            imports,
            max_name_len,
        };
        table.index = match hash {
            HashSection::Gnu(data) => table.gnu_index(&data).map(Index::Gnu),
            HashSection::Sysv(data) => table.sysv_index(&data).map(Index::Sysv),
            HashSection::None => None,
        }
        .unwrap_or_else(|| Index::Names(table.names_index()));
        Ok(table)
    }

    /// The string table the names point into.
    pub(crate) fn strings(&self) -> &[u8] {
        &self.strings
    }

    /// Indices of the undefined, non-weak symbols: what must be bound for the object to load.
    pub(crate) fn imports(&self) -> &[u32] {
        &self.imports
    }

    /// Which index lookups use: `gnu`, `sysv` or `names`.
    #[cfg(test)]
    pub(crate) fn index_kind(&self) -> &'static str {
        match self.index {
            Index::Gnu(_) => "gnu",
            Index::Sysv(_) => "sysv",
            Index::Names(_) => "names",
        }
    }

    /// Number of entries, the null entry at index 0 included.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Entry `i`, if inside the table.
    pub(crate) fn sym(&self, i: usize) -> Option<RawSym> {
        let size = entry_size(self.class);
        let at = i.checked_mul(size)?;
        let e = self.syms.get(at..at.checked_add(size)?)?;
        let o = self.order;
        Some(match self.class {
            ElfClass::Elf64 => RawSym {
                name: read_u32(e, 0, o)?,
                info: e[4],
                other: e[5],
                shndx: read_u16(e, 6, o)?,
                value: read_u64(e, 8, o)?,
                size: read_u64(e, 16, o)?,
            },
            ElfClass::Elf32 => RawSym {
                name: read_u32(e, 0, o)?,
                value: u64::from(read_u32(e, 4, o)?),
                size: u64::from(read_u32(e, 8, o)?),
                info: e[12],
                other: e[13],
                shndx: read_u16(e, 14, o)?,
            },
        })
    }

    /// Name of an entry, `None` if it is not a terminated string of at most `max_name_len` bytes.
    fn name(&self, sym: &RawSym) -> Option<&[u8]> {
        let len = c_str_len_at(&self.strings, u64::from(sym.name), self.max_name_len).ok()?;
        let start = sym.name as usize;
        self.strings.get(start..start + len)
    }

    /// Raw `.gnu.version` entry of symbol `i`: `None` without version table, 1 (global) past its end.
    pub(crate) fn versym(&self, i: usize) -> Option<u16> {
        if self.versym.is_empty() {
            return None;
        }
        Some(read_u16(&self.versym, i.saturating_mul(2), self.order).unwrap_or(1))
    }

    /// The name and file of a version index (hidden bit ignored).
    pub(crate) fn version(&self, versym: u16) -> Option<(&str, Option<&str>)> {
        match self.versions.get(usize::from(versym & 0x7fff)) {
            Some(Some((name, file))) => Some((name.as_str(), file.as_deref())),
            _ => None,
        }
    }

    /// Name, required version and the file it is required from, of symbol `i`.
    pub(crate) fn reference(&self, i: u32) -> Option<(&[u8], Option<&str>, Option<&str>)> {
        let i = usize::try_from(i).ok()?;
        let sym = self.sym(i)?;
        let (version, file) = match self.versym(i).and_then(|v| self.version(v)) {
            Some((name, file)) => (Some(name), file),
            None => (None, None),
        };
        Some((self.name(&sym)?, version, file))
    }

    /// Whether this object provides a definition that binds `wanted`, as ld.so decides it: the
    /// first entry of the hash chain that is an exported definition of that name and accepts
    /// the version. An unversioned reference accepts a symbol of version index 0–2 at once, or
    /// else the single non-hidden versioned definition (glibc `check_match` and `do_lookup_x`).
    pub(crate) fn defines(&self, wanted: &Wanted) -> bool {
        let mut default_versions = 0u32;
        let found = match &self.index {
            Index::Gnu(g) => self.gnu_lookup(g, wanted, &mut default_versions),
            Index::Sysv(s) => self.sysv_lookup(s, wanted, &mut default_versions),
            Index::Names(map) => map.get(wanted.name).is_some_and(|list| {
                list.iter()
                    .any(|&i| self.check_match(i as usize, wanted, &mut default_versions))
            }),
        };
        found || default_versions == 1
    }

    fn gnu_lookup(&self, g: &GnuHash, wanted: &Wanted, default_versions: &mut u32) -> bool {
        let h = wanted.gnu;
        let bits: u32 = match self.class {
            ElfClass::Elf32 => 32,
            ElfClass::Elf64 => 64,
        };
        // Non-empty: checked when the index was built. Like ld.so, the word index is masked with
        // `nwords - 1` (a power of two in real files; always in range).
        let word = g.bloom[(h / bits) as usize & (g.bloom.len() - 1)];
        let bit1 = h % bits;
        let bit2 = h.wrapping_shr(g.shift) % bits;
        if (word >> bit1) & (word >> bit2) & 1 == 0 {
            return false;
        }
        let bucket = g.buckets[h as usize % g.buckets.len()];
        // A bucket below `symoffset` would point before the chains: nothing to find.
        let Some(mut pos) = bucket
            .checked_sub(g.symoffset)
            .filter(|_| bucket != 0)
            .map(|p| p as usize)
        else {
            return false;
        };
        // Chains were checked to be at most MAX_CHAIN long and the array ends the last one.
        while let Some(&entry) = g.chains.get(pos) {
            if (entry ^ h) >> 1 == 0 {
                let index = (g.symoffset as usize).saturating_add(pos);
                if self.check_match(index, wanted, default_versions) {
                    return true;
                }
            }
            if entry & 1 != 0 {
                break;
            }
            pos += 1;
        }
        false
    }

    fn sysv_lookup(&self, s: &SysvHash, wanted: &Wanted, default_versions: &mut u32) -> bool {
        let mut index = s.buckets[wanted.sysv() as usize % s.buckets.len()] as usize;
        // Chains were checked to be at most MAX_CHAIN long; the bound is a second guard.
        for _ in 0..MAX_CHAIN {
            if index == 0 {
                break;
            }
            if self.check_match(index, wanted, default_versions) {
                return true;
            }
            index = s.chains.get(index).map_or(0, |&next| next as usize);
        }
        false
    }

    /// glibc `check_match`, with pgext's export rule ([`RawSym::is_export`]) for the kinds and
    /// bindings that may satisfy a reference.
    fn check_match(&self, index: usize, wanted: &Wanted, default_versions: &mut u32) -> bool {
        let Some(sym) = self.sym(index) else { return false };
        if !sym.is_export() || !self.name_is(&sym, wanted.name) {
            return false;
        }
        let Some(versym) = self.versym(index) else {
            // No version table: any definition of the name will do.
            return true;
        };
        let hidden = versym & 0x8000 != 0;
        match wanted.version {
            Some(version) => match self.version(versym) {
                Some((name, _)) => name == version,
                // Index 0 or 1 (or one nothing defines): unversioned, usable unless hidden.
                None => !hidden,
            },
            None if versym & 0x7fff >= 3 => {
                if !hidden {
                    *default_versions += 1;
                }
                false
            }
            None => true,
        }
    }

    fn name_is(&self, sym: &RawSym, name: &[u8]) -> bool {
        let Ok(start) = usize::try_from(sym.name) else {
            return false;
        };
        let Some(end) = start.checked_add(name.len()) else {
            return false;
        };
        self.strings.get(start..end) == Some(name) && self.strings.get(end) == Some(&0)
    }

    /// Decodes `DT_GNU_HASH`: `nbuckets`, `symoffset`, `bloom_size`, `bloom_shift`, the bloom
    /// words, the buckets, then one chain word per hashed symbol. `None` if inconsistent.
    fn gnu_index(&self, data: &[u8]) -> Option<GnuHash> {
        let o = self.order;
        let nbuckets = read_u32(data, 0, o)? as usize;
        let symoffset = read_u32(data, 4, o)?;
        let bloom_size = read_u32(data, 8, o)? as usize;
        let shift = read_u32(data, 12, o)?;
        let word = self.class.pointer_size() as usize;
        if nbuckets == 0 || bloom_size == 0 {
            return None;
        }
        let bloom_at = 16usize;
        let buckets_at = bloom_at.checked_add(bloom_size.checked_mul(word)?)?;
        let chains_at = buckets_at.checked_add(nbuckets.checked_mul(4)?)?;
        if chains_at > data.len() {
            return None;
        }
        let bloom = (0..bloom_size)
            .map(|i| {
                let at = bloom_at + i * word;
                match self.class {
                    ElfClass::Elf32 => read_u32(data, at, o).map(u64::from),
                    ElfClass::Elf64 => read_u64(data, at, o),
                }
            })
            .collect::<Option<Vec<u64>>>()?;
        let buckets = read_u32s(data, buckets_at, nbuckets, o)?;
        // Chain words exist for symbols symoffset..count; extra words would name no symbol.
        let chain_len = ((data.len() - chains_at) / 4).min(self.count.saturating_sub(symoffset as usize));
        let chains = read_u32s(data, chains_at, chain_len, o)?;
        // Each chain ends with a word whose low bit is set; a run longer than MAX_CHAIN (or one
        // running off the end) makes the table unusable.
        let mut run = 0usize;
        for &word in &chains {
            run += 1;
            if run > MAX_CHAIN {
                return None;
            }
            if word & 1 != 0 {
                run = 0;
            }
        }
        Some(GnuHash {
            symoffset,
            shift,
            bloom,
            buckets,
            chains,
        })
    }

    /// Decodes `DT_HASH`: `nbucket`, `nchain`, the buckets, the chains. `None` if inconsistent.
    fn sysv_index(&self, data: &[u8]) -> Option<SysvHash> {
        let o = self.order;
        let nbucket = read_u32(data, 0, o)? as usize;
        let nchain = read_u32(data, 4, o)? as usize;
        if nbucket == 0 {
            return None;
        }
        let buckets = read_u32s(data, 8, nbucket, o)?;
        let chains = read_u32s(data, 8usize.checked_add(nbucket.checked_mul(4)?)?, nchain, o)?;
        // In a real table every symbol sits on one chain, so walking all chains visits at most
        // nchain entries; more means chains that merge or loop. Either that or a chain longer
        // than MAX_CHAIN makes the table unusable.
        let mut steps = 0usize;
        for &head in &buckets {
            let mut index = head as usize;
            let mut run = 0usize;
            while index != 0 {
                run += 1;
                steps += 1;
                if run > MAX_CHAIN || steps > nchain {
                    return None;
                }
                index = chains.get(index).map_or(0, |&next| next as usize);
            }
        }
        Some(SysvHash { buckets, chains })
    }

    fn names_index(&self) -> HashMap<Box<[u8]>, Vec<u32>> {
        let mut map: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for i in 1..self.count {
            if let (Some(sym), Ok(index)) = (self.sym(i), u32::try_from(i))
                && sym.is_export()
                && let Some(name) = self.name(&sym)
            {
                map.entry(name.into()).or_default().push(index);
            }
        }
        map
    }
}

fn entry_size(class: ElfClass) -> usize {
    match class {
        ElfClass::Elf32 => 16,
        ElfClass::Elf64 => 24,
    }
}

/// `count` consecutive `u32`s at `at`, or `None` if they do not all fit.
fn read_u32s(data: &[u8], at: usize, count: usize, order: ByteOrder) -> Option<Vec<u32>> {
    let end = at.checked_add(count.checked_mul(4)?)?;
    let bytes = data.get(at..end)?;
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3]];
                match order {
                    ByteOrder::Little => u32::from_le_bytes(b),
                    ByteOrder::Big => u32::from_be_bytes(b),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_abi() {
        // Values of dl_new_hash and the gABI's ELF hash.
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 5381, 0),
            (b"printf", 0x156b_2bb8, 0x0779_05a6),
            (b"exit", 0x7c96_7e3f, 0x0006_cf04),
            (b"syscall", 0xbac2_12a0, 0x0b09_985c),
            // Long, with bytes above 0x7f: the high nibble is folded back many times.
            (
                b"_ZN5boost6detail17sp_counted_impl_pdIPN4geos4geom8GeometryEE\xff\xfe\x80",
                0x3bf8_00c1,
                0x08aa_0a50,
            ),
        ];
        for &(name, gnu, sysv) in cases {
            assert_eq!(
                (gnu_hash(name), sysv_hash(name)),
                (gnu, sysv),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    /// One `.dynsym` entry of a synthetic ELF64 little-endian table.
    struct Entry {
        name: &'static str,
        /// `st_info`: binding << 4 | type.
        info: u8,
        /// `st_other`: visibility.
        other: u8,
        defined: bool,
        value: u64,
        versym: u16,
    }

    const FUNC: u8 = 1 << 4 | 2; // global function
    const WEAK: u8 = 2 << 4 | 2;
    const LOCAL: u8 = 2;
    const TLS: u8 = 1 << 4 | 6;
    const SECTION: u8 = 1 << 4 | 3;

    fn def(name: &'static str, versym: u16) -> Entry {
        Entry {
            name,
            info: FUNC,
            other: 0,
            defined: true,
            value: 0x1000,
            versym,
        }
    }

    /// The definitions every index kind is tested on; version indices 2, 3, 4 are V1, V2, V3.
    fn entries() -> Vec<Entry> {
        vec![
            def("plain", 1),
            def("dflt", 3),
            def("old", 0x8000 | 2),
            def("onlyhidden", 0x8000 | 4),
            def("both", 0x8000 | 2),
            def("both", 3),
            def("twohidden", 0x8000 | 3),
            def("twohidden", 0x8000 | 4),
            Entry {
                info: WEAK,
                ..def("weakdef", 1)
            },
            Entry {
                info: LOCAL,
                ..def("local", 1)
            },
            Entry {
                other: 2,
                ..def("hiddenvis", 1)
            },
            Entry {
                other: 3,
                ..def("protected", 1)
            },
            Entry {
                value: 0,
                ..def("novalue", 1)
            },
            Entry {
                info: TLS,
                value: 0,
                ..def("tls", 1)
            },
            Entry {
                info: SECTION,
                ..def("section", 1)
            },
            Entry {
                defined: false,
                ..def("undef", 1)
            },
        ]
    }

    /// (name, version asked for, found) — glibc's `check_match` and `do_lookup_x` outcomes.
    const CASES: &[(&str, Option<&str>, bool)] = &[
        ("plain", None, true),
        ("plain", Some("V1"), true), // an unversioned definition serves any version
        ("dflt", Some("V2"), true),
        ("dflt", Some("V1"), false),
        ("dflt", None, true), // the one default version
        ("old", Some("V1"), true),
        ("old", None, true), // index 2: accepted as the oldest version
        ("onlyhidden", Some("V3"), true),
        ("onlyhidden", None, false), // only a non-default version of index >= 3
        ("both", None, true),
        ("both", Some("V1"), true),
        ("both", Some("V2"), true),
        ("both", Some("V3"), false),
        ("twohidden", None, false),
        ("twohidden", Some("V3"), true),
        ("weakdef", None, true),
        ("local", None, false),
        ("hiddenvis", None, false),
        ("protected", None, true),
        ("novalue", None, false),
        ("tls", None, true),
        ("section", None, false),
        ("undef", None, false),
        ("absent", None, false),
        ("absent", Some("V1"), false),
    ];

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Gnu,
        Sysv,
        None,
    }

    fn versions() -> Vec<VersionName> {
        vec![
            None,
            None,
            Some(("V1".into(), None)),
            Some(("V2".into(), None)),
            Some(("V3".into(), None)),
        ]
    }

    fn u32s(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// `.dynsym`, `.dynstr` and `.gnu.version` of the entries, after the null entry.
    fn sections(entries: &[Entry]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (mut syms, mut strings, mut versym) = (vec![0u8; 24], vec![0u8], vec![0u8, 0]);
        for e in entries {
            let name = strings.len() as u32;
            strings.extend_from_slice(e.name.as_bytes());
            strings.push(0);
            syms.extend_from_slice(&name.to_le_bytes());
            syms.push(e.info);
            syms.push(e.other);
            syms.extend_from_slice(&u16::from(e.defined).to_le_bytes());
            syms.extend_from_slice(&e.value.to_le_bytes());
            syms.extend_from_slice(&0u64.to_le_bytes());
            versym.extend_from_slice(&e.versym.to_le_bytes());
        }
        (syms, strings, versym)
    }

    /// A GNU hash table over symbols 1..=n: `nbuckets` buckets, symbols sorted by bucket by the
    /// caller (one bucket keeps any order), an all-ones bloom filter unless `bloom` says otherwise.
    fn gnu_table(names: &[&str], bloom: u64) -> Vec<u8> {
        let mut data = u32s(&[1, 1, 1, 0]); // nbuckets 1, symoffset 1, one bloom word, shift 0
        data.extend_from_slice(&bloom.to_le_bytes());
        data.extend_from_slice(&u32s(&[if names.is_empty() { 0 } else { 1 }]));
        let last = names.len().saturating_sub(1);
        let chain: Vec<u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| gnu_hash(n.as_bytes()) & !1 | u32::from(i == last))
            .collect();
        data.extend_from_slice(&u32s(&chain));
        data
    }

    /// A SysV hash table with one bucket chaining symbols n, n-1, …, 1.
    fn sysv_table(n: u32) -> Vec<u8> {
        let mut words = vec![1, n + 1, n];
        words.extend((0..=n).map(|i| i.saturating_sub(1)));
        u32s(&words)
    }

    /// A table over `entries` with `hash`, names up to 64 bytes, no budget.
    fn table_with(entries: &[Entry], hash: HashSection) -> SymbolTable {
        let (syms, strings, versym) = sections(entries);
        let sections = SymbolSections {
            syms,
            strings,
            versym,
            versions: versions(),
            hash,
        };
        SymbolTable::new(ElfClass::Elf64, ByteOrder::Little, sections, 64, |_| Ok(())).unwrap()
    }

    fn build(entries: &[Entry], kind: Kind, with_versym: bool) -> SymbolTable {
        let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
        let hash = match kind {
            Kind::Gnu => HashSection::Gnu(gnu_table(&names, u64::MAX)),
            Kind::Sysv => HashSection::Sysv(sysv_table(names.len() as u32)),
            Kind::None => HashSection::None,
        };
        let mut table = table_with(entries, hash);
        if !with_versym {
            table.versym.clear();
        }
        table
    }

    #[test]
    fn lookups_follow_glibc_on_every_index() {
        for (kind, want_index) in [(Kind::Gnu, "gnu"), (Kind::Sysv, "sysv"), (Kind::None, "names")] {
            let table = build(&entries(), kind, true);
            assert_eq!(table.index_kind(), want_index);
            for &(name, version, found) in CASES {
                let wanted = Wanted::new(name.as_bytes(), version);
                assert_eq!(table.defines(&wanted), found, "{kind:?}: {name} {version:?}");
            }
            // Without .gnu.version every definition of the name serves every version.
            let table = build(&entries(), kind, false);
            for (name, version, found) in [
                ("dflt", Some("V9"), true),
                ("onlyhidden", None, true),
                ("local", None, false),
            ] {
                let wanted = Wanted::new(name.as_bytes(), version);
                assert_eq!(table.defines(&wanted), found, "{kind:?} without versions: {name}");
            }
        }
    }

    #[test]
    fn imports_are_the_undefined_non_weak_named_symbols() {
        let entries = vec![
            Entry {
                defined: false,
                ..def("needed", 3)
            },
            Entry {
                defined: false,
                info: WEAK,
                ..def("optional", 1)
            },
            Entry {
                defined: false,
                ..def("", 1)
            },
            def("defined", 1),
        ];
        let table = build(&entries, Kind::Gnu, true);
        let refs: Vec<_> = table.imports().iter().map(|&i| table.reference(i).unwrap()).collect();
        assert_eq!(refs, vec![(&b"needed"[..], Some("V2"), None)]);
    }

    #[test]
    fn bloom_filter_rejects_before_the_chain() {
        let table = table_with(&[def("plain", 1)], HashSection::Gnu(gnu_table(&["plain"], 0)));
        assert_eq!(table.index_kind(), "gnu");
        // ld.so trusts the filter: a symbol it excludes is not there.
        assert!(!table.defines(&Wanted::new(b"plain", None)));
    }

    #[test]
    fn hostile_hash_tables_fall_back_to_the_name_map() {
        // (what, table bytes for symbols 1..=n)
        let n = MAX_CHAIN as u32 + 1;
        let names: Vec<&str> = vec!["plain"; n as usize];
        let mut looping = sysv_table(3);
        looping[12 + 4..12 + 8].copy_from_slice(&2u32.to_le_bytes()); // chain[1] = 2, chain[2] = 1
        let cases: Vec<(&str, usize, HashSection)> = vec![
            (
                "GNU chain longer than MAX_CHAIN",
                n as usize,
                HashSection::Gnu(gnu_table(&names, u64::MAX)),
            ),
            (
                "SysV chain longer than MAX_CHAIN",
                n as usize,
                HashSection::Sysv(sysv_table(n)),
            ),
            ("SysV chain that loops", 3, HashSection::Sysv(looping)),
            ("GNU table cut short", 3, HashSection::Gnu(u32s(&[1, 1, 4, 0]))),
            (
                "GNU table without buckets",
                3,
                HashSection::Gnu(u32s(&[0, 1, 1, 0, 0, 0])),
            ),
            (
                "SysV table without buckets",
                3,
                HashSection::Sysv(u32s(&[0, 4, 0, 0, 0, 0])),
            ),
            ("no table", 3, HashSection::None),
        ];
        for (what, count, hash) in cases {
            let entries: Vec<Entry> = (0..count).map(|_| def("plain", 1)).collect();
            let table = table_with(&entries, hash);
            assert_eq!(table.index_kind(), "names", "{what}");
            assert!(table.defines(&Wanted::new(b"plain", None)), "{what}");
            assert!(!table.defines(&Wanted::new(b"other", None)), "{what}");
        }
    }

    #[test]
    fn bad_buckets_and_names_find_nothing_and_never_panic() {
        let entries = vec![def("plain", 1), def("other", 1)];
        let (syms, mut strings, versym) = sections(&entries);
        // A bucket below symoffset, a bloom shift beyond 31, a name running off its table.
        let mut gnu = u32s(&[1, 2, 1, 40]);
        gnu.extend_from_slice(&u64::MAX.to_le_bytes());
        gnu.extend_from_slice(&u32s(&[1, gnu_hash(b"other") | 1]));
        strings.truncate(strings.len() - 1);
        let sections = SymbolSections {
            syms,
            strings,
            versym,
            versions: versions(),
            hash: HashSection::Gnu(gnu),
        };
        let table = SymbolTable::new(ElfClass::Elf64, ByteOrder::Little, sections, 64, |_| Ok(())).unwrap();
        assert_eq!(table.index_kind(), "gnu");
        assert!(!table.defines(&Wanted::new(b"plain", None)));
        assert!(!table.defines(&Wanted::new(b"other", None)));
    }

    #[test]
    fn import_names_are_checked_and_charged() {
        let entries = vec![Entry {
            defined: false,
            ..def("needed", 1)
        }];
        let (syms, strings, versym) = sections(&entries);
        let make = |max_name_len: usize, budget: usize| {
            let mut left = budget;
            let sections = SymbolSections {
                syms: syms.clone(),
                strings: strings.clone(),
                versym: versym.clone(),
                versions: versions(),
                hash: HashSection::None,
            };
            SymbolTable::new(ElfClass::Elf64, ByteOrder::Little, sections, max_name_len, |len| {
                left = left
                    .checked_sub(len + 1)
                    .ok_or_else(|| ElfError::malformed("budget spent"))?;
                Ok(())
            })
        };
        assert!(make(64, 100).is_ok());
        assert!(make(3, 100).is_err(), "name longer than max_name_len");
        assert!(make(64, 4).is_err(), "budget spent");
    }
}
