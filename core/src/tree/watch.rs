//! Writable trees kept between scans, revalidated by inotify(7) instead of walked again.
//!
//! A writable image directory can change at any moment, through any path to its files: this
//! mount, another mount of the same files, a hard link elsewhere. Walking it again for every
//! query costs a `statx` per entry and a `getdents` per directory — at a hundred images several
//! times what `pg_available_extensions` costs, most of it system-call overhead. [`WatchedTrees`]
//! walks a tree once with an inotify watch on its root, on every directory and on every regular
//! file, each added *before* the walk examines the object, and keeps what the walk found. A
//! later scan reads the pending events (one `read`, `EAGAIN` when there are none): no event for
//! a tree — nothing written, truncated, created, deleted, renamed, linked or given another mode,
//! owner or time in it since its watches were in place — and the kept scan is the tree as it is.
//! Any event, a queue overflow, a watch the kernel dropped: the tree is walked again.
//!
//! What this rests on (inotify(7), `include/linux/fsnotify.h`): the system call that changes an
//! inode queues the event before it returns, so a change completed before a scan is in the
//! queue the scan reads; a watch on an inode sees changes made through any path to it. A link
//! count change (a hard link made elsewhere, through which the file could then be written) is
//! reported only to watches on the inode itself — hence a watch per file, not only per
//! directory. What inotify does not see, and how each is met:
//! - changes made by another machine (NFS, CIFS, FUSE, 9p, …): trees are kept only on local
//!   filesystems that report every change ([`LOCAL_FILESYSTEMS`]), others are walked each time;
//! - mounts: a mount on the root changes the root's identity, checked at every scan; a mount
//!   below it is looked for in the caller's mount table at every scan, and such a tree is walked;
//! - where symlinks lead: a link whose resolution leaves the watched tree (an absolute target,
//!   `..` above the root, a path through another link) is resolved again at every scan;
//! - stores through a shared writable `mmap(2)`: inotify reports them when the last reference to
//!   the file goes (`IN_CLOSE_WRITE` at `munmap`), not while the mapping lives.
//!
//! Watches count against the user's `fs.inotify.max_user_watches`, shared by every backend: one
//! process uses at most [`WatchedTrees::limit`] of them; a tree that does not fit is walked.

use super::walk::{LinkProbe, Observer, link_problem, scan_tree_observed};
use super::{EntryKind, ScanOptions, ScanSummary, TreeError, unescape_name};
use crate::hash::{FileKey, HashCache};
use crate::mounts::MountInfo;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Every change to an entry, or to the entries of a directory.
const MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// Filesystem magic numbers (`statfs(2)`, `include/uapi/linux/magic.h`) of local filesystems,
/// where every change goes through this kernel's VFS and so reaches inotify: ext2/3/4, xfs,
/// btrfs, tmpfs, ramfs, overlayfs, f2fs, zfs.
pub const LOCAL_FILESYSTEMS: [i64; 8] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0x8584_58F6,
    0x794C_7630,
    0xF2F5_2010,
    0x2FC1_2FC1,
];

/// Most watches one process adds, whatever `fs.inotify.max_user_watches` allows.
pub const MAX_WATCHES: usize = 65_536;

/// Longest run of walks after one that could not be kept during which a tree is walked without
/// watches (a tree that cannot be kept — unreadable, on a network filesystem, too large — must
/// not pay for watches at every query).
const MAX_BACKOFF: u32 = 64;

/// What a walk leaves for later scans of an unchanged tree.
struct KeptScan {
    /// The root's identity (followed), compared at every scan: a mount on it changes it.
    root: FileKey,
    /// The root's canonical path, to find mounts below it in the mount table.
    canonical: PathBuf,
    /// The summary, without the problems of volatile links.
    summary: ScanSummary,
    /// Links resolved again at every scan: (index in `summary.problems` their problem goes
    /// before, escaped path, absolute path), in walk order.
    volatile: Vec<(usize, String, PathBuf)>,
}

