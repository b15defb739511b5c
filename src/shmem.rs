//! The worker's status in shared memory, readable by every backend — also on a standby, where the
//! history tables cannot be written.
//!
//! Three pieces, all created only when pgext is preloaded:
//! - `HEADER` (`PgLwLock`): the worker and its last cycle. Its LWLock also guards the slots.
//! - `SIGNALS` (`PgAtomic`): who the worker is and the `check_now()` handshake, lock-free so a
//!   backend can wake the worker without waiting for a cycle to publish.
//! - the image slots: `pgext.max_tracked_images` fixed-size records, sized at server start (a
//!   `PgLwLock<T>` has a compile-time size, so this array is requested with its own hooks).

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use pgrx::prelude::*;
use pgrx::{PGRXSharedMemory, PgAtomic, PgLwLock, pg_shmem_init};

use crate::gucs;

/// A string of at most `N` bytes stored inline; longer values are cut at a character boundary
/// and end in "...", so a reader never sees half a character.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct FixedStr<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> FixedStr<N> {
    /// The empty string.
    pub const EMPTY: Self = FixedStr { len: 0, bytes: [0; N] };

    /// A copy of `s`, truncated to fit.
    pub fn new(s: &str) -> Self {
        let mut out = Self::EMPTY;
        out.set(s);
        out
    }

    /// Replaces the content with `s`, truncated to fit.
    pub fn set(&mut self, s: &str) {
        let (body, ellipsis) = if s.len() <= N {
            (s, "")
        } else {
            let mut end = N.saturating_sub(3);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            (&s[..end], if N >= 3 { "..." } else { "" })
        };
        let n = body.len() + ellipsis.len();
        self.bytes[..body.len()].copy_from_slice(body.as_bytes());
        self.bytes[body.len()..n].copy_from_slice(ellipsis.as_bytes());
        self.len = n as u16;
    }

    /// The content ("" should the bytes not be UTF-8, which `set` never writes).
    pub fn as_str(&self) -> &str {
        let n = (self.len as usize).min(N);
        std::str::from_utf8(&self.bytes[..n]).unwrap_or("")
    }

    /// The content, or `None` when empty.
    pub fn non_empty(&self) -> Option<String> {
        Some(self.as_str()).filter(|s| !s.is_empty()).map(str::to_string)
    }
}

/// A 64-bit key of an image name (the first bytes of its SHA-256), for names too long for a slot.
pub fn name_hash(name: &str) -> u64 {
    let d = pgext_core::hash::sha256(name.as_bytes());
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

pub use pgext_core::status::Micros;

/// The worker's view of one image, as published after each cycle.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct ImageSlot {
    /// Image name (directory under `pgext.extensions_root`): room for NAME_MAX bytes, so every
    /// name a directory can have is kept whole. A longer name (a pin can say anything) is cut.
    pub name: FixedStr<255>,
    /// [`name_hash`] of the full name: how a restarted worker finds its state again, whatever
    /// the name's length.
    pub name_hash: u64,
    /// The pin in effect ("" when unpinned).
    pub reference: FixedStr<256>,
    /// The image directory exists.
    pub mounted: bool,
    /// A pin is in effect for it.
    pub pinned: bool,
    /// [`pgext_core::status::ImageStatus`] as a number.
    pub status: u8,
    /// [`pgext_core::status::RegistryStatus`] as a number: the last registry verification.
    pub registry: u8,
    /// The cosign signature of the last verification: [`pgext_core::status::SignatureStatus::code`]; 0 when
    /// not judged yet.
    pub signature: u8,
    /// Differences from the last comparison with the expected tree: files missing from the mount,
    /// modified, unexpected, and entries whose type, mode or link changed.
    pub missing: i32,
    /// See `missing`.
    pub modified: i32,
    /// See `missing`.
    pub unexpected: i32,
    /// See `missing`.
    pub changed: i32,
    /// Extensions (control files) in the image.
    pub extensions: i32,
    /// Incompatible extensions of the image; -1 when compatibility was not analysed.
    pub incompatible: i32,
    /// Inventory problems of severity error or warning on the image and its extensions.
    pub problems: i32,
    /// Those of severity error.
    pub problem_errors: i32,
    /// When `status` last changed.
    pub status_since: Micros,
    /// Last comparison of the mount with the expected tree (re-hash or verification).
    pub last_checked: Micros,
    /// Last successful registry verification.
    pub last_verified: Micros,
    /// Last registry verification attempt, successful or not.
    pub last_verify_attempt: Micros,
    /// Last full re-hash (every byte read again, no digest cache).
    pub last_full_rehash: Micros,
    /// Code of the last verification failure ("" when it succeeded).
    pub error_code: FixedStr<32>,
    /// Message of the last verification or check failure.
    pub last_error: FixedStr<200>,
    /// The first problem, as `code: message`.
    pub problem: FixedStr<160>,
    /// Names of incompatible extensions, comma-separated.
    pub incompatible_names: FixedStr<160>,
}

