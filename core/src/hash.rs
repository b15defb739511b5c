//! SHA-256 of files: streaming, cached by file identity, and parallel across files.
//!
//! Hashing is pgext's hot path: it runs inside a PostgreSQL backend over whole extension images
//! (hundreds of MB). A single file cannot be hashed in parallel, so throughput comes from three
//! things: a fast implementation (`aws_lc_rs::digest`, assembly with SHA extensions or AVX2),
//! one large reused read buffer per thread, and hashing several files at once, largest first.
//!
//! Threads and PostgreSQL: only the backend's main thread may touch server state. Worker threads
//! here do pure file I/O and hashing; the calling thread waits for results and polls the caller's
//! `cancel` callback (which reads the interrupt flag) between short waits. The [`HashCache`] is
//! owned by the caller and never seen by workers: look up before dispatch, insert after.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use aws_lc_rs::digest;

use crate::fsinfo;

/// A SHA-256 digest.
pub type Sha256 = [u8; 32];

/// Size of the per-thread read buffer. Measured on the 2-core build machine (SHA extensions, a
/// page-cached 200 MB file, sizes interleaved, best of 8): 32 KiB to 1 MiB all gave 1.16–1.22
/// GB/s, within ±3% of each other. 256 KiB: 4× fewer syscalls than 64 KiB, still L2-resident,
/// and a quarter of the memory of 1 MiB per thread. posix_fadvise(SEQUENTIAL) cannot matter for
/// cached files; it doubles read-ahead for cold ones.
///
/// Files are read, never mapped: a file truncated under a mapping raises SIGBUS, which would
/// take the whole server through crash recovery. The copy costs ~10% (in-memory hashing runs at
/// ~1.35 GB/s), the same copy `openssl dgst` pays.
pub const READ_BUFFER_SIZE: usize = 256 * 1024;

/// How long the calling thread waits on workers before polling `cancel` again. Short enough
/// that a query cancel or `statement_timeout` is honoured promptly.
pub const CANCEL_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Upper bound on worker threads, whatever the caller asks for: more threads than cores only
/// add memory (one read buffer each) inside a server process.
pub const MAX_THREADS: usize = 64;

/// Returned when the caller's `cancel` callback asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("hashing was cancelled")]
pub struct Cancelled;

/// Lowercase hexadecimal form of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses exactly 64 hexadecimal digits (either case) into a digest; `None` otherwise.
pub fn parse_sha256_hex(text: &str) -> Option<Sha256> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// The `sha256:<hex>` form used by OCI digests and by pgext's tree digest.
pub fn to_prefixed_hex(digest: &Sha256) -> String {
    format!("sha256:{}", to_hex(digest))
}

/// Parses the `sha256:<64 hex digits>` form; `None` for any other algorithm or shape.
pub fn parse_prefixed_sha256(text: &str) -> Option<Sha256> {
    parse_sha256_hex(text.strip_prefix("sha256:")?)
}

/// SHA-256 of an in-memory byte string.
pub fn sha256(data: &[u8]) -> Sha256 {
    finish(digest::digest(&digest::SHA256, data))
}

fn finish(d: digest::Digest) -> Sha256 {
    let mut out = [0u8; 32];
    // SHA-256 output is always 32 bytes; copying through the slice avoids a fallible conversion.
    out.copy_from_slice(&d.as_ref()[..32]);
    out
}

/// Streams `reader` to its end through `buf`, returning the digest and the number of bytes read.
///
/// An empty `buf` is replaced by a temporary one of [`READ_BUFFER_SIZE`].
pub fn hash_reader<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<(Sha256, u64)> {
    hash_reader_until(reader, buf, &|| false)
}

/// Like [`hash_reader`], but gives up with `ErrorKind::Interrupted` as soon as `stop()` says so
/// (checked once per buffer, so a stop request is seen within one read).
fn hash_reader_until<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut [u8],
    stop: &dyn Fn() -> bool,
) -> io::Result<(Sha256, u64)> {
    let mut fallback = Vec::new();
    let buf = if buf.is_empty() {
        fallback.resize(READ_BUFFER_SIZE, 0);
        &mut fallback[..]
    } else {
        buf
    };
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut total: u64 = 0;
    loop {
        if stop() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "hashing stopped on request"));
        }
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // `n <= buf.len()` is the Read contract; `get` keeps a broken reader from panicking us.
        let chunk = buf
            .get(..n)
            .ok_or_else(|| io::Error::other("reader returned more bytes than the buffer holds"))?;
        ctx.update(chunk);
        total = total.saturating_add(n as u64);
    }
    Ok((finish(ctx.finish()), total))
}

