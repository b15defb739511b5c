//! The one shape every per-row finding takes in SQL: a stable code, a severity, a message.

use std::fmt;

/// How much a finding matters. Its SQL name is the variant in lower case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr, strum::Display, strum::EnumString,
)]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing fails.
    Info,
    /// Something is off, but what PostgreSQL does still works (or works only partly).
    Warning,
    /// PostgreSQL will fail (or already fails) because of it.
    Error,
}

impl Severity {
    /// Stable name used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One finding about one row (an image, an extension, a library).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine-readable code, e.g. `library_not_found`.
    pub code: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What it means, for a person.
    pub message: String,
}

impl Problem {
    /// A finding that makes PostgreSQL fail.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A finding that does not make PostgreSQL fail by itself.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity: Severity::Warning,
            message: message.into(),
        }
    }

    /// A finding worth knowing.
    pub fn info(code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity: Severity::Info,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// `true` when no problem is an error.
pub fn none_fatal(problems: &[Problem]) -> bool {
    problems.iter().all(|p| p.severity != Severity::Error)
}

/// The distinct codes of `problems`, each once: errors first, then warnings, then infos, each
/// group in order of first appearance. Per-item messages belong in the details, not here.
pub fn distinct_codes(problems: &[Problem]) -> Vec<&'static str> {
    let mut out: Vec<(Severity, &'static str)> = Vec::new();
    for p in problems {
        match out.iter_mut().find(|(_, c)| *c == p.code) {
            Some(entry) => entry.0 = entry.0.max(p.severity),
            None => out.push((p.severity, p.code)),
        }
    }
    // Stable: equal severities keep their order of appearance.
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_codes_once_each_errors_first() {
        let ps = vec![
            Problem::warning("w1", "a"),
            Problem::error("undefined_symbol", "x"),
            Problem::error("undefined_symbol", "y"),
            Problem::info("i", "z"),
            Problem::warning("w1", "b"),
            Problem::error("missing_library", "m"),
            Problem::warning("undefined_symbol", "off the path"),
        ];
        assert_eq!(
            distinct_codes(&ps),
            vec!["undefined_symbol", "missing_library", "w1", "i"]
        );
        assert!(distinct_codes(&[]).is_empty());
    }
}
