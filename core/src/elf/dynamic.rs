//! What a shared object declares for the dynamic loader: `DT_NEEDED`, `DT_SONAME`, search paths,
//! flags, GNU symbol versioning (`.gnu.version`, `.gnu.version_d`, `.gnu.version_r`) and the
//! dynamic symbol table.
//!
//! Tables are located through the section headers (every linker writes them; `sstrip`ped files
//! without section headers are reported as unreadable). Every count and offset is checked: the
//! version chains are walked with a record limit because a `vn_next`/`vna_next` of 0 with a large
//! count would otherwise revisit the same record many times.

use std::collections::HashMap;
use std::path::Path;

use object::Endianness;
use object::elf;
use object::pod;
use object::read::elf::{Dyn, FileHeader};

use super::file::{ElfError, ElfFile, c_str_at};
use super::header::{ElfClass, ElfHeader};
use super::reader::ReadLimits;
use super::symtab::{HashSection, SymbolSections, SymbolTable, VersionName};

/// `DT_FLAGS_1` bit: ignore the default library directories and ld.so.cache.
pub const DF_1_NODEFLIB: u64 = 0x800;
/// `DT_FLAGS_1` bit: position-independent executable (not loadable with dlopen).
pub const DF_1_PIE: u64 = 0x0800_0000;
/// `DT_FLAGS` bit: the object uses the initial-exec TLS model.
pub const DF_STATIC_TLS: u64 = 0x10;

/// Symbol binding (`STB_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `STB_LOCAL`.
    Local,
    /// `STB_GLOBAL`.
    Global,
    /// `STB_WEAK`: an undefined weak symbol may stay unresolved.
    Weak,
    /// `STB_GNU_UNIQUE`.
    Unique,
    /// Anything else.
    Other(u8),
}

impl Binding {
    /// From the high nibble of `st_info`.
    pub(crate) fn from_raw(bind: u8) -> Binding {
        match bind {
            0 => Binding::Local,
            1 => Binding::Global,
            2 => Binding::Weak,
            10 => Binding::Unique,
            other => Binding::Other(other),
        }
    }
}

/// Symbol type (`STT_*`), reduced to what matters here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    /// `STT_NOTYPE`.
    NoType,
    /// `STT_OBJECT` (data).
    Object,
    /// `STT_FUNC`.
    Func,
    /// `STT_TLS`.
    Tls,
    /// `STT_GNU_IFUNC`.
    Ifunc,
    /// `STT_SECTION`, `STT_FILE` and the rest.
    Other(u8),
}

impl SymbolKind {
    /// From the low nibble of `st_info`.
    pub(crate) fn from_raw(kind: u8) -> SymbolKind {
        match kind {
            0 => SymbolKind::NoType,
            1 => SymbolKind::Object,
            2 => SymbolKind::Func,
            6 => SymbolKind::Tls,
            10 => SymbolKind::Ifunc,
            other => SymbolKind::Other(other),
        }
    }
}

/// One entry of `.dynsym`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynSymbol {
    /// Symbol name.
    pub name: String,
    /// Version name (`GLIBC_2.38`), for defined symbols from `.gnu.version_d`, for undefined ones
    /// from `.gnu.version_r`.
    pub version: Option<String>,
    /// For undefined versioned symbols: the file the version is required from (`libc.so.6`).
    pub version_file: Option<String>,
    /// Non-default version (`sym@VER` rather than `sym@@VER`): only bound by exact requests.
    pub version_hidden: bool,
    /// Binding.
    pub binding: Binding,
    /// Type.
    pub kind: SymbolKind,
    /// `STV_*` visibility (0 default, 1 internal, 2 hidden, 3 protected).
    pub visibility: u8,
    /// Defined in this object (`st_shndx != SHN_UNDEF`).
    pub defined: bool,
    /// `st_value`: address for defined symbols.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
}

impl DynSymbol {
    /// Whether other objects can bind to this definition (ld.so's `do_lookup_x` filter): defined,
    /// global/weak/unique, default or protected visibility, a value (or TLS), not a section/file.
    pub fn is_export(&self) -> bool {
        is_export(self.defined, self.binding, self.visibility, self.kind, self.value)
    }

