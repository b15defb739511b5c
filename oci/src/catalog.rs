//! Signed image catalogs: a CloudNativePG `ClusterImageCatalog` / `ImageCatalog` YAML file and
//! the Sigstore bundle `cosign sign-blob --bundle` wrote for it (CloudNativePG publishes
//! `catalog-minimal-<os>.yaml` beside `catalog-minimal-<os>.yaml.sigstore.json`, signed keyless
//! by a GitHub workflow). The bundle is verified first, over the file's exact bytes; only a
//! catalog whose bundle verifies is read — one that does not lists nothing.
//!
//! Both bundle forms cosign writes for a blob are read: the Sigstore bundle v0.3
//! (`messageSignature`: the blob's SHA-256 and a signature over the blob; what CloudNativePG
//! publishes and cosign 3 writes by default) and cosign 2's own JSON (`base64Signature`, `cert`,
//! `rekorBundle`). Key-based signatures are judged with the trusted keys, keyless ones by
//! [`crate::keyless`] (certificate chain, identity, transparency-log entry of kind
//! `hashedrekord` naming the blob's SHA-256), as image signatures are.
//!
//! The YAML is read with `serde-saphyr`: maintained, pure Rust, panic-free on malformed input,
//! with budgets against alias and nesting bombs (serde_yaml is unmaintained). Unknown fields are
//! ignored: catalogs grow (`extensions[].ld_library_path`, `env`, …).

use std::collections::BTreeMap;
use std::path::Path;

use aws_lc_rs::digest;
use pgext_core::catalog::{Catalog, Entry, EntryKind, reference_digest};
use pgext_core::hash::to_hex;
use serde::Deserialize;

use crate::bundle::{self, BlobSignature};
use crate::cosign::{SignaturePolicy, SignatureStatus};
use crate::keyless::{self, Certified, Keyless, b64};

pub use pgext_core::catalog::CatalogStatus;

/// Largest catalog read (CloudNativePG's are a few kilobytes).
pub const MAX_CATALOG_BYTES: u64 = 1 << 20;
/// Largest bundle read (CloudNativePG's are about 11 kB).
pub const MAX_BUNDLE_BYTES: u64 = 1 << 20;
/// Most images read from one catalog.
pub const MAX_ENTRIES: usize = 10_000;
/// What keyless identity rules' `images=` prefixes see for a catalog: `catalog:` and its
/// absolute path. Rules scoped `images=catalog:/` (or not scoped) apply to catalogs; no image
/// reference can start so (a registry's port is never empty).
pub const CATALOG_SCOPE: &str = "catalog:/";

#[derive(Deserialize)]
struct CatalogYaml {
    kind: String,
    #[serde(default)]
    metadata: Option<Metadata>,
    spec: Spec,
}

#[derive(Deserialize, Default)]
struct Metadata {
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Spec {
    #[serde(default)]
    images: Vec<ImageYaml>,
}

#[derive(Deserialize)]
struct ImageYaml {
    /// An integer in the API; read as text so that a quoted major is no error.
    major: String,
    image: String,
    #[serde(default)]
    extensions: Vec<ExtensionYaml>,
}

#[derive(Deserialize)]
struct ExtensionYaml {
    name: String,
    image: ExtensionImage,
}

#[derive(Deserialize)]
struct ExtensionImage {
    reference: String,
}

/// Parses a catalog's YAML (at most [`MAX_CATALOG_BYTES`]): `kind` must be
/// `ClusterImageCatalog` or `ImageCatalog`; every `spec.images[]` entry gives its operand
/// image and its extensions' images, with their `@sha256` digests.
pub fn parse(yaml: &[u8]) -> Result<Catalog, String> {
    if yaml.len() as u64 > MAX_CATALOG_BYTES {
        return Err(format!("larger than {MAX_CATALOG_BYTES} bytes"));
    }
    let text = std::str::from_utf8(yaml).map_err(|e| format!("not UTF-8: {e}"))?;
    let c: CatalogYaml = serde_saphyr::from_str(text).map_err(|e| format!("not an image catalog: {e}"))?;
    if c.kind != "ClusterImageCatalog" && c.kind != "ImageCatalog" {
        return Err(format!("a {:?}, not a ClusterImageCatalog or ImageCatalog", c.kind));
    }
    let meta = c.metadata.unwrap_or_default();
    let mut entries = Vec::new();
    for (i, img) in c.spec.images.iter().enumerate() {
        let major: u32 = img
            .major
            .trim()
            .parse()
            .map_err(|_| format!("spec.images[{i}].major {:?} is not a PostgreSQL major", img.major))?;
        entries.push(Entry {
            major,
            kind: EntryKind::Operand,
            name: "postgresql".into(),
            reference: img.image.clone(),
            digest: reference_digest(&img.image),
        });
        for e in &img.extensions {
            entries.push(Entry {
                major,
                kind: EntryKind::Extension,
                name: e.name.clone(),
                reference: e.image.reference.clone(),
                digest: reference_digest(&e.image.reference),
            });
        }
        if entries.len() > MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} images"));
        }
    }
    Ok(Catalog {
        name: meta.name,
        kind: c.kind,
        os: meta.labels.get("images.cnpg.io/os").cloned(),
        date: meta.labels.get("images.cnpg.io/date").cloned(),
        entries,
    })
}