/// The identity and version of a file, as far as `stat` can tell: if none of these changed, the
/// content is taken to be unchanged. ctime is included because it cannot be set from user space,
/// so a rewrite that restores size and mtime still changes the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// Device of the filesystem holding the file.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (i128: lossless for any stored value).
    pub mtime_ns: i128,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i128,
}

impl FileKey {
    /// Whether `self` and `other` describe the same version of a file's content: equal size,
    /// mtime and ctime. Device and inode are left out on purpose: on old overlayfs (before Linux
    /// 4.19) `fstat` of an open file reports the underlying layer's device and inode, while
    /// `lstat` of the path reports the overlay's, for the very same unchanged file.
    pub fn same_version(&self, other: &FileKey) -> bool {
        self.size == other.size && self.mtime_ns == other.mtime_ns && self.ctime_ns == other.ctime_ns
    }

    /// The key of the file described by `meta` (from `lstat`, `stat` or `fstat`).
    pub fn from_metadata(meta: &Metadata) -> Self {
        fn ns(sec: i64, nsec: i64) -> i128 {
            i128::from(sec) * 1_000_000_000 + i128::from(nsec)
        }
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Digests of files already hashed in this process, keyed by [`FileKey`].
///
/// Meant to live in a backend-local `thread_local!`: backends are single-threaded processes, and
/// worker threads never touch the cache. Entries are trusted only for files whose ctime is older
/// than the racy window (see [`HashCache::insert`]); when the cache reaches its size limit it is
/// emptied rather than grown, which keeps memory bounded without bookkeeping.
#[derive(Debug)]
pub struct HashCache {
    map: HashMap<FileKey, Sha256>,
    max_entries: usize,
    racy_window: Duration,
    hits: u64,
    misses: u64,
}

impl Default for HashCache {
    fn default() -> Self {
        HashCache::new()
    }
}

impl HashCache {
    /// Default size limit: ~100 bytes per entry, so about 20 MB at most.
    pub const DEFAULT_MAX_ENTRIES: usize = 200_000;

    /// Default racy window. File timestamps come from a coarse clock (a few ms on Linux, 1–2 s on
    /// some filesystems); a write landing in the same tick as the change we saw would leave the
    /// key unchanged, so recently changed files are not cached.
    pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

    /// An empty cache with the default limits.
    pub fn new() -> Self {
        HashCache {
            map: HashMap::new(),
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            racy_window: Self::DEFAULT_RACY_WINDOW,
            hits: 0,
            misses: 0,
        }
    }

    /// Sets the size limit (at least 1).
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries.max(1);
        self
    }

    /// Sets the racy window; `Duration::ZERO` caches every stable file (tests use this).
    pub fn with_racy_window(mut self, window: Duration) -> Self {
        self.racy_window = window;
        self
    }

    /// The cached digest for `key`, counting a hit or a miss.
    pub fn get(&mut self, key: &FileKey) -> Option<Sha256> {
        let found = self.map.get(key).copied();
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// Remembers `digest` for `key`, unless the file changed within the racy window (then the
    /// key may not tell a later same-tick rewrite apart; returns false). Callers must insert only
    /// when the file was unchanged from before to after reading ([`FileKey::same_version`]).
    pub fn insert(&mut self, key: FileKey, digest: Sha256) -> bool {
        if self.is_racy(&key) {
            return false;
        }
        if self.map.len() >= self.max_entries && !self.map.contains_key(&key) {
            self.map.clear();
        }
        self.map.insert(key, digest);
        true
    }

    fn is_racy(&self, key: &FileKey) -> bool {
        if self.racy_window.is_zero() {
            return false;
        }
        let now_ns = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
            // A clock before 1970 cannot judge anything: refuse to cache.
            Err(_) => return true,
        };
        let window = i128::try_from(self.racy_window.as_nanos()).unwrap_or(i128::MAX);
        // Only ctime tells when the file last changed: mtime can be set to anything (image layers
        // carry build-time mtimes). A ctime in the future (clock skew) is racy too.
        key.ctime_ns > now_ns.saturating_sub(window)
    }

    /// Takes over the digests of `other` — a cache a scan filled by reading every file again —
    /// replacing what this one held for the same keys (each entry goes through [`HashCache::insert`]).
    pub fn absorb(&mut self, other: HashCache) {
        for (key, digest) in other.map {
            self.insert(key, digest);
        }
    }

    /// Forgets every entry (the hit and miss counters are kept: they describe the backend's life).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Number of cached digests.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds no digest.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Lookups that found a digest.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Lookups that found nothing.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Writes every digest to `path` for other processes to [`HashCache::load`]: written to a
    /// temporary file next to it and renamed over it, so a reader sees a whole file or the old
    /// one. A fixed binary layout (magic, then 88-byte records) rather than a serialisation crate:
    /// every field is a fixed-size integer or digest. Returns the number of records.
    pub fn save(&self, path: &Path) -> io::Result<usize> {
        let mut out = Vec::with_capacity(SHARED_MAGIC.len() + self.map.len() * SHARED_RECORD);
        out.extend_from_slice(SHARED_MAGIC);
        for (k, d) in &self.map {
            out.extend_from_slice(&k.dev.to_le_bytes());
            out.extend_from_slice(&k.ino.to_le_bytes());
            out.extend_from_slice(&k.size.to_le_bytes());
            out.extend_from_slice(&k.mtime_ns.to_le_bytes());
            out.extend_from_slice(&k.ctime_ns.to_le_bytes());
            out.extend_from_slice(d);
        }
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, &out)?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok(self.map.len())
    }

