//! Library names resolved with PostgreSQL's rules, once per name and rule per inventory.

use super::*;

/// Resolves library names with PostgreSQL's rules for one inventory: each answer is remembered
/// per (name, rule), and each searched directory is listed once, so that thousands of
/// `AS 'MODULE_PATHNAME'` references cost a handful of `stat`s rather than one per element each.
pub(super) struct Resolver<'s> {
    settings: &'s Settings,
    /// Names in each directory; `None` where it cannot be listed (then `stat` decides).
    dirs: HashMap<String, Option<HashSet<std::ffi::OsString>>>,
    memo: HashMap<(String, LibraryRef), paths::Resolution>,
}

impl<'s> Resolver<'s> {
    pub(super) fn new(settings: &'s Settings) -> Self {
        Resolver {
            settings,
            dirs: HashMap::new(),
            memo: HashMap::new(),
        }
    }

    /// `pg_file_exists`, answered from the directory listing when there is one.
    fn exists(dirs: &mut HashMap<String, Option<HashSet<std::ffi::OsString>>>, path: &str) -> bool {
        let Some((dir, file)) = path.rsplit_once('/') else {
            return pg_file_exists(path);
        };
        let names = dirs.entry(dir.to_string()).or_insert_with(|| {
            // A directory too large to hold in memory is answered by `stat` alone.
            let names: HashSet<_> = fs::read_dir(if dir.is_empty() { "/" } else { dir })
                .ok()?
                .take(MAX_DIR_ENTRIES + 1)
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            (names.len() <= MAX_DIR_ENTRIES).then_some(names)
        });
        match names {
            // Listed names may be directories or dangling links: confirm the few that match.
            Some(set) => set.contains(std::ffi::OsStr::new(file)) && pg_file_exists(path),
            None => pg_file_exists(path),
        }
    }

    pub(super) fn resolve(&mut self, name: &str, how: LibraryRef) -> paths::Resolution {
        if let Some(r) = self.memo.get(&(name.to_string(), how)) {
            return r.clone();
        }
        let lookup = paths::library_candidates(name, how, &self.settings.library, &self.settings.pkglibdir);
        let dirs = &mut self.dirs;
        let r = lookup.resolve(|p| Resolver::exists(dirs, p));
        self.memo.insert((name.to_string(), how), r.clone());
        r
    }
}