    /// Whether loading fails if nothing defines this symbol: undefined and not weak.
    pub fn is_required_import(&self) -> bool {
        is_required_import(self.defined, self.binding, self.name.is_empty())
    }
}

/// [`DynSymbol::is_export`] on the fields, shared with the raw symbol table.
pub(crate) fn is_export(defined: bool, binding: Binding, visibility: u8, kind: SymbolKind, value: u64) -> bool {
    defined
        && matches!(binding, Binding::Global | Binding::Weak | Binding::Unique)
        && matches!(visibility, 0 | 3)
        && matches!(
            kind,
            SymbolKind::NoType | SymbolKind::Object | SymbolKind::Func | SymbolKind::Tls | SymbolKind::Ifunc
        )
        && (value != 0 || kind == SymbolKind::Tls)
}

/// [`DynSymbol::is_required_import`] on the fields, shared with the raw symbol table.
pub(crate) fn is_required_import(defined: bool, binding: Binding, name_empty: bool) -> bool {
    !defined && !name_empty && matches!(binding, Binding::Global | Binding::Unique)
}

/// A version required from a needed file (one `Vernaux`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededVersion {
    /// Version name, e.g. `GLIBC_2.38`.
    pub name: String,
    /// `VER_FLG_WEAK`: only a warning when missing.
    pub weak: bool,
}

/// Versions required from one file (one `Verneed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeed {
    /// The file, as named in `DT_NEEDED` (e.g. `libc.so.6`).
    pub file: String,
    /// Versions required from it.
    pub versions: Vec<NeededVersion>,
}

/// A version this object defines (one `Verdef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionDef {
    /// Version name; for the base definition, the object's soname.
    pub name: String,
    /// `VER_FLG_BASE`: the file's own name, not a symbol version.
    pub base: bool,
}

/// The dynamic-linking view of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicInfo {
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RPATH`, split at `:` (DSTs such as `$ORIGIN` not yet expanded).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH`, split at `:`.
    pub runpath: Vec<String>,
    /// Whether a `DT_RUNPATH` entry exists (even an empty one disables `DT_RPATH`).
    pub has_runpath: bool,
    /// `DT_FLAGS`.
    pub flags: u64,
    /// `DT_FLAGS_1`.
    pub flags_1: u64,
    /// `.gnu.version_r`.
    pub version_needs: Vec<VersionNeed>,
    /// `.gnu.version_d`.
    pub version_defs: Vec<VersionDef>,
    /// `.dynsym` without the null entry at index 0.
    pub symbols: Vec<DynSymbol>,
    /// Whether the object has a `PT_DYNAMIC` segment.
    pub has_dynamic_segment: bool,
}

impl DynamicInfo {
    /// `DF_1_NODEFLIB`: skip ld.so.cache and the default directories for this object's needs.
    pub fn nodeflib(&self) -> bool {
        self.flags_1 & DF_1_NODEFLIB != 0
    }

    /// `DF_1_PIE`: a position-independent executable, which glibc refuses to dlopen.
    pub fn is_pie(&self) -> bool {
        self.flags_1 & DF_1_PIE != 0
    }
}

/// Caps the total bytes of names copied out of one file: overlapping string offsets could
/// otherwise make a small table expand into a huge amount of memory.
#[derive(Debug, Clone, Copy)]
struct NameBudget {
    max_len: usize,
    left: u64,
}

impl NameBudget {
    fn get(&mut self, table: &[u8], offset: u64) -> Result<String, ElfError> {
        let name = c_str_at(table, offset, self.max_len)?;
        self.charge(name.len())?;
        Ok(name)
    }

    /// Accounts for a name of `len` bytes (plus its terminator).
    fn charge(&mut self, len: usize) -> Result<(), ElfError> {
        let cost = len as u64 + 1;
        if cost > self.left {
            return Err(ElfError::malformed(
                "symbol and version names exceed the per-file read limit",
            ));
        }
        self.left -= cost;
        Ok(())
    }
}

