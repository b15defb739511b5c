//! Attestations of a pinned image: SBOMs (SPDX 2 JSON, CycloneDX 1.x JSON) and build provenance
//! (SLSA v0.2, v1), in-toto statements found in three places, from a registry or an OCI layout:
//!
//! - **BuildKit's attestation manifests** in the image index (`docker buildx build --sbom
//!   --provenance`, moby/buildkit `docs/attestations/attestation-storage.md`): an index entry
//!   annotated `vnd.docker.reference.type = attestation-manifest` and
//!   `vnd.docker.reference.digest = <image manifest>`, whose layers are in-toto statements
//!   (`application/vnd.in-toto+json`, annotated `in-toto.io/predicate-type`). They carry no
//!   signature of their own: they are [`Trust::Unsigned`] — unless the pinned index itself
//!   carries a trusted cosign signature, which covers them (the index names each attestation
//!   manifest by digest, which names each statement by digest): [`Trust::IndexSigned`], see
//!   [`Attestations::covered_by`];
//! - **cosign attestations** (`cosign attest --type
//!   spdxjson|cyclonedx|slsaprovenance|slsaprovenance1`): the tag `sha256-<hex>.att`, one layer
//!   per attestation, each a DSSE envelope (`application/vnd.dsse.envelope.v1+json`) whose
//!   signature is judged exactly like an image signature — trusted keys, keyless certificates
//!   against the trust root and identities;
//! - **OCI 1.1 referrers** holding Sigstore bundles with a DSSE envelope (`cosign attest
//!   --new-bundle-format`), read by [`crate::bundle`].
//!
//! A statement counts for the image only when one of its subjects is the pinned digest (or the
//! platform's manifest of a pinned index); others are ignored (counted, not kept). Bytes that
//! do not hash to their descriptor, an envelope whose statement is not what its annotation
//! says, a predicate that does not parse: [`Trust::Invalid`]. Every document is bounded
//! ([`MAX_STATEMENT_BYTES`], and counts inside the parsers).

mod bounded;
pub mod builders;
pub mod cyclonedx;
pub mod sbom;
pub mod slsa;
pub mod spdx;

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use base64::Engine;
use serde::Deserialize;

use crate::bundle;
use crate::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SignatureLayer, SignaturePolicy, SignatureVerdict,
};
use crate::digest::Digest;
use crate::error::{ErrorCode, OciError};
use crate::interrupt::Interrupt;
use crate::keyless::{self, Certified, Keyless};
use crate::manifest::{self, Descriptor, Document, parse_document};
use crate::reference::ImageReference;
use crate::source::Source;
use crate::{VerifyOptions, open_source, runtime};
use bounded::{Bounded, clip};

/// Largest in-toto statement (or envelope, or bundle) read.
pub const MAX_STATEMENT_BYTES: u64 = 16 << 20;
/// Most attestations read for one image (every place together).
pub const MAX_ATTESTATIONS: usize = 32;
/// Most attestation manifests read from an index for one image (buildx writes one).
const MAX_ATTESTATION_MANIFESTS: usize = 4;
/// Most referrers looked at for one digest.
const MAX_REFERRERS: usize = 64;
/// The media type of an in-toto statement (a BuildKit attestation layer).
pub const IN_TOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";
/// The media type of a cosign attestation layer.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The annotation cosign gives an attestation layer: the statement's predicate type.
pub const COSIGN_PREDICATE_ANNOTATION: &str = "predicateType";

/// How far an attestation is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum Trust {
    /// Its own signature verifies against the signature policy.
    Signed,
    /// It has no signature of its own, but lies in an index whose pinned digest carries a
    /// trusted signature (BuildKit's attestations in a signed index).
    IndexSigned,
    /// No signature (BuildKit's attestations in an index nobody trusted signed).
    Unsigned,
    /// Signed, but by no one the policy trusts.
    Untrusted,
    /// Provably wrong: bytes that do not match their digest, a statement that is not what its
    /// envelope says, a signature that fails with its own certificate, a predicate that does
    /// not parse.
    Invalid,
}

