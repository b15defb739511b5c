//! `/etc/ld.so.cache`, the index ldconfig writes and ld.so consults after the search paths.
//!
//! Two formats exist (glibc `sysdeps/generic/dl-cache.h`):
//! - new, `glibc-ld.so.cache1.1`: a 48-byte header (`nlibs`, `len_strings`, an endianness flag,
//!   `extension_offset`), then 24-byte entries `{int32 flags; u32 key, value; u32 osversion;
//!   u64 hwcap}`; string offsets count from the start of this header. The only format written since
//!   glibc 2.32.
//! - old, `ld.so-1.7.0`: `nlibs` at offset 12, then 12-byte entries `{int32 flags; u32 key, value}`,
//!   strings relative to the end of the entries. Older ldconfigs wrote it with a new-format cache
//!   appended (8-byte aligned), which ld.so then prefers.
//!
//! An entry counts only if its flags match the host's ABI (`FLAG_ELF_LIBC6` plus the architecture
//! bits, e.g. `0x0303` for x86_64). Entries with a non-zero `hwcap` describe optimised copies in
//! `glibc-hwcaps/…` or legacy platform subdirectories; ld.so picks one only if the CPU supports it.
//! This parser prefers the baseline (hwcap 0) entry of a name and falls back to the first hwcap
//! entry only when no baseline exists, which picks the same soname, just possibly another build.

use std::collections::HashMap;
use std::path::Path;

use super::header::{ByteOrder, ElfClass, HostAbi};
use super::reader::{ReadError, ReadLimits, Reader};

/// Default location of the cache.
pub const DEFAULT_PATH: &str = "/etc/ld.so.cache";

const MAGIC_OLD: &[u8] = b"ld.so-1.7.0";
const MAGIC_NEW: &[u8] = b"glibc-ld.so.cache1.1";
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_HEADER: usize = 16;
const OLD_ENTRY: usize = 12;
/// Caches are tens of KiB; anything beyond this is not a real cache.
const MAX_CACHE_SIZE: u64 = 64 << 20;
/// ld.so's own limit on paths.
const MAX_PATH: usize = 4096;

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LdCacheError {
    /// Reading the file failed.
    #[error("could not read the ld.so cache: {0}")]
    Read(#[from] ReadError),
    /// Neither magic string matches.
    #[error("not an ld.so cache (unknown magic)")]
    BadMagic,
    /// The entries run past the end of the file.
    #[error("ld.so cache truncated: {0}")]
    Truncated(&'static str),
    /// The new-format cache declares the other byte order.
    #[error("ld.so cache is for the other byte order")]
    WrongByteOrder,
}

/// Which format the cache used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheFormat {
    /// `glibc-ld.so.cache1.1` only.
    New,
    /// `ld.so-1.7.0` only.
    Old,
    /// Old format followed by the new one (the new part was used).
    OldWithNew,
}

/// One usable cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The name looked up (`libc.so.6`).
    pub name: String,
    /// The file ld.so opens for it.
    pub path: String,
    /// Entry flags (`0x0303` = libc6, x86-64).
    pub flags: i32,
    /// Hardware capability bits; 0 for the baseline entry.
    pub hwcap: u64,
}

/// The usable entries of an ld.so cache, by name.
#[derive(Debug, Clone, Default)]
pub struct LdCache {
    format: Option<CacheFormat>,
    entries: HashMap<String, CacheEntry>,
    skipped_other_abi: usize,
}

impl LdCache {
    /// Reads and parses a cache file (a missing file is an error; callers usually treat it as empty).
    pub fn load(path: &Path, host: &HostAbi) -> Result<LdCache, LdCacheError> {
        let limits = ReadLimits {
            max_bytes_per_file: MAX_CACHE_SIZE,
            ..ReadLimits::default()
        };
        let mut reader = Reader::open(path, limits)?;
        let len = reader.len();
        if len > MAX_CACHE_SIZE {
            return Err(ReadError::Budget {
                what: "ld.so cache",
                limit: MAX_CACHE_SIZE,
            }
            .into());
        }
        let bytes = reader.read("ld.so cache", 0, len)?;
        Self::parse(&bytes, host)
    }

