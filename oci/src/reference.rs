//! Image references: `registry/repo[:tag][@digest]`, `oci:/layout[:tag][@digest]`,
//! `oci-archive:/file.tar[:tag][@digest]`.
//!
//! Registry names follow the distribution reference grammar: a first component with a `.` or `:`,
//! or `localhost`, is a registry host; otherwise the image is on Docker Hub (`docker.io`, with
//! `library/` prepended to one-component names). References never carry credentials.
//!
//! Hand-written rather than `oci_spec::distribution::Reference` (measured with 0.10): that parser
//! rejects IPv6 registry hosts (`[::1]:5000/...`), fills in `latest` so a tag-less pin cannot be
//! told from a `:latest` one, answers every mistake with one "invalid reference format", and would
//! add ten crates (derive_builder, darling, getset, const_format...) for one regular expression.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::OciError;

/// Registry host of Docker Hub as written in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Host Docker Hub's API is reached at (the API requests go to, and docker `config.json` keys).
pub const DOCKER_HUB_API: &str = "index.docker.io";

/// Longest repository name the distribution spec allows.
const MAX_NAME: usize = 255;
/// Longest tag the distribution spec allows.
const MAX_TAG: usize = 128;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageReference {
    /// An image in a registry.
    Registry(RegistryReference),
    /// An OCI image layout directory (`oci:`).
    Layout(LayoutReference),
    /// A tar archive of an OCI image layout (`oci-archive:`).
    Archive(LayoutReference),
}

/// `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A layout directory or archive, with an optional tag (`org.opencontainers.image.ref.name`)
/// and/or pinned digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutReference {
    path: PathBuf,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl RegistryReference {
    /// Registry host\[:port\] as written (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Host\[:port\] the registry API is reached at (`index.docker.io` for Docker Hub); this is
    /// what insecure-registry entries and credentials are matched against.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// Repository path (`library/postgres`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Tag, if given. Neither tag nor digest means `latest`.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Pinned digest, if given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

impl LayoutReference {
    /// Directory or archive path (absolute).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tag (`org.opencontainers.image.ref.name` annotation), if given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Pinned digest, if given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

impl ImageReference {
    /// Tag, if given.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageReference::Registry(r) => r.tag(),
            ImageReference::Layout(l) | ImageReference::Archive(l) => l.tag(),
        }
    }

    /// Pinned digest, if given.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            ImageReference::Registry(r) => r.digest(),
            ImageReference::Layout(l) | ImageReference::Archive(l) => l.digest(),
        }
    }
}

impl FromStr for ImageReference {
    type Err = OciError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| OciError::InvalidReference {
            input: input.to_owned(),
            reason,
        };
        if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("contains white space or control characters".into()));
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            return parse_layout(rest).map(ImageReference::Archive).map_err(bad);
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            return parse_layout(rest).map(ImageReference::Layout).map_err(bad);
        }
        let rest = input.strip_prefix("docker://").unwrap_or(input);
        parse_registry(rest).map(ImageReference::Registry).map_err(bad)
    }
}

/// Splits a trailing `@algorithm:hex` off.
fn split_digest(s: &str) -> Result<(&str, Option<Digest>), String> {
    match s.rsplit_once('@') {
        Some((head, digest)) => {
            let digest = digest.parse::<Digest>().map_err(|e| e.to_string())?;
            Ok((head, Some(digest)))
        }
        None => Ok((s, None)),
    }
}

fn parse_layout(s: &str) -> Result<LayoutReference, String> {
    // Only split a digest off if it looks like one, so a path may contain '@'.
    let (head, digest) = match s.rsplit_once('@') {
        Some((_, d)) if d.starts_with("sha256:") || d.starts_with("sha512:") => split_digest(s)?,
        _ => (s, None),
    };
    // Like containers/image: the path ends at the first ':'.
    let (path, tag) = match head.split_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (head, None),
    };
    if path.is_empty() {
        return Err("no path after the transport prefix".into());
    }
    if !path.starts_with('/') {
        return Err(format!("path {path:?} is not absolute"));
    }
    let tag = match tag {
        Some("") => return Err("empty tag after ':'".into()),
        Some(t) => Some(t.to_owned()),
        None => None,
    };
    Ok(LayoutReference {
        path: PathBuf::from(path),
        tag,
        digest,
    })
}

