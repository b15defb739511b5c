//! Entry points for the fuzz targets in `fuzz/` and the seeded mutation tests: every parser of
//! bytes a registry, a layout or a layer controls. Not a stable API.

use std::io::Read;
use std::path::Path;

use crate::error::OciError;
use crate::interrupt::Interrupt;
use crate::layer::{Limits, TreeBuilder, decoder};
use crate::manifest::{self, Compression, Document, Platform};
use crate::source::LayoutSource;
use crate::{EntryKind, ImageReference, RegistryCredentials, TreeEntry};

fn never() -> bool {
    false
}

/// Manifest / index parsing, platform selection, and the config's platform.
pub fn documents(data: &[u8]) {
    if let Ok(Document::Index { manifests }) = manifest::parse_document(data, "fuzz") {
        let _ = manifest::select_platform(&manifests, &Platform::host());
    }
    let _ = manifest::parse_config(data);
}

/// Image references; a parsed reference prints as a string that parses to it again.
pub fn reference(text: &str) {
    if let Ok(r) = text.parse::<ImageReference>() {
        let again: ImageReference = r
            .to_string()
            .parse()
            .unwrap_or_else(|e| panic!("{r} does not parse again: {e}"));
        assert_eq!(again, r, "{text:?}");
    }
}

/// A docker `config.json`; its error never shows a secret (`auth` values are never echoed).
pub fn docker_config(data: &[u8]) {
    let _ = RegistryCredentials::from_docker_config(data, "registry.example:5000");
    let _ = RegistryCredentials::from_docker_config(data, "docker.io");
}

/// Registry answers parsed without a server: `WWW-Authenticate` challenges and error bodies.
pub fn registry_answers(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::source::parse_challenge(text);
    }
    if let Some(code) = crate::source::oci_error_code(data) {
        assert!(code.len() <= 64 && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
    }
}

/// Decompresses `data` (gzip or zstd framing) into nothing, at most `max` bytes out.
pub fn decompress(data: &[u8], compression: Compression, max: u64) -> std::io::Result<u64> {
    let mut out = decoder(data, compression)?.take(max);
    std::io::copy(&mut out, &mut std::io::sink())
}

/// gzip as layers are inflated (igzip, with the `isal` feature) against flate2's
/// `MultiGzDecoder`, within `max` bytes out: whatever flate2 accepts is accepted with the same
/// bytes (a valid layer is never refused or read differently). igzip accepts some streams zlib
/// refuses (incomplete Huffman tables): such a blob yields an expected tree, but no runtime
/// unpacks it, so no mount can match it.
pub fn gzip_agrees_with_flate2(data: &[u8], max: u64) {
    let ours = read_capped(decoder(data, Compression::Gzip), max);
    let reference = read_capped(Ok(Box::new(flate2::bufread::MultiGzDecoder::new(data))), max);
    match (ours, reference) {
        (Ok(a), Ok(b)) => assert!(a == b, "inflated differently: {} vs {} bytes", a.len(), b.len()),
        (Err(e), Ok(b)) => panic!("refused what flate2 inflates ({} bytes): {e}", b.len()),
        (_, Err(_)) => {}
    }
}

