//! Keyless cosign signatures: the signature layer carries a short-lived certificate (Fulcio's, or
//! a site's own PKI) instead of being made by a long-lived trusted key. Judged offline:
//!
//! - the signature must verify with the certificate's own key (else it is `invalid`);
//! - a transparency-log entry, when the layer has one (`dev.sigstore.cosign/bundle`: Rekor's
//!   signed entry timestamp), must be signed by a log key of the trust root and must be the
//!   entry of *this* signature (its body names the payload's hash and the signature); its
//!   integrated time is the signing time. Without one, the policy decides
//!   (`require_tlog`): refused, or the certificate is judged at the present time;
//! - the certificate must chain to a certificate authority of the trust root (Sigstore's
//!   `trusted_root.json` format, so the public-good instance's root or a site's own) at the
//!   signing time, for code signing — by rustls-webpki, the path builder rustls already links;
//! - its identity — the OIDC issuer (Fulcio's extension 1.3.6.1.4.1.57264.1.8, or the older .1.1)
//!   and the subject (the SAN URI or e-mail) — must be one a rule of the policy trusts for the
//!   image's reference.
//!
//! No network: no Fulcio, no Rekor, no TUF; the trust root is a file the site updates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine;
use pgext_core::hash::to_hex as hex;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::der::{self, Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};

use crate::cosign::TrustedKey;

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content octets.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer extensions: v2 (a DER UTF8String) and v1 (the raw string).
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// subjectAltName.
const SAN: &str = "2.5.29.17";
/// extendedKeyUsage, and code signing in it.
const EKU: &str = "2.5.29.37";
const CODE_SIGNING_OID: &str = "1.3.6.1.5.5.7.3.3";
/// Largest trust root read.
pub const MAX_TRUST_ROOT_BYTES: u64 = 4 << 20;

/// Certificate authorities and transparency-log keys a site trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    /// Each authority's self-signed root (the last certificate of its chain).
    anchors: Vec<TrustAnchor<'static>>,
    /// Every other certificate of the authorities' chains.
    intermediates: Vec<CertificateDer<'static>>,
    /// Transparency-log keys by log ID (hex SHA-256 of the key's SubjectPublicKeyInfo).
    tlogs: Vec<(String, TrustedKey)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    #[serde(default)]
    tlogs: Vec<TlogJson>,
    #[serde(default)]
    certificate_authorities: Vec<CaJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogJson {
    public_key: PublicKeyJson,
    #[serde(default)]
    log_id: Option<KeyId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyJson {
    raw_bytes: String,
    #[serde(default)]
    key_details: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaJson {
    cert_chain: ChainJson,
}

#[derive(Deserialize)]
struct ChainJson {
    certificates: Vec<RawBytes>,
}

/// Standard base64, surrounding whitespace ignored; the error says so.
pub(crate) fn b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("not base64: {e}"))
}

impl TrustRoot {
    /// Parses a Sigstore `trusted_root.json`: `certificateAuthorities[].certChain.certificates`
    /// (DER, the authority's own certificate first, its root last) and `tlogs[].publicKey`.
    pub fn parse(json: &[u8]) -> Result<TrustRoot, String> {
        let root: RootJson = serde_json::from_slice(json).map_err(|e| format!("not a trusted_root.json: {e}"))?;
        let mut out = TrustRoot::default();
        for (i, ca) in root.certificate_authorities.iter().enumerate() {
            let n = ca.cert_chain.certificates.len();
            for (j, c) in ca.cert_chain.certificates.iter().enumerate() {
                let der = b64(&c.raw_bytes).map_err(|e| format!("certificateAuthorities[{i}] certificate {j}: {e}"))?;
                Certificate::from_der(&der)
                    .map_err(|e| format!("certificateAuthorities[{i}] certificate {j}: not a certificate: {e}"))?;
                let der = CertificateDer::from(der);
                if j + 1 == n {
                    let anchor = webpki::anchor_from_trusted_cert(&der)
                        .map_err(|e| format!("certificateAuthorities[{i}]: root unusable: {e:?}"))?;
                    out.anchors.push(anchor.to_owned());
                } else {
                    out.intermediates.push(der);
                }
            }
        }
        for (i, t) in root.tlogs.iter().enumerate() {
            // The public-good root also lists Rekor v2 logs with Ed25519 keys (`PKIX_ED25519`),
            // whose entries carry no signed entry timestamp this judge reads: such a log is
            // skipped (its entries are then of a log the root does not list), not an error.
            if t.public_key
                .key_details
                .as_deref()
                .is_some_and(|d| !d.starts_with("PKIX_ECDSA_"))
            {
                continue;
            }
            let der = b64(&t.public_key.raw_bytes).map_err(|e| format!("tlogs[{i}]: {e}"))?;
            let key = TrustedKey::from_spki_der(&der).map_err(|e| format!("tlogs[{i}]: {e}"))?;
            let id = hex(digest::digest(&digest::SHA256, &der).as_ref());
            if let Some(given) = &t.log_id
                && b64(&given.key_id).map(|k| hex(&k)) != Ok(id.clone())
            {
                return Err(format!("tlogs[{i}]: logId is not the SHA-256 of its public key"));
            }
            out.tlogs.push((id, key));
        }
        if out.anchors.is_empty() {
            return Err("no certificate authority in the trust root".into());
        }
        Ok(out)
    }