    /// Adds the digests of a file [`HashCache::save`] wrote. Nothing is trusted for being in the
    /// file: an entry is used only when a file's whole [`FileKey`] (device, inode, size, mtime,
    /// ctime) matches again, exactly as for digests computed here, and each goes through
    /// [`HashCache::insert`] (the racy window, the size limit). A file of another layout or
    /// larger than the size limit allows is refused whole. Returns the records read.
    pub fn load(&mut self, path: &Path) -> io::Result<usize> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
        let (mut file, meta) = fsinfo::open_untrusted(path, false)?;
        let max = SHARED_MAGIC.len() as u64 + self.max_entries as u64 * SHARED_RECORD as u64;
        if meta.len() > max {
            return Err(invalid("larger than the cache may hold"));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.by_ref().take(max + 1).read_to_end(&mut bytes)?;
        let body = bytes
            .strip_prefix(SHARED_MAGIC.as_slice())
            .ok_or_else(|| invalid("not a pgext digest file"))?;
        if body.len() % SHARED_RECORD != 0 {
            return Err(invalid("truncated"));
        }
        let n = body.len() / SHARED_RECORD;
        for r in body.chunks_exact(SHARED_RECORD) {
            let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap_or_default());
            let i128_at = |i: usize| i128::from_le_bytes(r[i..i + 16].try_into().unwrap_or_default());
            let key = FileKey {
                dev: u64_at(0),
                ino: u64_at(8),
                size: u64_at(16),
                mtime_ns: i128_at(24),
                ctime_ns: i128_at(40),
            };
            let mut digest = [0u8; 32];
            digest.copy_from_slice(&r[56..88]);
            self.insert(key, digest);
        }
        Ok(n)
    }
}

/// First bytes of a file [`HashCache::save`] writes (the layout's version is its last digit).
const SHARED_MAGIC: &[u8; 8] = b"PGEXTDG1";
/// Bytes per record: dev, ino, size (u64), mtime, ctime (i128), SHA-256.
const SHARED_RECORD: usize = 8 * 3 + 16 * 2 + 32;

/// Opens `path` for reading as a regular file, never blocking ([`fsinfo::open_untrusted`]: a
/// FIFO swapped in after the caller's `lstat` is refused, `O_NOFOLLOW` when asked refuses a
/// symlink swapped in), and advises sequential reading.
fn open_regular(path: &Path, follow_symlinks: bool) -> io::Result<(File, Metadata)> {
    let (file, meta) = fsinfo::open_untrusted(path, follow_symlinks)?;
    // SAFETY: plain syscall on a descriptor we own for the duration of the call. The advice only
    // doubles kernel read-ahead for our strictly sequential read; its result is deliberately
    // ignored because it cannot affect correctness.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
    Ok((file, meta))
}

