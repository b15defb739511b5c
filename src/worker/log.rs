//! State-change logging: a condition (an image drifts, a registry becomes unreachable, an extension
//! becomes incompatible, a cycle fails) is logged once at WARNING when it appears and once at LOG
//! when it clears. A steady state logs nothing.

use pgext_core::conditions::{Changes, headline};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Logs `changes`: WARNING for what appeared, LOG for what cleared.
pub fn emit(changes: &Changes) {
    for (key, detail) in &changes.appeared {
        ErrorReport::new(PgSqlErrorCode::ERRCODE_WARNING, headline(key), pgrx::function_name!())
            .set_detail(detail.clone())
            .report(PgLogLevel::WARNING);
    }
    for (key, detail) in &changes.cleared {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            format!("{} resolved", headline(key)),
            pgrx::function_name!(),
        )
        .set_detail(format!("It was: {detail}"))
        .report(PgLogLevel::LOG);
    }
}