impl Trust {
    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether policy may rely on it (`signed`, `index_signed`).
    pub fn trusted(self) -> bool {
        matches!(self, Trust::Signed | Trust::IndexSigned)
    }
}

/// Where an attestation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Origin {
    /// An attestation manifest in the image index.
    Buildkit,
    /// The `sha256-<hex>.att` tag.
    Cosign,
    /// A Sigstore bundle attached as an OCI 1.1 referrer.
    Referrer,
}

impl Origin {
    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One attestation of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// Where it was found.
    pub origin: Origin,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// `sbom`, `provenance`, `vex`, else the predicate type.
    pub kind: String,
    /// `sha256:<hex>` of the statement's bytes.
    pub digest: String,
    /// The subject digest that made it this image's.
    pub subject: String,
    /// How far it is trusted.
    pub trust: Trust,
    /// Who signed it (as `signed_by` of signatures), when trusted.
    pub signed_by: Option<String>,
    /// When, for a keyless signature with a verified transparency-log entry (Unix seconds).
    pub signed_at: Option<i64>,
    /// Why it got its trust, or what is wrong with it.
    pub detail: String,
    /// The SBOM, for an SPDX or CycloneDX statement that parsed.
    pub sbom: Option<sbom::Sbom>,
    /// The provenance, for a SLSA statement that parsed.
    pub provenance: Option<slsa::Provenance>,
}

/// Every attestation of an image, as one check found them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attestations {
    /// Those whose subject is the image, in the order found.
    pub found: Vec<Attestation>,
    /// Statements about another digest, ignored.
    pub ignored: usize,
    /// Why they could not all be read (the source unreachable, a listing too large, …).
    pub error: Option<String>,
    /// The pinned digest, when it is an index (BuildKit's attestations are in it).
    pub index: Option<String>,
}

impl Attestations {
    /// A failed read.
    pub fn failed(why: impl Into<String>) -> Attestations {
        Attestations {
            error: Some(why.into()),
            ..Default::default()
        }
    }

    /// BuildKit's attestations lie in the pinned index: when the image's signature verdict
    /// (about the pinned digest, as [`crate::cosign::check`] judges it) is `signed`, they are
    /// covered by it (`index_signed`, signed by the same signer) — only when the pinned digest
    /// is an index ([`Attestations::index`]).
    pub fn covered_by(&mut self, verdict: &SignatureVerdict) {
        let Some(index_digest) = self.index.clone() else { return };
        if verdict.status != crate::cosign::SignatureStatus::Signed {
            return;
        }
        for a in &mut self.found {
            if a.origin == Origin::Buildkit && a.trust == Trust::Unsigned {
                a.trust = Trust::IndexSigned;
                a.signed_by = verdict.signed_by.clone();
                a.signed_at = verdict.signed_at;
                a.detail = format!(
                    "no signature of its own; the pinned index {} that holds it is signed ({})",
                    index_digest, verdict.detail
                );
            }
        }
    }

    /// One line for `image_checks.attestations_detail`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .found
            .iter()
            .map(|a| format!("{} ({}, {})", a.kind, a.origin.as_str(), a.trust.as_str()))
            .collect();
        if parts.is_empty() {
            parts.push("no attestation".into());
        }
        if self.ignored > 0 {
            parts.push(format!("{} for another digest ignored", self.ignored));
        }
        if let Some(e) = &self.error {
            parts.push(format!("not all read: {e}"));
        }
        parts.join("; ")
    }
}

#[derive(Deserialize)]
struct StatementJson<'a> {
    #[serde(rename = "_type", default)]
    kind: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    subject: Bounded<SubjectJson, 256>,
    #[serde(borrow)]
    predicate: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct SubjectJson {
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

/// An in-toto statement, read.
#[derive(Debug)]
pub struct Statement<'a> {
    /// `predicateType`.
    pub predicate_type: String,
    /// Every subject digest, as `algorithm:hex`.
    pub subjects: Vec<String>,
    /// The predicate's JSON.
    pub predicate: &'a [u8],
}