impl KeptScan {
    /// The summary with every volatile link resolved now, its problem where a walk would put it.
    fn current(&self) -> ScanSummary {
        let mut out = self.summary.clone();
        if self.volatile.is_empty() {
            return out;
        }
        let fixed = std::mem::take(&mut out.problems);
        let mut links = self.volatile.iter().peekable();
        for (i, p) in fixed.into_iter().enumerate() {
            while let Some((_, path, abs)) = links.next_if(|(at, _, _)| *at == i) {
                out.problems.extend(link_problem(path, abs));
            }
            out.problems.push(p);
        }
        for (_, path, abs) in links {
            out.problems.extend(link_problem(path, abs));
        }
        out
    }
}

/// One tree's state.
#[derive(Default)]
struct Tree {
    id: u64,
    /// The watches its last walk added (each may serve other trees too).
    wds: Vec<i32>,
    /// What the last walk found, if it could be kept.
    kept: Option<KeptScan>,
    /// An event arrived for one of its watches since its last walk.
    dirty: bool,
    /// Walks not kept in a row, and how many walks are still to go without watches.
    failures: u32,
    unwatched_walks: u32,
}

/// Scans of writable trees, kept per process and revalidated by inotify (see the module docs).
/// Not `Sync`: a backend keeps one in a `thread_local!`.
pub struct WatchedTrees {
    fd: OwnedFd,
    trees: HashMap<PathBuf, Tree>,
    /// Which trees (by id) each watch vouches for.
    owners: HashMap<i32, Vec<u64>>,
    next_id: u64,
    limit: usize,
    buf: Vec<u8>,
}

impl WatchedTrees {
    /// A new inotify instance (`EMFILE` when the user has `fs.inotify.max_user_instances`).
    pub fn new() -> io::Result<WatchedTrees> {
        // SAFETY: plain syscall; the descriptor it returns is owned from here on.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor this process just opened and nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let system = fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(8192);
        Ok(WatchedTrees {
            fd,
            trees: HashMap::new(),
            owners: HashMap::new(),
            next_id: 0,
            // A sixteenth of the user's watches: other backends, and whatever else runs as
            // the same user, keep theirs.
            limit: (system / 16).min(MAX_WATCHES),
            buf: vec![0; 64 << 10],
        })
    }

    /// Sets the most watches this process adds.
    pub fn with_limit(mut self, limit: usize) -> WatchedTrees {
        self.limit = limit;
        self
    }

    /// The most watches this process adds: a sixteenth of `fs.inotify.max_user_watches`, at
    /// most [`MAX_WATCHES`].
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Watches in place.
    pub fn watches(&self) -> usize {
        self.owners.len()
    }

    /// Trees whose last walk is kept.
    pub fn kept(&self) -> usize {
        self.trees.values().filter(|t| t.kept.is_some()).count()
    }

    /// Reads the events queued since the last call: what [`WatchedTrees::scan`] knows of changes.
    /// Call it once before a batch of scans (a query): the batch then answers for the trees as
    /// they were at least as late as this call.
    pub fn refresh(&mut self) {
        self.drain();
    }

    /// The tree at `root` as [`super::scan_tree`] would see it (its summary): the kept scan when
    /// no event read by the last [`WatchedTrees::refresh`] concerns it (`true`), else a walk.
    /// `mounts` is this process's mount table (`None`: unknown, and nothing is reused); `cache`
    /// supplies and receives file digests as for `scan_tree`.
    pub fn scan(
        &mut self,
        root: &Path,
        opts: &ScanOptions<'_>,
        cache: Option<&mut HashCache>,
        mounts: Option<&[MountInfo]>,
    ) -> Result<(ScanSummary, bool), TreeError> {
        if let Some(t) = self.trees.get(root)
            && !t.dirty
            && let Some(k) = &t.kept
            && let Some(mounts) = mounts
            && root_key(root) == Some(k.root)
            && !mounted_below(mounts, &k.canonical)
        {
            return Ok((k.current(), true));
        }
        self.walk(root, opts, cache, mounts).map(|s| (s, false))
    }

