//! One ELF file: header, program headers, section headers, and bounded access to their data.
//!
//! Only the tables are read when opening; section contents are read on demand through the
//! [`Reader`] budget. Everything is copied into owned, class-independent structs, so later stages
//! need no generics over 32/64-bit.

use std::path::Path;

use object::Endianness;
use object::elf;
use object::pod;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};

use super::header::{ByteOrder, ElfClass, ElfHeader, HEADER_READ_SIZE, HeaderError};
use super::reader::{ReadError, ReadLimits, Reader};

/// Records read per chunk by [`ElfFile::stream_records`] (96 KiB of `Elf64_Rela`).
pub(crate) const STREAM_CHUNK: u64 = 4096;

/// Why an ELF file could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The file header is not usable.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A read failed, went beyond the end of the file, or exceeded the budget.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A table is inconsistent.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
}

impl ElfError {
    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        ElfError::Malformed(what.into())
    }

    /// Whether the file is cut short (as opposed to unreadable or malformed).
    pub fn is_truncated(&self) -> bool {
        matches!(
            self,
            ElfError::Header(HeaderError::Truncated { .. }) | ElfError::Read(ReadError::OutOfBounds { .. })
        )
    }

    /// Whether the file is not ELF at all.
    pub fn is_not_elf(&self) -> bool {
        matches!(
            self,
            ElfError::Header(
                HeaderError::NotElf
                    | HeaderError::BadClass(_)
                    | HeaderError::BadByteOrder(_)
                    | HeaderError::BadVersion(_)
            )
        )
    }
}

/// A section header, class-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: String,
    pub name_offset: u32,
    pub sh_type: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
}

impl Section {
    pub(crate) fn is_alloc(&self) -> bool {
        self.flags & elf::SHF_ALLOC.0 != 0
    }

    pub(crate) fn is_exec(&self) -> bool {
        self.flags & elf::SHF_EXECINSTR.0 != 0
    }
}

/// A program header, class-independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub p_type: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// An opened ELF file with its tables parsed.
#[derive(Debug)]
pub(crate) struct ElfFile {
    pub header: ElfHeader,
    pub sections: Vec<Section>,
    pub segments: Vec<Segment>,
    reader: Reader,
}

/// `PN_XNUM`: the real program header count lives in section 0's `sh_info`.
const PN_XNUM: u16 = 0xffff;
/// `SHN_XINDEX`: the real `e_shstrndx` lives in section 0's `sh_link`.
const SHN_XINDEX: u16 = 0xffff;

impl ElfFile {
    /// Opens and parses a file.
    pub(crate) fn open(path: &Path, limits: ReadLimits) -> Result<ElfFile, ElfError> {
        Self::parse(Reader::open(path, limits)?)
    }

    /// Parses a file already opened (its header may have been read through it already).
    pub(crate) fn from_reader(reader: Reader) -> Result<ElfFile, ElfError> {
        Self::parse(reader)
    }

    /// Parses bytes already in memory.
    pub(crate) fn from_bytes(bytes: Vec<u8>, limits: ReadLimits) -> Result<ElfFile, ElfError> {
        Self::parse(Reader::from_bytes(bytes, limits))
    }

    /// Reads only the file header (to skip candidates of the wrong class cheaply).
    pub(crate) fn read_header(reader: &mut Reader) -> Result<ElfHeader, ElfError> {
        let bytes = reader.read_up_to("ELF header", 0, HEADER_READ_SIZE)?;
        Ok(ElfHeader::parse(&bytes)?)
    }

    fn parse(mut reader: Reader) -> Result<ElfFile, ElfError> {
        let bytes = reader.read_up_to("ELF header", 0, HEADER_READ_SIZE)?;
        let header = ElfHeader::parse(&bytes)?;
        let (sections, segments) = match header.class {
            ElfClass::Elf32 => parse_tables::<elf::FileHeader32<Endianness>>(&mut reader, &bytes, &header)?,
            ElfClass::Elf64 => parse_tables::<elf::FileHeader64<Endianness>>(&mut reader, &bytes, &header)?,
        };
        Ok(ElfFile {
            header,
            sections,
            segments,
            reader,
        })
    }

