//! The enforcement policy as data: `pgext.require` (the conditions an image must meet),
//! `pgext.enforce_exempt` (what is always allowed), and the one decision every enforcement
//! point uses — the utility hook (`CREATE EXTENSION`, `LOAD`, …), the function-load hook and
//! `pgext.enforcement_preview`.
//!
//! The glue gathers facts ([`ImageFacts`]: the pin in effect, the latest recorded check, the
//! mount compared with its recorded tree, the worker's published status) and calls
//! [`image_failures`], then [`decide`] and [`refusal`]. Precedence rules live here too: a
//! `pgext.images` entry wins over a `pgext.pins` row ([`pin_in_effect`]), and a recorded check
//! counts only for the pin it was made against ([`check_is_for_pin`]).

use std::fmt;

use crate::pins::{Pin, PinSource};
use crate::status::{CheckStatus, DiffCounts, ImageStatus, SignatureStatus};

/// A condition of `pgext.require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Condition {
    /// The image has a pin in effect (`pgext.images` or `pgext.pins`).
    Pinned,
    /// Its latest recorded check is `verified` for that pin, and the mount is unchanged since.
    Verified,
    /// pgext's static verdict finds the extension or library loadable.
    Compatible,
    /// The latest check that read the image's source, for its pin, found a cosign signature by a
    /// trusted key (`pgext.trusted_keys`) over the pinned digest.
    Signed,
    /// The latest check that read the image's source, for its pin, found build provenance it
    /// trusts (signed, or in a signed index) whose builder and source repository a
    /// `pgext.trusted_builders` rule accepts.
    Provenance,
    /// The image's digest (pinned, else resolved by a verification of its pin) is one the signed
    /// image catalog (`pgext.catalog`, its bundle verified) lists for this server's major and OS.
    Catalog,
}

impl Condition {
    /// The name used in `pgext.require` and in messages.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `pgext.require`: comma-separated condition names, case-insensitive, in any order;
/// an empty list requires nothing (enforcement then only records).
pub fn parse_require(setting: &str) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for item in setting.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let c = match item.to_ascii_lowercase().as_str() {
            "pinned" => Condition::Pinned,
            "verified" => Condition::Verified,
            "compatible" => Condition::Compatible,
            "signed" => Condition::Signed,
            "provenance" => Condition::Provenance,
            "catalog" => Condition::Catalog,
            _ => {
                return Err(format!(
                    "unknown condition \"{item}\" (expected pinned, verified, compatible, signed, provenance or catalog)"
                ));
            }
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out.sort();
    Ok(out)
}

/// One entry of `pgext.enforce_exempt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exempt {
    /// `extension:NAME`.
    Extension(String),
    /// `image:NAME`.
    Image(String),
    /// A bare name: an extension or an image.
    Any(String),
}

/// Parses `pgext.enforce_exempt`: comma-separated `NAME`, `extension:NAME` or `image:NAME`.
pub fn parse_exempt(setting: &str) -> Result<Vec<Exempt>, String> {
    let mut out = Vec::new();
    for item in setting.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let e = match item.split_once(':') {
            Some(("extension", n)) if !n.trim().is_empty() => Exempt::Extension(n.trim().to_string()),
            Some(("image", n)) if !n.trim().is_empty() => Exempt::Image(n.trim().to_string()),
            Some(_) => {
                return Err(format!(
                    "invalid entry \"{item}\" (expected NAME, extension:NAME or image:NAME)"
                ));
            }
            None => Exempt::Any(item.to_string()),
        };
        out.push(e);
    }
    Ok(out)
}

/// Whether `exempt` allows the extension `extension` (if any) from image `image`.
pub fn is_exempt(exempt: &[Exempt], extension: Option<&str>, image: &str) -> bool {
    exempt.iter().any(|e| match e {
        Exempt::Extension(n) => extension == Some(n.as_str()),
        Exempt::Image(n) => n == image,
        Exempt::Any(n) => n == image || extension == Some(n.as_str()),
    })
}

/// `pgext.require` as set, or — for a value that cannot be parsed (set as a placeholder before
/// pgext was loaded; the check hook refuses it otherwise) — the strictest default.
pub fn require_or_default(setting: &str) -> Vec<Condition> {
    parse_require(setting).unwrap_or_else(|_| vec![Condition::Pinned, Condition::Verified, Condition::Compatible])
}

/// Whether `new` only tightens `start` (every condition of `start` is still required): what
/// `pgext.enforce_locked` allows of `pgext.require`.
pub fn require_tightens(start: &[Condition], new: &[Condition]) -> bool {
    start.iter().all(|c| new.contains(c))
}

/// Whether `new` only tightens `start` (it exempts nothing `start` did not): what
/// `pgext.enforce_locked` allows of `pgext.enforce_exempt`.
pub fn exempt_tightens(start: &[Exempt], new: &[Exempt]) -> bool {
    new.iter().all(|e| start.contains(e))
}

/// `pgext.enforce`, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is judged.
    Off,
    /// Failures are reported and let through.
    Warn,
    /// Failures are refused.
    On,
}

/// What enforcement does with one use of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Action {
    /// Every required condition holds (or the file is not from an image).
    Allow,
    /// `pgext.enforce_exempt` allows it without looking.
    Exempt,
    /// A condition failed under `warn`: reported, let through.
    Warn,
    /// A condition failed under `on`: refused.
    Refuse,
}

impl Action {
    /// Stable name in SQL.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The action for a use with `failures`, under `mode`.
pub fn decide(mode: Mode, exempt: bool, failures: &[Failure]) -> Action {
    match (mode, exempt, failures.is_empty()) {
        (Mode::Off, _, _) | (_, false, true) => Action::Allow,
        (_, true, _) => Action::Exempt,
        (Mode::Warn, false, false) => Action::Warn,
        (Mode::On, false, false) => Action::Refuse,
    }
}

/// The pin in effect for `image`: a `pgext.images` entry wins over a `pgext.pins` row.
pub fn pin_in_effect<'a>(setting: &'a [Pin], table: &'a [Pin], image: &str) -> Option<(&'a Pin, PinSource)> {
    setting
        .iter()
        .find(|p| p.name == image)
        .map(|p| (p, PinSource::Setting))
        .or_else(|| table.iter().find(|p| p.name == image).map(|p| (p, PinSource::Table)))
}