/// Reads the header and dynamic-linking view (needed, paths, versions, all dynamic symbols) of
/// one file, without resolving anything.
pub fn read_dynamic_info(path: &Path, limits: ReadLimits) -> Result<(ElfHeader, DynamicInfo), ElfError> {
    let mut file = ElfFile::open(path, limits)?;
    let dynamic = parse_dynamic(&mut file)?;
    Ok((file.header, dynamic))
}

/// The dynamic-linking view of one object, its symbols kept as a searchable table rather than
/// expanded into [`DynSymbol`]s (which only the library under analysis needs).
#[derive(Debug)]
pub(crate) struct DynamicTables {
    /// Everything but [`DynamicInfo::symbols`], which stays empty.
    pub info: DynamicInfo,
    /// `.dynsym` with its names, versions and hash table.
    pub symbols: SymbolTable,
    /// The name budget left for symbol names once the dynamic section and versions were read.
    names_left: NameBudget,
}

impl DynamicTables {
    /// The full view, every dynamic symbol with owned names. Every name is checked and counted
    /// against the file's budget here, as when all of them are copied.
    pub(crate) fn to_info(&self) -> Result<DynamicInfo, ElfError> {
        let table = &self.symbols;
        let mut names = self.names_left;
        let mut symbols = Vec::with_capacity(table.len().saturating_sub(1));
        for i in 1..table.len() {
            let Some(sym) = table.sym(i) else { break };
            let name = names.get(table.strings(), u64::from(sym.name))?;
            let defined = sym.defined();
            let versym = table.versym(i).unwrap_or(1);
            let (version, version_file) = match table.version(versym) {
                Some((v, f)) => (Some(v.to_owned()), if defined { None } else { f.map(str::to_owned) }),
                None => (None, None),
            };
            symbols.push(DynSymbol {
                name,
                version,
                version_file,
                version_hidden: versym & 0x8000 != 0,
                binding: sym.binding(),
                kind: sym.kind(),
                visibility: sym.visibility(),
                defined,
                value: sym.value,
                size: sym.size,
            });
        }
        Ok(DynamicInfo {
            symbols,
            ..self.info.clone()
        })
    }
}

/// Parses the dynamic section, symbol table and version tables of an opened file.
pub(crate) fn parse_dynamic(file: &mut ElfFile) -> Result<DynamicInfo, ElfError> {
    parse_tables(file)?.to_info()
}

/// Parses the dynamic section and version tables, and reads the symbol table with its hash table
/// without expanding it.
pub(crate) fn parse_tables(file: &mut ElfFile) -> Result<DynamicTables, ElfError> {
    match file.header.class {
        ElfClass::Elf32 => parse_generic::<elf::FileHeader32<Endianness>>(file),
        ElfClass::Elf64 => parse_generic::<elf::FileHeader64<Endianness>>(file),
    }
}

