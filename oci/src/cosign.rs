//! cosign signatures of a pinned image, in both forms cosign writes. The `.sig` form (cosign 2):
//! an image manifest under the tag `sha256-<hex>.sig` in the image's own repository (or layout),
//! one layer per signature. Each layer is a "simple signing" JSON payload naming the signed
//! manifest digest; the layer's `dev.cosignproject.cosign/signature` annotation holds the base64
//! ASN.1 ECDSA signature over the payload bytes. The bundle form (cosign 3): Sigstore bundles
//! attached as OCI 1.1 referrers, read into the same [`SignatureLayer`] by [`crate::bundle`].
//!
//! Key-based signatures (trusted public keys, what `cosign generate-key-pair` makes) are judged
//! here, keyless ones (a certificate in the layer) in [`crate::keyless`]. The `sigstore` crate is
//! not used: it brings its own HTTP/TLS stack and async runtime
//! into the server process to do what aws-lc-rs (already linked, prefixed symbols) does in one call.
//! Keys are read with `pem-rfc7468` and parsed as SubjectPublicKeyInfo by aws-lc-rs itself.

use std::io::Read;
use std::path::Path;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ParsedPublicKey};
use base64::Engine;
use serde::Deserialize;

use crate::bundle;
use crate::digest::Digest;
use crate::error::{ErrorCode, OciError};
use crate::interrupt::Interrupt;
use crate::keyless::{self, Certified, Keyless, KeylessPolicy};
use crate::manifest::{Descriptor, Document, parse_document};
use crate::reference::ImageReference;
use crate::source::{BlobSink, Source};
use crate::{VerifyOptions, open_source, runtime};

/// Annotation holding a layer's signature (base64 of an ASN.1 ECDSA signature).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Annotation holding a keyless signature's certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the certificate's chain (PEM, parent first).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding the transparency-log entry (Rekor's signed entry timestamp and entry).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Most signature layers read from one `.sig` manifest (cosign appends one per `cosign sign`).
pub const MAX_SIGNATURES: usize = 64;
/// Largest payload read (cosign's are a few hundred bytes; annotations can grow them a little).
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;
/// Largest key file read.
const MAX_KEY_FILE_BYTES: u64 = 256 * 1024;
/// Most keys read from a directory.
const MAX_KEYS: usize = 256;

/// Shared with the worker's status decisions, which live in the core.
pub use pgext_core::status::SignatureStatus;

/// The judgement of one image's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureVerdict {
    /// The status.
    pub status: SignatureStatus,
    /// Who signed: `key:sha256:<hex>`, the SHA-256 of the trusted key's SubjectPublicKeyInfo;
    /// for a keyless signature the certificate's identity, `<subject> (issuer <issuer>)`.
    pub signed_by: Option<String>,
    /// When, for a keyless signature with a verified transparency-log entry (Unix seconds).
    pub signed_at: Option<i64>,
    /// Why, in words.
    pub detail: String,
}

impl SignatureVerdict {
    fn new(status: SignatureStatus, detail: impl Into<String>) -> Self {
        SignatureVerdict {
            status,
            signed_by: None,
            signed_at: None,
            detail: detail.into(),
        }
    }
}

/// A trusted public key.
#[derive(Clone)]
pub struct TrustedKey {
    /// `key:sha256:<hex of the DER SubjectPublicKeyInfo>`.
    pub fingerprint: String,
    key: ParsedPublicKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.fingerprint)
    }
}

impl PartialEq for TrustedKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl TrustedKey {
    /// Parses one DER SubjectPublicKeyInfo of an ECDSA P-256 or P-384 key (aws-lc-rs checks the
    /// curve and that the point is on it).
    pub fn from_spki_der(der: &[u8]) -> Result<TrustedKey, String> {
        let fingerprint = format!(
            "key:sha256:{}",
            pgext_core::hash::to_hex(digest::digest(&digest::SHA256, der).as_ref())
        );
        ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, der)
            .or_else(|_| ParsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, der))
            .map(|key| TrustedKey { fingerprint, key })
            .map_err(|_| "not an ECDSA P-256 or P-384 public key".into())
    }

    /// Whether `signature` (ASN.1 DER) over `message` verifies with this key.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// The DER content of every PEM block of `text` labelled `label` (other blocks, and text between