fn read_capped(d: std::io::Result<Box<dyn Read + '_>>, max: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    d?.take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// Applies `data` as a layer (tar, possibly compressed) on an empty tree.
pub fn layer(data: &[u8], compression: Compression, limits: &Limits) -> Result<Vec<TreeEntry>, OciError> {
    let never = never;
    let intr = Interrupt::new(&never, None);
    let mut tree = TreeBuilder::new(limits);
    let tar = decoder(data, compression).map_err(|e| OciError::malformed("layer", e.to_string()))?;
    tree.apply_tar(tar, "fuzz", &intr)?;
    Ok(tree.into_entries())
}

/// Applies `data` as a layer while unpacking it into a fresh directory, then checks what
/// `crate::unpack` promises: nothing written beside the directory, every symlink in it leads
/// inside it, and the disk holds exactly the tree (every file with its content; a directory the
/// tree lost is left only while it still holds what the layer itself added).
pub fn unpack_layer(data: &[u8], compression: Compression, limits: &Limits) -> Result<Vec<TreeEntry>, OciError> {
    let never = never;
    let intr = Interrupt::new(&never, None);
    let outer = tempfile::tempdir().map_err(|e| OciError::io("fuzz tempdir", e))?;
    let root = outer.path().join("root");
    std::fs::create_dir(&root).map_err(|e| OciError::io("fuzz root", e))?;
    let disk = crate::unpack::Disk::new(&root, crate::Selection::Everything, 64 << 20)?;
    let mut tree = TreeBuilder::new(limits).with_disk(Some(disk));
    let tar = decoder(data, compression).map_err(|e| OciError::malformed("layer", e.to_string()))?;
    let applied = tree.apply_tar(tar, "fuzz", &intr);
    let beside: Vec<_> = std::fs::read_dir(outer.path())
        .expect("outer")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        beside,
        vec![std::ffi::OsString::from("root")],
        "written beside the root"
    );
    let scan = pgext_core::tree::scan_tree(&root, &pgext_core::tree::ScanOptions::default(), None).expect("scan");
    for e in &scan.entries {
        if let Some(target) = &e.link_target {
            let raw = pgext_core::tree::unescape_name(target).expect("escaped target");
            assert!(!raw.starts_with(b"/"), "{}: absolute target {target}", e.path);
            let depth = e.path.matches('/').count() as i64;
            let mut level = depth;
            for comp in raw.split(|&b| b == b'/') {
                match comp {
                    b"" | b"." => {}
                    b".." => level -= 1,
                    _ => level += 1,
                }
                assert!(level >= 0, "{} -> {target} leaves the root", e.path);
            }
        }
    }
    applied?;
    let entries = tree.into_entries();
    let on_disk: std::collections::BTreeMap<&str, &TreeEntry> =
        scan.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    for e in &entries {
        let d = on_disk
            .get(e.path.as_str())
            .unwrap_or_else(|| panic!("{} missing on disk", e.path));
        assert_eq!((d.kind, d.sha256), (e.kind, e.sha256), "{} differs on disk", e.path);
    }
    let in_tree: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    for d in &scan.entries {
        let kept_parent =
            d.kind == EntryKind::Dir && entries.iter().any(|e| e.path.starts_with(&format!("{}/", d.path)));
        assert!(
            in_tree.contains(d.path.as_str()) || kept_parent,
            "{} on disk, not in the tree",
            d.path
        );
    }
    Ok(entries)
}

/// Indexes the `oci-archive` at `path` and reads what a verification reads from it.
pub fn archive(path: &Path, limits: &Limits) -> Result<(), OciError> {
    let never = never;
    let intr = Interrupt::new(&never, None);
    let source = LayoutSource::open_archive(path, limits.max_document_bytes, limits.max_entries, &intr)?;
    let _ = source.resolve_tag("latest", Some(crate::Algorithm::Sha256));
    if let Ok(d) = source.only_manifest() {
        let _ = source.read_small(&d, limits.max_document_bytes);
    }
    Ok(())
}