fn parse_generic<Elf: FileHeader<Endian = Endianness>>(file: &mut ElfFile) -> Result<DynamicTables, ElfError> {
    let endian = file.endian();
    let limits = file.limits();
    let mut names = NameBudget {
        max_len: limits.max_name_len,
        left: limits.max_bytes_per_file,
    };
    let mut strtabs: HashMap<usize, Vec<u8>> = HashMap::new();
    let mut info = DynamicInfo {
        has_dynamic_segment: file.segments.iter().any(|s| s.p_type == elf::PT_DYNAMIC.0),
        ..DynamicInfo::default()
    };

    let (class, order) = (file.header.class, file.header.byte_order);
    let Some((dyn_index, dyn_section)) = file.find_section(elf::SHT_DYNAMIC.0) else {
        if info.has_dynamic_segment {
            return Err(ElfError::malformed(
                "no section headers for the dynamic segment (stripped section table)",
            ));
        }
        return Ok(DynamicTables {
            info,
            symbols: SymbolTable::empty(class, order),
            names_left: names,
        });
    };
    let dyn_link = dyn_section.link as usize;
    let data = file.section_data(dyn_index)?;
    let strings = strtab(file, &mut strtabs, dyn_link)?;
    let count = data.len() / size_of::<Elf::Dyn>();
    let (entries, _) = pod::slice_from_bytes::<Elf::Dyn>(&data, count)
        .map_err(|_| ElfError::malformed("dynamic section unreadable"))?;
    for d in entries {
        let tag = d.d_tag(endian);
        let val: u64 = d.d_val(endian).into();
        if tag == elf::DT_NULL {
            break;
        } else if tag == elf::DT_NEEDED {
            info.needed.push(names.get(strings, val)?);
        } else if tag == elf::DT_SONAME {
            info.soname = Some(names.get(strings, val)?);
        } else if tag == elf::DT_RPATH {
            info.rpath.extend(split_path(&names.get(strings, val)?));
        } else if tag == elf::DT_RUNPATH {
            info.has_runpath = true;
            info.runpath.extend(split_path(&names.get(strings, val)?));
        } else if tag == elf::DT_FLAGS {
            info.flags = val;
        } else if tag == elf::DT_FLAGS_1 {
            info.flags_1 = val;
        }
    }

    // Version index → (name, file). Index 0 and 1 are "local" and "global" (unversioned).
    let mut version_names: Vec<VersionName> = Vec::new();
    let mut records = 0usize;
    if let Some((index, section)) = file.find_section(elf::SHT_GNU_VERDEF.0) {
        let link = section.link as usize;
        let data = file.section_data(index)?;
        let strings = strtab(file, &mut strtabs, link)?;
        parse_verdefs(
            &data,
            strings,
            file,
            &mut names,
            &mut records,
            &mut info,
            &mut version_names,
        )?;
    }
    if let Some((index, section)) = file.find_section(elf::SHT_GNU_VERNEED.0) {
        let link = section.link as usize;
        let data = file.section_data(index)?;
        let strings = strtab(file, &mut strtabs, link)?;
        parse_verneeds(
            &data,
            strings,
            file,
            &mut names,
            &mut records,
            &mut info,
            &mut version_names,
        )?;
    }

    let mut names_left = names;
    let symbols = match file.find_section(elf::SHT_DYNSYM.0) {
        Some((sym_index, sym_section)) => {
            let link = sym_section.link as usize;
            let data = file.section_data(sym_index)?;
            let versyms = match file.find_section(elf::SHT_GNU_VERSYM.0) {
                Some((index, _)) => file.section_data(index)?,
                None => Vec::new(),
            };
            strtab(file, &mut strtabs, link)?;
            let strings = strtabs.remove(&link).unwrap_or_default();
            let hash = hash_section(file, sym_index);
            names_left = names;
            let sections = SymbolSections {
                syms: data,
                strings,
                versym: versyms,
                versions: version_names,
                hash,
            };
            SymbolTable::new(class, order, sections, limits.max_name_len, |len| names.charge(len))?
        }
        None => SymbolTable::empty(class, order),
    };
    Ok(DynamicTables {
        info,
        symbols,
        names_left,
    })
}

/// The hash table of the symbol table at `dynsym`, as ld.so picks it: `DT_GNU_HASH` first, then
/// `DT_HASH`. One that cannot be read (beyond the file, over the budget) counts as absent: the
/// symbols are then indexed by name instead, as they were before hash tables were used.
fn hash_section(file: &mut ElfFile, dynsym: usize) -> HashSection {
    let find = |file: &ElfFile, sh_type: u32| {
        file.sections
            .iter()
            .position(|s| s.sh_type == sh_type && s.link as usize == dynsym)
    };
    if let Some(index) = find(file, elf::SHT_GNU_HASH.0)
        && let Ok(data) = file.section_data(index)
    {
        return HashSection::Gnu(data);
    }
    if let Some(index) = find(file, elf::SHT_HASH.0)
        && let Ok(data) = file.section_data(index)
    {
        return HashSection::Sysv(data);
    }
    HashSection::None
}

/// Reads (once) the string table at a section index.
fn strtab<'a>(file: &mut ElfFile, cache: &'a mut HashMap<usize, Vec<u8>>, index: usize) -> Result<&'a [u8], ElfError> {
    if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(index) {
        match file.sections.get(index) {
            Some(s) if s.sh_type == elf::SHT_STRTAB.0 => {}
            _ => return Err(ElfError::malformed(format!("section {index} is not a string table"))),
        }
        slot.insert(file.section_data(index)?);
    }
    Ok(cache.get(&index).map(Vec::as_slice).unwrap_or_default())
}

