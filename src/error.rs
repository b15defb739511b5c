//! SQL-level errors: every failure pgext raises carries a real SQLSTATE, a detail and a hint.
//! Core-crate errors are converted here, at the boundary, and nowhere else: code outside this
//! file raises an [`SqlError`], never `pgrx::error!` (which is XX000, "internal error").

use pgext_oci::ErrorCode;
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
    /// A server setting (one only the configuration can change) cannot be parsed. The same
    /// setting raises the same error wherever it is read.
    #[error("invalid value for parameter \"{name}\": {reason}")]
    BadSetting { name: &'static str, reason: String },
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
    /// Reading or writing a table failed below SQL (SQL errors themselves propagate with their
    /// own SQLSTATE): a column whose type differs from what this library expects, which is what
    /// a library newer than the database's schema meets before `ALTER EXTENSION pgext UPDATE`.
    #[error("could not {action} {table}")]
    Table {
        action: &'static str,
        table: &'static str,
        detail: String,
    },
    /// An image named by reference could not be fetched (pre-flight): the OCI error's code
    /// decides the SQLSTATE.
    #[error("image {reference}: {message}")]
    Image {
        reference: String,
        code: pgext_oci::ErrorCode,
        message: String,
    },
    /// A state no user input can reach: a bug in pgext.
    #[error("{0}")]
    Internal(String),
}

impl SqlError {
    /// The SQLSTATE of each kind of error.
    pub fn code(&self) -> PgSqlErrorCode {
        match self {
            SqlError::Prerequisite { .. } | SqlError::Table { .. } => {
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            SqlError::NotFound { .. } => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            SqlError::Cancelled(_) => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            SqlError::InvalidParameter { .. } | SqlError::BadSetting { .. } => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            SqlError::NotPinned(_) => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            SqlError::Corrupted { .. } => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            SqlError::InsufficientPrivilege { .. } => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            SqlError::Internal(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            SqlError::Image { code, .. } => image_code(*code),
        }
    }

    /// `pgext.images` cannot be parsed.
    pub fn bad_images(reason: impl std::fmt::Display) -> Self {
        SqlError::BadSetting {
            name: "pgext.images",
            reason: reason.to_string(),
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            SqlError::Prerequisite { hint, .. }
            | SqlError::Corrupted { hint, .. }
            | SqlError::InsufficientPrivilege { hint, .. } => Some(hint.clone()),
            SqlError::NotPinned(name) => Some(format!(
                "Pin it with SELECT pgext.pin_image('{name}', 'registry/repo:tag@sha256:...') or in pgext.images."
            )),
            SqlError::BadSetting { name, .. } => Some(format!(
                "Correct {name} in the server configuration and reload it (SELECT pg_reload_conf())."
            )),
            SqlError::Table { .. } => Some(
                "The schema of pgext in this database may be older than its library: run ALTER EXTENSION pgext UPDATE."
                    .into(),
            ),
            SqlError::Image {
                code: ErrorCode::Unreachable | ErrorCode::Timeout,
                ..
            } => Some(
                "Registries are reached with the pgext.registry_* settings; a registry without TLS must be listed in pgext.insecure_registries."
                    .into(),
            ),
            SqlError::Image {
                code: ErrorCode::Forbidden,
                ..
            } => Some("Local OCI layouts are read only from the directories in pgext.layout_directories.".into()),
            _ => None,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            SqlError::Table { detail, .. } => Some(detail.clone()),
            SqlError::Image { code, .. } => Some(format!("error_code: {code}")),
            _ => None,
        }
    }

    /// Raises the error (never returns).
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.code(), self.to_string(), pgrx::function_name!());
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        if let Some(detail) = self.detail() {
            report = report.set_detail(detail);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// The SQLSTATE of an image that could not be fetched, by what went wrong.
fn image_code(code: ErrorCode) -> PgSqlErrorCode {
    match code {
        ErrorCode::Unreachable | ErrorCode::Timeout => PgSqlErrorCode::ERRCODE_CONNECTION_FAILURE,
        ErrorCode::Auth => PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        ErrorCode::NotFound => PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        ErrorCode::DigestMismatch => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        ErrorCode::UnsupportedMediaType => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        ErrorCode::HostileLayer | ErrorCode::Malformed => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        ErrorCode::TooLarge => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        ErrorCode::Cancelled => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
        ErrorCode::InvalidReference => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        ErrorCode::Io => PgSqlErrorCode::ERRCODE_IO_ERROR,
        ErrorCode::Forbidden => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
    }
}

/// Raising a failed table access as [`SqlError::Table`].
pub trait OrRaise<T> {
    /// The value, or the error raised as "could not `action` `table`".
    fn or_raise(self, action: &'static str, table: &'static str) -> T;
}

impl<T> OrRaise<T> for Result<T, pgrx::spi::Error> {
    fn or_raise(self, action: &'static str, table: &'static str) -> T {
        self.unwrap_or_else(|e| {
            SqlError::Table {
                action,
                table,
                detail: e.to_string(),
            }
            .raise()
        })
    }
}
