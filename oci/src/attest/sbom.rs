//! What pgext keeps of an SBOM, whatever its format (`spdx`, `cyclonedx`): packages with their
//! version, purl, license, supplier and the image files they contain. The bounds are the same
//! for every format; the parsers count while reading (see `bounded`).

use super::bounded::clip;

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
    /// Its identifier in the document (SPDX identifier, CycloneDX `bom-ref`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: Option<String>,
    /// Package URL.
    pub purl: Option<String>,
    /// License (an SPDX expression where the document gives one).
    pub license: Option<String>,
    /// Supplier as the document writes it.
    pub supplier: Option<String>,
    /// Image-relative paths of the files the package contains, sorted.
    pub files: Vec<String>,
}

/// What pgext keeps of an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sbom {
    /// The format and its version: `SPDX-2.3`, `CycloneDX-1.5`.
    pub format: String,
    /// The document's name (SPDX), or the component it describes (CycloneDX).
    pub name: Option<String>,
    /// Packages, in document order.
    pub packages: Vec<Package>,
}

/// A trimmed field that is not empty, cut to [`MAX_FIELD_BYTES`].
pub(super) fn field(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| clip(s.to_owned(), MAX_FIELD_BYTES))
}

/// A file name as an image-relative path (`./lib/x.so`, `/lib/x.so` → `lib/x.so`); `None` for
/// one that climbs out (`..`) or names the root.
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

/// Sorted, without repeats, at most [`MAX_FILES_PER_PACKAGE`].
pub(super) fn file_list(mut files: Vec<String>) -> Vec<String> {
    files.sort();
    files.dedup();
    files.truncate(MAX_FILES_PER_PACKAGE);
    files
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn fields() {
        assert_eq!(field(Some("  x ")).as_deref(), Some("x"));
        assert_eq!(field(Some("  ")), None);
        assert_eq!(field(None), None);
        assert_eq!(field(Some(&"y".repeat(5000))).unwrap().len(), MAX_FIELD_BYTES);
        assert_eq!(file_list(vec!["b".into(), "a".into(), "b".into()]), ["a", "b"]);
    }
}
