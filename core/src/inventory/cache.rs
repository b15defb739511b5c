//! What a backend keeps between inventories: listings, control files, script sets and
//! references of files whose identity did not change.

use super::*;

/// A script directory's UTF-8 names, or a problem code and message.
pub(super) type ScriptDirListing = Result<Vec<String>, (Code, String)>;

/// What a backend may keep between inventories: the library references found in each script,
/// keyed by the script's identity, so unchanged scripts are not read and scanned again.
#[derive(Default)]
pub struct ReadCache {
    pub(super) references: HashMap<(String, FileKey), Vec<scripts::LibraryReference>>,
    /// Directory listings by directory identity (adding, removing or renaming an entry changes
    /// the directory's mtime and ctime).
    listings: HashMap<String, (FileKey, Vec<Name>)>,
    /// Parsed primary control files (or PostgreSQL's error message) by file identity.
    pub(super) controls: HashMap<(String, FileKey), Result<ControlFile, String>>,
    /// Script sets by script directory identity and extension name.
    pub(super) script_sets: HashMap<(String, FileKey, String), ScriptSet>,
    /// Directories that could not be listed during the current collection, with the OS error:
    /// one inventory looks up an image's missing `system/` for its libraries and again for its
    /// row, and once is enough. Cleared when a collection starts.
    failed: HashMap<String, i32>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("references", &self.references.len())
            .field("listings", &self.listings.len())
            .field("controls", &self.controls.len())
            .field("script_sets", &self.script_sets.len())
            .finish()
    }
}

/// Entries younger than this are not trusted to a cache: a change within the same timestamp
/// tick would not change the key.
const RACY_WINDOW_NS: i128 = 2_000_000_000;

pub(super) fn settled(key: &FileKey) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    key.mtime_ns.max(key.ctime_ns) < now - RACY_WINDOW_NS
}

impl ReadCache {
    /// Forgets everything.
    pub fn clear(&mut self) {
        self.references.clear();
        self.listings.clear();
        self.controls.clear();
        self.script_sets.clear();
        self.failed.clear();
    }

    /// A collection starts: directories are looked up afresh.
    pub(super) fn begin_collection(&mut self) {
        self.failed.clear();
    }

    /// Number of cached items.
    pub fn len(&self) -> usize {
        self.references.len() + self.listings.len() + self.controls.len() + self.script_sets.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `list_dir`, reusing the listing of an unchanged directory.
    pub(super) fn list_dir(&mut self, dir: &str) -> std::io::Result<Vec<Name>> {
        if let Some(&code) = self.failed.get(dir) {
            return Err(std::io::Error::from_raw_os_error(code));
        }
        let result = self.list_dir_uncached(dir);
        if let Err(e) = &result
            && let Some(code) = e.raw_os_error()
        {
            self.failed.insert(dir.to_string(), code);
        }
        result
    }

    fn list_dir_uncached(&mut self, dir: &str) -> std::io::Result<Vec<Name>> {
        let key = FileKey::from_metadata(&fs::metadata(dir)?);
        if let Some((k, names)) = self.listings.get(dir)
            && *k == key
        {
            return Ok(names.clone());
        }
        let names = list_dir(dir)?;
        if settled(&key) {
            self.listings.insert(dir.to_string(), (key, names.clone()));
        }
        Ok(names)
    }
}