/// Parses an in-toto statement (v0.1 or v1).
pub fn parse_statement(bytes: &[u8]) -> Result<Statement<'_>, String> {
    let s: StatementJson<'_> = serde_json::from_slice(bytes).map_err(|e| format!("not an in-toto statement: {e}"))?;
    if !s.kind.starts_with("https://in-toto.io/Statement/") {
        return Err(format!("not an in-toto statement (_type {:?})", clip(s.kind, 80)));
    }
    let subjects = s
        .subject
        .0
        .iter()
        .flat_map(|sub| sub.digest.iter().map(|(alg, hex)| format!("{alg}:{hex}")))
        .take(1024)
        .collect();
    Ok(Statement {
        predicate_type: clip(s.predicate_type, 512),
        subjects,
        predicate: s.predicate.map_or(&b"null"[..], |p| p.get().as_bytes()),
    })
}

/// Reads a statement as an attestation of an image with digests `subjects` (the pinned one, and
/// the platform's manifest of a pinned index). `Ok(None)`: it is about another digest. `Err`:
/// it cannot be read (an `invalid` attestation). `declared`: the predicate type the layer's
/// annotation says, which must be the statement's.
pub fn read_attestation(
    origin: Origin,
    bytes: &[u8],
    declared: Option<&str>,
    subjects: &[String],
) -> Result<Option<Attestation>, String> {
    let st = parse_statement(bytes)?;
    if let Some(d) = declared
        && d != st.predicate_type
    {
        return Err(format!(
            "its annotation says predicate type {:?}, the statement {:?}",
            clip(d.to_owned(), 200),
            st.predicate_type
        ));
    }
    let Some(subject) = st.subjects.iter().find(|s| subjects.contains(s)).cloned() else {
        return Ok(None);
    };
    let mut a = Attestation {
        origin,
        kind: manifest::attestation_kind(&st.predicate_type),
        predicate_type: st.predicate_type.clone(),
        digest: format!(
            "sha256:{}",
            pgext_core::hash::to_hex(digest::digest(&digest::SHA256, bytes).as_ref())
        ),
        subject,
        trust: Trust::Unsigned,
        signed_by: None,
        signed_at: None,
        detail: String::new(),
        sbom: None,
        provenance: None,
    };
    if spdx::is_spdx(&st.predicate_type) {
        a.sbom = Some(spdx::parse(st.predicate)?);
    } else if cyclonedx::is_cyclonedx(&st.predicate_type) {
        a.sbom = Some(cyclonedx::parse(st.predicate)?);
    } else if slsa::is_provenance(&st.predicate_type) {
        a.provenance = Some(slsa::parse(&st.predicate_type, st.predicate)?);
    }
    Ok(Some(a))
}