/// blocks, are ignored; a malformed block is an error).
pub(crate) fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let Some(end_label) = block.find("-----END ") else {
            return Err("a PEM block has no END line".into());
        };
        let end = block[end_label..].find('\n').map_or(block.len(), |n| end_label + n + 1);
        let (found, der) =
            pem_rfc7468::decode_vec(&block.as_bytes()[..end]).map_err(|e| format!("bad PEM block: {e}"))?;
        if found == label {
            out.push(der);
        }
        rest = &block[end..];
    }
    Ok(out)
}

/// Parses every `PUBLIC KEY` PEM block of `text` (other blocks are ignored).
pub fn parse_keys(text: &str) -> Result<Vec<TrustedKey>, String> {
    pem_blocks(text, "PUBLIC KEY")?
        .iter()
        .map(|der| TrustedKey::from_spki_der(der))
        .collect()
}

/// Reads the trusted keys named by a setting: a PEM file, or a directory whose `*.pub` and
/// `*.pem` files are read (in name order). Empty path: no keys.
pub fn load_keys(path: &Path) -> Result<Vec<TrustedKey>, String> {
    if path.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let files = if meta.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("pub" | "pem")))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut keys = Vec::new();
    for file in files {
        let f = std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        if !f.metadata().map(|m| m.is_file()).unwrap_or(false) {
            continue; // a FIFO or device never blocks the reader
        }
        let mut text = String::new();
        f.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        if text.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(format!("{}: larger than {MAX_KEY_FILE_BYTES} bytes", file.display()));
        }
        keys.extend(parse_keys(&text).map_err(|e| format!("{}: {e}", file.display()))?);
        if keys.len() > MAX_KEYS {
            return Err(format!("more than {MAX_KEYS} keys"));
        }
    }
    if keys.is_empty() {
        return Err(format!("{}: no PUBLIC KEY found", path.display()));
    }
    Ok(keys)
}

/// One signature, as read: a layer of the `.sig` manifest (its payload's digest already
/// checked), or one signature of a Sigstore bundle (see the `bundle` module).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureLayer {
    /// The bytes that were signed: the simple-signing payload, or a DSSE envelope's
    /// pre-authentication encoding.
    pub payload: Vec<u8>,
    /// The signature annotation (base64), if any.
    pub signature: Option<String>,
    /// The certificate annotation (PEM): a keyless signature.
    pub certificate: Option<String>,
    /// The chain annotation (PEM).
    pub chain: Option<String>,
    /// The transparency-log bundle annotation (JSON).
    pub bundle: Option<String>,
    /// A bundle's in-toto statement (the DSSE payload): what the signature is about.
    pub statement: Option<Vec<u8>>,
    /// Why a signature artefact that was found could not be read (judged `invalid`).
    pub defect: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: PayloadImage,
}

#[derive(Deserialize)]
struct PayloadImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// What signatures count: trusted keys, and the keyless policy (none: keyless signatures are
/// judged untrusted).
#[derive(Debug, Clone, Default)]
pub struct SignaturePolicy {
    /// `pgext.trusted_keys`.
    pub keys: Vec<TrustedKey>,
    /// `pgext.trusted_root`, `pgext.trusted_identities`, `pgext.keyless_require_tlog`.
    pub keyless: Option<KeylessPolicy>,
}