    /// Parses cache bytes, keeping the entries whose flags fit `host`.
    pub fn parse(bytes: &[u8], host: &HostAbi) -> Result<LdCache, LdCacheError> {
        let order = host.byte_order;
        if bytes.starts_with(MAGIC_NEW) {
            let mut cache = LdCache {
                format: Some(CacheFormat::New),
                ..LdCache::default()
            };
            cache.parse_new(bytes, host)?;
            return Ok(cache);
        }
        if !bytes.starts_with(MAGIC_OLD) {
            return Err(LdCacheError::BadMagic);
        }
        let nlibs = u32_at(bytes, 12, order).ok_or(LdCacheError::Truncated("header"))? as usize;
        let entries_end = nlibs
            .checked_mul(OLD_ENTRY)
            .and_then(|n| n.checked_add(OLD_HEADER))
            .filter(|&end| end <= bytes.len())
            .ok_or(LdCacheError::Truncated("old-format entries"))?;
        // The new format, when present, follows at the next 8-byte boundary.
        let new_at = entries_end.next_multiple_of(8);
        if let Some(new) = bytes.get(new_at..).filter(|b| b.starts_with(MAGIC_NEW)) {
            let mut cache = LdCache {
                format: Some(CacheFormat::OldWithNew),
                ..LdCache::default()
            };
            cache.parse_new(new, host)?;
            return Ok(cache);
        }
        let mut cache = LdCache {
            format: Some(CacheFormat::Old),
            ..LdCache::default()
        };
        let strings = bytes.get(entries_end..).unwrap_or_default();
        for i in 0..nlibs {
            let at = OLD_HEADER + i * OLD_ENTRY;
            let (Some(flags), Some(key), Some(value)) = (
                u32_at(bytes, at, order),
                u32_at(bytes, at + 4, order),
                u32_at(bytes, at + 8, order),
            ) else {
                return Err(LdCacheError::Truncated("old-format entry"));
            };
            cache.add(
                host,
                flags as i32,
                0,
                string_at(strings, key),
                string_at(strings, value),
            );
        }
        Ok(cache)
    }

    fn parse_new(&mut self, bytes: &[u8], host: &HostAbi) -> Result<(), LdCacheError> {
        if bytes.len() < NEW_HEADER {
            return Err(LdCacheError::Truncated("header"));
        }
        // 0: unset (old ldconfig, native order), 2: little, 3: big; anything else is invalid.
        let order = match (bytes[28], host.byte_order) {
            (0, o) => o,
            (2, ByteOrder::Little) => ByteOrder::Little,
            (3, ByteOrder::Big) => ByteOrder::Big,
            _ => return Err(LdCacheError::WrongByteOrder),
        };
        let nlibs = u32_at(bytes, 20, order).ok_or(LdCacheError::Truncated("header"))? as usize;
        nlibs
            .checked_mul(NEW_ENTRY)
            .and_then(|n| n.checked_add(NEW_HEADER))
            .filter(|&end| end <= bytes.len())
            .ok_or(LdCacheError::Truncated("entries"))?;
        for i in 0..nlibs {
            let at = NEW_HEADER + i * NEW_ENTRY;
            let (Some(flags), Some(key), Some(value), Some(hwcap)) = (
                u32_at(bytes, at, order),
                u32_at(bytes, at + 4, order),
                u32_at(bytes, at + 8, order),
                u64_at(bytes, at + 16, order),
            ) else {
                return Err(LdCacheError::Truncated("entry"));
            };
            self.add(
                host,
                flags as i32,
                hwcap,
                string_at(bytes, key),
                string_at(bytes, value),
            );
        }
        Ok(())
    }

    fn add(&mut self, host: &HostAbi, flags: i32, hwcap: u64, name: Option<String>, path: Option<String>) {
        let (Some(name), Some(path)) = (name, path) else { return };
        if !flags_match(flags, host) {
            self.skipped_other_abi += 1;
            return;
        }
        let replace = match self.entries.get(&name) {
            None => true,
            // A baseline entry beats an hwcap-specific one seen first.
            Some(existing) => existing.hwcap != 0 && hwcap == 0,
        };
        if replace {
            self.entries.insert(
                name.clone(),
                CacheEntry {
                    name,
                    path,
                    flags,
                    hwcap,
                },
            );
        }
    }

