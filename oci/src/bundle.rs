//! Cosign's newer storage form: a Sigstore bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`)
//! in the only layer of an OCI 1.1 artifact manifest whose `subject` is the signed image,
//! found through the referrers API or the referrers tag schema. This is what `cosign sign`
//! writes from cosign 3 on (and `cosign attest --new-bundle-format` before): a DSSE envelope
//! over an in-toto statement whose predicate type is [`SIGN_PREDICATE`] and whose subject is the
//! image manifest's digest, signed by a key or a certificate, with the transparency-log entry in
//! the bundle itself.
//!
//! A bundle becomes a [`SignatureLayer`] the legacy judge reads: the signed bytes are the DSSE
//! pre-authentication encoding, the certificate and chain PEM, the log entry the legacy
//! annotation's JSON; the statement goes along for the digest check. The bundle's JSON is read
//! with serde (protobuf-JSON field names); nothing in it is trusted before the signature is.

use pgext_core::hash::to_hex;
use serde::Deserialize;

use crate::cosign::SignatureLayer;
use crate::keyless::b64;

/// Media types of Sigstore bundles (`…bundle+json;version=0.1`, `…bundle.v0.3+json`).
pub const BUNDLE_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// The predicate type of an image signature in a DSSE statement (cosign 3's `cosign sign`).
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD: &str = "application/vnd.in-toto+json";
/// Signatures read from one envelope at most.
const MAX_ENVELOPE_SIGNATURES: usize = 8;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleJson {
    media_type: String,
    verification_material: Material,
    /// Absent in a `messageSignature` bundle, which signs bytes, not an image (cosign never
    /// writes one for images).
    dsse_envelope: Option<Envelope>,
    /// What `cosign sign-blob --bundle` writes instead: a signature over a blob (read by
    /// [`blob_signature`] only: an image's bundle never fails on it).
    message_signature: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: Option<MessageDigest>,
    signature: String,
}

#[derive(Deserialize)]
struct MessageDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    certificate: Option<RawBytes>,
    x509_certificate_chain: Option<Chain>,
    #[serde(default)]
    tlog_entries: Vec<TlogEntry>,
    public_key: Option<KeyHint>,
}

#[derive(Deserialize)]
struct KeyHint {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<RawBytes>,
}

/// protobuf-JSON writes 64-bit integers as strings; both are accepted.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int64 {
    Text(String),
    Number(i64),
}