    /// Bytes read from the file so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.reader.bytes_read()
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> ReadLimits {
        *self.reader.limits()
    }

    pub(crate) fn endian(&self) -> Endianness {
        self.header.byte_order.endianness()
    }

    /// Index and header of the first section of a type.
    pub(crate) fn find_section(&self, sh_type: u32) -> Option<(usize, &Section)> {
        self.sections.iter().enumerate().find(|(_, s)| s.sh_type == sh_type)
    }

    /// Contents of a section (`SHT_NOBITS` reads as empty).
    pub(crate) fn section_data(&mut self, index: usize) -> Result<Vec<u8>, ElfError> {
        let section = self
            .sections
            .get(index)
            .ok_or_else(|| ElfError::malformed(format!("section index {index} out of range")))?;
        if section.sh_type == elf::SHT_NOBITS.0 {
            return Ok(Vec::new());
        }
        let (offset, size) = (section.offset, section.size);
        Ok(self.reader.read("section contents", offset, size)?)
    }

    /// Reads `size` bytes at file offset `offset` (part of a section), through the budget.
    pub(crate) fn read_at(&mut self, what: &'static str, offset: u64, size: u64) -> Result<Vec<u8>, ElfError> {
        Ok(self.reader.read(what, offset, size)?)
    }

    /// Calls `each` with the records of type `T` in `size` bytes at `offset` (a table such as
    /// `.rela.dyn`), [`STREAM_CHUNK`] records per read, so a large table is never held whole and
    /// every read counts against the budget. A trailing partial record is ignored.
    pub(crate) fn stream_records<T: pod::Pod>(
        &mut self,
        what: &'static str,
        offset: u64,
        size: u64,
        mut each: impl FnMut(&[T]),
    ) -> Result<(), ElfError> {
        let entry = size_of::<T>() as u64;
        let count = size / entry;
        let mut done = 0u64;
        while done < count {
            let n = (count - done).min(STREAM_CHUNK);
            // done * entry <= size; the sum with a hostile offset may still overflow.
            let at = offset
                .checked_add(done * entry)
                .ok_or_else(|| ElfError::malformed(format!("{what}: section offset overflows")))?;
            let data = self.read_at(what, at, n * entry)?;
            let (records, _) = pod::slice_from_bytes::<T>(&data, n as usize)
                .map_err(|_| ElfError::malformed(format!("{what} unreadable")))?;
            each(records);
            done += n;
        }
        Ok(())
    }

    /// Reads `len` bytes of the loaded image at virtual address `vaddr`, as the loader would map
    /// them: from the file within `p_filesz`, zeros up to `p_memsz`. `None` if not mapped.
    pub(crate) fn read_vaddr(&mut self, vaddr: u64, len: u64) -> Result<Option<Vec<u8>>, ElfError> {
        let Some(seg) = self.segments.iter().copied().find(|s| {
            s.p_type == elf::PT_LOAD.0
                && vaddr >= s.vaddr
                && vaddr
                    .checked_add(len)
                    .is_some_and(|e| e <= s.vaddr.saturating_add(s.memsz))
        }) else {
            return Ok(None);
        };
        let rel = vaddr - seg.vaddr;
        let in_file = seg.filesz.saturating_sub(rel).min(len);
        let mut bytes = if in_file > 0 {
            let offset = seg
                .offset
                .checked_add(rel)
                .ok_or_else(|| ElfError::malformed("segment offset overflows"))?;
            self.reader.read("mapped data", offset, in_file)?
        } else {
            Vec::new()
        };
        // Bounded: `len` is at most what the caller asked for (small, fixed sizes).
        bytes.resize(
            usize::try_from(len).map_err(|_| ElfError::malformed("length overflows"))?,
            0,
        );
        Ok(Some(bytes))
    }

    /// Reads a NUL-terminated string of the loaded image at `vaddr`, at most `max` bytes long.
    pub(crate) fn read_c_string(&mut self, vaddr: u64, max: u64) -> Result<Option<String>, ElfError> {
        // Try the full window first, then shrink: the string may end near the segment's end.
        let mut window = max.saturating_add(1);
        while window > 0 {
            if let Some(bytes) = self.read_vaddr(vaddr, window)? {
                return Ok(bytes
                    .iter()
                    .position(|&b| b == 0)
                    .map(|end| String::from_utf8_lossy(&bytes[..end]).into_owned()));
            }
            window /= 2;
        }
        Ok(None)
    }
}