/// Hashes one regular file (symlinks are followed) with a fresh buffer, returning the digest and
/// the number of bytes actually read — which differs from the size `stat` reported if the file
/// changed while it was read.
pub fn hash_file(path: &Path) -> io::Result<(Sha256, u64)> {
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    let (mut file, _) = open_regular(path, true)?;
    hash_reader(&mut file, &mut buf)
}

/// One file for [`hash_jobs`].
#[derive(Debug, Clone)]
pub(crate) struct HashJob {
    /// The file to hash.
    pub path: PathBuf,
    /// Expected size, used only to hash large files first.
    pub size_hint: u64,
    /// Whether a symlink at `path` may be followed.
    pub follow_symlinks: bool,
}

/// What hashing one file produced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hashed {
    /// Digest of the bytes read.
    pub sha256: Sha256,
    /// Bytes read.
    pub bytes: u64,
    /// `fstat` of the open file after reading, to compare with the key seen before.
    pub key_after: FileKey,
}

fn hash_job(job: &HashJob, buf: &mut [u8], stop: &dyn Fn() -> bool) -> io::Result<Hashed> {
    let (mut file, _) = open_regular(&job.path, job.follow_symlinks)?;
    let (sha256, bytes) = hash_reader_until(&mut file, buf, stop)?;
    let key_after = FileKey::from_metadata(&file.metadata()?);
    Ok(Hashed {
        sha256,
        bytes,
        key_after,
    })
}

/// The default number of hashing threads: the CPUs this process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Hashes `jobs` on up to `threads` threads (0 = [`default_threads`]), returning one result per
/// job in the order given. Symlinks are followed; anything but a regular file is an error result.
///
/// `cancel` is called only on the calling thread, at least every [`CANCEL_POLL_INTERVAL`]; when
/// it returns true the workers are stopped and joined and `Err(Cancelled)` is returned. Per-file
/// failures (including a panic, which cannot happen by design) become `io::Error` results.
pub fn hash_files(
    jobs: Vec<PathBuf>,
    threads: usize,
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<io::Result<(Sha256, u64)>>, Cancelled> {
    let jobs: Vec<HashJob> = jobs
        .into_iter()
        .map(|path| {
            // Sizes only order the queue: a file we cannot stat fails later, when it is opened.
            let size_hint = std::fs::metadata(&path).map_or(0, |m| m.len());
            HashJob {
                path,
                size_hint,
                follow_symlinks: true,
            }
        })
        .collect();
    let results = hash_jobs(&jobs, threads, cancel)?;
    Ok(results.into_iter().map(|r| r.map(|h| (h.sha256, h.bytes))).collect())
}

/// Sets a flag when dropped, so workers stop even if the calling thread unwinds (a `cancel`
/// callback that raises a PostgreSQL error) — `thread::scope` joins them before the unwind leaves.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The engine behind [`hash_files`], also used by the tree scan (which needs `key_after`).
pub(crate) fn hash_jobs(
    jobs: &[HashJob],
    threads: usize,
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<io::Result<Hashed>>, Cancelled> {
    if cancel() {
        return Err(Cancelled);
    }
    let n = jobs.len();
    let threads = if threads == 0 { default_threads() } else { threads }
        .clamp(1, MAX_THREADS)
        .min(n);
    if threads <= 1 {
        return hash_inline(jobs, cancel);
    }

    // Largest first: the longest single job starts at once, small files fill the gaps at the end.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].size_hint));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, io::Result<Hashed>)>();

    std::thread::scope(|scope| {
        let _stop_guard = StopOnDrop(&stop);
        let mut spawned = 0;
        {
            let _mask = SignalsBlocked::new();
            for _ in 0..threads {
                let tx = tx.clone();
                let (order, next, stop) = (&order, &next, &stop);
                let spawn = std::thread::Builder::new()
                    .name("pgext-hash".into())
                    .spawn_scoped(scope, move || worker(jobs, order, next, stop, &tx));
                match spawn {
                    Ok(_) => spawned += 1,
                    // Thread limits inside a server are real: carry on with what we have.
                    Err(_) => break,
                }
            }
        }
        drop(tx);
        if spawned == 0 {
            return hash_inline(jobs, cancel);
        }

        let mut results: Vec<Option<io::Result<Hashed>>> = (0..n).map(|_| None).collect();
        let mut received = 0;
        let mut last_poll = Instant::now();
        while received < n {
            match rx.recv_timeout(CANCEL_POLL_INTERVAL) {
                Ok((i, r)) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(r);
                    }
                    received += 1;
                    if last_poll.elapsed() < CANCEL_POLL_INTERVAL {
                        continue;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Every worker is gone; missing results are reported below.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            last_poll = Instant::now();
            if cancel() {
                return Err(Cancelled);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(io::Error::other("hashing thread ended without a result"))))
            .collect())
    })
}

/// Hashes on the calling thread (one thread requested, or none could be started). Here `cancel`
/// may be polled directly, once per buffer.
fn hash_inline(jobs: &[HashJob], cancel: &dyn Fn() -> bool) -> Result<Vec<io::Result<Hashed>>, Cancelled> {
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        if cancel() {
            return Err(Cancelled);
        }
        match hash_job(job, &mut buf, cancel) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && cancel() => return Err(Cancelled),
            r => out.push(r),
        }
    }
    Ok(out)
}

