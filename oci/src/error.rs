//! The one error type of this crate, with a stable machine-readable [`ErrorCode`].
//!
//! Messages name registries, repositories, digests and paths — never credentials: credentials only
//! travel inside [`crate::RegistryCredentials`], whose `Debug` redacts the password and which never
//! appears in an error.

use std::error::Error as StdError;
use std::fmt;

/// Stable class of an [`OciError`], for SQL error mapping and scripts (`code().as_str()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// Connection refused, connect timeout, DNS or TLS failure, registry answering 5xx.
    Unreachable,
    /// The registry wants credentials, or refused the ones given.
    Auth,
    /// Repository, tag, manifest, blob, layout or archive member does not exist.
    NotFound,
    /// Content does not hash to the digest (or size) that names it: corruption or tampering.
    DigestMismatch,
    /// A manifest or layer media type (or digest algorithm) this crate does not handle.
    UnsupportedMediaType,
    /// A layer tries to escape the root, contains device nodes or otherwise cannot be applied safely.
    HostileLayer,
    /// A configured size or count limit was exceeded.
    TooLarge,
    /// The caller's cancel check fired (query cancel, `statement_timeout`, backend termination).
    Cancelled,
    /// A read timeout or the overall time limit expired.
    Timeout,
    /// The image reference does not parse.
    InvalidReference,
    /// A manifest, index, `index.json`, docker `config.json` or registry answer breaks its spec.
    Malformed,
    /// Local file-system or spool-file I/O failed.
    Io,
    /// The caller may not use this source (a local layout outside the allowed directories).
    Forbidden,
}

impl ErrorCode {
    /// The code as a stable lower-case string (`"digest_mismatch"`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong while resolving, fetching, applying or comparing an image.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference string does not parse.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A registry request failed; `code` is the classification of `source`.
    #[error("registry {registry}: {during}: {}", chain(source))]
    Registry {
        /// Classification of the failure.
        code: ErrorCode,
        /// Registry host (and port) as addressed.
        registry: String,
        /// What was being fetched.
        during: String,
        /// What went wrong: a transport error, or pgext's own account of the answer (never
        /// text the registry chose).
        #[source]
        source: RegistryFailure,
    },
    /// Something that should exist does not (local layouts, archives, tags).
    #[error("{what} not found{}", fmt_detail(detail))]
    NotFound {
        /// What was looked for.
        what: String,
        /// Where it was looked for.
        detail: String,
    },
    /// Content does not match the digest or size that names it.
    #[error("{what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The manifest, blob or layer.
        what: String,
        /// The digest (or size) it should have.
        expected: String,
        /// The digest (or size) it has.
        actual: String,
    },
    /// A media type (or digest algorithm) outside what this crate handles.
    #[error("{what}: unsupported media type {media_type:?}")]
    UnsupportedMediaType {
        /// The manifest or layer.
        what: String,
        /// The offending type.
        media_type: String,
    },
    /// A layer entry that cannot be applied safely.
    #[error("hostile layer {layer}: entry {path:?}: {reason}")]
    HostileLayer {
        /// Layer digest.
        layer: String,
        /// Entry path as found in the tar (lossy UTF-8).
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// A configured limit was exceeded.
    #[error("{what} exceeds the limit of {limit} {unit}")]
    TooLarge {
        /// What grew too large.
        what: String,
        /// The configured limit.
        limit: u64,
        /// "bytes", "entries", "layers".
        unit: &'static str,
    },
    /// The caller's cancel check fired.
    #[error("cancelled while {during}")]
    Cancelled {
        /// What was in progress.
        during: String,
    },
    /// The overall time limit expired.
    #[error("timed out after {seconds:.1} s while {during}")]
    Timeout {
        /// What was in progress.
        during: String,
        /// The limit that expired.
        seconds: f64,
    },
    /// A document that breaks its specification.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The document.
        what: String,
        /// What is wrong (never the document's content: it may hold secrets).
        detail: String,
    },
    /// The source may not be used (see `confine_layout_path`).
    #[error("{what}: {reason}")]
    Forbidden {
        /// What was refused.
        what: String,
        /// Why.
        reason: String,
    },
    /// Local I/O failed.
    #[error("{during}: {source}")]
    Io {
        /// What was being done, with the path.
        during: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl OciError {
    /// The stable class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            OciError::InvalidReference { .. } => ErrorCode::InvalidReference,
            OciError::Registry { code, .. } => *code,
            OciError::NotFound { .. } => ErrorCode::NotFound,
            OciError::DigestMismatch { .. } => ErrorCode::DigestMismatch,
            OciError::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType,
            OciError::HostileLayer { .. } => ErrorCode::HostileLayer,
            OciError::TooLarge { .. } => ErrorCode::TooLarge,
            OciError::Cancelled { .. } => ErrorCode::Cancelled,
            OciError::Timeout { .. } => ErrorCode::Timeout,
            OciError::Malformed { .. } => ErrorCode::Malformed,
            OciError::Io { .. } => ErrorCode::Io,
            OciError::Forbidden { .. } => ErrorCode::Forbidden,
        }
    }

    /// A registry failure of class `code`.
    pub(crate) fn registry(
        code: ErrorCode,
        registry: &str,
        during: impl Into<String>,
        source: RegistryFailure,
    ) -> Self {
        OciError::Registry {
            code,
            registry: registry.to_owned(),
            during: during.into(),
            source,
        }
    }

    /// A transport (reqwest) failure, classified; URLs are stripped (a redirect's target is
    /// text the registry chose).
    pub(crate) fn transport(registry: &str, during: impl Into<String>, e: reqwest::Error) -> Self {
        let code = classify_reqwest(&e);
        Self::registry(code, registry, during, RegistryFailure::Transport(e.without_url()))
    }

    /// Local I/O error with context.
    pub(crate) fn io(during: impl Into<String>, source: std::io::Error) -> Self {
        OciError::Io {
            during: during.into(),
            source,
        }
    }

    /// Malformed document.
    /// Parsers' messages can quote the offending bytes (the tar reader does): control characters
    /// are escaped and the text is cut at [`MAX_DETAIL`], so that nothing raw or large reaches a
    /// column.
    pub(crate) fn malformed(what: impl Into<String>, detail: impl Into<String>) -> Self {
        OciError::Malformed {
            what: what.into(),
            detail: printable(&detail.into()),
        }
    }
}

