//! Walking a mounted extension image, and pgext's canonical tree digest.
//!
//! [`scan_tree`] lists everything below a root with `lstat` (symlinks are entries, never
//! followed), hashes regular files in parallel, and reports oddities as [`TreeProblem`]s instead
//! of failing. [`tree_digest`] turns a list of [`TreeEntry`]s into one SHA-256 over a plain-text
//! listing that standard shell tools can recompute; docs/src/reference/tree-digest.md specifies the form and
//! scripts/tree-digest.sh recomputes it. The OCI side builds the same entries from image layers,
//! so a mount and the image it claims to be can be compared entry by entry or by digest.
//!
//! Names are bytes on Linux. [`TreeEntry::path`] and [`TreeEntry::link_target`] hold them in a
//! lossless escaped form ([`escape_name`]): valid UTF-8 is kept, a backslash becomes `\\`, and
//! control bytes and bytes that are not part of valid UTF-8 become `\xNN` (lowercase hex).
//!
//! This file: entries, problems, options and errors. `digest.rs`: the digest format.
//! `walk.rs`: the filesystem walk. `watch.rs`: writable trees kept between scans, revalidated
//! by inotify.

mod digest;
mod walk;
mod watch;

pub use digest::{canonical_listing, escape_name, tree_digest, tree_digest_string, unescape_name};
pub use walk::{scan_tree, scan_tree_complete};
pub use watch::{LOCAL_FILESYSTEMS, MAX_WATCHES, WatchedTrees};

use crate::codes::Code;
use crate::hash::{Cancelled, Sha256};
use std::io;
use std::path::PathBuf;

/// What an entry is. FIFOs, sockets and device nodes are all [`EntryKind::Other`]: nothing an
/// extension needs, so the digest records that one exists, not which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A FIFO, socket or device node: nothing an extension image should contain.
    Other,
}

impl EntryKind {
    /// The stable name used in SQL output and recorded trees: `file`, `dir`, `symlink`, `other`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind named by [`EntryKind::as_str`]; anything else is [`EntryKind::Other`].
    pub fn from_name(name: &str) -> EntryKind {
        match name {
            "file" => EntryKind::File,
            "dir" => EntryKind::Dir,
            "symlink" => EntryKind::Symlink,
            _ => EntryKind::Other,
        }
    }
}

/// One filesystem object below the scanned root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path relative to the root, `/`-separated, no leading `./` or `/`, in the escaped form of
    /// [`escape_name`]. The root itself is not an entry.
    pub path: String,
    /// Type of the object.
    pub kind: EntryKind,
    /// Permission bits, `st_mode & 0o7777` (meaningless for symlinks; not part of their digest line).
    pub mode: u32,
    /// Size in bytes for regular files; 0 otherwise.
    pub size: u64,
    /// SHA-256 of a regular file's content; `None` for other kinds or when it could not be read.
    pub sha256: Option<Sha256>,
    /// A symlink's target as stored (escaped like `path`); `None` for other kinds.
    pub link_target: Option<String>,
}

impl TreeEntry {
    /// A directory.
    pub fn dir(path: impl Into<String>, mode: u32) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode,
            size: 0,
            sha256: None,
            link_target: None,
        }
    }

    /// A regular file holding `content`: how expected trees are written down (tests, fixtures);
    /// scans and layers fill in the size and digest they streamed.
    pub fn file(path: impl Into<String>, mode: u32, content: &[u8]) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::File,
            mode,
            size: content.len() as u64,
            sha256: Some(crate::hash::sha256(content)),
            link_target: None,
        }
    }

    /// A symbolic link to `target` (mode 0777, as Linux shows every link).
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::Symlink,
            mode: 0o777,
            size: 0,
            sha256: None,
            link_target: Some(target.into()),
        }
    }
}

/// Kinds of oddity a scan reports without failing: a part of [`Code`], the list SQL shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemCode {
    /// Permission denied on a file (listed, no digest) or a directory (listed, contents unknown).
    Unreadable,
    /// A name or link target that is not valid UTF-8 (listed, escaped losslessly).
    NonUtf8Name,
    /// A symlink whose target does not exist, as resolved by this process.
    DanglingSymlink,
    /// A symlink whose resolution loops (ELOOP).
    SymlinkLoop,
    /// A FIFO, socket or device node.
    SpecialFile,
    /// Something listed in a directory disappeared before it could be examined or read.
    Vanished,
    /// A file changed (size, mtime, ctime or identity) while it was being hashed.
    Changed,
    /// Any other I/O failure.
    IoError,
}

impl ProblemCode {
    /// Every kind.
    pub const ALL: [ProblemCode; 8] = [
        ProblemCode::Unreadable,
        ProblemCode::NonUtf8Name,
        ProblemCode::DanglingSymlink,
        ProblemCode::SymlinkLoop,
        ProblemCode::SpecialFile,
        ProblemCode::Vanished,
        ProblemCode::Changed,
        ProblemCode::IoError,
    ];

