//! Walking a mounted tree with `lstat`, hashing its regular files in parallel, and reporting
//! what is odd about it per entry.

use super::{EntryKind, ProblemCode, ScanOptions, TreeEntry, TreeError, TreeProblem, TreeScan, escape_name};
use crate::hash::{self, FileKey, HashCache, HashJob};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An entry being collected, with what hashing needs.
struct Found {
    entry: TreeEntry,
    abs: PathBuf,
    key: Option<FileKey>,
}

/// Told of every object just before the walk examines it, so that whatever watches the tree for
/// changes (`watch.rs`) is in place before the object is read: a change after that point is the
/// observer's to see, one before it is the walk's.
pub(crate) trait Observer {
    /// `abs` is about to be examined: the root (followed if a symlink) with `is_root`, else an
    /// entry that readdir did not report as a symlink (never followed).
    fn before(&mut self, abs: &Path, is_root: bool);
}

/// Observes nothing: a plain scan.
struct NoObserver;

impl Observer for NoObserver {
    fn before(&mut self, _: &Path, _: bool) {}
}

/// A symlink the walk resolved (see [`link_problem`]), for observers that must judge later
/// whether that resolution can change unseen.
#[derive(Debug, Clone)]
pub(crate) struct LinkProbe {
    /// Raw relative path of the link.
    pub rel: Vec<u8>,
    /// Its escaped path, as in [`TreeEntry::path`].
    pub path: String,
    /// Its absolute path, as resolved.
    pub abs: PathBuf,
    /// Its raw target.
    pub target: Vec<u8>,
    /// How many problems the scan had found before this link's resolution was judged: where
    /// its problem, if any, stands in [`TreeScan::problems`].
    pub at: usize,
    /// Whether the resolution gave a problem (at index `at`).
    pub found: bool,
}

struct Walker<'o> {
    opts: &'o ScanOptions<'o>,
    found: Vec<Found>,
    problems: Vec<TreeProblem>,
    observer: &'o mut dyn Observer,
    /// Every symlink resolved, when the caller asked for them.
    links: Option<Vec<LinkProbe>>,
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
                // readdir's type is free; a symlink is never followed, so there is nothing to
                // watch through it (its replacement changes its directory, which is watched).
                if !item.file_type().is_ok_and(|t| t.is_symlink()) {
                    self.observer.before(&abs, false);
                }
                // lstat relative to the open directory (statx on its descriptor): the kernel
                // resolves one name, not the whole path from the root, for every entry.
                let meta = item.metadata();
                if let Some(subdir) = self.add(abs, meta, &child_rel, std::str::from_utf8(name.as_bytes()).is_ok()) {
                    stack.push((subdir, child_rel, child_depth));
                }
            }
        }
        Ok(())
    }

    /// Records one entry; returns its absolute path when it is a directory to descend into.
    fn add(&mut self, abs: PathBuf, meta: io::Result<Metadata>, rel: &[u8], name_is_utf8: bool) -> Option<PathBuf> {
        let path = escape_name(rel);
        let meta: Metadata = match meta {
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
                    let at = self.problems.len();
                    let problem = link_problem(&entry.path, &abs);
                    if let Some(links) = &mut self.links {
                        links.push(LinkProbe {
                            rel: rel.to_vec(),
                            path: entry.path.clone(),
                            abs: abs.clone(),
                            target: raw.to_vec(),
                            at,
                            found: problem.is_some(),
                        });
                    }
                    self.problems.extend(problem);
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

/// Resolves the symlink at `abs` as this process would (absolute targets against the real root,
/// which is what the server sees when it opens the path): a problem when its target is missing
/// (dangling) or its resolution loops.
pub(crate) fn link_problem(path: &str, abs: &Path) -> Option<TreeProblem> {
    let e = fs::metadata(abs).err()?;
    let (code, message) = match e.raw_os_error() {
        Some(libc::ELOOP) => (ProblemCode::SymlinkLoop, format!("symlink does not resolve: {e}")),
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => (
            ProblemCode::DanglingSymlink,
            format!("symlink target does not exist: {e}"),
        ),
        // Permission problems on the way say nothing about the link itself.
        _ => return None,
    };
    Some(TreeProblem {
        path: path.to_owned(),
        code,
        message,
    })
}

/// Scans the tree below `root` (the root itself is followed if it is a symlink; nothing below is).
///
/// `cache`, when given, supplies digests of files whose [`FileKey`] is unchanged and receives the
/// new ones; it is used only on the calling thread. Problems with individual entries are reported
/// in [`TreeScan::problems`]; only an unusable root, a limit or cancellation is an error.
pub fn scan_tree(root: &Path, opts: &ScanOptions<'_>, cache: Option<&mut HashCache>) -> Result<TreeScan, TreeError> {
    scan_tree_observed(root, opts, cache, &mut NoObserver, false).map(|(scan, _)| scan)
}

/// [`scan_tree`], telling `observer` of every object before it is examined, and returning every
/// symlink it resolved when `links` asks for them.
pub(crate) fn scan_tree_observed(
    root: &Path,
    opts: &ScanOptions<'_>,
    cache: Option<&mut HashCache>,
    observer: &mut dyn Observer,
    links: bool,
) -> Result<(TreeScan, Vec<LinkProbe>), TreeError> {
    observer.before(root, true);
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
        observer,
        links: links.then(Vec::new),
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
    Ok((scan, walker.links.unwrap_or_default()))
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
    use crate::codes::Code;
    use crate::tree::{DEFAULT_MAX_DEPTH, DigestError, canonical_listing, tree_digest, tree_digest_string};

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
            // A zero-sized observer: leaking it allocates nothing.
            observer: Box::leak(Box::new(NoObserver)),
            links: None,
        }
    }

    #[test]
    fn vanished_changed_and_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let opts = ScanOptions::default();

        // Listed by readdir, gone before lstat: not an entry, a problem.
        let mut w = walker(&opts);
        assert!(
            w.add(r.join("gone"), fs::symlink_metadata(r.join("gone")), b"gone", true)
                .is_none()
        );
        assert!(w.found.is_empty());
        assert_eq!(w.problems[0].code, ProblemCode::Vanished);

        // Examined, then deleted / grown / replaced / unreachable before hashing.
        write(r, "deleted", b"1", 0o644);
        write(r, "grown", b"12", 0o644);
        write(r, "replaced", b"3", 0o644);
        write(r, "plain", b"4", 0o644);
        let mut w = walker(&opts);
        for name in ["deleted", "grown", "replaced", "plain"] {
            w.add(r.join(name), fs::symlink_metadata(r.join(name)), name.as_bytes(), true);
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
