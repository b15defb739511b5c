//! The health worker's decisions about an image, as pure functions of what it knows: an image's
//! status from its mount comparison and registry result, when a verification or a full re-hash
//! is due, the findings a cycle records about the image, and how the cycle ended. The glue does
//! the I/O (tables, shared memory, the registry) and asks these functions what it means.

use crate::codes::Code;
use std::time::Duration;

use crate::problem::Severity;

/// Microseconds since the PostgreSQL epoch (a `timestamptz`); 0 means "never".
pub type Micros = i64;

/// The status of an image, in the vocabulary of `pgext.mounted_images.status` and
/// `pgext.image_status().status`. The discriminant is what shared memory stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
pub enum ImageStatus {
    /// Not yet looked at.
    #[default]
    Unknown = 0,
    /// Mounted, with no pin.
    Unpinned = 1,
    /// Pinned, never verified (or verification disabled).
    NeverChecked = 2,
    /// The mount is exactly the pinned image.
    Verified = 3,
    /// The mount differs from the pinned image.
    Drift = 4,
    /// Intact, but the pinned tag now names another image.
    TagMoved = 5,
    /// The last verification could not reach the registry.
    Unreachable = 6,
    /// The last verification failed otherwise (corrupt blob, bad credentials, bad reference,
    /// a mount that cannot be read).
    Error = 7,
}

impl ImageStatus {
    /// Every status but `Unknown`, for exhaustive listings (metrics).
    pub const ALL: [ImageStatus; 7] = [
        ImageStatus::Unpinned,
        ImageStatus::NeverChecked,
        ImageStatus::Verified,
        ImageStatus::Drift,
        ImageStatus::TagMoved,
        ImageStatus::Unreachable,
        ImageStatus::Error,
    ];

    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// From the number stored in shared memory (anything else is `Unknown`).
    pub fn from_u8(v: u8) -> ImageStatus {
        Self::ALL.into_iter().find(|s| *s as u8 == v).unwrap_or_default()
    }
}

/// The outcome of one check of an image against its pin: `pgext.image_checks.status`, what
/// `pgext.verify_image()` returns. A row written by hand with any other text reads as `Error`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum CheckStatus {
    /// The mount is exactly the pinned image.
    Verified,
    /// The mount differs from the pinned image (or could not be read completely).
    Drift,
    /// Intact, but the pinned tag now names another image.
    TagMoved,
    /// The registry did not answer.
    Unreachable,
    /// Any other failure (and a record that says nothing else).
    #[default]
    Error,
}

impl CheckStatus {
    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A stored status; text no version of pgext writes is `Error`, never a panic.
    pub fn from_stored(s: &str) -> CheckStatus {
        s.parse().unwrap_or(CheckStatus::Error)
    }
}

impl From<CheckStatus> for ImageStatus {
    fn from(s: CheckStatus) -> ImageStatus {
        match s {
            CheckStatus::Verified => ImageStatus::Verified,
            CheckStatus::Drift => ImageStatus::Drift,
            CheckStatus::TagMoved => ImageStatus::TagMoved,
            CheckStatus::Unreachable => ImageStatus::Unreachable,
            CheckStatus::Error => ImageStatus::Error,
        }
    }
}

/// What the last registry verification of an image found. The discriminant is what shared
/// memory stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
pub enum RegistryStatus {
    /// No verification yet.
    #[default]
    None = 0,
    /// The image was fetched and its digests checked.
    Ok = 1,
    /// Fetched and checked; the tag names another image now.
    TagMoved = 2,
    /// The registry did not answer.
    Unreachable = 3,
    /// Any other failure.
    Error = 4,
}

impl RegistryStatus {
    const SOME: [RegistryStatus; 4] = [
        RegistryStatus::Ok,
        RegistryStatus::TagMoved,
        RegistryStatus::Unreachable,
        RegistryStatus::Error,
    ];

    /// The SQL name (`None` for no verification).
    pub fn as_str(self) -> Option<&'static str> {
        (self != RegistryStatus::None).then(|| self.into())
    }

    /// From the number stored in shared memory.
    pub fn from_u8(v: u8) -> RegistryStatus {
        Self::SOME.into_iter().find(|s| *s as u8 == v).unwrap_or_default()
    }

    /// What a verification's outcome means for the registry side: `status` is the outcome's
    /// `pgext.image_checks.status`, `failed` whether it carries an error code. A failure is
    /// `Unreachable` only when the status says so; any other failure is `Error`.
    pub fn of_verification(status: CheckStatus, failed: bool) -> RegistryStatus {
        match (failed, status) {
            (true, CheckStatus::Unreachable) => RegistryStatus::Unreachable,
            (true, _) => RegistryStatus::Error,
            (false, CheckStatus::TagMoved) => RegistryStatus::TagMoved,
            (false, _) => RegistryStatus::Ok,
        }
    }

    /// What a recorded verification (a `pgext.image_checks` row) says, for a worker that starts
    /// with no memory of it: a row without a resolved digest never reached the registry.
    pub fn of_record(status: CheckStatus, resolved: bool) -> RegistryStatus {
        match status {
            CheckStatus::Unreachable => RegistryStatus::Unreachable,
            CheckStatus::Error => RegistryStatus::Error,
            CheckStatus::TagMoved => RegistryStatus::TagMoved,
            _ if resolved => RegistryStatus::Ok,
            _ => RegistryStatus::None,
        }
    }
}