    /// Forgets every tree `keep` refuses, and their watches.
    pub fn retain(&mut self, mut keep: impl FnMut(&Path) -> bool) {
        if self.trees.keys().all(|r| keep(r)) {
            return;
        }
        let gone: Vec<PathBuf> = self.trees.keys().filter(|r| !keep(r)).cloned().collect();
        for root in gone {
            if let Some(t) = self.trees.remove(&root) {
                self.release(t.id, &t.wds, &HashSet::new(), false);
            }
        }
    }

    /// Forgets every tree and removes every watch.
    pub fn clear(&mut self) {
        self.retain(|_| false);
    }

    /// Walks `root`, watching it when it may be kept, and keeps the walk when nothing it relies
    /// on failed.
    fn walk(
        &mut self,
        root: &Path,
        opts: &ScanOptions<'_>,
        cache: Option<&mut HashCache>,
        mounts: Option<&[MountInfo]>,
    ) -> Result<ScanSummary, TreeError> {
        let next = self.next_id + 1;
        let t = self.trees.entry(root.to_path_buf()).or_insert_with(|| Tree {
            id: next,
            ..Tree::default()
        });
        let (id, old) = (t.id, std::mem::take(&mut t.wds));
        t.kept = None;
        t.dirty = false;
        let watch = t.unwatched_walks == 0 && mounts.is_some();
        t.unwatched_walks = t.unwatched_walks.saturating_sub(1);
        if id == next {
            self.next_id = next;
        }
        let mut watcher = Watcher {
            fd: self.fd.as_raw_fd(),
            wds: Vec::new(),
            // The tree's own watches are re-added under the same numbers.
            budget: if watch {
                self.limit.saturating_sub(self.owners.len().saturating_sub(old.len()))
            } else {
                0
            },
            failed: !watch,
        };
        let result = scan_tree_observed(root, opts, cache, &mut watcher, true);
        let new: HashSet<i32> = watcher.wds.iter().copied().collect();
        self.release(id, &old, &new, false);
        let (scan, links) = match result {
            Ok(r) => r,
            Err(e) => {
                self.release(id, &watcher.wds, &HashSet::new(), true);
                return Err(e);
            }
        };
        let summary = ScanSummary::of(&scan);
        let kept = if watcher.failed || scan.problems.iter().any(|p| p.code.makes_scan_incomplete()) {
            None
        } else {
            keep(root, &scan, &links, &summary, mounts)
        };
        match self.trees.get_mut(root) {
            Some(t) if kept.is_some() => {
                t.failures = 0;
                t.wds = new.iter().copied().collect();
                for &wd in &t.wds {
                    let owners = self.owners.entry(wd).or_default();
                    if !owners.contains(&id) {
                        owners.push(id);
                    }
                }
                t.kept = kept;
                return Ok(summary);
            }
            // Not kept: the next walks go without watches for a while (backoff).
            Some(t) if watch => {
                t.failures = t.failures.saturating_add(1);
                t.unwatched_walks = 1u32.checked_shl(t.failures).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF);
            }
            _ => {}
        }
        let wds = watcher.wds;
        self.release(id, &wds, &HashSet::new(), true);
        Ok(summary)
    }

    /// Removes tree `id` from the owners of `wds` not in `keep`, and removes the watches no
    /// tree is left to own. `fresh`: the watches were added by a walk that registered none of
    /// them (a watch nobody owns is then this walk's own); otherwise a watch nobody owns is one
    /// the kernel dropped already.
    fn release(&mut self, id: u64, wds: &[i32], keep: &HashSet<i32>, fresh: bool) {
        for wd in wds {
            if keep.contains(wd) {
                continue;
            }
            let unowned = match self.owners.get_mut(wd) {
                Some(owners) => {
                    owners.retain(|&o| o != id);
                    owners.is_empty()
                }
                None => fresh,
            };
            if unowned {
                self.owners.remove(wd);
                // SAFETY: plain syscall on our own descriptor. Watch numbers are not reused
                // (the kernel allocates them cyclically), so this removes no other watch.
                unsafe {
                    libc::inotify_rm_watch(self.fd.as_raw_fd(), *wd);
                }
            }
        }
    }

    /// Reads every pending event and marks the trees they concern; on a queue overflow or a
    /// read error, every tree.
    fn drain(&mut self) {
        loop {
            // SAFETY: reads into our own buffer, at most its length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return,
                    io::ErrorKind::Interrupted => continue,
                    _ => {
                        self.all_dirty();
                        return;
                    }
                }
            }
            let n = n as usize;
            if n == 0 {
                return;
            }
            let mut off = 0;
            let mut gone = Vec::new();
            let mut touched = HashSet::new();
            let mut overflow = false;
            // struct inotify_event: wd, mask, cookie, len (each 4 bytes), then `len` bytes of name.
            while let Some(head) = self.buf.get(off..(off + 16).min(n)).filter(|h| h.len() == 16) {
                let wd = i32::from_ne_bytes([head[0], head[1], head[2], head[3]]);
                let mask = u32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
                let len = u32::from_ne_bytes([head[12], head[13], head[14], head[15]]) as usize;
                off += 16 + len;
                if mask & libc::IN_Q_OVERFLOW != 0 {
                    overflow = true;
                    continue;
                }
                if let Some(owners) = self.owners.get(&wd) {
                    touched.extend(owners.iter().copied());
                }
                if mask & libc::IN_IGNORED != 0 {
                    // The kernel dropped the watch (its inode is gone, or its filesystem).
                    gone.push(wd);
                }
            }
            for t in self.trees.values_mut().filter(|t| touched.contains(&t.id)) {
                t.dirty = true;
            }
            for wd in gone {
                self.owners.remove(&wd);
            }
            if overflow {
                self.all_dirty();
            }
        }
    }

    fn all_dirty(&mut self) {
        self.trees.values_mut().for_each(|t| t.dirty = true);
    }
}