fn split_path(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(':').filter(|s| !s.is_empty()).map(str::to_owned)
}

fn count_record(records: &mut usize, file: &ElfFile) -> Result<(), ElfError> {
    *records += 1;
    if *records > file.limits().max_version_records {
        return Err(ElfError::malformed("too many symbol version records"));
    }
    Ok(())
}

fn set_version(table: &mut Vec<VersionName>, index: u16, name: String, file: Option<String>) {
    let index = usize::from(index & 0x7fff);
    if index < 2 {
        return;
    }
    // At most 32768 entries: the index is 15 bits.
    if table.len() <= index {
        table.resize(index + 1, None);
    }
    table[index] = Some((name, file));
}

/// The record `T` at `at` in a version section, `None` past its end. Records are read through
/// object's `Verdef`/`Verdaux`/`Verneed`/`Vernaux`, whose fields are byte arrays: an odd
/// `vd_next` is read as ld.so on x86 would read it, not refused as misaligned. The chains are
/// walked here rather than with object's iterators: those need the whole file as one buffer, and
/// each step must count against the record limit.
fn record<T: pod::Pod>(data: &[u8], at: usize) -> Option<&T> {
    pod::from_bytes::<T>(data.get(at..)?).ok().map(|(r, _)| r)
}

/// Walks the `Verdef` chain (`vd_next` relative offsets; 0 ends it).
fn parse_verdefs(
    data: &[u8],
    strings: &[u8],
    file: &ElfFile,
    names: &mut NameBudget,
    records: &mut usize,
    info: &mut DynamicInfo,
    table: &mut Vec<VersionName>,
) -> Result<(), ElfError> {
    let e = file.endian();
    let bad = || ElfError::malformed("version definition section truncated");
    let mut offset = 0usize;
    loop {
        count_record(records, file)?;
        let def: &elf::Verdef<Endianness> = record(data, offset).ok_or_else(bad)?;
        let aux_at = offset.checked_add(def.vd_aux.get(e) as usize).ok_or_else(bad)?;
        let aux: &elf::Verdaux<Endianness> = record(data, aux_at).ok_or_else(bad)?;
        let name = names.get(strings, u64::from(aux.vda_name.get(e)))?;
        let base = def.vd_flags.get(e).0 & elf::VER_FLG_BASE.0 != 0;
        if !base {
            set_version(table, def.vd_ndx.get(e).0, name.clone(), None);
        }
        info.version_defs.push(VersionDef { name, base });
        match def.vd_next.get(e) as usize {
            0 => return Ok(()),
            next => offset = offset.checked_add(next).ok_or_else(bad)?,
        }
    }
}