/// Judges the signature layers of the image with `digest` (named `reference`) against `policy`.
/// `None`: no signature manifest exists. The first signature the policy trusts decides; else a
/// provably bad one (`invalid`); else `untrusted`, saying why the first keyless one was not.
pub fn judge(
    digest: &Digest,
    reference: &str,
    layers: Option<&[SignatureLayer]>,
    policy: &SignaturePolicy,
) -> SignatureVerdict {
    use SignatureStatus::*;
    let keys = &policy.keys;
    let Some(layers) = layers.filter(|l| !l.is_empty()) else {
        return SignatureVerdict::new(Unsigned, "no cosign signature");
    };
    let want = digest.to_string();
    let mut invalid: Option<String> = None;
    let mut keyless = 0;
    let mut keyless_why: Option<String> = None;
    for layer in layers {
        if let Some(why) = &layer.defect {
            invalid.get_or_insert_with(|| why.clone());
            continue;
        }
        let Some(sig_b64) = &layer.signature else {
            invalid.get_or_insert_with(|| format!("a signature layer has no {SIGNATURE_ANNOTATION} annotation"));
            continue;
        };
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig_b64.trim()) else {
            invalid.get_or_insert_with(|| "a signature is not base64".into());
            continue;
        };
        // The digest the signature is about.
        let signed = match &layer.statement {
            Some(statement) => match bundle::signed_digest(statement, &want) {
                Ok(Some(d)) => d,
                Ok(None) => continue, // an attestation, not a signature
                Err(e) => {
                    invalid.get_or_insert(e);
                    continue;
                }
            },
            None => {
                let payload: Payload = match serde_json::from_slice(&layer.payload) {
                    Ok(p) => p,
                    Err(e) => {
                        invalid
                            .get_or_insert_with(|| format!("a signed payload is not a simple-signing document: {e}"));
                        continue;
                    }
                };
                if payload.critical.kind != "cosign container image signature" {
                    invalid.get_or_insert_with(|| format!("a signed payload has type {:?}", payload.critical.kind));
                    continue;
                }
                payload.critical.image.digest
            }
        };
        if let Some(certificate) = &layer.certificate
            && !keys.iter().any(|k| k.verifies(&layer.payload, &sig))
        {
            keyless += 1;
            let Some(kp) = &policy.keyless else {
                continue;
            };
            let parts = Certified {
                payload: &layer.payload,
                signature: &sig,
                certificate,
                chain: layer.chain.as_deref(),
                bundle: layer.bundle.as_deref(),
                statement: layer.statement.as_deref(),
            };
            match keyless::judge(kp, reference, &parts) {
                Keyless::Invalid(why) => {
                    invalid.get_or_insert(why);
                }
                Keyless::Untrusted(why) => {
                    keyless_why.get_or_insert(why);
                }
                Keyless::Signed { .. } if signed != want => {
                    invalid = Some(format!("a keyless signature is for {signed}, not {want}"));
                }
                Keyless::Signed {
                    subject,
                    issuer,
                    signed_at,
                } => {
                    let who = format!("{subject} (issuer {issuer})");
                    return SignatureVerdict {
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
                    };
                }
            }
            continue;
        }
        let Some(key) = keys.iter().find(|k| k.verifies(&layer.payload, &sig)) else {
            continue;
        };
        if signed != want {
            // Authentic, but for other content: someone copied a signature onto this tag.
            invalid = Some(format!(
                "a signature by {} is for {signed}, not {want}",
                key.fingerprint
            ));
            continue;
        }
        return SignatureVerdict {
            status: Signed,
            signed_by: Some(key.fingerprint.clone()),
            signed_at: None,
            detail: format!("signed by trusted key {}", key.fingerprint),
        };
    }
    if let Some(why) = invalid {
        return SignatureVerdict::new(Invalid, why);
    }
    let n = layers.len();
    let detail = if let Some(why) = keyless_why {
        format!("{n} signature(s), none trusted: {why}")
    } else if keyless > 0 && policy.keyless.is_none() {
        format!("{n} signature(s), {keyless} keyless, and pgext.trusted_root is not set")
    } else if keys.is_empty() {
        format!("{n} signature(s), and pgext.trusted_keys names no key")
    } else {
        format!("{n} signature(s), none verifies with the {} trusted key(s)", keys.len())
    };
    SignatureVerdict::new(Untrusted, detail)
}

/// The tag cosign stores the signatures of `digest` under.
pub fn signature_tag(digest: &Digest) -> String {
    digest.to_string().replacen(':', "-", 1) + ".sig"
}