/// How a cycle ended. The discriminant is what shared memory stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
pub enum CycleOutcome {
    /// No cycle has completed.
    #[default]
    None = 0,
    /// Every step ran; nothing to report.
    Ok = 1,
    /// Every step ran; there are findings of severity warning or error.
    Problems = 2,
    /// A step failed (reading, an image's check, writing the results).
    Error = 3,
}

impl CycleOutcome {
    /// The SQL name (`None` before the first cycle).
    pub fn as_str(self) -> Option<&'static str> {
        (self != CycleOutcome::None).then(|| self.into())
    }

    /// From the number stored in shared memory.
    pub fn from_u8(v: u8) -> CycleOutcome {
        [CycleOutcome::Ok, CycleOutcome::Problems, CycleOutcome::Error]
            .into_iter()
            .find(|s| *s as u8 == v)
            .unwrap_or_default()
    }

    /// How a cycle ended: `Error` when a step failed, else `Problems` when anything of
    /// severity warning or error was found.
    pub fn of(step_failed: bool, findings: &[Finding]) -> CycleOutcome {
        if step_failed {
            CycleOutcome::Error
        } else if findings.iter().any(|f| f.severity != Severity::Info) {
            CycleOutcome::Problems
        } else {
            CycleOutcome::Ok
        }
    }
}

/// What the signatures of an image say, in the vocabulary of `pgext.mounted_images.signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum SignatureStatus {
    /// A signature over this digest verifies with a trusted key.
    Signed,
    /// The image has no signature.
    Unsigned,
    /// A signature is malformed or signs another digest.
    Invalid,
    /// Well-formed signatures exist, but none verifies with a trusted key (another signer, or a
    /// payload altered after signing: the two cannot be told apart without the signer's key).
    Untrusted,
    /// The registry could not be reached.
    Unreachable,
    /// Anything else (the detail says what).
    Error,
}

impl SignatureStatus {
    /// Every status, in the order of their shared-memory codes (index + 1; 0 is none).
    const ALL: [SignatureStatus; 6] = [
        SignatureStatus::Signed,
        SignatureStatus::Unsigned,
        SignatureStatus::Invalid,
        SignatureStatus::Untrusted,
        SignatureStatus::Unreachable,
        SignatureStatus::Error,
    ];

    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A status as shared memory keeps it: 0 for none.
    pub fn code(s: Option<SignatureStatus>) -> u8 {
        s.and_then(|s| Self::ALL.iter().position(|x| *x == s))
            .map_or(0, |i| i as u8 + 1)
    }

    /// The status a shared-memory code stands for.
    pub fn from_code(code: u8) -> Option<SignatureStatus> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// The classes of difference between a mount and its image that status and metrics count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum DiffClass {
    /// In the image, not in the mount.
    Missing,
    /// Same file, other content.
    Modified,
    /// In the mount, not in the image.
    Unexpected,
    /// Same path, other type, mode or link target.
    Changed,
}

/// Differences between a mount and its image, by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffCounts {
    /// In the image, not in the mount.
    pub missing: i32,
    /// Same file, other content.
    pub modified: i32,
    /// In the mount, not in the image.
    pub unexpected: i32,
    /// Same path, other type, mode or link target.
    pub changed: i32,
}

impl DiffCounts {
    /// Counts one difference.
    pub fn add(&mut self, class: DiffClass) {
        let n = match class {
            DiffClass::Missing => &mut self.missing,
            DiffClass::Modified => &mut self.modified,
            DiffClass::Unexpected => &mut self.unexpected,
            DiffClass::Changed => &mut self.changed,
        };
        *n = n.saturating_add(1);
    }
}

