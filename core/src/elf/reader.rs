//! Bounded positional reads of untrusted files.
//!
//! Why not mmap: a library that is truncated (or replaced in place) while mapped raises SIGBUS on
//! access, which would take down the backend. Why not read whole files: a PostGIS image carries
//! libraries of 30–120 MB and only a few percent of each (headers, `.dynamic`, `.dynsym`,
//! `.dynstr`, version tables) is needed. So every range is read with `pread` into an owned buffer,
//! and the total per file is capped by [`ReadLimits::max_bytes_per_file`].

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Limits that keep hostile files from costing unbounded memory or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Bytes read from one file at most, summed over every range read from it.
    pub max_bytes_per_file: u64,
    /// Longest name (symbol, soname, version, path) accepted from a string table.
    pub max_name_len: usize,
    /// Most objects taken into one dependency closure.
    pub max_objects: usize,
    /// Most version definition/requirement records read from one file.
    pub max_version_records: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            // The most read from one real file (libLLVM, 111 MB) is ~5 MB: dynamic symbols and strings.
            max_bytes_per_file: 64 << 20,
            // Deeply templated C++ symbols reach a few KiB; 64 KiB is far beyond real names.
            max_name_len: 64 << 10,
            max_objects: 1024,
            // glibc's libc defines ~45 versions; real files need at most a few hundred records.
            max_version_records: 1 << 16,
        }
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused the read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The path is a directory, FIFO, device or socket.
    #[error("not a regular file")]
    NotRegularFile,
    /// The range lies (partly) beyond the end of the file.
    #[error("{what} at byte {offset} (+{size}) lies beyond the end of the file ({len} bytes)")]
    OutOfBounds {
        /// What was being read.
        what: &'static str,
        /// Start of the range.
        offset: u64,
        /// Length of the range.
        size: u64,
        /// File length.
        len: u64,
    },
    /// Reading the range would exceed the per-file read budget.
    #[error("reading {what} would exceed the limit of {limit} bytes read per file")]
    Budget {
        /// What was being read.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

#[derive(Debug)]
enum Backing {
    File(File),
    Memory(Vec<u8>),
}

/// Reads ranges of one file (or byte buffer), never more than a budget in total.
#[derive(Debug)]
pub(crate) struct Reader {
    backing: Backing,
    len: u64,
    used: u64,
    limits: ReadLimits,
}

impl Reader {
    /// Opens a regular file with [`crate::fsinfo::open_untrusted`], so a FIFO planted where a
    /// library should be cannot hang the caller; it is rejected as not a regular file.
    pub(crate) fn open(path: &Path, limits: ReadLimits) -> Result<Self, ReadError> {
        let (file, meta) = crate::fsinfo::open_untrusted(path, true).map_err(|e| {
            if crate::fsinfo::refused(&e).is_some() {
                ReadError::NotRegularFile
            } else {
                ReadError::Io(e)
            }
        })?;
        Ok(Reader {
            backing: Backing::File(file),
            len: meta.len(),
            used: 0,
            limits,
        })
    }

    /// Wraps bytes already in memory (fuzzing, files taken from image layers).
    pub(crate) fn from_bytes(bytes: Vec<u8>, limits: ReadLimits) -> Self {
        let len = bytes.len() as u64;
        Reader {
            backing: Backing::Memory(bytes),
            len,
            used: 0,
            limits,
        }
    }

    /// File length in bytes, as seen when opened.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The limits this reader enforces.
    pub(crate) fn limits(&self) -> &ReadLimits {
        &self.limits
    }

    /// Bytes read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.used
    }

    /// Reads exactly `size` bytes at `offset`; the whole range must lie inside the file.
    pub(crate) fn read(&mut self, what: &'static str, offset: u64, size: u64) -> Result<Vec<u8>, ReadError> {
        let end = offset.checked_add(size);
        if end.is_none_or(|end| end > self.len) {
            return Err(ReadError::OutOfBounds {
                what,
                offset,
                size,
                len: self.len,
            });
        }
        let limit = self.limits.max_bytes_per_file;
        if self.used.saturating_add(size) > limit {
            return Err(ReadError::Budget { what, limit });
        }
        // Bounded by the file length (checked above) and by the budget.
        let size_usize = usize::try_from(size).map_err(|_| ReadError::Budget { what, limit })?;
        self.used += size;
        match &self.backing {
            Backing::File(file) => {
                let mut buf = vec![0u8; size_usize];
                file.read_exact_at(&mut buf, offset)?;
                Ok(buf)
            }
            Backing::Memory(bytes) => {
                // In range: checked against len == bytes.len() above.
                let start = offset as usize;
                Ok(bytes
                    .get(start..start + size_usize)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default())
            }
        }
    }

    /// Reads up to `size` bytes at `offset`, stopping at the end of the file.
    pub(crate) fn read_up_to(&mut self, what: &'static str, offset: u64, size: u64) -> Result<Vec<u8>, ReadError> {
        if offset >= self.len {
            return Ok(Vec::new());
        }
        let size = size.min(self.len - offset);
        self.read(what, offset, size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_budget() {
        let limits = ReadLimits {
            max_bytes_per_file: 10,
            ..ReadLimits::default()
        };
        let mut r = Reader::from_bytes((0u8..20).collect(), limits);
        assert_eq!(r.read("a", 2, 3).unwrap(), vec![2, 3, 4]);
        assert!(matches!(r.read("b", 18, 3), Err(ReadError::OutOfBounds { .. })));
        assert!(matches!(r.read("c", u64::MAX, 2), Err(ReadError::OutOfBounds { .. })));
        assert_eq!(r.read_up_to("d", 15, 100).unwrap(), vec![15, 16, 17, 18, 19]);
        assert!(matches!(r.read("e", 0, 5), Err(ReadError::Budget { .. })));
        assert_eq!(r.bytes_read(), 8);
        assert_eq!(r.read_up_to("f", 25, 1).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn rejects_directories() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Reader::open(dir.path(), ReadLimits::default()),
            Err(ReadError::NotRegularFile)
        ));
    }
}
