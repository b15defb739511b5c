//! The background worker: registered when pgext is preloaded, it takes the inventory and checks
//! the images every `pgext.check_interval`, publishes the status in shared memory (read by
//! `pgext.worker_status()` and `pgext.health()`, also on a standby), writes the history on a
//! primary, and logs state changes.
//!
//! Signals: SIGTERM runs PostgreSQL's own `die` handler, which sets `InterruptPending` and
//! `ProcDiePending`. The file and network building blocks poll `server::interrupt_pending()`, so
//! a download or a hash in flight stops within a fraction of a second, and the next
//! `CHECK_FOR_INTERRUPTS` ends the worker with the usual "terminating background worker" FATAL.
//! (pgrx's own SIGTERM handler only sets a flag those building blocks cannot see.) SIGHUP uses
//! pgrx's handler and reloads the configuration at the next wakeup.

pub mod cycle;
pub mod log;
pub mod rehash;

use std::ffi::c_int;
use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;

use crate::{gucs, shmem};
use cycle::{CycleOutcome, Memory, activity, now};

/// The worker's name in `pg_stat_activity.backend_type` and in the server log.
const WORKER_NAME: &str = "pgext health checker";

/// Delay before the postmaster restarts a worker that exited with an error (FATAL, a failed
/// connection). Short enough that a crash costs little; long enough not to flood the log when
/// `pgext.database` does not exist.
const RESTART_AFTER: Duration = Duration::from_secs(10);

unsafe extern "C-unwind" {
    /// PostgreSQL's SIGTERM handler for backends (`tcop/postgres.c`). Declared here because
    /// pgrx's binding of it is a Rust wrapper, not a function a signal can call.
    #[link_name = "die"]
    fn pg_die(postgres_signal_arg: c_int);
}

/// Registers the worker and its shared memory, when preloading; otherwise does nothing (every
/// on-demand function still works, and the status functions explain what is missing).
pub fn init() {
    // SAFETY: a plain read of a flag the postmaster sets around shared_preload_libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    shmem::init();
    BackgroundWorkerBuilder::new(WORKER_NAME)
        .set_type(WORKER_NAME)
        .set_library("pgext")
        .set_function("pgext_worker_main")
        .enable_spi_access()
        // enable_spi_access() starts at RecoveryFinished; a standby must be watched too.
        .set_start_time(BgWorkerStartTime::ConsistentState)
        .set_restart_time(Some(RESTART_AFTER))
        .load();
}

#[pg_guard]
unsafe extern "C-unwind" fn on_worker_exit(_code: c_int, _arg: pg_sys::Datum) {
    // Atomics only: this runs during proc_exit, possibly after an error.
    shmem::unregister_worker();
}

fn seconds(d: Option<Duration>) -> i64 {
    d.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn apply_settings() {
    let (check, verify) = (gucs::check_interval(), gucs::verify_interval());
    shmem::update_header(|h| {
        h.check_interval_s = seconds(Some(check));
        h.verify_interval_s = seconds(verify);
    });
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Entry point of the background worker process.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pgext_worker_main(_arg: pg_sys::Datum) {
    // SAFETY: installing handlers while signals are still blocked (BackgroundWorkerUnblockSignals
    // is called by attach_signal_handlers below); `die` is PostgreSQL's handler for this signal.
    unsafe {
        pg_sys::pqsignal_be(pg_sys::SIGTERM as c_int, Some(pg_die));
    }
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP);

    // SAFETY: MyProcPid/MyProcNumber are set before a worker's entry point runs; the callback
    // is a #[pg_guard] function that only touches atomics.
    unsafe {
        shmem::register_worker(pg_sys::MyProcPid, pg_sys::MyProcNumber);
        pg_sys::before_shmem_exit(Some(on_worker_exit), pg_sys::Datum::from(0));
    }
    let database = gucs::database();
    let started = now();
    shmem::update_header(|h| {
        h.started_at = started;
        // A predecessor that ended mid-cycle left its start behind.
        h.cycle_started_at = 0;
        h.database.set(&database);
        // Stays if connecting fails (FATAL), so pgext.health() can tell why no worker runs.
        h.last_error.set(&format!(
            "the worker could not connect to database \"{database}\" (pgext.database)"
        ));
    });
    apply_settings();
    activity(&format!("connecting to database {database}"), true);
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    shmem::update_header(|h| h.last_error.set(""));

    // SAFETY: allocates a custom wait event name in shared memory; main thread, after startup.
    let wait_event = unsafe { pg_sys::WaitEventExtensionNew(c"PgextWorkerMain".as_ptr()) };
    let mut memory = Memory::from_published(&shmem::published_images());
    let mut last_start: Option<i64> = None;
    let mut next_due = now();

    loop {
        pgrx::check_for_interrupts!();
        if BackgroundWorker::sighup_received() {
            // SAFETY: the documented way for a background worker to apply a reload.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            apply_settings();
            if let Some(start) = last_start {
                next_due = start.saturating_add(micros(gucs::check_interval()));
            }
            shmem::update_header(|h| h.next_cycle_at = next_due);
        }
        let (requested, upto) = shmem::pending_requests();
        if requested || now() >= next_due {
            let start = now();
            shmem::update_header(|h| h.cycle_started_at = start);
            let report = cycle::run(&mut memory);
            // Before the cycle is marked served: a backend woken by check_now(true) finds it.
            crate::session::share_digests();
            let end = now();
            last_start = Some(start);
            next_due = start.saturating_add(micros(gucs::check_interval()));
            shmem::publish(&report.slots, |h| {
                h.cycles += 1;
                h.cycle_started_at = 0;
                h.last_cycle_started_at = start;
                h.last_cycle_duration_us = end - start;
                h.last_cycle_outcome = report.outcome as u8;
                if report.outcome != CycleOutcome::Error {
                    h.last_success_at = end;
                }
                h.next_cycle_at = next_due;
                h.in_recovery = report.in_recovery;
                h.extension_installed = report.installed;
                h.trusted_keys = gucs::signers_configured();
                h.last_error.set(report.error.as_deref().unwrap_or(""));
            });
            shmem::mark_served(upto);
            continue;
        }
        let wait_ms = ((next_due - now()) / 1000).clamp(0, i64::from(i32::MAX));
        activity("waiting for the next check", false);
        // SAFETY: waiting on our own latch; WL_EXIT_ON_PM_DEATH ends the process should the
        // postmaster die.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as c_int,
                wait_ms,
                wait_event,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
    }
}