fn parse_tables<Elf: FileHeader<Endian = Endianness>>(
    reader: &mut Reader,
    header_bytes: &[u8],
    info: &ElfHeader,
) -> Result<(Vec<Section>, Vec<Segment>), ElfError> {
    let endian = info.byte_order.endianness();
    let h = Elf::parse(header_bytes).map_err(|_| HeaderError::Truncated {
        len: header_bytes.len(),
    })?;

    let shoff: u64 = h.e_shoff(endian).into();
    let shentsize = u64::from(h.e_shentsize(endian));
    let mut shnum = u64::from(h.e_shnum(endian));
    let mut shstrndx = u64::from(h.e_shstrndx(endian).0);
    let mut phnum = u64::from(h.e_phnum(endian));
    let sh_size = size_of::<Elf::SectionHeader>() as u64;

    if shoff != 0 {
        if shentsize != sh_size {
            return Err(ElfError::malformed(format!(
                "section header size {shentsize}, expected {sh_size}"
            )));
        }
        // Extended numbering keeps the real counts in section 0.
        if shnum == 0 || shstrndx == u64::from(SHN_XINDEX) || phnum == u64::from(PN_XNUM) {
            let bytes = reader.read("section header 0", shoff, sh_size)?;
            let (s0, _) = pod::from_bytes::<Elf::SectionHeader>(&bytes)
                .map_err(|_| ElfError::malformed("section header 0 unreadable"))?;
            if shnum == 0 {
                shnum = s0.sh_size(endian).into();
            }
            if shstrndx == u64::from(SHN_XINDEX) {
                shstrndx = u64::from(s0.sh_link(endian));
            }
            if phnum == u64::from(PN_XNUM) {
                phnum = u64::from(s0.sh_info(endian));
            }
        }
    } else {
        shnum = 0;
    }

    let mut segments = Vec::new();
    let phoff: u64 = h.e_phoff(endian).into();
    if phoff != 0 && phnum != 0 {
        let ph_size = size_of::<Elf::ProgramHeader>() as u64;
        let phentsize = u64::from(h.e_phentsize(endian));
        if phentsize != ph_size {
            return Err(ElfError::malformed(format!(
                "program header size {phentsize}, expected {ph_size}"
            )));
        }
        let total = phnum
            .checked_mul(ph_size)
            .ok_or_else(|| ElfError::malformed("program header count overflows"))?;
        let bytes = reader.read("program headers", phoff, total)?;
        // phnum * ph_size bytes were read, so the count fits in usize.
        let (phdrs, _) = pod::slice_from_bytes::<Elf::ProgramHeader>(&bytes, phnum as usize)
            .map_err(|_| ElfError::malformed("program headers unreadable"))?;
        for ph in phdrs {
            let seg = Segment {
                p_type: ph.p_type(endian).0,
                offset: ph.p_offset(endian).into(),
                vaddr: ph.p_vaddr(endian).into(),
                filesz: ph.p_filesz(endian).into(),
                memsz: ph.p_memsz(endian).into(),
            };
            // ld.so maps PT_LOAD file ranges; one beyond the end of the file means a cut-off file.
            if seg.p_type == elf::PT_LOAD.0 && seg.filesz > 0 {
                let end = seg.offset.checked_add(seg.filesz);
                if end.is_none_or(|end| end > reader.len()) {
                    return Err(ReadError::OutOfBounds {
                        what: "loadable segment",
                        offset: seg.offset,
                        size: seg.filesz,
                        len: reader.len(),
                    }
                    .into());
                }
            }
            segments.push(seg);
        }
    }

    let mut sections = Vec::new();
    if shnum != 0 {
        let total = shnum
            .checked_mul(sh_size)
            .ok_or_else(|| ElfError::malformed("section count overflows"))?;
        let bytes = reader.read("section headers", shoff, total)?;
        let (shdrs, _) = pod::slice_from_bytes::<Elf::SectionHeader>(&bytes, shnum as usize)
            .map_err(|_| ElfError::malformed("section headers unreadable"))?;
        for sh in shdrs {
            sections.push(Section {
                name: String::new(),
                name_offset: sh.sh_name(endian),
                sh_type: sh.sh_type(endian).0,
                flags: sh.sh_flags(endian).0,
                addr: sh.sh_addr(endian).into(),
                offset: sh.sh_offset(endian).into(),
                size: sh.sh_size(endian).into(),
                link: sh.sh_link(endian),
            });
        }
        name_sections(reader, &mut sections, shstrndx)?;
    }
    Ok((sections, segments))
}