/// cosign 2's own sign-blob bundle (`cosign sign-blob --bundle` without
/// `--new-bundle-format`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyBundle {
    base64_signature: String,
    /// base64 of the certificate's PEM.
    cert: Option<String>,
    /// Rekor's answer, as the legacy annotation holds it.
    rekor_bundle: Option<serde_json::Value>,
}

/// Reads either bundle form.
fn blob_bundle(bytes: &[u8]) -> Result<BlobSignature, String> {
    if let Ok(l) = serde_json::from_slice::<LegacyBundle>(bytes) {
        let certificate = l
            .cert
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                b64(&c)
                    .and_then(|pem| String::from_utf8(pem).map_err(|_| "not UTF-8".into()))
                    .map_err(|e| format!("the bundle's cert is {e}"))
            })
            .transpose()?;
        return Ok(BlobSignature {
            digest: None,
            signature: l.base64_signature,
            certificate,
            chain: None,
            entry: l.rekor_bundle.filter(|v| !v.is_null()).map(|v| v.to_string()),
            key_hint: None,
        });
    }
    bundle::blob_signature(bytes)
}

/// The judgement of a blob's bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobVerdict {
    /// `signed` (by a trusted key or identity), `untrusted`, `invalid`.
    pub status: SignatureStatus,
    /// Who: `key:sha256:<hex>` or `<subject> (issuer <issuer>)`.
    pub signed_by: Option<String>,
    /// When, from a verified transparency-log entry (Unix seconds).
    pub signed_at: Option<i64>,
    /// Why, in words.
    pub detail: String,
}

impl BlobVerdict {
    fn new(status: SignatureStatus, detail: impl Into<String>) -> Self {
        BlobVerdict {
            status,
            signed_by: None,
            signed_at: None,
            detail: detail.into(),
        }
    }
}

