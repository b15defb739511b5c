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

/// Most packages read from one document.
pub const MAX_PACKAGES: usize = 50_000;
/// Most files read from one document.
pub const MAX_FILES: usize = 200_000;
/// Most relationships read from one document.
pub const MAX_RELATIONSHIPS: usize = 400_000;
/// Most files kept for one package.
pub const MAX_FILES_PER_PACKAGE: usize = 10_000;
/// Longest field kept (name, version, purl, license, supplier, path).
pub const MAX_FIELD_BYTES: usize = 1024;

/// A package of an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package {
    /// Its SPDX identifier in the document.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `versionInfo`.
    pub version: Option<String>,
    /// The first `purl` external reference.
    pub purl: Option<String>,
    /// `licenseConcluded`, else `licenseDeclared` (neither when NOASSERTION or NONE).
    pub license: Option<String>,
    /// `supplier` as written (`Organization: …`, `Person: …`), unless NOASSERTION.
    pub supplier: Option<String>,
    /// Image-relative paths of the files the package contains, sorted.
    pub files: Vec<String>,
}

/// What pgext keeps of an SPDX document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sbom {
    /// `spdxVersion` (`SPDX-2.3`).
    pub spdx_version: String,
    /// The document's `name`.
    pub name: Option<String>,
    /// Packages, in document order.
    pub packages: Vec<Package>,
}

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
    v.map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s != "NOASSERTION" && s != "NONE")
        .map(|s| clip(s, MAX_FIELD_BYTES))
}

/// An SPDX file name as an image-relative path (`./lib/x.so`, `/lib/x.so` → `lib/x.so`); `None`
/// for one that climbs out (`..`) or names the root.
pub fn image_path(file_name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for p in file_name.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| clip(parts.join("/"), MAX_FIELD_BYTES))
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
            let mut files: Vec<String> = files.into_iter().filter_map(|f| paths.get(f).cloned()).collect();
            files.sort();
            files.dedup();
            files.truncate(MAX_FILES_PER_PACKAGE);
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
        spdx_version: clip(doc.spdx_version, 32),
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
        assert_eq!(s.spdx_version, "SPDX-2.3");
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
    fn paths() {
        for (name, want) in [
            ("/usr/lib/x.so", Some("usr/lib/x.so")),
            ("./a//b/./c", Some("a/b/c")),
            ("a", Some("a")),
            ("/", None),
            ("", None),
            ("a/../b", None),
        ] {
            assert_eq!(image_path(name).as_deref(), want, "{name}");
        }
        assert!(is_spdx("https://spdx.dev/Document") && is_spdx("https://spdx.dev/Document/v2.3"));
        assert!(!is_spdx("https://cyclonedx.org/bom"));
    }
}