impl ImageSlot {
    /// A slot with nothing in it.
    pub const EMPTY: ImageSlot = ImageSlot {
        name: FixedStr::EMPTY,
        name_hash: 0,
        reference: FixedStr::EMPTY,
        mounted: false,
        pinned: false,
        status: 0,
        registry: 0,
        signature: 0,
        missing: 0,
        modified: 0,
        unexpected: 0,
        changed: 0,
        extensions: 0,
        incompatible: -1,
        problems: 0,
        problem_errors: 0,
        status_since: 0,
        last_checked: 0,
        last_verified: 0,
        last_verify_attempt: 0,
        last_full_rehash: 0,
        error_code: FixedStr::EMPTY,
        last_error: FixedStr::EMPTY,
        problem: FixedStr::EMPTY,
        incompatible_names: FixedStr::EMPTY,
    };
}

/// The worker and its cycles.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Header {
    /// When the current worker process started (0: none has yet).
    pub started_at: Micros,
    /// `pgext.database`.
    pub database: FixedStr<64>,
    /// Completed cycles since the server started.
    pub cycles: i64,
    /// Start of the cycle in progress (0 when idle).
    pub cycle_started_at: Micros,
    /// Start of the last completed cycle.
    pub last_cycle_started_at: Micros,
    /// Its duration, microseconds.
    pub last_cycle_duration_us: i64,
    /// [`pgext_core::status::CycleOutcome`] as a number.
    pub last_cycle_outcome: u8,
    /// End of the last cycle in which every step succeeded.
    pub last_success_at: Micros,
    /// When the next scheduled cycle is due.
    pub next_cycle_at: Micros,
    /// The intervals the worker applies (they show that a reload reached it).
    pub check_interval_s: i64,
    /// See `check_interval_s` (0: verification disabled).
    pub verify_interval_s: i64,
    /// The server was a standby at the last cycle.
    pub in_recovery: bool,
    /// pgext is installed in the worker's database (pins, recorded trees and history need it).
    pub extension_installed: bool,
    /// `pgext.trusted_keys` was set at the last cycle: the site judges signatures.
    pub trusted_keys: bool,
    /// Images in use in the slot array.
    pub images: i32,
    /// Images beyond `pgext.max_tracked_images`, not shown.
    pub untracked: i32,
    /// What failed in the last cycle (or why the worker could not start), "" when nothing.
    pub last_error: FixedStr<256>,
    /// What the worker is doing, as in `pg_stat_activity.query`.
    pub activity: FixedStr<96>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            started_at: 0,
            database: FixedStr::EMPTY,
            cycles: 0,
            cycle_started_at: 0,
            last_cycle_started_at: 0,
            last_cycle_duration_us: 0,
            last_cycle_outcome: 0,
            last_success_at: 0,
            next_cycle_at: 0,
            check_interval_s: 0,
            verify_interval_s: 0,
            in_recovery: false,
            extension_installed: false,
            trusted_keys: false,
            images: 0,
            untracked: 0,
            last_error: FixedStr::EMPTY,
            activity: FixedStr::EMPTY,
        }
    }
}

// SAFETY: plain old data (integers, booleans, inline byte arrays): no pointers, valid in any
// process that maps the segment.
unsafe impl PGRXSharedMemory for Header {}

