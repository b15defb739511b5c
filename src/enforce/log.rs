//! Every enforcement decision, in shared memory: a ring of the most recent ones and counters
//! since server start. Shared memory (not a table) so that decisions on a standby are recorded
//! too, and nothing is written inside the statement being judged. Read by
//! `pgext.enforcement_log` and `pgext.enforcement_status` (pg_monitor).

use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::{PGRXSharedMemory, PgLwLock, pg_shmem_init};

use crate::shmem::FixedStr;

/// Decisions kept in the ring.
pub const CAPACITY: usize = 256;

/// What happened to a statement's use of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::FromRepr)]
#[strum(serialize_all = "lowercase")]
#[repr(u8)]
pub enum Outcome {
    /// Every required condition holds.
    Allowed = 1,
    /// A condition failed under `pgext.enforce = warn`: reported, let through.
    Warned = 2,
    /// A condition failed under `pgext.enforce = on`: the statement raised.
    Refused = 3,
    /// Allowed by `pgext.enforce_exempt` without looking.
    Exempt = 4,
}

impl From<pgext_core::policy::Action> for Outcome {
    fn from(a: pgext_core::policy::Action) -> Outcome {
        use pgext_core::policy::Action;
        match a {
            Action::Allow => Outcome::Allowed,
            Action::Exempt => Outcome::Exempt,
            Action::Warn => Outcome::Warned,
            Action::Refuse => Outcome::Refused,
        }
    }
}

impl Outcome {
    /// Stable name in SQL.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One decision.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Entry {
    /// 1-based sequence number since server start (0: empty slot).
    pub seq: u64,
    /// When (µs since 2000-01-01, PostgreSQL's `TimestampTz`).
    pub at: i64,
    /// Backend pid.
    pub pid: i32,
    /// [`Outcome`] as a number.
    pub outcome: u8,
    /// Database name.
    pub database: FixedStr<64>,
    /// Role that ran the statement.
    pub role: FixedStr<64>,
    /// `create_extension`, `alter_extension`, `load`, `create_function`, `session_preload`...
    pub action: FixedStr<24>,
    /// The extension, or the library as named.
    pub object: FixedStr<128>,
    /// The image.
    pub image: FixedStr<64>,
    /// Failed conditions, comma-separated.
    pub failed: FixedStr<48>,
    /// The evidence (the error's DETAIL), truncated.
    pub detail: FixedStr<400>,
}

impl Entry {
    const EMPTY: Entry = Entry {
        seq: 0,
        at: 0,
        pid: 0,
        outcome: 0,
        database: FixedStr::EMPTY,
        role: FixedStr::EMPTY,
        action: FixedStr::EMPTY,
        object: FixedStr::EMPTY,
        image: FixedStr::EMPTY,
        failed: FixedStr::EMPTY,
        detail: FixedStr::EMPTY,
    };
}

/// The ring and the counters.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Shared {
    /// Decisions recorded so far (the next entry's sequence number minus one).
    pub total: u64,
    /// Counts by [`Outcome`] (index = value - 1).
    pub counts: [u64; 4],
    /// The ring: entry `seq` lives at `(seq - 1) % CAPACITY`.
    pub entries: [Entry; CAPACITY],
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            total: 0,
            counts: [0; 4],
            entries: [Entry::EMPTY; CAPACITY],
        }
    }
}

// SAFETY: plain old data (integers and inline byte arrays), valid in every process.
unsafe impl PGRXSharedMemory for Shared {}

static LOG: PgLwLock<Shared> = unsafe { PgLwLock::new(c"pgext_enforcement_log") };
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// Requests the shared memory (only while preloading).
#[allow(unexpected_cfgs)] // pg_shmem_init! tests features (pg13..pg17) this crate does not declare
pub fn init() {
    pg_shmem_init!(LOG);
    AVAILABLE.store(true, Ordering::Relaxed);
}

/// Whether the log exists (pgext is preloaded).
pub fn available() -> bool {
    AVAILABLE.load(Ordering::Relaxed)
}

/// What a caller records.
pub struct Decision<'a> {
    pub outcome: Outcome,
    pub action: &'a str,
    pub object: &'a str,
    pub image: &'a str,
    pub failed: &'a str,
    pub detail: &'a str,
}

fn database_and_role() -> (String, String) {
    // SAFETY: plain reads of the backend's identity; the name functions return palloc'd strings
    // or NULL, and are safe to call in a transaction (their callers are in one).
    unsafe {
        let db = pg_sys::get_database_name(pg_sys::MyDatabaseId);
        let role = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), true);
        let s = |p: *mut std::ffi::c_char| {
            if p.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        (s(db), s(role))
    }
}

/// Records one decision (a no-op without shared memory).
pub fn record(d: &Decision<'_>) {
    if !available() {
        return;
    }
    let (database, role) = database_and_role();
    // SAFETY: reads of the clock and the backend's pid.
    let (at, pid) = unsafe { (pg_sys::GetCurrentTimestamp(), pg_sys::MyProcPid) };
    let mut g = LOG.exclusive();
    g.total += 1;
    let seq = g.total;
    g.counts[d.outcome as usize - 1] += 1;
    g.entries[((seq - 1) as usize) % CAPACITY] = Entry {
        seq,
        at,
        pid,
        outcome: d.outcome as u8,
        database: FixedStr::new(&database),
        role: FixedStr::new(&role),
        action: FixedStr::new(d.action),
        object: FixedStr::new(d.object),
        image: FixedStr::new(d.image),
        failed: FixedStr::new(d.failed),
        detail: FixedStr::new(d.detail),
    };
}

/// Counters by outcome: allowed, warned, refused, exempt.
pub fn counts() -> Option<[u64; 4]> {
    available().then(|| LOG.share().counts)
}

/// The recorded decisions, oldest first.
pub fn entries() -> Vec<Entry> {
    if !available() {
        return Vec::new();
    }
    let g = LOG.share();
    let mut out: Vec<Entry> = g.entries.iter().filter(|e| e.seq > 0).copied().collect();
    drop(g);
    out.sort_by_key(|e| e.seq);
    out
}

/// A row of `pgext.enforcement_log`.
pub type Row = (
    i64,
    Option<TimestampWithTimeZone>,
    i32,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The rows of `pgext.enforcement_log`.
pub fn rows() -> Vec<Row> {
    entries()
        .into_iter()
        .map(|e| {
            (
                e.seq as i64,
                TimestampWithTimeZone::try_from(e.at).ok(),
                e.pid,
                e.database.as_str().to_string(),
                e.role.as_str().to_string(),
                e.action.as_str().to_string(),
                e.object.as_str().to_string(),
                e.image.as_str().to_string(),
                Outcome::from_repr(e.outcome)
                    .map(Outcome::as_str)
                    .unwrap_or("")
                    .to_string(),
                e.failed.non_empty(),
                e.detail.non_empty(),
            )
        })
        .collect()
}