/// `text` with control characters escaped, at most [`MAX_DETAIL`] bytes (then `…`).
fn printable(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= MAX_DETAIL {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn fmt_detail(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// Longest server-provided text kept in a message: error bodies can be whole HTML pages.
const MAX_DETAIL: usize = 300;

/// The error and its causes joined with ": ", so "error sending request" shows *why* (refused, TLS…).
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(cause) = cur {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = cause.source();
    }
    if out.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

/// Why a registry request failed. Every message here is pgext's own: a registry's error body is
/// never kept (it would reach a column `pg_monitor` reads); only its HTTP status and an OCI error
/// `code` that matches `^[A-Z_]{1,64}$` are.
#[derive(Debug, thiserror::Error)]
pub enum RegistryFailure {
    /// The request or the answer's transfer failed (connect, TLS, timeout, broken-off body,
    /// refused redirect).
    #[error(transparent)]
    Transport(reqwest::Error),
    /// The registry answered with an unexpected HTTP status.
    #[error("HTTP {status}{}", .oci_code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The first OCI error code of the answer's body, if it is one of `[A-Z_]{1,64}`.
        oci_code: Option<String>,
    },
    /// The answer breaks the protocol, or pgext refused to follow it; the text is pgext's.
    #[error("{0}")]
    Protocol(String),
}

/// The class of an HTTP error status, refined by the OCI error code when there is one.
pub(crate) fn classify_status(status: u16, oci_code: Option<&str>) -> ErrorCode {
    match oci_code {
        Some("BLOB_UNKNOWN" | "MANIFEST_UNKNOWN" | "MANIFEST_BLOB_UNKNOWN" | "NAME_UNKNOWN" | "NOT_FOUND") => {
            return ErrorCode::NotFound;
        }
        Some("UNAUTHORIZED" | "DENIED") => return ErrorCode::Auth,
        Some("TOOMANYREQUESTS") => return ErrorCode::Unreachable,
        Some("UNSUPPORTED") => return ErrorCode::UnsupportedMediaType,
        _ => {}
    }
    match status {
        401 | 403 => ErrorCode::Auth,
        404 => ErrorCode::NotFound,
        408 | 504 => ErrorCode::Timeout,
        429 | 500..=599 => ErrorCode::Unreachable,
        _ => ErrorCode::Malformed,
    }
}

/// Transport errors: a connect-phase failure (refused, DNS, TLS, connect timeout) means unreachable;
/// a timeout after connecting is a read timeout.
pub(crate) fn classify_reqwest(e: &reqwest::Error) -> ErrorCode {
    if e.is_connect() {
        ErrorCode::Unreachable
    } else if e.is_timeout() {
        ErrorCode::Timeout
    } else if e.is_request() || e.is_redirect() || e.is_body() || e.is_decode() {
        // Connection lost mid-answer, a redirect refused (to plain HTTP, or one too many).
        ErrorCode::Unreachable
    } else {
        ErrorCode::Io
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_strings() {
        let cases = [
            (ErrorCode::Unreachable, "unreachable"),
            (ErrorCode::Auth, "auth"),
            (ErrorCode::NotFound, "not_found"),
            (ErrorCode::DigestMismatch, "digest_mismatch"),
            (ErrorCode::UnsupportedMediaType, "unsupported_media_type"),
            (ErrorCode::HostileLayer, "hostile_layer"),
            (ErrorCode::TooLarge, "too_large"),
            (ErrorCode::Cancelled, "cancelled"),
            (ErrorCode::Timeout, "timeout"),
            (ErrorCode::InvalidReference, "invalid_reference"),
            (ErrorCode::Malformed, "malformed"),
            (ErrorCode::Io, "io"),
            (ErrorCode::Forbidden, "forbidden"),
        ];
        for (code, text) in cases {
            assert_eq!(code.as_str(), text);
        }
    }

    #[test]
    fn server_errors_are_classified() {
        let cases = [
            (401, None, ErrorCode::Auth),
            (403, None, ErrorCode::Auth),
            (404, None, ErrorCode::NotFound),
            (503, None, ErrorCode::Unreachable),
            (429, None, ErrorCode::Unreachable),
            (418, None, ErrorCode::Malformed),
            (400, Some("MANIFEST_UNKNOWN"), ErrorCode::NotFound),
            (400, Some("DENIED"), ErrorCode::Auth),
            (400, Some("SOMETHING_ELSE"), ErrorCode::Malformed),
        ];
        for (status, oci_code, want) in cases {
            assert_eq!(classify_status(status, oci_code), want, "HTTP {status} {oci_code:?}");
        }
    }

    #[test]
    fn malformed_details_are_printable_and_short() {
        let e = OciError::malformed("layer x", format!("bad \u{1b}[31m\0 field {}", "y".repeat(1000)));
        let text = e.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.contains("\\u{1b}[31m"), "{text}");
        assert!(text.len() < MAX_DETAIL + 40, "{}", text.len());
    }

    #[test]
    fn status_failures_show_status_and_code_only() {
        let e = OciError::registry(
            ErrorCode::NotFound,
            "r:1",
            "fetching manifest",
            RegistryFailure::Status {
                status: 404,
                oci_code: Some("MANIFEST_UNKNOWN".into()),
            },
        );
        assert_eq!(
            e.to_string(),
            "registry r:1: fetching manifest: HTTP 404 (MANIFEST_UNKNOWN)"
        );
    }
}

/// The names SQL shows, scripts match and tables store never change meaning: each enum's mapping
/// (a strum derive) is pinned here, name by name.
#[cfg(test)]
mod sql_names {
    #[test]
    fn are_stable() {
        let pinned = [
            (crate::error::ErrorCode::Unreachable.as_str(), "unreachable"),
            (crate::error::ErrorCode::Auth.as_str(), "auth"),
            (crate::error::ErrorCode::NotFound.as_str(), "not_found"),
            (crate::error::ErrorCode::DigestMismatch.as_str(), "digest_mismatch"),
            (
                crate::error::ErrorCode::UnsupportedMediaType.as_str(),
                "unsupported_media_type",
            ),
            (crate::error::ErrorCode::HostileLayer.as_str(), "hostile_layer"),
            (crate::error::ErrorCode::TooLarge.as_str(), "too_large"),
            (crate::error::ErrorCode::Cancelled.as_str(), "cancelled"),
            (crate::error::ErrorCode::Timeout.as_str(), "timeout"),
            (crate::error::ErrorCode::InvalidReference.as_str(), "invalid_reference"),
            (crate::error::ErrorCode::Malformed.as_str(), "malformed"),
            (crate::error::ErrorCode::Io.as_str(), "io"),
            (crate::error::ErrorCode::Forbidden.as_str(), "forbidden"),
            (crate::compare::DifferenceKind::Missing.as_str(), "missing"),
            (crate::compare::DifferenceKind::Modified.as_str(), "modified"),
            (crate::compare::DifferenceKind::Unexpected.as_str(), "unexpected"),
            (crate::compare::DifferenceKind::TypeChanged.as_str(), "type_changed"),
            (crate::compare::DifferenceKind::ModeChanged.as_str(), "mode_changed"),
            (crate::compare::DifferenceKind::LinkChanged.as_str(), "link_changed"),
        ];
        for (got, want) in pinned {
            assert_eq!(got, want);
        }
    }
}