/// Lock-free coordination between backends and the worker.
#[derive(Default)]
#[repr(C)]
pub struct Signals {
    /// The worker's pid, 0 when no worker runs.
    pub pid: AtomicI32,
    /// The worker's `MyProcNumber`, whose latch `check_now()` sets.
    pub proc_number: AtomicI32,
    /// `check_now()` requests so far.
    pub requested: AtomicU64,
    /// The `requested` value seen at the start of the last completed cycle: requests up to it
    /// have been served.
    pub served: AtomicU64,
    /// Publications so far: enforcement's cached decisions rest on the published status.
    pub published: AtomicU64,
    /// Committed changes of pgext's tables (the `pgext.policy_changed()` trigger, at commit):
    /// the decisions shared between backends rest on them.
    pub policy: AtomicU64,
}

// SAFETY: atomics only; every process maps the segment at the same address.
unsafe impl PGRXSharedMemory for Signals {}

/// Decisions of the function-load hook that every backend of the server may reuse (see
/// `enforce::load`): only `allowed` ones, keyed by SHA-256 of the database, the library name and
/// the settings they rest on, valid while both generation counters are unchanged.
pub const SHARED_DECISIONS: usize = 128;

/// One shared decision.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct SharedDecision {
    key: [u8; 32],
    policy: u64,
    published: u64,
    path: FixedStr<512>,
    image: FixedStr<128>,
}

impl SharedDecision {
    const EMPTY: Self = SharedDecision {
        key: [0; 32],
        policy: u64::MAX,
        published: u64::MAX,
        path: FixedStr::EMPTY,
        image: FixedStr::EMPTY,
    };
}

/// The shared decisions, replaced round-robin when none is stale.
#[repr(C)]
pub struct Decisions {
    next: usize,
    entries: [SharedDecision; SHARED_DECISIONS],
}

impl Default for Decisions {
    fn default() -> Self {
        Decisions {
            next: 0,
            entries: [SharedDecision::EMPTY; SHARED_DECISIONS],
        }
    }
}

// SAFETY: plain old data (integers and inline byte arrays).
unsafe impl PGRXSharedMemory for Decisions {}

static DECISIONS: PgLwLock<Decisions> = unsafe { PgLwLock::new(c"pgext_enforce_decisions") };
static HEADER: PgLwLock<Header> = unsafe { PgLwLock::new(c"pgext_worker_status") };
static SIGNALS: PgAtomic<Signals> = unsafe { PgAtomic::new(c"pgext_worker_signals") };

/// Name of the slot array's shared memory structure.
const SLOTS_NAME: &CStr = c"pgext_image_slots";

/// Set in `_PG_init` while preloading; every backend inherits it from the postmaster.
static PRELOADED: AtomicBool = AtomicBool::new(false);
/// Slot array and its length, set by the startup hook (in the postmaster, inherited on fork).
static SLOTS: AtomicPtr<ImageSlot> = AtomicPtr::new(std::ptr::null_mut());
static SLOT_COUNT: AtomicUsize = AtomicUsize::new(0);

static mut PREV_SHMEM_REQUEST_HOOK: pg_sys::shmem_request_hook_type = None;
static mut PREV_SHMEM_STARTUP_HOOK: pg_sys::shmem_startup_hook_type = None;

/// Requests the shared memory. Only while preloading (called from `worker::init`).
#[allow(unexpected_cfgs)] // pg_shmem_init! tests features (pg13..pg17) this crate does not declare
pub fn init() {
    pg_shmem_init!(HEADER);
    pg_shmem_init!(SIGNALS);
    pg_shmem_init!(DECISIONS);
    // SAFETY: _PG_init runs once, on the postmaster's main thread, before any hook is called;
    // the previous hooks are chained as PostgreSQL requires.
    unsafe {
        PREV_SHMEM_REQUEST_HOOK = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request_slots);
        PREV_SHMEM_STARTUP_HOOK = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup_slots);
    }
    PRELOADED.store(true, Ordering::Relaxed);
}

fn slots_size(n: usize) -> usize {
    n.saturating_mul(std::mem::size_of::<ImageSlot>())
}

#[pg_guard]
unsafe extern "C-unwind" fn request_slots() {
    // SAFETY: chaining the hook saved in init(); called by the postmaster on its main thread.
    unsafe {
        if let Some(prev) = PREV_SHMEM_REQUEST_HOOK {
            pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| prev());
        }
    }
    // postgresql.conf is loaded by now: this is the value the server runs with.
    let n = gucs::max_tracked_images();
    SLOT_COUNT.store(n, Ordering::Relaxed);
    // SAFETY: we are inside shmem_request_hook, where requests are allowed.
    unsafe { pg_sys::RequestAddinShmemSpace(slots_size(n)) };
}