/// The root's identity, following a symlinked root as the walk does.
fn root_key(root: &Path) -> Option<FileKey> {
    fs::metadata(root).ok().map(|m| FileKey::from_metadata(&m))
}

/// Whether something is mounted strictly below `canonical` (compared as bytes: both are
/// canonical, and this runs for every tree at every query).
fn mounted_below(mounts: &[MountInfo], canonical: &Path) -> bool {
    let root = canonical.as_os_str().as_bytes();
    mounts.iter().any(|m| {
        let p = m.mount_point.as_os_str().as_bytes();
        p.len() > root.len() && p.starts_with(root) && (p[root.len()] == b'/' || root == b"/")
    })
}

/// The filesystem type of `path` (`statfs(2)`'s `f_type`).
fn fs_type(path: &Path) -> Option<i64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is NUL-terminated and outlives the call; `st` is read only on success.
    let st = unsafe {
        if libc::statfs(c.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        st.assume_init()
    };
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64, but not everywhere
    Some(st.f_type as i64)
}

/// What a complete, fully watched walk leaves to be kept; `None` when it may not be kept: the
/// root is on a filesystem whose changes inotify may miss, something is mounted below it, or
/// its identity cannot be read.
fn keep(
    root: &Path,
    scan: &super::TreeScan,
    links: &[LinkProbe],
    summary: &ScanSummary,
    mounts: Option<&[MountInfo]>,
) -> Option<KeptScan> {
    if !LOCAL_FILESYSTEMS.contains(&fs_type(root)?) {
        return None;
    }
    let canonical = fs::canonicalize(root).ok()?;
    if mounted_below(mounts?, &canonical) {
        return None;
    }
    let root_key = root_key(root)?;
    let kinds: HashMap<Vec<u8>, EntryKind> = scan
        .entries
        .iter()
        .filter_map(|e| Some((unescape_name(&e.path)?, e.kind)))
        .collect();
    let mut summary = summary.clone();
    let mut volatile = Vec::new();
    // Problems are in walk order; a link's problem, if any, is at `at` among them. Taken out,
    // each volatile link's problem goes before what followed it.
    let mut removed = 0;
    for l in links.iter().filter(|l| leaves_tree(l, &kinds)) {
        let pos = l.at - removed;
        if l.found {
            // Always in range (the walk counted them); should it not be, keep nothing.
            if pos >= summary.problems.len() {
                return None;
            }
            summary.problems.remove(pos);
            removed += 1;
        }
        volatile.push((pos, l.path.clone(), l.abs.clone()));
    }
    Some(KeptScan {
        root: root_key,
        canonical,
        summary,
        volatile,
    })
}

