//! SQL-level errors: every failure pgext raises carries a real SQLSTATE, a detail and a hint.
//! Core-crate errors are converted here, at the boundary, and nowhere else.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// An error raised to the client.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A function needs something that is not set up (e.g. shared memory without preloading).
    #[error("{message}")]
    Prerequisite { message: String, hint: String },
    /// An argument names something that does not exist.
    #[error("{what} \"{name}\" does not exist")]
    NotFound { what: &'static str, name: String },
    /// An argument or setting has an invalid value.
    #[error("{message}")]
    InvalidParameter { message: String },
    /// An image has no pin.
    #[error("image \"{0}\" is not pinned")]
    NotPinned(String),
    /// The caller may not do this (e.g. a local layout outside `pgext.layout_directories`).
    #[error("{message}")]
    InsufficientPrivilege { message: String, hint: String },
    /// A cancel request or `statement_timeout` interrupted a long file or network operation.
    #[error("canceling statement: {0}")]
    Cancelled(&'static str),
    /// One of pgext's own tables holds a row its constraints should have refused.
    #[error("{message}")]
    Corrupted { message: String, hint: String },
}

impl SqlError {
    fn code(&self) -> PgSqlErrorCode {
        match self {
            SqlError::Prerequisite { .. } => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            SqlError::NotFound { .. } => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            SqlError::Cancelled(_) => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            SqlError::InvalidParameter { .. } => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            SqlError::NotPinned(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            SqlError::Corrupted { .. } => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            SqlError::InsufficientPrivilege { .. } => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        }
    }

    /// Raises the error (never returns).
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.code(), self.to_string(), pgrx::function_name!());
        match &self {
            SqlError::Prerequisite { hint, .. }
            | SqlError::Corrupted { hint, .. }
            | SqlError::InsufficientPrivilege { hint, .. } => report = report.set_hint(hint.clone()),
            SqlError::NotPinned(name) => {
                report = report.set_hint(format!(
                    "Pin it with SELECT pgext.pin_image('{name}', 'registry/repo:tag@sha256:...') or in pgext.images."
                ))
            }
            _ => {}
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}
