//! What a backend keeps between inventories: listings, control files, script sets and
//! references of files whose identity did not change.

use super::*;

/// A script directory's UTF-8 names, or a problem code and message.
pub(super) type ScriptDirListing = Result<Vec<String>, (Code, String)>;

/// What a backend may keep between inventories: the library references and server file reads
/// found in each script, keyed by the script's identity, so unchanged scripts are not read and
/// scanned again. (What the file reads find on the server is looked up afresh every time.)
#[derive(Default)]
pub struct ReadCache {
    pub(super) references: HashMap<(String, FileKey), scripts::ScriptScan>,
    /// Directory listings by directory identity (adding, removing or renaming an entry changes
    /// the directory's mtime and ctime).
    listings: HashMap<String, (FileKey, Vec<Name>)>,
    /// Parsed primary control files (or PostgreSQL's error message) by file identity.
    pub(super) controls: HashMap<(String, FileKey), Result<ControlFile, String>>,
    /// Script sets by script directory identity and extension name.
    pub(super) script_sets: HashMap<(String, FileKey, String), ScriptSet>,
    /// Directories looked up during the current collection: their identity and whether they are
    /// directories, or the OS error. One inventory looks up each image's `share/extension` for
    /// the path, its listing and its row (and a missing `system/` for its libraries and its
    /// row): once is enough. Cleared when a collection starts.
    seen: HashMap<String, Result<(FileKey, bool), i32>>,
    /// Directories whose listing failed during the current collection, with the OS error.
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
        self.begin_collection();
    }

    /// A collection starts: directories are looked up afresh.
    pub(super) fn begin_collection(&mut self) {
        self.seen.clear();
        self.failed.clear();
    }

    /// The identity of `dir` (followed) and whether it is a directory, looked up once per
    /// collection.
    fn identity(&mut self, dir: &str) -> std::io::Result<(FileKey, bool)> {
        if let Some(seen) = self.seen.get(dir) {
            return seen.map_err(std::io::Error::from_raw_os_error);
        }
        let found = fs::metadata(dir).map(|m| (FileKey::from_metadata(&m), m.is_dir()));
        match &found {
            Ok(k) => {
                self.seen.insert(dir.to_string(), Ok(*k));
            }
            Err(e) => {
                if let Some(code) = e.raw_os_error() {
                    self.seen.insert(dir.to_string(), Err(code));
                }
            }
        }
        found
    }

    /// [`fsinfo::probe_dir`]'s problem, with the directory looked up once per collection (and no
    /// `statfs`: whether it is read-only does not matter here).
    pub(super) fn dir_problem(&mut self, dir: &str) -> Option<fsinfo::DirProblem> {
        match self.identity(dir) {
            Err(_) => Some(fsinfo::DirProblem::Missing),
            Ok((_, false)) => Some(fsinfo::DirProblem::NotADirectory),
            Ok((_, true)) if !fsinfo::access(Path::new(dir), libc::R_OK | libc::X_OK).unwrap_or(false) => {
                Some(fsinfo::DirProblem::Unreadable)
            }
            Ok(_) => None,
        }
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
        let (key, _) = self.identity(dir)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_looked_up_once_per_collection() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let text = |p: &Path| p.to_str().unwrap().to_string();
        let mut cache = ReadCache::default();
        // The problem is the probe's, for each kind of path.
        for p in [
            dir.path().to_path_buf(),
            file.clone(),
            dir.path().join("absent"),
            file.join("x"),
        ] {
            cache.begin_collection();
            assert_eq!(
                cache.dir_problem(&text(&p)),
                fsinfo::probe_dir(&p).problem(),
                "{}",
                p.display()
            );
        }
        // Within a collection a directory is what it was first seen to be; the next sees anew.
        let sub = dir.path().join("sub");
        cache.begin_collection();
        assert_eq!(cache.dir_problem(&text(&sub)), Some(fsinfo::DirProblem::Missing));
        assert!(cache.list_dir(&text(&sub)).is_err());
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("a.control"), b"").unwrap();
        assert_eq!(cache.dir_problem(&text(&sub)), Some(fsinfo::DirProblem::Missing));
        assert!(cache.list_dir(&text(&sub)).is_err());
        cache.begin_collection();
        assert_eq!(cache.dir_problem(&text(&sub)), None);
        let names: Vec<String> = cache
            .list_dir(&text(&sub))
            .unwrap()
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(names, ["a.control"]);
    }
}