/// The fuzz targets' inputs, decoded as the targets in `fuzz/fuzz_targets/oci_*.rs` decode them.
/// The `oci_layer` target's input: the first byte picks the compression (and, with its high bit,
/// tight limits), the rest is the layer blob. Shared with the seeded mutation tests below.
pub fn layer_input(data: &[u8]) -> Option<(Compression, Limits, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let compression = match first % 3 {
        0 => Compression::None,
        1 => Compression::Gzip,
        _ => Compression::Zstd,
    };
    let limits = if first & 0x80 != 0 {
        Limits {
            max_layer_bytes: 1 << 20,
            max_file_bytes: 64 << 10,
            max_entries: 64,
            max_path_bytes: 256,
            max_metadata_bytes: 4096,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    Some((compression, limits, rest))
}

/// Sigstore bundles (`pgext_oci::bundle`): any bytes as a bundle, its signatures judged with the
/// keys (PEM) and trust root the same bytes hold. Every layer signs a DSSE encoding of a
/// signature statement; nothing fuzzed may come out `signed`.
pub fn bundle(data: &[u8]) {
    use crate::cosign::{SignaturePolicy, judge, parse_keys};
    let Ok(layers) = crate::bundle::layers(data) else {
        return;
    };
    for l in &layers {
        assert!(
            l.payload.starts_with(b"DSSEv1 "),
            "a bundle layer signs a DSSE encoding"
        );
        let statement = l.statement.as_deref().unwrap_or_default();
        assert!(l.payload.ends_with(statement));
    }
    let text = String::from_utf8_lossy(data);
    let keyless = crate::keyless::TrustRoot::parse(data)
        .ok()
        .map(|root| crate::keyless::KeylessPolicy {
            root,
            identities: crate::keyless::parse_identities(&text).unwrap_or_default(),
            require_tlog: false,
        });
    let policy = SignaturePolicy {
        keys: parse_keys(&text).unwrap_or_default(),
        keyless,
    };
    let digest = crate::Digest::of(crate::Algorithm::Sha256, b"fuzz");
    let v = judge(&digest, "fuzz/x", Some(&layers), &policy);
    assert_ne!(v.status, crate::cosign::SignatureStatus::Signed, "{v:?}");
}

/// SPDX 2 documents (`pgext_oci::attest::spdx`): every kept field within its bound, every file
/// an image-relative path that climbs nowhere.
pub fn spdx(data: &[u8]) {
    if let Ok(sbom) = crate::attest::spdx::parse(data) {
        sbom_within_bounds(&sbom);
    }
}

/// CycloneDX BOMs (`pgext_oci::attest::cyclonedx`): the same, with nested components counted
/// together.
pub fn cyclonedx(data: &[u8]) {
    if let Ok(sbom) = crate::attest::cyclonedx::parse(data) {
        sbom_within_bounds(&sbom);
    }
}

fn sbom_within_bounds(sbom: &crate::attest::sbom::Sbom) {
    use crate::attest::sbom::{MAX_FIELD_BYTES, MAX_FILES_PER_PACKAGE, MAX_PACKAGES};
    assert!(sbom.packages.len() <= MAX_PACKAGES);
    for p in &sbom.packages {
        assert!(p.name.len() <= MAX_FIELD_BYTES && p.files.len() <= MAX_FILES_PER_PACKAGE);
        assert!(p.id.len() <= MAX_FIELD_BYTES);
        for v in [&p.version, &p.purl, &p.license, &p.supplier].into_iter().flatten() {
            assert!(v.len() <= MAX_FIELD_BYTES);
        }
        for f in &p.files {
            assert!(
                !f.is_empty() && !f.starts_with('/') && !f.split('/').any(|c| c == ".." || c == "." || c.is_empty()),
                "{f:?}"
            );
        }
    }
}

/// SLSA provenance (`pgext_oci::attest::slsa`): the first byte picks v0.2 (even) or v1 (odd),
/// the rest is the predicate; repositories come out normalized (normalizing again changes
/// nothing).
pub fn provenance(data: &[u8]) {
    use crate::attest::slsa::{normalize_repository, parse, rfc3339};
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let t = if first & 1 == 0 {
        "https://slsa.dev/provenance/v0.2"
    } else {
        "https://slsa.dev/provenance/v1"
    };
    if let Ok(p) = parse(t, rest)
        && let Some(r) = &p.source_repository
    {
        assert_eq!(&normalize_repository(r), r);
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = rfc3339(text);
    }
}

/// Attestations (`pgext_oci::attest`): first byte 0, the rest is an in-toto statement; else a
/// DSSE envelope, NUL, and the predicate type its annotation claims. Read as this image's (its
/// subjects name SHA-256 of "fuzz") and judged with the keys the input holds: nothing fuzzed may
/// come out trusted.
pub fn attestation(data: &[u8]) {
    use crate::attest::{Origin, envelope_layers, judge_signatures, read_attestation};
    use crate::cosign::{SignaturePolicy, parse_keys};
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let wanted = [crate::Digest::of(crate::Algorithm::Sha256, b"fuzz").to_string()];
    if first == 0 {
        if let Ok(Some(a)) = read_attestation(Origin::Buildkit, rest, None, &wanted) {
            assert!(wanted.contains(&a.subject));
        }
        return;
    }
    let (envelope, declared) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], std::str::from_utf8(&rest[i + 1..]).ok()),
        None => (rest, None),
    };
    let Ok((statement, layers)) = envelope_layers(envelope, &Default::default()) else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let policy = SignaturePolicy {
        keys: parse_keys(&text).unwrap_or_default(),
        keyless: None,
    };
    let (trust, _, _, _) = judge_signatures(&layers, &policy, "fuzz/x");
    assert!(!trust.trusted(), "{trust:?}");
    let _ = read_attestation(Origin::Cosign, &statement, declared, &wanted);
}