    /// The stable string form, as [`Code`] names it.
    pub fn as_str(self) -> &'static str {
        Code::from(self).as_str()
    }

    /// Whether a problem of this kind means the entry list is not an exact picture of the tree
    /// (something is missing or torn), so no digest may be computed from it.
    pub fn makes_scan_incomplete(self) -> bool {
        matches!(
            self,
            ProblemCode::Unreadable | ProblemCode::Vanished | ProblemCode::Changed | ProblemCode::IoError
        )
    }
}

impl From<ProblemCode> for Code {
    fn from(c: ProblemCode) -> Code {
        match c {
            ProblemCode::Unreadable => Code::Unreadable,
            ProblemCode::NonUtf8Name => Code::NonUtf8Name,
            ProblemCode::DanglingSymlink => Code::DanglingSymlink,
            ProblemCode::SymlinkLoop => Code::SymlinkLoop,
            ProblemCode::SpecialFile => Code::SpecialFile,
            ProblemCode::Vanished => Code::Vanished,
            ProblemCode::Changed => Code::Changed,
            ProblemCode::IoError => Code::IoError,
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something odd found during a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeProblem {
    /// Escaped relative path of the entry concerned (empty for the root itself).
    pub path: String,
    /// What kind of oddity.
    pub code: ProblemCode,
    /// Human-readable detail, including the OS error where there is one.
    pub message: String,
}

/// Result of [`scan_tree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeScan {
    /// Every entry below the root, sorted by `path` bytes.
    pub entries: Vec<TreeEntry>,
    /// Oddities, in the order found.
    pub problems: Vec<TreeProblem>,
    /// Number of regular files.
    pub file_count: u64,
    /// Number of directories (the root not included).
    pub dir_count: u64,
    /// Sum of regular file sizes.
    pub total_bytes: u64,
}

impl TreeScan {
    /// This scan if it saw every entry as it is; otherwise [`TreeError::Incomplete`], naming the
    /// first problem that makes it incomplete ([`ProblemCode::makes_scan_incomplete`]). Oddities
    /// that are faithfully listed (special files, dangling links, non-UTF-8 names) pass.
    pub fn require_complete(self) -> Result<TreeScan, TreeError> {
        let mut bad = self.problems.iter().filter(|p| p.code.makes_scan_incomplete());
        match bad.next() {
            None => Ok(self),
            Some(first) => Err(TreeError::Incomplete {
                path: first.path.clone(),
                code: first.code,
                message: first.message.clone(),
                count: 1 + bad.count(),
            }),
        }
    }

    /// The tree digest of this scan, refusing when a problem means the entries are incomplete
    /// (see [`ProblemCode::makes_scan_incomplete`]) or a file was not hashed.
    pub fn digest(&self) -> Result<Sha256, DigestError> {
        if let Some(p) = self.problems.iter().find(|p| p.code.makes_scan_incomplete()) {
            return Err(DigestError::Incomplete {
                path: p.path.clone(),
                code: p.code,
            });
        }
        tree_digest(&self.entries)
    }
}

/// What a scan says of the tree as a whole (what `pgext.mounted_images` shows of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    /// Number of regular files.
    pub file_count: u64,
    /// Number of directories (the root not included).
    pub dir_count: u64,
    /// Sum of regular file sizes.
    pub total_bytes: u64,
    /// The tree digest, or why there is none ([`TreeScan::digest`]).
    pub digest: Result<Sha256, DigestError>,
    /// Oddities, in the order found.
    pub problems: Vec<TreeProblem>,
}

impl ScanSummary {
    /// The summary of `scan`.
    pub fn of(scan: &TreeScan) -> ScanSummary {
        ScanSummary {
            file_count: scan.file_count,
            dir_count: scan.dir_count,
            total_bytes: scan.total_bytes,
            digest: scan.digest(),
            problems: scan.problems.clone(),
        }
    }
}

/// Default limit on path depth (components below the root). Real images are < 10 deep.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Default limit on entries. The largest known image (PostGIS with PROJ data) has a few thousand.
pub const DEFAULT_MAX_ENTRIES: usize = 500_000;

fn never_cancel() -> bool {
    false
}

/// How to scan.
#[derive(Clone, Copy)]
pub struct ScanOptions<'a> {
    /// Hashing threads; 0 = [`crate::hash::default_threads`].
    pub threads: usize,
    /// Whether to hash regular files (otherwise `sha256` stays `None` and no digest is possible).
    pub hash: bool,
    /// Polled on the calling thread only (between directories and while waiting for hashes); true
    /// stops the scan with [`TreeError::Cancelled`].
    pub cancel: &'a dyn Fn() -> bool,
    /// Deepest allowed entry, in path components; deeper is [`TreeError::TooDeep`].
    pub max_depth: usize,
    /// Most entries allowed; more is [`TreeError::TooManyEntries`].
    pub max_entries: usize,
}

