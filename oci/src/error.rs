//! The one error type of this crate, with a stable machine-readable [`ErrorCode`].
//!
//! Messages name registries, repositories, digests and paths — never credentials: credentials only
//! travel inside [`crate::RegistryCredentials`], whose `Debug` redacts the password and which never
//! appears in an error.

use std::error::Error as StdError;
use std::fmt;

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// Stable class of an [`OciError`], for SQL error mapping and scripts (`code().as_str()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

impl ErrorCode {
    /// The code as a stable lower-case string (`"digest_mismatch"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::Auth => "auth",
            ErrorCode::NotFound => "not_found",
            ErrorCode::DigestMismatch => "digest_mismatch",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::HostileLayer => "hostile_layer",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Timeout => "timeout",
            ErrorCode::InvalidReference => "invalid_reference",
            ErrorCode::Malformed => "malformed",
            ErrorCode::Io => "io",
        }
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
        /// The client's error.
        #[source]
        source: OciDistributionError,
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
        }
    }

    /// Wraps a registry client error, classifying it.
    pub(crate) fn registry(registry: &str, during: impl Into<String>, source: OciDistributionError) -> Self {
        OciError::Registry {
            code: classify(&source),
            registry: registry.to_owned(),
            during: during.into(),
            source,
        }
    }

    /// Local I/O error with context.
    pub(crate) fn io(during: impl Into<String>, source: std::io::Error) -> Self {
        OciError::Io {
            during: during.into(),
            source,
        }
    }

    /// Malformed document.
    pub(crate) fn malformed(what: impl Into<String>, detail: impl Into<String>) -> Self {
        OciError::Malformed {
            what: what.into(),
            detail: detail.into(),
        }
    }
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

/// Maps a registry client error to its stable class.
fn classify(err: &OciDistributionError) -> ErrorCode {
    match err {
        OciDistributionError::RequestError(e) => classify_reqwest(e),
        OciDistributionError::IoError(e) => classify_io(e),
        OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => {
            ErrorCode::Auth
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let mut code = ErrorCode::Malformed;
            for e in &envelope.errors {
                match e.code {
                    OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::ManifestBlobUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound => code = ErrorCode::NotFound,
                    OciErrorCode::Unauthorized | OciErrorCode::Denied => return ErrorCode::Auth,
                    OciErrorCode::Toomanyrequests => code = ErrorCode::Unreachable,
                    OciErrorCode::Unsupported => code = ErrorCode::UnsupportedMediaType,
                    _ => {}
                }
            }
            code
        }
        OciDistributionError::ServerError { code, .. } => match code {
            401 | 403 => ErrorCode::Auth,
            404 => ErrorCode::NotFound,
            408 | 504 => ErrorCode::Timeout,
            429 | 500..=599 => ErrorCode::Unreachable,
            _ => ErrorCode::Malformed,
        },
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError { .. }) => {
            ErrorCode::DigestMismatch
        }
        OciDistributionError::DigestError(oci_client::errors::DigestError::UnsupportedAlgorithm(_)) => {
            ErrorCode::UnsupportedMediaType
        }
        OciDistributionError::ImageManifestNotFoundError(_) => ErrorCode::NotFound,
        OciDistributionError::UnsupportedMediaTypeError(_)
        | OciDistributionError::IncompatibleLayerMediaTypeError(_)
        | OciDistributionError::UnsupportedSchemaVersionError(_) => ErrorCode::UnsupportedMediaType,
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
    } else if e.is_request() {
        ErrorCode::Unreachable
    } else {
        ErrorCode::Io
    }
}

/// Blob streams report transport and digest failures as `io::Error` wrapping the real cause.
pub(crate) fn classify_io(e: &std::io::Error) -> ErrorCode {
    if let Some(inner) = e.get_ref() {
        if let Some(r) = inner.downcast_ref::<reqwest::Error>() {
            return classify_reqwest(r);
        }
        if let Some(oci_client::errors::DigestError::VerificationError { .. }) =
            inner.downcast_ref::<oci_client::errors::DigestError>()
        {
            return ErrorCode::DigestMismatch;
        }
    }
    if e.kind() == std::io::ErrorKind::TimedOut {
        ErrorCode::Timeout
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
        ];
        for (code, text) in cases {
            assert_eq!(code.as_str(), text);
        }
    }

    #[test]
    fn server_errors_are_classified() {
        let cases = [
            (401, ErrorCode::Auth),
            (403, ErrorCode::Auth),
            (404, ErrorCode::NotFound),
            (503, ErrorCode::Unreachable),
            (429, ErrorCode::Unreachable),
            (418, ErrorCode::Malformed),
        ];
        for (status, want) in cases {
            let e = OciDistributionError::ServerError {
                code: status,
                url: "u".into(),
                message: "m".into(),
            };
            assert_eq!(classify(&e), want, "HTTP {status}");
        }
    }

    #[test]
    fn long_server_text_is_truncated() {
        let e = OciDistributionError::ServerError {
            code: 500,
            url: "u".into(),
            message: "x".repeat(5000),
        };
        let err = OciError::registry("r:1", "fetching", e);
        assert!(err.to_string().len() < MAX_DETAIL + 100, "{}", err.to_string().len());
        assert_eq!(err.code(), ErrorCode::Unreachable);
    }
}