#[pg_guard]
unsafe extern "C-unwind" fn startup_slots() {
    // SAFETY: chaining the hook saved in init().
    unsafe {
        if let Some(prev) = PREV_SHMEM_STARTUP_HOOK {
            pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| prev());
        }
    }
    let n = SLOT_COUNT.load(Ordering::Relaxed);
    // SAFETY: ShmemInitStruct under AddinShmemInitLock (MainLWLockArray[21], as pgrx's own
    // pg_shmem_init! does); the space was requested above. A fresh segment is filled with empty
    // slots; an existing one (EXEC_BACKEND) is left alone.
    unsafe {
        let lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock;
        pg_sys::LWLockAcquire(lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let ptr = pg_sys::ShmemInitStruct(SLOTS_NAME.as_ptr(), slots_size(n), &mut found).cast::<ImageSlot>();
        if !found {
            for i in 0..n {
                ptr.add(i).write(ImageSlot::EMPTY);
            }
        }
        SLOTS.store(ptr, Ordering::Release);
        pg_sys::LWLockRelease(lock);
    }
}

/// Whether the shared state exists (pgext is in `shared_preload_libraries`).
pub fn available() -> bool {
    PRELOADED.load(Ordering::Relaxed) && !SLOTS.load(Ordering::Acquire).is_null()
}

/// The slot array, for a caller that holds `HEADER`'s lock.
fn slots_ptr() -> (*mut ImageSlot, usize) {
    (SLOTS.load(Ordering::Acquire), SLOT_COUNT.load(Ordering::Relaxed))
}

/// A consistent copy of everything shared, taken under the shared lock.
#[derive(Clone)]
pub struct Snapshot {
    /// The worker and its last cycle.
    pub header: Header,
    /// The published images, by name.
    pub images: Vec<ImageSlot>,
    /// The worker's pid, 0 when none runs.
    pub pid: i32,
    /// `pgext.max_tracked_images` of the running server.
    pub capacity: usize,
}

/// Copies the shared state; `None` when pgext is not preloaded.
pub fn snapshot() -> Option<Snapshot> {
    if !available() {
        return None;
    }
    let guard = HEADER.share();
    let header = *guard;
    let (ptr, n) = slots_ptr();
    let used = (header.images.max(0) as usize).min(n);
    // SAFETY: the startup hook allocated n slots at ptr; HEADER's lock (held) guards them.
    let images = unsafe { std::slice::from_raw_parts(ptr, used) }.to_vec();
    drop(guard);
    Some(Snapshot {
        header,
        images,
        pid: SIGNALS.get().pid.load(Ordering::Acquire),
        capacity: n,
    })
}

/// Replaces the published images (sorted by the caller; cut to capacity) and updates the header,
/// in one critical section so readers never see a half-published cycle.
pub fn publish(images: &[ImageSlot], update: impl FnOnce(&mut Header)) {
    if !available() {
        return;
    }
    let mut guard = HEADER.exclusive();
    let (ptr, n) = slots_ptr();
    let used = images.len().min(n);
    // SAFETY: n slots at ptr, HEADER's lock held exclusively.
    let slots = unsafe { std::slice::from_raw_parts_mut(ptr, n) };
    slots[..used].copy_from_slice(&images[..used]);
    guard.images = used as i32;
    guard.untracked = (images.len() - used) as i32;
    update(&mut guard);
    SIGNALS.get().published.fetch_add(1, Ordering::AcqRel);
}

/// How many times the worker published (0 without shared memory).
pub fn published_generation() -> u64 {
    if available() {
        SIGNALS.get().published.load(Ordering::Acquire)
    } else {
        0
    }
}

/// Committed changes of pgext's tables so far (0 without shared memory).
pub fn policy_generation() -> u64 {
    if available() {
        SIGNALS.get().policy.load(Ordering::Acquire)
    } else {
        0
    }
}

/// A change of pgext's tables committed: every shared decision is stale.
pub fn bump_policy_generation() {
    if available() {
        SIGNALS.get().policy.fetch_add(1, Ordering::AcqRel);
    }
}

