//! Image manifests, image indexes (and their Docker equivalents), platform choice, layer types.
//!
//! Parsed with minimal, tolerant structs: only the fields verification needs. Unknown fields are
//! ignored, as the OCI spec requires of consumers.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::OciError;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest type asked for from registries.
pub const ACCEPTED_MANIFESTS: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (possibly several concatenated members).
    Gzip,
    /// zstd.
    Zstd,
}

/// The compression of a layer media type, `None` if it is not a layer type this crate applies.
/// Non-distributable ("foreign") layers are refused: they are fetched from URLs in the manifest,
/// and a database server must not be made to fetch from arbitrary URLs.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => {
            Some(Compression::None)
        }
        "application/vnd.oci.image.layer.v1.tar+gzip" | "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
            Some(Compression::Gzip)
        }
        "application/vnd.oci.image.layer.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// os/architecture/variant of an image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v8` for arm64, …
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the machine this code runs on (linux/amd64, linux/arm64/v8, …).
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        }
    }

    /// Whether an index entry's platform is this one. A missing variant on either side matches,
    /// and arm64's only variant `v8` is the same as none.
    pub fn matches(&self, other: &Platform) -> bool {
        let norm = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", Some("v8")) => None,
            (_, v) => v.map(str::to_owned),
        };
        self.os == other.os
            && self.architecture == other.architecture
            && match (norm(self), norm(other)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// `os/architecture[/variant]`, as `--platform` takes it.
impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: parts.get(2).filter(|v| !v.is_empty()).map(|v| (*v).to_owned()),
            }),
            _ => Err(format!(
                "\"{s}\" is not a platform (os/architecture[/variant], e.g. linux/arm64)"
            )),
        }
    }
}

