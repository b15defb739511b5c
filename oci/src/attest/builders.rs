//! `pgext.trusted_builders`: which builders (and, optionally, which source repositories) the
//! `provenance` condition of `pgext.require` accepts. The same conventions as
//! `pgext.trusted_identities`: rules separated by `;` (or new lines), fields separated by
//! spaces — `builder=EXACT` or `builder~REGEX` (unanchored, like `subject~`), optionally
//! `source=PREFIX` (the source repository must start with it, at a path boundary) and
//! `images=PREFIX` (the rule applies only to references starting with it).

/// How a rule matches the builder id.
#[derive(Debug, Clone)]
pub enum BuilderMatch {
    /// Exactly this id.
    Exact(String),
    /// A regular expression (unanchored; anchor it with `^…$`).
    Regex(regex::Regex),
}

/// One rule of `pgext.trusted_builders`.
#[derive(Debug, Clone)]
pub struct BuilderRule {
    /// The builder id.
    pub builder: BuilderMatch,
    /// The source repository must start with this (at a boundary: `https://github.com/o/r`
    /// does not accept `https://github.com/o/r-fork`).
    pub source: Option<String>,
    /// Only for references starting with this.
    pub images: Option<String>,
}

impl BuilderRule {
    /// Whether provenance by `builder` from `source` of the image `reference` meets this rule.
    pub fn accepts(&self, builder: Option<&str>, source: Option<&str>, reference: &str) -> bool {
        let Some(builder) = builder else { return false };
        let builder_ok = match &self.builder {
            BuilderMatch::Exact(b) => b == builder,
            BuilderMatch::Regex(r) => r.is_match(builder),
        };
        let source_ok = match (&self.source, source) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(prefix), Some(s)) => s
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || prefix.ends_with('/') || rest.starts_with(['/', '@', '#'])),
        };
        builder_ok && source_ok && self.images.as_deref().is_none_or(|p| reference.starts_with(p))
    }
}

/// Parses `pgext.trusted_builders`.
pub fn parse_builders(text: &str) -> Result<Vec<BuilderRule>, String> {
    let mut rules = Vec::new();
    for rule in text.split([';', '\n']).map(str::trim).filter(|r| !r.is_empty()) {
        let (mut builder, mut source, mut images) = (None, None, None);
        for field in rule.split_whitespace() {
            if let Some(v) = field.strip_prefix("builder=") {
                builder = Some(BuilderMatch::Exact(v.to_owned()));
            } else if let Some(v) = field.strip_prefix("builder~") {
                let re =
                    regex::Regex::new(v).map_err(|e| format!("\"{rule}\": bad builder regular expression: {e}"))?;
                builder = Some(BuilderMatch::Regex(re));
            } else if let Some(v) = field.strip_prefix("source=") {
                source = Some(v.to_owned());
            } else if let Some(v) = field.strip_prefix("images=") {
                images = Some(v.to_owned());
            } else {
                return Err(format!(
                    "\"{rule}\": unknown field \"{field}\" (builder=, builder~, source=, images=)"
                ));
            }
        }
        match builder {
            Some(BuilderMatch::Exact(b)) if b.is_empty() => {
                return Err(format!("\"{rule}\": builder= needs a value"));
            }
            Some(builder) => rules.push(BuilderRule {
                builder,
                source: source.filter(|s| !s.is_empty()),
                images,
            }),
            None => return Err(format!("\"{rule}\": a rule needs builder= (or builder~)")),
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let r = parse_builders(
            "builder~^https://github\\.com/cloudnative-pg/postgres-extensions-containers/actions/runs/ \
               source=https://github.com/cloudnative-pg/postgres-extensions-containers images=ghcr.io/cloudnative-pg/;\n\
             builder=https://github.com/actions/runner/github-hosted",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        let cnpg = "https://github.com/cloudnative-pg/postgres-extensions-containers/actions/runs/1/attempts/1";
        let repo = "https://github.com/cloudnative-pg/postgres-extensions-containers";
        let img = "ghcr.io/cloudnative-pg/postgis:3";
        assert!(r[0].accepts(Some(cnpg), Some(repo), img));
        assert!(
            !r[0].accepts(Some(cnpg), Some(&format!("{repo}-fork")), img),
            "a boundary"
        );
        assert!(r[0].accepts(Some(cnpg), Some(&format!("{repo}/sub")), img));
        assert!(
            !r[0].accepts(Some(cnpg), None, img),
            "no source: no match when one is required"
        );
        assert!(!r[0].accepts(Some(cnpg), Some(repo), "mirror.example/postgis:3"));
        assert!(!r[0].accepts(None, Some(repo), img));
        assert!(r[1].accepts(Some("https://github.com/actions/runner/github-hosted"), None, "x"));
        assert!(!r[1].accepts(Some("https://github.com/actions/runner/github-hosted/x"), None, "x"));
        for bad in ["source=x", "builder=", "builder~(", "builder=x color=red"] {
            assert!(parse_builders(bad).is_err(), "{bad}");
        }
        assert!(parse_builders(" ;\n ").unwrap().is_empty());
    }
}