/// Walks the `Verneed` chain and each entry's `Vernaux` chain.
fn parse_verneeds(
    data: &[u8],
    strings: &[u8],
    file: &ElfFile,
    names: &mut NameBudget,
    records: &mut usize,
    info: &mut DynamicInfo,
    table: &mut Vec<VersionName>,
) -> Result<(), ElfError> {
    let e = file.endian();
    let bad = || ElfError::malformed("version requirement section truncated");
    let mut offset = 0usize;
    loop {
        count_record(records, file)?;
        let need: &elf::Verneed<Endianness> = record(data, offset).ok_or_else(bad)?;
        let needed_file = names.get(strings, u64::from(need.vn_file.get(e)))?;
        let mut versions = Vec::new();
        let mut aux_at = offset.checked_add(need.vn_aux.get(e) as usize).ok_or_else(bad)?;
        for _ in 0..need.vn_cnt.get(e) {
            count_record(records, file)?;
            let aux: &elf::Vernaux<Endianness> = record(data, aux_at).ok_or_else(bad)?;
            let name = names.get(strings, u64::from(aux.vna_name.get(e)))?;
            set_version(table, aux.vna_other.get(e).0, name.clone(), Some(needed_file.clone()));
            versions.push(NeededVersion {
                name,
                weak: aux.vna_flags.get(e).0 & elf::VER_FLG_WEAK.0 != 0,
            });
            match aux.vna_next.get(e) as usize {
                0 => break,
                next => aux_at = aux_at.checked_add(next).ok_or_else(bad)?,
            }
        }
        info.version_needs.push(VersionNeed {
            file: needed_file,
            versions,
        });
        match need.vn_next.get(e) as usize {
            0 => return Ok(()),
            next => offset = offset.checked_add(next).ok_or_else(bad)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version records are read wherever a hostile chain puts them: at an odd offset too (what
    /// ld.so does on x86), and never past the section's end.
    #[test]
    fn version_records_at_odd_offsets_and_ends() {
        let e = Endianness::Little;
        // A Verneed (version 1, cnt 2, file 0x11, aux 0x22, next 0x33) at offset 1.
        let mut data = vec![0xee];
        for (v, n) in [(1u32, 2), (2, 2), (0x11, 4), (0x22, 4), (0x33, 4)] {
            data.extend_from_slice(&v.to_le_bytes()[..n]);
        }
        let need: &elf::Verneed<Endianness> = record(&data, 1).expect("an odd offset is read");
        assert_eq!(
            (
                need.vn_cnt.get(e),
                need.vn_file.get(e),
                need.vn_aux.get(e),
                need.vn_next.get(e)
            ),
            (2, 0x11, 0x22, 0x33)
        );
        // One byte short, or past the end: no record.
        assert!(record::<elf::Verneed<Endianness>>(&data[..data.len() - 1], 1).is_none());
        assert!(record::<elf::Verneed<Endianness>>(&data, data.len() + 1).is_none());
        assert!(record::<elf::Vernaux<Endianness>>(&data, usize::MAX).is_none());
    }

    fn sym(name: &str, defined: bool, binding: Binding, kind: SymbolKind, visibility: u8, value: u64) -> DynSymbol {
        DynSymbol {
            name: name.into(),
            version: None,
            version_file: None,
            version_hidden: false,
            binding,
            kind,
            visibility,
            defined,
            value,
            size: 0,
        }
    }

    #[test]
    fn export_and_import_rules() {
        use Binding::*;
        use SymbolKind::*;
        // (symbol, is_export, is_required_import)
        let cases = [
            (sym("f", true, Global, Func, 0, 0x10), true, false),
            (sym("f", true, Weak, Func, 0, 0x10), true, false),
            (sym("f", true, Global, Func, 2, 0x10), false, false), // hidden
            (sym("f", true, Global, Func, 3, 0x10), true, false),  // protected
            (sym("f", true, Local, Func, 0, 0x10), false, false),
            (sym("v", true, Global, Object, 0, 0), false, false), // no value
            (sym("t", true, Global, Tls, 0, 0), true, false),     // TLS offset 0 is fine
            (sym("u", false, Global, Func, 0, 0), false, true),
            (sym("w", false, Weak, Func, 0, 0), false, false),
            (sym("", false, Global, NoType, 0, 0), false, false),
        ];
        for (s, export, import) in cases {
            assert_eq!((s.is_export(), s.is_required_import()), (export, import), "{s:?}");
        }
    }

    #[test]
    fn names_are_bounded() {
        let table = b"\0abc\0defgh";
        let mut names = NameBudget { max_len: 4, left: 100 };
        assert_eq!(names.get(table, 1).unwrap(), "abc");
        assert_eq!(names.get(table, 0).unwrap(), "");
        assert!(names.get(table, 5).is_err(), "unterminated");
        assert!(names.get(table, 99).is_err(), "outside");
        let mut names = NameBudget { max_len: 2, left: 100 };
        assert!(names.get(table, 1).is_err(), "too long");
        let mut names = NameBudget { max_len: 100, left: 5 };
        assert!(names.get(table, 1).is_ok());
        assert!(names.get(table, 1).is_err(), "budget spent");
    }

    #[test]
    fn path_lists_drop_empty_elements() {
        assert_eq!(
            split_path("$ORIGIN::/usr/lib:").collect::<Vec<_>>(),
            vec!["$ORIGIN", "/usr/lib"]
        );
    }
}
