//! SLSA provenance, v0.2 (`https://slsa.dev/provenance/v0.2`) and v1
//! (`https://slsa.dev/provenance/v1`): who built the image (the builder's id), from which
//! source repository and commit, by which workflow (or build file), and when. Where each comes
//! from, first found wins:
//!
//! - source: v0.2 `invocation.configSource` (`uri` + `digest.sha1`/`gitCommit`), v1
//!   `buildDefinition.externalParameters.configSource` (BuildKit) or `.workflow.repository`
//!   (GitHub's workflow build type); then BuildKit's VCS metadata (`vcs.source`,
//!   `vcs.revision`, in `metadata."https://mobyproject.org/buildkit@v1#metadata"` or v1's
//!   `runDetails.metadata.buildkit_metadata`); then the first git material / resolved
//!   dependency (`git+…`) with a commit digest;
//! - workflow: v1 `externalParameters.workflow.path` (`@ref` added), else the config source's
//!   `entryPoint` (v0.2) or `path` (v1) — for BuildKit, the Dockerfile;
//! - built at: the build's finish time, else its start (RFC 3339).
//!
//! Only these fields are read (everything else is skipped unread), arrays are bounded.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::bounded::{Bounded, clip};

/// Longest field kept.
pub const MAX_FIELD_BYTES: usize = 2048;
/// Most materials / resolved dependencies read.
pub const MAX_MATERIALS: usize = 10_000;

/// What pgext keeps of a provenance predicate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provenance {
    /// `builder.id` (v0.2) or `runDetails.builder.id` (v1).
    pub builder_id: Option<String>,
    /// `buildType`.
    pub build_type: Option<String>,
    /// The source repository, normalized: no `git+`, no `.git`, no `@ref` or `#ref`.
    pub source_repository: Option<String>,
    /// The commit built.
    pub source_commit: Option<String>,
    /// The workflow (or build file) that ran the build.
    pub workflow: Option<String>,
    /// When the build finished (else started), Unix seconds.
    pub built_at: Option<i64>,
    /// The build's invocation id (e.g. a CI run's URL).
    pub invocation_id: Option<String>,
}

/// Whether `predicate_type` names SLSA provenance (any version).
pub fn is_provenance(predicate_type: &str) -> bool {
    predicate_type.starts_with("https://slsa.dev/provenance/")
}

