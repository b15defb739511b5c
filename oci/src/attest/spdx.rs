//! SPDX 2.x JSON documents (the predicate of `https://spdx.dev/Document` statements: what
//! BuildKit's SBOM generator and `cosign attest --type spdxjson` carry): each package with its
//! version, purl, license and supplier, and the files it contains where the document says so —
//! a `CONTAINS` relationship from the package, a `CONTAINED_BY` one from the file, or the
//! package's `hasFiles` (SPDX ≤ 2.2). File names become image-relative paths, as
//! `pgext.image_files` has them. Counts are bounded while reading (see `bounded`), each kept
//! field is cut to [`MAX_FIELD_BYTES`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::bounded::{Bounded, clip};
use super::sbom::{
    MAX_FIELD_BYTES, MAX_FILES, MAX_FILES_PER_PACKAGE, MAX_PACKAGES, MAX_RELATIONSHIPS, Package, Sbom, field,
    file_list, image_path,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    spdx_version: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    packages: Bounded<RawPackage, MAX_PACKAGES>,
    #[serde(default)]
    files: Bounded<RawFile, MAX_FILES>,
    #[serde(default)]
    relationships: Bounded<Relationship, MAX_RELATIONSHIPS>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPackage {
    #[serde(rename = "SPDXID", default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    external_refs: Bounded<ExternalRef, 64>,
    #[serde(default)]
    license_concluded: Option<String>,
    #[serde(default)]
    license_declared: Option<String>,
    #[serde(default)]
    supplier: Option<String>,
    #[serde(default)]
    has_files: Bounded<String, MAX_FILES_PER_PACKAGE>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    #[serde(default)]
    reference_type: String,
    #[serde(default)]
    reference_locator: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFile {
    #[serde(rename = "SPDXID", default)]
    id: String,
    #[serde(default)]
    file_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    #[serde(default)]
    spdx_element_id: String,
    #[serde(default)]
    relationship_type: String,
    #[serde(default)]
    related_spdx_element: String,
}

/// Whether `predicate_type` names an SPDX document.
pub fn is_spdx(predicate_type: &str) -> bool {
    predicate_type.starts_with("https://spdx.dev/Document")
}

/// A value that says something: not empty, NOASSERTION or NONE.
fn meaningful(v: Option<String>) -> Option<String> {
    field(v.as_deref()).filter(|s| s != "NOASSERTION" && s != "NONE")
}

/// Parses an SPDX 2.x JSON document (the statement's predicate).
pub fn parse(json: &[u8]) -> Result<Sbom, String> {
    let doc: Doc = serde_json::from_slice(json).map_err(|e| format!("not an SPDX 2 JSON document: {e}"))?;
    if !doc.spdx_version.starts_with("SPDX-2.") {
        return Err(format!("spdxVersion {:?} is not SPDX 2", clip(doc.spdx_version, 32)));
    }
    let paths: BTreeMap<&str, String> = doc
        .files
        .0
        .iter()
        .filter_map(|f| Some((f.id.as_str(), image_path(&f.file_name)?)))
        .collect();
    let mut owned: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &doc.relationships.0 {
        let (pkg, file) = match r.relationship_type.as_str() {
            "CONTAINS" => (r.spdx_element_id.as_str(), r.related_spdx_element.as_str()),
            "CONTAINED_BY" => (r.related_spdx_element.as_str(), r.spdx_element_id.as_str()),
            _ => continue,
        };
        if paths.contains_key(file) {
            owned.entry(pkg).or_default().insert(file);
        }
    }
    let packages = doc
        .packages
        .0
        .iter()
        .map(|p| {
            let mut files: BTreeSet<&str> = owned.get(p.id.as_str()).cloned().unwrap_or_default();
            files.extend(
                p.has_files
                    .0
                    .iter()
                    .map(String::as_str)
                    .filter(|f| paths.contains_key(f)),
            );
            let files = file_list(files.into_iter().filter_map(|f| paths.get(f).cloned()).collect());
            Package {
                id: clip(p.id.clone(), MAX_FIELD_BYTES),
                name: clip(p.name.clone(), MAX_FIELD_BYTES),
                version: meaningful(p.version_info.clone()),
                purl: p
                    .external_refs
                    .0
                    .iter()
                    .find(|r| r.reference_type == "purl")
                    .and_then(|r| meaningful(Some(r.reference_locator.clone()))),
                license: meaningful(p.license_concluded.clone()).or_else(|| meaningful(p.license_declared.clone())),
                supplier: meaningful(p.supplier.clone()),
                files,
            }
        })
        .collect();
    Ok(Sbom {
        format: clip(doc.spdx_version, 32),
        name: meaningful(doc.name),
        packages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape syft (BuildKit's SBOM generator) writes, cut down: a Debian package whose files
    /// are tied to it by CONTAINS, one tied by CONTAINED_BY, an SPDX 2.2 hasFiles, a package
    /// without files, and the usual NOASSERTIONs.
    const DOC: &str = r#"{
      "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
      "name": "sbom", "documentNamespace": "https://example/x",
      "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: syft-1.0"]},
      "packages": [
        {"name": "libgeos3.13.1", "SPDXID": "SPDXRef-Package-deb-libgeos", "versionInfo": "3.13.1-1",
         "supplier": "Organization: Debian GIS Project", "downloadLocation": "NOASSERTION",
         "licenseConcluded": "NOASSERTION", "licenseDeclared": "LGPL-2.1-only",
         "externalRefs": [{"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": "cpe:2.3:a:x"},
                          {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                           "referenceLocator": "pkg:deb/debian/libgeos3.13.1@3.13.1-1?arch=amd64"}]},
        {"name": "postgis", "SPDXID": "SPDXRef-Package-postgis", "versionInfo": "3.5.2",
         "licenseConcluded": "GPL-2.0-or-later", "licenseDeclared": "MIT", "supplier": "NOASSERTION",
         "hasFiles": ["SPDXRef-File-postgis", "SPDXRef-nowhere"]},
        {"name": "empty", "SPDXID": "SPDXRef-Package-empty", "versionInfo": "NONE", "licenseConcluded": "NONE"}
      ],
      "files": [
        {"fileName": "/system/libgeos.so.3.13.1", "SPDXID": "SPDXRef-File-geos"},
        {"fileName": "./system/libgeos_c.so.1", "SPDXID": "SPDXRef-File-geos-c"},
        {"fileName": "lib/postgis-3.so", "SPDXID": "SPDXRef-File-postgis"},
        {"fileName": "/../etc/passwd", "SPDXID": "SPDXRef-File-escape"}
      ],
      "relationships": [
        {"spdxElementId": "SPDXRef-Package-deb-libgeos", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-File-geos"},
        {"spdxElementId": "SPDXRef-File-geos-c", "relationshipType": "CONTAINED_BY", "relatedSpdxElement": "SPDXRef-Package-deb-libgeos"},
        {"spdxElementId": "SPDXRef-Package-deb-libgeos", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-File-escape"},
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Package-postgis"},
        {"spdxElementId": "SPDXRef-Package-empty", "relationshipType": "OTHER", "relatedSpdxElement": "SPDXRef-File-geos"}
      ]
    }"#;

    #[test]
    fn packages_with_their_files() {
        let s = parse(DOC.as_bytes()).unwrap();
        assert_eq!(s.format, "SPDX-2.3");
        assert_eq!(s.packages.len(), 3);
        let geos = &s.packages[0];
        assert_eq!(geos.name, "libgeos3.13.1");
        assert_eq!(geos.version.as_deref(), Some("3.13.1-1"));
        assert_eq!(
            geos.purl.as_deref(),
            Some("pkg:deb/debian/libgeos3.13.1@3.13.1-1?arch=amd64")
        );
        assert_eq!(
            geos.license.as_deref(),
            Some("LGPL-2.1-only"),
            "declared when concluded says nothing"
        );
        assert_eq!(geos.supplier.as_deref(), Some("Organization: Debian GIS Project"));
        assert_eq!(geos.files, ["system/libgeos.so.3.13.1", "system/libgeos_c.so.1"]);
        let postgis = &s.packages[1];
        assert_eq!(postgis.license.as_deref(), Some("GPL-2.0-or-later"));
        assert_eq!(postgis.supplier, None);
        assert_eq!(postgis.files, ["lib/postgis-3.so"]);
        let empty = &s.packages[2];
        assert_eq!((empty.version.as_deref(), empty.license.as_deref()), (None, None));
        assert!(empty.files.is_empty(), "OTHER relationships own nothing");
    }

    #[test]
    fn what_is_not_an_spdx_2_document() {
        for bad in [
            &b"{}"[..],
            b"[]",
            b"not json",
            br#"{"spdxVersion":"SPDX-3.0"}"#,
            br#"{"spdxVersion":"SPDX-2.3","packages":{}}"#,
            br#"{"spdxVersion":"SPDX-2.3","packages":[{"name":7}]}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse(br#"{"spdxVersion":"SPDX-2.2"}"#).unwrap().packages.is_empty());
    }

    #[test]
    fn counts_and_fields_are_bounded() {
        let many = format!(
            r#"{{"spdxVersion":"SPDX-2.3","packages":[{}{{}}]}}"#,
            "{},".repeat(MAX_PACKAGES)
        );
        assert!(parse(many.as_bytes()).unwrap_err().contains("too many"));
        let long = format!(
            r#"{{"spdxVersion":"SPDX-2.3","packages":[{{"name":"{}","SPDXID":"p"}}]}}"#,
            "x".repeat(5000)
        );
        assert_eq!(parse(long.as_bytes()).unwrap().packages[0].name.len(), MAX_FIELD_BYTES);
    }

    #[test]
    fn predicate_types() {
        assert!(is_spdx("https://spdx.dev/Document") && is_spdx("https://spdx.dev/Document/v2.3"));
        assert!(!is_spdx("https://cyclonedx.org/bom"));
    }
}