fn worker(
    jobs: &[HashJob],
    order: &[usize],
    next: &AtomicUsize,
    stop: &AtomicBool,
    tx: &mpsc::Sender<(usize, io::Result<Hashed>)>,
) {
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    let should_stop = || stop.load(Ordering::Relaxed);
    while !should_stop() {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let Some(&i) = order.get(k) else { break };
        let Some(job) = jobs.get(i) else { break };
        let result = catch_unwind(AssertUnwindSafe(|| hash_job(job, &mut buf, &should_stop)))
            .unwrap_or_else(|_| Err(io::Error::other("internal error: panic while hashing")));
        if tx.send((i, result)).is_err() {
            break;
        }
    }
}

/// Blocks every signal on the current thread while alive, restoring the previous mask on drop.
/// Threads inherit the creator's mask, so workers spawned meanwhile never run PostgreSQL's signal
/// handlers (which assume the main thread); the postmaster's signals stay pending for the main
/// thread and are delivered when the mask is restored.
pub struct SignalsBlocked {
    old: Option<libc::sigset_t>,
}

impl SignalsBlocked {
    /// Blocks every signal on the calling thread until the guard is dropped.
    pub fn new() -> Self {
        let mut all = MaybeUninit::<libc::sigset_t>::uninit();
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises `all`; pthread_sigmask reads `all` and, on success (rc 0),
        // initialises `old`. Only this thread's mask changes. `old` is read only when rc == 0.
        unsafe {
            libc::sigfillset(all.as_mut_ptr());
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, all.as_ptr(), old.as_mut_ptr());
            SignalsBlocked {
                old: (rc == 0).then(|| old.assume_init()),
            }
        }
    }
}

