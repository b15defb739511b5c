//! Image pins: which OCI reference each mounted image must be the content of.
//!
//! The `pgext.images` setting holds `name=reference` entries separated by commas or newlines, so
//! an operator can set it in a CloudNativePG Cluster's `postgresql.parameters` next to
//! `.spec.postgresql.extensions`. References never contain commas or whitespace.

use std::fmt;

/// Where a pin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum PinSource {
    /// The `pgext.images` setting (wins over the table).
    Setting,
    /// `pgext.pin_image()`, stored in `pgext.image_pins`.
    Table,
}

impl PinSource {
    /// Stable name used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A malformed `pgext.images` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// No `=` between name and reference.
    #[error("entry \"{0}\" is not of the form name=reference")]
    NoEquals(String),
    /// The name cannot be an image directory name.
    #[error("\"{0}\" is not a valid image name: {1}")]
    BadName(String, &'static str),
    /// Nothing after `=`.
    #[error("image \"{0}\" has an empty reference")]
    EmptyReference(String),
    /// The same name twice.
    #[error("image \"{0}\" is pinned twice")]
    Duplicate(String),
}

/// One `name=reference` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Image name: its directory under the extensions root.
    pub name: String,
    /// The reference as written (parsed later, by the OCI layer).
    pub reference: String,
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.reference)
    }
}

/// Checks that `name` can be a directory directly under the extensions root.
pub fn check_image_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name == "." || name == ".." {
        return Err("a relative directory");
    }
    if name.contains('/') {
        return Err("contains '/'");
    }
    if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '=' || c == ',')
    {
        return Err("contains whitespace, a control character, '=' or ','");
    }
    Ok(())
}

/// Parses `pgext.images`. Every entry is checked; the first error is returned, since a setting
/// that is half-understood must not be half-applied.
pub fn parse_pins(setting: &str) -> Result<Vec<Pin>, PinError> {
    let mut pins: Vec<Pin> = Vec::new();
    for entry in setting.split([',', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
        let (name, reference) = entry
            .split_once('=')
            .ok_or_else(|| PinError::NoEquals(entry.to_string()))?;
        let (name, reference) = (name.trim(), reference.trim());
        check_image_name(name).map_err(|why| PinError::BadName(name.to_string(), why))?;
        if reference.is_empty() {
            return Err(PinError::EmptyReference(name.to_string()));
        }
        if pins.iter().any(|p| p.name == name) {
            return Err(PinError::Duplicate(name.to_string()));
        }
        pins.push(Pin {
            name: name.to_string(),
            reference: reference.to_string(),
        });
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(s: &str) -> Vec<(String, String)> {
        parse_pins(s)
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.reference))
            .collect()
    }

    #[test]
    fn parses_entries() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            (" , ,", &[]),
            (
                "pgvector=ghcr.io/cloudnative-pg/pgvector:0.8.1-18-trixie@sha256:abc",
                &[("pgvector", "ghcr.io/cloudnative-pg/pgvector:0.8.1-18-trixie@sha256:abc")],
            ),
            (
                "a = oci:/layouts/a:1.0 ,\n b=oci-archive:/x/b.tar",
                &[("a", "oci:/layouts/a:1.0"), ("b", "oci-archive:/x/b.tar")],
            ),
            ("x=127.0.0.1:5000/x:1", &[("x", "127.0.0.1:5000/x:1")]),
        ];
        for (input, want) in cases {
            let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            assert_eq!(pins(input), want, "{input:?}");
        }
    }

    #[test]
    fn rejects_malformed_entries() {
        let cases = [
            ("pgvector", PinError::NoEquals("pgvector".into())),
            ("=ref", PinError::BadName(String::new(), "empty")),
            ("../x=ref", PinError::BadName("../x".into(), "contains '/'")),
            ("..=ref", PinError::BadName("..".into(), "a relative directory")),
            ("a=", PinError::EmptyReference("a".into())),
            ("a=r1,a=r2", PinError::Duplicate("a".into())),
        ];
        for (input, want) in cases {
            assert_eq!(parse_pins(input), Err(want), "{input:?}");
        }
    }
}
