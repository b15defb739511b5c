//! Cooperative interruption: the caller's cancel check plus an optional overall deadline.
//!
//! The cancel closure — which in a PostgreSQL backend reads the interrupt flags and may only run
//! on the caller's thread — is called only there: from inside futures on a 100 ms tick (also while
//! waiting for worker threads), and every 1 MiB of synchronous work done on that thread. Worker
//! threads never call it; they watch a [`StopFlag`] that the caller's thread raises when it gives
//! up (cancel, deadline, error) and then joins them.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::OciError;

/// How often a pending network wait re-checks the cancel closure.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Synchronous work checks after this many bytes (≈ 5 ms of hashing on a slow core).
const CHECK_EVERY: u64 = 1 << 20;

/// The caller's cancel closure, an optional deadline, and a description of the current phase.
pub(crate) struct Interrupt<'a> {
    cancel: &'a dyn Fn() -> bool,
    deadline: Option<(Instant, Duration)>,
    phase: std::cell::RefCell<String>,
    since_check: Cell<u64>,
}

impl<'a> Interrupt<'a> {
    pub(crate) fn new(cancel: &'a dyn Fn() -> bool, total_timeout: Option<Duration>) -> Self {
        Interrupt {
            cancel,
            deadline: total_timeout.map(|t| (Instant::now() + t, t)),
            phase: std::cell::RefCell::new("starting".to_owned()),
            since_check: Cell::new(0),
        }
    }

    /// Names what is being done, for `cancelled while …` / `timed out while …`.
    pub(crate) fn set_phase(&self, phase: impl Into<String>) {
        *self.phase.borrow_mut() = phase.into();
    }

    /// Errors if cancelled or past the deadline.
    pub(crate) fn check(&self) -> Result<(), OciError> {
        self.since_check.set(0);
        if (self.cancel)() {
            return Err(OciError::Cancelled {
                during: self.phase.borrow().clone(),
            });
        }
        if let Some((at, limit)) = self.deadline
            && Instant::now() >= at
        {
            return Err(OciError::Timeout {
                during: self.phase.borrow().clone(),
                seconds: limit.as_secs_f64(),
            });
        }
        Ok(())
    }

    /// Counts `n` bytes of synchronous work and checks once per [`CHECK_EVERY`] bytes.
    pub(crate) fn progress(&self, n: u64) -> Result<(), OciError> {
        let total = self.since_check.get().saturating_add(n);
        if total >= CHECK_EVERY {
            self.check()
        } else {
            self.since_check.set(total);
            Ok(())
        }
    }

    /// Runs `fut`, abandoning it (dropping it, which closes its connections) as soon as a check
    /// fails. Waits of any length end within one [`TICK`].
    pub(crate) async fn run<T>(&self, fut: impl Future<Output = Result<T, OciError>>) -> Result<T, OciError> {
        self.check()?;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let fut = std::pin::pin!(fut);
        let mut fut = fut;
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return out,
                _ = tick.tick() => self.check()?,
            }
        }
    }
}

/// Where long synchronous work (layer application) reports progress and learns whether to stop.
pub(crate) trait Checkpoint {
    /// Counts `n` bytes of work; errors if the work must stop.
    fn progress(&self, n: u64) -> Result<(), OciError>;
}

impl Checkpoint for Interrupt<'_> {
    fn progress(&self, n: u64) -> Result<(), OciError> {
        Interrupt::progress(self, n)
    }
}

/// A worker thread's view of "give up": raised by the caller's thread, checked by workers.
#[derive(Clone, Default)]
pub(crate) struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks every holder to stop.
    pub(crate) fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether stopping was asked for.
    pub(crate) fn raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Checkpoint for StopFlag {
    /// One relaxed load per read: cheap enough not to need batching.
    fn progress(&self, _n: u64) -> Result<(), OciError> {
        if self.raised() {
            // Never reported: the caller's thread raised the flag and reports its own reason.
            return Err(OciError::Cancelled {
                during: "stopping the worker threads".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn cancel_interrupts_a_pending_wait_within_a_tick() {
        let start = Instant::now();
        let cancel = move || start.elapsed() > Duration::from_millis(250);
        let intr = Interrupt::new(&cancel, None);
        intr.set_phase("waiting");
        let res: Result<(), OciError> = rt().block_on(intr.run(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }));
        let err = res.unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Cancelled);
        assert!(err.to_string().contains("waiting"), "{err}");
        assert!(start.elapsed() < Duration::from_millis(600), "{:?}", start.elapsed());
    }

    #[test]
    fn deadline_is_a_timeout() {
        let never = || false;
        let intr = Interrupt::new(&never, Some(Duration::from_millis(150)));
        let start = Instant::now();
        let res: Result<(), OciError> = rt().block_on(intr.run(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }));
        assert_eq!(res.unwrap_err().code(), crate::ErrorCode::Timeout);
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn progress_checks_every_mebibyte() {
        let calls = Cell::new(0u32);
        let cancel = || {
            calls.set(calls.get() + 1);
            false
        };
        let intr = Interrupt::new(&cancel, None);
        for _ in 0..64 {
            intr.progress(64 * 1024).unwrap();
        }
        assert_eq!(calls.get(), 4);
    }
}