/// The shared `allowed` decision for `key` made at these generations: (path, image; "" when the
/// library is not from an image).
pub fn shared_decision(key: &[u8; 32], policy: u64, published: u64) -> Option<(String, String)> {
    if !available() {
        return None;
    }
    let d = DECISIONS.share();
    d.entries
        .iter()
        .find(|e| e.key == *key && e.policy == policy && e.published == published)
        .map(|e| (e.path.as_str().to_string(), e.image.as_str().to_string()))
}

/// Shares an `allowed` decision made at these generations (read before judging: a change
/// committed meanwhile makes it stale at once). Values too long for a slot are not shared.
pub fn share_decision(key: &[u8; 32], policy: u64, published: u64, path: &str, image: &str) {
    if !available() || path.len() > 512 || image.len() > 128 {
        return;
    }
    let mut d = DECISIONS.exclusive();
    let i = match d.entries.iter().position(|e| e.key == *key) {
        Some(i) => i,
        None => match d
            .entries
            .iter()
            .position(|e| e.policy != policy || e.published != published)
        {
            Some(i) => i,
            None => {
                let i = d.next % SHARED_DECISIONS;
                d.next = i + 1;
                i
            }
        },
    };
    d.entries[i] = SharedDecision {
        key: *key,
        policy,
        published,
        path: FixedStr::new(path),
        image: FixedStr::new(image),
    };
}

/// Updates the header alone.
pub fn update_header(update: impl FnOnce(&mut Header)) {
    if available() {
        update(&mut HEADER.exclusive());
    }
}

/// The slots as last published (the worker reads them back after a restart).
pub fn published_images() -> Vec<ImageSlot> {
    snapshot().map(|s| s.images).unwrap_or_default()
}

/// Called by the worker once it runs: makes it findable by `check_now()`.
pub fn register_worker(pid: i32, proc_number: i32) {
    if !available() {
        return;
    }
    let s = SIGNALS.get();
    s.proc_number.store(proc_number, Ordering::Release);
    s.pid.store(pid, Ordering::Release);
}

/// Called as the worker exits (also on FATAL).
pub fn unregister_worker() {
    if available() {
        SIGNALS.get().pid.store(0, Ordering::Release);
    }
}

/// Requests not yet served, and the request number a cycle starting now serves.
pub fn pending_requests() -> (bool, u64) {
    let s = SIGNALS.get();
    let requested = s.requested.load(Ordering::Acquire);
    (requested > s.served.load(Ordering::Acquire), requested)
}

/// Marks requests up to `upto` served (the value `pending_requests` gave at the cycle's start).
pub fn mark_served(upto: u64) {
    SIGNALS.get().served.fetch_max(upto, Ordering::AcqRel);
}

/// Whether request `n` has been served.
pub fn served(n: u64) -> bool {
    SIGNALS.get().served.load(Ordering::Acquire) >= n
}

/// Asks the worker for an immediate cycle and wakes it. Returns the request number when a worker
/// runs (its latch was set), `None` otherwise. Must run where shared memory is available.
pub fn request_cycle() -> Option<u64> {
    let s = SIGNALS.get();
    let n = s.requested.fetch_add(1, Ordering::AcqRel) + 1;
    if s.pid.load(Ordering::Acquire) == 0 {
        return None;
    }
    let proc_number = s.proc_number.load(Ordering::Acquire);
    // SAFETY: ProcNumberGetProc returns the PGPROC of that slot of the proc array (or NULL for
    // an invalid number); its latch lives in shared memory. Should the worker have exited in
    // between, another process gets a spurious wakeup, which latches allow.
    unsafe {
        let proc = pg_sys::ProcNumberGetProc(proc_number);
        if proc.is_null() {
            return None;
        }
        pg_sys::SetLatch(&raw mut (*proc).procLatch);
    }
    Some(n)
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use super::FixedStr;

    #[pg_test]
    fn fixed_str_truncates_at_char_boundaries() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("abc", "abc"),
            ("abcdefgh", "abcdefgh"),
            ("abcdefghi", "abcde..."),
            ("ééééé", "éé..."), // 10 bytes: the cut at 5 lands inside the third é
            ("abcdé€xyz", "abcd..."),
        ];
        for (input, want) in cases {
            let s = FixedStr::<8>::new(input);
            assert_eq!(s.as_str(), *want, "input {input:?}");
            assert!(s.as_str().len() <= 8);
        }
    }
}