/// Whether resolving link `l` may reach something no watch of the tree covers, so that its
/// resolution may change unseen: an absolute or empty target, `..` above the root, or a path
/// through another symlink. Otherwise every name the kernel looks up on the way is an entry of a
/// watched directory of the tree (or missing from one), and any change to the outcome changes
/// that directory. `kinds` holds every entry of the (complete) scan by raw path.
fn leaves_tree(l: &LinkProbe, kinds: &HashMap<Vec<u8>, EntryKind>) -> bool {
    if l.target.first().is_none_or(|&b| b == b'/') {
        return true;
    }
    let mut path: Vec<u8> = match l.rel.iter().rposition(|&b| b == b'/') {
        Some(i) => l.rel[..i].to_vec(),
        None => Vec::new(),
    };
    for c in l.target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => match path.iter().rposition(|&b| b == b'/') {
                Some(i) => path.truncate(i),
                None if path.is_empty() => return true,
                None => path.clear(),
            },
            name => {
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(name);
                match kinds.get(&path) {
                    Some(EntryKind::Dir) => {}
                    Some(EntryKind::Symlink) => return true,
                    // Missing, or not a directory: the lookup ends here, at a watched name.
                    None | Some(EntryKind::File | EntryKind::Other) => return false,
                }
            }
        }
    }
    false
}

/// Adds a watch on every object the walk is about to examine; any failure makes the walk one
/// that cannot be kept.
struct Watcher {
    fd: RawFd,
    wds: Vec<i32>,
    budget: usize,
    failed: bool,
}