/// Differences between a mount and its image by kind, as `pgext.image_checks` stores them
/// (`changed` of [`DiffCounts`] split into type, mode and link target).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffTally {
    /// In the image, not in the mount.
    pub missing: i32,
    /// Same file, other content.
    pub modified: i32,
    /// In the mount, not in the image.
    pub unexpected: i32,
    /// Same path, other type.
    pub type_changed: i32,
    /// Same path, other mode.
    pub mode_changed: i32,
    /// Same path, other link target.
    pub link_changed: i32,
}

impl DiffTally {
    /// The counts by class, as the views show them.
    pub fn summary(&self) -> DiffCounts {
        DiffCounts {
            missing: self.missing,
            modified: self.modified,
            unexpected: self.unexpected,
            changed: self
                .type_changed
                .saturating_add(self.mode_changed)
                .saturating_add(self.link_changed),
        }
    }
}

/// The last comparison of a mount with the tree its pinned image should have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountCheck {
    /// The mount differs from the image.
    pub drift: bool,
    /// The differences, by class.
    pub counts: DiffCounts,
    /// What differs, for people (empty without drift).
    pub detail: String,
    /// The mount could not be scanned completely: nothing is known about drift.
    pub scan_error: Option<String>,
}

impl MountCheck {
    /// A mount that could not be read.
    pub fn scan_failed(why: impl Into<String>) -> MountCheck {
        MountCheck {
            scan_error: Some(why.into()),
            ..MountCheck::default()
        }
    }

    /// A completed comparison: `drift` as the comparison judged it, `differences` the
    /// differences it listed (class, the precise kind's name, path; possibly none when only the
    /// tree digest differs).
    pub fn compared<'a>(
        drift: bool,
        differences: impl IntoIterator<Item = (DiffClass, &'a str, &'a str)>,
    ) -> MountCheck {
        let mut counts = DiffCounts::default();
        let mut first = Vec::new();
        for (class, kind, path) in differences {
            counts.add(class);
            if first.len() < 3 {
                first.push(format!("{kind} {path}"));
            }
        }
        let detail = if !drift {
            String::new()
        } else if first.is_empty() {
            "the mounted tree's digest differs from the pinned image's".to_string()
        } else {
            format!(
                "{} missing, {} modified, {} unexpected, {} changed file(s); first: {}",
                counts.missing,
                counts.modified,
                counts.unexpected,
                counts.changed,
                first.join(", ")
            )
        };
        MountCheck {
            drift,
            counts,
            detail,
            scan_error: None,
        }
    }
}

/// An image's status. A mount that cannot be read is an error, never drift (what it lacks is
/// unknown); drift outranks anything the registry said; a registry failure outranks an intact
/// mount; a pin never compared is `NeverChecked`.
pub fn image_status(pinned: bool, mount: Option<&MountCheck>, registry: RegistryStatus) -> ImageStatus {
    if !pinned {
        return ImageStatus::Unpinned;
    }
    match (mount, registry) {
        (Some(m), _) if m.scan_error.is_some() => ImageStatus::Error,
        (Some(m), _) if m.drift => ImageStatus::Drift,
        (_, RegistryStatus::Unreachable) => ImageStatus::Unreachable,
        (_, RegistryStatus::Error) => ImageStatus::Error,
        (_, RegistryStatus::TagMoved) => ImageStatus::TagMoved,
        (Some(_), _) => ImageStatus::Verified,
        (None, _) => ImageStatus::NeverChecked,
    }
}

fn micros_of(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Whether a registry verification is due at `now`: never with verification off (`interval`
/// `None`); at once when the pin was neither attempted nor verified; else one interval after the
/// later of the two (an attempt that failed waits as long as a success, so an unreachable
/// registry is not hammered).
pub fn verify_due(now: Micros, interval: Option<Duration>, last_attempt: Micros, last_verified: Micros) -> bool {
    let Some(interval) = interval else {
        return false;
    };
    let last = last_attempt.max(last_verified);
    last == 0 || now >= last.saturating_add(micros_of(interval))
}

/// The image whose full re-hash (every byte read, no digest cache) is due at `now`, among
/// `candidates` (name and time of its last full re-hash, 0 for none): at most one per cycle,
/// the one longest without, so full reads spread over cycles instead of piling up in one.
/// Ties go to the first name in byte order.
pub fn full_rehash_due<'a>(
    now: Micros,
    interval: Option<Duration>,
    candidates: impl IntoIterator<Item = (&'a str, Micros)>,
) -> Option<&'a str> {
    let interval = micros_of(interval?);
    candidates
        .into_iter()
        .filter(|(_, last)| *last == 0 || now >= last.saturating_add(interval))
        .min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)))
        .map(|(name, _)| name)
}