/// Fills section names from the section header string table, when there is a usable one.
fn name_sections(reader: &mut Reader, sections: &mut [Section], shstrndx: u64) -> Result<(), ElfError> {
    let Some(strtab) = usize::try_from(shstrndx).ok().and_then(|i| sections.get(i)) else {
        return Ok(());
    };
    if strtab.sh_type != elf::SHT_STRTAB.0 || shstrndx == 0 {
        return Ok(());
    }
    let data = reader.read("section names", strtab.offset, strtab.size)?;
    let max = reader.limits().max_name_len;
    for s in sections.iter_mut() {
        // A bad name offset leaves the name empty: names only steer the magic-block scan.
        if let Ok(name) = c_str_at(&data, u64::from(s.name_offset), max) {
            s.name = name;
        }
    }
    Ok(())
}

/// Reads a NUL-terminated string at `offset` in a string table, at most `max` bytes long.
pub(crate) fn c_str_at(table: &[u8], offset: u64, max: usize) -> Result<String, ElfError> {
    let len = c_str_len_at(table, offset, max)?;
    // In range: c_str_len_at found the terminator at start + len.
    let start = offset as usize;
    Ok(String::from_utf8_lossy(&table[start..start + len]).into_owned())
}

/// Length of the NUL-terminated string at `offset` in a string table, which must end within
/// `max` bytes. Only `max + 1` bytes are ever scanned.
pub(crate) fn c_str_len_at(table: &[u8], offset: u64, max: usize) -> Result<usize, ElfError> {
    let start = usize::try_from(offset).ok().filter(|&o| o < table.len());
    let Some(start) = start else {
        return Err(ElfError::malformed(format!(
            "string offset {offset} outside its table ({} bytes)",
            table.len()
        )));
    };
    let window = &table[start..table.len().min(start.saturating_add(max).saturating_add(1))];
    // CStr's search is word-at-a-time, unlike a byte loop.
    match std::ffi::CStr::from_bytes_until_nul(window) {
        Ok(s) => Ok(s.to_bytes().len()),
        Err(_) => Err(ElfError::malformed(format!(
            "unterminated or overlong string at offset {offset}"
        ))),
    }
}

/// Host byte order helpers for hand-decoded fields.
pub(crate) fn read_u16(bytes: &[u8], at: usize, order: ByteOrder) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(match order {
        ByteOrder::Little => u16::from_le_bytes(b),
        ByteOrder::Big => u16::from_be_bytes(b),
    })
}

/// Reads a `u32` in the given byte order.
pub(crate) fn read_u32(bytes: &[u8], at: usize, order: ByteOrder) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(match order {
        ByteOrder::Little => u32::from_le_bytes(b),
        ByteOrder::Big => u32::from_be_bytes(b),
    })
}

/// Reads a `u64` in the given byte order.
pub(crate) fn read_u64(bytes: &[u8], at: usize, order: ByteOrder) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(match order {
        ByteOrder::Little => u64::from_le_bytes(b),
        ByteOrder::Big => u64::from_be_bytes(b),
    })
}

/// Reads a pointer-sized value of the given class.
pub(crate) fn read_ptr(bytes: &[u8], at: usize, class: ElfClass, order: ByteOrder) -> Option<u64> {
    match class {
        ElfClass::Elf32 => read_u32(bytes, at, order).map(u64::from),
        ElfClass::Elf64 => read_u64(bytes, at, order),
    }
}
