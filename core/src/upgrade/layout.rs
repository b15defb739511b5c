//! The CloudNativePG upgrade Job's layout: old images at `/extensions/<name>`, new ones at
//! `/new-extensions/<name>`, and the one `LD_LIBRARY_PATH` both servers run under.
//!
//! From cloudnative-pg (read at v1.30.0 and at PR 11286's commit):
//! - `pkg/postgres/configuration.go`: `ExtensionsBaseDirectory = "/extensions"`,
//!   `UpgradeTargetExtensionsBaseDirectory = "/new-extensions"`; the new PGDATA's
//!   `extension_control_path` / `dynamic_library_path` name the `/new-extensions` mounts
//!   (`RefreshConfigurationFilesFromCluster(…, OperationType_TYPE_UPGRADE)` in
//!   `internal/cmd/manager/instance/upgrade/execute/cmd.go`).
//! - `setupExtensionEnvironment()` in that file: `LD_LIBRARY_PATH` = the inherited value, then
//!   `extensions.CollectLibraryPaths(old, "/extensions")`, then `(new, "/new-extensions")` in
//!   1.30.0; PR 11286 swaps the two sets (new first). `PATH` follows the same order; custom `env`
//!   entries are set old then new, so a new image's value wins either way.
//! - `pg_upgrade` runs the old and the new server under that one environment.

use std::path::{Path, PathBuf};

use crate::preflight::{self, ImageDir};

/// Where the Job mounts the old cluster's images.
pub const OLD_BASE: &str = "/extensions";
/// Where the Job mounts the target's images.
pub const NEW_BASE: &str = "/new-extensions";

/// The order of the two sets of images' library directories on `LD_LIBRARY_PATH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::EnumString, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum LdOrder {
    /// CloudNativePG 1.30.0: the old images' entries, then the new ones'.
    #[default]
    OldFirst,
    /// cloudnative-pg PR 11286: the new images' entries first.
    NewFirst,
}

impl LdOrder {
    /// `old-first` / `new-first`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The other order.
    pub fn other(self) -> LdOrder {
        match self {
            LdOrder::OldFirst => LdOrder::NewFirst,
            LdOrder::NewFirst => LdOrder::OldFirst,
        }
    }
}

/// The upgrade Job's images: where they are on this machine, and the order of their
/// `LD_LIBRARY_PATH` entries.
#[derive(Debug, Clone)]
pub struct JobLayout {
    /// The old cluster's images (mounted at `/extensions/<name>` in the Job).
    pub old: Vec<ImageDir>,
    /// The target's images (mounted at `/new-extensions/<name>`).
    pub new: Vec<ImageDir>,
    /// How CloudNativePG orders the two sets.
    pub order: LdOrder,
}

impl JobLayout {
    /// The Job's `LD_LIBRARY_PATH` in `order` (paths of this machine): each set's images' library
    /// directories (their existing `system/`, as [`preflight::settings`] takes them).
    pub fn ld_library_path(&self, order: LdOrder) -> Vec<String> {
        let (old, new) = (
            preflight::ld_library_path(&self.old),
            preflight::ld_library_path(&self.new),
        );
        match order {
            LdOrder::OldFirst => [old, new].concat(),
            LdOrder::NewFirst => [new, old].concat(),
        }
    }

    /// A path as the Job names it (`/extensions/<name>/…`, `/new-extensions/<name>/…`), as a path
    /// of this machine: the image's directory replaces the mount point. Other paths stay as they are.
    pub fn local(&self, job_path: &str) -> String {
        for (base, set) in [(NEW_BASE, &self.new), (OLD_BASE, &self.old)] {
            let Some(rest) = job_path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else {
                continue;
            };
            let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
            if let Some(image) = set.iter().find(|i| i.name == name) {
                return join(&image.dir, tail);
            }
        }
        job_path.to_owned()
    }

    /// A path of this machine as the Job would see it (for messages).
    pub fn job_path(&self, local: &str) -> String {
        for (base, set) in [(NEW_BASE, &self.new), (OLD_BASE, &self.old)] {
            for image in set.iter() {
                if let Ok(rest) = Path::new(local).strip_prefix(&image.dir) {
                    let mut p = PathBuf::from(base).join(&image.name);
                    if !rest.as_os_str().is_empty() {
                        p.push(rest);
                    }
                    return p.to_string_lossy().into_owned();
                }
            }
        }
        local.to_owned()
    }

    /// `true` when `local` lies in one of the old images.
    pub fn is_old(&self, local: &str) -> bool {
        self.old.iter().any(|i| Path::new(local).starts_with(&i.dir))
    }
}

fn join(dir: &Path, tail: &str) -> String {
    if tail.is_empty() {
        dir.to_string_lossy().into_owned()
    } else {
        dir.join(tail).to_string_lossy().into_owned()
    }
}

/// Rewrites each element of a path setting of the old cluster (`dynamic_library_path`, read
/// from it) to this machine's image directories.
pub fn localise_setting(layout: &JobLayout, setting: &str) -> String {
    setting
        .split(':')
        .map(|e| layout.local(e))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path) -> JobLayout {
        for d in [
            "old/postgis/system",
            "new/postgis/system",
            "old/vector/lib",
            "new/vector/lib",
        ] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let img = |set: &str, name: &str| ImageDir {
            name: name.into(),
            dir: dir.join(set).join(name),
        };
        JobLayout {
            old: vec![img("old", "postgis"), img("old", "vector")],
            new: vec![img("new", "postgis"), img("new", "vector")],
            order: LdOrder::OldFirst,
        }
    }

    #[test]
    fn ld_library_path_orders() {
        let t = tempfile::tempdir().unwrap();
        let l = layout(t.path());
        let s = |p: &str| t.path().join(p).to_string_lossy().into_owned();
        // Only images with a system/ directory contribute, each set in its images' order.
        assert_eq!(
            l.ld_library_path(LdOrder::OldFirst),
            [s("old/postgis/system"), s("new/postgis/system")]
        );
        assert_eq!(
            l.ld_library_path(LdOrder::NewFirst),
            [s("new/postgis/system"), s("old/postgis/system")]
        );
        assert_eq!("new-first".parse::<LdOrder>().unwrap(), LdOrder::NewFirst);
        assert_eq!(LdOrder::default().as_str(), "old-first");
    }

    #[test]
    fn job_paths_map_to_images() {
        let t = tempfile::tempdir().unwrap();
        let l = layout(t.path());
        let s = |p: &str| t.path().join(p).to_string_lossy().into_owned();
        for (job, local) in [
            ("/extensions/postgis/lib/postgis-3", s("old/postgis/lib/postgis-3")),
            ("/new-extensions/vector/lib", s("new/vector/lib")),
            ("/new-extensions/vector", s("new/vector")),
            ("/extensions/unknown/lib", "/extensions/unknown/lib".into()),
            ("/extensionsX/postgis/lib", "/extensionsX/postgis/lib".into()),
            ("$libdir", "$libdir".into()),
        ] {
            assert_eq!(l.local(job), local, "{job}");
        }
        assert_eq!(l.job_path(&s("new/postgis/system")), "/new-extensions/postgis/system");
        assert_eq!(l.job_path(&s("old/vector")), "/extensions/vector");
        assert!(l.is_old(&s("old/vector/lib/x.so")) && !l.is_old(&s("new/vector/lib/x.so")));
        assert_eq!(
            localise_setting(&l, "$libdir:/extensions/vector/lib"),
            format!("$libdir:{}", s("old/vector/lib"))
        );
    }
}