impl Default for SignalsBlocked {
    fn default() -> Self {
        SignalsBlocked::new()
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        if let Some(old) = self.old {
            // SAFETY: `old` is the mask pthread_sigmask returned for this same thread.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;
    use std::sync::atomic::AtomicU32;

    // Known answers: FIPS 180-2 examples and the empty string.
    const VECTORS: &[(&[u8], &str)] = &[
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];

    #[test]
    fn known_answers_in_memory_and_streamed() {
        for (input, hex) in VECTORS {
            assert_eq!(to_hex(&sha256(input)), *hex);
            // A 1-byte buffer exercises many small updates.
            let mut one = [0u8; 1];
            let (d, n) = hash_reader(&mut &input[..], &mut one).unwrap();
            assert_eq!((to_hex(&d).as_str(), n), (*hex, input.len() as u64));
            let (d, _) = hash_reader(&mut &input[..], &mut []).unwrap();
            assert_eq!(to_hex(&d), *hex);
        }
    }

    #[test]
    fn million_a() {
        let data = vec![b'a'; 1_000_000];
        let mut buf = vec![0u8; 4096];
        let (d, n) = hash_reader(&mut &data[..], &mut buf).unwrap();
        assert_eq!(n, 1_000_000);
        assert_eq!(
            to_hex(&d),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn hex_parsing() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let cases: &[(&str, bool)] = &[
            (abc, true),
            ("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", true),
            (&abc[..63], false),
            ("", false),
            (
                "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                false,
            ),
            (
                " a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                false,
            ),
            ("é7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", false),
        ];
        for (text, ok) in cases {
            let parsed = parse_sha256_hex(text);
            assert_eq!(parsed.is_some(), *ok, "{text:?}");
            if let Some(d) = parsed {
                assert_eq!(to_hex(&d), abc);
            }
        }
        let d = sha256(b"abc");
        assert_eq!(to_prefixed_hex(&d), format!("sha256:{abc}"));
        assert_eq!(parse_prefixed_sha256(&format!("sha256:{abc}")), Some(d));
        assert_eq!(parse_prefixed_sha256(&format!("sha512:{abc}")), None);
        assert_eq!(parse_prefixed_sha256(abc), None);
    }

    /// A reader that claims to have read more than the buffer: must be an error, not a panic.
    struct Liar;
    impl Read for Liar {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Ok(buf.len() + 1)
        }
    }

    #[test]
    fn broken_reader_is_an_error() {
        let mut buf = [0u8; 8];
        assert!(hash_reader(&mut Liar, &mut buf).is_err());
    }

    fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
        let p = dir.join(name);
        fs::File::create(&p).unwrap().write_all(data).unwrap();
        p
    }

    #[test]
    fn hash_files_preserves_order_and_reports_errors() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut jobs = Vec::new();
        let mut expected: Vec<Option<(Sha256, u64)>> = Vec::new();
        for i in 0..40 {
            let data: Vec<u8> = if i == 7 { big.clone() } else { vec![i as u8; i * 1000] };
            jobs.push(write_file(dir.path(), &format!("f{i}"), &data));
            expected.push(Some((sha256(&data), data.len() as u64)));
        }
        jobs.insert(3, dir.path().join("missing"));
        expected.insert(3, None);
        jobs.insert(10, dir.path().to_path_buf()); // a directory is not a regular file
        expected.insert(10, None);
        for threads in [0, 1, 2, 3, 8] {
            let results = hash_files(jobs.clone(), threads, &|| false).unwrap();
            assert_eq!(results.len(), expected.len());
            for (i, (r, e)) in results.iter().zip(&expected).enumerate() {
                match (r, e) {
                    (Ok(got), Some(want)) => assert_eq!(got, want, "job {i}, {threads} threads"),
                    (Err(_), None) => {}
                    _ => panic!("job {i} with {threads} threads: got {r:?}"),
                }
            }
            assert_eq!(results[3].as_ref().unwrap_err().kind(), io::ErrorKind::NotFound);
            assert_eq!(results[10].as_ref().unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
        assert!(hash_files(Vec::new(), 2, &|| false).unwrap().is_empty());
    }

    #[test]
    fn hash_file_follows_symlinks_but_refuses_fifos_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let target = write_file(dir.path(), "t", b"abc");
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(hash_file(&link).unwrap(), (sha256(b"abc"), 3));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(hash_file(&fifo).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let job = HashJob {
            path: link,
            size_hint: 0,
            follow_symlinks: false,
        };
        assert!(hash_job(&job, &mut [0u8; 16], &|| false).is_err());
    }

    #[test]
    fn cancellation_is_prompt_and_stops_workers() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![7u8; 8 << 20];
        let jobs: Vec<PathBuf> = (0..64)
            .map(|i| write_file(dir.path(), &format!("f{i}"), &data))
            .collect();
        for threads in [1, 2, 4] {
            // Cancel on the third poll: well before 512 MB could be hashed.
            let polls = AtomicU32::new(0);
            let cancel = || polls.fetch_add(1, Ordering::Relaxed) >= 2;
            let start = Instant::now();
            assert_eq!(hash_files(jobs.clone(), threads, &cancel).unwrap_err(), Cancelled);
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{threads} threads: {:?}",
                start.elapsed()
            );
        }
        assert_eq!(hash_files(jobs, 2, &|| true).unwrap_err(), Cancelled);
    }

