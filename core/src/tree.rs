//! Walking a mounted extension image, and pgext's canonical tree digest.
//!
//! [`scan_tree`] lists everything below a root with `lstat` (symlinks are entries, never
//! followed), hashes regular files in parallel, and reports oddities as [`TreeProblem`]s instead
//! of failing. [`tree_digest`] turns a list of [`TreeEntry`]s into one SHA-256 over a plain-text
//! listing that standard shell tools can recompute; docs/tree-digest.md specifies the form and
//! scripts/tree-digest.sh recomputes it. The OCI side builds the same entries from image layers,
//! so a mount and the image it claims to be can be compared entry by entry or by digest.
//!
//! Names are bytes on Linux. [`TreeEntry::path`] and [`TreeEntry::link_target`] hold them in a
//! lossless escaped form ([`escape_name`]): valid UTF-8 is kept, a backslash becomes `\\`, and
//! control bytes and bytes that are not part of valid UTF-8 become `\xNN` (lowercase hex).

use crate::codes::Code;
use std::fmt::Write as _;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::hash::{self, Cancelled, FileKey, HashCache, HashJob, Sha256};

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
    /// Hashing threads; 0 = [`hash::default_threads`].
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

/// Escapes a raw name (or path, or link target) losslessly into a string: valid UTF-8 is kept
/// except that `\` becomes `\\` and control characters (U+0000–U+001F, U+007F) become `\xNN`;
/// every byte that is not part of a valid UTF-8 sequence becomes `\xNN`. Hex is lowercase.
pub fn escape_name(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\0'..='\x1f' | '\x7f' => push_hex_escape(&mut out, c as u8),
                c => out.push(c),
            }
        }
        for &b in chunk.invalid() {
            push_hex_escape(&mut out, b);
        }
    }
    out
}

fn push_hex_escape(out: &mut String, b: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\\x{b:02x}");
}