/// An attestation that could not be read: `invalid`, with why.
fn invalid(origin: Origin, detail: String) -> Attestation {
    Attestation {
        origin,
        predicate_type: String::new(),
        kind: "unreadable".into(),
        digest: String::new(),
        subject: String::new(),
        trust: Trust::Invalid,
        signed_by: None,
        signed_at: None,
        detail,
        sbom: None,
        provenance: None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeJson {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Bounded<EnvelopeSignature, 8>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    sig: String,
}

/// A DSSE envelope (a cosign `.att` layer): the statement, and one signature layer per
/// signature (the signed bytes are the pre-authentication encoding), with the certificate,
/// chain and log entry of the layer's annotations.
pub fn envelope_layers(
    bytes: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Vec<SignatureLayer>), String> {
    let env: EnvelopeJson = serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if env.payload_type != bundle::IN_TOTO_PAYLOAD {
        return Err(format!(
            "a DSSE envelope of payload type {:?}",
            clip(env.payload_type, 100)
        ));
    }
    let statement = keyless::b64(&env.payload).map_err(|e| format!("the envelope's payload is {e}"))?;
    if env.signatures.0.is_empty() {
        return Err("the envelope holds no signature".into());
    }
    let signed = bundle::pae(&env.payload_type, &statement);
    let layers = env
        .signatures
        .0
        .iter()
        .map(|s| SignatureLayer {
            payload: signed.clone(),
            signature: Some(s.sig.clone()),
            certificate: annotations.get(CERTIFICATE_ANNOTATION).cloned(),
            chain: annotations.get(CHAIN_ANNOTATION).cloned(),
            bundle: annotations.get(BUNDLE_ANNOTATION).cloned(),
            statement: Some(statement.clone()),
            defect: None,
        })
        .collect();
    Ok((statement, layers))
}

/// The kind of a legacy log entry (`hashedrekord`, `dsse`, `intoto`, …), if it reads.
fn log_entry_kind(bundle: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct B {
        #[serde(rename = "Payload")]
        payload: P,
    }
    #[derive(Deserialize)]
    struct P {
        body: String,
    }
    #[derive(Deserialize)]
    struct K {
        kind: String,
    }
    let b: B = serde_json::from_str(bundle).ok()?;
    let body = keyless::b64(&b.payload.body).ok()?;
    serde_json::from_slice::<K>(&body).ok().map(|k| k.kind)
}

/// The judgement of one attestation's signatures (the signed bytes of each layer are the DSSE
/// encoding of the same statement): the first the policy trusts decides; else a provably bad
/// one (`invalid`); else `untrusted`. Trusted keys first, then keyless certificates (the
/// reference scopes identity rules, as for signatures).
pub fn judge_signatures(
    layers: &[SignatureLayer],
    policy: &SignaturePolicy,
    reference: &str,
) -> (Trust, Option<String>, Option<i64>, String) {
    let mut invalid: Option<String> = None;
    let mut untrusted: Option<String> = None;
    for layer in layers {
        if let Some(why) = &layer.defect {
            invalid.get_or_insert_with(|| why.clone());
            continue;
        }
        let Some(sig) = layer
            .signature
            .as_deref()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s.trim()).ok())
        else {
            invalid.get_or_insert_with(|| "a signature is missing or not base64".into());
            continue;
        };
        if let Some(key) = policy.keys.iter().find(|k| k.verifies(&layer.payload, &sig)) {
            return (
                Trust::Signed,
                Some(key.fingerprint.clone()),
                None,
                format!("signed by trusted key {}", key.fingerprint),
            );
        }
        let Some(certificate) = &layer.certificate else {
            untrusted.get_or_insert_with(|| {
                if policy.keys.is_empty() {
                    "signed, and pgext.trusted_keys names no key".into()
                } else {
                    format!("signed, but by none of the {} trusted key(s)", policy.keys.len())
                }
            });
            continue;
        };
        let Some(kp) = &policy.keyless else {
            untrusted.get_or_insert_with(|| "a keyless signature, and pgext.trusted_root is not set".into());
            continue;
        };
        // cosign 2 logs `.att` envelopes as `intoto` entries, which pgext does not read: such
        // an entry counts as none (pgext.keyless_require_tlog decides).
        let mut note = "";
        let bundle = layer.bundle.as_deref().filter(|b| {
            let intoto = log_entry_kind(b).as_deref() == Some("intoto");
            if intoto {
                note = " (its intoto log entry is not read)";
            }
            !intoto
        });
        let parts = Certified {
            payload: &layer.payload,
            signature: &sig,
            certificate,
            chain: layer.chain.as_deref(),
            bundle,
            statement: layer.statement.as_deref(),
        };
        match keyless::judge(kp, reference, &parts) {
            Keyless::Signed {
                subject,
                issuer,
                signed_at,
            } => {
                let who = format!("{subject} (issuer {issuer})");
                return (
                    Trust::Signed,
                    Some(who.clone()),
                    signed_at,
                    format!("keyless signature by {who}{note}"),
                );
            }
            Keyless::Invalid(why) => {
                invalid.get_or_insert(why);
            }
            Keyless::Untrusted(why) => {
                untrusted.get_or_insert(format!("{why}{note}"));
            }
        }
    }
    match (invalid, untrusted) {
        (Some(why), _) => (Trust::Invalid, None, None, why),
        (None, Some(why)) => (Trust::Untrusted, None, None, why),
        (None, None) => (Trust::Invalid, None, None, "no signature".into()),
    }
}