type Digests = BTreeMap<String, String>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigSource {
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    digest: Option<Digests>,
    #[serde(default)]
    entry_point: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
struct Material {
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    digest: Option<Digests>,
}

#[derive(Deserialize, Default)]
struct Vcs {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    revision: Option<String>,
}

#[derive(Deserialize, Default)]
struct BuildkitMetadata {
    #[serde(default)]
    vcs: Option<Vcs>,
}

#[derive(Deserialize, Default)]
struct Id {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V02 {
    #[serde(default)]
    builder: Id,
    #[serde(default)]
    build_type: Option<String>,
    #[serde(default)]
    invocation: Option<Invocation>,
    #[serde(default)]
    metadata: Option<V02Metadata>,
    #[serde(default)]
    materials: Bounded<Material, MAX_MATERIALS>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    #[serde(default)]
    config_source: Option<ConfigSource>,
    #[serde(default)]
    #[allow(dead_code)]
    parameters: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V02Metadata {
    #[serde(default)]
    build_invocation_id: Option<String>,
    #[serde(default)]
    build_started_on: Option<String>,
    #[serde(default)]
    build_finished_on: Option<String>,
    #[serde(default, rename = "https://mobyproject.org/buildkit@v1#metadata")]
    buildkit: Option<BuildkitMetadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1 {
    build_definition: BuildDefinition,
    #[serde(default)]
    run_details: Option<RunDetails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuildDefinition {
    #[serde(default)]
    build_type: Option<String>,
    #[serde(default)]
    external_parameters: Option<External>,
    #[serde(default)]
    resolved_dependencies: Bounded<Material, MAX_MATERIALS>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct External {
    #[serde(default)]
    config_source: Option<ConfigSource>,
    #[serde(default)]
    workflow: Option<Workflow>,
}

#[derive(Deserialize)]
struct Workflow {
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunDetails {
    #[serde(default)]
    builder: Id,
    #[serde(default)]
    metadata: Option<V1Metadata>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Metadata {
    #[serde(default)]
    invocation_id: Option<String>,
    #[serde(default)]
    started_on: Option<String>,
    #[serde(default)]
    finished_on: Option<String>,
    #[serde(default, rename = "buildkit_metadata")]
    buildkit_metadata: Option<BuildkitMetadata>,
}

fn field(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .map(|s| clip(s, MAX_FIELD_BYTES))
}

/// A git commit from a digest map (`sha1`, `gitCommit`, `sha256` for SHA-256 repositories).
fn commit(d: Option<&Digests>) -> Option<String> {
    let d = d?;
    field(["gitCommit", "sha1", "sha256"].iter().find_map(|k| d.get(*k).cloned()))
}

/// A repository URL without what says which revision: `git+https://github.com/o/r.git@refs/x`
/// and `https://github.com/o/r.git#main` → `https://github.com/o/r`.
pub fn normalize_repository(uri: &str) -> String {
    // Each step only removes bytes, and one can expose another (a space before `.git`, a
    // doubled `git+`): repeat until nothing changes, so a recorded value normalizes to itself.
    let mut current = normalize_once(uri);
    loop {
        let next = normalize_once(&current);
        if next == current {
            return current;
        }
        current = next;
    }
}

fn normalize_once(uri: &str) -> String {
    let u = uri.trim();
    let u = u.strip_prefix("git+").unwrap_or(u);
    let u = u.split('#').next().unwrap_or(u);
    // An `@` after the path starts names a revision (before it, it is user info).
    // (scp-like `git@host:path`: the path starts after the colon.)
    let path_start = match u.find("://") {
        Some(i) => u[i + 3..].find('/').map_or(u.len(), |j| i + 3 + j),
        None => u.find(':').map_or(0, |i| i + 1),
    };
    let u = match u[path_start..].find('@') {
        Some(at) => &u[..path_start + at],
        None => u,
    };
    let u = u.trim_end_matches('/');
    clip(u.strip_suffix(".git").unwrap_or(u).to_owned(), MAX_FIELD_BYTES)
}

fn git_material(materials: &[Material]) -> Option<(String, Option<String>)> {
    materials.iter().find_map(|m| {
        let uri = m.uri.as_deref()?;
        (uri.starts_with("git+") || uri.ends_with(".git") || uri.contains(".git@") || uri.contains(".git#"))
            .then(|| (normalize_repository(uri), commit(m.digest.as_ref())))
    })
}

fn from_config(c: &ConfigSource) -> Option<(String, Option<String>)> {
    let uri = field(c.uri.clone())?;
    Some((normalize_repository(&uri), commit(c.digest.as_ref())))
}

fn from_vcs(m: Option<&BuildkitMetadata>) -> Option<(String, Option<String>)> {
    let vcs = m?.vcs.as_ref()?;
    Some((
        normalize_repository(&field(vcs.source.clone())?),
        field(vcs.revision.clone()),
    ))
}

/// Parses the predicate of a provenance statement of `predicate_type`.
pub fn parse(predicate_type: &str, json: &[u8]) -> Result<Provenance, String> {
    let source_and_time;
    let mut p = Provenance::default();
    if predicate_type.starts_with("https://slsa.dev/provenance/v0.") {
        let v: V02 = serde_json::from_slice(json).map_err(|e| format!("not SLSA provenance v0.2: {e}"))?;
        let config = v.invocation.as_ref().and_then(|i| i.config_source.as_ref());
        let meta = v.metadata.as_ref();
        p.builder_id = field(v.builder.id);
        p.build_type = field(v.build_type);
        p.workflow = config.and_then(|c| field(c.entry_point.clone()));
        p.invocation_id = meta.and_then(|m| field(m.build_invocation_id.clone()));
        source_and_time = (
            config
                .and_then(from_config)
                .or_else(|| from_vcs(meta.and_then(|m| m.buildkit.as_ref())))
                .or_else(|| git_material(&v.materials.0)),
            meta.and_then(|m| m.build_finished_on.clone().or(m.build_started_on.clone())),
        );
    } else if predicate_type.starts_with("https://slsa.dev/provenance/v1") {
        let v: V1 = serde_json::from_slice(json).map_err(|e| format!("not SLSA provenance v1: {e}"))?;
        let ext = v.build_definition.external_parameters.as_ref();
        let run = v.run_details.as_ref();
        let meta = run.and_then(|r| r.metadata.as_ref());
        p.builder_id = run.and_then(|r| field(r.builder.id.clone()));
        p.build_type = field(v.build_definition.build_type.clone());
        p.invocation_id = meta.and_then(|m| field(m.invocation_id.clone()));
        let workflow = ext.and_then(|e| e.workflow.as_ref());
        p.workflow = workflow
            .and_then(|w| {
                let path = field(w.path.clone())?;
                Some(match field(w.git_ref.clone()) {
                    Some(r) => format!("{path}@{r}"),
                    None => path,
                })
            })
            .or_else(|| {
                ext.and_then(|e| e.config_source.as_ref())
                    .and_then(|c| field(c.path.clone()))
            });
        let deps = &v.build_definition.resolved_dependencies.0;
        let source = ext
            .and_then(|e| e.config_source.as_ref())
            .and_then(from_config)
            .or_else(|| {
                let repo = normalize_repository(&field(workflow?.repository.clone())?);
                // GitHub's build type: the commit is the resolved dependency of that repository.
                let commit = deps.iter().find_map(|d| {
                    (normalize_repository(d.uri.as_deref()?) == repo)
                        .then(|| commit(d.digest.as_ref()))
                        .flatten()
                });
                Some((repo, commit))
            })
            .or_else(|| from_vcs(meta.and_then(|m| m.buildkit_metadata.as_ref())))
            .or_else(|| git_material(deps));
        source_and_time = (
            source,
            meta.and_then(|m| m.finished_on.clone().or(m.started_on.clone())),
        );
    } else {
        return Err(format!("unknown provenance predicate type {predicate_type:?}"));
    }
    let (source, time) = source_and_time;
    if let Some((repo, commit)) = source {
        p.source_repository = Some(repo).filter(|r| !r.is_empty());
        p.source_commit = commit;
    }
    p.built_at = time.as_deref().and_then(rfc3339);
    Ok(p)
}

/// An RFC 3339 time (`2026-01-02T03:04:05Z`, fractions and offsets allowed) in Unix seconds.
pub fn rfc3339(t: &str) -> Option<i64> {
    let t = t.trim();
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let hh: i64 = o[1..3].parse().ok()?;
            let mm: i64 = o[4..6].parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if o.starts_with('+') { v } else { -v }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BuildKit's v0.2 provenance (`mode=max`) as buildx writes it in GitHub Actions, cut down.
    const BUILDKIT_V02: &str = r#"{
      "builder": {"id": "https://github.com/cloudnative-pg/postgres-extensions-containers/actions/runs/123/attempts/1"},
      "buildType": "https://mobyproject.org/buildkit@v1",
      "materials": [{"uri": "pkg:docker/debian@trixie?platform=linux%2Famd64", "digest": {"sha256": "aa"}}],
      "invocation": {
        "configSource": {"uri": "https://github.com/cloudnative-pg/postgres-extensions-containers.git#refs/heads/main",
                         "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}, "entryPoint": "Dockerfile"},
        "parameters": {"frontend": "dockerfile.v0", "args": {"x": "y"}},
        "environment": {"platform": "linux/amd64"}
      },
      "metadata": {"buildInvocationId": "inv-1", "buildStartedOn": "2026-03-01T10:00:00.123456Z",
                   "buildFinishedOn": "2026-03-01T10:05:00Z", "completeness": {"parameters": true},
                   "https://mobyproject.org/buildkit@v1#metadata": {"vcs": {"source": "https://github.com/other/x", "revision": "ff"}}}
    }"#;

    /// GitHub's workflow build type (actions/attest-build-provenance), v1.
    const GITHUB_V1: &str = r#"{
      "buildDefinition": {
        "buildType": "https://actions.github.io/buildtypes/workflow/v1",
        "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://github.com/pgext/images",
                                            "path": ".github/workflows/release.yml"}},
        "internalParameters": {"github": {"event_name": "push"}},
        "resolvedDependencies": [{"uri": "git+https://github.com/pgext/images@refs/heads/main",
                                  "digest": {"gitCommit": "89abcdef89abcdef89abcdef89abcdef89abcdef"}}]
      },
      "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"},
                     "metadata": {"invocationId": "https://github.com/pgext/images/actions/runs/9/attempts/1",
                                  "startedOn": "2026-03-02T00:00:00+01:00"}}
    }"#;

    #[test]
    fn repository_normalization_is_idempotent() {
        // Found by the oci_provenance fuzz target: a space before `.git` survived one pass.
        for uri in [
            "https://git.example;e/J[ .git#main",
            "git+git+https://h/o/r.git",
            "https://h/o/r.git/.git/",
            " x.git ",
        ] {
            let once = normalize_repository(uri);
            assert_eq!(normalize_repository(&once), once, "{uri}");
        }
        assert_eq!(
            normalize_repository("https://git.example;e/J[ .git#main"),
            "https://git.example;e/J["
        );
    }

    #[test]
    fn buildkit_v02() {
        let p = parse("https://slsa.dev/provenance/v0.2", BUILDKIT_V02.as_bytes()).unwrap();
        assert_eq!(
            p.builder_id.as_deref(),
            Some("https://github.com/cloudnative-pg/postgres-extensions-containers/actions/runs/123/attempts/1")
        );
        assert_eq!(
            p.source_repository.as_deref(),
            Some("https://github.com/cloudnative-pg/postgres-extensions-containers"),
            "the config source wins over the VCS metadata"
        );
        assert_eq!(
            p.source_commit.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(p.workflow.as_deref(), Some("Dockerfile"));
        assert_eq!(p.built_at, Some(1_772_359_500));
        assert_eq!(p.invocation_id.as_deref(), Some("inv-1"));
    }

    #[test]
    fn github_v1() {
        let p = parse("https://slsa.dev/provenance/v1", GITHUB_V1.as_bytes()).unwrap();
        assert_eq!(
            p.builder_id.as_deref(),
            Some("https://github.com/actions/runner/github-hosted")
        );
        assert_eq!(p.source_repository.as_deref(), Some("https://github.com/pgext/images"));
        assert_eq!(
            p.source_commit.as_deref(),
            Some("89abcdef89abcdef89abcdef89abcdef89abcdef")
        );
        assert_eq!(
            p.workflow.as_deref(),
            Some(".github/workflows/release.yml@refs/heads/main")
        );
        assert_eq!(p.built_at, Some(1_772_406_000), "started, at +01:00");
    }

    #[test]
    fn fallbacks() {
        // BuildKit v1: the VCS metadata, no config source.
        let v1 = r#"{"buildDefinition":{"buildType":"https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
            "externalParameters":{"request":{"frontend":"dockerfile.v0"}}},
            "runDetails":{"builder":{"id":""},"metadata":{"buildkit_metadata":{"vcs":{"source":"git@github.com:o/r.git","revision":"abc"}}}}}"#;
        let p = parse("https://slsa.dev/provenance/v1", v1.as_bytes()).unwrap();
        assert_eq!(p.builder_id, None, "an empty id is none");
        assert_eq!(p.source_repository.as_deref(), Some("git@github.com:o/r"));
        assert_eq!(p.source_commit.as_deref(), Some("abc"));
        // v0.2 with only a git material.
        let v02 = r#"{"builder":{"id":"b"},"materials":[{"uri":"pkg:x"},{"uri":"git+https://gitlab.example/g/p.git@v1","digest":{"sha1":"01"}}]}"#;
        let p = parse("https://slsa.dev/provenance/v0.2", v02.as_bytes()).unwrap();
        assert_eq!(
            (p.source_repository.as_deref(), p.source_commit.as_deref()),
            (Some("https://gitlab.example/g/p"), Some("01"))
        );
        assert!(
            parse("https://slsa.dev/provenance/v1", b"{}").is_err(),
            "v1 needs a build definition"
        );
        assert!(parse("https://slsa.dev/provenance/v0.2", br#"{"builder":7}"#).is_err());
        assert!(parse("https://example/other", b"{}").is_err());
        let many = format!(r#"{{"materials":[{}{{}}]}}"#, "{},".repeat(MAX_MATERIALS));
        assert!(
            parse("https://slsa.dev/provenance/v0.2", many.as_bytes())
                .unwrap_err()
                .contains("too many")
        );
    }

    #[test]
    fn repositories_and_times() {
        for (uri, want) in [
            (
                "git+https://github.com/o/r.git@refs/heads/main",
                "https://github.com/o/r",
            ),
            ("https://github.com/o/r.git#refs/tags/v1", "https://github.com/o/r"),
            ("https://user@host.example/o/r", "https://user@host.example/o/r"),
            ("https://github.com/o/r/", "https://github.com/o/r"),
        ] {
            assert_eq!(normalize_repository(uri), want, "{uri}");
        }
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        for bad in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
    }
}
