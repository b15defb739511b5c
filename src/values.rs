//! How core values become SQL values: problem codes for `= ANY(problems)`, problem details as
//! jsonb, counts as bigint.

use pgext_core::problem::Problem;
use pgrx::JsonB;

/// Problem codes, for `WHERE 'x' = ANY(problems)`.
/// Each code once, errors first (per-item messages are in the details).
pub fn codes(problems: &[Problem]) -> Vec<String> {
    pgext_core::problem::distinct_codes(problems)
        .into_iter()
        .map(|c| c.as_str().to_string())
        .collect()
}

/// Problems with severity and message, for people and tools.
pub fn details(problems: &[Problem]) -> JsonB {
    JsonB(details_value(problems))
}

pub(crate) fn details_value(problems: &[Problem]) -> serde_json::Value {
    serde_json::Value::Array(
        problems
            .iter()
            .map(
                |p| serde_json::json!({"code": p.code.as_str(), "severity": p.severity.as_str(), "message": p.message}),
            )
            .collect(),
    )
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