    /// Reads and parses the trust root at `path` (as an untrusted file: a FIFO or an oversized
    /// file is refused); errors name the path.
    pub fn load(path: &std::path::Path) -> Result<TrustRoot, String> {
        let bytes = pgext_core::fsinfo::read_untrusted(path, MAX_TRUST_ROOT_BYTES)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        TrustRoot::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Whose signatures count, for which images.
#[derive(Debug, Clone)]
pub struct IdentityRule {
    /// The OIDC issuer, exactly.
    pub issuer: String,
    /// The subject (SAN URI or e-mail).
    pub subject: SubjectMatch,
    /// Only for references starting with this (e.g. `ghcr.io/cloudnative-pg/`); `None`: all.
    pub images: Option<String>,
}

/// How a rule matches the subject.
#[derive(Debug, Clone)]
pub enum SubjectMatch {
    /// Exactly this.
    Exact(String),
    /// A regular expression, unanchored as cosign's `--certificate-identity-regexp` (anchor it
    /// with `^…$`).
    Regex(regex::Regex),
}

impl SubjectMatch {
    fn matches(&self, subject: &str) -> bool {
        match self {
            SubjectMatch::Exact(s) => s == subject,
            SubjectMatch::Regex(r) => r.is_match(subject),
        }
    }
}

/// Parses `pgext.trusted_identities`: rules separated by `;` (or new lines), each
/// `issuer=URL subject=EXACT` or `issuer=URL subject~REGEX`, optionally `images=PREFIX`.
pub fn parse_identities(text: &str) -> Result<Vec<IdentityRule>, String> {
    let mut rules = Vec::new();
    for rule in text.split([';', '\n']).map(str::trim).filter(|r| !r.is_empty()) {
        let (mut issuer, mut subject, mut images) = (None, None, None);
        for field in rule.split_whitespace() {
            if let Some(v) = field.strip_prefix("issuer=") {
                issuer = Some(v.to_owned());
            } else if let Some(v) = field.strip_prefix("subject=") {
                subject = Some(SubjectMatch::Exact(v.to_owned()));
            } else if let Some(v) = field.strip_prefix("subject~") {
                let re =
                    regex::Regex::new(v).map_err(|e| format!("\"{rule}\": bad subject regular expression: {e}"))?;
                subject = Some(SubjectMatch::Regex(re));
            } else if let Some(v) = field.strip_prefix("images=") {
                images = Some(v.to_owned());
            } else {
                return Err(format!(
                    "\"{rule}\": unknown field \"{field}\" (issuer=, subject=, subject~, images=)"
                ));
            }
        }
        match (issuer, subject) {
            (Some(issuer), Some(subject)) if !issuer.is_empty() => rules.push(IdentityRule {
                issuer,
                subject,
                images,
            }),
            _ => return Err(format!("\"{rule}\": a rule needs issuer= and subject= (or subject~)")),
        }
    }
    Ok(rules)
}

/// The keyless half of the signature policy.
#[derive(Debug, Clone)]
pub struct KeylessPolicy {
    /// Whom to trust for certificates and log entries.
    pub root: TrustRoot,
    /// Whose identities count.
    pub identities: Vec<IdentityRule>,
    /// Whether a signature without a verified transparency-log entry is refused.
    pub require_tlog: bool,
}

/// A keyless signature layer's parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Certified<'a> {
    pub payload: &'a [u8],
    pub signature: &'a [u8],
    pub certificate: &'a str,
    pub chain: Option<&'a str>,
    pub bundle: Option<&'a str>,
    /// A Sigstore bundle's in-toto statement (the DSSE payload; `payload` is then its
    /// pre-authentication encoding): a log entry of kind `dsse` records its hash.
    pub statement: Option<&'a [u8]>,
}

/// The judgement of one keyless signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Keyless {
    /// Trusted: who (`subject`, `issuer`) and when (Unix seconds, from the log).
    Signed {
        subject: String,
        issuer: String,
        signed_at: Option<i64>,
    },
    /// Provably wrong (does not verify with its own certificate, a log entry that lies).
    Invalid(String),
    /// Authentic perhaps, but not by anyone the policy trusts.
    Untrusted(String),
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: BundlePayload,
}