impl Int64 {
    fn value(&self) -> Result<i64, String> {
        match self {
            Int64::Number(n) => Ok(*n),
            Int64::Text(t) => t.parse().map_err(|_| format!("{t:?} is not an integer")),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogEntry {
    log_index: Int64,
    log_id: LogId,
    integrated_time: Int64,
    inclusion_promise: Option<Promise>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// A certificate as the legacy annotations carry it (PEM).
fn pem(der: &[u8]) -> Result<String, String> {
    pem_rfc7468::encode_string("CERTIFICATE", pem_rfc7468::LineEnding::LF, der).map_err(|e| e.to_string())
}

/// DSSE's pre-authentication encoding: what an envelope's signatures sign.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The certificate (PEM), its chain (PEM) and the first transparency-log entry with a signed
/// promise, in the legacy annotation's JSON form (what the keyless judge checks).
type MaterialParts = (Option<String>, Option<String>, Option<String>);

fn material(material: &Material) -> Result<MaterialParts, String> {
    let mut certs: Vec<Vec<u8>> = Vec::new();
    if let Some(c) = &material.certificate {
        certs.push(b64(&c.raw_bytes).map_err(|e| format!("the certificate is {e}"))?);
    }
    if let Some(chain) = &material.x509_certificate_chain {
        for c in &chain.certificates {
            certs.push(b64(&c.raw_bytes).map_err(|e| format!("a chain certificate is {e}"))?);
        }
    }
    let certificate = certs.first().map(|c| pem(c)).transpose()?;
    let chain = match certs.get(1..) {
        Some(rest) if !rest.is_empty() => Some(rest.iter().map(|c| pem(c)).collect::<Result<String, _>>()?),
        _ => None,
    };
    // The first entry with a signed promise, in the legacy annotation's form (what the keyless
    // judge checks: its signed entry timestamp, its body against this signature).
    let entry = material
        .tlog_entries
        .iter()
        .find_map(|e| Some((e, e.inclusion_promise.as_ref()?)))
        .map(|(e, promise)| -> Result<String, String> {
            let log_id = to_hex(&b64(&e.log_id.key_id).map_err(|err| format!("a log ID is {err}"))?);
            Ok(serde_json::json!({
                "SignedEntryTimestamp": promise.signed_entry_timestamp,
                "Payload": {
                    "body": e.canonicalized_body,
                    "integratedTime": e.integrated_time.value()?,
                    "logIndex": e.log_index.value()?,
                    "logID": log_id,
                },
            })
            .to_string())
        })
        .transpose()
        .map_err(|e| format!("transparency-log entry: {e}"))?;
    Ok((certificate, chain, entry))
}

/// What a bundle says, as signature layers (one per envelope signature). `Ok(empty)` for a
/// bundle that is not an image signature (a `messageSignature`, another payload type, an
/// attestation: a statement of another predicate type); `Err` for one that is broken (the
/// caller judges it `invalid`).
pub fn layers(bytes: &[u8]) -> Result<Vec<SignatureLayer>, String> {
    envelope_layers(bytes, |t| t == SIGN_PREDICATE)
}

/// What a bundle says when it is an attestation (a statement of any predicate type but
/// [`SIGN_PREDICATE`]): its signatures as layers, each with the statement. `Ok(empty)` for an
/// image signature or a bundle that signs no statement.
pub fn attestation_layers(bytes: &[u8]) -> Result<Vec<SignatureLayer>, String> {
    envelope_layers(bytes, |t| t != SIGN_PREDICATE)
}

fn envelope_layers(bytes: &[u8], wanted: impl Fn(&str) -> bool) -> Result<Vec<SignatureLayer>, String> {
    let b: BundleJson = serde_json::from_slice(bytes).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    if !b.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) {
        return Err(format!("a bundle of media type {:?}", b.media_type));
    }
    let Some(env) = b.dsse_envelope else {
        return Ok(Vec::new());
    };
    if env.payload_type != IN_TOTO_PAYLOAD {
        return Ok(Vec::new());
    }
    let statement = b64(&env.payload).map_err(|e| format!("the envelope's payload is {e}"))?;
    let kind: Statement = serde_json::from_slice(&statement).map_err(|e| format!("a signed statement: {e}"))?;
    if !wanted(&kind.predicate_type) {
        return Ok(Vec::new());
    }
    let signed = pae(&env.payload_type, &statement);
    let (certificate, chain, entry) = material(&b.verification_material)?;
    if env.signatures.is_empty() {
        return Err("the envelope holds no signature".into());
    }
    Ok(env
        .signatures
        .iter()
        .take(MAX_ENVELOPE_SIGNATURES)
        .map(|s| SignatureLayer {
            payload: signed.clone(),
            signature: Some(s.sig.clone()),
            certificate: certificate.clone(),
            chain: chain.clone(),
            bundle: entry.clone(),
            statement: Some(statement.clone()),
            defect: None,
        })
        .collect())
}

/// A `messageSignature` bundle (`cosign sign-blob --bundle`, bundle v0.3): a signature over a
/// blob's bytes, with the blob's SHA-256 in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSignature {
    /// `messageDigest`: (algorithm as written, the digest's bytes), when the bundle says it.
    pub digest: Option<(String, Vec<u8>)>,
    /// The signature (base64, as written).
    pub signature: String,
    /// The signing certificate (PEM): a keyless signature.
    pub certificate: Option<String>,
    /// Its chain (PEM).
    pub chain: Option<String>,
    /// The transparency-log entry in the legacy annotation's JSON form.
    pub entry: Option<String>,
    /// `publicKey.hint`: the signing key's SHA-256 (base64), as cosign writes it for a key.
    pub key_hint: Option<String>,
}

/// Reads a sign-blob bundle. `Err` for what is not one: not a Sigstore bundle, or one holding a
/// DSSE envelope (an attestation) instead of a message signature.
pub fn blob_signature(bytes: &[u8]) -> Result<BlobSignature, String> {
    let b: BundleJson = serde_json::from_slice(bytes).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    if !b.media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX) {
        return Err(format!("a bundle of media type {:?}", b.media_type));
    }
    let Some(m) = b.message_signature else {
        return Err(if b.dsse_envelope.is_some() {
            "a bundle of a DSSE envelope (an attestation), not of a signed file".into()
        } else {
            "the bundle holds no messageSignature".into()
        });
    };
    let m: MessageSignature = serde_json::from_value(m).map_err(|e| format!("the bundle's messageSignature: {e}"))?;
    let digest = m
        .message_digest
        .map(|d| {
            Ok::<_, String>((
                d.algorithm,
                b64(&d.digest).map_err(|e| format!("the message digest is {e}"))?,
            ))
        })
        .transpose()?;
    let (certificate, chain, entry) = material(&b.verification_material)?;
    Ok(BlobSignature {
        digest,
        signature: m.signature,
        certificate,
        chain,
        entry,
        key_hint: b
            .verification_material
            .public_key
            .map(|k| k.hint)
            .filter(|h| !h.is_empty()),
    })
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    subject: Vec<Subject>,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// The digest a signed statement is about, as `algorithm:hex`: `want` if any subject names it,
/// else the first subject's. `Ok(None)`: a statement of another kind (an attestation, not a
/// signature).
pub fn signed_digest(statement: &[u8], want: &str) -> Result<Option<String>, String> {
    let s: Statement = serde_json::from_slice(statement).map_err(|e| format!("a signed statement: {e}"))?;
    if s.predicate_type != SIGN_PREDICATE {
        return Ok(None);
    }
    let named: Vec<String> = s
        .subject
        .iter()
        .flat_map(|sub| sub.digest.iter().map(|(alg, hex)| format!("{alg}:{hex}")))
        .collect();
    match named.iter().find(|d| *d == want).or(named.first()) {
        Some(d) => Ok(Some(d.clone())),
        None => Err("a signed statement names no subject digest".into()),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    #[test]
    fn pre_authentication_encoding() {
        // The DSSE specification's example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    fn bundle(statement: &str, extra: &str) -> Vec<u8> {
        let payload = base64::engine::general_purpose::STANDARD.encode(statement);
        format!(
            r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"publicKey":{{"hint":"x"}}{extra}}},"dsseEnvelope":{{"payload":"{payload}","payloadType":"application/vnd.in-toto+json","signatures":[{{"sig":"MEUCIQ=="}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn statements_and_subjects() {
        let st = r#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://sigstore.dev/cosign/sign/v1","subject":[{"name":"r","digest":{"sha256":"aa"}},{"digest":{"sha256":"bb"}}],"predicate":{}}"#;
        let l = layers(&bundle(st, "")).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].statement.as_deref(), Some(st.as_bytes()));
        assert!(l[0].payload.starts_with(b"DSSEv1 28 application/vnd.in-toto+json "));
        assert_eq!((l[0].certificate.as_deref(), l[0].bundle.as_deref()), (None, None));
        assert_eq!(
            signed_digest(st.as_bytes(), "sha256:bb").unwrap().as_deref(),
            Some("sha256:bb")
        );
        assert_eq!(
            signed_digest(st.as_bytes(), "sha256:cc").unwrap().as_deref(),
            Some("sha256:aa")
        );
        let sbom = st.replace("https://sigstore.dev/cosign/sign/v1", "https://spdx.dev/Document");
        assert_eq!(signed_digest(sbom.as_bytes(), "sha256:aa").unwrap(), None);
        assert!(signed_digest(b"{}", "sha256:aa").is_err());
        let none = st.replace(
            r#"{"name":"r","digest":{"sha256":"aa"}},{"digest":{"sha256":"bb"}}"#,
            "",
        );
        assert!(signed_digest(none.as_bytes(), "sha256:aa").is_err());
    }

    #[test]
    fn log_entries_in_the_legacy_form() {
        let st = r#"{"predicateType":"https://sigstore.dev/cosign/sign/v1","subject":[]}"#;
        let tlog = r#","tlogEntries":[{"logIndex":"7","logId":{"keyId":"AAE="},"kindVersion":{"kind":"dsse","version":"0.0.1"},"integratedTime":"1700000000","inclusionPromise":{"signedEntryTimestamp":"U0VU"},"canonicalizedBody":"Ym9keQ=="}]"#;
        let l = layers(&bundle(st, tlog)).unwrap();
        let entry: serde_json::Value = serde_json::from_str(l[0].bundle.as_deref().unwrap()).unwrap();
        assert_eq!(
            entry,
            serde_json::json!({"SignedEntryTimestamp": "U0VU", "Payload": {"body": "Ym9keQ==", "integratedTime": 1700000000, "logIndex": 7, "logID": "0001"}})
        );
        // An entry without a promise is no evidence: as if there were none.
        let unpromised = tlog.replace(r#""inclusionPromise":{"signedEntryTimestamp":"U0VU"},"#, "");
        assert_eq!(layers(&bundle(st, &unpromised)).unwrap()[0].bundle, None);
        let bad = tlog.replace(r#""integratedTime":"1700000000""#, r#""integratedTime":"soon""#);
        assert!(layers(&bundle(st, &bad)).is_err());
    }

    #[test]
    fn what_is_not_an_image_signature() {
        let msg = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}}"#;
        assert_eq!(layers(msg).unwrap().len(), 0);
        let sbom = r#"{"predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"aa"}}]}"#;
        assert_eq!(layers(&bundle(sbom, "")).unwrap().len(), 0);
        assert!(layers(&bundle("not json", "")).is_err());
        assert!(layers(b"{}").is_err());
        assert!(layers(br#"{"mediaType":"text/plain","verificationMaterial":{}}"#).is_err());
        // {"predicateType":"https://sigstore.dev/cosign/sign/v1"} with no signature.
        let no_sig = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{"payload":"eyJwcmVkaWNhdGVUeXBlIjoiaHR0cHM6Ly9zaWdzdG9yZS5kZXYvY29zaWduL3NpZ24vdjEifQ==","payloadType":"application/vnd.in-toto+json","signatures":[]}}"#;
        assert!(layers(no_sig).is_err());
    }
}