fn parse_registry(s: &str) -> Result<RegistryReference, String> {
    if s.is_empty() {
        return Err("empty reference".into());
    }
    let (name_tag, digest) = split_digest(s)?;
    if name_tag.contains('@') {
        return Err("more than one '@'".into());
    }
    let (name, tag) = match name_tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (name_tag, None),
    };
    if let Some(t) = tag {
        validate_tag(t)?;
    }
    let (registry, mut repository) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            validate_host(first)?;
            (first.to_owned(), rest.to_owned())
        }
        Some((first, _)) if first.chars().any(|c| c.is_ascii_uppercase()) => {
            return Err(format!(
                "registry host {first:?} must contain '.' or ':' (or be localhost)"
            ));
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    if registry == DOCKER_HUB_API {
        // Both spellings name Docker Hub; one canonical form keeps comparisons simple.
        return parse_registry(&s.replacen(DOCKER_HUB_API, DOCKER_HUB, 1));
    }
    if registry == DOCKER_HUB && !repository.contains('/') {
        repository = format!("library/{repository}");
    }
    validate_repository(&repository)?;
    if registry.len() + 1 + repository.len() > MAX_NAME {
        return Err(format!("name longer than {MAX_NAME} characters"));
    }
    Ok(RegistryReference {
        registry,
        repository,
        tag: tag.map(str::to_owned),
        digest,
    })
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} is not valid ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
        ))
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // [IPv6]:port
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("host {host:?}: unclosed '['"))?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err(format!("host {host:?}: bad IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("host {host:?}: junk after ']'"))?,
            ),
        };
        (None, port)
    } else {
        match host.split_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(name) = name {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !name.split('.').all(label_ok) {
            return Err(format!("registry host {name:?} is not a valid host name"));
        }
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("registry port {port:?} is not a number"));
        }
        if port.parse::<u32>().map_or(true, |p| p == 0 || p > 65535) {
            return Err(format!("registry port {port} is out of range"));
        }
    }
    Ok(())
}

/// Repository: '/'-separated components of `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn validate_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("empty repository name".into());
    }
    for comp in repo.split('/') {
        if !component_ok(comp) {
            return Err(format!(
                "repository component {comp:?} is not valid (lower-case letters, digits, separated by '.', '_', '__' or '-')"
            ));
        }
    }
    Ok(())
}

