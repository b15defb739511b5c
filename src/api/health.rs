//! The background worker in SQL: `pgext.worker_status()`, `pgext.image_status()`,
//! `pgext.health()`, `pgext.check_now()`, `pgext.report()`, and the history tables
//! `pgext.check_runs` / `pgext.findings`.
//!
//! Everything except the history reads shared memory only, so it answers on a standby too.

use pgext_core::health::{self, Health, ImageFacts, WorkerFacts};
use pgext_core::status::{CycleOutcome, DiffCounts, ImageStatus, RegistryStatus, SignatureStatus};
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::prelude::*;

use crate::error::SqlError;
use crate::shmem::{self, Micros, Snapshot};

/// The shared state, or the error pg_stat_statements raises in the same situation.
fn shared() -> Snapshot {
    shmem::snapshot().unwrap_or_else(|| {
        SqlError::Prerequisite {
            message: "pgext's shared memory is not available".to_string(),
            hint: "pgext must be loaded via shared_preload_libraries".to_string(),
        }
        .raise()
    })
}

fn ts(t: Micros) -> Option<TimestampWithTimeZone> {
    (t != 0).then(|| TimestampWithTimeZone::try_from(t).ok()).flatten()
}

fn secs_interval(s: i64) -> Option<Interval> {
    (s > 0).then(|| Interval::from_micros(s.saturating_mul(1_000_000)))
}