/// Whether a recorded check (made against `check_reference`) says anything about the pin in
/// effect (`pin_reference`): a changed pin makes the old verdict meaningless.
pub fn check_is_for_pin(check_reference: &str, pin_reference: &str) -> bool {
    check_reference == pin_reference
}

/// The pin of an image, as enforcement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinFact {
    /// Pinned to this reference.
    Pinned(String),
    /// Neither `pgext.images` nor `pgext.pins` names it.
    Unpinned,
    /// `pgext.images` cannot be parsed: no pin is trusted (the reason).
    Unreadable(String),
}

/// The latest recorded check of an image (`pgext.image_checks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckFact {
    /// The reference it checked.
    pub reference: String,
    /// What it found.
    pub status: CheckStatus,
    /// When, as text for messages.
    pub checked_at: String,
    /// Its differences, counted.
    pub counts: DiffCounts,
    /// `signature` as stored (`None`: never checked).
    pub signature: Option<String>,
    /// The digest the check resolved the pin to.
    pub resolved_digest: Option<String>,
}

/// The mount compared with the tree recorded by its last verification (no network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountFact {
    /// Every file is as recorded.
    Unchanged,
    /// Nothing is recorded to compare with.
    NoRecordedTree,
    /// The mount changed since.
    Changed {
        /// The digest the check resolved the pin to.
        resolved_digest: Option<String>,
        /// "1 modified, 1 unexpected, e.g. a (modified), b (unexpected)".
        differences: String,
        /// The recorded tree's digest.
        expected_tree: Option<String>,
        /// The mount's tree digest (`None`: unreadable).
        mounted_tree: Option<String>,
    },
}

/// The pgext worker's published status of an image (from shared memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerFact {
    /// The pin it checked.
    pub reference: String,
    /// What it found.
    pub status: ImageStatus,
}

/// One recorded build provenance of an image, with what the glue found of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceFact {
    /// The builder's id.
    pub builder_id: Option<String>,
    /// The source repository.
    pub source_repository: Option<String>,
    /// Its trust as stored (`signed`, `index_signed`, `unsigned`, `untrusted`, `invalid`).
    pub trust: String,
    /// Whether a `pgext.trusted_builders` rule accepts its builder and source for this image.
    pub accepted: bool,
}

/// What the `provenance` condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceFacts {
    /// The recorded provenance of the latest check that read the source.
    pub rows: Vec<ProvenanceFact>,
    /// How many rules `pgext.trusted_builders` has, or why it cannot be parsed.
    pub rules: Result<usize, String>,
}

/// Whether a stored attestation trust counts for policy.
pub fn trust_counts(trust: &str) -> bool {
    matches!(trust, "signed" | "index_signed")
}

/// Everything the `pinned`, `verified`, `signed` and `provenance` conditions look at for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// The pin in effect.
    pub pin: PinFact,
    /// Whether pgext's tables can be read in this database (the extension is installed and
    /// owns its schema); without them the worker's status decides `verified`.
    pub tables: bool,
    /// The latest recorded check.
    pub check: Option<CheckFact>,
    /// The mount compared with its recorded tree; gathered only when [`needs_mount`] says so.
    pub mount: Option<MountFact>,
    /// The worker's published status, for databases without pgext's tables.
    pub worker: Option<WorkerFact>,
    /// The recorded provenance; gathered only when `provenance` is required.
    pub provenance: Option<ProvenanceFacts>,
    /// The image judged against the signed catalog; gathered only when `catalog` is required.
    pub catalog: Option<CatalogFact>,
}

/// The signed image catalog, as enforcement sees it for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogFact {
    /// The catalog is not `verified` (its status and why): it lists nothing.
    Unusable {
        /// `off`, `unsigned`, `untrusted`, `invalid`, `unreadable` or `error`.
        status: String,
        /// Why.
        detail: String,
    },
    /// The verified catalog's judgement of the image's digest ([`image_digest`]).
    Judged {
        /// The catalog's path.
        catalog: String,
        /// What it says.
        judgement: crate::catalog::Judgement,
    },
}

/// The digest an image is judged by against a catalog: its pin's `@sha256:…`, else what the
/// latest check of that pin resolved it to when that check is `verified` (`None`: neither).
pub fn image_digest(reference: &str, check: Option<&CheckFact>) -> Option<String> {
    crate::catalog::reference_digest(reference).or_else(|| {
        check
            .filter(|c| check_is_for_pin(&c.reference, reference) && c.status == CheckStatus::Verified)
            .and_then(|c| c.resolved_digest.clone())
    })
}

/// Whether `verified` hinges on comparing the mount with its recorded tree: the record is
/// `verified` for the pin in effect. The glue gathers [`ImageFacts::mount`] only then.
pub fn needs_mount(require: &[Condition], f: &ImageFacts) -> bool {
    let PinFact::Pinned(reference) = &f.pin else {
        return false;
    };
    require.contains(&Condition::Verified)
        && f.tables
        && f.check
            .as_ref()
            .is_some_and(|c| check_is_for_pin(&c.reference, reference) && c.status == CheckStatus::Verified)
}

/// Why one condition failed, with the evidence (DETAIL) and the fix (HINT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The condition.
    pub condition: Condition,
    /// The evidence ("" when an earlier failure already said it).
    pub detail: String,
    /// The fix.
    pub hint: String,
}

impl Failure {
    /// `compatible` fails for an extension: pgext's verdict, with its errors.
    pub fn incompatible_extension(name: &str, problems: &[String]) -> Failure {
        Failure {
            condition: Condition::Compatible,
            detail: format!(
                "Extension \"{name}\" is not compatible with this server: {}.",
                problems.join("; ")
            ),
            hint: format!("See SELECT pgext.check_extension('{name}'); and mount an image built for this server."),
        }
    }