impl Observer for Watcher {
    fn before(&mut self, abs: &Path, is_root: bool) {
        if self.failed {
            return;
        }
        if self.wds.len() >= self.budget {
            self.failed = true;
            return;
        }
        let Ok(c) = CString::new(abs.as_os_str().as_bytes()) else {
            self.failed = true;
            return;
        };
        // The root is followed (as the walk follows it), nothing below it is.
        let mask = MASK
            | if is_root {
                libc::IN_ONLYDIR
            } else {
                libc::IN_DONT_FOLLOW
            };
        // SAFETY: `c` is NUL-terminated and outlives the call.
        let wd = unsafe { libc::inotify_add_watch(self.fd, c.as_ptr(), mask) };
        if wd < 0 {
            self.failed = true;
        } else {
            self.wds.push(wd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mounts::parse_mountinfo;
    use crate::tree::{ProblemCode, scan_tree};
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A tree with nested directories, files, in-tree links (one through `..`, one dangling),
    /// and a link out of the tree.
    fn tree(outside: &Path) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["lib", "lib/plugins", "share", "share/extension"] {
            fs::create_dir(r.join(d)).unwrap();
        }
        fs::write(r.join("lib/a.so"), b"library a").unwrap();
        fs::write(r.join("share/extension/a.control"), b"default_version = '1'\n").unwrap();
        fs::write(r.join("share/extension/a--1.sql"), b"-- a 1\n").unwrap();
        symlink("a.so", r.join("lib/a.so.1")).unwrap();
        symlink("../a.so", r.join("lib/plugins/a.so")).unwrap();
        symlink("missing.so", r.join("lib/dangling.so")).unwrap();
        symlink(outside, r.join("share/outside")).unwrap();
        dir
    }

    fn mounts() -> Vec<MountInfo> {
        parse_mountinfo("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
    }

    /// Scans through `w` and checks the answer against a fresh walk: returns whether it was kept.
    fn check(w: &mut WatchedTrees, root: &Path) -> bool {
        let opts = ScanOptions::default();
        w.refresh();
        let (got, kept) = w.scan(root, &opts, None, Some(&mounts())).unwrap();
        let fresh = ScanSummary::of(&scan_tree(root, &opts, None).unwrap());
        assert_eq!(got, fresh, "kept={kept}");
        kept
    }

    fn watched() -> Option<WatchedTrees> {
        match WatchedTrees::new() {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("SKIPPED: no inotify instance: {e}");
                None
            }
        }
    }

    /// Runs `change` on a kept tree: the next scan must walk (and agree with a fresh walk,
    /// which `check` asserts), the one after keep again.
    fn after(w: &mut WatchedTrees, root: &Path, what: &str, change: impl FnOnce()) {
        assert!(check(w, root), "{what}: kept before the change");
        change();
        assert!(!check(w, root), "{what}: walked after the change");
        assert!(check(w, root), "{what}: kept again");
    }

    #[test]
    fn kept_until_anything_changes() {
        let Some(mut w) = watched() else { return };
        let out = tempfile::tempdir().unwrap();
        let dir = tree(&out.path().join("target"));
        let r = dir.path();
        assert!(!check(&mut w, r), "the first scan walks");
        // 4 directories and the root, 3 files: the links are not watched.
        assert_eq!(w.watches(), 8);
        let digest = |w: &mut WatchedTrees| {
            w.refresh();
            w.scan(r, &ScanOptions::default(), None, Some(&mounts()))
                .unwrap()
                .0
                .digest
        };
        let before = digest(&mut w);
        let control = r.join("share/extension/a.control");
        after(&mut w, r, "a byte changed in place, size and mtime restored", || {
            let mtime = fs::metadata(&control).unwrap().modified().unwrap();
            let mut bytes = fs::read(&control).unwrap();
            bytes[0] ^= 1;
            fs::write(&control, &bytes).unwrap();
            fs::File::options()
                .write(true)
                .open(&control)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        });
        assert_ne!(digest(&mut w), before, "the digest follows the byte");
        after(&mut w, r, "appended", || {
            use std::io::Write;
            fs::File::options()
                .append(true)
                .open(r.join("lib/a.so"))
                .unwrap()
                .write_all(b"!")
                .unwrap();
        });
        after(&mut w, r, "truncated", || {
            fs::File::options()
                .write(true)
                .open(r.join("lib/a.so"))
                .unwrap()
                .set_len(3)
                .unwrap();
        });
        after(&mut w, r, "chmod", || {
            fs::set_permissions(r.join("share/extension/a--1.sql"), fs::Permissions::from_mode(0o600)).unwrap();
        });
        after(&mut w, r, "a file created deep down", || {
            fs::write(r.join("lib/plugins/b.so"), b"b").unwrap()
        });
        after(&mut w, r, "a file removed", || {
            fs::remove_file(r.join("lib/plugins/b.so")).unwrap()
        });
        after(&mut w, r, "a file renamed", || {
            fs::rename(r.join("share/extension/a--1.sql"), r.join("share/extension/a--1.0.sql")).unwrap()
        });
        after(&mut w, r, "a directory replaced by another", || {
            fs::create_dir(r.join("new")).unwrap();
            fs::write(r.join("new/x"), b"x").unwrap();
            fs::rename(r.join("new"), r.join("lib/plugins")).unwrap_err();
            fs::remove_file(r.join("lib/plugins/a.so")).unwrap();
            fs::rename(r.join("new"), r.join("lib/plugins")).unwrap();
        });
        after(&mut w, r, "the dangling link's target created", || {
            fs::write(r.join("lib/missing.so"), b"m").unwrap()
        });
        after(&mut w, r, "a link retargeted (replaced)", || {
            symlink("a.control", r.join("share/extension/tmp")).unwrap();
            fs::rename(r.join("share/extension/tmp"), r.join("lib/a.so.1")).unwrap();
        });
        after(&mut w, r, "the root's mode", || {
            fs::set_permissions(r, fs::Permissions::from_mode(0o750)).unwrap();
        });
    }

    #[test]
    fn writes_through_other_names_are_seen() {
        let Some(mut w) = watched() else { return };
        let out = tempfile::tempdir().unwrap();
        let dir = tree(&out.path().join("target"));
        let r = dir.path();
        check(&mut w, r);
        // A hard link made outside the tree (on the same filesystem): reported only to the
        // file's own watch, as a link count change.
        let alias = r
            .parent()
            .unwrap()
            .join(format!("{}-alias", r.file_name().unwrap().to_string_lossy()));
        after(&mut w, r, "a hard link made elsewhere", || {
            fs::hard_link(r.join("lib/a.so"), &alias).unwrap()
        });
        after(&mut w, r, "written through the hard link", || {
            fs::write(&alias, b"tampered").unwrap()
        });
        after(&mut w, r, "stored through a shared mapping, then unmapped", || {
            let f = fs::File::options().read(true).write(true).open(&alias).unwrap();
            // SAFETY: a shared mapping of a file of ours, 8 bytes long, written in bounds and
            // unmapped before the file is closed.
            unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    8,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                *p.cast::<u8>() = b'T';
                libc::munmap(p, 8);
            }
        });
        fs::remove_file(&alias).unwrap();
        // Two trees sharing a file through a hard link: a change through one is a change of both.
        let other = tempfile::tempdir_in(r.parent().unwrap()).unwrap();
        fs::hard_link(r.join("lib/a.so"), other.path().join("shared.so")).unwrap();
        check(&mut w, r);
        check(&mut w, other.path());
        assert!(check(&mut w, r) && check(&mut w, other.path()));
        fs::write(other.path().join("shared.so"), b"changed through the other tree").unwrap();
        assert!(!check(&mut w, r), "the first tree is walked");
        assert!(!check(&mut w, other.path()), "and the second");
    }

    #[test]
    fn links_out_of_the_tree_are_resolved_at_every_scan() {
        let Some(mut w) = watched() else { return };
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("target");
        let dir = tree(&target);
        let r = dir.path();
        symlink("../../../nowhere", r.join("lib/plugins/up")).unwrap();
        check(&mut w, r);
        let dangling = |w: &mut WatchedTrees| {
            w.refresh();
            let (s, kept) = w.scan(r, &ScanOptions::default(), None, Some(&mounts())).unwrap();
            assert!(kept);
            s.problems
                .iter()
                .filter(|p| p.code == ProblemCode::DanglingSymlink)
                .map(|p| p.path.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(dangling(&mut w), ["lib/dangling.so", "lib/plugins/up", "share/outside"]);
        // The target outside appears: no event in the tree, yet the kept scan says so (and in
        // the order a walk would, which `check` compares).
        fs::write(&target, b"now here").unwrap();
        assert!(check(&mut w, r));
        assert_eq!(dangling(&mut w), ["lib/dangling.so", "lib/plugins/up"]);
        fs::remove_file(&target).unwrap();
        assert!(check(&mut w, r));
    }

    #[test]
    fn what_inotify_cannot_vouch_for_is_walked() {
        let Some(w) = watched() else { return };
        let out = tempfile::tempdir().unwrap();
        let dir = tree(&out.path().join("target"));
        let r = dir.path();
        // Too few watches allowed: walked every time, and no watch is left behind.
        let mut few = w.with_limit(3);
        for _ in 0..3 {
            assert!(!check(&mut few, r));
        }
        assert_eq!(few.watches(), 0);
        let Some(mut w) = watched() else { return };
        // A mount below the root (in the mount table the caller passes): walked while it is there.
        let canonical = fs::canonicalize(r).unwrap();
        let line = format!("23 22 0:50 / {}/lib rw - tmpfs tmpfs rw\n", canonical.display());
        let with_sub: Vec<MountInfo> = mounts().into_iter().chain(parse_mountinfo(&line)).collect();
        let opts = ScanOptions::default();
        assert!(!w.scan(r, &opts, None, Some(&with_sub)).unwrap().1);
        assert!(!w.scan(r, &opts, None, Some(&with_sub)).unwrap().1);
        assert!(
            !w.scan(r, &opts, None, None).unwrap().1,
            "no mount table: nothing reused"
        );
        // Once it is gone the tree is kept again (after the backoff's unwatched walks).
        let kept_after = (0..8)
            .map(|_| w.scan(r, &opts, None, Some(&mounts())).unwrap().1)
            .position(|k| k);
        assert!(kept_after.is_some(), "kept again once nothing is mounted below");
        // An unreadable file makes the scan incomplete: not kept.
        if unsafe { libc::geteuid() } != 0 {
            fs::set_permissions(r.join("lib/a.so"), fs::Permissions::from_mode(0o000)).unwrap();
            assert!(!check(&mut w, r));
        }
        // Forgetting trees removes their watches.
        assert!(w.watches() > 0);
        w.retain(|root| root != r);
        assert_eq!((w.watches(), w.kept()), (0, 0));
        check(&mut w, r);
        w.clear();
        assert_eq!(w.watches(), 0);
    }

    #[test]
    fn the_root_replaced_or_gone() {
        let Some(mut w) = watched() else { return };
        let out = tempfile::tempdir().unwrap();
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("img");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("f"), b"1").unwrap();
        check(&mut w, &root);
        assert!(check(&mut w, &root));
        // Another directory renamed into the root's place.
        let other = base.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("g"), b"2").unwrap();
        fs::rename(&root, out.path().join("old")).unwrap();
        fs::rename(&other, &root).unwrap();
        assert!(!check(&mut w, &root));
        assert!(check(&mut w, &root));
        // Gone: an error, as for a walk.
        fs::remove_dir_all(&root).unwrap();
        assert!(matches!(
            w.scan(&root, &ScanOptions::default(), None, Some(&mounts())),
            Err(TreeError::Root { .. })
        ));
    }

    #[test]
    fn mounts_below_the_root() {
        let table = |p: &str| parse_mountinfo(&format!("23 22 0:50 / {p} rw - tmpfs tmpfs rw\n"));
        let root = Path::new("/ext/img");
        assert!(mounted_below(&table("/ext/img/lib"), root));
        assert!(mounted_below(&table("/ext/img/a/b"), root));
        assert!(!mounted_below(&table("/ext/img"), root), "the root's own mount");
        assert!(!mounted_below(&table("/ext/img2"), root));
        assert!(!mounted_below(&table("/ext"), root));
        assert!(mounted_below(&table("/proc"), Path::new("/")));
    }

    #[test]
    fn link_resolution_stays_in_the_tree_or_not() {
        let kinds: HashMap<Vec<u8>, EntryKind> = [
            ("lib", EntryKind::Dir),
            ("lib/a.so", EntryKind::File),
            ("lib/sub", EntryKind::Dir),
            ("lib/link", EntryKind::Symlink),
        ]
        .into_iter()
        .map(|(p, k)| (p.as_bytes().to_vec(), k))
        .collect();
        let probe = |rel: &str, target: &str| LinkProbe {
            rel: rel.as_bytes().to_vec(),
            path: rel.into(),
            abs: PathBuf::from(rel),
            target: target.as_bytes().to_vec(),
            at: 0,
            found: false,
        };
        for (rel, target, leaves) in [
            ("lib/x", "a.so", false),
            ("lib/x", "./a.so", false),
            ("lib/sub/x", "../a.so", false),
            ("lib/x", "missing/../../etc", false),
            ("lib/x", "a.so/..", false),
            ("lib/x", "sub/../a.so", false),
            ("lib/x", "../lib/a.so", false),
            ("x", ".", false),
            ("lib/x", "/etc/passwd", true),
            ("lib/x", "", true),
            ("lib/x", "../..", true),
            ("x", "..", true),
            ("lib/x", "link", true),
            ("lib/x", "link/y", true),
        ] {
            assert_eq!(leaves_tree(&probe(rel, target), &kinds), leaves, "{rel} -> {target}");
        }
    }
}
