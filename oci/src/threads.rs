//! Worker threads that never receive signals.
//!
//! Inside a PostgreSQL backend, signals (query cancel, `statement_timeout`, termination) must be
//! handled by the main thread: PostgreSQL's handlers assume it. A thread inherits its creator's
//! signal mask, so workers are spawned while every signal is blocked on the creating thread; the
//! creator's mask is restored right after, and signals that arrived meanwhile are then delivered
//! to it. (pgext_core's hashing threads are started the same way.)

use std::io;
use std::thread::JoinHandle;

use pgext_core::hash::SignalsBlocked;

/// Spawns a named thread with every signal blocked.
pub(crate) fn spawn<T, F>(name: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let _blocked = SignalsBlocked::new();
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}

/// Blocks every signal on the current thread for good: for threads others start (tokio's
/// blocking pool, which runs DNS lookups), where the mask can only be set once they run.
pub(crate) fn block_signals_here() {
    std::mem::forget(SignalsBlocked::new());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::MaybeUninit;

    /// The calling thread's blocked-signal set.
    fn blocked() -> libc::sigset_t {
        let mut cur = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: with a null new set, pthread_sigmask only writes the current mask into `cur`.
        unsafe {
            assert_eq!(
                libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), cur.as_mut_ptr()),
                0
            );
            cur.assume_init()
        }
    }

    fn is_blocked(set: &libc::sigset_t, sig: libc::c_int) -> bool {
        // SAFETY: `set` is an initialised signal set.
        unsafe { libc::sigismember(set, sig) == 1 }
    }

    #[test]
    fn workers_block_every_signal_and_the_caller_keeps_its_mask() {
        let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGALRM, libc::SIGUSR1, libc::SIGUSR2];
        let before: Vec<bool> = signals.iter().map(|&s| is_blocked(&blocked(), s)).collect();
        let in_worker = spawn("pgext-oci-test", move || {
            let set = blocked();
            signals.iter().map(|&s| is_blocked(&set, s)).collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(in_worker, vec![true; signals.len()]);
        let after: Vec<bool> = signals.iter().map(|&s| is_blocked(&blocked(), s)).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn the_runtime_blocking_pool_blocks_signals_and_the_caller_keeps_its_mask() {
        let sig = libc::SIGINT;
        let before = is_blocked(&blocked(), sig);
        let rt = crate::runtime().unwrap();
        let in_pool = rt
            .block_on(async { tokio::task::spawn_blocking(move || is_blocked(&blocked(), sig)).await })
            .unwrap();
        assert!(in_pool, "a blocking-pool thread can take SIGINT");
        assert_eq!(is_blocked(&blocked(), sig), before);
    }
}
