//! Content digests (`sha256:<hex>`, `sha512:<hex>`) and streaming hashing with aws-lc-rs.
//!
//! pgext_core::hash hashes readers and byte strings with SHA-256 only; blobs arrive in chunks
//! from the network and may be SHA-512-addressed, hence the incremental [`Hasher`] here.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest as lc;

/// A digest algorithm OCI content may be addressed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, what every registry uses.
    Sha256,
    /// SHA-512, allowed by the OCI image spec.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name in a digest string.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    fn lc(self) -> &'static lc::Algorithm {
        match self {
            Algorithm::Sha256 => &lc::SHA256,
            Algorithm::Sha512 => &lc::SHA512,
        }
    }
}

/// A validated content digest: algorithm plus lower-case hex of the right length.
///
/// Because the hex part is validated, `blobs/<algorithm>/<hex>` built from it is always a plain
/// two-component relative path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a digest string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestParseError {
    /// No `algorithm:` prefix.
    #[error("digest {0:?} has no algorithm prefix (expected sha256:<hex>)")]
    NoAlgorithm(String),
    /// An algorithm other than sha256/sha512.
    #[error("digest algorithm {0:?} is not supported (sha256 and sha512 are)")]
    UnsupportedAlgorithm(String),
    /// Hex part of the wrong length or with characters other than `0-9a-f`.
    #[error("digest {0:?}: the hex part must be {1} lower-case hex digits")]
    BadHex(String, usize),
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DigestParseError::NoAlgorithm(s.to_owned()))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(DigestParseError::UnsupportedAlgorithm(other.to_owned())),
        };
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestParseError::BadHex(s.to_owned(), algorithm.hex_len()));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl Digest {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lower-case hex part.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::of(self.algorithm, bytes) == *self
    }

    /// A hasher of this digest's algorithm.
    pub fn hasher(&self) -> Hasher {
        Hasher::new(self.algorithm)
    }
}

/// Incremental hasher producing a [`Digest`].
pub struct Hasher {
    algorithm: Algorithm,
    ctx: lc::Context,
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        Hasher {
            algorithm,
            ctx: lc::Context::new(algorithm.lc()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.ctx.update(bytes);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest {
            algorithm: self.algorithm,
            hex: pgext_core::hash::to_hex(self.ctx.finish().as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC256: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn parses_and_prints() {
        let d: Digest = ABC256.parse().unwrap();
        assert_eq!(d.to_string(), ABC256);
        assert!(d.matches(b"abc"));
        assert!(!d.matches(b"abd"));
        assert_eq!(Digest::of(Algorithm::Sha256, b"abc"), d);
        let d512 = Digest::of(Algorithm::Sha512, b"abc");
        assert!(d512.to_string().starts_with("sha512:ddaf35a193617aba"));
        assert_eq!(d512.to_string().parse::<Digest>().unwrap(), d512);
    }

    #[test]
    fn rejects_bad_digests() {
        let cases = [
            ("", "no algorithm"),
            ("ba7816bf", "no algorithm"),
            ("md5:900150983cd24fb0d6963f7d28e17f72", "not supported"),
            (
                "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                "hex",
            ),
            ("sha256:ba7816bf", "hex"),
            (
                "sha256:../../../../etc/passwd/000000000000000000000000000000000000000000",
                "hex",
            ),
            (
                "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "hex",
            ),
        ];
        for (input, want) in cases {
            let err = input.parse::<Digest>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }
}
