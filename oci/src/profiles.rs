//! Built-in trust profiles: the keyless identities that sign well-known images, so that a site
//! enables them with one setting (`pgext.trust_profile`) instead of writing identity rules.
//! A profile only says *who* may sign *which* images; certificates and log entries are still
//! judged against `pgext.trusted_root` (for public images, the Sigstore public-good root).

use crate::keyless::{IdentityRule, SubjectMatch};

/// GitHub Actions' OIDC issuer, as Fulcio records it in its issuer extension.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The workflow that signs CloudNativePG's extension images. In
/// cloudnative-pg/postgres-extensions-containers, `.github/workflows/bake.yml` (on every push)
/// calls the reusable workflow `.github/workflows/bake_targets.yml`, whose jobs sign with
/// `cosign sign` under `id-token: write`: `testbuild` the `-testing` images, and on
/// `refs/heads/main` `copytoproduction` (the composite action
/// cloudnative-pg/postgres-containers/.github/actions/copy-images) the production images after
/// copying them. Fulcio names a reusable workflow's caller by the called workflow
/// (`job_workflow_ref`), so every signature carries this SAN; only the main branch's count.
pub const CNPG_EXTENSIONS_WORKFLOW: &str = "https://github.com/cloudnative-pg/postgres-extensions-containers/.github/workflows/bake_targets.yml@refs/heads/main";

/// The workflows that sign CloudNativePG's image catalogs (`cosign sign-blob --bundle`, keyless):
/// cloudnative-pg/postgres-containers' `catalogs.yml` (the operand catalogs,
/// `image-catalogs/catalog-*-<os>.yaml` in cloudnative-pg/artifacts) and
/// postgres-extensions-containers' `update-catalogs.yml` (the catalogs with the `extensions`
/// stanza, `image-catalogs-extensions/`), both on their main branch. Read from the certificates
/// of the published `.sigstore.json` bundles.
pub const CNPG_CATALOG_WORKFLOWS: &[&str] = &[
    "https://github.com/cloudnative-pg/postgres-containers/.github/workflows/catalogs.yml@refs/heads/main",
    "https://github.com/cloudnative-pg/postgres-extensions-containers/.github/workflows/update-catalogs.yml@refs/heads/main",
];

/// Where CloudNativePG publishes its extension images.
pub const CNPG_IMAGES: &str = "ghcr.io/cloudnative-pg/";

/// The profiles: name, default image prefix, what it trusts (for the settings reference).
pub const PROFILES: &[(&str, &str, &str)] = &[(
    "cloudnative-pg",
    CNPG_IMAGES,
    "CloudNativePG's extension images, signed keyless by the main branch of \
     postgres-extensions-containers' bake_targets.yml workflow; and its image catalogs \
     (pgext.catalog), signed by the main branch of postgres-containers' catalogs.yml and \
     postgres-extensions-containers' update-catalogs.yml",
)];

/// The identity rules of profile `name`, for images under `images`.
fn rules(name: &str, images: &str) -> Option<Vec<IdentityRule>> {
    match name {
        "cloudnative-pg" => Some(vec![IdentityRule {
            issuer: GITHUB_ACTIONS_ISSUER.to_owned(),
            subject: SubjectMatch::Exact(CNPG_EXTENSIONS_WORKFLOW.to_owned()),
            images: Some(images.to_owned()),
        }]),
        _ => None,
    }
}

/// The identity rules of profile `name` for signed catalogs (scoped to catalogs whatever
/// `images=` says: a catalog is a file, not an image of a registry).
fn catalog_rules(name: &str) -> Vec<IdentityRule> {
    match name {
        "cloudnative-pg" => CNPG_CATALOG_WORKFLOWS
            .iter()
            .map(|w| IdentityRule {
                issuer: GITHUB_ACTIONS_ISSUER.to_owned(),
                subject: SubjectMatch::Exact((*w).to_owned()),
                images: Some(crate::catalog::CATALOG_SCOPE.to_owned()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses `pgext.trust_profile`: profiles separated by `,` (or `;`, new lines), each a name,
/// optionally followed by `images=PREFIX` fields — the registries and repositories the profile
/// applies to instead of its own (a mirror of the images: signatures are bound to the digest,
/// not to the registry). Returns the identity rules they stand for.
pub fn parse_profiles(text: &str) -> Result<Vec<IdentityRule>, String> {
    let mut out = Vec::new();
    for entry in text.split([',', ';', '\n']).map(str::trim).filter(|e| !e.is_empty()) {
        let mut fields = entry.split_whitespace();
        let name = fields.next().unwrap_or_default();
        let Some((_, default_images, _)) = PROFILES.iter().find(|(n, _, _)| *n == name) else {
            return Err(format!(
                "\"{entry}\": unknown trust profile \"{name}\" (known: {})",
                PROFILES.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        };
        let mut prefixes = Vec::new();
        for field in fields {
            match field.strip_prefix("images=") {
                Some(p) if !p.is_empty() => prefixes.push(p),
                _ => return Err(format!("\"{entry}\": unknown field \"{field}\" (images=PREFIX)")),
            }
        }
        if prefixes.is_empty() {
            prefixes.push(default_images);
        }
        for p in prefixes {
            out.extend(rules(name, p).unwrap_or_default());
        }
        out.extend(catalog_rules(name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_into_identity_rules() {
        let rules = parse_profiles("cloudnative-pg").unwrap();
        assert_eq!(rules.len(), 3);
        assert!(rules[1..].iter().all(|r| r.images.as_deref() == Some("catalog:/")));
        assert_eq!(rules[0].issuer, GITHUB_ACTIONS_ISSUER);
        assert!(matches!(&rules[0].subject, SubjectMatch::Exact(s) if s == CNPG_EXTENSIONS_WORKFLOW));
        assert_eq!(rules[0].images.as_deref(), Some(CNPG_IMAGES));

        let rules = parse_profiles(" cloudnative-pg images=mirror.example/cnpg/ images=other.example/x/ ,").unwrap();
        let images: Vec<_> = rules.iter().map(|r| r.images.as_deref().unwrap()).collect();
        assert_eq!(
            images,
            ["mirror.example/cnpg/", "other.example/x/", "catalog:/", "catalog:/"]
        );

        assert!(parse_profiles("").unwrap().is_empty());
        assert!(parse_profiles(" ; \n").unwrap().is_empty());
        for bad in [
            "cnpg",
            "cloudnative-pg subject=x",
            "cloudnative-pg images=",
            "Cloudnative-PG",
        ] {
            assert!(parse_profiles(bad).is_err(), "{bad}");
        }
    }
}
