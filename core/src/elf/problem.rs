//! Findings of an analysis, as plain data with stable codes.
//!
//! Codes are part of pgext's SQL surface (they end up in jsonb and columns), so they never change
//! meaning; new situations get new codes.

use std::fmt;

/// How bad a finding is for loading the library into the server: the crate's one severity scale.
pub use crate::problem::Severity;

/// Stable identifier of a kind of finding: the crate's one list of codes.
pub use crate::codes::Code;

/// One finding. Plain fields so the SQL layer can turn it into jsonb or columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable kind of finding.
    pub code: Code,
    /// How bad it is.
    pub severity: Severity,
    /// One line, worded like the server or ld.so would word it where they have a message.
    pub message: String,
    /// Further detail (PostgreSQL's `errdetail` where it has one).
    pub detail: Option<String>,
    /// A hint (PostgreSQL's `errhint` where it has one).
    pub hint: Option<String>,
    /// What the finding is about: a soname, symbol, version or magic-block field name.
    pub subject: Option<String>,
}

impl Problem {
    /// A finding with only a message.
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity,
            message: message.into(),
            detail: None,
            hint: None,
            subject: None,
        }
    }

    /// An error-severity finding.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// A warning-severity finding.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    /// Sets the detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.severity, self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}
