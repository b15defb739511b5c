//! Host name resolution that never holds up a cancel.
//!
//! `getaddrinfo` blocks and cannot be interrupted. reqwest's default resolver runs it on tokio's
//! blocking pool, and dropping a runtime waits for every blocking task: a query cancel,
//! `statement_timeout` or fast shutdown would wait for a slow resolver (seconds to minutes). Here
//! each lookup runs on a detached thread of its own (started with every signal blocked) and
//! answers through a channel; the future that waits for it is dropped like any other when the call
//! is abandoned, and the thread ends by itself when `getaddrinfo` returns. The number of lookups
//! left running that way is bounded, so repeated cancels cannot pile up threads.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A blocking host name lookup: `getaddrinfo` by default, a replacement in tests.
pub type Lookup = fn(&str) -> std::io::Result<Vec<SocketAddr>>;

/// Lookups in flight in this process (including abandoned ones whose thread still runs).
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Most lookups in flight at once; beyond, a lookup fails at once (`unreachable`).
pub(crate) const MAX_IN_FLIGHT: usize = 8;

/// The system resolver (port 0: the connector sets the port).
pub(crate) fn system_lookup(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok((host, 0).to_socket_addrs()?.collect())
}

/// reqwest resolver running `lookup` on detached threads.
pub(crate) struct DetachedResolver {
    lookup: Lookup,
}

impl DetachedResolver {
    pub(crate) fn new(lookup: Lookup) -> Arc<Self> {
        Arc::new(DetachedResolver { lookup })
    }
}

/// Gives the slot back when the lookup thread ends (or could not start).
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_IN_FLIGHT).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Resolve for DetachedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let slot = Slot::take().ok_or_else(|| {
                std::io::Error::other(format!(
                    "too many host name lookups still running ({MAX_IN_FLIGHT}): the resolver is not answering"
                ))
            })?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            let thread = crate::threads::spawn("pgext-oci-dns", move || {
                let _slot = slot;
                let _ = tx.send(lookup(&host));
            });
            // Detached on purpose: never joined (see the module comment).
            drop(thread?);
            let addrs = rx
                .await
                .map_err(|_| std::io::Error::other("the host name lookup thread ended without an answer"))??;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Lookups currently in flight (for tests).
#[cfg(test)]
pub(crate) fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn sleepy(_host: &str) -> std::io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(3));
        Ok(vec![([127, 0, 0, 1], 0).into()])
    }

    fn quick(_host: &str) -> std::io::Result<Vec<SocketAddr>> {
        Ok(vec![([127, 0, 0, 1], 0).into()])
    }

    /// The slot count is process-wide: these tests must not overlap.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn name(s: &str) -> Name {
        s.parse().unwrap()
    }

    #[test]
    fn an_abandoned_lookup_does_not_hold_up_the_runtime() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let start = Instant::now();
        {
            let rt = crate::runtime().unwrap();
            let resolver = DetachedResolver::new(sleepy);
            let res = rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(100), resolver.resolve(name("slow.test"))).await
            });
            assert!(res.is_err(), "the lookup cannot have answered yet");
            // Something else a library might leave on the blocking pool.
            rt.block_on(async {
                drop(tokio::task::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_secs(3))
                }));
            });
        }
        assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    }

    #[test]
    fn lookups_answer_and_abandoned_ones_are_bounded() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let rt = crate::runtime().unwrap();
        let addrs: Vec<SocketAddr> = rt
            .block_on(DetachedResolver::new(quick).resolve(name("quick.test")))
            .unwrap()
            .collect();
        assert_eq!(addrs, vec![SocketAddr::from(([127, 0, 0, 1], 0))]);
        let resolver = DetachedResolver::new(sleepy);
        rt.block_on(async {
            for _ in 0..MAX_IN_FLIGHT + 2 {
                let _ = tokio::time::timeout(Duration::from_millis(20), resolver.resolve(name("slow.test"))).await;
            }
        });
        assert!(in_flight() <= MAX_IN_FLIGHT, "{}", in_flight());
        let err = rt
            .block_on(resolver.resolve(name("one-more.test")))
            .err()
            .expect("refused while the resolver hangs");
        assert!(err.to_string().contains("too many"), "{err}");
        // Give the slots back before the next test takes the lock.
        while in_flight() > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