    /// The path ld.so would open for `name`, if the cache lists it for this ABI.
    pub fn lookup(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.path.as_str())
    }

    /// Number of usable names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no names are usable.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The usable entries, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &CacheEntry> {
        self.entries.values()
    }

    /// Which format the file used.
    pub fn format(&self) -> Option<CacheFormat> {
        self.format
    }

    /// Entries skipped because they are for another ABI (e.g. 32-bit libraries).
    pub fn skipped_other_abi(&self) -> usize {
        self.skipped_other_abi
    }
}

/// glibc's `_dl_cache_check_flags`: `FLAG_ELF` (1) or exactly the platform's default id.
fn flags_match(flags: i32, host: &HostAbi) -> bool {
    if flags == 1 {
        return true;
    }
    const LIBC6: i32 = 0x0003;
    let required = match (host.machine, host.class) {
        (62, ElfClass::Elf64) => 0x0300,  // FLAG_X8664_LIB64
        (62, ElfClass::Elf32) => 0x0800,  // FLAG_X8664_LIBX32
        (183, ElfClass::Elf64) => 0x0a00, // FLAG_AARCH64_LIB64
        (3, _) => 0,
        (21, ElfClass::Elf64) => 0x0500,  // FLAG_POWERPC_LIB64
        (22, ElfClass::Elf64) => 0x0400,  // FLAG_S390_LIB64
        (43, _) => 0x0100,                // FLAG_SPARC_LIB64
        (243, ElfClass::Elf64) => 0x1000, // FLAG_RISCV_FLOAT_ABI_DOUBLE
        (258, ElfClass::Elf64) => 0x1200, // FLAG_LARCH_FLOAT_ABI_DOUBLE
        // arm: hard- or soft-float; other machines: any libc6 entry.
        (40, _) => return flags == LIBC6 | 0x0900 || flags == LIBC6 | 0x0b00 || flags == LIBC6,
        _ => return flags & 0xff == LIBC6,
    };
    flags == LIBC6 | required
}

fn u32_at(bytes: &[u8], at: usize, order: ByteOrder) -> Option<u32> {
    super::file::read_u32(bytes, at, order)
}

fn u64_at(bytes: &[u8], at: usize, order: ByteOrder) -> Option<u64> {
    super::file::read_u64(bytes, at, order)
}