/// Reverses [`escape_name`] (and the listing's extra `\x20`): `None` for a malformed escape
/// (anything after `\` other than `\` or `x` plus two lowercase hex digits).
pub fn unescape_name(escaped: &str) -> Option<Vec<u8>> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = |j: usize| match bytes.get(j) {
                    Some(&c @ b'0'..=b'9') => Some(c - b'0'),
                    Some(&c @ b'a'..=b'f') => Some(c - b'a' + 10),
                    _ => None,
                };
                out.push((hex(i + 2)? << 4) | hex(i + 3)?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `s` is exactly what [`escape_name`] produces for some byte string.
fn is_canonical_escape(s: &str) -> bool {
    unescape_name(s).is_some_and(|raw| escape_name(&raw) == s)
}

/// The listing form of an escaped name: additionally `' '` → `\x20`, so that no field of a
/// listing line contains a space and every line splits unambiguously on single spaces.
fn listing_field(escaped: &str) -> String {
    escaped.replace(' ', "\\x20")
}

fn check_path(path: &str) -> Result<(), DigestError> {
    let reason = if path.is_empty() {
        Some("empty")
    } else if path.starts_with('/') {
        Some("absolute")
    } else if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        Some("empty, '.' or '..' component")
    } else if !is_canonical_escape(path) {
        Some("not in canonical escaped form")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DigestError::InvalidPath {
            path: path.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The canonical listing of `entries` (in any order): one line per entry, sorted by the bytes of
/// the path field, fields separated by one space, each line ending in `\n`:
///
/// ```text
/// f <mode> <size> <sha256 hex> <path>
/// d <mode> <path>
/// l <path> -> <target>
/// o <mode> <path>
/// ```
///
/// `<mode>` is 4-digit octal; paths and targets are escaped ([`escape_name`]) with spaces written
/// `\x20`. Fails rather than produce a listing that does not describe the tree exactly.
pub fn canonical_listing(entries: &[TreeEntry]) -> Result<Vec<u8>, DigestError> {
    let mut lines: Vec<(String, &TreeEntry)> = Vec::with_capacity(entries.len());
    for e in entries {
        check_path(&e.path)?;
        if e.mode > 0o7777 {
            return Err(DigestError::InvalidMode {
                path: e.path.clone(),
                mode: e.mode,
            });
        }
        lines.push((listing_field(&e.path), e));
    }
    lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if let Some(w) = lines.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(DigestError::DuplicatePath {
            path: w[0].1.path.clone(),
        });
    }
    let mut out = String::with_capacity(lines.len() * 100);
    for (path, e) in &lines {
        // Writing to a String cannot fail.
        let _ = match e.kind {
            EntryKind::File => {
                let sha = e
                    .sha256
                    .ok_or_else(|| DigestError::MissingHash { path: e.path.clone() })?;
                writeln!(out, "f {:04o} {} {} {path}", e.mode, e.size, hash::to_hex(&sha))
            }
            EntryKind::Dir => writeln!(out, "d {:04o} {path}", e.mode),
            EntryKind::Symlink => {
                let target = e
                    .link_target
                    .as_deref()
                    .ok_or_else(|| DigestError::MissingLinkTarget { path: e.path.clone() })?;
                if !is_canonical_escape(target) {
                    return Err(DigestError::InvalidLinkTarget { path: e.path.clone() });
                }
                writeln!(out, "l {path} -> {}", listing_field(target))
            }
            EntryKind::Other => writeln!(out, "o {:04o} {path}", e.mode),
        };
    }
    Ok(out.into_bytes())
}

/// SHA-256 of [`canonical_listing`]: pgext's digest of a tree's names, types, modes, sizes,
/// contents and link targets (not owners or times).
pub fn tree_digest(entries: &[TreeEntry]) -> Result<Sha256, DigestError> {
    Ok(hash::sha256(&canonical_listing(entries)?))
}

/// [`tree_digest`] in its display form, `sha256:<hex>`.
pub fn tree_digest_string(entries: &[TreeEntry]) -> Result<String, DigestError> {
    Ok(hash::to_prefixed_hex(&tree_digest(entries)?))
}

/// An entry being collected, with what hashing needs.
struct Found {
    entry: TreeEntry,
    abs: PathBuf,
    key: Option<FileKey>,
}

struct Walker<'o> {
    opts: &'o ScanOptions<'o>,
    found: Vec<Found>,
    problems: Vec<TreeProblem>,
}

impl Walker<'_> {
    fn problem(&mut self, path: &str, code: ProblemCode, message: String) {
        self.problems.push(TreeProblem {
            path: path.to_owned(),
            code,
            message,
        });
    }

    /// Problem code for an I/O error on something that was listed a moment ago.
    fn code_for(e: &io::Error) -> ProblemCode {
        match e.kind() {
            io::ErrorKind::PermissionDenied => ProblemCode::Unreadable,
            io::ErrorKind::NotFound => ProblemCode::Vanished,
            _ => ProblemCode::IoError,
        }
    }

    /// Lists the tree depth-first with an explicit stack (no recursion: depth is input-controlled).
    fn walk(&mut self, root: &Path) -> Result<(), TreeError> {
        let mut stack: Vec<(PathBuf, Vec<u8>, usize)> = vec![(root.to_path_buf(), Vec::new(), 0)];
        while let Some((dir, rel, depth)) = stack.pop() {
            if (self.opts.cancel)() {
                return Err(TreeError::Cancelled);
            }
            let read = match fs::read_dir(&dir) {
                Ok(r) => r,
                Err(source) if rel.is_empty() => return Err(TreeError::Root { path: dir, source }),
                Err(e) => {
                    let code = Self::code_for(&e);
                    self.problem(&escape_name(&rel), code, format!("cannot list directory: {e}"));
                    continue;
                }
            };
            for item in read {
                let item = match item {
                    Ok(i) => i,
                    Err(e) => {
                        // A failing readdir may keep failing: stop listing this directory.
                        self.problem(
                            &escape_name(&rel),
                            ProblemCode::IoError,
                            format!("cannot list directory: {e}"),
                        );
                        break;
                    }
                };
                let name = item.file_name();
                let mut child_rel = rel.clone();
                if !child_rel.is_empty() {
                    child_rel.push(b'/');
                }
                child_rel.extend_from_slice(name.as_bytes());
                if self.found.len() >= self.opts.max_entries {
                    return Err(TreeError::TooManyEntries {
                        limit: self.opts.max_entries,
                    });
                }
                let child_depth = depth + 1;
                if child_depth > self.opts.max_depth {
                    return Err(TreeError::TooDeep {
                        path: escape_name(&child_rel),
                        limit: self.opts.max_depth,
                    });
                }
                let abs = item.path();
                if let Some(subdir) = self.add(abs, &child_rel, std::str::from_utf8(name.as_bytes()).is_ok()) {
                    stack.push((subdir, child_rel, child_depth));
                }
            }
        }
        Ok(())
    }

    /// Records one entry; returns its absolute path when it is a directory to descend into.
    fn add(&mut self, abs: PathBuf, rel: &[u8], name_is_utf8: bool) -> Option<PathBuf> {
        let path = escape_name(rel);
        let meta: Metadata = match fs::symlink_metadata(&abs) {
            Ok(m) => m,
            Err(e) => {
                // Without lstat there is no type to list: report and leave it out.
                let code = Self::code_for(&e);
                self.problem(&path, code, format!("cannot lstat: {e}"));
                return None;
            }
        };
        if !name_is_utf8 {
            self.problem(
                &path,
                ProblemCode::NonUtf8Name,
                "name is not valid UTF-8; listed with \\xNN escapes".into(),
            );
        }
        let ft = meta.file_type();
        let mode = meta.mode() & 0o7777;
        let mut entry = TreeEntry {
            path,
            kind: EntryKind::Other,
            mode,
            size: 0,
            sha256: None,
            link_target: None,
        };
        let mut key = None;
        let mut descend = None;
        if ft.is_dir() {
            entry.kind = EntryKind::Dir;
            descend = Some(abs.clone());
        } else if ft.is_file() {
            entry.kind = EntryKind::File;
            entry.size = meta.len();
            key = Some(FileKey::from_metadata(&meta));
        } else if ft.is_symlink() {
            entry.kind = EntryKind::Symlink;
            match fs::read_link(&abs) {
                Ok(target) => {
                    let raw = target.as_os_str().as_bytes();
                    if std::str::from_utf8(raw).is_err() {
                        let msg = "symlink target is not valid UTF-8; listed with \\xNN escapes".to_owned();
                        self.problem(&entry.path, ProblemCode::NonUtf8Name, msg);
                    }
                    entry.link_target = Some(escape_name(raw));
                    self.check_link(&entry.path, &abs);
                }
                Err(e) => {
                    let code = Self::code_for(&e);
                    self.problem(&entry.path, code, format!("cannot read symlink: {e}"));
                    if code == ProblemCode::Vanished {
                        return None;
                    }
                }
            }
        } else {
            // Neither directory, file nor link here: FIFO, socket, device or unknown.
            let what = crate::fsinfo::kind_name(ft);
            self.problem(
                &entry.path,
                ProblemCode::SpecialFile,
                format!("{what} in an extension tree"),
            );
        }
        self.found.push(Found { entry, abs, key });
        descend
    }

    /// Resolves a symlink as this process would (absolute targets against the real root, which is
    /// what the server sees when it opens the path) and notes dangling or looping targets.
    fn check_link(&mut self, path: &str, abs: &Path) {
        let Err(e) = fs::metadata(abs) else { return };
        match e.raw_os_error() {
            Some(libc::ELOOP) => self.problem(path, ProblemCode::SymlinkLoop, format!("symlink does not resolve: {e}")),
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => self.problem(
                path,
                ProblemCode::DanglingSymlink,
                format!("symlink target does not exist: {e}"),
            ),
            // Permission problems on the way say nothing about the link itself.
            _ => {}
        }
    }

    /// Fills in digests: from the cache where the file is unchanged, otherwise by hashing.
    fn hash(&mut self, mut cache: Option<&mut HashCache>) -> Result<(), TreeError> {
        let mut jobs = Vec::new();
        let mut job_owner = Vec::new();
        for (i, f) in self.found.iter_mut().enumerate() {
            let Some(key) = f.key else { continue };
            if let Some(sha) = cache.as_deref_mut().and_then(|c| c.get(&key)) {
                f.entry.sha256 = Some(sha);
                continue;
            }
            // The walk saw no symlink here: refuse to follow one swapped in since.
            jobs.push(HashJob {
                path: f.abs.clone(),
                size_hint: key.size,
                follow_symlinks: false,
            });
            job_owner.push(i);
        }
        let results = hash::hash_jobs(&jobs, self.opts.threads, self.opts.cancel)?;
        for (i, result) in job_owner.into_iter().zip(results) {
            let Some(f) = self.found.get_mut(i) else { continue };
            let Some(key) = f.key else { continue };
            match result {
                Ok(h) if h.key_after.same_version(&key) && h.bytes == key.size => {
                    f.entry.sha256 = Some(h.sha256);
                    if let Some(c) = cache.as_deref_mut() {
                        c.insert(key, h.sha256);
                    }
                }
                Ok(h) => {
                    // A torn read describes no state of the file: keep no digest.
                    let path = f.entry.path.clone();
                    let msg = format!(
                        "file changed while being read (lstat said {} bytes, read {})",
                        key.size, h.bytes
                    );
                    self.problem(&path, ProblemCode::Changed, msg);
                }
                Err(e) => {
                    let code = match e.raw_os_error() {
                        // O_NOFOLLOW met a symlink, or the object is no longer a regular file.
                        Some(libc::ELOOP) => ProblemCode::Changed,
                        _ if e.kind() == io::ErrorKind::InvalidInput => ProblemCode::Changed,
                        _ => Self::code_for(&e),
                    };
                    let path = f.entry.path.clone();
                    self.problem(&path, code, format!("cannot hash: {e}"));
                }
            }
        }
        Ok(())
    }
}