impl Platform {
    /// The platform of a server whose executables are for `arch` (an ELF/Rust architecture name,
    /// `x86_64`, `aarch64`, …): the image to pick for it from an index.
    pub fn linux(arch: &str) -> Self {
        let architecture = pgext_core::metadata::oci_architecture(arch).to_owned();
        let variant = (architecture == "arm64").then(|| "v8".to_owned());
        Platform {
            os: "linux".into(),
            architecture,
            variant,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor, validated: the digest parses, the size is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// Digest of the content.
    pub digest: Digest,
    /// Size of the content in bytes.
    pub size: u64,
    /// Platform (index entries only).
    pub platform: Option<Platform>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Whether the descriptor lists alternative download URLs (never followed).
    pub has_urls: bool,
    /// The artifact type a referrers index gives its entries (OCI 1.1).
    pub artifact_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    artifact_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocument {
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// A parsed manifest document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // a handful per verification, dropped at once: boxing buys nothing
pub enum Document {
    /// An image index or Docker manifest list.
    Index {
        /// The entries.
        manifests: Vec<Descriptor>,
    },
    /// An image manifest.
    Image {
        /// The config blob.
        config: Descriptor,
        /// Layers, lowest first.
        layers: Vec<Descriptor>,
        /// The manifest's own annotations (`org.opencontainers.image.*`, …).
        annotations: BTreeMap<String, String>,
    },
}

fn descriptor(raw: RawDescriptor, what: &str) -> Result<Descriptor, OciError> {
    let digest = raw.digest.parse::<Digest>().map_err(|e| match e {
        crate::digest::DigestParseError::UnsupportedAlgorithm(_) => OciError::UnsupportedMediaType {
            what: what.to_owned(),
            media_type: e.to_string(),
        },
        _ => OciError::malformed(what, e.to_string()),
    })?;
    let size = u64::try_from(raw.size).map_err(|_| OciError::malformed(what, format!("negative size {}", raw.size)))?;
    Ok(Descriptor {
        media_type: raw.media_type,
        digest,
        size,
        platform: raw.platform,
        annotations: raw.annotations.unwrap_or_default(),
        has_urls: raw.urls.is_some_and(|u| !u.is_empty()),
        artifact_type: raw.artifact_type,
    })
}

/// Parses a manifest or index. `what` names it in errors.
pub fn parse_document(bytes: &[u8], what: &str) -> Result<Document, OciError> {
    let raw: RawDocument = serde_json::from_slice(bytes).map_err(|e| OciError::malformed(what, e.to_string()))?;
    if raw.schema_version != Some(2) {
        // Schema 1 (signed Docker manifests) is long deprecated and has no content digests for layers.
        return Err(OciError::UnsupportedMediaType {
            what: what.to_owned(),
            media_type: format!(
                "schemaVersion {}",
                raw.schema_version.map_or("missing".into(), |v| v.to_string())
            ),
        });
    }
    let kind = match raw.media_type.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => Kind::Index,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => Kind::Image,
        Some(other) => {
            return Err(OciError::UnsupportedMediaType {
                what: what.to_owned(),
                media_type: other.to_owned(),
            });
        }
        // The OCI spec lets mediaType be absent; the shape tells.
        None if raw.manifests.is_some() => Kind::Index,
        None if raw.layers.is_some() => Kind::Image,
        None => return Err(OciError::malformed(what, "neither \"manifests\" nor \"layers\"")),
    };
    match kind {
        Kind::Index => {
            let manifests = raw
                .manifests
                .ok_or_else(|| OciError::malformed(what, "index without \"manifests\""))?
                .into_iter()
                .map(|d| descriptor(d, what))
                .collect::<Result<_, _>>()?;
            Ok(Document::Index { manifests })
        }
        Kind::Image => {
            let config = descriptor(
                raw.config.ok_or_else(|| OciError::malformed(what, "no \"config\""))?,
                what,
            )?;
            let layers = raw
                .layers
                .ok_or_else(|| OciError::malformed(what, "no \"layers\""))?
                .into_iter()
                .map(|d| descriptor(d, what))
                .collect::<Result<_, _>>()?;
            Ok(Document::Image {
                config,
                layers,
                annotations: raw.annotations.unwrap_or_default(),
            })
        }
    }
}

enum Kind {
    Index,
    Image,
}

/// Chooses the index entry for `want`: an exact variant match first, then one without variant.
/// Entries that are not manifests (attestations use platform `unknown/unknown`) never match.
pub fn select_platform<'d>(manifests: &'d [Descriptor], want: &Platform) -> Option<&'d Descriptor> {
    let candidates: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| matches!(d.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST | ""))
        .filter(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .collect();
    candidates
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.variant == want.variant))
        .or_else(|| candidates.first())
        .copied()
}

/// The fields of an image config blob pgext reads.
#[derive(Deserialize)]
struct RawConfig {
    os: Option<String>,
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<RawRuntimeConfig>,
}

#[derive(Deserialize)]
struct RawRuntimeConfig {
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

/// What an image config says about the image: its platform and labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// os/architecture/variant; `None` if absent (artifacts).
    pub platform: Option<Platform>,
    /// `config.Labels` (`io.cloudnativepg.image.base.pgmajor`, `org.opencontainers.image.*`, …).
    pub labels: BTreeMap<String, String>,
}

/// Parses an image config.
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfig, OciError> {
    let c: RawConfig = serde_json::from_slice(bytes).map_err(|e| OciError::malformed("image config", e.to_string()))?;
    Ok(ImageConfig {
        platform: match (c.os, c.architecture) {
            (Some(os), Some(architecture)) => Some(Platform {
                os,
                architecture,
                variant: c.variant,
            }),
            _ => None,
        },
        labels: c.config.and_then(|r| r.labels).unwrap_or_default(),
    })
}

/// Annotation buildx puts on an attestation manifest's index entry: its kind…
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// …and the digest of the image manifest it attests.
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// Annotation of an in-toto layer of an attestation manifest: what its statement asserts.
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