fn string_at(table: &[u8], offset: u32) -> Option<String> {
    super::file::c_str_at(table, u64::from(offset), MAX_PATH)
        .ok()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86_64: HostAbi = HostAbi {
        class: ElfClass::Elf64,
        byte_order: ByteOrder::Little,
        machine: 62,
    };

    /// Builds a new-format cache from (flags, name, path, hwcap).
    fn new_cache(entries: &[(i32, &str, &str, u64)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let base = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut recs = Vec::new();
        for (flags, name, path, hwcap) in entries {
            let key = base + strings.len();
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let value = base + strings.len();
            strings.extend_from_slice(path.as_bytes());
            strings.push(0);
            recs.push((*flags, key as u32, value as u32, *hwcap));
        }
        let mut out = MAGIC_NEW.to_vec();
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&[2, 0, 0, 0]);
        out.extend_from_slice(&[0u8; 16]);
        for (flags, key, value, hwcap) in recs {
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&hwcap.to_le_bytes());
        }
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn new_format_filters_abi_and_prefers_baseline() {
        let bytes = new_cache(&[
            (
                0x0303,
                "libfoo.so.1",
                "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libfoo.so.1",
                1 << 62,
            ),
            (0x0303, "libfoo.so.1", "/usr/lib/x86_64-linux-gnu/libfoo.so.1", 0),
            (0x0003, "libfoo.so.1", "/usr/lib/i386-linux-gnu/libfoo.so.1", 0),
            (
                0x0303,
                "libonlyhw.so",
                "/lib/glibc-hwcaps/x86-64-v2/libonlyhw.so",
                1 << 62,
            ),
            (0x0a03, "libarm.so", "/usr/lib/aarch64-linux-gnu/libarm.so", 0),
        ]);
        let cache = LdCache::parse(&bytes, &X86_64).unwrap();
        assert_eq!(cache.format(), Some(CacheFormat::New));
        let cases = [
            ("libfoo.so.1", Some("/usr/lib/x86_64-linux-gnu/libfoo.so.1")),
            ("libonlyhw.so", Some("/lib/glibc-hwcaps/x86-64-v2/libonlyhw.so")),
            ("libarm.so", None),
            ("libnone.so", None),
        ];
        for (name, want) in cases {
            assert_eq!(cache.lookup(name), want, "{name}");
        }
        assert_eq!(cache.skipped_other_abi(), 2);
        let arm = HostAbi { machine: 183, ..X86_64 };
        assert_eq!(
            LdCache::parse(&bytes, &arm).unwrap().lookup("libarm.so"),
            Some("/usr/lib/aarch64-linux-gnu/libarm.so")
        );
    }

    #[test]
    fn old_format_with_and_without_new() {
        let new = new_cache(&[(0x0303, "libnew.so", "/new/libnew.so", 0)]);
        let mut old = MAGIC_OLD.to_vec();
        old.push(0);
        old.extend_from_slice(&1u32.to_le_bytes());
        // one entry: flags, key 0, value 8 (relative to string table after entries)
        old.extend_from_slice(&0x0303i32.to_le_bytes());
        old.extend_from_slice(&0u32.to_le_bytes());
        old.extend_from_slice(&8u32.to_le_bytes());
        let old_only = [old.clone(), b"libold\0\0/o/libold\0".to_vec()].concat();
        let cache = LdCache::parse(&old_only, &X86_64).unwrap();
        assert_eq!(
            (cache.format(), cache.lookup("libold")),
            (Some(CacheFormat::Old), Some("/o/libold"))
        );

        let mut combined = old.clone();
        combined.resize(combined.len().next_multiple_of(8), 0);
        combined.extend_from_slice(&new);
        let cache = LdCache::parse(&combined, &X86_64).unwrap();
        assert_eq!(
            (cache.format(), cache.lookup("libnew.so")),
            (Some(CacheFormat::OldWithNew), Some("/new/libnew.so"))
        );
    }

    #[test]
    fn hostile_caches_fail_cleanly() {
        let good = new_cache(&[(0x0303, "a", "/a", 0)]);
        for cut in 0..good.len() {
            let _ = LdCache::parse(&good[..cut], &X86_64);
        }
        let mut huge = good.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            LdCache::parse(&huge, &X86_64),
            Err(LdCacheError::Truncated(_))
        ));
        let mut big_endian = good.clone();
        big_endian[28] = 3;
        assert!(matches!(
            LdCache::parse(&big_endian, &X86_64),
            Err(LdCacheError::WrongByteOrder)
        ));
        let mut bad_strings = good;
        let n = bad_strings.len();
        bad_strings[NEW_HEADER + 4..NEW_HEADER + 8].copy_from_slice(&(n as u32 + 5).to_le_bytes());
        assert!(LdCache::parse(&bad_strings, &X86_64).unwrap().is_empty());
        assert!(matches!(
            LdCache::parse(b"garbage", &X86_64),
            Err(LdCacheError::BadMagic)
        ));
    }

    #[test]
    fn real_cache_of_this_machine() {
        let path = Path::new(DEFAULT_PATH);
        if !path.exists() {
            eprintln!("skipped: no {DEFAULT_PATH}");
            return;
        }
        let host = HostAbi::current();
        let cache = LdCache::load(path, &host).unwrap();
        assert!(cache.len() > 10, "only {} entries", cache.len());
        let libc = cache.lookup("libc.so.6").expect("libc.so.6 in the cache");
        assert!(Path::new(libc).exists(), "{libc}");
    }
}