/// One thing a cycle found, as stored in `pgext.findings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The image it is about (`None`: the worker itself).
    pub image: Option<String>,
    /// The extension it is about, within the image.
    pub extension: Option<String>,
    /// Stable code: `drift`, `unreachable`, `incompatible`, an inventory problem code...
    pub code: Code,
    /// Error or warning (infos are never recorded).
    pub severity: Severity,
    /// What was found, for people.
    pub message: String,
}

impl Finding {
    /// A finding about an image as a whole.
    pub fn image(image: &str, code: Code, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            image: Some(image.to_string()),
            extension: None,
            code,
            severity,
            message: message.into(),
        }
    }

    /// A finding about the worker itself.
    pub fn worker(code: Code, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            image: None,
            extension: None,
            code,
            severity,
            message: message.into(),
        }
    }
}

/// What the worker knows about a pinned image at the end of a cycle's checks.
#[derive(Clone, Debug, Default)]
pub struct PinnedImage<'a> {
    /// The image's name.
    pub name: &'a str,
    /// The pinned reference.
    pub reference: &'a str,
    /// Its status ([`image_status`]).
    pub status: ImageStatus,
    /// The last mount comparison.
    pub mount: Option<&'a MountCheck>,
    /// The last registry result, with its error code and message.
    pub registry: RegistryStatus,
    /// The error code of the last failed verification.
    pub error_code: &'a str,
    /// Its message.
    pub error: &'a str,
    /// The signature verdict of the last verification that judged one.
    pub signature: Option<SignatureStatus>,
    /// `pgext.trusted_keys` is set: signatures count.
    pub keys_trusted: bool,
}

/// The code of a mount that could not be read (also its `error_code`).
pub const SCAN_FAILED: Code = Code::ScanFailed;

/// The findings about a pinned image's integrity and provenance: an unreadable mount, drift,
/// the registry's answer, and its signatures where the site trusts keys (without any, every
/// signed image is "untrusted", and saying so each cycle would be noise).
pub fn pinned_findings(p: &PinnedImage<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = p.name;
    if let Some(why) = p.mount.and_then(|m| m.scan_error.as_ref()) {
        out.push(Finding::image(name, SCAN_FAILED, Severity::Error, why.clone()));
    }
    if p.status == ImageStatus::Drift {
        let detail = p
            .mount
            .map(|m| m.detail.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "the mount differs from the pinned image".to_string());
        out.push(Finding::image(name, Code::Drift, Severity::Error, detail));
    }
    match p.registry {
        RegistryStatus::Unreachable => out.push(Finding::image(
            name,
            Code::Unreachable,
            Severity::Warning,
            format!("{}: {}", p.reference, p.error),
        )),
        RegistryStatus::Error => out.push(Finding::image(
            name,
            Code::VerifyError,
            Severity::Error,
            format!("{}: [{}] {}", p.reference, p.error_code, p.error),
        )),
        RegistryStatus::TagMoved => out.push(Finding::image(
            name,
            Code::TagMoved,
            Severity::Warning,
            format!(
                "the tag of {} now names another image; verification uses the pinned digest",
                p.reference
            ),
        )),
        RegistryStatus::None | RegistryStatus::Ok => {}
    }
    if p.keys_trusted {
        let finding = match p.signature {
            Some(SignatureStatus::Invalid) => Some((
                Code::SignatureInvalid,
                Severity::Error,
                "a signature is malformed or signs another digest",
            )),
            Some(SignatureStatus::Untrusted) => Some((
                Code::NotSigned,
                Severity::Warning,
                "no signature by a key of pgext.trusted_keys",
            )),
            Some(SignatureStatus::Unsigned) => Some((Code::NotSigned, Severity::Warning, "the image is not signed")),
            Some(SignatureStatus::Error) => Some((
                Code::SignatureError,
                Severity::Warning,
                "its signatures could not be judged",
            )),
            Some(SignatureStatus::Signed | SignatureStatus::Unreachable) | None => None,
        };
        if let Some((code, severity, why)) = finding {
            out.push(Finding::image(name, code, severity, format!("{}: {why}", p.reference)));
        }
    }
    out
}

/// What the inventory says about one image, as a cycle records it.
#[derive(Debug, Default)]
pub struct InventoryFindings {
    /// Every warning and error of the image, of its extensions (the verdict's, for the copy
    /// PostgreSQL uses: it carries the inventory's problems too) and of its libraries.
    pub findings: Vec<Finding>,
    /// `(extension, its first error)` for each extension predicted not to load.
    pub incompatible: Vec<(String, String)>,
}

