//! Full re-hashes: every byte of a mounted image read again, paced.
//!
//! An ordinary re-hash takes each file's digest from the worker's cache when the file's size,
//! mtime and ctime are unchanged (`pgext_core::hash::HashCache`), so it reads only what changed
//! through the file system. That catches every write made through the kernel: any write, chmod,
//! rename or `touch` updates ctime, which no one can set back. It cannot catch bytes that change
//! underneath the file system — media corruption, a write to the block device or to the image's
//! backing file — since nothing in the inode changes then. A full re-hash reads the files again,
//! ignoring the cache, as the kernel serves them now.
//!
//! It reads on the worker's own thread so that it can be paced: after every buffer the cancel
//! poll compares the bytes this thread has read (`rchar` of `/proc/thread-self/io`) with what
//! `pgext.full_rehash_rate_limit` allows for the time elapsed, and sleeps on the worker's latch
//! until they agree, checking for interrupts every 50 ms.

use std::cell::Cell;
use std::time::{Duration, Instant};

use pgext_core::hash::READ_BUFFER_SIZE;
use pgext_core::tree::TreeEntry;
use pgrx::pg_sys;

use crate::tables::{CheckRecord, Outcome};
use crate::verify::{self, ScanHow};
use crate::{gucs, server};

/// Longest single pause, so that interrupts are still served promptly.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Bytes read by the calling thread so far (`rchar`: every `read`/`pread`, page cache or disk).
fn thread_rchar() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Keeps the reads of the calling thread under `rate` bytes per second on average.
struct Pacer {
    rate: u64,
    start: Instant,
    /// `rchar` at the start; `None` where the kernel has no per-thread I/O accounting, in which
    /// case every poll counts as one full buffer read (an over-estimate: slower, never faster).
    base: Option<u64>,
    polls: Cell<u64>,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate: rate.max(1),
            start: Instant::now(),
            base: thread_rchar(),
            polls: Cell::new(0),
        }
    }

    fn bytes_read(&self) -> u64 {
        let polls = self.polls.get();
        match self.base {
            Some(base) => thread_rchar().map_or(polls.saturating_mul(READ_BUFFER_SIZE as u64), |now| {
                now.saturating_sub(base)
            }),
            None => polls.saturating_mul(READ_BUFFER_SIZE as u64),
        }
    }

    /// The cancel poll of a paced scan: true when the scan must stop (a real interrupt).
    fn poll(&self) -> bool {
        self.polls.set(self.polls.get() + 1);
        loop {
            if server::interrupt_pending() {
                return true;
            }
            let allowed = Duration::from_secs_f64(self.bytes_read() as f64 / self.rate as f64);
            let elapsed = self.start.elapsed();
            if elapsed >= allowed {
                return false;
            }
            let pause = (allowed - elapsed).min(MAX_PAUSE);
            // SAFETY: waiting on our own latch on the main thread; a latch set by SIGTERM or
            // check_now() ends the wait early (the loop re-checks), postmaster death ends the
            // process. Requests are counted elsewhere, so resetting the latch loses nothing.
            unsafe {
                pg_sys::WaitLatch(
                    pg_sys::MyLatch,
                    (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                    pause.as_millis().max(1) as std::ffi::c_long,
                    pg_sys::PG_WAIT_EXTENSION,
                );
                pg_sys::ResetLatch(pg_sys::MyLatch);
            }
        }
    }
}

/// Re-hashes every file of the mounted image `name`, bypassing the digest cache, paced by
/// `pgext.full_rehash_rate_limit`, and compares it with the recorded tree. The digests read
/// replace the cached ones, so the ordinary re-hashes that follow see what this one saw.
pub fn full_rehash(name: &str, rec: &CheckRecord, expected: &[TreeEntry]) -> Outcome {
    let scan = match gucs::full_rehash_rate_limit() {
        Some(rate) => {
            let pacer = Pacer::new(rate);
            let poll = || pacer.poll();
            // One thread, the calling one: its reads are what the pacer measures and slows.
            verify::scan_mount_with(
                name,
                &ScanHow {
                    cached: false,
                    threads: 1,
                    cancel: &poll,
                },
            )
        }
        None => verify::scan_mount_with(
            name,
            &ScanHow {
                cached: false,
                threads: gucs::hash_threads(),
                cancel: &server::interrupt_pending,
            },
        ),
    };
    verify::recheck_with(name, rec, expected, scan)
}
