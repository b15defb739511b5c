//! The enforcement policy: `pgext.require` (the conditions an image must meet) and
//! `pgext.enforce_exempt` (what is always allowed), parsed once and checked in one place.

use std::fmt;

/// A condition of `pgext.require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Condition {
    /// The image has a pin in effect (`pgext.images` or `pgext.pins`).
    Pinned,
    /// Its latest recorded check is `verified` for that pin, and the mount is unchanged since.
    Verified,
    /// pgext's static verdict finds the extension or library loadable.
    Compatible,
    /// The latest check that read the image's source, for its pin, found a cosign signature by a
    /// trusted key (`pgext.trusted_keys`) over the pinned digest.
    Signed,
}

impl Condition {
    /// The name used in `pgext.require` and in messages.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `pgext.require`: comma-separated condition names, case-insensitive, in any order;
/// an empty list requires nothing (enforcement then only records).
pub fn parse_require(setting: &str) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for item in setting.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let c = match item.to_ascii_lowercase().as_str() {
            "pinned" => Condition::Pinned,
            "verified" => Condition::Verified,
            "compatible" => Condition::Compatible,
            "signed" => Condition::Signed,
            _ => {
                return Err(format!(
                    "unknown condition \"{item}\" (expected pinned, verified, compatible or signed)"
                ));
            }
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.sort();
    Ok(out)
}

/// One entry of `pgext.enforce_exempt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exempt {
    /// `extension:NAME`.
    Extension(String),
    /// `image:NAME`.
    Image(String),
    /// A bare name: an extension or an image.
    Any(String),
}

/// Parses `pgext.enforce_exempt`: comma-separated `NAME`, `extension:NAME` or `image:NAME`.
pub fn parse_exempt(setting: &str) -> Result<Vec<Exempt>, String> {
    let mut out = Vec::new();
    for item in setting.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let e = match item.split_once(':') {
            Some(("extension", n)) if !n.trim().is_empty() => Exempt::Extension(n.trim().to_string()),
            Some(("image", n)) if !n.trim().is_empty() => Exempt::Image(n.trim().to_string()),
            Some(_) => {
                return Err(format!(
                    "invalid entry \"{item}\" (expected NAME, extension:NAME or image:NAME)"
                ));
            }
            None => Exempt::Any(item.to_string()),
        };
        out.push(e);
    }
    Ok(out)
}

/// Whether `exempt` allows the extension `extension` (if any) from image `image`.
pub fn is_exempt(exempt: &[Exempt], extension: Option<&str>, image: &str) -> bool {
    exempt.iter().any(|e| match e {
        Exempt::Extension(n) => extension == Some(n.as_str()),
        Exempt::Image(n) => n == image,
        Exempt::Any(n) => n == image || extension == Some(n.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_lists() {
        use Condition::*;
        let cases: &[(&str, Result<Vec<Condition>, &str>)] = &[
            ("", Ok(vec![])),
            ("pinned", Ok(vec![Pinned])),
            (
                " Compatible , pinned,verified,pinned",
                Ok(vec![Pinned, Verified, Compatible]),
            ),
            ("signed, pinned", Ok(vec![Pinned, Signed])),
            ("pinned,trusted", Err("unknown condition \"trusted\"")),
        ];
        for (input, want) in cases {
            match (parse_require(input), want) {
                (Ok(got), Ok(w)) => assert_eq!(&got, w, "{input}"),
                (Err(got), Err(w)) => assert!(got.starts_with(w), "{input}: {got}"),
                (got, w) => panic!("{input}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn exemptions() {
        let e = parse_exempt("postgis, image:vector_img ,extension:pg_trgm").unwrap();
        assert!(is_exempt(&e, Some("postgis"), "x"));
        assert!(is_exempt(&e, None, "postgis"));
        assert!(is_exempt(&e, Some("vector"), "vector_img"));
        assert!(is_exempt(&e, Some("pg_trgm"), "y"));
        assert!(!is_exempt(&e, None, "pg_trgm"));
        assert!(!is_exempt(&e, Some("vector_img"), "other"));
        assert!(parse_exempt("schema:x").is_err());
        assert!(parse_exempt("image:").is_err());
    }
}