/// Verifies a `cosign sign-blob --bundle` bundle over `blob` against `policy`. `reference` is
/// what keyless identity rules' `images=` prefixes are matched with (catalogs:
/// [`CATALOG_SCOPE`] and the path).
pub fn verify_blob(blob: &[u8], bundle_bytes: &[u8], policy: &SignaturePolicy, reference: &str) -> BlobVerdict {
    use SignatureStatus::*;
    let b = match blob_bundle(bundle_bytes) {
        Ok(b) => b,
        Err(e) => return BlobVerdict::new(Invalid, e),
    };
    let sha = digest::digest(&digest::SHA256, blob);
    if let Some((alg, d)) = &b.digest {
        if alg != "SHA2_256" {
            return BlobVerdict::new(Invalid, format!("the bundle's message digest is {alg}, not SHA2_256"));
        }
        if d.as_slice() != sha.as_ref() {
            return BlobVerdict::new(
                Invalid,
                format!(
                    "the bundle signs other bytes (sha256:{}), not this file's (sha256:{}): the file was changed after signing",
                    to_hex(d),
                    to_hex(sha.as_ref())
                ),
            );
        }
    }
    let Ok(sig) = b64(&b.signature) else {
        return BlobVerdict::new(Invalid, "the signature is not base64");
    };
    if let Some(key) = policy.keys.iter().find(|k| k.verifies(blob, &sig)) {
        return BlobVerdict {
            status: Signed,
            signed_by: Some(key.fingerprint.clone()),
            signed_at: None,
            detail: format!("signed by trusted key {}", key.fingerprint),
        };
    }
    if let Some(certificate) = &b.certificate {
        let Some(kp) = &policy.keyless else {
            return BlobVerdict::new(
                Untrusted,
                "signed with a certificate (keyless), and pgext.trusted_root is not set",
            );
        };
        let parts = Certified {
            payload: blob,
            signature: &sig,
            certificate,
            chain: b.chain.as_deref(),
            bundle: b.entry.as_deref(),
            statement: None,
        };
        return match keyless::judge(kp, reference, &parts) {
            Keyless::Signed {
                subject,
                issuer,
                signed_at,
            } => {
                let who = format!("{subject} (issuer {issuer})");
                BlobVerdict {
                    status: Signed,
                    detail: format!(
                        "keyless signature by {who}{}",
                        if signed_at.is_some() {
                            ", in the transparency log"
                        } else {
                            ", no transparency-log entry"
                        }
                    ),
                    signed_by: Some(who),
                    signed_at,
                }
            }
            Keyless::Invalid(why) => BlobVerdict::new(Invalid, why),
            Keyless::Untrusted(why) => BlobVerdict::new(Untrusted, why),
        };
    }
    // The key the bundle names (cosign writes its SHA-256 as the hint): a trusted key named
    // whose signature does not verify means the file or the signature was altered.
    let named = b.key_hint.as_deref().and_then(|h| b64(h).ok()).and_then(|h| {
        let want = format!("key:sha256:{}", to_hex(&h));
        policy.keys.iter().find(|k| k.fingerprint == want)
    });
    if let Some(k) = named {
        return BlobVerdict::new(
            Invalid,
            format!(
                "the signature does not verify with the trusted key it names ({})",
                k.fingerprint
            ),
        );
    }
    if policy.keys.is_empty() {
        BlobVerdict::new(Untrusted, "signed with a key, and pgext.trusted_keys names no key")
    } else {
        BlobVerdict::new(
            Untrusted,
            format!(
                "the signature verifies with none of the {} trusted key(s) (another key signed it, or the file was changed)",
                policy.keys.len()
            ),
        )
    }
}

/// A catalog loaded from files and judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The outcome.
    pub status: CatalogStatus,
    /// Why, in words.
    pub detail: String,
    /// Who signed it (when `verified`).
    pub signed_by: Option<String>,
    /// When, from the transparency log.
    pub signed_at: Option<i64>,
    /// The SHA-256 of the catalog's bytes (when read).
    pub sha256: Option<String>,
    /// The catalog: only when `verified`.
    pub catalog: Option<Catalog>,
}

impl Loaded {
    fn failed(status: CatalogStatus, detail: impl Into<String>, sha256: Option<String>) -> Loaded {
        Loaded {
            status,
            detail: detail.into(),
            signed_by: None,
            signed_at: None,
            sha256,
            catalog: None,
        }
    }
}

/// The bundle path of a catalog when none is given: `<path>.sigstore.json`.
pub fn default_bundle(catalog: &Path) -> std::path::PathBuf {
    let mut p = catalog.as_os_str().to_owned();
    p.push(".sigstore.json");
    p.into()
}