/// cosign: trusted-key PEM text, and a signature layer (payload and annotation) judged against
/// the keys found in the same input.
pub fn cosign(data: &[u8]) {
    use crate::cosign::{SignatureLayer, judge, parse_keys};
    let text = String::from_utf8_lossy(data);
    let keys = parse_keys(&text).unwrap_or_default();
    let (payload, signature) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(String::from_utf8_lossy(&data[i + 1..]).into_owned())),
        None => (data, None),
    };
    let layer = SignatureLayer {
        payload: payload.to_vec(),
        signature,
        // The same text as a certificate, chain and bundle: whatever PEM or JSON it holds.
        certificate: (data.first() == Some(&b'c')).then(|| text.clone().into_owned()),
        chain: (data.get(1) == Some(&b'c')).then(|| text.clone().into_owned()),
        bundle: (data.get(2) == Some(&b'{')).then(|| text.clone().into_owned()),
        ..Default::default()
    };
    let digest = crate::Digest::of(crate::Algorithm::Sha256, b"fuzz");
    // Any trust root the input holds too (a valid one cannot come from fuzzed bytes without a CA's key).
    let keyless = crate::keyless::TrustRoot::parse(data)
        .ok()
        .map(|root| crate::keyless::KeylessPolicy {
            root,
            identities: crate::keyless::parse_identities(&text).unwrap_or_default(),
            require_tlog: data.last() == Some(&b't'),
        });
    let policy = crate::cosign::SignaturePolicy { keys, keyless };
    let v = judge(&digest, "fuzz/x", Some(&[layer]), &policy);
    // Nothing verifies without a signer's private key: never "signed" from fuzzed bytes.
    assert_ne!(v.status.as_str(), "signed", "{v:?}");
}