    /// `compatible` fails for a library: the static analysis, with its errors.
    pub fn incompatible_library(path: &str, problems: &[String]) -> Failure {
        Failure {
            condition: Condition::Compatible,
            detail: format!(
                "Library {path} cannot be loaded by this server: {}.",
                problems.join("; ")
            ),
            hint: "See SELECT * FROM pgext.library_compat; and mount an image built for this server.".to_string(),
        }
    }
}

/// The `pinned`, `verified` and `signed` failures of `image` under `require`, from its facts.
/// (`compatible` depends on the file, not the image: see [`Failure::incompatible_extension`].)
pub fn image_failures(image: &str, require: &[Condition], f: &ImageFacts) -> Vec<Failure> {
    let want = |c| require.contains(&c);
    if !(want(Condition::Pinned)
        || want(Condition::Verified)
        || want(Condition::Signed)
        || want(Condition::Provenance)
        || want(Condition::Catalog))
    {
        return Vec::new();
    }
    let verify_hint = format!("Verify it: SELECT * FROM pgext.verify_image('{image}');");
    let reference = match &f.pin {
        PinFact::Pinned(r) => r,
        PinFact::Unpinned | PinFact::Unreadable(_) => {
            let detail = match &f.pin {
                PinFact::Unreadable(why) => format!("pgext.images cannot be parsed ({why}): no pin is trusted"),
                _ => format!("Image \"{image}\" has no pin: neither pgext.images nor pgext.pins names it."),
            };
            let hint = format!(
                "Pin it (SELECT pgext.pin_image('{image}', 'registry/repo:tag@sha256:...') or pgext.images), then \
                 verify it: SELECT * FROM pgext.verify_image('{image}');"
            );
            return [
                Condition::Pinned,
                Condition::Verified,
                Condition::Signed,
                Condition::Provenance,
                Condition::Catalog,
            ]
            .into_iter()
            .filter(|c| want(*c))
            .map(|c| Failure {
                condition: c,
                // Said once, with pinned.
                detail: if c != Condition::Pinned && want(Condition::Pinned) {
                    String::new()
                } else {
                    detail.clone()
                },
                hint: hint.clone(),
            })
            .collect();
        }
    };
    let mut out = Vec::new();
    if want(Condition::Verified)
        && let Some(detail) = verified_failure(image, reference, f)
    {
        let hint = if matches!(f.mount, Some(MountFact::Changed { .. })) && needs_mount(require, f) {
            format!(
                "Restore the image (remount it: restart the instance), or pin the image that is mounted and verify \
                 it: SELECT * FROM pgext.verify_image('{image}');"
            )
        } else if !f.tables {
            format!("{verify_hint} Run it in pgext.database, or install pgext in this database.")
        } else {
            verify_hint.clone()
        };
        out.push(Failure {
            condition: Condition::Verified,
            detail,
            hint,
        });
    }
    if want(Condition::Signed)
        && let Some(detail) = signed_failure(image, reference, f)
    {
        out.push(Failure {
            condition: Condition::Signed,
            detail,
            hint: format!(
                "Sign the pinned digest with a key listed in pgext.trusted_keys, then check again. {verify_hint}"
            ),
        });
    }
    if want(Condition::Provenance)
        && let Some(detail) = provenance_failure(image, reference, f)
    {
        out.push(Failure {
            condition: Condition::Provenance,
            detail,
            hint: format!(
                "Attest the build provenance of the pinned digest with a trusted key or identity (cosign attest \
                 --type slsaprovenance, or sign the index BuildKit's provenance is in), and list its builder in \
                 pgext.trusted_builders; see SELECT * FROM pgext.image_provenance WHERE image = '{image}'; {verify_hint}"
            ),
        });
    }
    if want(Condition::Catalog)
        && let Some(detail) = catalog_failure(image, f)
    {
        out.push(Failure {
            condition: Condition::Catalog,
            detail,
            hint:
                "Mount and pin an image the signed catalog lists for this server (SELECT * FROM pgext.image_catalog;), \
                   or set pgext.catalog to a signed catalog that lists it (SELECT * FROM pgext.catalog_status;)."
                    .to_string(),
        });
    }
    out
}

/// Why `provenance` fails for a pinned image (`None`: the last check that read the source, for
/// this pin, found trusted provenance that a `pgext.trusted_builders` rule accepts).
fn provenance_failure(image: &str, reference: &str, f: &ImageFacts) -> Option<String> {
    if !f.tables {
        return Some(format!(
            "Build provenance is recorded in pgext's tables, and this database has no pgext extension: image \
             \"{image}\" cannot be shown to have trusted provenance."
        ));
    }
    let Some(check) = &f.check else {
        return Some(format!(
            "The build provenance of image \"{image}\" (pinned to {reference}) has never been checked."
        ));
    };
    if !check_is_for_pin(&check.reference, reference) {
        return Some(format!(
            "The last check of image \"{image}\" was against {}, not its pin {reference}.",
            check.reference
        ));
    }
    let empty = ProvenanceFacts {
        rows: Vec::new(),
        rules: Ok(0),
    };
    let p = f.provenance.as_ref().unwrap_or(&empty);
    match &p.rules {
        Err(why) => {
            return Some(format!(
                "pgext.trusted_builders cannot be parsed ({why}): no builder is trusted."
            ));
        }
        Ok(0) => return Some("pgext.trusted_builders names no builder: no provenance is accepted.".to_string()),
        Ok(_) => {}
    }
    if p.rows.iter().any(|r| r.accepted && trust_counts(&r.trust)) {
        return None;
    }
    let at = format!(
        "The last check of image \"{image}\" (pin {reference}, at {})",
        check.checked_at
    );
    let describe = |r: &ProvenanceFact| {
        format!(
            "builder {} from {} ({})",
            r.builder_id.as_deref().unwrap_or("(none)"),
            r.source_repository.as_deref().unwrap_or("(no source)"),
            r.trust
        )
    };
    if p.rows.is_empty() {
        return Some(format!("{at} found no build provenance."));
    }
    let trusted: Vec<String> = p.rows.iter().filter(|r| trust_counts(&r.trust)).map(describe).collect();
    if trusted.is_empty() {
        let all: Vec<String> = p.rows.iter().map(describe).collect();
        return Some(format!("{at} found no trusted build provenance: {}.", all.join("; ")));
    }
    Some(format!(
        "{at} found trusted build provenance that no pgext.trusted_builders rule accepts: {}.",
        trusted.join("; ")
    ))
}