/// The findings of `image` in `inv`, with the verdicts when compatibility could be judged.
pub fn inventory_findings(
    inv: &crate::inventory::Inventory,
    verdicts: Option<&std::collections::BTreeMap<String, crate::compat::Verdict>>,
    image: &str,
) -> InventoryFindings {
    let mut out = InventoryFindings::default();
    let mut push = |extension: Option<&str>, problems: &[crate::problem::Problem]| {
        for p in problems.iter().filter(|p| p.severity != Severity::Info) {
            out.findings.push(Finding {
                image: Some(image.to_string()),
                extension: extension.map(str::to_string),
                code: p.code,
                severity: p.severity,
                message: p.message.clone(),
            });
        }
    };
    if let Some(img) = inv.images.iter().find(|i| i.name == image) {
        push(None, &img.problems);
    }
    let mut incompatible = Vec::new();
    for e in inv.extensions.iter().filter(|e| e.image.as_deref() == Some(image)) {
        let verdict = if e.visible {
            verdicts.and_then(|v| v.get(&e.name))
        } else {
            None
        };
        push(
            Some(&e.name),
            verdict.map(|v| v.problems.as_slice()).unwrap_or(&e.problems),
        );
        if let Some(v) = verdict.filter(|v| !v.compatible) {
            let why = v
                .problems
                .iter()
                .find(|p| p.severity == Severity::Error)
                .map(|p| format!("{}: {}", p.code, p.message))
                .unwrap_or_else(|| "predicted not to load".to_string());
            incompatible.push((e.name.clone(), why));
        }
    }
    for l in inv.libraries.iter().filter(|l| l.image.as_deref() == Some(image)) {
        push(None, &l.problems);
    }
    out.incompatible = incompatible;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;
    const MIN: Duration = Duration::from_secs(60);

    fn drifted() -> MountCheck {
        MountCheck::compared(true, [(DiffClass::Modified, "modified", "lib/x.so")])
    }

    #[test]
    fn status_of_an_image() {
        let intact = MountCheck::compared(false, []);
        let unreadable = MountCheck::scan_failed("permission denied");
        let drift = drifted();
        use RegistryStatus as R;
        // (pinned, mount comparison, registry, expected)
        let cases: &[(bool, Option<&MountCheck>, R, ImageStatus)] = &[
            (false, Some(&drift), R::Error, ImageStatus::Unpinned),
            (true, None, R::None, ImageStatus::NeverChecked),
            (true, Some(&intact), R::None, ImageStatus::Verified),
            (true, Some(&intact), R::Ok, ImageStatus::Verified),
            (true, Some(&drift), R::Ok, ImageStatus::Drift),
            // Drift outranks any registry answer: the mount is wrong whatever the registry says.
            (true, Some(&drift), R::Unreachable, ImageStatus::Drift),
            (true, Some(&drift), R::TagMoved, ImageStatus::Drift),
            // An unreadable mount is an error, not drift and not verified.
            (true, Some(&unreadable), R::Ok, ImageStatus::Error),
            (true, Some(&unreadable), R::Unreachable, ImageStatus::Error),
            (true, Some(&intact), R::Unreachable, ImageStatus::Unreachable),
            (true, None, R::Unreachable, ImageStatus::Unreachable),
            (true, Some(&intact), R::Error, ImageStatus::Error),
            (true, Some(&intact), R::TagMoved, ImageStatus::TagMoved),
            (true, None, R::TagMoved, ImageStatus::TagMoved),
        ];
        for (i, (pinned, mount, registry, want)) in cases.iter().enumerate() {
            assert_eq!(image_status(*pinned, *mount, *registry), *want, "case {i}");
        }
    }

    #[test]
    fn registry_status_of_outcomes_and_records() {
        // (outcome status, failed, expected)
        use CheckStatus as C;
        let outcomes = [
            (C::Verified, false, RegistryStatus::Ok),
            (C::Drift, false, RegistryStatus::Ok),
            (C::TagMoved, false, RegistryStatus::TagMoved),
            (C::Unreachable, true, RegistryStatus::Unreachable),
            (C::Error, true, RegistryStatus::Error),
            (C::TagMoved, true, RegistryStatus::Error),
        ];
        for (status, failed, want) in outcomes {
            assert_eq!(
                RegistryStatus::of_verification(status, failed),
                want,
                "{status} {failed}"
            );
        }
        // (recorded status, resolved digest, expected)
        let records = [
            (C::Verified, true, RegistryStatus::Ok),
            (C::Drift, true, RegistryStatus::Ok),
            (C::Verified, false, RegistryStatus::None),
            (C::Unreachable, false, RegistryStatus::Unreachable),
            (C::Error, true, RegistryStatus::Error),
            (C::TagMoved, true, RegistryStatus::TagMoved),
        ];
        for (status, resolved, want) in records {
            assert_eq!(RegistryStatus::of_record(status, resolved), want, "{status} {resolved}");
        }
    }

    #[test]
    fn tallies_summarise_by_class() {
        let t = DiffTally {
            missing: 1,
            modified: 2,
            unexpected: 3,
            type_changed: 4,
            mode_changed: 5,
            link_changed: 6,
        };
        let want = DiffCounts {
            missing: 1,
            modified: 2,
            unexpected: 3,
            changed: 15,
        };
        assert_eq!(t.summary(), want);
        // A hand-written row cannot overflow the sum.
        let huge = DiffTally {
            type_changed: i32::MAX,
            link_changed: 1,
            ..DiffTally::default()
        };
        assert_eq!(huge.summary().changed, i32::MAX);
    }

    #[test]
    fn check_statuses_read_back_and_map_to_image_statuses() {
        // (stored text, read back as, image status)
        let cases = [
            ("verified", CheckStatus::Verified, ImageStatus::Verified),
            ("drift", CheckStatus::Drift, ImageStatus::Drift),
            ("tag_moved", CheckStatus::TagMoved, ImageStatus::TagMoved),
            ("unreachable", CheckStatus::Unreachable, ImageStatus::Unreachable),
            ("error", CheckStatus::Error, ImageStatus::Error),
            // Written by hand: never trusted as anything but an error.
            ("Verified", CheckStatus::Error, ImageStatus::Error),
            ("", CheckStatus::Error, ImageStatus::Error),
            ("ok", CheckStatus::Error, ImageStatus::Error),
        ];
        for (text, want, image) in cases {
            let got = CheckStatus::from_stored(text);
            assert_eq!(got, want, "{text:?}");
            assert_eq!(ImageStatus::from(got), image, "{text:?}");
            if got != CheckStatus::Error || text == "error" {
                assert_eq!(got.as_str(), text);
            }
        }
    }

    #[test]
    fn when_verification_is_due() {
        let now = 1_000 * S;
        // (interval, last attempt, last verification, expected)
        let cases = [
            (None, 0, 0, false),
            (Some(MIN), 0, 0, true),
            (Some(MIN), now - 59 * S, 0, false),
            (Some(MIN), now - 60 * S, 0, true),
            (Some(MIN), 0, now - 30 * S, false),
            (Some(MIN), 0, now - 61 * S, true),
            // A failed attempt after an old success waits a full interval too.
            (Some(MIN), now - 10 * S, now - 500 * S, false),
            (Some(Duration::MAX), now - 10 * S, 0, false),
        ];
        for (i, (interval, attempt, verified, want)) in cases.into_iter().enumerate() {
            assert_eq!(verify_due(now, interval, attempt, verified), want, "case {i}");
        }
    }

    #[test]
    fn one_full_rehash_at_a_time() {
        let now = 10_000 * S;
        let hour = Some(Duration::from_secs(3600));
        // (interval, candidates, expected)
        type Case<'a> = (Option<Duration>, &'a [(&'a str, Micros)], Option<&'a str>);
        let cases: &[Case<'_>] = &[
            (None, &[("a", 0)], None),
            (hour, &[], None),
            (hour, &[("a", now - 10 * S)], None),
            (hour, &[("a", now - 3600 * S)], Some("a")),
            (hour, &[("a", now - 4000 * S), ("b", 0)], Some("b")),
            (hour, &[("b", now - 5000 * S), ("a", now - 4000 * S)], Some("b")),
            (hour, &[("b", 0), ("a", 0)], Some("a")),
        ];
        for (i, (interval, candidates, want)) in cases.iter().enumerate() {
            assert_eq!(
                full_rehash_due(now, *interval, candidates.iter().copied()),
                *want,
                "case {i}"
            );
        }
    }

    #[test]
    fn mount_comparisons() {
        let m = MountCheck::compared(
            true,
            [
                (DiffClass::Missing, "missing", "a"),
                (DiffClass::Modified, "modified", "b"),
                (DiffClass::Changed, "mode_changed", "c"),
                (DiffClass::Changed, "link_changed", "d"),
            ],
        );
        assert_eq!(
            m.counts,
            DiffCounts {
                missing: 1,
                modified: 1,
                unexpected: 0,
                changed: 2
            }
        );
        assert_eq!(
            m.detail,
            "1 missing, 1 modified, 0 unexpected, 2 changed file(s); first: missing a, modified b, mode_changed c"
        );
        assert_eq!(
            MountCheck::compared(true, []).detail,
            "the mounted tree's digest differs from the pinned image's"
        );
        assert_eq!(MountCheck::compared(false, []).detail, "");
        assert!(MountCheck::scan_failed("x").scan_error.is_some());
    }

    #[test]
    fn findings_of_a_pinned_image() {
        let drift = drifted();
        let unreadable = MountCheck::scan_failed("lib: permission denied");
        let base = PinnedImage {
            name: "pgvector",
            reference: "r/pgvector:0.8",
            status: ImageStatus::Verified,
            ..PinnedImage::default()
        };
        type Edit = fn(&mut PinnedImage<'_>);
        // (what differs from a verified image, expected (code, severity) list)
        let cases: Vec<(Edit, &[(&str, Severity)])> = vec![
            (|_| {}, &[]),
            (|p| p.status = ImageStatus::Drift, &[("drift", Severity::Error)]),
            (
                |p| p.registry = RegistryStatus::Unreachable,
                &[("unreachable", Severity::Warning)],
            ),
            (
                |p| p.registry = RegistryStatus::Error,
                &[("verify_error", Severity::Error)],
            ),
            (
                |p| p.registry = RegistryStatus::TagMoved,
                &[("tag_moved", Severity::Warning)],
            ),
            (|p| p.registry = RegistryStatus::Ok, &[]),
            // Signatures are silent unless keys are trusted.
            (|p| p.signature = Some(SignatureStatus::Invalid), &[]),
            (
                |p| {
                    p.signature = Some(SignatureStatus::Invalid);
                    p.keys_trusted = true
                },
                &[("signature_invalid", Severity::Error)],
            ),
            (
                |p| {
                    p.signature = Some(SignatureStatus::Untrusted);
                    p.keys_trusted = true
                },
                &[("not_signed", Severity::Warning)],
            ),
            (
                |p| {
                    p.signature = Some(SignatureStatus::Unsigned);
                    p.keys_trusted = true
                },
                &[("not_signed", Severity::Warning)],
            ),
            (
                |p| {
                    p.signature = Some(SignatureStatus::Error);
                    p.keys_trusted = true
                },
                &[("signature_error", Severity::Warning)],
            ),
            (
                |p| {
                    p.signature = Some(SignatureStatus::Signed);
                    p.keys_trusted = true
                },
                &[],
            ),
            (
                |p| {
                    p.signature = Some(SignatureStatus::Unreachable);
                    p.keys_trusted = true
                },
                &[],
            ),
        ];
        for (i, (edit, want)) in cases.into_iter().enumerate() {
            let mut p = base.clone();
            edit(&mut p);
            let got: Vec<(&str, Severity)> = pinned_findings(&p)
                .iter()
                .map(|f| (f.code.as_str(), f.severity))
                .collect();
            assert_eq!(got, want, "case {i}");
        }
        // With the mount attached: drift carries the comparison's detail; an unreadable mount its
        // reason, and an unreachable registry on top is reported too.
        let p = PinnedImage {
            status: ImageStatus::Drift,
            mount: Some(&drift),
            ..base.clone()
        };
        assert_eq!(pinned_findings(&p)[0].message, drift.detail);
        let p = PinnedImage {
            status: ImageStatus::Error,
            mount: Some(&unreadable),
            registry: RegistryStatus::Unreachable,
            error: "connection refused",
            ..base.clone()
        };
        let got = pinned_findings(&p);
        assert_eq!(
            got.iter().map(|f| f.code).collect::<Vec<_>>(),
            [SCAN_FAILED, Code::Unreachable]
        );
        assert_eq!(got[0].message, "lib: permission denied");
        assert_eq!(got[1].message, "r/pgvector:0.8: connection refused");
    }

    /// (what the tree holds, verdicts judged, expected (extension, code, severity) findings and
    /// incompatible extensions). Infos are never findings; other images' rows never count.
    #[test]
    fn inventory_findings_of_an_image() {
        use crate::compat::Verdict;
        use crate::problem::Problem;
        use std::collections::BTreeMap;
        let t = crate::testing::Tree::new();
        t.ext("a", "good", "default_version = '1'\n", &[("good--1.sql", "")]);
        t.ext("a", "bad", "default_version = \n", &[]);
        std::fs::create_dir_all(t.p("ext/a/lib/d.so")).unwrap();
        t.ext("b", "other", "nonsense\n", &[]);
        let s = t.settings("@ext/a/share:@ext/b/share", "@ext/a/lib");
        let inv = crate::inventory::Inventory::collect(&s);
        let verdict = |name: &str, compatible: bool, problems: Vec<Problem>| Verdict {
            name: name.to_string(),
            compatible,
            decided: true,
            problems,
            usable: compatible,
            usable_problems: Vec::new(),
            libraries: Vec::new(),
            requires: Vec::new(),
        };
        let judged: BTreeMap<String, Verdict> = [
            verdict("good", true, vec![Problem::info(Code::UnusedImage, "i")]),
            verdict(
                "bad",
                false,
                vec![
                    Problem::warning(Code::NoUpdatePath, "w"),
                    Problem::error(Code::MissingLibrary, "libgeos_c.so.1"),
                ],
            ),
        ]
        .into_iter()
        .map(|v| (v.name.clone(), v))
        .collect();
        type Want<'a> = (Vec<(Option<&'a str>, Code, Severity)>, Vec<(&'a str, &'a str)>);
        let cases: Vec<(Option<&BTreeMap<String, Verdict>>, Want)> = vec![
            // Not judged: the inventory's own problems, nothing is called incompatible.
            (
                None,
                (vec![(Some("bad"), Code::ControlInvalid, Severity::Error)], vec![]),
            ),
            // Judged: the verdict's problems replace the inventory's; the first error says why.
            (
                Some(&judged),
                (
                    vec![
                        (Some("bad"), Code::NoUpdatePath, Severity::Warning),
                        (Some("bad"), Code::MissingLibrary, Severity::Error),
                    ],
                    vec![("bad", "missing_library: libgeos_c.so.1")],
                ),
            ),
        ];
        for (i, (verdicts, (findings, incompatible))) in cases.into_iter().enumerate() {
            let got = inventory_findings(&inv, verdicts, "a");
            let got_findings: Vec<_> = got
                .findings
                .iter()
                .filter(|f| f.extension.is_some())
                .map(|f| (f.extension.as_deref(), f.code, f.severity))
                .collect();
            assert_eq!(got_findings.len(), findings.len(), "case {i}: {:?}", got.findings);
            for w in &findings {
                assert!(got_findings.contains(w), "case {i}: {w:?} in {:?}", got.findings);
            }
            assert!(got.findings.iter().all(|f| f.image.as_deref() == Some("a")), "case {i}");
            let got_incompatible: Vec<(&str, &str)> =
                got.incompatible.iter().map(|(e, w)| (e.as_str(), w.as_str())).collect();
            assert_eq!(got_incompatible, incompatible, "case {i}");
        }
        // A library's problem is a finding of its image, with no extension.
        let lib = inventory_findings(&inv, None, "a");
        let of_libraries: Vec<_> = lib
            .findings
            .iter()
            .filter(|f| f.extension.is_none())
            .map(|f| f.code)
            .collect();
        assert_eq!(of_libraries, vec![Code::NotAFile], "{:?}", lib.findings);
    }

    #[test]
    fn cycle_outcomes() {
        let warn = Finding::worker(Code::NotInstalled, Severity::Warning, "x");
        let info = Finding::worker(Code::UnusedImage, Severity::Info, "x");
        // (a step failed, findings, expected)
        let cases: &[(bool, &[Finding], CycleOutcome)] = &[
            (false, &[], CycleOutcome::Ok),
            (false, std::slice::from_ref(&info), CycleOutcome::Ok),
            (false, std::slice::from_ref(&warn), CycleOutcome::Problems),
            (true, &[], CycleOutcome::Error),
            (true, std::slice::from_ref(&warn), CycleOutcome::Error),
        ];
        for (i, (failed, findings, want)) in cases.iter().enumerate() {
            assert_eq!(CycleOutcome::of(*failed, findings), *want, "case {i}");
        }
    }

    #[test]
    fn shared_memory_codes_round_trip() {
        for s in ImageStatus::ALL {
            assert_eq!(ImageStatus::from_u8(s as u8), s);
            assert_eq!(s.as_str().parse::<ImageStatus>().ok(), Some(s));
        }
        assert_eq!(ImageStatus::from_u8(200), ImageStatus::Unknown);
        for s in RegistryStatus::SOME {
            assert_eq!(RegistryStatus::from_u8(s as u8), s);
        }
        assert_eq!(RegistryStatus::None.as_str(), None);
        assert_eq!(RegistryStatus::TagMoved.as_str(), Some("tag_moved"));
        assert_eq!(CycleOutcome::None.as_str(), None);
        assert_eq!(
            CycleOutcome::from_u8(CycleOutcome::Problems as u8),
            CycleOutcome::Problems
        );
        assert_eq!(SignatureStatus::code(None), 0);
        for s in SignatureStatus::ALL {
            assert_eq!(SignatureStatus::from_code(SignatureStatus::code(Some(s))), Some(s));
        }
        assert_eq!(SignatureStatus::from_code(0), None);
        assert_eq!(SignatureStatus::from_code(7), None);
        assert_eq!(ImageStatus::NeverChecked.as_str(), "never_checked");
    }
}
