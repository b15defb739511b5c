//! Local layouts only from allowed directories.
//!
//! `oci:` and `oci-archive:` references name paths on the server. Whoever may pin or verify
//! (`pgext_admin`, not a superuser) would otherwise learn about any path from the answer
//! (`not_found`, `io`, `malformed`). A path is accepted only if it lies under an allowed
//! directory both as written (with `.` and `..` resolved lexically, before the file system is
//! touched at all) and after symbolic links are resolved; a refusal says the same whether or not
//! the path exists.

use std::path::{Component, Path, PathBuf};

use crate::error::OciError;

/// `path` with `.` and `..` resolved lexically (`..` at the root stays at the root); `None` if it
/// is not absolute.
fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// The real path of `path`, as far as it exists: its deepest existing ancestor resolved (symbolic
/// links and all), with the rest appended.
fn resolve_existing(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut cur = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(cur) {
            let mut out = real;
            out.extend(rest.iter().rev());
            return Some(out);
        }
        // There but not resolvable (a dangling symbolic link, an unreadable directory): where it
        // leads cannot be checked.
        if cur.symlink_metadata().is_ok() {
            return None;
        }
        rest.push(cur.file_name()?.to_owned());
        cur = cur.parent()?;
    }
}

/// Checks that the layout at `path` lies under one of `allowed` (absolute directories; others
/// are ignored) and returns its resolved path, which is what must be opened. The refusal is
/// [`OciError::Forbidden`], the same whether or not the path exists.
pub fn confine_layout_path(path: &Path, allowed: &[PathBuf]) -> Result<PathBuf, OciError> {
    let refuse = || OciError::Forbidden {
        what: format!("local layout {:?}", path.display().to_string()),
        reason: if allowed.iter().any(|a| a.is_absolute()) {
            "not under an allowed layout directory".into()
        } else {
            "local layouts are not allowed (no layout directory is configured)".into()
        },
    };
    let lexical = normalize(path).ok_or_else(refuse)?;
    let dirs: Vec<PathBuf> = allowed.iter().filter_map(|a| normalize(a)).collect();
    if !dirs.iter().any(|d| lexical.starts_with(d)) {
        return Err(refuse());
    }
    // Only now is the file system consulted, and only under an allowed directory. Both sides are
    // resolved as far as they exist: an allowed directory that does not exist (yet) accepts paths
    // below it, which then do not exist either.
    let real = resolve_existing(&lexical).ok_or_else(refuse)?;
    let real_dirs: Vec<PathBuf> = dirs.iter().filter_map(|d| resolve_existing(d)).collect();
    if real_dirs.iter().any(|d| real.starts_with(d)) {
        Ok(real)
    } else {
        Err(refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_allowed_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let allowed = root.join("layouts");
        let outside = root.join("secret");
        std::fs::create_dir_all(allowed.join("a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("escape")).unwrap();
        std::os::unix::fs::symlink(allowed.join("a"), root.join("alias")).unwrap();
        std::os::unix::fs::symlink(outside.join("not-yet"), allowed.join("dangling")).unwrap();
        let dirs = vec![allowed.clone(), PathBuf::from("relative/ignored")];
        let s = |p: &Path| p.display().to_string();
        // (path, accepted as)
        let cases: Vec<(String, Option<PathBuf>)> = vec![
            (s(&allowed.join("a")), Some(allowed.join("a"))),
            (s(&allowed.join("a/../a/./")), Some(allowed.join("a"))),
            // Not there yet: accepted (opening it says not found, which is fine here).
            (s(&allowed.join("new/x.tar")), Some(allowed.join("new/x.tar"))),
            (s(&allowed.join("../secret")), None),
            (s(&allowed.join("a/../../secret/x")), None),
            (s(&allowed.join("escape")), None),
            (s(&allowed.join("escape/nonexistent")), None),
            (s(&allowed.join("dangling")), None),
            (s(&allowed.join("dangling/x")), None),
            (s(&root.join("alias")), None),
            (s(&root.join("layouts-not")), None),
            ("/etc/passwd".into(), None),
            ("/nonexistent/archive.tar".into(), None),
            ("relative/layout".into(), None),
            ("/".into(), None),
        ];
        for (path, want) in cases {
            let got = confine_layout_path(Path::new(&path), &dirs);
            match (got, want) {
                (Ok(p), Some(w)) => assert_eq!(p, w, "{path}"),
                (Err(e), None) => {
                    assert_eq!(e.code(), crate::ErrorCode::Forbidden, "{path}");
                    assert!(e.to_string().contains("not under an allowed layout directory"), "{e}");
                }
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
        // An allowed directory that does not exist yet: paths below it are accepted (and do not
        // exist either), `..` out of it is not.
        let later = vec![root.join("later")];
        assert_eq!(
            confine_layout_path(&root.join("later/x"), &later).unwrap(),
            root.join("later/x")
        );
        assert!(confine_layout_path(&root.join("later/../secret"), &later).is_err());
        let err = confine_layout_path(&allowed.join("a"), &[]).unwrap_err();
        assert!(err.to_string().contains("no layout directory"), "{err}");
    }

    #[test]
    fn a_refusal_does_not_tell_whether_the_path_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("allowed")];
        let msg = |p: &str| {
            confine_layout_path(Path::new(p), &dirs)
                .unwrap_err()
                .to_string()
                .replace(p, "P")
        };
        assert_eq!(msg("/etc/passwd"), msg("/etc/no-such-file"));
        assert_eq!(msg("/proc/self/environ"), msg("/no/such/dir/at/all"));
    }
}
