//! CloudNativePG image catalogs (`ImageCatalog` / `ClusterImageCatalog`, api/v1): per PostgreSQL
//! major, the operand image and — since CloudNativePG 1.29 (`extensions` stanza) — the extension
//! images, each pinned `tag@sha256:…`. The YAML is read by `pgext_oci::catalog` (after its
//! signature bundle is verified); this module holds what was read and judges a mounted image
//! against it: is its digest one the catalog lists for this server's major and OS?

use crate::metadata::ServerFacts;

/// What became of a catalog: only `verified` lists anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum CatalogStatus {
    /// `pgext.catalog` is empty: no catalog is judged.
    Off,
    /// The bundle verifies over the file's bytes, by a trusted key or identity, and the file is
    /// an image catalog.
    Verified,
    /// No bundle beside it (`<catalog>.sigstore.json`, or `pgext.catalog_bundle`).
    Unsigned,
    /// A genuine-looking signature by no one trusted (another key, an identity no rule trusts,
    /// no trust configured).
    Untrusted,
    /// Provably wrong: the file changed after signing, a signature that does not verify with its
    /// own key or certificate, a log entry of something else, a bundle that is no bundle, or a
    /// signed file that is no image catalog.
    Invalid,
    /// The catalog or its bundle cannot be read.
    Unreadable,
    /// A trust setting cannot be read (`pgext.trusted_keys`, `pgext.trusted_root`, …).
    Error,
}

impl CatalogStatus {
    /// The name SQL shows.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an entry is in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum EntryKind {
    /// `spec.images[].image`: the PostgreSQL operand image of a major.
    Operand,
    /// `spec.images[].extensions[].image.reference`: an extension image for that major.
    Extension,
}

/// One image the catalog lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The PostgreSQL major it is listed under.
    pub major: u32,
    /// Operand or extension.
    pub kind: EntryKind,
    /// The extension's name (CloudNativePG mounts it at `/extensions/<name>`); `postgresql` for
    /// the operand image.
    pub name: String,
    /// The reference as written.
    pub reference: String,
    /// Its `@sha256:…` digest (`None`: the catalog pins no digest for it).
    pub digest: Option<String>,
}

/// A catalog as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `kind` (`ClusterImageCatalog` or `ImageCatalog`).
    pub kind: String,
    /// The `images.cnpg.io/os` label: the OS its images are built for.
    pub os: Option<String>,
    /// The `images.cnpg.io/date` label.
    pub date: Option<String>,
    /// Every image listed.
    pub entries: Vec<Entry>,
}

/// The digest of a reference `…@sha256:<hex>` (`None` without one).
pub fn reference_digest(reference: &str) -> Option<String> {
    let (_, d) = reference.rsplit_once('@')?;
    let (alg, hex) = d.split_once(':')?;
    (alg == "sha256" && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| d.to_ascii_lowercase())
}

impl Catalog {
    /// Whether the catalog's OS (when it names one) is the server's: `None` when either side is
    /// unknown (the catalog then counts for any OS).
    pub fn os_agrees(&self, server: &ServerFacts) -> Option<bool> {
        let os = self.os.as_deref()?;
        let names = server.os_names();
        if names.is_empty() {
            return None;
        }
        Some(names.iter().any(|n| n.eq_ignore_ascii_case(os)))
    }

    /// The entries for this server: its major, and its OS where the catalog names one (a
    /// catalog for another OS lists nothing for it).
    pub fn for_server(&self, server: &ServerFacts) -> Vec<&Entry> {
        if self.os_agrees(server) == Some(false) {
            return Vec::new();
        }
        let Ok(major) = server.pg_major.parse::<u32>() else {
            return Vec::new();
        };
        self.entries.iter().filter(|e| e.major == major).collect()
    }

    /// Judges the mounted image `name` whose digest is `digest` (pinned, or resolved by a
    /// verification) against the entries for `server`.
    pub fn judge(&self, server: &ServerFacts, name: &str, digest: Option<&str>) -> Judgement {
        let entries = self.for_server(server);
        let by_name = entries
            .iter()
            .find(|e| e.kind == EntryKind::Extension && e.name == name);
        let matched = digest.and_then(|d| entries.iter().find(|e| e.digest.as_deref() == Some(d)));
        let catalog_digest = by_name.or(matched).and_then(|e| e.digest.clone());
        let catalog_reference = by_name.or(matched).map(|e| e.reference.clone());
        let why = match (digest, matched, self.os_agrees(server)) {
            (_, Some(e), _) => format!("listed as {} ({} for PostgreSQL {})", e.reference, e.name, e.major),
            (_, None, Some(false)) => format!(
                "the catalog is for {} (images.cnpg.io/os), this server runs on another OS",
                self.os.as_deref().unwrap_or("?")
            ),
            (None, None, _) => "the image has no digest to look up (pin it by digest, or verify it)".to_string(),
            (Some(d), None, _) => match by_name {
                Some(e) => format!(
                    "{d} is not listed for PostgreSQL {}: the catalog lists {name} as {}",
                    server.pg_major, e.reference
                ),
                None => format!("{d} is not listed for PostgreSQL {}", server.pg_major),
            },
        };
        Judgement {
            in_catalog: matched.is_some(),
            catalog_digest,
            catalog_reference,
            why,
        }
    }
}