/// Reads the catalog at `path` and its bundle at `bundle`, verifies the bundle with `policy`
/// (`Err`: the trust settings cannot be read — status `error`), and parses the catalog when it
/// verifies. Files are read as untrusted (no FIFO, size-capped).
pub fn load(path: &Path, bundle: &Path, policy: Result<&SignaturePolicy, &str>) -> Loaded {
    use CatalogStatus::*;
    let yaml = match pgext_core::fsinfo::read_untrusted(path, MAX_CATALOG_BYTES) {
        Ok(b) => b,
        Err(e) => return Loaded::failed(Unreadable, format!("{}: {e}", path.display()), None),
    };
    let sha = Some(format!(
        "sha256:{}",
        to_hex(digest::digest(&digest::SHA256, &yaml).as_ref())
    ));
    let bundle_bytes = match pgext_core::fsinfo::read_untrusted(bundle, MAX_BUNDLE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Loaded::failed(
                Unsigned,
                format!("no bundle at {}: the catalog is not signed", bundle.display()),
                sha,
            );
        }
        Err(e) => return Loaded::failed(Unreadable, format!("{}: {e}", bundle.display()), sha),
    };
    let policy = match policy {
        Ok(p) => p,
        Err(e) => return Loaded::failed(Error, e.to_string(), sha),
    };
    let reference = format!("catalog:{}", path.display());
    let v = verify_blob(&yaml, &bundle_bytes, policy, &reference);
    let status = match v.status {
        SignatureStatus::Signed => Verified,
        SignatureStatus::Invalid => Invalid,
        _ => Untrusted,
    };
    if status != Verified {
        return Loaded::failed(status, format!("{}: {}", bundle.display(), v.detail), sha);
    }
    match parse(&yaml) {
        Ok(catalog) => Loaded {
            status,
            detail: v.detail,
            signed_by: v.signed_by,
            signed_at: v.signed_at,
            sha256: sha,
            catalog: Some(catalog),
        },
        Err(e) => Loaded::failed(Invalid, format!("signed, but {e}"), sha),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosign::TrustedKey;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    use pgext_core::metadata::ServerFacts;

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/catalogs")
                .join(name),
        )
        .unwrap()
    }

    const CNPG: &str = "catalog-minimal-trixie.yaml";
    const CNPG_EXT: &str = "extensions-catalog-minimal-trixie.yaml";

    #[test]
    fn cloudnative_pg_catalogs_parse() {
        let c = parse(&data(CNPG)).unwrap();
        assert_eq!(c.kind, "ClusterImageCatalog");
        assert_eq!(c.name.as_deref(), Some("postgresql-minimal-trixie"));
        assert_eq!(c.os.as_deref(), Some("trixie"));
        assert!(c.date.as_deref().is_some_and(|d| d.len() == 8 && d.starts_with("20")));
        assert_eq!(c.entries.len(), 6);
        assert!(
            c.entries
                .iter()
                .all(|e| e.kind == EntryKind::Operand && e.digest.is_some())
        );
        let c = parse(&data(CNPG_EXT)).unwrap();
        let pg18: Vec<_> = c.entries.iter().filter(|e| e.major == 18).collect();
        assert_eq!(pg18[0].kind, EntryKind::Operand);
        let names: Vec<_> = pg18[1..].iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pg-crash",
                "pg-ivm",
                "pgaudit",
                "pgrouting",
                "pgvector",
                "postgis",
                "timescaledb-oss",
                "wal2json"
            ]
        );
        let server =
            ServerFacts::from_os_release("18", "amd64", "ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n");
        let vector = pg18.iter().find(|e| e.name == "pgvector").unwrap();
        let j = c.judge(&server, "pgvector", vector.digest.as_deref());
        assert!(j.in_catalog, "{j:?}");
    }

    #[test]
    fn what_is_not_a_catalog() {
        let ok = "kind: ImageCatalog\nspec:\n  images:\n  - major: '17'\n    image: r/pg:17@sha256:00\n    unknown: [1, 2]\nstatus: {}\n";
        let c = parse(ok.as_bytes()).unwrap();
        assert_eq!((c.entries[0].major, c.entries[0].digest.clone()), (17, None));
        for bad in [
            "",
            "kind: Cluster\nspec: {images: []}\n",
            "kind: ImageCatalog\n",
            "kind: ImageCatalog\nspec:\n  images:\n  - major: x\n    image: r\n",
            "kind: ImageCatalog\nspec:\n  images:\n  - image: r\n",
            "kind: ImageCatalog\nspec:\n  images:\n  - major: 18\n    image: r\n    extensions:\n    - name: a\n",
            "kind: [ImageCatalog\n",
            "a: &a [*a, *a]\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        // An alias bomb stays within the parser's budget (an error, not a hang).
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            bomb += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            );
        }
        bomb += "kind: ImageCatalog\nspec: {images: []}\n";
        let _ = parse(bomb.as_bytes());
    }

    fn keypair() -> (EcdsaKeyPair, TrustedKey) {
        use aws_lc_rs::encoding::AsDer;
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let key = TrustedKey::from_spki_der(kp.public_key().as_der().unwrap().as_ref()).unwrap();
        (kp, key)
    }

    /// A v0.3 bundle as `cosign sign-blob --new-bundle-format --key` writes it.
    fn new_bundle(kp: &EcdsaKeyPair, key: &TrustedKey, blob: &[u8], signed: &[u8]) -> Vec<u8> {
        let e = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let sig = kp.sign(&SystemRandom::new(), signed).unwrap();
        let hint = e(&pgext_core::hash::parse_sha256_hex(key.fingerprint.trim_start_matches("key:sha256:")).unwrap());
        serde_json::json!({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": hint}},
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256",
                "digest": e(digest::digest(&digest::SHA256, blob).as_ref())}, "signature": e(sig.as_ref())}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn key_based_bundles() {
        use SignatureStatus::*;
        let (kp, key) = keypair();
        let (other_kp, other) = keypair();
        let blob = b"kind: ImageCatalog\n";
        let altered = b"kind: ImageCatalog \n";
        let trusting = |keys: Vec<TrustedKey>| SignaturePolicy { keys, keyless: None };
        let legacy = |kp: &EcdsaKeyPair, signed: &[u8]| {
            let sig = kp.sign(&SystemRandom::new(), signed).unwrap();
            format!(
                r#"{{"base64Signature":"{}"}}"#,
                base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
            )
            .into_bytes()
        };
        // (what, bundle, blob, trusted keys, status, a word of the detail)
        type Row<'a> = (&'a str, Vec<u8>, &'a [u8], Vec<TrustedKey>, SignatureStatus, &'a str);
        let rows: Vec<Row> = vec![
            ("v0.3, trusted key", new_bundle(&kp, &key, blob, blob), blob, vec![key.clone()], Signed, "trusted key"),
            ("v0.3, a byte changed", new_bundle(&kp, &key, blob, blob), altered, vec![key.clone()], Invalid, "changed after signing"),
            ("v0.3, another key", new_bundle(&other_kp, &other, blob, blob), blob, vec![key.clone()], Untrusted, "none of the 1"),
            ("v0.3, no key trusted", new_bundle(&kp, &key, blob, blob), blob, vec![], Untrusted, "names no key"),
            ("v0.3, the digest right, the signature of other bytes", new_bundle(&kp, &key, blob, altered), blob, vec![key.clone()], Invalid, "trusted key it names"),
            ("cosign 2's form, trusted key", legacy(&kp, blob), blob, vec![other.clone(), key.clone()], Signed, "trusted key"),
            ("cosign 2's form, a byte changed", legacy(&kp, blob), altered, vec![key.clone()], Untrusted, "the file was changed"),
            ("not a bundle", b"{}".to_vec(), blob, vec![key.clone()], Invalid, "not a Sigstore bundle"),
            ("an attestation's bundle", br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{"payload":"","payloadType":"x","signatures":[]}}"#.to_vec(), blob, vec![key.clone()], Invalid, "DSSE"),
        ];
        for (what, bundle, blob, keys, status, word) in rows {
            let v = verify_blob(blob, &bundle, &trusting(keys), "catalog:/x");
            assert_eq!(v.status, status, "{what}: {}", v.detail);
            assert!(v.detail.contains(word), "{what}: {}", v.detail);
            assert_eq!(v.signed_by.is_some(), status == Signed, "{what}");
        }
    }

    /// CloudNativePG's real catalogs and bundles, judged offline with the Sigstore public-good
    /// trust root: keyless, by the catalog workflows of postgres-containers and
    /// postgres-extensions-containers, with a Rekor `hashedrekord` entry.
    #[test]
    fn cloudnative_pg_bundles_verify_keyless() {
        let root = keyless::TrustRoot::parse(&data("sigstore-public-good-trusted_root.json")).unwrap();
        let policy = |profile: &str| SignaturePolicy {
            keys: Vec::new(),
            keyless: Some(keyless::KeylessPolicy {
                root: root.clone(),
                identities: crate::profiles::parse_profiles(profile).unwrap(),
                require_tlog: true,
            }),
        };
        for (file, workflow) in [
            (CNPG, "postgres-containers/.github/workflows/catalogs.yml"),
            (
                CNPG_EXT,
                "postgres-extensions-containers/.github/workflows/update-catalogs.yml",
            ),
        ] {
            let yaml = data(file);
            let bundle = data(&format!("{file}.sigstore.json"));
            let v = verify_blob(&yaml, &bundle, &policy("cloudnative-pg"), "catalog:/etc/c.yaml");
            assert_eq!(v.status, SignatureStatus::Signed, "{file}: {}", v.detail);
            let who = v.signed_by.unwrap();
            assert!(
                who.contains(workflow)
                    && who.ends_with("@refs/heads/main (issuer https://token.actions.githubusercontent.com)"),
                "{who}"
            );
            assert!(v.signed_at.is_some_and(|t| t > 1_700_000_000));
            // Without the profile no identity is trusted; a changed byte is caught by the digest.
            let v = verify_blob(&yaml, &bundle, &policy(""), "catalog:/etc/c.yaml");
            assert_eq!(v.status, SignatureStatus::Untrusted, "{}", v.detail);
            let mut altered = yaml.clone();
            altered[100] ^= 1;
            let v = verify_blob(&altered, &bundle, &policy("cloudnative-pg"), "catalog:/etc/c.yaml");
            assert_eq!(v.status, SignatureStatus::Invalid, "{}", v.detail);
            // The profile's image rule does not trust a catalog, nor its catalog rule an image.
            let v = verify_blob(&yaml, &bundle, &policy("cloudnative-pg"), "ghcr.io/cloudnative-pg/x");
            assert_eq!(v.status, SignatureStatus::Untrusted, "{}", v.detail);
        }
    }

    #[test]
    fn loading_files() {
        let dir = tempfile::tempdir().unwrap();
        let (kp, key) = keypair();
        let yaml = data(CNPG);
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, &yaml).unwrap();
        let policy = SignaturePolicy {
            keys: vec![key.clone()],
            keyless: None,
        };
        let l = load(&path, &default_bundle(&path), Ok(&policy));
        assert_eq!(l.status, CatalogStatus::Unsigned, "{l:?}");
        assert!(l.catalog.is_none());
        std::fs::write(default_bundle(&path), new_bundle(&kp, &key, &yaml, &yaml)).unwrap();
        let l = load(&path, &default_bundle(&path), Ok(&policy));
        assert_eq!(l.status, CatalogStatus::Verified, "{l:?}");
        assert_eq!(l.catalog.unwrap().entries.len(), 6);
        assert_eq!(l.signed_by.as_deref(), Some(key.fingerprint.as_str()));
        let l = load(&path, &default_bundle(&path), Err("pgext.trusted_keys: x"));
        assert_eq!(l.status, CatalogStatus::Error);
        let l = load(&dir.path().join("none.yaml"), &default_bundle(&path), Ok(&policy));
        assert_eq!(l.status, CatalogStatus::Unreadable);
        // Signed, but not a catalog: invalid, lists nothing.
        std::fs::write(&path, b"kind: Pod\n").unwrap();
        std::fs::write(
            default_bundle(&path),
            new_bundle(&kp, &key, b"kind: Pod\n", b"kind: Pod\n"),
        )
        .unwrap();
        let l = load(&path, &default_bundle(&path), Ok(&policy));
        assert_eq!((l.status, l.catalog), (CatalogStatus::Invalid, None));
    }
}
