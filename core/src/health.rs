//! `pgext.health()`'s rules: from what the worker published, `ok`, `degraded` or `failing`, and
//! why. Failing when the worker is down or an image is not what was pinned (drift, not mounted,
//! incompatible); degraded when something keeps pgext from vouching for the images (stale or
//! failed checks, an unreachable registry, verification errors, inventory errors, bad or missing
//! signatures where keys are trusted, images beyond the tracked maximum).

use crate::status::{CycleOutcome, DiffCounts, ImageStatus, Micros, SignatureStatus};

/// The overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Health {
    /// Nothing to report.
    Ok,
    /// pgext cannot vouch for everything.
    Degraded,
    /// The worker is down or an image is not what was pinned.
    Failing,
}

impl Health {
    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The worker as published.
#[derive(Clone, Debug, Default)]
pub struct WorkerFacts<'a> {
    /// A worker process runs.
    pub running: bool,
    /// The last error it published (why it stopped, when it is not running).
    pub last_error: &'a str,
    /// Cycles completed.
    pub cycles: i64,
    /// How the last cycle ended.
    pub last_outcome: CycleOutcome,
    /// `pgext.check_interval`, in seconds.
    pub check_interval_s: i64,
    /// When the last cycle that did not fail ended; 0 for never.
    pub last_success_at: Micros,
    /// pgext is installed in `pgext.database`.
    pub extension_installed: bool,
    /// `pgext.database`.
    pub database: &'a str,
    /// Images beyond the tracked maximum.
    pub untracked: i32,
    /// `pgext.max_tracked_images`.
    pub capacity: usize,
    /// `pgext.trusted_keys` is set.
    pub trusted_keys: bool,
}

/// One published image.
#[derive(Clone, Debug, Default)]
pub struct ImageFacts<'a> {
    /// Its name.
    pub name: &'a str,
    /// It has a pin.
    pub pinned: bool,
    /// It is mounted (on a path PostgreSQL searches).
    pub mounted: bool,
    /// Its status.
    pub status: ImageStatus,
    /// Its differences from the pinned image.
    pub counts: DiffCounts,
    /// How many extensions are predicted not to load, and their names.
    pub incompatible: i32,
    /// Their names, comma-separated.
    pub incompatible_names: &'a str,
    /// The last verification's error code and message.
    pub error_code: &'a str,
    /// Its message.
    pub last_error: &'a str,
    /// The signature verdict of the last verification that judged one.
    pub signature: Option<SignatureStatus>,
    /// Inventory problems of severity error, and the first one.
    pub problem_errors: i32,
    /// The first problem, as `code: message`.
    pub problem: &'a str,
}