/// Why `catalog` fails for a pinned image (`None`: the signed catalog lists its digest).
fn catalog_failure(image: &str, f: &ImageFacts) -> Option<String> {
    match &f.catalog {
        None => Some(format!("Image \"{image}\" was not judged against an image catalog.")),
        Some(CatalogFact::Unusable { status, detail }) => Some(format!(
            "The image catalog (pgext.catalog) is {status}: {detail}; a catalog that is not verified lists nothing."
        )),
        Some(CatalogFact::Judged { judgement, .. }) if judgement.in_catalog => None,
        Some(CatalogFact::Judged { catalog, judgement }) => Some(format!(
            "Image \"{image}\" is not in the signed catalog {catalog}: {}.",
            judgement.why
        )),
    }
}

/// Why `verified` fails for a pinned image (`None`: it holds).
fn verified_failure(image: &str, reference: &str, f: &ImageFacts) -> Option<String> {
    if !f.tables {
        // Without pgext's tables here, the worker's last published status decides (its
        // database holds the records; it re-hashes every pgext.check_interval).
        let status = match &f.worker {
            Some(w) if check_is_for_pin(&w.reference, reference) && w.status == ImageStatus::Verified => return None,
            Some(w) if check_is_for_pin(&w.reference, reference) => format!("\"{}\"", w.status.as_str()),
            Some(_) => "for another pin".to_string(),
            None => "unknown".to_string(),
        };
        return Some(format!(
            "pgext is not installed in this database, and the pgext worker's last status for image \"{image}\" \
             (pin {reference}) is {status}."
        ));
    }
    let Some(check) = &f.check else {
        return Some(format!(
            "Image \"{image}\" (pinned to {reference}) has never been verified."
        ));
    };
    if !check_is_for_pin(&check.reference, reference) {
        return Some(format!(
            "The last check of image \"{image}\" was against {}, not its pin {reference}.",
            check.reference
        ));
    }
    if check.status != CheckStatus::Verified {
        let c = &check.counts;
        return Some(format!(
            "The last check of image \"{image}\" (pin {reference}, at {}) found \"{}\": {} missing, {} modified, \
             {} unexpected, {} changed.",
            check.checked_at, check.status, c.missing, c.modified, c.unexpected, c.changed
        ));
    }
    // The record says verified: the mount must not have changed since.
    match &f.mount {
        Some(MountFact::Unchanged) => None,
        Some(MountFact::NoRecordedTree) | None => Some(format!(
            "Image \"{image}\" has no recorded tree to compare the mount with."
        )),
        Some(MountFact::Changed {
            resolved_digest,
            differences,
            expected_tree,
            mounted_tree,
        }) => Some(format!(
            "The mount of image \"{image}\" changed since it was verified against {reference} ({}): {differences}; \
             expected tree {}, mounted tree {}.",
            resolved_digest.as_deref().unwrap_or("?"),
            expected_tree.as_deref().unwrap_or("?"),
            mounted_tree.as_deref().unwrap_or("unreadable"),
        )),
    }
}

/// Why `signed` fails for a pinned image (`None`: the last check that read the source, for
/// this pin, found a trusted signature).
fn signed_failure(image: &str, reference: &str, f: &ImageFacts) -> Option<String> {
    if !f.tables {
        return Some(format!(
            "Signatures are recorded in pgext's tables, and this database has no pgext extension: image \"{image}\" \
             cannot be shown to be signed."
        ));
    }
    let never = || format!("The signature of image \"{image}\" (pinned to {reference}) has never been checked.");
    let Some(check) = &f.check else { return Some(never()) };
    if !check_is_for_pin(&check.reference, reference) {
        return Some(format!(
            "The last check of image \"{image}\" was against {}, not its pin {reference}.",
            check.reference
        ));
    }
    let Some(stored) = check.signature.as_deref() else {
        return Some(never());
    };
    match stored.parse::<SignatureStatus>() {
        Ok(SignatureStatus::Signed) => None,
        _ => Some(format!(
            "The last check of image \"{image}\" (pin {reference}, at {}) found its signature \"{stored}\".",
            check.checked_at
        )),
    }
}

/// What a decision is about, for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An extension the statement creates or updates (`required_by`: asked for with CASCADE).
    Extension {
        name: &'a str,
        required_by: Option<&'a str>,
    },
    /// A library an extension's scripts load.
    ScriptLibrary { path: &'a str, extension: &'a str },
    /// A library a statement loads (`LOAD`, `CREATE FUNCTION … LANGUAGE C`).
    Library { path: &'a str },
    /// A library a preload setting loaded at session start (`session` or `local`).
    Preload { path: &'a str, setting: &'a str },
    /// A library a function's first call loads.
    Function { path: &'a str, function: &'a str },
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Extension {
                name,
                required_by: None,
            } => write!(f, "extension \"{name}\""),
            Subject::Extension {
                name,
                required_by: Some(by),
            } => write!(f, "extension \"{name}\" (required by \"{by}\")"),
            Subject::ScriptLibrary { path, extension } => {
                write!(f, "library \"{path}\" (loaded by extension \"{extension}\"'s scripts)")
            }
            Subject::Library { path } => write!(f, "library \"{path}\""),
            Subject::Preload { path, setting } => write!(
                f,
                "library \"{path}\" (loaded at session start by {setting}_preload_libraries)"
            ),
            Subject::Function { path, function } => {
                write!(f, "library \"{path}\" (loaded by function {function})")
            }
        }
    }
}