impl Default for ScanOptions<'_> {
    fn default() -> Self {
        ScanOptions {
            threads: 0,
            hash: true,
            cancel: &never_cancel,
            max_depth: DEFAULT_MAX_DEPTH,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

impl std::fmt::Debug for ScanOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("threads", &self.threads)
            .field("hash", &self.hash)
            .field("max_depth", &self.max_depth)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

/// Why a scan produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The root cannot be examined or listed (missing, permission denied, ...).
    #[error("cannot read tree root {}: {source}", path.display())]
    Root {
        /// The root as given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The root exists but is not a directory.
    #[error("tree root {} is not a directory", path.display())]
    NotADirectory {
        /// The root as given.
        path: PathBuf,
    },
    /// More entries than [`ScanOptions::max_entries`].
    #[error("tree has more than {limit} entries")]
    TooManyEntries {
        /// The limit in force.
        limit: usize,
    },
    /// An entry deeper than [`ScanOptions::max_depth`].
    #[error("tree entry {path} is deeper than {limit} levels")]
    TooDeep {
        /// Escaped relative path of the first entry found too deep.
        path: String,
        /// The limit in force.
        limit: usize,
    },
    /// The scan ran, but could not see every entry as it is: something was unreadable, vanished,
    /// changed while hashed, or failed with an I/O error. Only [`scan_tree_complete`] and
    /// [`TreeScan::require_complete`] return it: its entries must not be compared with an image
    /// (what is missing from them is unknown, not absent).
    #[error("tree scan is incomplete: {count} entr{} could not be examined, first {path:?}: {code}: {message}", if *count == 1 { "y" } else { "ies" })]
    Incomplete {
        /// Escaped relative path of the first entry concerned ("" for the root).
        path: String,
        /// Its problem.
        code: ProblemCode,
        /// The problem's detail.
        message: String,
        /// How many problems make the scan incomplete.
        count: usize,
    },
    /// The caller's cancel callback asked to stop.
    #[error("tree scan was cancelled")]
    Cancelled,
}

impl TreeError {
    /// Stable code for SQL: `root_unreadable`, `not_a_directory`, `too_many_entries`,
    /// `too_deep`, `scan_incomplete`; `None` when cancelled (the statement ends instead). Every
    /// one is a scan failure: the mount's state is unknown, which must never be reported as
    /// "files missing".
    pub fn code(&self) -> Option<Code> {
        Some(match self {
            TreeError::Root { .. } => Code::RootUnreadable,
            TreeError::NotADirectory { .. } => Code::NotADirectory,
            TreeError::TooManyEntries { .. } => Code::TooManyEntries,
            TreeError::TooDeep { .. } => Code::TooDeep,
            TreeError::Incomplete { .. } => Code::ScanIncomplete,
            TreeError::Cancelled => return None,
        })
    }
}

impl From<Cancelled> for TreeError {
    fn from(_: Cancelled) -> Self {
        TreeError::Cancelled
    }
}

/// Why no tree digest can be computed from a set of entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// A regular file without a digest (unreadable, or not hashed).
    #[error("file {path} has no digest (unreadable or not hashed)")]
    MissingHash {
        /// The entry's path.
        path: String,
    },
    /// A symlink without a target.
    #[error("symlink {path} has no target")]
    MissingLinkTarget {
        /// The entry's path.
        path: String,
    },
    /// A path that is empty, absolute, has empty, `.` or `..` components, or is not in the
    /// canonical escaped form.
    #[error("entry path {path:?} is not canonical: {reason}")]
    InvalidPath {
        /// The offending path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A link target not in the canonical escaped form.
    #[error("symlink {path} has a target not in canonical escaped form")]
    InvalidLinkTarget {
        /// The entry's path.
        path: String,
    },
    /// Mode bits outside `0o7777`.
    #[error("entry {path} has mode {mode:o}, outside 7777")]
    InvalidMode {
        /// The entry's path.
        path: String,
        /// The offending mode.
        mode: u32,
    },
    /// The same path twice.
    #[error("entry {path} appears more than once")]
    DuplicatePath {
        /// The repeated path.
        path: String,
    },
    /// The scan that produced the entries reported a problem that makes them incomplete.
    #[error("scan is incomplete ({code} at {path:?})")]
    Incomplete {
        /// Where.
        path: String,
        /// Which problem.
        code: ProblemCode,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_problem_codes_listed_once() {
        // Exhaustive: a new kind fails to compile here until it is placed in `ALL`.
        let slot = |c: ProblemCode| match c {
            ProblemCode::Unreadable => 0,
            ProblemCode::NonUtf8Name => 1,
            ProblemCode::DanglingSymlink => 2,
            ProblemCode::SymlinkLoop => 3,
            ProblemCode::SpecialFile => 4,
            ProblemCode::Vanished => 5,
            ProblemCode::Changed => 6,
            ProblemCode::IoError => 7,
        };
        let slots: Vec<usize> = ProblemCode::ALL.iter().map(|&c| slot(c)).collect();
        assert_eq!(slots, (0..ProblemCode::ALL.len()).collect::<Vec<_>>());
    }
}