/// Judges the published state at time `now`. Failing reasons come first.
pub fn evaluate(w: &WorkerFacts<'_>, images: &[ImageFacts<'_>], now: Micros) -> (Health, Vec<String>) {
    let mut failing = Vec::new();
    let mut degraded = Vec::new();
    if !w.running {
        failing.push(if w.last_error.is_empty() {
            "the pgext worker is not running".to_string()
        } else {
            format!("the pgext worker is not running: {}", w.last_error)
        });
    } else if w.cycles == 0 {
        degraded.push("no check has completed yet".to_string());
    }
    if w.cycles > 0 {
        if w.last_outcome == CycleOutcome::Error {
            degraded.push(format!("the last check failed: {}", w.last_error));
        }
        // Twice the interval, and at least a minute more: a slow cycle is not yet a stale one.
        let interval_us = w.check_interval_s.max(1).saturating_mul(1_000_000);
        let limit = interval_us
            .saturating_mul(2)
            .max(interval_us.saturating_add(60_000_000));
        if w.last_success_at == 0 {
            degraded.push("no check has succeeded yet".to_string());
        } else if now.saturating_sub(w.last_success_at) > limit {
            degraded.push(format!(
                "the last successful check was {} s ago (pgext.check_interval = {} s)",
                now.saturating_sub(w.last_success_at) / 1_000_000,
                w.check_interval_s
            ));
        }
        if !w.extension_installed {
            degraded.push(format!(
                "pgext is not installed in database \"{}\" (pgext.database): no pins, recorded trees or history",
                w.database
            ));
        }
    }
    if w.untracked > 0 {
        degraded.push(format!(
            "{} image(s) beyond pgext.max_tracked_images = {} are not shown",
            w.untracked, w.capacity
        ));
    }
    for i in images {
        let name = i.name;
        if i.pinned && !i.mounted {
            failing.push(format!("image {name} is pinned but not mounted"));
        } else if i.status == ImageStatus::Drift {
            let c = i.counts;
            failing.push(format!(
                "image {name} differs from its pinned image: {} missing, {} modified, {} unexpected, {} changed",
                c.missing, c.modified, c.unexpected, c.changed
            ));
        }
        if i.incompatible > 0 {
            failing.push(format!(
                "image {name}: incompatible extension(s) {}",
                i.incompatible_names
            ));
        }
        match i.status {
            ImageStatus::Unreachable => degraded.push(format!("image {name}: registry unreachable: {}", i.last_error)),
            ImageStatus::Error => degraded.push(format!(
                "image {name}: verification failed: [{}] {}",
                i.error_code, i.last_error
            )),
            ImageStatus::TagMoved => degraded.push(format!("image {name}: the pinned tag now names another image")),
            _ => {}
        }
        match i.signature {
            Some(SignatureStatus::Invalid) => degraded.push(format!(
                "image {name}: a signature is invalid (malformed, or signs another digest)"
            )),
            // Without trusted keys every signature is untrusted: only a site that set keys hears it.
            Some(s @ (SignatureStatus::Untrusted | SignatureStatus::Unsigned)) if w.trusted_keys => degraded.push(
                format!("image {name}: signature {s}: no signature by a key of pgext.trusted_keys"),
            ),
            _ => {}
        }
        if i.problem_errors > 0 && i.mounted {
            degraded.push(format!(
                "image {name}: {} problem(s), first: {}",
                i.problem_errors, i.problem
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

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000;
    const NOW: i64 = 1_000_000 * SEC;

    fn running() -> WorkerFacts<'static> {
        WorkerFacts {
            running: true,
            cycles: 3,
            check_interval_s: 60,
            last_outcome: CycleOutcome::Ok,
            last_success_at: NOW - 10 * SEC,
            extension_installed: true,
            database: "postgres",
            capacity: 64,
            ..WorkerFacts::default()
        }
    }

    fn image(name: &'static str, status: ImageStatus, mounted: bool) -> ImageFacts<'static> {
        ImageFacts {
            name,
            pinned: status != ImageStatus::Unpinned,
            mounted,
            status,
            ..ImageFacts::default()
        }
    }

    fn signed(status: SignatureStatus) -> ImageFacts<'static> {
        ImageFacts {
            signature: Some(status),
            ..image("a", ImageStatus::Verified, true)
        }
    }

    #[test]
    fn health_rules() {
        type Edit = fn(&mut WorkerFacts<'static>, &mut Vec<ImageFacts<'static>>);
        // (what changes from a healthy running worker, expected status, expected first reason)
        let cases: Vec<(Edit, Health, &str)> = vec![
            (|_, _| {}, Health::Ok, ""),
            (
                |w, _| w.running = false,
                Health::Failing,
                "the pgext worker is not running",
            ),
            (
                |w, _| {
                    w.running = false;
                    w.last_error = "terminated by signal";
                },
                Health::Failing,
                "the pgext worker is not running: terminated by signal",
            ),
            (|w, _| w.cycles = 0, Health::Degraded, "no check has completed yet"),
            (
                |w, _| w.last_success_at = NOW - 200 * SEC,
                Health::Degraded,
                "the last successful check was 200 s ago",
            ),
            // Within twice the interval plus a minute: not stale yet.
            (|w, _| w.last_success_at = NOW - 100 * SEC, Health::Ok, ""),
            (
                |w, _| w.last_success_at = 0,
                Health::Degraded,
                "no check has succeeded yet",
            ),
            (
                |w, _| w.last_outcome = CycleOutcome::Error,
                Health::Degraded,
                "the last check failed",
            ),
            (
                |w, _| w.extension_installed = false,
                Health::Degraded,
                "pgext is not installed in database \"postgres\"",
            ),
            (|w, _| w.untracked = 2, Health::Degraded, "2 image(s) beyond"),
            (|_, i| i.push(image("a", ImageStatus::Verified, true)), Health::Ok, ""),
            (|_, i| i.push(image("a", ImageStatus::Unpinned, true)), Health::Ok, ""),
            (
                |_, i| i.push(image("a", ImageStatus::NeverChecked, true)),
                Health::Ok,
                "",
            ),
            (
                |_, i| i.push(image("a", ImageStatus::Drift, true)),
                Health::Failing,
                "image a differs",
            ),
            (
                |_, i| i.push(image("a", ImageStatus::Drift, false)),
                Health::Failing,
                "image a is pinned but not mounted",
            ),
            (
                |_, i| i.push(image("a", ImageStatus::Unreachable, true)),
                Health::Degraded,
                "image a: registry unreachable",
            ),
            (
                |_, i| i.push(image("a", ImageStatus::Error, true)),
                Health::Degraded,
                "image a: verification failed",
            ),
            (
                |_, i| i.push(image("a", ImageStatus::TagMoved, true)),
                Health::Degraded,
                "image a: the pinned tag",
            ),
            // Failing reasons come before degraded ones, whatever the image order.
            (
                |_, i| {
                    i.push(image("b", ImageStatus::Unreachable, true));
                    i.push(ImageFacts {
                        incompatible: 1,
                        incompatible_names: "vector",
                        ..image("a", ImageStatus::Verified, true)
                    });
                },
                Health::Failing,
                "image a: incompatible extension(s) vector",
            ),
            (
                |_, i| {
                    i.push(ImageFacts {
                        problem_errors: 1,
                        problem: "control_invalid: x",
                        ..image("a", ImageStatus::Unpinned, true)
                    })
                },
                Health::Degraded,
                "image a: 1 problem(s), first: control_invalid: x",
            ),
            // An unmounted image's inventory problems are not the server's.
            (
                |_, i| {
                    i.push(ImageFacts {
                        problem_errors: 1,
                        problem: "control_invalid: x",
                        ..image("a", ImageStatus::Unpinned, false)
                    })
                },
                Health::Ok,
                "",
            ),
            (|_, i| i.push(signed(SignatureStatus::Unsigned)), Health::Ok, ""),
            (
                |w, i| {
                    w.trusted_keys = true;
                    i.push(signed(SignatureStatus::Untrusted));
                },
                Health::Degraded,
                "image a: signature untrusted",
            ),
            (
                |w, i| {
                    w.trusted_keys = true;
                    i.push(signed(SignatureStatus::Unsigned));
                },
                Health::Degraded,
                "image a: signature unsigned",
            ),
            (
                |w, i| {
                    w.trusted_keys = true;
                    i.push(signed(SignatureStatus::Signed));
                },
                Health::Ok,
                "",
            ),
            (
                |_, i| i.push(signed(SignatureStatus::Invalid)),
                Health::Degraded,
                "image a: a signature is invalid",
            ),
        ];
        for (n, (edit, want, reason)) in cases.into_iter().enumerate() {
            let mut w = running();
            let mut images = Vec::new();
            edit(&mut w, &mut images);
            let (got, reasons) = evaluate(&w, &images, NOW);
            assert_eq!(got, want, "case {n}: {reasons:?}");
            if reason.is_empty() {
                assert!(reasons.is_empty(), "case {n}: {reasons:?}");
            } else {
                assert!(reasons[0].starts_with(reason), "case {n}: {reasons:?}");
            }
        }
    }
}