/// A refusal (or, under `warn`, a warning): message, DETAIL, HINT and the failed conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// "pgext.enforce: extension \"x\" comes from image \"i\", which is not pinned and not verified".
    pub message: String,
    /// The evidence of every failed condition, each said once.
    pub detail: String,
    /// The fixes, then the exemption that would allow it.
    pub hint: String,
    /// The failed conditions, comma-separated, in policy order.
    pub failed: String,
}

impl Refusal {
    /// The DETAIL of the same decision under `warn`.
    pub fn warn_detail(&self) -> String {
        format!("{} (pgext.enforce = warn: allowed.)", self.detail)
    }
}

/// The entry of `pgext.enforce_exempt` that would allow a use: `extension:NAME`, else
/// `image:NAME`.
pub fn exempt_entry(extension: Option<&str>, image: &str) -> String {
    match extension {
        Some(e) => format!("extension:{e}"),
        None => format!("image:{image}"),
    }
}

/// The refusal of `subject` from `image` for `failures` (not empty).
pub fn refusal(subject: &Subject<'_>, image: &str, failures: &[Failure], exempt: &str) -> Refusal {
    let mut detail: Vec<&str> = Vec::new();
    let mut hints: Vec<&str> = Vec::new();
    for f in failures {
        if !f.detail.is_empty() && !detail.contains(&f.detail.as_str()) {
            detail.push(&f.detail);
        }
        if !hints.contains(&f.hint.as_str()) {
            hints.push(&f.hint);
        }
    }
    Refusal {
        message: format!(
            "pgext.enforce: {subject} comes from image \"{image}\", which is {}",
            describe(failures)
        ),
        detail: detail.join(" "),
        hint: format!(
            "{} Or allow it with pgext.enforce_exempt = '{exempt}'.",
            hints.join(" ")
        ),
        failed: failed_conditions(failures).join(","),
    }
}

/// The failed conditions, each once, in policy order.
pub fn failed_conditions(failures: &[Failure]) -> Vec<&'static str> {
    failures
        .iter()
        .map(|f| f.condition)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(Condition::as_str)
        .collect()
}