#[derive(Deserialize)]
struct BundlePayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
struct Rekord {
    kind: String,
    spec: serde_json::Value,
}

/// A `dsse` entry's spec (Rekor's dsse 0.0.1): the payload's hash and the signatures.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    payload_hash: RekordHash,
    signatures: Vec<DsseSignature>,
}

#[derive(Deserialize)]
struct DsseSignature {
    signature: String,
}

#[derive(Deserialize)]
struct RekordSpec {
    data: RekordData,
    signature: RekordSignature,
}

#[derive(Deserialize)]
struct RekordData {
    hash: RekordHash,
}

#[derive(Deserialize)]
struct RekordHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct RekordSignature {
    content: String,
}

/// Certificates of a PEM text (other blocks ignored).
fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    crate::cosign::pem_blocks(text, "CERTIFICATE")
}

/// The signer's identity: (subject, issuer).
fn identity(cert: &Certificate) -> Result<(String, String), String> {
    let mut subject = None;
    let mut issuer = None;
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let id = ext.extn_id.to_string();
        let value = ext.extn_value.as_bytes();
        if id == SAN {
            let san = SubjectAltName::from_der(value).map_err(|e| format!("bad subjectAltName: {e}"))?;
            subject = san.0.iter().find_map(|n| match n {
                GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                GeneralName::Rfc822Name(m) => Some(m.to_string()),
                _ => None,
            });
        } else if id == ISSUER_V2 {
            let s = der::asn1::Utf8StringRef::from_der(value).map_err(|e| format!("bad issuer extension: {e}"))?;
            issuer = Some(s.as_str().to_owned());
        } else if id == ISSUER_V1 && issuer.is_none() {
            issuer = std::str::from_utf8(value).ok().map(str::to_owned);
        }
    }
    match (subject, issuer) {
        (Some(s), Some(i)) => Ok((s, i)),
        (None, _) => Err("the certificate names no subject (no URI or e-mail in its subjectAltName)".into()),
        (_, None) => Err("the certificate names no OIDC issuer (extension 1.3.6.1.4.1.57264.1.8 or .1.1)".into()),
    }
}

/// Whether the certificate's extendedKeyUsage names code signing.
fn has_code_signing(cert: &Certificate) -> bool {
    cert.tbs_certificate.extensions.iter().flatten().any(|ext| {
        ext.extn_id.to_string() == EKU
            && ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                .is_ok_and(|eku| eku.0.iter().any(|oid| oid.to_string() == CODE_SIGNING_OID))
    })
}