/// Fetches the signature layers of the image `reference` names (its pinned digest, else what
/// its tag or a layout's only manifest resolves to) from the same repository or layout, and
/// judges them. Network failures become `unreachable`, never an `Err`; the `Err` is for a
/// cancel, which the caller must raise.
pub fn check(
    reference: &ImageReference,
    options: &VerifyOptions,
    policy: &SignaturePolicy,
    cancel: &dyn Fn() -> bool,
) -> Result<SignatureVerdict, OciError> {
    let fetched = runtime().and_then(|rt| rt.block_on(fetch(reference, options, cancel)));
    match fetched {
        Ok((digest, layers)) => Ok(judge(&digest, &reference.to_string(), layers.as_deref(), policy)),
        Err(e) if e.code() == ErrorCode::Cancelled => Err(e),
        Err(e) => {
            let status = match e.code() {
                ErrorCode::Unreachable | ErrorCode::Timeout => SignatureStatus::Unreachable,
                ErrorCode::DigestMismatch => SignatureStatus::Invalid,
                _ => SignatureStatus::Error,
            };
            Ok(SignatureVerdict::new(status, e.to_string()))
        }
    }
}

async fn fetch(
    reference: &ImageReference,
    options: &VerifyOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<(Digest, Option<Vec<SignatureLayer>>), OciError> {
    let intr = Interrupt::new(cancel, options.total_timeout);
    let max = options.limits.max_document_bytes;
    let mut source = open_source(reference, options, &intr)?;
    let digest = match reference.digest() {
        Some(d) => d.clone(),
        None => source.resolve_default(reference.tag(), max, &intr).await?,
    };
    let legacy = legacy_signatures(&mut source, &digest, options, &intr).await?;
    let bundles = bundle_signatures(&mut source, &digest, options, &intr).await?;
    Ok((
        digest,
        match (legacy, bundles) {
            (None, None) => None,
            (a, b) => Some(a.into_iter().chain(b).flatten().collect()),
        },
    ))
}

/// Downloads a small blob (a signature payload or a bundle), at most [`MAX_PAYLOAD_BYTES`].
async fn small_blob(
    source: &mut Source,
    d: &Descriptor,
    what: String,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<Vec<u8>, OciError> {
    bounded_blob(
        source,
        d,
        what,
        MAX_PAYLOAD_BYTES,
        "reading a spooled signature blob",
        options,
        intr,
    )
    .await
}

/// Downloads a blob of at most `max` bytes into memory, its digest verified (`during` names the
/// read of the spool file in an I/O error). Configs, signatures and attestations all read theirs
/// so; a registry's are kept in the blob cache and taken from it (intact: size and digest are
/// checked again) when a later verification needs them.
pub(crate) async fn bounded_blob(
    source: &mut Source,
    d: &Descriptor,
    what: String,
    max: u64,
    during: &str,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<Vec<u8>, OciError> {
    if d.size > max {
        return Err(OciError::TooLarge {
            what,
            limit: max,
            unit: "bytes",
        });
    }
    // A layout's blobs are local files already.
    let cache = options.blob_cache.as_ref().filter(|_| source.is_registry());
    if let Some(bytes) = cache.and_then(|c| c.get(&d.digest, d.size)) {
        return Ok(bytes);
    }
    let mut sink = BlobSink::new(&d.digest, d.size, what, options.spool_dir.as_deref(), intr)?;
    source.blob(&mut sink, intr).await?;
    let mut bytes = Vec::new();
    sink.finish()?
        .take(max)
        .read_to_end(&mut bytes)
        .map_err(|e| OciError::io(during, e))?;
    if let Some(c) = cache {
        // Verified by the sink: every byte, against the descriptor's size and digest.
        c.put(&d.digest, &bytes);
    }
    Ok(bytes)
}

/// The layers of the `sha256-<hex>.sig` manifest; `None` when there is none.
async fn legacy_signatures(
    source: &mut Source,
    digest: &Digest,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<Option<Vec<SignatureLayer>>, OciError> {
    let max = options.limits.max_document_bytes;
    let tag = signature_tag(digest);
    let Some((sig_digest, bytes)) = source.resolve_tag(&tag, digest.algorithm(), max, intr).await? else {
        return Ok(None);
    };
    let bytes = match bytes {
        Some(b) => b,
        None => source.manifest(&sig_digest, None, max, intr).await?,
    };
    let what = format!("signature manifest {tag}");
    let Document::Image { layers, .. } = parse_document(&bytes, &what)? else {
        return Err(OciError::malformed(&what, "an index, not an image manifest"));
    };
    if layers.len() > MAX_SIGNATURES {
        return Err(too_many(what, "signatures"));
    }
    let mut out = Vec::with_capacity(layers.len());
    for d in layers {
        let payload = small_blob(source, &d, format!("signature payload {}", d.digest), options, intr).await?;
        out.push(SignatureLayer {
            payload,
            signature: d.annotations.get(SIGNATURE_ANNOTATION).cloned(),
            certificate: d.annotations.get(CERTIFICATE_ANNOTATION).cloned(),
            chain: d.annotations.get(CHAIN_ANNOTATION).cloned(),
            bundle: d.annotations.get(BUNDLE_ANNOTATION).cloned(),
            ..Default::default()
        });
    }
    Ok(Some(out))
}

/// The parts of an OCI 1.1 artifact manifest a referrer is judged by.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactManifest {
    artifact_type: Option<String>,
    subject: Option<SubjectDescriptor>,
}

#[derive(Deserialize)]
struct SubjectDescriptor {
    digest: String,
}

/// The signatures of the Sigstore bundles that refer to `digest` (see the `bundle` module);
/// `None` when no bundle refers to it. A listed referrer whose manifest names another subject
/// is not this image's (a listing is not content-addressed) and is skipped; a bundle that
/// cannot be read is a layer with a defect (`invalid`).
async fn bundle_signatures(
    source: &mut Source,
    digest: &Digest,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<Option<Vec<SignatureLayer>>, OciError> {
    let max = options.limits.max_document_bytes;
    let listed = source.referrers(digest, max, intr).await?;
    if listed.len() > MAX_SIGNATURES {
        return Err(too_many(format!("the referrers of {digest}"), "referrers"));
    }
    let mut out: Option<Vec<SignatureLayer>> = None;
    for entry in listed {
        // Index entries may carry the artifact type; cosign 2 writes the config's there, so
        // only what is plainly something else is skipped unread.
        if entry
            .artifact_type
            .as_deref()
            .is_some_and(|t| !t.starts_with(bundle::BUNDLE_MEDIA_TYPE_PREFIX) && t != EMPTY_MEDIA_TYPE)
        {
            continue;
        }
        let what = format!("referrer {} of {digest}", entry.digest);
        let bytes = source.manifest(&entry.digest, Some(entry.size), max, intr).await?;
        let Ok(m) = serde_json::from_slice::<ArtifactManifest>(&bytes) else {
            continue; // not an artifact manifest: not a bundle
        };
        let is_bundle = m
            .artifact_type
            .as_deref()
            .is_some_and(|t| t.starts_with(bundle::BUNDLE_MEDIA_TYPE_PREFIX));
        if !is_bundle || m.subject.as_ref().map(|s| s.digest.as_str()) != Some(digest.to_string().as_str()) {
            continue;
        }
        let layers = match parse_document(&bytes, &what)? {
            Document::Image { layers, .. } => layers,
            Document::Index { .. } => continue,
        };
        let found = out.get_or_insert_with(Vec::new);
        let Some(layer) = layers
            .iter()
            .find(|d| d.media_type.starts_with(bundle::BUNDLE_MEDIA_TYPE_PREFIX))
        else {
            found.push(SignatureLayer {
                defect: Some(format!("{what} holds no bundle")),
                ..Default::default()
            });
            continue;
        };
        let bytes = small_blob(source, layer, format!("bundle {}", layer.digest), options, intr).await?;
        match bundle::layers(&bytes) {
            Ok(l) => found.extend(l),
            Err(why) => found.push(SignatureLayer {
                defect: Some(format!("{what}: {why}")),
                ..Default::default()
            }),
        }
        if found.len() > MAX_SIGNATURES {
            return Err(too_many(format!("the signatures of {digest}"), "signatures"));
        }
    }
    Ok(out)
}

/// More than [`MAX_SIGNATURES`] of `unit` for one image.
fn too_many(what: String, unit: &'static str) -> OciError {
    OciError::TooLarge {
        what,
        limit: MAX_SIGNATURES as u64,
        unit,
    }
}

/// The empty descriptor's media type (an artifact manifest's config).
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn keypair() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap()
    }

    fn trusted(kp: &EcdsaKeyPair) -> TrustedKey {
        use aws_lc_rs::encoding::AsDer;
        let der = kp.public_key().as_der().unwrap();
        TrustedKey::from_spki_der(der.as_ref()).unwrap()
    }

    fn payload(digest: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r/x"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes()
    }

    fn layer(kp: &EcdsaKeyPair, payload: Vec<u8>) -> SignatureLayer {
        let sig = kp.sign(&SystemRandom::new(), &payload).unwrap();
        SignatureLayer {
            payload,
            signature: Some(base64::engine::general_purpose::STANDARD.encode(sig.as_ref())),
            certificate: None,
            chain: None,
            bundle: None,
            ..Default::default()
        }
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn judgements() {
        let good = keypair();
        let other = keypair();
        let keys = [trusted(&good)];
        let d1: Digest = D1.parse().unwrap();
        let mut tampered = layer(&good, payload(D1));
        tampered.payload = String::from_utf8(payload(D1))
            .unwrap()
            .replace("r/x", "r/y")
            .into_bytes();
        // (what, the signature layers, the trusted keys, the status)
        type Case<'k> = (
            &'static str,
            Option<Vec<SignatureLayer>>,
            &'k [TrustedKey],
            SignatureStatus,
        );
        let cases: Vec<Case> = vec![
            ("no signature tag", None, &keys, SignatureStatus::Unsigned),
            (
                "empty signature manifest",
                Some(vec![]),
                &keys,
                SignatureStatus::Unsigned,
            ),
            (
                "trusted key",
                Some(vec![layer(&good, payload(D1))]),
                &keys,
                SignatureStatus::Signed,
            ),
            (
                "other key",
                Some(vec![layer(&other, payload(D1))]),
                &keys,
                SignatureStatus::Untrusted,
            ),
            (
                "no keys configured",
                Some(vec![layer(&good, payload(D1))]),
                &[],
                SignatureStatus::Untrusted,
            ),
            (
                "payload altered after signing",
                Some(vec![tampered]),
                &keys,
                SignatureStatus::Untrusted,
            ),
            (
                "signs another digest",
                Some(vec![layer(&good, payload(D2))]),
                &keys,
                SignatureStatus::Invalid,
            ),
            (
                "other key first, trusted second",
                Some(vec![layer(&other, payload(D1)), layer(&good, payload(D1))]),
                &keys,
                SignatureStatus::Signed,
            ),
            (
                "not JSON",
                Some(vec![layer(&good, b"{not json".to_vec())]),
                &keys,
                SignatureStatus::Invalid,
            ),
            (
                "no signature annotation",
                Some(vec![SignatureLayer {
                    payload: payload(D1),
                    signature: None,
                    certificate: None,
                    chain: None,
                    bundle: None,
                    ..Default::default()
                }]),
                &keys,
                SignatureStatus::Invalid,
            ),
            (
                "signature not base64",
                Some(vec![SignatureLayer {
                    payload: payload(D1),
                    signature: Some("%%%".into()),
                    certificate: None,
                    chain: None,
                    bundle: None,
                    ..Default::default()
                }]),
                &keys,
                SignatureStatus::Invalid,
            ),
        ];
        for (what, layers, keys, want) in cases {
            let policy = SignaturePolicy {
                keys: keys.to_vec(),
                keyless: None,
            };
            let v = judge(&d1, "r/x", layers.as_deref(), &policy);
            assert_eq!(v.status, want, "{what}: {}", v.detail);
            assert_eq!(v.signed_by.is_some(), want == SignatureStatus::Signed, "{what}");
        }
    }

    #[test]
    fn keys_from_pem() {
        use aws_lc_rs::encoding::AsDer;
        let kp = keypair();
        let der = kp.public_key().as_der().unwrap();
        let pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, der.as_ref()).unwrap();
        let text = format!(
            "junk\n{pem}-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
        );
        let keys = parse_keys(&text).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0], trusted(&kp));
        assert!(keys[0].fingerprint.starts_with("key:sha256:"));
        assert!(parse_keys("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n").is_err());
        assert!(TrustedKey::from_spki_der(b"\x30\x03\x02\x01\x00").is_err());
    }

    #[test]
    fn tag_name() {
        assert_eq!(
            signature_tag(&D1.parse().unwrap()),
            "sha256-1111111111111111111111111111111111111111111111111111111111111111.sig"
        );
    }
}