/// A mounted image judged against a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Its digest is listed for this server.
    pub in_catalog: bool,
    /// The digest the catalog lists for an extension of this name (else the matching entry's).
    pub catalog_digest: Option<String>,
    /// The reference of that entry.
    pub catalog_reference: Option<String>,
    /// Why, in words.
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn catalog(os: Option<&str>) -> Catalog {
        let e = |major, kind, name: &str, d: &str| Entry {
            major,
            kind,
            name: name.into(),
            reference: format!("ghcr.io/cloudnative-pg/{name}:x@{d}"),
            digest: Some(d.into()),
        };
        Catalog {
            name: Some("c".into()),
            kind: "ClusterImageCatalog".into(),
            os: os.map(str::to_string),
            date: None,
            entries: vec![
                e(18, EntryKind::Operand, "postgresql", D3),
                e(18, EntryKind::Extension, "pgvector", D1),
                e(17, EntryKind::Extension, "pgaudit", D2),
            ],
        }
    }

    fn server(major: &str, codename: &str) -> ServerFacts {
        ServerFacts::from_os_release(
            major,
            "amd64",
            &format!("ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME={codename}\n"),
        )
    }

    #[test]
    fn digests_of_references() {
        assert_eq!(reference_digest(&format!("r/x:1@{D1}")).as_deref(), Some(D1));
        assert_eq!(
            reference_digest(&format!("oci:/l/x:1@{}", D1.to_uppercase().replace("SHA", "sha"))).as_deref(),
            Some(D1)
        );
        assert_eq!(reference_digest("r/x:1"), None);
        assert_eq!(reference_digest("r/x@sha256:12"), None);
        assert_eq!(reference_digest("r/x@sha512:11"), None);
    }

    #[test]
    fn judgements() {
        let s18 = server("18", "trixie");
        // (what, catalog OS, server, image name, digest, in_catalog, catalog_digest, a word of why)
        type Row<'a> = (
            &'a str,
            Option<&'a str>,
            ServerFacts,
            &'a str,
            Option<&'a str>,
            bool,
            Option<&'a str>,
            &'a str,
        );
        let rows: Vec<Row> = vec![
            (
                "listed under its name",
                Some("trixie"),
                s18.clone(),
                "pgvector",
                Some(D1),
                true,
                Some(D1),
                "listed as",
            ),
            (
                "listed under another name (a mirror's mount name)",
                None,
                s18.clone(),
                "vec",
                Some(D1),
                true,
                Some(D1),
                "pgvector",
            ),
            (
                "another digest of a listed name",
                Some("trixie"),
                s18.clone(),
                "pgvector",
                Some(D2),
                false,
                Some(D1),
                "the catalog lists pgvector",
            ),
            (
                "listed for another major only",
                Some("trixie"),
                s18.clone(),
                "pgaudit",
                Some(D2),
                false,
                None,
                "not listed for PostgreSQL 18",
            ),
            (
                "the same digest, the server on PostgreSQL 17",
                Some("trixie"),
                server("17", "trixie"),
                "pgaudit",
                Some(D2),
                true,
                Some(D2),
                "listed",
            ),
            (
                "the catalog for another OS lists nothing here",
                Some("bookworm"),
                s18.clone(),
                "pgvector",
                Some(D1),
                false,
                None,
                "bookworm",
            ),
            (
                "an OS label as ID-VERSION_ID",
                Some("debian-13"),
                s18.clone(),
                "pgvector",
                Some(D1),
                true,
                Some(D1),
                "listed",
            ),
            (
                "no digest to look up",
                Some("trixie"),
                s18.clone(),
                "pgvector",
                None,
                false,
                Some(D1),
                "no digest",
            ),
            (
                "the operand image's digest counts",
                Some("trixie"),
                s18.clone(),
                "pg",
                Some(D3),
                true,
                Some(D3),
                "postgresql",
            ),
        ];
        for (what, os, server, name, digest, in_catalog, catalog_digest, why) in rows {
            let j = catalog(os).judge(&server, name, digest);
            assert_eq!(j.in_catalog, in_catalog, "{what}: {j:?}");
            assert_eq!(j.catalog_digest.as_deref(), catalog_digest, "{what}: {j:?}");
            assert!(j.why.contains(why), "{what}: {}", j.why);
        }
    }
}
