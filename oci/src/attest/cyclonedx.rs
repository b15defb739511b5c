//! CycloneDX 1.x JSON BOMs (the predicate of `https://cyclonedx.org/bom` statements: what
//! `cosign attest --type cyclonedx` carries, as syft and Trivy write them): every component,
//! nested `components` flattened in document order, with its version, purl, licenses and
//! supplier. The files a component contains are its nested components of type `file` and its
//! `evidence.occurrences` (CycloneDX 1.5+), made image-relative as `pgext.image_files` has them.
//! `metadata.component` (what the BOM describes) counts as a component unless it is the
//! container image itself.
//!
//! Nested arrays are bounded together, not each alone: a hostile BOM could otherwise nest
//! 50 000 arrays of 50 000 empty objects. The budget of the document being parsed is a
//! thread-local ([`LEFT`]) because derived `Deserialize` impls cannot pass state down; every
//! component or file taken counts while reading.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

use super::bounded::clip;
use super::sbom::{
    MAX_FIELD_BYTES, MAX_FILES, MAX_FILES_PER_PACKAGE, MAX_PACKAGES, Package, Sbom, field, file_list, image_path,
};

/// Most license entries read for one component (the rest are skipped unread).
const MAX_LICENSES: usize = 16;

thread_local! {
    /// Components and files the document being parsed may still add (set by [`parse`]).
    static LEFT: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Takes one component (or one file) from the document's budget.
fn take<E: serde::de::Error>(file: bool) -> Result<(), E> {
    LEFT.with(|left| {
        let (c, f) = left.get();
        match (file, c, f) {
            (false, 0, _) => Err(E::custom(format!("too many components (more than {MAX_PACKAGES})"))),
            (true, _, 0) => Err(E::custom(format!("too many files (more than {MAX_FILES})"))),
            (false, c, f) => {
                left.set((c - 1, f));
                Ok(())
            }
            (true, c, f) => {
                left.set((c, f - 1));
                Ok(())
            }
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: String,
    #[serde(default)]
    spec_version: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Components,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    component: Option<Component>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "bom-ref", default)]
    bom_ref: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    supplier: Option<Entity>,
    #[serde(default)]
    publisher: Option<String>,
    #[serde(default)]
    licenses: Licenses,
    #[serde(default)]
    evidence: Option<Evidence>,
    #[serde(default)]
    components: Components,
}

#[derive(Deserialize)]
struct Entity {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Evidence {
    #[serde(default)]
    occurrences: Occurrences,
}

/// A `components` array, counted against the document's budget.
#[derive(Default)]
struct Components(Vec<Component>);

impl<'de> Deserialize<'de> for Components {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Components;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of components")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Components, A::Error> {
                let mut out = Vec::new();
                while let Some(c) = seq.next_element::<Component>()? {
                    take::<A::Error>(false)?;
                    out.push(c);
                }
                Ok(Components(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `evidence.occurrences`: the image-relative paths of their locations, counted against the
/// document's budget; locations that climb out are dropped.
#[derive(Default)]
struct Occurrences(Vec<String>);

impl<'de> Deserialize<'de> for Occurrences {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Occurrence {
            #[serde(default)]
            location: String,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Occurrences;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of occurrences")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Occurrences, A::Error> {
                let (mut out, mut n) = (Vec::new(), 0);
                while let Some(o) = seq.next_element::<Occurrence>()? {
                    n += 1;
                    if n > MAX_FILES_PER_PACKAGE {
                        return Err(serde::de::Error::custom(format!(
                            "too many occurrences (more than {MAX_FILES_PER_PACKAGE})"
                        )));
                    }
                    take::<A::Error>(true)?;
                    out.extend(image_path(&o.location));
                }
                Ok(Occurrences(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A component's `licenses`, read into their text: each entry's SPDX `expression`, license
/// `id` or `name`. Entries acknowledged as `concluded` (CycloneDX 1.6) win over the others, as
/// SPDX's licenseConcluded wins over licenseDeclared.
#[derive(Default)]
struct Licenses {
    concluded: Vec<String>,
    other: Vec<String>,
}

impl Licenses {
    /// One entry: the text itself; several (CycloneDX does not say how they combine): listed,
    /// comma-separated.
    fn text(&self) -> Option<String> {
        let kept = if self.concluded.is_empty() {
            &self.other
        } else {
            &self.concluded
        };
        (!kept.is_empty()).then(|| clip(kept.join(", "), MAX_FIELD_BYTES))
    }
}

impl<'de> Deserialize<'de> for Licenses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct License {
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            acknowledgement: Option<String>,
        }
        #[derive(Deserialize)]
        struct Choice {
            #[serde(default)]
            license: Option<License>,
            #[serde(default)]
            expression: Option<String>,
            #[serde(default)]
            acknowledgement: Option<String>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Licenses;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of licenses")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Licenses, A::Error> {
                let mut out = Licenses::default();
                let mut n = 0;
                while n < MAX_LICENSES {
                    let Some(c) = seq.next_element::<Choice>()? else {
                        return Ok(out);
                    };
                    n += 1;
                    let (text, ack) = match (c.expression, c.license) {
                        (Some(e), _) => (field(Some(&e)), c.acknowledgement),
                        (None, Some(l)) => (
                            field(l.id.as_deref()).or_else(|| field(l.name.as_deref())),
                            l.acknowledgement.or(c.acknowledgement),
                        ),
                        (None, None) => (None, None),
                    };
                    if let Some(t) = text {
                        let list = if ack.as_deref() == Some("concluded") {
                            &mut out.concluded
                        } else {
                            &mut out.other
                        };
                        if !list.contains(&t) {
                            list.push(t);
                        }
                    }
                }
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// Whether `predicate_type` names a CycloneDX BOM (`https://cyclonedx.org/bom`, with or without
/// a version after it).
pub fn is_cyclonedx(predicate_type: &str) -> bool {
    let t = predicate_type.to_ascii_lowercase();
    t.strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .is_some_and(|rest| rest == "cyclonedx.org/bom" || rest.starts_with("cyclonedx.org/bom/"))
}

/// Parses a CycloneDX 1.x JSON BOM (the statement's predicate).
pub fn parse(json: &[u8]) -> Result<Sbom, String> {
    LEFT.with(|left| left.set((MAX_PACKAGES, MAX_FILES)));
    let bom: Result<Bom, _> = serde_json::from_slice(json);
    let bom = bom.map_err(|e| format!("not a CycloneDX JSON BOM: {e}"))?;
    if bom.bom_format != "CycloneDX" {
        return Err(format!("bomFormat {:?} is not CycloneDX", clip(bom.bom_format, 32)));
    }
    let spec = bom.spec_version.as_deref().map(str::trim).unwrap_or_default();
    if !spec.is_empty() && !spec.starts_with("1.") {
        return Err(format!(
            "specVersion {:?} is not CycloneDX 1",
            clip(spec.to_owned(), 32)
        ));
    }
    let mut packages = Vec::new();
    let described = bom.metadata.and_then(|m| m.component);
    let name = described.as_ref().and_then(|c| field(Some(&c.name)));
    if let Some(c) = described {
        if c.kind == "container" {
            // The image itself: what it holds is listed, not it.
            for child in c.components.0 {
                flatten(child, None, &mut packages);
            }
        } else {
            flatten(c, None, &mut packages);
        }
    }
    for c in bom.components.0 {
        flatten(c, None, &mut packages);
    }
    Ok(Sbom {
        format: if spec.is_empty() {
            "CycloneDX".into()
        } else {
            clip(format!("CycloneDX-{spec}"), 32)
        },
        name,
        packages,
    })
}

/// Adds `c` and what it nests to `out`, in document order. A `file` component is a file of the
/// package it is nested in (`parent`, an index into `out`), not a package; one nested nowhere
/// says nothing about packages and is left out.
fn flatten(c: Component, parent: Option<usize>, out: &mut Vec<Package>) {
    let Component {
        kind,
        bom_ref,
        name,
        version,
        purl,
        supplier,
        publisher,
        licenses,
        evidence,
        components,
    } = c;
    let me = if kind == "file" {
        if let (Some(p), Some(path)) = (parent, image_path(&name)) {
            out[p].files.push(path);
        }
        parent
    } else {
        out.push(Package {
            // An empty bom-ref is none: rows are keyed by it.
            id: field(bom_ref.as_deref()).unwrap_or_else(|| format!("component-{}", out.len() + 1)),
            name: clip(name, MAX_FIELD_BYTES),
            version: field(version.as_deref()),
            purl: field(purl.as_deref()),
            license: licenses.text(),
            // syft writes a Debian package's maintainer as its publisher (and as the supplier in
            // SPDX): the publisher stands in for a missing supplier.
            supplier: field(supplier.and_then(|s| s.name).as_deref()).or_else(|| field(publisher.as_deref())),
            files: evidence.map(|e| e.occurrences.0).unwrap_or_default(),
        });
        Some(out.len() - 1)
    };
    for child in components.0 {
        flatten(child, me, out);
    }
    if kind != "file"
        && let Some(p) = me
    {
        out[p].files = file_list(std::mem::take(&mut out[p].files));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape syft and Trivy write, cut down: an image's BOM with Debian packages, a library
    /// whose files are nested `file` components and occurrences, licenses in their three forms.
    const BOM: &str = r#"{
      "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
      "metadata": {"component": {"type": "container", "bom-ref": "img", "name": "ghcr.io/x/postgis:18"}},
      "components": [
        {"type": "library", "bom-ref": "pkg:deb/debian/libgeos-c1t64@3.13.1-1", "name": "libgeos-c1t64",
         "version": "3.13.1-1", "purl": "pkg:deb/debian/libgeos-c1t64@3.13.1-1?arch=amd64",
         "publisher": "Debian GIS Project <pkg-grass-devel@lists.alioth.debian.org>",
         "licenses": [{"license": {"id": "LGPL-2.1-only"}}],
         "evidence": {"occurrences": [{"location": "/system/libgeos_c.so.1"}, {"location": "/../etc/passwd"}]},
         "components": [{"type": "file", "name": "./system/libgeos_c.so.1.19.2"},
                        {"type": "library", "name": "bundled", "version": "1"}]},
        {"type": "library", "name": "postgis", "version": "3.5.2", "supplier": {"name": "OSGeo"},
         "licenses": [{"license": {"id": "GPL-2.0-or-later", "acknowledgement": "declared"}},
                      {"license": {"name": "Custom", "acknowledgement": "concluded"}}],
         "components": [{"type": "file", "name": "lib/postgis-3.so"}]},
        {"type": "library", "bom-ref": " ", "name": "dual", "licenses": [{"expression": "MIT OR Apache-2.0"}]},
        {"type": "library", "name": "two", "licenses": [{"license": {"id": "MIT"}}, {"license": {"id": "BSD-3-Clause"}}]},
        {"type": "file", "name": "/usr/share/doc/orphan"}
      ]
    }"#;

    #[test]
    fn components_with_their_files() {
        let s = parse(BOM.as_bytes()).unwrap();
        assert_eq!(s.format, "CycloneDX-1.6");
        assert_eq!(s.name.as_deref(), Some("ghcr.io/x/postgis:18"));
        let names: Vec<&str> = s.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["libgeos-c1t64", "bundled", "postgis", "dual", "two"],
            "the container and files are not packages"
        );
        let geos = &s.packages[0];
        assert_eq!(geos.id, "pkg:deb/debian/libgeos-c1t64@3.13.1-1");
        assert_eq!(geos.version.as_deref(), Some("3.13.1-1"));
        assert_eq!(
            geos.purl.as_deref(),
            Some("pkg:deb/debian/libgeos-c1t64@3.13.1-1?arch=amd64")
        );
        assert_eq!(geos.license.as_deref(), Some("LGPL-2.1-only"));
        assert_eq!(
            geos.supplier.as_deref(),
            Some("Debian GIS Project <pkg-grass-devel@lists.alioth.debian.org>"),
            "the publisher, when there is no supplier"
        );
        assert_eq!(geos.files, ["system/libgeos_c.so.1", "system/libgeos_c.so.1.19.2"]);
        assert_eq!(s.packages[1].id, "component-2", "no bom-ref: its place");
        assert!(s.packages[1].files.is_empty());
        let postgis = &s.packages[2];
        assert_eq!(postgis.supplier.as_deref(), Some("OSGeo"));
        assert_eq!(postgis.license.as_deref(), Some("Custom"), "concluded wins");
        assert_eq!(postgis.files, ["lib/postgis-3.so"]);
        assert_eq!(s.packages[3].license.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(s.packages[3].id, "component-4", "an empty bom-ref is none");
        assert_eq!(s.packages[4].license.as_deref(), Some("MIT, BSD-3-Clause"));
    }

    #[test]
    fn described_component_counts_unless_it_is_the_image() {
        let s = parse(
            br#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"type":"application","name":"pgvector","version":"0.8.1",
                "components":[{"type":"file","name":"lib/vector.so"}]}}}"#,
        )
        .unwrap();
        assert_eq!(s.packages.len(), 1);
        assert_eq!(
            (s.packages[0].name.as_str(), s.packages[0].files.as_slice()),
            ("pgvector", &["lib/vector.so".to_string()][..])
        );
    }

    #[test]
    fn what_is_not_a_cyclonedx_bom() {
        for bad in [
            &b"{}"[..],
            b"[]",
            b"not json",
            br#"{"bomFormat":"SPDX"}"#,
            br#"{"bomFormat":"CycloneDX","specVersion":"2.0"}"#,
            br#"{"bomFormat":"CycloneDX","components":{}}"#,
            br#"{"bomFormat":"CycloneDX","components":[{"name":7}]}"#,
            br#"{"bomFormat":"CycloneDX","components":[{"licenses":[{"license":{"id":1}}]}]}"#,
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let s = parse(br#"{"bomFormat":"CycloneDX"}"#).unwrap();
        assert_eq!((s.format.as_str(), s.packages.len()), ("CycloneDX", 0));
    }

    #[test]
    fn nested_arrays_share_one_budget() {
        // Each array alone is within the bound; together they are not.
        let half = "{},".repeat(MAX_PACKAGES / 2);
        let doc = format!(
            r#"{{"bomFormat":"CycloneDX","components":[{{"components":[{half}{{}}]}},{{"components":[{half}{{}}]}}]}}"#
        );
        assert!(parse(doc.as_bytes()).unwrap_err().contains("too many components"));
        // The budget is the document's: the next parse starts afresh.
        assert!(parse(BOM.as_bytes()).is_ok());
        let files = r#"{"location":"a"},"#.repeat(MAX_FILES_PER_PACKAGE);
        let doc =
            format!(r#"{{"bomFormat":"CycloneDX","components":[{{"evidence":{{"occurrences":[{files}{{}}]}}}}]}}"#);
        assert!(parse(doc.as_bytes()).unwrap_err().contains("too many occurrences"));
        let many = format!(
            r#"[{}{{"license":{{"id":"X"}}}}]"#,
            r#"{"license":{"id":"MIT"}},"#.repeat(100)
        );
        let doc = format!(r#"{{"bomFormat":"CycloneDX","components":[{{"name":"l","licenses":{many}}}]}}"#);
        assert_eq!(
            parse(doc.as_bytes()).unwrap().packages[0].license.as_deref(),
            Some("MIT"),
            "the rest skipped unread"
        );
        let long = format!(
            r#"{{"bomFormat":"CycloneDX","components":[{{"name":"{}"}}]}}"#,
            "x".repeat(5000)
        );
        assert_eq!(parse(long.as_bytes()).unwrap().packages[0].name.len(), MAX_FIELD_BYTES);
    }

    #[test]
    fn predicate_types() {
        for t in [
            "https://cyclonedx.org/bom",
            "https://cyclonedx.org/bom/v1.5",
            "HTTP://cyclonedx.org/bom",
        ] {
            assert!(is_cyclonedx(t), "{t}");
        }
        for t in [
            "https://spdx.dev/Document",
            "https://cyclonedx.org/vex",
            "https://cyclonedx.org/bombast",
        ] {
            assert!(!is_cyclonedx(t), "{t}");
        }
    }
}
