//! The identity of what an inventory was read from, so unchanged rows can be reused.

use super::*;

/// The identity of every file and directory an inventory's extension rows were derived from:
/// when none changed (and the session's settings did not), the rows can be reused as they are.
///
/// Directories cover entries added, removed or renamed (control files, scripts, libraries);
/// control files and the libraries analysed are watched themselves. A script or OS library edited
/// in place, keeping its directory unchanged, is not noticed: `reset_hash_cache()` forgets all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    entries: Vec<(String, Option<FileKey>)>,
}

impl Fingerprint {
    /// Takes the fingerprint of what `inv` was read from. `None` when something is too recent to
    /// be trusted (within the racy window), so that nothing is reused that may still change unseen.
    pub fn of(inv: &Inventory, settings: &Settings) -> Option<Fingerprint> {
        Self::of_with(inv, settings, std::iter::empty())
    }

    /// [`Fingerprint::of`], also watching `extra` paths (each library a view hashed or analysed,
    /// the files and directories its dependencies resolved to).
    pub fn of_with(
        inv: &Inventory,
        settings: &Settings,
        extra: impl IntoIterator<Item = String>,
    ) -> Option<Fingerprint> {
        let mut paths: BTreeSet<String> = extra.into_iter().collect();
        for e in settings.control.iter().chain(settings.library.iter()) {
            if let Some(d) = &e.searched {
                paths.insert(d.clone());
            }
        }
        for x in &inv.extensions {
            paths.insert(x.control_path.clone());
            if let Some(d) = &x.script_dir {
                paths.insert(d.clone());
            }
            if let Some(l) = &x.module_library {
                paths.insert(l.clone());
            }
            for r in &x.references {
                if let Some(l) = &r.resolved {
                    paths.insert(l.clone());
                }
            }
            // A data file a script reads appearing, going or changing type changes the verdict.
            paths.extend(x.file_reads.iter().filter_map(|f| f.looked_up.clone()));
        }
        if !settings.extensions_root.is_empty() {
            paths.insert(settings.extensions_root.clone());
        }
        // OS libraries of images (`system/`) are found through LD_LIBRARY_PATH.
        paths.extend(settings.ld_library_path.iter().filter(|d| d.starts_with('/')).cloned());
        Self::of_paths(paths)
    }

    /// The fingerprint of `paths` as they are now; `None` when one changed within the racy
    /// window.
    pub fn of_paths(paths: impl IntoIterator<Item = String>) -> Option<Fingerprint> {
        let mut entries = Vec::new();
        for p in paths {
            let key = fs::metadata(&p).ok().map(|m| FileKey::from_metadata(&m));
            if key.as_ref().is_some_and(|k| !settled(k)) {
                return None;
            }
            entries.push((p, key));
        }
        Some(Fingerprint { entries })
    }

    /// Whether every watched path still has the identity it had.
    pub fn unchanged(&self) -> bool {
        self.entries
            .iter()
            .all(|(p, key)| fs::metadata(p).ok().map(|m| FileKey::from_metadata(&m)) == *key)
    }

    /// A fingerprint from watched paths and their identities (`None`: the path did not exist).
    pub fn from_entries(entries: Vec<(String, Option<FileKey>)>) -> Fingerprint {
        Fingerprint { entries }
    }

    /// The watched paths and their identities.
    pub fn entries(&self) -> &[(String, Option<FileKey>)] {
        &self.entries
    }

    /// Number of watched paths.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