/// Failed conditions as a list for messages: "not pinned, not verified and not compatible"
/// ("without trusted provenance" for `provenance`).
pub fn describe(failures: &[Failure]) -> String {
    let names: Vec<String> = failed_conditions(failures)
        .into_iter()
        .map(|c| match c {
            "provenance" => "without trusted provenance".to_string(),
            c => format!("not {c}"),
        })
        .collect();
    match names.len() {
        0 => String::new(),
        1 => names[0].clone(),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_lists() {
        use Condition::*;
        let cases: &[(&str, Result<Vec<Condition>, &str>)] = &[
            ("", Ok(vec![])),
            ("pinned", Ok(vec![Pinned])),
            (
                " Compatible , pinned,verified,pinned",
                Ok(vec![Pinned, Verified, Compatible]),
            ),
            ("signed, pinned", Ok(vec![Pinned, Signed])),
            ("pinned,trusted", Err("unknown condition \"trusted\"")),
        ];
        for (input, want) in cases {
            match (parse_require(input), want) {
                (Ok(got), Ok(w)) => assert_eq!(&got, w, "{input}"),
                (Err(got), Err(w)) => assert!(got.starts_with(w), "{input}: {got}"),
                (got, w) => panic!("{input}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn exemptions() {
        let e = parse_exempt("postgis, image:vector_img ,extension:pg_trgm").unwrap();
        assert!(is_exempt(&e, Some("postgis"), "x"));
        assert!(is_exempt(&e, None, "postgis"));
        assert!(is_exempt(&e, Some("vector"), "vector_img"));
        assert!(is_exempt(&e, Some("pg_trgm"), "y"));
        assert!(!is_exempt(&e, None, "pg_trgm"));
        assert!(!is_exempt(&e, Some("vector_img"), "other"));
        assert!(parse_exempt("schema:x").is_err());
        assert!(parse_exempt("image:").is_err());
    }
}

#[cfg(test)]
mod decision_tests {
    use super::*;
    use Condition::*;

    fn pinned() -> PinFact {
        PinFact::Pinned("reg/x:1@sha256:aa".into())
    }

    fn check(reference: &str, status: CheckStatus, signature: Option<&str>) -> Option<CheckFact> {
        Some(CheckFact {
            reference: reference.into(),
            status,
            checked_at: "T".into(),
            counts: DiffCounts {
                missing: 0,
                modified: 2,
                unexpected: 1,
                changed: 0,
            },
            signature: signature.map(str::to_string),
            resolved_digest: None,
        })
    }

    fn facts(pin: PinFact, check: Option<CheckFact>, mount: Option<MountFact>) -> ImageFacts {
        ImageFacts {
            pin,
            tables: true,
            check,
            mount,
            worker: None,
            provenance: None,
            catalog: None,
        }
    }

    const PIN: &str = "reg/x:1@sha256:aa";

    fn changed() -> Option<MountFact> {
        Some(MountFact::Changed {
            resolved_digest: Some("sha256:bb".into()),
            differences: "1 modified".into(),
            expected_tree: Some("t1".into()),
            mounted_tree: None,
        })
    }

    /// One row per situation: the facts of an image under a policy, the conditions that fail,
    /// and a piece of the evidence (DETAIL) that must be said.
    #[test]
    fn image_failures_table() {
        let all = [Pinned, Verified, Signed];
        let v = CheckStatus::Verified;
        type Row = (&'static str, Vec<Condition>, ImageFacts, Vec<Condition>, &'static str);
        let rows: Vec<Row> = vec![
            (
                "nothing required",
                vec![],
                facts(PinFact::Unpinned, None, None),
                vec![],
                "",
            ),
            (
                "only compatible",
                vec![Compatible],
                facts(PinFact::Unpinned, None, None),
                vec![],
                "",
            ),
            (
                "unpinned fails every image condition, evidence said once",
                all.to_vec(),
                facts(PinFact::Unpinned, None, None),
                vec![Pinned, Verified, Signed],
                "has no pin: neither pgext.images nor pgext.pins names it",
            ),
            (
                "unpinned, only verified required: the pin evidence goes with verified",
                vec![Verified],
                facts(PinFact::Unpinned, None, None),
                vec![Verified],
                "has no pin",
            ),
            (
                "an unparsable pgext.images trusts no pin",
                vec![Pinned],
                facts(PinFact::Unreadable("entry \"x\"".into()), None, None),
                vec![Pinned],
                "pgext.images cannot be parsed (entry \"x\"): no pin is trusted",
            ),
            (
                "pinned is enough for pinned",
                vec![Pinned],
                facts(pinned(), None, None),
                vec![],
                "",
            ),
            (
                "pinned, never verified",
                vec![Pinned, Verified],
                facts(pinned(), None, None),
                vec![Verified],
                "has never been verified",
            ),
            (
                "a check of another pin says nothing",
                vec![Verified],
                facts(
                    pinned(),
                    check("reg/x:0@sha256:00", v, Some("signed")),
                    Some(MountFact::Unchanged),
                ),
                vec![Verified],
                "was against reg/x:0@sha256:00, not its pin",
            ),
            (
                "a check of another pin does not sign either",
                vec![Signed],
                facts(pinned(), check("reg/x:0@sha256:00", v, Some("signed")), None),
                vec![Signed],
                "was against reg/x:0@sha256:00, not its pin",
            ),
            (
                "the last check found drift",
                vec![Verified],
                facts(pinned(), check(PIN, CheckStatus::Drift, None), None),
                vec![Verified],
                "found \"drift\": 0 missing, 2 modified, 1 unexpected, 0 changed",
            ),
            (
                "verified and the mount unchanged",
                vec![Pinned, Verified],
                facts(pinned(), check(PIN, v, None), Some(MountFact::Unchanged)),
                vec![],
                "",
            ),
            (
                "verified, but the mount changed since",
                vec![Verified],
                facts(pinned(), check(PIN, v, None), changed()),
                vec![Verified],
                "changed since it was verified against reg/x:1@sha256:aa (sha256:bb): 1 modified; expected tree t1, mounted tree unreadable",
            ),
            (
                "verified, but no recorded tree",
                vec![Verified],
                facts(pinned(), check(PIN, v, None), Some(MountFact::NoRecordedTree)),
                vec![Verified],
                "no recorded tree",
            ),
            (
                "signed",
                vec![Signed],
                facts(pinned(), check(PIN, CheckStatus::Drift, Some("signed")), None),
                vec![],
                "",
            ),
            (
                "signature never checked",
                vec![Signed],
                facts(pinned(), check(PIN, v, None), None),
                vec![Signed],
                "has never been checked",
            ),
            (
                "untrusted signature",
                vec![Signed],
                facts(pinned(), check(PIN, v, Some("untrusted")), None),
                vec![Signed],
                "found its signature \"untrusted\"",
            ),
            (
                "a stored signature text no pgext writes is not signed",
                vec![Signed],
                facts(pinned(), check(PIN, v, Some("SIGNED ")), None),
                vec![Signed],
                "found its signature \"SIGNED \"",
            ),
            (
                "no check recorded: not signed",
                vec![Signed],
                facts(pinned(), None, None),
                vec![Signed],
                "has never been checked",
            ),
        ];
        for (name, require, f, want, evidence) in rows {
            let got = image_failures("x", &require, &f);
            let conds: Vec<Condition> = got.iter().map(|f| f.condition).collect();
            assert_eq!(conds, want, "{name}");
            let detail: String = got.iter().map(|f| f.detail.as_str()).collect::<Vec<_>>().join(" ");
            assert!(detail.contains(evidence), "{name}: {detail}");
            if want.len() > 1 && matches!(f.pin, PinFact::Unpinned) {
                assert!(got[1..].iter().all(|f| f.detail.is_empty()), "{name}: said once");
            }
        }
    }

    /// Without pgext's tables in the database, the worker's status decides `verified`, and
    /// `signed` cannot be shown.
    #[test]
    fn without_tables_the_worker_decides() {
        let worker = |reference: &str, status| {
            Some(WorkerFact {
                reference: reference.into(),
                status,
            })
        };
        type Row = (Option<WorkerFact>, Vec<Condition>, Vec<Condition>, &'static str);
        let rows: Vec<Row> = vec![
            (worker(PIN, ImageStatus::Verified), vec![Verified], vec![], ""),
            (
                worker(PIN, ImageStatus::Drift),
                vec![Verified],
                vec![Verified],
                "last status for image \"x\" (pin reg/x:1@sha256:aa) is \"drift\"",
            ),
            (
                worker("reg/x:0", ImageStatus::Verified),
                vec![Verified],
                vec![Verified],
                "is for another pin",
            ),
            (None, vec![Verified], vec![Verified], "is unknown"),
            (
                worker(PIN, ImageStatus::Verified),
                vec![Signed],
                vec![Signed],
                "this database has no pgext extension",
            ),
        ];
        for (w, require, want, evidence) in rows {
            let f = ImageFacts {
                pin: pinned(),
                tables: false,
                check: check(PIN, CheckStatus::Verified, Some("signed")),
                mount: None,
                worker: w.clone(),
                provenance: None,
                catalog: None,
            };
            assert!(!needs_mount(&require, &f), "no tables: no mount comparison");
            let got = image_failures("x", &require, &f);
            assert_eq!(got.iter().map(|f| f.condition).collect::<Vec<_>>(), want, "{w:?}");
            assert!(got.iter().all(|f| f.detail.contains(evidence)), "{w:?}: {got:?}");
            if want == [Verified] {
                assert!(
                    got[0].hint.contains("install pgext in this database"),
                    "{:?}",
                    got[0].hint
                );
            }
        }
    }

    #[test]
    fn mount_is_compared_only_for_a_verified_record_of_the_pin() {
        let v = CheckStatus::Verified;
        let rows = [
            (vec![Verified], facts(pinned(), check(PIN, v, None), None), true),
            (vec![Pinned, Signed], facts(pinned(), check(PIN, v, None), None), false),
            (vec![Verified], facts(pinned(), check("other", v, None), None), false),
            (
                vec![Verified],
                facts(pinned(), check(PIN, CheckStatus::Drift, None), None),
                false,
            ),
            (
                vec![Verified],
                facts(PinFact::Unpinned, check(PIN, v, None), None),
                false,
            ),
            (vec![Verified], facts(pinned(), None, None), false),
        ];
        for (i, (require, f, want)) in rows.into_iter().enumerate() {
            assert_eq!(needs_mount(&require, &f), want, "row {i}");
        }
    }

    #[test]
    fn pins_setting_wins_over_table() {
        let p = |n: &str, r: &str| Pin {
            name: n.into(),
            reference: r.into(),
        };
        let setting = [p("a", "s/a:1"), p("b", "s/b:1")];
        let table = [p("a", "t/a:1"), p("c", "t/c:1")];
        let rows = [
            ("a", Some(("s/a:1", PinSource::Setting))),
            ("b", Some(("s/b:1", PinSource::Setting))),
            ("c", Some(("t/c:1", PinSource::Table))),
            ("d", None),
        ];
        for (image, want) in rows {
            let got = pin_in_effect(&setting, &table, image).map(|(p, s)| (p.reference.as_str(), s));
            assert_eq!(got, want, "{image}");
        }
        assert!(check_is_for_pin("r@sha256:1", "r@sha256:1"));
        assert!(!check_is_for_pin("r@sha256:1", "r@sha256:2"));
    }

    #[test]
    fn actions() {
        let fail = [Failure {
            condition: Pinned,
            detail: String::new(),
            hint: String::new(),
        }];
        let rows = [
            (Mode::Off, false, &fail[..], Action::Allow),
            (Mode::Off, true, &fail[..], Action::Allow),
            (Mode::Warn, false, &[][..], Action::Allow),
            (Mode::On, false, &[][..], Action::Allow),
            (Mode::Warn, false, &fail[..], Action::Warn),
            (Mode::On, false, &fail[..], Action::Refuse),
            (Mode::On, true, &fail[..], Action::Exempt),
            (Mode::Warn, true, &[][..], Action::Exempt),
        ];
        for (mode, exempt, failures, want) in rows {
            assert_eq!(
                decide(mode, exempt, failures),
                want,
                "{mode:?} exempt={exempt} {failures:?}"
            );
        }
    }

    #[test]
    fn refusal_texts() {
        let f = image_failures("loose", &[Pinned, Verified], &facts(PinFact::Unpinned, None, None));
        let subjects: [(Subject<'_>, &str); 6] = [
            (
                Subject::Extension {
                    name: "e",
                    required_by: None,
                },
                "extension \"e\"",
            ),
            (
                Subject::Extension {
                    name: "e",
                    required_by: Some("top"),
                },
                "extension \"e\" (required by \"top\")",
            ),
            (
                Subject::ScriptLibrary {
                    path: "/x/l.so",
                    extension: "e",
                },
                "library \"/x/l.so\" (loaded by extension \"e\"'s scripts)",
            ),
            (Subject::Library { path: "/x/l.so" }, "library \"/x/l.so\""),
            (
                Subject::Preload {
                    path: "/x/l.so",
                    setting: "session",
                },
                "library \"/x/l.so\" (loaded at session start by session_preload_libraries)",
            ),
            (
                Subject::Function {
                    path: "/x/l.so",
                    function: "public.f(integer)",
                },
                "library \"/x/l.so\" (loaded by function public.f(integer))",
            ),
        ];
        for (s, text) in subjects {
            let r = refusal(&s, "loose", &f, &exempt_entry(None, "loose"));
            assert_eq!(
                r.message,
                format!("pgext.enforce: {text} comes from image \"loose\", which is not pinned and not verified")
            );
            assert_eq!(
                r.detail,
                "Image \"loose\" has no pin: neither pgext.images nor pgext.pins names it."
            );
            assert!(
                r.hint.starts_with("Pin it (SELECT pgext.pin_image('loose'"),
                "{}",
                r.hint
            );
            assert!(
                r.hint
                    .ends_with(" Or allow it with pgext.enforce_exempt = 'image:loose'."),
                "{}",
                r.hint
            );
            assert_eq!(r.failed, "pinned,verified");
            assert!(r.warn_detail().ends_with("(pgext.enforce = warn: allowed.)"));
        }
        assert_eq!(exempt_entry(Some("e"), "i"), "extension:e");
        let three = [Pinned, Verified, Compatible].map(|c| Failure {
            condition: c,
            detail: "d".into(),
            hint: "h".into(),
        });
        assert_eq!(describe(&three), "not pinned, not verified and not compatible");
        let r = refusal(&Subject::Library { path: "p" }, "i", &three, "image:i");
        assert_eq!(
            (r.detail.as_str(), r.hint.as_str()),
            ("d", "h Or allow it with pgext.enforce_exempt = 'image:i'.")
        );
        assert_eq!(
            Failure::incompatible_library("/l.so", &["missing_magic: no magic block".into()]).detail,
            "Library /l.so cannot be loaded by this server: missing_magic: no magic block."
        );
    }

    #[test]
    fn locked_settings_only_tighten() {
        let r = |s| parse_require(s).unwrap();
        assert!(require_tightens(&r("pinned,verified"), &r("pinned,verified,signed")));
        assert!(require_tightens(&r("pinned"), &r("pinned")));
        assert!(!require_tightens(&r("pinned,verified"), &r("pinned")));
        assert!(!require_tightens(&r("pinned"), &r("")));
        let e = |s| parse_exempt(s).unwrap();
        assert!(exempt_tightens(&e("a,image:b"), &e("image:b")));
        assert!(exempt_tightens(&e("a"), &e("")));
        assert!(!exempt_tightens(&e("a"), &e("a,c")));
        assert!(!exempt_tightens(&e(""), &e("image:b")));
        assert_eq!(require_or_default("bogus"), vec![Pinned, Verified, Compatible]);
        assert_eq!(require_or_default("signed"), vec![Signed]);
        assert!(require_tightens(&r("signed"), &r("signed,provenance")));
    }

    #[test]
    fn provenance_condition() {
        let v = CheckStatus::Verified;
        let row = |trust: &str, accepted| ProvenanceFact {
            builder_id: Some("https://ci.example/b".into()),
            source_repository: Some("https://git.example/o/r".into()),
            trust: trust.into(),
            accepted,
        };
        let with = |rows: Vec<ProvenanceFact>, rules: Result<usize, String>| {
            let mut f = facts(pinned(), check(PIN, v, Some("signed")), None);
            f.provenance = Some(ProvenanceFacts { rows, rules });
            f
        };
        type Row = (&'static str, ImageFacts, bool, &'static str);
        let rows: Vec<Row> = vec![
            ("signed and accepted", with(vec![row("signed", true)], Ok(1)), true, ""),
            (
                "in a signed index, accepted",
                with(vec![row("unsigned", false), row("index_signed", true)], Ok(1)),
                true,
                "",
            ),
            (
                "unsigned, even if a rule would accept it",
                with(vec![row("unsigned", true)], Ok(1)),
                false,
                "found no trusted build provenance: builder https://ci.example/b from https://git.example/o/r (unsigned)",
            ),
            (
                "trusted, no rule accepts it",
                with(vec![row("signed", false)], Ok(2)),
                false,
                "trusted build provenance that no pgext.trusted_builders rule accepts",
            ),
            ("none recorded", with(vec![], Ok(1)), false, "found no build provenance"),
            (
                "no rules",
                with(vec![row("signed", true)], Ok(0)),
                false,
                "names no builder",
            ),
            (
                "rules that do not parse",
                with(vec![row("signed", true)], Err("bad".into())),
                false,
                "cannot be parsed (bad)",
            ),
            (
                "never gathered",
                facts(pinned(), check(PIN, v, None), None),
                false,
                "names no builder",
            ),
            (
                "never checked",
                facts(pinned(), None, None),
                false,
                "has never been checked",
            ),
            (
                "another pin",
                {
                    let mut f = with(vec![row("signed", true)], Ok(1));
                    f.check = check("other", v, None);
                    f
                },
                false,
                "not its pin",
            ),
        ];
        for (name, f, holds, evidence) in rows {
            let got = image_failures("x", &[Provenance], &f);
            assert_eq!(got.is_empty(), holds, "{name}: {got:?}");
            if !holds {
                assert_eq!(got[0].condition, Provenance, "{name}");
                assert!(got[0].detail.contains(evidence), "{name}: {}", got[0].detail);
                assert!(got[0].hint.contains("pgext.trusted_builders"), "{name}");
            }
        }
        let unpinned = image_failures("x", &[Pinned, Provenance], &facts(PinFact::Unpinned, None, None));
        assert_eq!(
            unpinned.iter().map(|f| f.condition).collect::<Vec<_>>(),
            vec![Pinned, Provenance]
        );
        let r = refusal(
            &Subject::Library { path: "p" },
            "x",
            &image_failures("x", &[Provenance], &with(vec![], Ok(1))),
            "image:x",
        );
        assert!(
            r.message.ends_with("which is without trusted provenance"),
            "{}",
            r.message
        );
        assert_eq!(r.failed, "provenance");
    }

    /// The `catalog` condition: the digest judged (pin, else a verified check's), the catalog's
    /// status, and what the catalog lists.
    #[test]
    fn catalog_condition() {
        use crate::catalog::Judgement;
        const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let pinned_by_digest = format!("reg/x:1@{D}");
        let mut verified = check(PIN, CheckStatus::Verified, None).unwrap();
        verified.resolved_digest = Some(D.into());
        let mut drifted = verified.clone();
        drifted.status = CheckStatus::Drift;
        assert_eq!(image_digest(&pinned_by_digest, None).as_deref(), Some(D));
        assert_eq!(image_digest(PIN, Some(&verified)).as_deref(), Some(D));
        assert_eq!(
            image_digest(PIN, Some(&drifted)),
            None,
            "only a verified check's digest counts"
        );
        assert_eq!(image_digest("reg/x:2", Some(&verified)), None, "a check of another pin");
        let judged = |in_catalog| CatalogFact::Judged {
            catalog: "/etc/c.yaml".into(),
            judgement: Judgement {
                in_catalog,
                catalog_digest: None,
                catalog_reference: None,
                why: "sha256:aa is not listed for PostgreSQL 18".into(),
            },
        };
        let rows: Vec<(&str, PinFact, Option<CatalogFact>, bool, &str)> = vec![
            ("listed", pinned(), Some(judged(true)), false, ""),
            (
                "not listed",
                pinned(),
                Some(judged(false)),
                true,
                "is not in the signed catalog /etc/c.yaml: sha256:aa is not listed",
            ),
            (
                "catalog not verified",
                pinned(),
                Some(CatalogFact::Unusable {
                    status: "invalid".into(),
                    detail: "the file was changed after signing".into(),
                }),
                true,
                "is invalid: the file was changed after signing; a catalog that is not verified lists nothing",
            ),
            ("unpinned", PinFact::Unpinned, Some(judged(true)), true, "has no pin"),
        ];
        for (what, pin, catalog, fails, evidence) in rows {
            let mut f = facts(pin, None, None);
            f.catalog = catalog;
            let got = image_failures("x", &[Catalog], &f);
            assert_eq!(!got.is_empty(), fails, "{what}: {got:?}");
            if fails {
                assert_eq!(got[0].condition, Catalog);
                assert!(got[0].detail.contains(evidence), "{what}: {}", got[0].detail);
            }
        }
        assert_eq!(parse_require("catalog, signed").unwrap(), vec![Signed, Catalog]);
    }
}