/// Checks a transparency-log bundle against the trust root and this signature; the entry's
/// integrated time on success.
fn check_bundle(root: &TrustRoot, bundle: &str, sig: &Certified<'_>) -> Result<i64, String> {
    let b: Bundle = serde_json::from_str(bundle).map_err(|e| format!("not a cosign bundle: {e}"))?;
    let p = &b.payload;
    let key = root
        .tlogs
        .iter()
        .find(|(id, _)| *id == p.log_id)
        .map(|(_, k)| k)
        .ok_or_else(|| format!("log {} is not in the trust root", p.log_id))?;
    // What Rekor signs: the entry's canonical JSON (keys sorted, no spaces).
    let canonical = serde_json::to_vec(&serde_json::json!({
        "body": p.body, "integratedTime": p.integrated_time, "logID": p.log_id, "logIndex": p.log_index,
    }))
    .map_err(|e| e.to_string())?;
    if !key.verifies(&canonical, &b64(&b.set)?) {
        return Err("its signed entry timestamp does not verify with the log's key".into());
    }
    let body: Rekord = serde_json::from_slice(&b64(&p.body)?).map_err(|e| format!("entry body: {e}"))?;
    // What the entry records: the hash of what was signed, and the signature(s).
    let (hash, signatures) = match (body.kind.as_str(), sig.statement) {
        ("hashedrekord", None) => {
            let spec: RekordSpec = serde_json::from_value(body.spec).map_err(|e| format!("entry body: {e}"))?;
            (spec.data.hash, vec![spec.signature.content])
        }
        // A DSSE envelope's entry hashes its payload (the statement), not the encoding signed.
        ("dsse", Some(_)) => {
            let spec: DsseSpec = serde_json::from_value(body.spec).map_err(|e| format!("entry body: {e}"))?;
            (
                spec.payload_hash,
                spec.signatures.into_iter().map(|s| s.signature).collect(),
            )
        }
        (kind, _) => return Err(format!("entry of kind {kind:?}, not one for this signature")),
    };
    let want = hex(digest::digest(&digest::SHA256, sig.statement.unwrap_or(sig.payload)).as_ref());
    if hash.algorithm != "sha256" || hash.value != want {
        return Err("the entry is for another payload".into());
    }
    if !signatures.iter().any(|s| b64(s).as_deref() == Ok(sig.signature)) {
        return Err("the entry is for another signature".into());
    }
    Ok(p.integrated_time)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Judges one keyless signature on the image `reference` (its payload's digest is checked by
/// the caller, who knows which digest it must name).
pub(crate) fn judge(policy: &KeylessPolicy, reference: &str, sig: &Certified<'_>) -> Keyless {
    let certs = match pem_certificates(sig.certificate) {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => return Keyless::Invalid("the certificate annotation holds no certificate".into()),
        Err(e) => return Keyless::Invalid(format!("the certificate annotation: {e}")),
    };
    let leaf_der = &certs[0];
    let leaf = match Certificate::from_der(leaf_der) {
        Ok(c) => c,
        Err(e) => return Keyless::Invalid(format!("the signing certificate does not parse: {e}")),
    };
    let spki = match leaf.tbs_certificate.subject_public_key_info.to_der() {
        Ok(d) => d,
        Err(e) => return Keyless::Invalid(format!("the certificate's key: {e}")),
    };
    match TrustedKey::from_spki_der(&spki) {
        Ok(k) if k.verifies(sig.payload, sig.signature) => {}
        Ok(_) => return Keyless::Invalid("the signature does not verify with its own certificate".into()),
        Err(e) => return Keyless::Invalid(format!("the certificate's key: {e}")),
    }
    let signed_at = match sig.bundle {
        Some(bundle) => match check_bundle(&policy.root, bundle, sig) {
            Ok(t) => Some(t),
            Err(e) => return Keyless::Invalid(format!("transparency-log entry: {e}")),
        },
        None if policy.require_tlog => {
            return Keyless::Untrusted(
                "keyless signature without a transparency-log entry, and pgext.keyless_require_tlog is on".into(),
            );
        }
        None => None,
    };
    let at = signed_at.unwrap_or_else(now);
    let chain: Vec<CertificateDer<'_>> = match sig.chain.map(pem_certificates).transpose() {
        Ok(c) => c
            .unwrap_or_default()
            .into_iter()
            .chain(certs[1..].iter().cloned())
            .map(CertificateDer::from)
            .chain(policy.root.intermediates.iter().cloned())
            .collect(),
        Err(e) => return Keyless::Invalid(format!("the chain annotation: {e}")),
    };
    let leaf_cert = CertificateDer::from(leaf_der.as_slice());
    let ee = match webpki::EndEntityCert::try_from(&leaf_cert) {
        Ok(ee) => ee,
        Err(e) => return Keyless::Invalid(format!("the signing certificate: {e:?}")),
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(at).unwrap_or(0)));
    let when = if signed_at.is_some() {
        "at the logged signing time"
    } else {
        "now (no log entry)"
    };
    if let Err(e) = ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &policy.root.anchors,
        &chain,
        time,
        // Every certificate of the path that names extended key usages must name code signing
        // (authorities often name none); the signing certificate itself must (below).
        webpki::KeyUsage::required_if_present(CODE_SIGNING),
        None,
        None,
    ) {
        let why = match e {
            webpki::Error::CertExpired { .. } => "the certificate had expired".to_owned(),
            webpki::Error::CertNotValidYet { .. } => "the certificate was not valid yet".to_owned(),
            webpki::Error::UnknownIssuer => {
                "it does not chain to a certificate authority of pgext.trusted_root".to_owned()
            }
            webpki::Error::RequiredEkuNotFoundContext(_) => "the certificate is not for code signing".to_owned(),
            other => format!("{other:?}"),
        };
        return Keyless::Untrusted(format!("certificate not trusted {when}: {why}"));
    }
    if !has_code_signing(&leaf) {
        return Keyless::Untrusted("the certificate is not for code signing (no extendedKeyUsage codeSigning)".into());
    }
    let (subject, issuer) = match identity(&leaf) {
        Ok(i) => i,
        Err(e) => return Keyless::Untrusted(e),
    };
    let trusted = policy.identities.iter().any(|r| {
        r.issuer == issuer
            && r.subject.matches(&subject)
            && r.images.as_deref().is_none_or(|p| reference.starts_with(p))
    });
    if !trusted {
        return Keyless::Untrusted(format!(
            "signed by {subject} (issuer {issuer}), an identity no pgext.trusted_identities rule (nor pgext.trust_profile) trusts for {reference}"
        ));
    }
    Keyless::Signed {
        subject,
        issuer,
        signed_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_rules() {
        let rules = parse_identities(
            "issuer=https://token.actions.githubusercontent.com subject~^https://github.com/cloudnative-pg/ images=ghcr.io/cloudnative-pg/;\n\
             issuer=https://accounts.example subject=ci@example.org",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert!(
            rules[0]
                .subject
                .matches("https://github.com/cloudnative-pg/x/.github/workflows/b.yml@refs/heads/main")
        );
        assert!(!rules[0].subject.matches("https://github.com/evil/cloudnative-pg/"));
        assert!(rules[1].subject.matches("ci@example.org") && !rules[1].subject.matches("ci@example.org.evil"));
        for bad in [
            "issuer=x",
            "subject=y",
            "issuer=x subject~(",
            "issuer=x subject=y color=red",
            "issuer= subject=y",
        ] {
            assert!(parse_identities(bad).is_err(), "{bad}");
        }
        assert!(parse_identities(" ; \n").unwrap().is_empty());
    }

    /// A log key pair and the trust root that lists it.
    fn log() -> (aws_lc_rs::signature::EcdsaKeyPair, TrustRoot, String) {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let der = kp.public_key().as_der().unwrap();
        let id = hex(digest::digest(&digest::SHA256, der.as_ref()).as_ref());
        let root = TrustRoot {
            tlogs: vec![(id.clone(), TrustedKey::from_spki_der(der.as_ref()).unwrap())],
            ..TrustRoot::default()
        };
        (kp, root, id)
    }

    /// A cosign bundle for `payload`/`sig` as Rekor would sign it with `kp`, with `body_kind`,
    /// `body_hash` and `body_sig` in the entry (what a lying or replayed entry changes).
    fn bundle(
        kp: &aws_lc_rs::signature::EcdsaKeyPair,
        log_id: &str,
        body_kind: &str,
        body_hash: &str,
        body_sig: &[u8],
    ) -> String {
        let b64e = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let body = if body_kind == "dsse" {
            serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": "00"},
                "payloadHash": {"algorithm": "sha256", "value": body_hash},
                "signatures": [{"signature": b64e(b"someone else"), "verifier": "eA=="},
                               {"signature": b64e(body_sig), "verifier": "eA=="}]}})
        } else {
            serde_json::json!({"apiVersion": "0.0.1", "kind": body_kind, "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": body_hash}},
                "signature": {"content": b64e(body_sig), "publicKey": {"content": "eA=="}}}})
        };
        let body = b64e(body.to_string().as_bytes());
        let canonical =
            serde_json::json!({"body": body, "integratedTime": 1_700_000_000, "logID": log_id, "logIndex": 3});
        let set = kp
            .sign(
                &aws_lc_rs::rand::SystemRandom::new(),
                &serde_json::to_vec(&canonical).unwrap(),
            )
            .unwrap();
        serde_json::json!({"SignedEntryTimestamp": b64e(set.as_ref()), "Payload": {
            "body": body, "integratedTime": 1_700_000_000, "logIndex": 3, "logID": log_id}})
        .to_string()
    }

    #[test]
    fn log_entries_must_be_this_signatures() {
        let (kp, root, id) = log();
        let (other_kp, _, _) = log();
        let payload = b"{\"critical\":{}}";
        let sig = b"signature bytes";
        let hash = hex(digest::digest(&digest::SHA256, payload).as_ref());
        let parts = Certified {
            payload,
            signature: sig,
            certificate: "",
            chain: None,
            bundle: None,
            statement: None,
        };
        // A Sigstore bundle's signature: over the DSSE encoding, logged with its statement's hash.
        let statement = br#"{"predicateType":"https://sigstore.dev/cosign/sign/v1"}"#;
        let encoding = crate::bundle::pae("application/vnd.in-toto+json", statement);
        let dsse = Certified {
            payload: &encoding,
            statement: Some(statement),
            ..parts
        };
        let statement_hash = hex(digest::digest(&digest::SHA256, statement).as_ref());
        let encoding_hash = hex(digest::digest(&digest::SHA256, &encoding).as_ref());
        let dsse_cases = [
            (
                "dsse: genuine",
                bundle(&kp, &id, "dsse", &statement_hash, sig),
                Ok(1_700_000_000),
            ),
            (
                "dsse: the hash of the encoding, not the statement",
                bundle(&kp, &id, "dsse", &encoding_hash, sig),
                Err("another payload"),
            ),
            (
                "dsse: another signature",
                bundle(&kp, &id, "dsse", &statement_hash, b"other"),
                Err("another signature"),
            ),
            (
                "dsse: a hashedrekord entry for an envelope",
                bundle(&kp, &id, "hashedrekord", &statement_hash, sig),
                Err("not one for this signature"),
            ),
        ];
        // (what, the bundle, Ok(time) or a word of the error)
        let cases: Vec<(&str, String, Result<i64, &str>)> = vec![
            (
                "genuine",
                bundle(&kp, &id, "hashedrekord", &hash, sig),
                Ok(1_700_000_000),
            ),
            (
                "signed by another log",
                bundle(&other_kp, &id, "hashedrekord", &hash, sig),
                Err("does not verify"),
            ),
            (
                "a log the root does not list",
                bundle(&kp, &"0".repeat(64), "hashedrekord", &hash, sig),
                Err("not in the trust root"),
            ),
            (
                "another payload",
                bundle(&kp, &id, "hashedrekord", &"0".repeat(64), sig),
                Err("another payload"),
            ),
            (
                "another signature",
                bundle(&kp, &id, "hashedrekord", &hash, b"other"),
                Err("another signature"),
            ),
            (
                "another kind",
                bundle(&kp, &id, "intoto", &hash, sig),
                Err("not one for this signature"),
            ),
            ("not a bundle", "{\"x\":1}".into(), Err("not a cosign bundle")),
            (
                "a dsse entry for a simple-signing payload",
                bundle(&kp, &id, "dsse", &hash, sig),
                Err("not one for this signature"),
            ),
        ];
        let cases = cases.into_iter().map(|c| (c, &parts));
        for ((what, b, want), sig) in cases.chain(dsse_cases.into_iter().map(|c| (c, &dsse))) {
            match (check_bundle(&root, &b, sig), want) {
                (Ok(t), Ok(w)) => assert_eq!(t, w, "{what}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{what}: {e}"),
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn trust_roots_refuse_what_is_not_one() {
        for bad in [
            &b"{}"[..],
            b"not json",
            br#"{"certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"AAAA"}]}}]}"#,
            br#"{"certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"%%"}]}}]}"#,
        ] {
            assert!(TrustRoot::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
