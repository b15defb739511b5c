//! Comparing the expected tree (from the image) with the actual one (a scan of the mount).

use std::collections::BTreeMap;
use std::fmt;

use crate::{EntryKind, TreeEntry};

/// What differs at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum DifferenceKind {
    /// In the image, not in the mount.
    Missing,
    /// A file whose content (size or SHA-256) differs.
    Modified,
    /// In the mount, not in the image.
    Unexpected,
    /// Same path, different kind (file, directory, symlink, other).
    TypeChanged,
    /// Same kind, different permission bits.
    ModeChanged,
    /// A symlink pointing elsewhere.
    LinkChanged,
}

impl DifferenceKind {
    /// Stable lower-case name (`"type_changed"`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The class status and metrics count it in.
    pub fn class(self) -> pgext_core::status::DiffClass {
        use pgext_core::status::DiffClass;
        match self {
            DifferenceKind::Missing => DiffClass::Missing,
            DifferenceKind::Modified => DiffClass::Modified,
            DifferenceKind::Unexpected => DiffClass::Unexpected,
            DifferenceKind::TypeChanged | DifferenceKind::ModeChanged | DifferenceKind::LinkChanged => {
                DiffClass::Changed
            }
        }
    }
}

impl fmt::Display for DifferenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference. `expected`/`actual` describe the differing attribute, for people:
/// an entry summary (`file 0644 12 bytes sha256:…`) for missing/unexpected, the kind for
/// type_changed, `0644` for mode_changed, `12 bytes sha256:…` for modified, the target for
/// link_changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Relative path.
    pub path: String,
    /// What differs.
    pub kind: DifferenceKind,
    /// The image's side, if it has the path.
    pub expected: Option<String>,
    /// The mount's side, if it has the path.
    pub actual: Option<String>,
}

fn content(e: &TreeEntry) -> String {
    match &e.sha256 {
        Some(d) => format!("{} bytes sha256:{}", e.size, pgext_core::hash::to_hex(d)),
        None => format!("{} bytes, unhashed", e.size),
    }
}

fn summary(e: &TreeEntry) -> String {
    match e.kind {
        EntryKind::File => format!("file {:04o} {}", e.mode, content(e)),
        EntryKind::Symlink => format!("symlink -> {}", e.link_target.as_deref().unwrap_or("")),
        k => format!("{} {:04o}", k.as_str(), e.mode),
    }
}

/// Every difference between `expected` and `actual`, sorted by path (then kind). Inputs need not
/// be sorted. Symlink modes are not compared (Linux has none). A path can have both
/// `modified` and `mode_changed`; a `type_changed` path reports nothing else.
pub fn compare(expected: &[TreeEntry], actual: &[TreeEntry]) -> Vec<Difference> {
    let exp: BTreeMap<&str, &TreeEntry> = expected.iter().map(|e| (e.path.as_str(), e)).collect();
    let act: BTreeMap<&str, &TreeEntry> = actual.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut out = Vec::new();
    let diff = |path: &str, kind, e: Option<String>, a: Option<String>| Difference {
        path: path.to_owned(),
        kind,
        expected: e,
        actual: a,
    };
    for (path, e) in &exp {
        let Some(a) = act.get(path) else {
            out.push(diff(path, DifferenceKind::Missing, Some(summary(e)), None));
            continue;
        };
        if e.kind != a.kind {
            out.push(diff(
                path,
                DifferenceKind::TypeChanged,
                Some(summary(e)),
                Some(summary(a)),
            ));
            continue;
        }
        if e.kind == EntryKind::File && (e.size != a.size || e.sha256 != a.sha256 || e.sha256.is_none()) {
            out.push(diff(path, DifferenceKind::Modified, Some(content(e)), Some(content(a))));
        }
        if e.kind == EntryKind::Symlink && e.link_target != a.link_target {
            out.push(diff(
                path,
                DifferenceKind::LinkChanged,
                e.link_target.clone(),
                a.link_target.clone(),
            ));
        }
        if e.kind != EntryKind::Symlink && (e.mode & 0o7777) != (a.mode & 0o7777) {
            out.push(diff(
                path,
                DifferenceKind::ModeChanged,
                Some(format!("{:04o}", e.mode & 0o7777)),
                Some(format!("{:04o}", a.mode & 0o7777)),
            ));
        }
    }
    for (path, a) in &act {
        if !exp.contains_key(path) {
            out.push(diff(path, DifferenceKind::Unexpected, None, Some(summary(a))));
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path).then(x.kind.cmp(&y.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind_of_difference() {
        let base = vec![
            TreeEntry::dir("lib", 0o755),
            TreeEntry::file("lib/a.so", 0o755, b"A"),
            TreeEntry::symlink("lib/b.so", "a.so"),
        ];
        type Edit = fn(&mut Vec<TreeEntry>);
        type Case = (&'static str, Edit, Vec<(&'static str, DifferenceKind)>);
        let cases: Vec<Case> = vec![
            ("identical", |_| {}, vec![]),
            (
                "missing",
                |t| t.retain(|e| e.path != "lib/a.so"),
                vec![("lib/a.so", DifferenceKind::Missing)],
            ),
            (
                "unexpected",
                |t| t.push(TreeEntry::file("lib/evil.so", 0o755, b"E")),
                vec![("lib/evil.so", DifferenceKind::Unexpected)],
            ),
            (
                "modified",
                |t| t[1] = TreeEntry::file("lib/a.so", 0o755, b"B"),
                vec![("lib/a.so", DifferenceKind::Modified)],
            ),
            (
                "same size, other bytes",
                |t| t[1].sha256 = Some([0; 32]),
                vec![("lib/a.so", DifferenceKind::Modified)],
            ),
            (
                "mode",
                |t| t[0].mode = 0o777,
                vec![("lib", DifferenceKind::ModeChanged)],
            ),
            (
                "modified and mode",
                |t| t[1] = TreeEntry::file("lib/a.so", 0o700, b"B"),
                vec![
                    ("lib/a.so", DifferenceKind::Modified),
                    ("lib/a.so", DifferenceKind::ModeChanged),
                ],
            ),
            (
                "type",
                |t| t[2] = TreeEntry::file("lib/b.so", 0o755, b"A"),
                vec![("lib/b.so", DifferenceKind::TypeChanged)],
            ),
            (
                "link",
                |t| t[2] = TreeEntry::symlink("lib/b.so", "/tmp/x.so"),
                vec![("lib/b.so", DifferenceKind::LinkChanged)],
            ),
            ("symlink mode ignored", |t| t[2].mode = 0o755, vec![]),
        ];
        for (name, edit, want) in cases {
            let mut actual = base.clone();
            edit(&mut actual);
            // Unsorted input must not matter.
            actual.reverse();
            let got: Vec<(String, DifferenceKind)> =
                compare(&base, &actual).into_iter().map(|d| (d.path, d.kind)).collect();
            let want: Vec<(String, DifferenceKind)> = want.into_iter().map(|(p, k)| (p.to_owned(), k)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn describes_values() {
        let exp = vec![TreeEntry::file("f", 0o644, b"x")];
        let act = vec![TreeEntry::file("f", 0o600, b"x")];
        let d = compare(&exp, &act);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].expected.as_deref(), Some("0644"));
        assert_eq!(d[0].actual.as_deref(), Some("0600"));
        let d = compare(&exp, &[]);
        assert!(
            d[0].expected
                .as_deref()
                .is_some_and(|s| s.starts_with("file 0644 1 bytes sha256:2d711642")),
            "{d:?}"
        );
        assert_eq!(DifferenceKind::TypeChanged.as_str(), "type_changed");
    }
}