    #[test]
    fn signals_are_blocked_in_workers_and_restored() {
        fn blocked_now(sig: i32) -> bool {
            let mut cur = MaybeUninit::<libc::sigset_t>::uninit();
            // SAFETY: querying the mask into a local set.
            unsafe {
                libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), cur.as_mut_ptr());
                libc::sigismember(cur.as_ptr(), sig) == 1
            }
        }
        let before = blocked_now(libc::SIGINT);
        {
            let _m = SignalsBlocked::new();
            assert!(blocked_now(libc::SIGINT));
            std::thread::scope(|s| {
                let h = s.spawn(|| blocked_now(libc::SIGTERM));
                assert!(h.join().unwrap());
            });
        }
        assert_eq!(blocked_now(libc::SIGINT), before);
    }

    #[test]
    fn shared_file_round_trips_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::write(&f, b"content").unwrap();
        let key = FileKey::from_metadata(&std::fs::metadata(&f).unwrap());
        let mut cache = HashCache::new().with_racy_window(Duration::ZERO);
        assert!(cache.insert(key, sha256(b"content")));
        let other = FileKey {
            ino: key.ino + 1,
            ..key
        };
        assert!(cache.insert(other, sha256(b"other")));
        let path = dir.path().join("digests");
        assert_eq!(cache.save(&path).unwrap(), 2);

        let mut loaded = HashCache::new().with_racy_window(Duration::ZERO);
        assert_eq!(loaded.load(&path).unwrap(), 2);
        assert_eq!(loaded.get(&key), Some(sha256(b"content")));
        assert_eq!(loaded.get(&other), Some(sha256(b"other")));
        // A changed file has another key: the shared digest is never its answer.
        assert_eq!(
            loaded.get(&FileKey {
                ctime_ns: key.ctime_ns + 1,
                ..key
            }),
            None
        );
        // The racy window applies to loaded entries as to computed ones.
        let mut strict = HashCache::new().with_racy_window(Duration::from_secs(3600));
        strict.load(&path).unwrap();
        assert!(strict.is_empty());
        // Within its size limit only, and only files of this layout.
        assert!(HashCache::new().with_max_entries(1).load(&path).is_err());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        assert!(HashCache::new().load(&path).is_err());
        std::fs::write(&path, b"PGEXTDG9").unwrap();
        assert!(HashCache::new().load(&path).is_err());
        assert!(HashCache::new().load(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn cache_counts_and_respects_racy_window_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_file(dir.path(), "a", b"abc");
        let key = FileKey::from_metadata(&fs::metadata(&p).unwrap());
        assert_eq!(key.size, 3);

        // Just written: inside the default racy window, so not cached.
        let mut cache = HashCache::new();
        assert!(!cache.insert(key, sha256(b"abc")));
        assert!(cache.is_empty());

        let mut cache = HashCache::new().with_racy_window(Duration::ZERO).with_max_entries(2);
        assert_eq!(cache.get(&key), None);
        assert!(cache.insert(key, sha256(b"abc")));
        assert_eq!(cache.get(&key), Some(sha256(b"abc")));
        assert_eq!((cache.hits(), cache.misses(), cache.len()), (1, 1, 1));
        let other = |ino| FileKey { ino, ..key };
        cache.insert(other(1), [1; 32]);
        assert_eq!(cache.len(), 2);
        cache.insert(other(2), [2; 32]); // over the limit: emptied first
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&other(2)), Some([2; 32]));
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.hits(), 2);

        // An old file (mtime and ctime far in the past) is cached under the default window.
        let old = FileKey {
            mtime_ns: 0,
            ctime_ns: 0,
            ..key
        };
        assert!(HashCache::new().insert(old, [0; 32]));
        // A timestamp in the future is never trusted.
        let future = FileKey {
            ctime_ns: i128::MAX,
            ..key
        };
        assert!(!HashCache::new().insert(future, [0; 32]));
    }

    #[test]
    fn absorb_replaces_digests_for_the_same_key() {
        let key = |ino| FileKey {
            dev: 1,
            ino,
            size: 3,
            mtime_ns: 0,
            ctime_ns: 0,
        };
        let mut cache = HashCache::new();
        cache.insert(key(1), [1; 32]);
        cache.insert(key(2), [2; 32]);
        // A full re-read found other bytes under an unchanged key, and a new file.
        let mut fresh = HashCache::new();
        fresh.insert(key(1), [9; 32]);
        fresh.insert(key(3), [3; 32]);
        cache.absorb(fresh);
        assert_eq!(cache.get(&key(1)), Some([9; 32]));
        assert_eq!(cache.get(&key(2)), Some([2; 32]));
        assert_eq!(cache.get(&key(3)), Some([3; 32]));
    }
}