/// The index entries that attest `manifest` (buildx's `attestation-manifest` entries).
pub fn attestation_manifests<'d>(index: &'d [Descriptor], manifest: &Digest) -> Vec<&'d Descriptor> {
    let want = manifest.to_string();
    index
        .iter()
        .filter(|d| d.annotations.get(REFERENCE_TYPE).map(String::as_str) == Some("attestation-manifest"))
        .filter(|d| d.annotations.get(REFERENCE_DIGEST) == Some(&want))
        .collect()
}

/// A short name for an in-toto predicate type: `provenance` (SLSA), `sbom` (SPDX, CycloneDX),
/// `vex`, else the type itself.
pub fn attestation_kind(predicate_type: &str) -> String {
    let t = predicate_type.to_ascii_lowercase();
    if t.contains("slsa.dev/provenance") {
        "provenance".into()
    } else if t.contains("spdx") || t.contains("cyclonedx") {
        "sbom".into()
    } else if t.contains("openvex") {
        "vex".into()
    } else {
        predicate_type.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const D4: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

    fn index() -> Vec<Descriptor> {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{D3}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{D4}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}},
                "annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}
            ]}}"#
        );
        match parse_document(json.as_bytes(), "index").unwrap() {
            Document::Index { manifests } => manifests,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selects_platforms() {
        let idx = index();
        let p = |os: &str, arch: &str, v: Option<&str>| Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: v.map(Into::into),
        };
        let cases = [
            (p("linux", "amd64", None), Some(D1)),
            (p("linux", "arm64", Some("v8")), Some(D2)),
            (p("linux", "arm64", None), Some(D2)),
            (p("linux", "arm", Some("v7")), Some(D3)),
            (p("linux", "arm", Some("v6")), None),
            (p("linux", "s390x", None), None),
            (p("windows", "amd64", None), None),
        ];
        for (want, digest) in cases {
            let got = select_platform(&idx, &want).map(|d| d.digest.to_string());
            assert_eq!(got.as_deref(), digest, "{want}");
        }
    }

    #[test]
    fn parses_image_manifests() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D1}","size":10}},
               "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{D2}","size":20}}]}}"#
        );
        let Document::Image { config, layers, .. } = parse_document(json.as_bytes(), "m").unwrap() else {
            panic!()
        };
        assert_eq!(config.size, 10);
        assert_eq!(layers.len(), 1);
        assert_eq!(layer_compression(&layers[0].media_type), Some(Compression::Gzip));
    }

    #[test]
    fn rejects_bad_documents() {
        let cases = [
            (
                r#"{"schemaVersion":1,"fsLayers":[]}"#.to_owned(),
                crate::ErrorCode::UnsupportedMediaType,
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}"#.to_owned(),
                crate::ErrorCode::UnsupportedMediaType,
            ),
            (r#"{"schemaVersion":2}"#.to_owned(), crate::ErrorCode::Malformed),
            ("not json".to_owned(), crate::ErrorCode::Malformed),
            (
                r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:zz","size":1}]}"#.to_owned(),
                crate::ErrorCode::Malformed,
            ),
            (
                format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{D1}","size":-1}}]}}"#),
                crate::ErrorCode::Malformed,
            ),
            (
                r#"{"schemaVersion":2,"manifests":[{"digest":"sha384:ab","size":1}]}"#.to_owned(),
                crate::ErrorCode::UnsupportedMediaType,
            ),
        ];
        for (json, code) in cases {
            let err = parse_document(json.as_bytes(), "doc").unwrap_err();
            assert_eq!(err.code(), code, "{json}: {err}");
        }
    }

    #[test]
    fn layer_types() {
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Some(Compression::None)),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(Compression::Gzip)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(Compression::Zstd)),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Some(Compression::Gzip),
            ),
            ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", None),
            ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", None),
            ("application/vnd.wasm.content.layer.v1+wasm", None),
        ];
        for (mt, want) in cases {
            assert_eq!(layer_compression(mt), want, "{mt}");
        }
    }
}