fn component_ok(comp: &str) -> bool {
    let bytes = comp.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or "-"+; the byte after it must be alphanumeric.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &comp[start..i];
        let valid = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

impl fmt::Display for RegistryReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LayoutReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageReference::Registry(r) => r.fmt(f),
            ImageReference::Layout(l) => write!(f, "oci:{l}"),
            ImageReference::Archive(l) => write!(f, "oci-archive:{l}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn registry_references() {
        // (input, registry, api host, repository, tag, has digest, canonical)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
            bool,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "postgres",
                "docker.io",
                "index.docker.io",
                "library/postgres",
                None,
                false,
                "docker.io/library/postgres",
            ),
            (
                "postgres:18",
                "docker.io",
                "index.docker.io",
                "library/postgres",
                Some("18"),
                false,
                "docker.io/library/postgres:18",
            ),
            (
                "cloudnative-pg/pgvector:0.8.1-18-trixie",
                "docker.io",
                "index.docker.io",
                "cloudnative-pg/pgvector",
                Some("0.8.1-18-trixie"),
                false,
                "docker.io/cloudnative-pg/pgvector:0.8.1-18-trixie",
            ),
            (
                "ghcr.io/cloudnative-pg/pgvector:0.8.1-18-trixie",
                "ghcr.io",
                "ghcr.io",
                "cloudnative-pg/pgvector",
                Some("0.8.1-18-trixie"),
                false,
                "ghcr.io/cloudnative-pg/pgvector:0.8.1-18-trixie",
            ),
            (
                "127.0.0.1:5000/ext/vector:1@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "127.0.0.1:5000",
                "127.0.0.1:5000",
                "ext/vector",
                Some("1"),
                true,
                "127.0.0.1:5000/ext/vector:1@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            ("localhost/x", "localhost", "localhost", "x", None, false, "localhost/x"),
            (
                "localhost:5000/a/b/c",
                "localhost:5000",
                "localhost:5000",
                "a/b/c",
                None,
                false,
                "localhost:5000/a/b/c",
            ),
            (
                "[::1]:5000/x:t",
                "[::1]:5000",
                "[::1]:5000",
                "x",
                Some("t"),
                false,
                "[::1]:5000/x:t",
            ),
            (
                "docker://quay.io/a_b/c__d-e--f.g:v1",
                "quay.io",
                "quay.io",
                "a_b/c__d-e--f.g",
                Some("v1"),
                false,
                "quay.io/a_b/c__d-e--f.g:v1",
            ),
            (
                "index.docker.io/library/busybox",
                "docker.io",
                "index.docker.io",
                "library/busybox",
                None,
                false,
                "docker.io/library/busybox",
            ),
            (
                "busybox@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "docker.io",
                "index.docker.io",
                "library/busybox",
                None,
                true,
                "docker.io/library/busybox@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for &(input, registry, api, repo, tag, has_digest, canonical) in cases {
            let parsed: ImageReference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            let ImageReference::Registry(r) = &parsed else {
                panic!("{input}: not a registry reference")
            };
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.api_host(), api, "{input}");
            assert_eq!(r.repository(), repo, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.digest().is_some(), has_digest, "{input}");
            assert_eq!(parsed.to_string(), canonical, "{input}");
        }
    }

    #[test]
    fn invalid_references() {
        let cases = [
            ("", "empty"),
            ("UPPER/case", "registry host"),
            ("docker.io/Library/x", "repository component"),
            ("x:", "tag"),
            ("x:-bad", "tag"),
            ("x@sha256:abc", "hex"),
            ("x@md5:900150983cd24fb0d6963f7d28e17f72", "not supported"),
            ("a..b.example/x", "host"),
            ("host.example:99999/x", "out of range"),
            ("host.example:/x", "port"),
            ("x//y", "repository component"),
            ("x/y-", "repository component"),
            ("x y", "white space"),
            (
                "a@b@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "more than one",
            ),
            ("oci:", "no path"),
            ("oci:relative/dir", "not absolute"),
            ("oci:/x:", "empty tag"),
            ("oci-archive:/x.tar@sha256:zz", "hex"),
        ];
        for (input, want) in cases {
            let err = input.parse::<ImageReference>().expect_err(input);
            assert_eq!(err.code(), crate::ErrorCode::InvalidReference);
            assert!(err.to_string().contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn layout_references() {
        let cases: &[(&str, bool, &str, Option<&str>, bool)] = &[
            ("oci:/srv/layout", false, "/srv/layout", None, false),
            ("oci:/srv/layout:v1", false, "/srv/layout", Some("v1"), false),
            ("oci:/srv/layout:a:b", false, "/srv/layout", Some("a:b"), false),
            ("oci:/srv/my@dir:v1", false, "/srv/my@dir", Some("v1"), false),
            (
                "oci-archive:/tmp/x.tar:v1@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                true,
                "/tmp/x.tar",
                Some("v1"),
                true,
            ),
            (
                "oci-archive:/tmp/x.tar@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                true,
                "/tmp/x.tar",
                None,
                true,
            ),
        ];
        for &(input, archive, path, tag, has_digest) in cases {
            let parsed: ImageReference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            let l = match (&parsed, archive) {
                (ImageReference::Layout(l), false) | (ImageReference::Archive(l), true) => l,
                other => panic!("{input}: wrong kind {other:?}"),
            };
            assert_eq!(l.path(), Path::new(path), "{input}");
            assert_eq!(l.tag(), tag, "{input}");
            assert_eq!(l.digest().is_some(), has_digest, "{input}");
            assert_eq!(parsed.to_string(), input, "{input}");
        }
        let d: ImageReference = format!("oci:/l@{D}").parse().unwrap();
        assert_eq!(d.digest().map(ToString::to_string).as_deref(), Some(D));
    }
}