/// Scans the tree below `root` (the root itself is followed if it is a symlink; nothing below is).
///
/// `cache`, when given, supplies digests of files whose [`FileKey`] is unchanged and receives the
/// new ones; it is used only on the calling thread. Problems with individual entries are reported
/// in [`TreeScan::problems`]; only an unusable root, a limit or cancellation is an error.
pub fn scan_tree(root: &Path, opts: &ScanOptions<'_>, cache: Option<&mut HashCache>) -> Result<TreeScan, TreeError> {
    let meta = fs::metadata(root).map_err(|source| TreeError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(TreeError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let mut walker = Walker {
        opts,
        found: Vec::new(),
        problems: Vec::new(),
    };
    walker.walk(root)?;
    if opts.hash {
        walker.hash(cache)?;
    }

    let mut entries: Vec<TreeEntry> = walker.found.into_iter().map(|f| f.entry).collect();
    entries.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut scan = TreeScan {
        entries: Vec::new(),
        problems: walker.problems,
        file_count: 0,
        dir_count: 0,
        total_bytes: 0,
    };
    for e in &entries {
        match e.kind {
            EntryKind::File => {
                scan.file_count += 1;
                scan.total_bytes = scan.total_bytes.saturating_add(e.size);
            }
            EntryKind::Dir => scan.dir_count += 1,
            _ => {}
        }
    }
    scan.entries = entries;
    Ok(scan)
}

/// [`scan_tree`] for comparisons with an image: every way the scan can fail to see the whole
/// tree is an error ([`TreeError::TooManyEntries`], [`TreeError::TooDeep`],
/// [`TreeError::Incomplete`], [`TreeError::Root`], ...), so callers can tell "the mount could not
/// be read" from "N files are missing" (an empty or partial entry list).
pub fn scan_tree_complete(
    root: &Path,
    opts: &ScanOptions<'_>,
    cache: Option<&mut HashCache>,
) -> Result<TreeScan, TreeError> {
    scan_tree(root, opts, cache)?.require_complete()
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
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
        let p = root.join(rel);
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mkdir(root: &Path, rel: &str, mode: u32) {
        let p = root.join(rel);
        fs::create_dir(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The tree the shell recipe is checked against: every entry kind, awkward names included.
    fn sample_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        mkdir(r, "lib", 0o755);
        mkdir(r, "lib/bitcode", 0o755);
        mkdir(r, "lib/bitcode/vector", 0o750);
        mkdir(r, "share", 0o755);
        mkdir(r, "share/extension", 0o755);
        mkdir(r, "empty", 0o700);
        write(r, "lib/vector.so", &vec![0x7f; 70_000], 0o755);
        write(r, "lib/bitcode/vector/a.bc", b"bitcode", 0o644);
        write(
            r,
            "share/extension/vector.control",
            b"default_version = '0.8.0'\n",
            0o644,
        );
        write(r, "share/extension/secret key", b"", 0o600);
        write(r, "share/extension/set-uid", b"x", 0o4755);
        write(r, "lib-a", b"sorts before lib/ in byte order", 0o644);
        write(r, "back\\slash", b"\\", 0o644);
        write(r, "tab\there", b"t", 0o644);
        write(r, "caf\u{e9}", b"utf-8 name", 0o644);
        let bad = r.join(std::ffi::OsString::from_vec(b"bad\xffname".to_vec()));
        fs::write(&bad, b"non-utf8").unwrap();
        symlink("vector.so", r.join("lib/vector-0.8.so")).unwrap();
        symlink("../missing target", r.join("lib/dangling")).unwrap();
        dir
    }

    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/tree-digest.sh")
    }

    fn run_script(root: &Path, listing: bool) -> Option<String> {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(script()).arg(root);
        if listing {
            cmd.arg("--listing");
        }
        match cmd.output() {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "script failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Some(String::from_utf8(out.stdout).unwrap())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                eprintln!("SKIPPED: bash not found, the shell recipe cannot be checked");
                None
            }
            Err(e) => panic!("cannot run bash: {e}"),
        }
    }

    fn scan(root: &Path) -> TreeScan {
        scan_tree(root, &ScanOptions::default(), None).unwrap()
    }

    #[test]
    fn rust_digest_equals_shell_recipe() {
        let dir = sample_tree();
        let s = scan(dir.path());
        let listing = String::from_utf8(canonical_listing(&s.entries).unwrap()).unwrap();
        let Some(script_listing) = run_script(dir.path(), true) else {
            return;
        };
        assert_eq!(listing, script_listing);
        let digest = run_script(dir.path(), false).unwrap();
        assert_eq!(digest.trim_end(), tree_digest_string(&s.entries).unwrap());
        // The empty tree: both sides hash the empty listing.
        let empty = tempfile::tempdir().unwrap();
        let s = scan(empty.path());
        assert!(s.entries.is_empty());
        assert_eq!(
            run_script(empty.path(), false).unwrap().trim_end(),
            tree_digest_string(&s.entries).unwrap()
        );
    }

    #[test]
    fn scan_lists_everything_with_types_modes_and_problems() {
        let dir = sample_tree();
        let s = scan(dir.path());
        let get = |p: &str| {
            s.entries
                .iter()
                .find(|e| e.path == p)
                .unwrap_or_else(|| panic!("{p} missing"))
        };
        assert_eq!(get("lib/vector.so").kind, EntryKind::File);
        assert_eq!(get("lib/vector.so").mode, 0o755);
        assert_eq!(get("lib/vector.so").size, 70_000);
        assert_eq!(get("lib/vector.so").sha256, Some(hash::sha256(&vec![0x7f; 70_000])));
        assert_eq!(get("share/extension/secret key").mode, 0o600);
        assert_eq!(get("share/extension/set-uid").mode, 0o4755);
        assert_eq!(get("empty").kind, EntryKind::Dir);
        assert_eq!(get("lib/bitcode/vector").mode, 0o750);
        assert_eq!(get("lib/vector-0.8.so").link_target.as_deref(), Some("vector.so"));
        assert_eq!(get("lib/vector-0.8.so").sha256, None);
        assert_eq!(get("back\\\\slash").kind, EntryKind::File);
        assert_eq!(get("tab\\x09here").kind, EntryKind::File);
        assert_eq!(get("bad\\xffname").size, 8);
        assert_eq!((s.file_count, s.dir_count), (10, 6));
        assert_eq!(s.total_bytes, s.entries.iter().map(|e| e.size).sum::<u64>());
        let mut sorted = s.entries.clone();
        sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        assert_eq!(s.entries, sorted);
        let mut codes: Vec<(&str, &str)> = s.problems.iter().map(|p| (p.path.as_str(), p.code.as_str())).collect();
        codes.sort();
        assert_eq!(
            codes,
            [("bad\\xffname", "non_utf8_name"), ("lib/dangling", "dangling_symlink")]
        );
        // Informational problems do not prevent a digest.
        assert_eq!(s.digest().unwrap(), tree_digest(&s.entries).unwrap());
    }

    fn file(path: &str, mode: u32, data: &[u8]) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::File,
            mode,
            size: data.len() as u64,
            sha256: Some(hash::sha256(data)),
            link_target: None,
        }
    }

    fn dir_entry(path: &str, mode: u32) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode,
            size: 0,
            sha256: None,
            link_target: None,
        }
    }

    fn link(path: &str, target: &str) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::Symlink,
            mode: 0o777,
            size: 0,
            sha256: None,
            link_target: Some(target.into()),
        }
    }

    #[test]
    fn listing_golden_form_and_byte_order() {
        // Given out of order; byte order of the path fields puts "B" < "_x" < "a" < "a-b" < "a/b" <
        // "a\x20b" (the escaped "a b") < "é", unlike most locales' collation.
        let entries = vec![
            file("\u{e9}", 0o644, b""),
            dir_entry("a", 0o755),
            file("a/b", 0o600, b"abc"),
            file("a-b", 0o644, b""),
            TreeEntry {
                kind: EntryKind::Other,
                ..dir_entry("_x", 0o644)
            },
            link("a b", "x y"),
            file("B", 0o4755, b""),
        ];
        let e3 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let want = format!(
            "f 4755 0 {e3} B\no 0644 _x\nd 0755 a\nf 0644 0 {e3} a-b\nf 0600 3 {abc} a/b\nl a\\x20b -> x\\x20y\n\
             f 0644 0 {e3} \u{e9}\n"
        );
        assert_eq!(String::from_utf8(canonical_listing(&entries).unwrap()).unwrap(), want);
        assert_eq!(tree_digest(&entries).unwrap(), hash::sha256(want.as_bytes()));
        let mut reversed = entries.clone();
        reversed.reverse();
        assert_eq!(tree_digest(&reversed).unwrap(), tree_digest(&entries).unwrap());
    }

    #[test]
    fn documented_example_digest() {
        // The example in docs/tree-digest.md: keep the two in step.
        let mut entries = vec![
            dir_entry("lib", 0o755),
            link("lib/vector-0.8.so", "vector.so"),
            file("lib/vector.so", 0o755, b"not really ELF\n"),
            dir_entry("share", 0o755),
            dir_entry("share/extension", 0o755),
            file("share/extension/secret key", 0o600, b""),
            file("share/extension/vector.control", 0o644, b"default_version = '0.8.0'\n"),
        ];
        let want = "sha256:65df616b274feb51c5f666993c2d4c65c725d3f044aa6625c336737aa177858d";
        assert_eq!(tree_digest_string(&entries).unwrap(), want);
        entries.remove(5);
        let want = "sha256:600e7e0bc561b5b330c1c35c582808ff19f1dcf35e0a15a8ae6c0cf15e474294";
        assert_eq!(tree_digest_string(&entries).unwrap(), want);
        assert_eq!(
            tree_digest_string(&[]).unwrap(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn every_change_changes_the_digest() {
        let base = vec![dir_entry("d", 0o755), file("d/f", 0o644, b"content"), link("d/l", "f")];
        let d0 = tree_digest(&base).unwrap();
        type Change = Box<dyn Fn(&mut Vec<TreeEntry>)>;
        let variants: Vec<(&str, Change)> = vec![
            ("one content byte", Box::new(|v| v[1] = file("d/f", 0o644, b"contenT"))),
            ("file mode", Box::new(|v| v[1].mode = 0o755)),
            ("dir mode", Box::new(|v| v[0].mode = 0o700)),
            ("size", Box::new(|v| v[1].size += 1)),
            ("link target", Box::new(|v| v[2].link_target = Some("g".into()))),
            ("name", Box::new(|v| v[1].path = "d/g".into())),
            ("kind", Box::new(|v| v[0].kind = EntryKind::Other)),
            ("extra entry", Box::new(|v| v.push(dir_entry("e", 0o755)))),
            ("missing entry", Box::new(|v| drop(v.pop()))),
        ];
        for (what, change) in variants {
            let mut v = base.clone();
            change(&mut v);
            assert_ne!(tree_digest(&v).unwrap(), d0, "{what}");
        }
        // A symlink's mode is not part of its line.
        let mut v = base.clone();
        v[2].mode = 0o755;
        assert_eq!(tree_digest(&v).unwrap(), d0);
    }

    #[test]
    fn digest_refuses_what_it_cannot_describe() {
        let ok = file("f", 0o644, b"");
        let cases: Vec<(TreeEntry, &str)> = vec![
            (
                TreeEntry {
                    sha256: None,
                    ..ok.clone()
                },
                "no digest",
            ),
            (
                TreeEntry {
                    link_target: None,
                    ..link("l", "x")
                },
                "no target",
            ),
            (link("l", "bad\\q"), "canonical"),
            (file("", 0o644, b""), "empty"),
            (file("/abs", 0o644, b""), "absolute"),
            (file("a//b", 0o644, b""), "component"),
            (file("./a", 0o644, b""), "component"),
            (file("a/..", 0o644, b""), "component"),
            (file("a/", 0o644, b""), "component"),
            (file("new\nline", 0o644, b""), "canonical"),
            (file("x\\x20y", 0o644, b""), "canonical"),
            (file("f", 0o10644, b""), "outside 7777"),
        ];
        for (entry, msg) in cases {
            let err = tree_digest(std::slice::from_ref(&entry)).unwrap_err();
            assert!(err.to_string().contains(msg), "{entry:?}: {err}");
        }
        let err = tree_digest(&[ok.clone(), ok]).unwrap_err();
        assert!(matches!(err, DigestError::DuplicatePath { .. }), "{err}");
    }

    #[test]
    fn escaping_is_lossless() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain.so", "plain.so"),
            (b"with space", "with space"),
            (b"back\\slash", "back\\\\slash"),
            (b"lit\\x41", "lit\\\\x41"),
            (b"nl\ntab\tdel\x7f", "nl\\x0atab\\x09del\\x7f"),
            ("caf\u{e9} \u{1f418}".as_bytes(), "caf\u{e9} \u{1f418}"),
            (b"\xff\xfe", "\\xff\\xfe"),
            (b"trunc\xe2\x82", "trunc\\xe2\\x82"),
            (b"\xe2\x82\xe2\x82\xac", "\\xe2\\x82\u{20ac}"),
            (b"overlong\xc0\xaf", "overlong\\xc0\\xaf"),
            (b"surrogate\xed\xa0\x80", "surrogate\\xed\\xa0\\x80"),
            (b"too big\xf4\x90\x80\x80", "too big\\xf4\\x90\\x80\\x80"),
        ];
        for (raw, escaped) in cases {
            assert_eq!(escape_name(raw), *escaped, "{raw:?}");
            assert_eq!(unescape_name(escaped).as_deref(), Some(*raw), "{escaped:?}");
        }
        for bad in ["a\\", "a\\n", "a\\x4", "a\\x4G", "a\\xFF"] {
            assert_eq!(unescape_name(bad), None, "{bad:?}");
        }
        assert_eq!(unescape_name("a\\x20b").as_deref(), Some(&b"a b"[..]));
    }

    #[test]
    fn awkward_names_survive_the_shell_recipe() {
        // Escapes the awk code must agree on: invalid UTF-8 shapes, controls, backslash, 4-byte UTF-8.
        let dir = tempfile::tempdir().unwrap();
        let names: &[&[u8]] = &[
            b"trunc\xe2\x82",
            b"\xe2\x82\xe2\x82\xac",
            b"overlong\xc0\xaf",
            b"surrogate\xed\xa0\x80",
            b"too big\xf4\x90\x80\x80",
            b"ok\xf0\x9f\x90\x98",
            b"ctl\x01\x1f\x7f",
            b"nl\nx",
            b"lit\\x41",
            b"-dash",
        ];
        for n in names {
            fs::write(dir.path().join(std::ffi::OsStr::from_bytes(n)), n).unwrap();
        }
        symlink(
            std::ffi::OsStr::from_bytes(b"tgt \xff\\"),
            dir.path().join("weird link"),
        )
        .unwrap();
        let s = scan(dir.path());
        let listing = String::from_utf8(canonical_listing(&s.entries).unwrap()).unwrap();
        if let Some(script) = run_script(dir.path(), true) {
            assert_eq!(listing, script);
        }
    }

    #[test]
    fn cache_hits_skip_hashing() {
        let dir = sample_tree();
        let mut cache = HashCache::new().with_racy_window(Duration::ZERO);
        let first = scan_tree(dir.path(), &ScanOptions::default(), Some(&mut cache)).unwrap();
        assert_eq!((cache.hits(), cache.misses(), cache.len()), (0, 10, 10));
        let second = scan_tree(dir.path(), &ScanOptions::default(), Some(&mut cache)).unwrap();
        assert_eq!((cache.hits(), cache.misses()), (10, 10));
        assert_eq!(first, second);

        // Proof that a hit is not rehashed: a poisoned entry is served as is...
        let victim = dir.path().join("lib-a");
        let key = FileKey::from_metadata(&fs::symlink_metadata(&victim).unwrap());
        cache.insert(key, [0xaa; 32]);
        let third = scan_tree(dir.path(), &ScanOptions::default(), Some(&mut cache)).unwrap();
        let served = third.entries.iter().find(|e| e.path == "lib-a").unwrap();
        assert_eq!(served.sha256, Some([0xaa; 32]));
        // ...until the file changes, which changes its key.
        fs::write(&victim, b"new content").unwrap();
        let fourth = scan_tree(dir.path(), &ScanOptions::default(), Some(&mut cache)).unwrap();
        let fresh = fourth.entries.iter().find(|e| e.path == "lib-a").unwrap();
        assert_eq!(fresh.sha256, Some(hash::sha256(b"new content")));
    }

    fn codes(s: &TreeScan) -> Vec<(String, ProblemCode)> {
        let mut v: Vec<_> = s.problems.iter().map(|p| (p.path.clone(), p.code)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn symlink_loops_special_files_and_no_following() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        symlink("loop-b", r.join("loop-a")).unwrap();
        symlink("loop-a", r.join("loop-b")).unwrap();
        symlink("/", r.join("to-root")).unwrap(); // would be a huge walk if followed
        let fifo = std::ffi::CString::new(r.join("fifo").into_os_string().into_vec()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
        let s = scan(r);
        assert_eq!(
            codes(&s),
            [
                ("fifo".to_owned(), ProblemCode::SpecialFile),
                ("loop-a".to_owned(), ProblemCode::SymlinkLoop),
                ("loop-b".to_owned(), ProblemCode::SymlinkLoop),
            ]
        );
        assert_eq!(s.entries.len(), 4);
        assert_eq!(s.entries[0].kind, EntryKind::Other);
        assert_eq!(s.entries[0].mode, 0o640);
        if let Some(script) = run_script(r, true) {
            assert_eq!(
                String::from_utf8(canonical_listing(&s.entries).unwrap()).unwrap(),
                script
            );
        }
    }

    /// Runs `f` on a thread without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (capabilities are
    /// per thread on Linux), so permission checks bite even when tests run as root. Returns None
    /// (after saying why) if the capabilities cannot be dropped.
    fn without_dac_override<T: Send>(f: impl FnOnce() -> T + Send) -> Option<T> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: capget/capset with the v3 header and a two-element data array, as
                // capget(2) specifies; they change only this thread's credentials.
                let ok = unsafe {
                    let mut h = Header {
                        version: 0x2008_0522,
                        pid: 0,
                    };
                    let mut d = [Data::default(); 2];
                    libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) == 0 && {
                        d[0].effective &= !((1 << 1) | (1 << 2));
                        libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) == 0
                    }
                };
                if ok {
                    Some(f())
                } else {
                    eprintln!("SKIPPED: cannot drop DAC capabilities: {}", io::Error::last_os_error());
                    None
                }
            })
            .join()
            .unwrap()
        })
    }

    #[test]
    fn unreadable_files_and_directories_are_listed_and_block_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "ok", b"ok", 0o644);
        write(r, "secret", b"s", 0o000);
        mkdir(r, "closed", 0o755);
        write(r, "closed/inside", b"i", 0o644);
        fs::set_permissions(r.join("closed"), fs::Permissions::from_mode(0o000)).unwrap();
        // One thread: hashing happens inline, on the thread whose capabilities were dropped.
        let s = without_dac_override(|| {
            let opts = ScanOptions {
                threads: 1,
                ..ScanOptions::default()
            };
            scan_tree(r, &opts, None).unwrap()
        });
        fs::set_permissions(r.join("closed"), fs::Permissions::from_mode(0o755)).unwrap();
        // Without DAC override (or as a plain user) permissions must bite: no silent pass below.
        let Some(s) = s else { return };
        assert_eq!(
            codes(&s),
            [
                ("closed".to_owned(), ProblemCode::Unreadable),
                ("secret".to_owned(), ProblemCode::Unreadable)
            ]
        );
        let paths: Vec<&str> = s.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["closed", "ok", "secret"]);
        assert_eq!(s.entries[2].sha256, None);
        assert!(matches!(tree_digest(&s.entries), Err(DigestError::MissingHash { .. })));
        assert!(matches!(
            s.digest(),
            Err(DigestError::Incomplete {
                code: ProblemCode::Unreadable,
                ..
            })
        ));
    }

    fn walker<'o>(opts: &'o ScanOptions<'o>) -> Walker<'o> {
        Walker {
            opts,
            found: Vec::new(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn vanished_changed_and_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let opts = ScanOptions::default();

        // Listed by readdir, gone before lstat: not an entry, a problem.
        let mut w = walker(&opts);
        assert!(w.add(r.join("gone"), b"gone", true).is_none());
        assert!(w.found.is_empty());
        assert_eq!(w.problems[0].code, ProblemCode::Vanished);

        // Examined, then deleted / grown / replaced / unreachable before hashing.
        write(r, "deleted", b"1", 0o644);
        write(r, "grown", b"12", 0o644);
        write(r, "replaced", b"3", 0o644);
        write(r, "plain", b"4", 0o644);
        let mut w = walker(&opts);
        for name in ["deleted", "grown", "replaced", "plain"] {
            w.add(r.join(name), name.as_bytes(), true);
        }
        // A path through a regular file: ENOTDIR, an I/O error of no other kind.
        let mut bogus = w.found[3].entry.clone();
        bogus.path = "plain/x".into();
        w.found.push(Found {
            entry: bogus,
            abs: r.join("plain/x"),
            key: w.found[3].key,
        });
        fs::remove_file(r.join("deleted")).unwrap();
        fs::write(r.join("grown"), b"123456").unwrap();
        fs::remove_file(r.join("replaced")).unwrap();
        symlink("plain", r.join("replaced")).unwrap();
        w.hash(None).unwrap();
        let got: Vec<(&str, ProblemCode)> = w.problems.iter().map(|p| (p.path.as_str(), p.code)).collect();
        assert_eq!(
            got,
            [
                ("deleted", ProblemCode::Vanished),
                ("grown", ProblemCode::Changed),
                ("replaced", ProblemCode::Changed),
                ("plain/x", ProblemCode::IoError),
            ]
        );
        let shas: Vec<bool> = w.found.iter().map(|f| f.entry.sha256.is_some()).collect();
        assert_eq!(shas, [false, false, false, true, false]);
        for code in [
            ProblemCode::Vanished,
            ProblemCode::Changed,
            ProblemCode::IoError,
            ProblemCode::Unreadable,
        ] {
            assert!(code.makes_scan_incomplete(), "{code}");
        }
    }

    #[test]
    fn root_errors() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ScanOptions::default();
        let missing = scan_tree(&dir.path().join("nope"), &opts, None).unwrap_err();
        assert!(matches!(&missing, TreeError::Root { source, .. } if source.kind() == io::ErrorKind::NotFound));
        write(dir.path(), "f", b"", 0o644);
        assert!(matches!(
            scan_tree(&dir.path().join("f"), &opts, None),
            Err(TreeError::NotADirectory { .. })
        ));
        // A symlinked root is followed, like `cd ROOT`.
        symlink(dir.path(), dir.path().join("self")).unwrap();
        let via_link = scan_tree(&dir.path().join("self"), &opts, None).unwrap();
        assert_eq!(via_link.entries.len(), 2);
    }

    #[test]
    fn limits_stop_hostile_trees() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = dir.path().to_path_buf();
        for _ in 0..6 {
            p.push("d");
            fs::create_dir(&p).unwrap();
        }
        let deep = ScanOptions {
            max_depth: 5,
            ..ScanOptions::default()
        };
        let err = scan_tree(dir.path(), &deep, None).unwrap_err();
        assert!(
            matches!(&err, TreeError::TooDeep { path, limit: 5 } if path == "d/d/d/d/d/d"),
            "{err}"
        );
        assert!(scan_tree(dir.path(), &ScanOptions { max_depth: 6, ..deep }, None).is_ok());
        let few = ScanOptions {
            max_entries: 5,
            ..ScanOptions::default()
        };
        assert!(matches!(
            scan_tree(dir.path(), &few, None),
            Err(TreeError::TooManyEntries { limit: 5 })
        ));
        assert!(scan_tree(dir.path(), &ScanOptions { max_entries: 6, ..few }, None).is_ok());
        assert_eq!(
            scan_tree(dir.path(), &few, None).unwrap_err().code(),
            Some(Code::TooManyEntries)
        );
        assert_eq!(
            scan_tree_complete(dir.path(), &deep, None).unwrap_err().code(),
            Some(Code::TooDeep)
        );
    }

    /// The walk keeps its own stack: a tree far deeper than any thread stack could recurse
    /// through is walked (when allowed) or refused (by default) without touching the call stack.
    #[test]
    fn deep_trees_and_directory_cycles_do_not_recurse() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = dir.path().to_path_buf();
        // 2000 levels ("d/" each: 4000 bytes of path, under PATH_MAX with the temp prefix).
        for _ in 0..1_900 {
            p.push("d");
            fs::create_dir(&p).unwrap();
        }
        // A directory symlink cycle at the bottom: listed, never followed.
        symlink(".", p.join("again")).unwrap();
        symlink("..", p.join("up")).unwrap();
        let err = scan_tree(dir.path(), &ScanOptions::default(), None).unwrap_err();
        assert!(
            matches!(
                err,
                TreeError::TooDeep {
                    limit: DEFAULT_MAX_DEPTH,
                    ..
                }
            ),
            "{err}"
        );
        // On a thread with a small stack, to prove nothing recurses per level.
        let root = dir.path().to_path_buf();
        let scan = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || {
                let unlimited = ScanOptions {
                    max_depth: usize::MAX,
                    threads: 1,
                    ..ScanOptions::default()
                };
                scan_tree(&root, &unlimited, None)
            })
            .unwrap()
            .join()
            .unwrap()
            .unwrap();
        assert_eq!(scan.dir_count, 1_900);
        assert_eq!(scan.entries.len(), 1_902);
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
    }

    /// Failures to see the tree are errors with their own codes, never an entry list with holes.
    #[test]
    fn incomplete_scans_are_errors_for_comparisons() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "ok", b"ok", 0o644);
        symlink("nowhere", r.join("dangling")).unwrap();
        let fifo = std::ffi::CString::new(r.join("fifo").into_os_string().into_vec()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
        // Faithfully listed oddities: complete.
        let s = scan_tree_complete(r, &ScanOptions::default(), None).unwrap();
        assert_eq!(s.entries.len(), 3);
        // Unreadable and vanished entries: incomplete, counted, first named.
        let mut scan = scan_tree(r, &ScanOptions::default(), None).unwrap();
        for (path, code) in [("secret", ProblemCode::Unreadable), ("gone", ProblemCode::Vanished)] {
            scan.problems.push(TreeProblem {
                path: path.into(),
                code,
                message: "test".into(),
            });
        }
        let err = scan.require_complete().unwrap_err();
        assert!(
            matches!(&err, TreeError::Incomplete { path, code: ProblemCode::Unreadable, count: 2, .. } if path == "secret"),
            "{err}"
        );
        assert_eq!(err.code(), Some(Code::ScanIncomplete));
        assert!(err.to_string().contains("2 entries could not be examined"), "{err}");
        let missing = scan_tree_complete(&r.join("absent"), &ScanOptions::default(), None).unwrap_err();
        assert_eq!(missing.code(), Some(Code::RootUnreadable));
        assert_eq!(TreeError::Cancelled.code(), None);
    }

    #[test]
    fn cancellation_is_prompt() {
        let dir = tempfile::tempdir().unwrap();
        // 4 GiB of sparse files: seconds of hashing on any machine (so that the scan is still
        // running when the cancel comes), yet nothing written to disk.
        for i in 0..64 {
            fs::File::create(dir.path().join(format!("f{i}")))
                .unwrap()
                .set_len(64 << 20)
                .unwrap();
        }
        for threads in [1, 2] {
            let polls = AtomicU32::new(0);
            let cancel = || polls.fetch_add(1, Ordering::Relaxed) >= 3;
            let opts = ScanOptions {
                threads,
                cancel: &cancel,
                ..ScanOptions::default()
            };
            let start = Instant::now();
            assert!(matches!(scan_tree(dir.path(), &opts, None), Err(TreeError::Cancelled)));
            assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        }
        // Cancelled during the walk (first directory).
        let opts = ScanOptions {
            cancel: &|| true,
            ..ScanOptions::default()
        };
        assert!(matches!(scan_tree(dir.path(), &opts, None), Err(TreeError::Cancelled)));
    }
}
