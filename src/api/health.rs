//! The background worker in SQL: `pgext.worker_status()`, `pgext.image_status()`,
//! `pgext.health()`, `pgext.check_now()`, `pgext.report()`, and the history tables
//! `pgext.check_runs` / `pgext.findings`.
//!
//! Everything except the history reads shared memory only, so it answers on a standby too.

use pgext_oci::cosign::SignatureStatus;
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::prelude::*;

use crate::error::SqlError;
use crate::worker::cycle::{CycleOutcome, ImageStatus, RegistryStatus};
use crate::worker::shmem::{self, Micros, Snapshot};

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
                crate::worker::cycle::signature_of(i.signature).map(|v| v.as_str().to_string()),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    TableIterator::new(rows)
}

/// `ok`, `degraded` or `failing`, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Degraded,
    Failing,
}

impl Health {
    fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "degraded",
            Health::Failing => "failing",
        }
    }
}

/// Judges the shared state at time `now`: failing when the worker is down or an image is not
/// what was pinned (drift, not mounted, incompatible); degraded when something keeps pgext from
/// vouching for the images (stale or failed checks, unreachable registry, verification errors,
/// inventory errors, images beyond the tracked maximum). Failing reasons come first.
pub fn evaluate(s: &Snapshot, now: Micros) -> (Health, Vec<String>) {
    let h = &s.header;
    let mut failing = Vec::new();
    let mut degraded = Vec::new();
    if s.pid == 0 {
        failing.push(match h.last_error.non_empty() {
            Some(e) => format!("the pgext worker is not running: {e}"),
            None => "the pgext worker is not running".to_string(),
        });
    } else if h.cycles == 0 {
        degraded.push("no check has completed yet".to_string());
    }
    if h.cycles > 0 {
        if CycleOutcome::from_u8(h.last_cycle_outcome) == CycleOutcome::Error {
            degraded.push(format!("the last check failed: {}", h.last_error.as_str()));
        }
        // Twice the interval, and at least a minute more: a slow cycle is not yet a stale one.
        let interval_us = h.check_interval_s.max(1).saturating_mul(1_000_000);
        let limit = interval_us
            .saturating_mul(2)
            .max(interval_us.saturating_add(60_000_000));
        if h.last_success_at == 0 {
            degraded.push("no check has succeeded yet".to_string());
        } else if now.saturating_sub(h.last_success_at) > limit {
            degraded.push(format!(
                "the last successful check was {} s ago (pgext.check_interval = {} s)",
                now.saturating_sub(h.last_success_at) / 1_000_000,
                h.check_interval_s
            ));
        }
        if !h.extension_installed {
            degraded.push(format!(
                "pgext is not installed in database \"{}\" (pgext.database): no pins, recorded trees or history",
                h.database.as_str()
            ));
        }
    }
    if h.untracked > 0 {
        degraded.push(format!(
            "{} image(s) beyond pgext.max_tracked_images = {} are not shown",
            h.untracked, s.capacity
        ));
    }
    for i in &s.images {
        let name = i.name.as_str();
        let status = ImageStatus::from_u8(i.status);
        if i.pinned && !i.mounted {
            failing.push(format!("image {name} is pinned but not mounted"));
        } else if status == ImageStatus::Drift {
            failing.push(format!(
                "image {name} differs from its pinned image: {} missing, {} modified, {} unexpected, {} changed",
                i.missing, i.modified, i.unexpected, i.changed
            ));
        }
        if i.incompatible > 0 {
            failing.push(format!(
                "image {name}: incompatible extension(s) {}",
                i.incompatible_names.as_str()
            ));
        }
        match status {
            ImageStatus::Unreachable => {
                degraded.push(format!("image {name}: registry unreachable: {}", i.last_error.as_str()))
            }
            ImageStatus::Error => degraded.push(format!(
                "image {name}: verification failed: [{}] {}",
                i.error_code.as_str(),
                i.last_error.as_str()
            )),
            ImageStatus::TagMoved => degraded.push(format!("image {name}: the pinned tag now names another image")),
            _ => {}
        }
        match crate::worker::cycle::signature_of(i.signature) {
            Some(SignatureStatus::Invalid) => degraded.push(format!(
                "image {name}: a signature is invalid (malformed, or signs another digest)"
            )),
            // Without trusted keys every signature is untrusted: only a site that set keys hears it.
            Some(s @ (SignatureStatus::Untrusted | SignatureStatus::Unsigned)) if h.trusted_keys => degraded.push(
                format!("image {name}: signature {s}: no signature by a key of pgext.trusted_keys"),
            ),
            _ => {}
        }
        if i.problem_errors > 0 && i.mounted {
            degraded.push(format!(
                "image {name}: {} problem(s), first: {}",
                i.problem_errors,
                i.problem.as_str()
            ));
        }
    }
    let status = if !failing.is_empty() {
        Health::Failing
    } else if !degraded.is_empty() {
        Health::Degraded
    } else {
        Health::Ok
    };
    failing.extend(degraded);
    (status, failing)
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

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use super::{Health, SignatureStatus, evaluate};
    use crate::worker::cycle::{CycleOutcome, ImageStatus};
    use crate::worker::shmem::{FixedStr, Header, ImageSlot, Snapshot};

    const SEC: i64 = 1_000_000;
    const NOW: i64 = 1_000_000 * SEC;

    fn running() -> Snapshot {
        let header = Header {
            cycles: 3,
            check_interval_s: 60,
            last_cycle_outcome: CycleOutcome::Ok as u8,
            last_success_at: NOW - 10 * SEC,
            extension_installed: true,
            ..Header::default()
        };
        Snapshot {
            header,
            images: Vec::new(),
            pid: 42,
            capacity: 64,
        }
    }

    fn image(name: &str, status: ImageStatus, mounted: bool) -> ImageSlot {
        ImageSlot {
            name: FixedStr::new(name),
            pinned: status != ImageStatus::Unpinned,
            mounted,
            status: status as u8,
            ..ImageSlot::EMPTY
        }
    }

    #[pg_test]
    fn health_rules() {
        type Edit = fn(&mut Snapshot);
        // (what changes from a healthy running worker, expected status, expected first reason)
        let cases: Vec<(Edit, Health, &str)> = vec![
            (|_| {}, Health::Ok, ""),
            (|s| s.pid = 0, Health::Failing, "the pgext worker is not running"),
            (|s| s.header.cycles = 0, Health::Degraded, "no check has completed yet"),
            (
                |s| s.header.last_success_at = NOW - 200 * SEC,
                Health::Degraded,
                "the last successful check was 200 s ago",
            ),
            (|s| s.header.last_success_at = NOW - 100 * SEC, Health::Ok, ""),
            (
                |s| s.header.last_cycle_outcome = CycleOutcome::Error as u8,
                Health::Degraded,
                "the last check failed",
            ),
            (
                |s| s.header.extension_installed = false,
                Health::Degraded,
                "pgext is not installed",
            ),
            (|s| s.header.untracked = 2, Health::Degraded, "2 image(s) beyond"),
            (
                |s| s.images.push(image("a", ImageStatus::Verified, true)),
                Health::Ok,
                "",
            ),
            (
                |s| s.images.push(image("a", ImageStatus::Unpinned, true)),
                Health::Ok,
                "",
            ),
            (
                |s| s.images.push(image("a", ImageStatus::Drift, true)),
                Health::Failing,
                "image a differs",
            ),
            (
                |s| s.images.push(image("a", ImageStatus::Drift, false)),
                Health::Failing,
                "image a is pinned but not mounted",
            ),
            (
                |s| s.images.push(image("a", ImageStatus::Unreachable, true)),
                Health::Degraded,
                "image a: registry unreachable",
            ),
            (
                |s| s.images.push(image("a", ImageStatus::Error, true)),
                Health::Degraded,
                "image a: verification failed",
            ),
            (
                |s| s.images.push(image("a", ImageStatus::TagMoved, true)),
                Health::Degraded,
                "image a: the pinned tag",
            ),
            (
                |s| {
                    let mut i = image("a", ImageStatus::Verified, true);
                    i.incompatible = 1;
                    i.incompatible_names = FixedStr::new("vector");
                    s.images.push(i);
                    s.images.push(image("b", ImageStatus::Unreachable, true));
                },
                Health::Failing,
                "image a: incompatible extension(s) vector",
            ),
            (
                |s| {
                    let mut i = image("a", ImageStatus::Unpinned, true);
                    i.problem_errors = 1;
                    i.problem = FixedStr::new("control_invalid: x");
                    s.images.push(i);
                },
                Health::Degraded,
                "image a: 1 problem(s), first: control_invalid: x",
            ),
            (
                |s| {
                    let mut i = image("a", ImageStatus::Verified, true);
                    i.signature = crate::worker::cycle::signature_code(Some(SignatureStatus::Unsigned));
                    s.images.push(i);
                },
                Health::Ok,
                "",
            ),
            (
                |s| {
                    s.header.trusted_keys = true;
                    let mut i = image("a", ImageStatus::Verified, true);
                    i.signature = crate::worker::cycle::signature_code(Some(SignatureStatus::Untrusted));
                    s.images.push(i);
                },
                Health::Degraded,
                "image a: signature untrusted",
            ),
            (
                |s| {
                    s.header.trusted_keys = true;
                    let mut i = image("a", ImageStatus::Verified, true);
                    i.signature = crate::worker::cycle::signature_code(Some(SignatureStatus::Signed));
                    s.images.push(i);
                },
                Health::Ok,
                "",
            ),
            (
                |s| {
                    let mut i = image("a", ImageStatus::Verified, true);
                    i.signature = crate::worker::cycle::signature_code(Some(SignatureStatus::Invalid));
                    s.images.push(i);
                },
                Health::Degraded,
                "image a: a signature is invalid",
            ),
        ];
        for (i, (edit, want, reason)) in cases.into_iter().enumerate() {
            let mut s = running();
            edit(&mut s);
            let (got, reasons) = evaluate(&s, NOW);
            assert_eq!(got, want, "case {i}: {reasons:?}");
            if reason.is_empty() {
                assert!(reasons.is_empty(), "case {i}: {reasons:?}");
            } else {
                assert!(reasons[0].starts_with(reason), "case {i}: {reasons:?}");
            }
        }
    }
}