/// Keyless judgement of arbitrary parts: the input is NUL-separated `trust root JSON`,
/// `certificate (and chain) PEM`, `payload`, `base64 signature`, optionally `bundle JSON`. Every
/// identity is trusted, the log is required when a bundle is given: what is judged is the
/// parsing and checking of certificates, chains, bundles and entries, none of which may panic.
pub fn keyless(data: &[u8]) -> Option<crate::cosign::SignatureVerdict> {
    let mut parts = data.split(|&b| b == 0);
    let (Some(root), Some(cert), Some(payload), Some(sig)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bundle = parts.next().map(|b| String::from_utf8_lossy(b).into_owned());
    let root = crate::keyless::TrustRoot::parse(root).ok()?;
    let policy = crate::cosign::SignaturePolicy {
        keys: Vec::new(),
        keyless: Some(crate::keyless::KeylessPolicy {
            root,
            identities: crate::keyless::parse_identities(
                "issuer=https://token.actions.githubusercontent.com subject~.",
            )
            .unwrap_or_default(),
            require_tlog: bundle.is_some(),
        }),
    };
    let layer = crate::cosign::SignatureLayer {
        payload: payload.to_vec(),
        signature: Some(String::from_utf8_lossy(sig).into_owned()),
        certificate: Some(String::from_utf8_lossy(cert).into_owned()),
        chain: None,
        bundle,
        ..Default::default()
    };
    let digest = crate::Digest::of(crate::Algorithm::Sha256, b"fuzz");
    Some(crate::cosign::judge(&digest, "fuzz/x", Some(&[layer]), &policy))
}

/// Image catalogs (`pgext_oci::catalog::parse`): any bytes as a catalog's YAML; what parses is
/// bounded and judges any image without panicking.
pub fn catalog(data: &[u8]) {
    let Ok(c) = crate::catalog::parse(data) else {
        return;
    };
    assert!(c.entries.len() <= crate::catalog::MAX_ENTRIES);
    let server = pgext_core::metadata::ServerFacts::from_os_release(
        "18",
        "amd64",
        "ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n",
    );
    for e in &c.entries {
        let j = c.judge(&server, &e.name, e.digest.as_deref());
        assert!(!j.in_catalog || e.digest.is_some());
    }
}

/// sign-blob bundles (`pgext_oci::catalog::verify_blob`): any bytes as a bundle over a fixed
/// blob, judged with the keys (PEM) and trust root the same bytes hold; nothing fuzzed may come
/// out `signed` (that would need a signer's private key).
pub fn blob_bundle(data: &[u8]) {
    use crate::cosign::{SignaturePolicy, parse_keys};
    let text = String::from_utf8_lossy(data);
    let keyless = crate::keyless::TrustRoot::parse(data)
        .ok()
        .map(|root| crate::keyless::KeylessPolicy {
            root,
            identities: crate::keyless::parse_identities(
                "issuer=https://token.actions.githubusercontent.com subject~.",
            )
            .unwrap_or_default(),
            require_tlog: data.last() == Some(&b't'),
        });
    let policy = SignaturePolicy {
        keys: parse_keys(&text).unwrap_or_default(),
        keyless,
    };
    let v = crate::catalog::verify_blob(b"kind: ImageCatalog\n", data, &policy, "catalog:/fuzz.yaml");
    assert_ne!(v.status, crate::cosign::SignatureStatus::Signed, "{v:?}");
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seed-"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        out.sort();
        assert!(!out.is_empty(), "no seeds in {}", dir.display());
        out
    }

    /// Deterministic mutants of `seed`: flipped bits, interesting bytes, cuts, repeated and
    /// removed ranges (what libFuzzer's first mutators do), `n` of them.
    fn mutants(seed: &[u8], n: usize) -> Vec<Vec<u8>> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ seed.len() as u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut m = seed.to_vec();
            for _ in 0..1 + next() % 4 {
                if m.is_empty() {
                    m.push(next() as u8);
                    continue;
                }
                let i = (next() as usize) % m.len();
                match next() % 6 {
                    0 => m[i] ^= 1 << (next() % 8),
                    1 => m[i] = [0, 0xff, 0x7f, 0x80, b'0', b'/', b'.', b'"'][(next() % 8) as usize],
                    2 => m.truncate(i),
                    3 => {
                        let len = ((next() as usize) % 64).min(m.len() - i);
                        let chunk = m[i..i + len].to_vec();
                        let at = (next() as usize) % m.len();
                        m.splice(at..at, chunk);
                    }
                    4 => {
                        let len = ((next() as usize) % 64).min(m.len() - i);
                        m.drain(i..i + len);
                    }
                    _ => {
                        let v = (next() % 1_000_000_000).to_string();
                        let len = v.len().min(m.len() - i);
                        m.splice(i..i + len, v.bytes());
                    }
                }
            }
            out.push(m);
        }
        out
    }

    /// Runs `f` on every seed of `target` and `n` mutants of each; none may panic or take long.
    fn run(target: &str, n: usize, f: impl Fn(&[u8])) {
        for (name, seed) in seeds(target) {
            for (i, input) in std::iter::once(seed.clone()).chain(mutants(&seed, n)).enumerate() {
                let start = Instant::now();
                f(&input);
                let took = start.elapsed();
                assert!(
                    took < Duration::from_secs(2),
                    "{target}/{name} mutant {i} took {took:?}"
                );
            }
        }
    }

    #[test]
    fn seeds_decode_as_intended() {
        for (name, seed) in seeds("oci_documents") {
            if name != "seed-config" {
                manifest::parse_document(&seed, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        for (name, seed) in seeds("oci_layer") {
            let (c, limits, rest) = super::layer_input(&seed).unwrap();
            match layer(rest, c, &limits) {
                Err(e) if name.contains("hostile") => assert_eq!(e.code(), crate::ErrorCode::HostileLayer, "{e}"),
                Ok(entries) if !name.contains("hostile") => assert!(!entries.is_empty(), "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // The keyless seeds (made by the signatures suite's test PKI) pass every check up to the
        // digest: their payloads name another image than the fuzz digest.
        for (name, seed) in seeds("oci_keyless") {
            let v = keyless(&seed).unwrap_or_else(|| panic!("{name}: no trust root"));
            let want = if name.contains("other-payload") {
                "entry is for another payload"
            } else {
                "keyless signature is for"
            };
            assert!(v.detail.contains(want), "{name}: {v:?}");
        }
        for (name, seed) in seeds("oci_catalog") {
            crate::catalog::parse(&seed).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let (_, seed) = seeds("oci_archive").remove(0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, seed).unwrap();
        let never = never;
        let intr = Interrupt::new(&never, None);
        let source = LayoutSource::open_archive(&path, 1 << 20, 100, &intr).unwrap();
        assert!(source.resolve_tag("latest", None).unwrap().is_some());
    }

    #[test]
    fn documents_references_configs_and_answers_never_panic() {
        run("oci_documents", 300, documents);
        run("oci_reference", 300, |d| {
            if let Ok(t) = std::str::from_utf8(d) {
                reference(t);
            }
        });
        run("oci_docker_config", 300, docker_config);
        run("oci_keyless", 100, |d| {
            keyless(d);
        });
        run("oci_registry_answers", 300, registry_answers);
        run("oci_catalog", 300, catalog);
        run("oci_blob_bundle", 200, blob_bundle);
    }

    #[test]
    fn attestations_never_panic() {
        run("oci_spdx", 300, spdx);
        run("oci_cyclonedx", 300, cyclonedx);
        run("oci_provenance", 300, provenance);
        run("oci_attestation", 300, attestation);
        for (name, seed) in seeds("oci_provenance") {
            let t = if seed[0] == 0 {
                "https://slsa.dev/provenance/v0.2"
            } else {
                "https://slsa.dev/provenance/v1"
            };
            let p = crate::attest::slsa::parse(t, &seed[1..]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(p.builder_id.is_some() && p.source_repository.is_some(), "{name}");
        }
        for (name, seed) in seeds("oci_spdx") {
            assert!(
                !crate::attest::spdx::parse(&seed).unwrap().packages[0].files.is_empty(),
                "{name}"
            );
        }
        for (name, seed) in seeds("oci_cyclonedx") {
            let bom = crate::attest::cyclonedx::parse(&seed).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(bom.packages.iter().any(|p| !p.files.is_empty()), "{name}");
        }
    }

    #[test]
    fn layers_and_their_framing_never_panic() {
        run("oci_layer", 200, |d| {
            if let Some((c, limits, rest)) = super::layer_input(d)
                && let Ok(entries) = layer(rest, c, &limits)
            {
                crate::tree_digest(&entries).expect("a built tree has a digest");
            }
        });
        run("oci_layer", 60, |d| {
            if let Some((c, limits, rest)) = super::layer_input(d) {
                let _ = unpack_layer(rest, c, &limits);
            }
        });
        run("oci_decompress", 200, |d| {
            if let Some((&first, rest)) = d.split_first() {
                let c = if first & 1 == 0 {
                    Compression::Gzip
                } else {
                    Compression::Zstd
                };
                let _ = decompress(rest, c, 16 << 20);
            }
        });
    }

    #[test]
    fn archives_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        let limits = Limits {
            max_entries: 1000,
            ..Limits::default()
        };
        run("oci_archive", 300, |d| {
            std::fs::write(&path, d).unwrap();
            let _ = archive(&path, &limits);
        });
    }
}