/// Reads and judges every attestation of the image `reference` names. A failure to read them
/// is [`Attestations::error`], never an `Err`; the `Err` is for a cancel, which the caller must
/// raise.
pub fn check(
    reference: &ImageReference,
    options: &VerifyOptions,
    policy: &SignaturePolicy,
    cancel: &dyn Fn() -> bool,
) -> Result<Attestations, OciError> {
    let mut out = Attestations::default();
    let fetched = runtime().and_then(|rt| rt.block_on(fetch(reference, options, policy, cancel, &mut out)));
    match fetched {
        Ok(()) => Ok(out),
        Err(e) if e.code() == ErrorCode::Cancelled => Err(e),
        Err(e) => {
            out.error = Some(e.to_string());
            Ok(out)
        }
    }
}

/// Downloads a blob of at most `max` bytes (e.g. [`MAX_STATEMENT_BYTES`]) into memory, verified.
async fn blob(
    source: &mut Source,
    d: &Descriptor,
    max: u64,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<Vec<u8>, OciError> {
    let what = format!("attestation blob {}", d.digest);
    crate::cosign::bounded_blob(source, d, what, max, "reading a spooled attestation", options, intr).await
}

/// What a failed read of one attestation's blob means: a cancel stops everything, bytes that
/// are not their digest (or too many) make an `invalid` attestation, anything else (the source
/// failing) stops the read.
fn blob_failure(e: OciError) -> Result<String, OciError> {
    match e.code() {
        ErrorCode::DigestMismatch | ErrorCode::TooLarge => Ok(format!("tampered or oversized: {e}")),
        _ => Err(e),
    }
}

async fn fetch(
    reference: &ImageReference,
    options: &VerifyOptions,
    policy: &SignaturePolicy,
    cancel: &dyn Fn() -> bool,
    out: &mut Attestations,
) -> Result<(), OciError> {
    let intr = Interrupt::new(cancel, options.total_timeout);
    let max = options.limits.max_document_bytes;
    let mut source = open_source(reference, options, &intr)?;
    let name = reference.to_string();
    let pinned = match reference.digest() {
        Some(d) => d.clone(),
        None => source.resolve_default(reference.tag(), max, &intr).await?,
    };
    let top = source.manifest(&pinned, None, max, &intr).await?;
    let mut subjects: Vec<Digest> = vec![pinned.clone()];
    let mut in_index: Vec<Descriptor> = Vec::new();
    if let Document::Index { manifests } = parse_document(&top, &format!("manifest {pinned}"))?
        && let Some(entry) = manifest::select_platform(&manifests, &options.platform)
    {
        subjects.push(entry.digest.clone());
        out.index = Some(pinned.to_string());
        in_index = manifest::attestation_manifests(&manifests, &entry.digest)
            .into_iter()
            .take(MAX_ATTESTATION_MANIFESTS)
            .cloned()
            .collect();
    }
    let wanted: Vec<String> = subjects.iter().map(ToString::to_string).collect();
    let push = |out: &mut Attestations, a: Result<Option<Attestation>, String>, origin: Origin| {
        match a {
            Ok(Some(a)) => out.found.push(a),
            Ok(None) => out.ignored += 1,
            Err(why) => out.found.push(invalid(origin, why)),
        }
        out.found.len() + out.ignored >= MAX_ATTESTATIONS
    };

    // 1. BuildKit's attestation manifests: unsigned statements.
    for entry in &in_index {
        let bytes = source.manifest(&entry.digest, Some(entry.size), max, &intr).await?;
        let Document::Image { layers, .. } = parse_document(&bytes, &format!("attestation manifest {}", entry.digest))?
        else {
            continue;
        };
        for l in layers.iter().filter(|l| l.media_type == IN_TOTO_MEDIA_TYPE) {
            let read = match blob(&mut source, l, MAX_STATEMENT_BYTES, options, &intr).await {
                Ok(bytes) => read_attestation(
                    Origin::Buildkit,
                    &bytes,
                    l.annotations.get(manifest::PREDICATE_TYPE).map(String::as_str),
                    &wanted,
                )
                .map(|a| {
                    a.map(|mut a| {
                        a.detail = "BuildKit attestation in the image index: no signature of its own".into();
                        a
                    })
                }),
                Err(e) => Err(format!("statement {}: {}", l.digest, blob_failure(e)?)),
            };
            if push(out, read, Origin::Buildkit) {
                return Ok(());
            }
        }
    }

    // 2. cosign's `.att` tag of each subject.
    for d in &subjects {
        let tag = crate::cosign::signature_tag(d).replace(".sig", ".att");
        let Some((att, bytes)) = source.resolve_tag(&tag, d.algorithm(), max, &intr).await? else {
            continue;
        };
        let bytes = match bytes {
            Some(b) => b,
            None => source.manifest(&att, None, max, &intr).await?,
        };
        let Document::Image { layers, .. } = parse_document(&bytes, &format!("attestation manifest {tag}"))? else {
            continue;
        };
        for l in &layers {
            let read = match blob(&mut source, l, MAX_STATEMENT_BYTES * 4 / 3 + 4096, options, &intr).await {
                Ok(bytes) => envelope_layers(&bytes, &l.annotations).and_then(|(statement, sigs)| {
                    let declared = l.annotations.get(COSIGN_PREDICATE_ANNOTATION).map(String::as_str);
                    Ok(read_attestation(Origin::Cosign, &statement, declared, &wanted)?
                        .map(|a| judged(a, &sigs, policy, &name)))
                }),
                Err(e) => Err(format!("envelope {}: {}", l.digest, blob_failure(e)?)),
            };
            if push(out, read, Origin::Cosign) {
                return Ok(());
            }
        }
    }

    // 3. Sigstore bundles referring to each subject.
    for d in &subjects {
        let listed = source.referrers(d, max, &intr).await?;
        for entry in listed.iter().take(MAX_REFERRERS) {
            if entry
                .artifact_type
                .as_deref()
                .is_some_and(|t| !t.starts_with(bundle::BUNDLE_MEDIA_TYPE_PREFIX) && !t.is_empty() && t != EMPTY)
            {
                continue;
            }
            let bytes = source.manifest(&entry.digest, Some(entry.size), max, &intr).await?;
            let Ok(m) = serde_json::from_slice::<ArtifactJson>(&bytes) else {
                continue;
            };
            let is_bundle = m
                .artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(bundle::BUNDLE_MEDIA_TYPE_PREFIX));
            if !is_bundle || m.subject.map(|s| s.digest) != Some(d.to_string()) {
                continue;
            }
            let Document::Image { layers, .. } = parse_document(&bytes, &format!("referrer {}", entry.digest))? else {
                continue;
            };
            let Some(l) = layers
                .iter()
                .find(|l| l.media_type.starts_with(bundle::BUNDLE_MEDIA_TYPE_PREFIX))
            else {
                continue;
            };
            let read = match blob(&mut source, l, MAX_STATEMENT_BYTES * 4 / 3 + 65536, options, &intr).await {
                Ok(bytes) => match bundle::attestation_layers(&bytes) {
                    Ok(sigs) if sigs.is_empty() => continue, // an image signature: not ours
                    Ok(sigs) => {
                        let statement = sigs[0].statement.clone().unwrap_or_default();
                        read_attestation(Origin::Referrer, &statement, None, &wanted)
                            .map(|a| a.map(|a| judged(a, &sigs, policy, &name)))
                    }
                    Err(why) => Err(format!("bundle {}: {why}", l.digest)),
                },
                Err(e) => Err(format!("bundle {}: {}", l.digest, blob_failure(e)?)),
            };
            if push(out, read, Origin::Referrer) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// `a` with the judgement of its signatures.
fn judged(mut a: Attestation, sigs: &[SignatureLayer], policy: &SignaturePolicy, reference: &str) -> Attestation {
    let (trust, by, at, detail) = judge_signatures(sigs, policy, reference);
    a.trust = trust;
    a.signed_by = by;
    a.signed_at = at;
    a.detail = detail;
    a
}

const EMPTY: &str = "application/vnd.oci.empty.v1+json";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactJson {
    artifact_type: Option<String>,
    subject: Option<SubjectDigest>,
}

#[derive(Deserialize)]
struct SubjectDigest {
    digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosign::TrustedKey;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn statement(predicate_type: &str, subject: &str, predicate: &str) -> Vec<u8> {
        let hex = subject.strip_prefix("sha256:").unwrap();
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"{predicate_type}","subject":[{{"name":"x","digest":{{"sha256":"{hex}"}}}}],"predicate":{predicate}}}"#
        )
        .into_bytes()
    }

    const PROV: &str = r#"{"builder":{"id":"https://ci.example/builder"},"invocation":{"configSource":{"uri":"git+https://git.example/o/r@refs/heads/main","digest":{"sha1":"abc"},"entryPoint":"build.yml"}},"metadata":{"buildFinishedOn":"2026-01-01T00:00:00Z"}}"#;

    #[test]
    fn statements_become_attestations() {
        let wanted = [D1.to_string()];
        let p = statement("https://slsa.dev/provenance/v0.2", D1, PROV);
        let a = read_attestation(Origin::Buildkit, &p, Some("https://slsa.dev/provenance/v0.2"), &wanted)
            .unwrap()
            .unwrap();
        assert_eq!((a.kind.as_str(), a.trust), ("provenance", Trust::Unsigned));
        let prov = a.provenance.unwrap();
        assert_eq!(prov.builder_id.as_deref(), Some("https://ci.example/builder"));
        assert_eq!(prov.source_repository.as_deref(), Some("https://git.example/o/r"));
        assert_eq!(prov.workflow.as_deref(), Some("build.yml"));
        assert!(a.digest.starts_with("sha256:") && a.subject == D1);

        let sbom = statement(
            "https://spdx.dev/Document",
            D1,
            r#"{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"p","name":"libgeos","versionInfo":"3.13.1"}]}"#,
        );
        let a = read_attestation(Origin::Cosign, &sbom, None, &wanted).unwrap().unwrap();
        assert_eq!(a.sbom.unwrap().packages[0].version.as_deref(), Some("3.13.1"));

        // Another digest: ignored. A lying annotation, a broken predicate: errors (invalid).
        assert_eq!(
            read_attestation(
                Origin::Cosign,
                &statement("https://spdx.dev/Document", D2, "{}"),
                None,
                &wanted
            )
            .unwrap(),
            None
        );
        assert!(read_attestation(Origin::Buildkit, &p, Some("https://spdx.dev/Document"), &wanted).is_err());
        assert!(
            read_attestation(
                Origin::Buildkit,
                &statement("https://spdx.dev/Document", D1, "{}"),
                None,
                &wanted
            )
            .is_err()
        );
        assert!(read_attestation(Origin::Buildkit, b"{\"predicateType\":\"x\"}", None, &wanted).is_err());
        // Other predicate types are kept as they are.
        let vex = statement("https://openvex.dev/ns/v0.2.0", D1, "{}");
        let a = read_attestation(Origin::Buildkit, &vex, None, &wanted)
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.kind.as_str(), a.sbom.is_none(), a.provenance.is_none()),
            ("vex", true, true)
        );
    }

    fn keypair() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap()
    }

    fn trusted(kp: &EcdsaKeyPair) -> TrustedKey {
        use aws_lc_rs::encoding::AsDer;
        TrustedKey::from_spki_der(kp.public_key().as_der().unwrap().as_ref()).unwrap()
    }

    /// A DSSE envelope over `st`, signed by `kp`, as cosign writes it in a `.att` layer.
    fn envelope(kp: &EcdsaKeyPair, st: &[u8]) -> Vec<u8> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let sig = kp
            .sign(&SystemRandom::new(), &bundle::pae(bundle::IN_TOTO_PAYLOAD, st))
            .unwrap();
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"","sig":"{}"}}]}}"#,
            b64(st),
            b64(sig.as_ref())
        )
        .into_bytes()
    }

    #[test]
    fn envelopes_are_judged_like_signatures() {
        let good = keypair();
        let other = keypair();
        let policy = SignaturePolicy {
            keys: vec![trusted(&good)],
            keyless: None,
        };
        let st = statement("https://slsa.dev/provenance/v0.2", D1, PROV);
        let none = BTreeMap::new();
        let judge = |env: &[u8]| {
            let (_, sigs) = envelope_layers(env, &none).unwrap();
            judge_signatures(&sigs, &policy, "r/x")
        };
        let (t, by, _, _) = judge(&envelope(&good, &st));
        assert_eq!(t, Trust::Signed);
        assert_eq!(by, Some(policy.keys[0].fingerprint.clone()));
        assert_eq!(judge(&envelope(&other, &st)).0, Trust::Untrusted);
        // The statement altered after signing: no trusted key verifies it.
        let env = String::from_utf8(envelope(&good, &st)).unwrap();
        let altered = statement(
            "https://slsa.dev/provenance/v0.2",
            D1,
            &PROV.replace("ci.example", "evil.example"),
        );
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let tampered = env.replace(&b64(&st), &b64(&altered));
        assert_eq!(judge(tampered.as_bytes()).0, Trust::Untrusted);
        // A certificate whose own key does not verify the signature: provably invalid.
        let with_cert = SignaturePolicy {
            keys: vec![],
            keyless: None,
        };
        let mut ann = BTreeMap::new();
        ann.insert(CERTIFICATE_ANNOTATION.to_owned(), "junk".to_owned());
        let (_, sigs) = envelope_layers(&envelope(&good, &st), &ann).unwrap();
        assert_eq!(
            judge_signatures(&sigs, &with_cert, "r/x").0,
            Trust::Untrusted,
            "no trust root"
        );
        for bad in [
            &b"{}"[..],
            br#"{"payloadType":"text/plain","payload":"","signatures":[{"sig":""}]}"#,
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"%%","signatures":[{"sig":""}]}"#,
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#,
        ] {
            assert!(envelope_layers(bad, &none).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_signed_index_covers_its_attestations() {
        let wanted = [D1.to_string()];
        let st = statement("https://slsa.dev/provenance/v0.2", D1, PROV);
        let mut all = Attestations {
            found: vec![read_attestation(Origin::Buildkit, &st, None, &wanted).unwrap().unwrap()],
            ignored: 1,
            error: None,
            index: None,
        };
        let mut cosign = all.found[0].clone();
        cosign.origin = Origin::Cosign;
        cosign.trust = Trust::Untrusted;
        all.found.push(cosign);
        let verdict = SignatureVerdict {
            status: crate::cosign::SignatureStatus::Untrusted,
            signed_by: None,
            signed_at: None,
            detail: "x".into(),
        };
        all.index = Some(D2.into());
        all.covered_by(&verdict);
        assert_eq!(all.found[0].trust, Trust::Unsigned);
        let verdict = SignatureVerdict {
            status: crate::cosign::SignatureStatus::Signed,
            signed_by: Some("key:sha256:ab".into()),
            ..verdict
        };
        all.index = None;
        all.covered_by(&verdict);
        assert_eq!(all.found[0].trust, Trust::Unsigned, "not an index");
        all.index = Some(D2.into());
        all.covered_by(&verdict);
        assert_eq!(all.found[0].trust, Trust::IndexSigned);
        assert_eq!(all.found[0].signed_by.as_deref(), Some("key:sha256:ab"));
        assert_eq!(all.found[1].trust, Trust::Untrusted, "only BuildKit's");
        assert_eq!(
            all.summary(),
            "provenance (buildkit, index_signed); provenance (cosign, untrusted); 1 for another digest ignored"
        );
        assert!(Trust::IndexSigned.trusted() && Trust::Signed.trusted() && !Trust::Unsigned.trusted());
    }
}
