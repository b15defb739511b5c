//! Findings of an analysis, as plain data with stable codes.
//!
//! Codes are part of pgext's SQL surface (they end up in jsonb and columns), so they never change
//! meaning; new situations get new codes.

use std::fmt;

/// How bad a finding is for loading the library into the server: the crate's one severity scale.
pub use crate::problem::Severity;

/// Stable identifier of a kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ProblemCode {
    /// The file does not start with the ELF magic bytes.
    NotElf,
    /// The file ends before data its headers point to.
    Truncated,
    /// 32-bit vs 64-bit mismatch with the server.
    WrongClass,
    /// Different CPU architecture, byte order or OS ABI than the server.
    WrongMachine,
    /// Not a shared library (`ET_DYN` without the PIE flag).
    NotSharedObject,
    /// No exported `Pg_magic_func`: PostgreSQL refuses the library.
    MissingMagicBlock,
    /// `Pg_magic_func` exists but its block could not be located or decoded statically.
    UnreadableMagicBlock,
    /// The magic block differs from the server's in an ABI field (or its length).
    MagicMismatch,
    /// The magic block is for another PostgreSQL major version.
    PgVersionMismatch,
    /// A `DT_NEEDED` library cannot be found the way ld.so would search for it.
    MissingLibrary,
    /// A required symbol version (e.g. `GLIBC_2.38`) is not defined by the library found.
    MissingSymbolVersion,
    /// A non-weak undefined symbol is defined by nothing that would be loaded.
    UndefinedSymbol,
    /// The file could not be read or parsed (I/O error, malformed tables, limits exceeded).
    Unreadable,
    /// Initial-exec TLS (`DF_STATIC_TLS`): `dlopen` may run out of static TLS space.
    StaticTls,
}

impl ProblemCode {
    /// The snake_case code used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding. Plain fields so the SQL layer can turn it into jsonb or columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable kind of finding.
    pub code: ProblemCode,
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
    pub fn new(code: ProblemCode, severity: Severity, message: impl Into<String>) -> Self {
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
    pub fn error(code: ProblemCode, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// A warning-severity finding.
    pub fn warning(code: ProblemCode, message: impl Into<String>) -> Self {
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