fn now() -> Micros {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// The worker and its last cycle, in one row.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn worker_status() -> TableIterator<
    'static,
    (
        name!(up, bool),
        name!(pid, Option<i32>),
        name!(database, Option<String>),
        name!(started_at, Option<TimestampWithTimeZone>),
        name!(in_recovery, bool),
        name!(extension_installed, bool),
        name!(cycles, i64),
        name!(cycle_running, bool),
        name!(activity, Option<String>),
        name!(last_cycle_started_at, Option<TimestampWithTimeZone>),
        name!(last_cycle_duration, Option<Interval>),
        name!(last_cycle_outcome, Option<String>),
        name!(last_success_at, Option<TimestampWithTimeZone>),
        name!(next_cycle_at, Option<TimestampWithTimeZone>),
        name!(check_interval, Option<Interval>),
        name!(verify_interval, Option<Interval>),
        name!(images, i32),
        name!(untracked_images, i32),
        name!(max_tracked_images, i32),
        name!(last_error, Option<String>),
    ),
> {
    let s = shared();
    let h = &s.header;
    let up = s.pid != 0;
    TableIterator::once((
        up,
        up.then_some(s.pid),
        h.database.non_empty(),
        ts(h.started_at),
        h.in_recovery,
        h.extension_installed,
        h.cycles,
        up && h.cycle_started_at != 0,
        if up { h.activity.non_empty() } else { None },
        ts(h.last_cycle_started_at),
        (h.cycles > 0).then(|| Interval::from_micros(h.last_cycle_duration_us)),
        CycleOutcome::from_u8(h.last_cycle_outcome).as_str().map(str::to_string),
        ts(h.last_success_at),
        if up { ts(h.next_cycle_at) } else { None },
        secs_interval(h.check_interval_s),
        secs_interval(h.verify_interval_s),
        h.images,
        h.untracked,
        i32::try_from(s.capacity).unwrap_or(i32::MAX),
        h.last_error.non_empty(),
    ))
}

/// One row per image, as the worker last saw it.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn image_status() -> TableIterator<
    'static,
    (
        name!(image, String),
        name!(reference, Option<String>),
        name!(mounted, bool),
        name!(pinned, bool),
        name!(status, String),
        name!(status_since, Option<TimestampWithTimeZone>),
        name!(missing, i32),
        name!(modified, i32),
        name!(unexpected, i32),
        name!(changed, i32),
        name!(extensions, i32),
        name!(incompatible_extensions, Option<Vec<String>>),
        name!(problems, i32),
        name!(problem, Option<String>),
        name!(last_checked, Option<TimestampWithTimeZone>),
        name!(last_verified, Option<TimestampWithTimeZone>),
        name!(last_verify_attempt, Option<TimestampWithTimeZone>),
        name!(registry_status, Option<String>),
        name!(error_code, Option<String>),
        name!(last_error, Option<String>),
        name!(signature, Option<String>),
    ),
> {
    let s = shared();
    let mut rows: Vec<_> = s
        .images
        .iter()
        .map(|i| {
            (
                i.name.as_str().to_string(),
                i.reference.non_empty(),
                i.mounted,
                i.pinned,
                ImageStatus::from_u8(i.status).as_str().to_string(),
                ts(i.status_since),
                i.missing,
                i.modified,
                i.unexpected,
                i.changed,
                i.extensions,
                (i.incompatible >= 0).then(|| {
                    i.incompatible_names
                        .as_str()
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_string)
                        .collect()
                }),
                i.problems,
                i.problem.non_empty(),
                ts(i.last_checked),
                ts(i.last_verified),
                ts(i.last_verify_attempt),
                RegistryStatus::from_u8(i.registry).as_str().map(str::to_string),
                i.error_code.non_empty(),
                i.last_error.non_empty(),
                SignatureStatus::from_code(i.signature).map(|v| v.as_str().to_string()),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    TableIterator::new(rows)
}

/// Judges the shared state at time `now` by [`pgext_core::health::evaluate`]'s rules.
fn evaluate(s: &Snapshot, now: Micros) -> (Health, Vec<String>) {
    let h = &s.header;
    let worker = WorkerFacts {
        running: s.pid != 0,
        last_error: h.last_error.as_str(),
        cycles: h.cycles,
        last_outcome: CycleOutcome::from_u8(h.last_cycle_outcome),
        check_interval_s: h.check_interval_s,
        last_success_at: h.last_success_at,
        extension_installed: h.extension_installed,
        database: h.database.as_str(),
        untracked: h.untracked,
        capacity: s.capacity,
        trusted_keys: h.trusted_keys,
    };
    let images: Vec<ImageFacts<'_>> = s
        .images
        .iter()
        .map(|i| ImageFacts {
            name: i.name.as_str(),
            pinned: i.pinned,
            mounted: i.mounted,
            status: ImageStatus::from_u8(i.status),
            counts: DiffCounts {
                missing: i.missing,
                modified: i.modified,
                unexpected: i.unexpected,
                changed: i.changed,
            },
            incompatible: i.incompatible,
            incompatible_names: i.incompatible_names.as_str(),
            error_code: i.error_code.as_str(),
            last_error: i.last_error.as_str(),
            signature: SignatureStatus::from_code(i.signature),
            problem_errors: i.problem_errors,
            problem: i.problem.as_str(),
        })
        .collect();
    health::evaluate(&worker, &images, now)
}

/// One row for probes and dashboards: `ok`, `degraded` or `failing`, with the reasons.
#[pg_extern(volatile)]
fn health() -> TableIterator<
    'static,
    (
        name!(status, String),
        name!(reasons, Vec<String>),
        name!(worker_up, bool),
        name!(last_check_at, Option<TimestampWithTimeZone>),
    ),
> {
    let s = shared();
    let (status, reasons) = evaluate(&s, now());
    let last = s.header.last_cycle_started_at;
    let last_end = if last == 0 {
        0
    } else {
        last.saturating_add(s.header.last_cycle_duration_us)
    };
    TableIterator::once((status.as_str().to_string(), reasons, s.pid != 0, ts(last_end)))
}

/// Wakes the worker for an immediate cycle. With `wait`, returns once a cycle that started after
/// the call has completed. Returns false when no worker runs.
#[pg_extern(volatile, parallel_unsafe)]
fn check_now(wait: default!(bool, false)) -> bool {
    let _ = shared();
    let Some(request) = shmem::request_cycle() else {
        return false;
    };
    if !wait {
        return true;
    }
    loop {
        if shmem::served(request) {
            return true;
        }
        if shared().pid == 0 {
            return false;
        }
        // SAFETY: waiting on our own latch with a timeout; cancel and statement_timeout are
        // honoured by the check that follows.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                100,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::check_for_interrupts!();
    }
}

extension_sql_file!(
    "../../sql/worker.sql",
    name = "worker_objects",
    requires = [worker_status, image_status, health, check_now, "image_tables"]
);
