//! Conditions for the worker's state-change logging: a condition (an image drifts, a registry
//! becomes unreachable, an extension becomes incompatible, a cycle fails) is logged once at
//! WARNING when it appears and once at LOG when it clears; a steady state logs nothing. This
//! module decides what appeared and what cleared; the worker writes the lines.

use crate::codes::Code;
use std::collections::{BTreeMap, HashSet};

use crate::problem::Severity;
use crate::status::Finding;

/// What a condition is about: image ("" for the worker itself), extension ("" for the image) and
/// the finding's code.
pub type Key = (String, String, String);

/// The conditions in effect, with the detail they were last seen with.
#[derive(Debug, Default)]
pub struct Conditions {
    active: BTreeMap<Key, String>,
}

/// What changed between two cycles.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// New conditions, with their detail.
    pub appeared: Vec<(Key, String)>,
    /// Conditions that cleared, with the detail they had.
    pub cleared: Vec<(Key, String)>,
}

/// Whether a finding is a condition worth a log line: errors, and the warnings that mean the
/// images can no longer be vouched for. An extension's own errors are summed up by its one
/// `incompatible` finding, so a broken extension makes one line, not one per cause.
pub fn is_condition(f: &Finding) -> bool {
    match f.code {
        Code::Unreachable | Code::TagMoved | Code::NotInstalled => true,
        _ => f.severity == Severity::Error && (f.extension.is_none() || f.code == Code::Incompatible),
    }
}

fn key_of(f: &Finding) -> Key {
    (
        f.image.clone().unwrap_or_default(),
        f.extension.clone().unwrap_or_default(),
        f.code.to_string(),
    )
}

impl Conditions {
    /// Replaces the conditions with those among `findings` and returns what changed. Images in
    /// `frozen` could not be checked this cycle: their previous conditions are kept as they were
    /// (no recovery is claimed for what was not looked at); with `all_frozen`, every previous
    /// condition is kept.
    pub fn update(&mut self, findings: &[Finding], frozen: &HashSet<String>, all_frozen: bool) -> Changes {
        let mut next: BTreeMap<Key, String> = findings
            .iter()
            .filter(|f| is_condition(f))
            .map(|f| (key_of(f), f.message.clone()))
            .collect();
        for (k, v) in &self.active {
            let keep = all_frozen || (!k.0.is_empty() && frozen.contains(&k.0));
            if keep && !next.contains_key(k) {
                next.insert(k.clone(), v.clone());
            }
        }
        let mut changes = Changes::default();
        for (k, v) in &next {
            if !self.active.contains_key(k) {
                changes.appeared.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in &self.active {
            if !next.contains_key(k) {
                changes.cleared.push((k.clone(), v.clone()));
            }
        }
        self.active = next;
        changes
    }
}

/// "pgext: image \"x\": drift", "pgext: extension \"e\" in image \"x\": incompatible", or for the
/// worker itself "pgext: not_installed".
pub fn headline(key: &Key) -> String {
    match (key.0.as_str(), key.1.as_str()) {
        ("", _) => format!("pgext: {}", key.2),
        (image, "") => format!("pgext: image \"{image}\": {}", key.2),
        (image, ext) => format!("pgext: extension \"{ext}\" in image \"{image}\": {}", key.2),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn f(image: &str, code: &'static str, severity: Severity, message: &str) -> Finding {
        Finding {
            image: Some(image.to_string()).filter(|s| !s.is_empty()),
            extension: None,
            code: code.parse().unwrap(),
            severity,
            message: message.to_string(),
        }
    }

    fn ext(image: &str, extension: &str, code: &'static str) -> Finding {
        Finding {
            image: Some(image.to_string()),
            extension: Some(extension.to_string()),
            code: code.parse().unwrap(),
            severity: Severity::Error,
            message: "x".to_string(),
        }
    }

    #[test]
    fn conditions_log_once_and_recover() {
        let mut c = Conditions::default();
        let none = HashSet::new();
        // (findings, frozen images, all frozen) -> (appeared codes, cleared codes)
        type Case = (
            Vec<Finding>,
            Vec<&'static str>,
            bool,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            // A drift and an unreachable registry appear; an inventory warning is no condition.
            (
                vec![
                    f("a", "drift", Severity::Error, "1 modified"),
                    f("b", "unreachable", Severity::Warning, "connection refused"),
                    f("b", "not_on_path", Severity::Warning, "lib/"),
                    ext("b", "vector", "library_not_found"),
                    ext("b", "vector", "incompatible"),
                ],
                vec![],
                false,
                vec!["drift", "unreachable", "incompatible"],
                vec![],
            ),
            // Same conditions, other details: nothing is logged again.
            (
                vec![
                    f("a", "drift", Severity::Error, "2 modified"),
                    f("b", "unreachable", Severity::Warning, "timed out"),
                    ext("b", "vector", "incompatible"),
                ],
                vec![],
                false,
                vec![],
                vec![],
            ),
            // b could not be checked: its conditions are kept, a recovers.
            (vec![], vec!["b"], false, vec![], vec!["drift"]),
            // A failed cycle keeps everything.
            (
                vec![f("", "read_failed", Severity::Error, "x")],
                vec![],
                true,
                vec!["read_failed"],
                vec![],
            ),
            // Everything clears.
            (
                vec![],
                vec![],
                false,
                vec![],
                vec!["read_failed", "unreachable", "incompatible"],
            ),
        ];
        for (i, (findings, frozen, all, appeared, cleared)) in cases.into_iter().enumerate() {
            let frozen: HashSet<String> = frozen.iter().map(|s| s.to_string()).collect();
            let ch = c.update(&findings, if frozen.is_empty() { &none } else { &frozen }, all);
            let got_a: Vec<&str> = ch.appeared.iter().map(|(k, _)| k.2.as_str()).collect();
            let got_c: Vec<&str> = ch.cleared.iter().map(|(k, _)| k.2.as_str()).collect();
            assert_eq!(got_a, appeared, "case {i}: appeared");
            assert_eq!(got_c, cleared, "case {i}: cleared");
        }
    }
}

#[cfg(test)]
mod headline_tests {
    use super::{Key, headline};

    #[test]
    fn headlines() {
        let k = |a: &str, b: &str, c: &str| -> Key { (a.into(), b.into(), c.into()) };
        assert_eq!(headline(&k("", "", "not_installed")), "pgext: not_installed");
        assert_eq!(headline(&k("x", "", "drift")), "pgext: image \"x\": drift");
        assert_eq!(
            headline(&k("x", "e", "incompatible")),
            "pgext: extension \"e\" in image \"x\": incompatible"
        );
    }
}
