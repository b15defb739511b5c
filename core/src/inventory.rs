//! The inventory: the images under the extensions root, the extensions each provides, the
//! libraries PostgreSQL can load — what PostgreSQL 18 would use, and what it hides.
//!
//! Everything is read from the file system with the rules of `paths`, `control` and `scripts`;
//! nothing is hashed here (the caller hashes what it shows, with its cache) and nothing fails as
//! a whole: a broken item becomes a row with a [`Problem`].

use crate::codes::Code;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::control::{self, ControlFile, ControlKind};
use crate::fsinfo;
use crate::hash::{self, Cancelled, FileKey, HashCache, Sha256};
use crate::paths::{self, ElementProblem, LibraryRef, PathElement};
use crate::problem::Problem;
use crate::scripts::{self, ReferenceKind, ScriptKind, ScriptSet};
use crate::tree::escape_name;

/// Largest control file (primary or secondary) read: 1 MiB. PostgreSQL's are a few hundred
/// bytes; a larger one is the problem `file_too_large` and is not read at all.
pub const MAX_CONTROL_BYTES: u64 = 1 << 20;
/// Largest script read when looking for library references: 32 MiB (PostGIS's largest, with its
/// spatial reference data, is under 10 MiB). Larger is the problem `file_too_large`.
pub const MAX_SCRIPT_BYTES: u64 = 32 << 20;
/// Most script bytes read for one extension's library references: 256 MiB. Beyond it the
/// remaining scripts are not scanned (`references_incomplete`).
pub const MAX_SCRIPT_BYTES_PER_EXTENSION: u64 = 256 << 20;
/// Most entries read from one directory (a control or library directory, a script directory,
/// an image's `system/`): 50 000. Real extension directories hold a few hundred; a larger one is
/// the image problem `too_many_entries` and its contents are not listed.
pub const MAX_DIR_ENTRIES: usize = 50_000;

/// The error payload of a listing cut off at [`MAX_DIR_ENTRIES`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("more than {limit} entries in one directory")]
pub struct TooManyEntries {
    /// The limit in force.
    pub limit: usize,
}

fn too_many_entries(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<TooManyEntries>())
}

/// What the inventory is computed from: the session's settings and the server's directories.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `extension_control_path`, expanded.
    pub control: Vec<PathElement>,
    /// `dynamic_library_path`, expanded.
    pub library: Vec<PathElement>,
    /// `$libdir`.
    pub pkglibdir: String,
    /// `pgext.extensions_root`: each directory directly below it is one image ("" = none).
    pub extensions_root: String,
    /// The postmaster's `LD_LIBRARY_PATH`, split (CloudNativePG puts an image's `system/` there).
    pub ld_library_path: Vec<String>,
    /// The postmaster's `PATH`, split (CloudNativePG 1.29's `bin_path` adds an image's directories).
    pub path: Vec<String>,
    /// The postmaster's other environment variables, `(name, value)` (CloudNativePG 1.29's `env`
    /// sets some to directories of an image, e.g. PostGIS's `PROJ_DATA`).
    pub env: Vec<(String, String)>,
    /// Installed extensions of the current database: name → version.
    pub installed: HashMap<String, String>,
    /// Read every script of each visible extension for the libraries it names.
    pub with_references: bool,
    /// With `with_references`, read only the scripts of these extensions (`None`: all).
    pub references_for: Option<BTreeSet<String>>,
    /// Names of pinned images: each is a row even when nothing else mentions it.
    pub pinned: Vec<String>,
}

/// One mounted (or expected) extension image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Directory name under the root.
    pub name: String,
    /// `<root>/<name>`.
    pub root: String,
    /// The directory exists.
    pub mounted: bool,
    /// Image-relative directories on `extension_control_path` (e.g. `share/extension`).
    pub on_control_path: Vec<String>,
    /// Image-relative directories on `dynamic_library_path` (e.g. `lib`).
    pub on_library_path: Vec<String>,
    /// Image-relative directories on the postmaster's `LD_LIBRARY_PATH` (e.g. `system`).
    pub on_ld_library_path: Vec<String>,
    /// Image-relative directories on the postmaster's `PATH` (e.g. `bin`).
    pub on_path: Vec<String>,
    /// The postmaster's environment variables that point into the image, `NAME=value` by name
    /// (a value is a path or a `:`-separated list of them; one element inside the image counts).
    pub env: Vec<String>,
    /// Conventional directories the image has but no setting points at.
    pub not_on_path: Vec<String>,
    /// Extension rows (visible or not) found in the image.
    pub extension_count: usize,
    /// Library rows found in the image.
    pub library_count: usize,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

/// A library named by one of an extension's scripts, resolved with PostgreSQL's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptReference {
    /// Script file name.
    pub script: String,
    /// 1-based line.
    pub line: usize,
    /// `function` (`AS '…'`) or `load` (`LOAD '…'`).
    pub kind: ReferenceKind,
    /// The name PostgreSQL uses (after `MODULE_PATHNAME` substitution).
    pub name: String,
    /// The file it resolves to; `None` when nothing matches (PostgreSQL then tries `dlopen(name)`).
    pub resolved: Option<String>,
    /// Where the search raises instead (element position, problem).
    pub search_error: Option<(usize, ElementProblem)>,
}

/// One control file found on `extension_control_path`.
#[derive(Debug, Clone)]
pub struct Extension {
    /// Extension name (escaped if the file name is not UTF-8).
    pub name: String,
    /// Image it lives in, if under the extensions root.
    pub image: Option<String>,
    /// Found in the server's own `$system` directory.
    pub is_system: bool,
    /// Position of the `extension_control_path` element it was found through.
    pub position: usize,
    /// Full path of the primary control file.
    pub control_path: String,
    /// The script directory PostgreSQL 18 uses for it.
    pub script_dir: Option<String>,
    /// The control file as PostgreSQL reads it for the default version (secondary file merged);
    /// `None` when it cannot be read or parsed.
    pub control: Option<ControlFile>,
    /// Versions `pg_available_extension_versions()` lists, in its order.
    pub installable_versions: Vec<String>,
    /// The versions `CREATE EXTENSION` goes through for the default version: the first has an
    /// install script, each next one an update script. `None` when not installable.
    pub install_path: Option<Vec<String>>,
    /// Version installed in the current database (visible copy only).
    pub installed_version: Option<String>,
    /// Steps from the installed to the default version; `Some(vec![])` when equal.
    pub update_path: Option<Vec<String>>,
    /// The library `module_pathname` resolves to.
    pub module_library: Option<String>,
    /// Libraries the scripts name (only with [`Settings::with_references`], visible copies).
    pub references: Vec<ScriptReference>,
    /// PostgreSQL would use this copy: the first on the path that exists (`CREATE EXTENSION`).
    pub visible: bool,
    /// The first copy of this name in directory order: the one `pg_available_extensions` reads
    /// (and fails on, when it cannot be read or parsed).
    pub listed: bool,
    /// The control file PostgreSQL uses instead (for hidden copies).
    pub shadowed_by: Option<String>,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

/// Where a library row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// A `dynamic_library_path` directory (the position of its element).
    LibraryPath(usize),
    /// An image's `system/` directory (OS libraries).
    System,
}

/// One shared library PostgreSQL could load, or an image's OS library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// Full path.
    pub path: String,
    /// File name.
    pub basename: String,
    /// Image it lives in, if under the extensions root.
    pub image: Option<String>,
    /// Where it was found.
    pub source: LibrarySource,
    /// Size in bytes (following symlinks); `None` when it cannot be examined.
    pub size: Option<u64>,
    /// SHA-256 of the content, once [`hash_libraries`] ran; `None` when it could not be read.
    pub sha256: Option<Sha256>,
    /// An earlier library with the same name on `dynamic_library_path`, which PostgreSQL loads
    /// instead of this one.
    pub shadowed_by: Option<String>,
    /// Visible extensions that name it (`module_pathname` or a script).
    pub referenced_by: Vec<String>,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

/// Everything found.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Images under the root, and images the settings name that are not there; sorted by name.
    pub images: Vec<Image>,
    /// Control files in path order (then by name).
    pub extensions: Vec<Extension>,
    /// Library-path libraries in path order (then by name), then images' system libraries.
    pub libraries: Vec<Library>,
    /// Directories that could not be listed although they exist (too many entries, I/O errors),
    /// with the problem to show on the image they belong to.
    failed_listings: BTreeMap<String, Problem>,
}

/// How much an inventory reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Everything.
    Full,
    /// The image rows only (see [`Inventory::image_rows`]).
    Images,
}

/// A directory entry's name: UTF-8, or escaped for display with the raw name kept for opening it.
#[derive(Clone)]
struct Name {
    text: String,
    utf8: bool,
    raw: std::ffi::OsString,
}

/// Lists a directory, refusing (with [`TooManyEntries`]) one of more than [`MAX_DIR_ENTRIES`].
fn list_dir(dir: &str) -> std::io::Result<Vec<Name>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if out.len() >= MAX_DIR_ENTRIES {
            return Err(std::io::Error::other(TooManyEntries { limit: MAX_DIR_ENTRIES }));
        }
        let raw = entry.file_name();
        match raw.to_str() {
            Some(s) => out.push(Name {
                text: s.to_string(),
                utf8: true,
                raw: raw.clone(),
            }),
            None => out.push(Name {
                text: escape_name(raw.as_bytes()),
                utf8: false,
                raw: raw.clone(),
            }),
        }
    }
    Ok(out)
}

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

/// Resolves library names with PostgreSQL's rules for one inventory: each answer is remembered
/// per (name, rule), and each searched directory is listed once, so that thousands of
/// `AS 'MODULE_PATHNAME'` references cost a handful of `stat`s rather than one per element each.
struct Resolver<'s> {
    settings: &'s Settings,
    /// Names in each directory; `None` where it cannot be listed (then `stat` decides).
    dirs: HashMap<String, Option<HashSet<std::ffi::OsString>>>,
    memo: HashMap<(String, LibraryRef), paths::Resolution>,
}

impl<'s> Resolver<'s> {
    fn new(settings: &'s Settings) -> Self {
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

    fn resolve(&mut self, name: &str, how: LibraryRef) -> paths::Resolution {
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

/// `pg_file_exists()`: `stat()` succeeds and it is not a directory.
pub fn pg_file_exists(path: &str) -> bool {
    fs::metadata(path).map(|m| !m.is_dir()).unwrap_or(false)
}

/// Reads a control file or script of an image: never blocking on a FIFO or device, never more
/// than `cap` bytes ([`fsinfo::read_untrusted`]).
fn read_capped(path: &str, cap: u64) -> std::io::Result<Vec<u8>> {
    fsinfo::read_untrusted(Path::new(path), cap)
}

/// What PostgreSQL itself does with a file pgext refused to read, for the problem message.
fn refusal_consequence(e: &std::io::Error) -> &'static str {
    match fsinfo::refused(e) {
        Some(fsinfo::Refused::NotRegular { what: "FIFO" }) => {
            "; PostgreSQL would block reading it, uninterruptibly (not even pg_terminate_backend ends the wait)"
        }
        Some(fsinfo::Refused::NotRegular { .. }) => "; PostgreSQL would read a device or fail",
        Some(fsinfo::Refused::PseudoFile { .. }) => "; PostgreSQL would read the server's own state",
        _ => "",
    }
}

/// The image a directory belongs to: the first component below `root`.
pub fn image_of(dir: &str, root: &str) -> Option<(String, String)> {
    if root.is_empty() {
        return None;
    }
    let rest = dir.strip_prefix(root)?.strip_prefix('/')?;
    let (name, sub) = match rest.split_once('/') {
        Some((n, s)) => (n, s),
        None => (rest, ""),
    };
    if name.is_empty() {
        return None;
    }
    Some((name.to_string(), sub.to_string()))
}

/// A script directory's UTF-8 names, or a problem code and message.
type ScriptDirListing = Result<Vec<String>, (Code, String)>;

/// What a backend may keep between inventories: the library references found in each script,
/// keyed by the script's identity, so unchanged scripts are not read and scanned again.
#[derive(Default)]
pub struct ReadCache {
    references: HashMap<(String, FileKey), Vec<scripts::LibraryReference>>,
    /// Directory listings by directory identity (adding, removing or renaming an entry changes
    /// the directory's mtime and ctime).
    listings: HashMap<String, (FileKey, Vec<Name>)>,
    /// Parsed primary control files (or PostgreSQL's error message) by file identity.
    controls: HashMap<(String, FileKey), Result<ControlFile, String>>,
    /// Script sets by script directory identity and extension name.
    script_sets: HashMap<(String, FileKey, String), ScriptSet>,
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

fn settled(key: &FileKey) -> bool {
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
    fn list_dir(&mut self, dir: &str) -> std::io::Result<Vec<Name>> {
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

impl Inventory {
    /// Reads everything. Never fails: what cannot be read becomes a problem on its row.
    pub fn collect(settings: &Settings) -> Inventory {
        Inventory::collect_cached(settings, &mut ReadCache::default())
    }

    /// [`Inventory::collect`], reusing what `cache` remembers of unchanged scripts.
    pub fn collect_cached(settings: &Settings, cache: &mut ReadCache) -> Inventory {
        let inv = Inventory::collect_to(settings, cache, Depth::Full);
        #[cfg(test)]
        assert_eq!(
            Inventory::image_rows(settings, &mut ReadCache::default()),
            inv.images,
            "the image rows alone must be those of the whole inventory"
        );
        inv
    }

    /// Only the image rows of [`Inventory::collect`]: the directories are listed as for the
    /// whole inventory, but no control file, script or library is opened or `stat`ed and no
    /// module name is resolved — what `mounted_images` needs on every query (the counts and
    /// the paths' coverage), at a fraction of the cost. Equal to `collect(..).images`
    /// (asserted on every inventory the tests take).
    pub fn image_rows(settings: &Settings, cache: &mut ReadCache) -> Vec<Image> {
        Inventory::collect_to(settings, cache, Depth::Images).images
    }

    fn collect_to(settings: &Settings, cache: &mut ReadCache, depth: Depth) -> Inventory {
        let root = paths::canonicalize_path(&settings.extensions_root);
        let root = if root == "/" || root == "." {
            String::new()
        } else {
            root
        };
        let mut inv = Inventory::default();
        let mut script_dirs: HashMap<String, ScriptDirListing> = HashMap::new();
        let mut resolver = Resolver::new(settings);
        inv.collect_extensions(settings, &root, &mut script_dirs, cache, &mut resolver, depth);
        inv.collect_libraries(settings, &root, cache, depth);
        if depth == Depth::Full {
            inv.link_references();
        }
        inv.collect_images(settings, &root, cache);
        inv
    }

    fn collect_extensions(
        &mut self,
        settings: &Settings,
        root: &str,
        script_dirs: &mut HashMap<String, ScriptDirListing>,
        cache: &mut ReadCache,
        resolver: &mut Resolver<'_>,
        depth: Depth,
    ) {
        // name → index of the copy PostgreSQL uses.
        let mut visible: HashMap<String, usize> = HashMap::new();
        let mut listed: BTreeSet<String> = BTreeSet::new();
        // The first element at which a control-file lookup raises ("not an absolute path").
        let mut raising: Option<usize> = None;
        for e in &settings.control {
            if matches!(e.problem, Some(ElementProblem::Duplicate)) {
                continue;
            }
            if matches!(e.problem, Some(ElementProblem::Relative)) && raising.is_none() {
                raising = Some(e.position);
            }
            let Some(dir) = e.searched.as_deref() else { continue };
            if fsinfo::probe_dir(Path::new(dir)).problem().is_some() {
                continue; // reported by extension_paths and on the image
            }
            let mut names = match cache.list_dir(dir) {
                Ok(names) => names,
                Err(err) => {
                    self.listing_failed(dir, &err);
                    continue;
                }
            };
            names.sort_by(|a, b| a.text.cmp(&b.text));
            for n in names {
                let Some(name) = n.text.strip_suffix(".control") else {
                    continue;
                };
                if name.contains("--") {
                    continue; // a secondary control file
                }
                let control_path = format!("{dir}/{}", n.text);
                let mut ext = Extension {
                    name: name.to_string(),
                    image: image_of(dir, root).map(|(i, _)| i),
                    is_system: e.is_system(),
                    position: e.position,
                    control_path: control_path.clone(),
                    script_dir: None,
                    control: None,
                    installable_versions: Vec::new(),
                    install_path: None,
                    installed_version: None,
                    update_path: None,
                    module_library: None,
                    references: Vec::new(),
                    visible: false,
                    listed: listed.insert(name.to_string()),
                    shadowed_by: None,
                    problems: Vec::new(),
                };
                if depth == Depth::Images {
                    self.extensions.push(ext); // a row of its image: counted, not read
                    continue;
                }
                let real_path = Path::new(dir).join(&n.raw);
                if !n.utf8 {
                    ext.problems.push(Problem::error(
                        Code::NonUtf8Name,
                        "the control file's name is not valid UTF-8; the extension cannot be named in SQL",
                    ));
                }
                match visible.get(name) {
                    Some(&i) => ext.shadowed_by = Some(self.extensions[i].control_path.clone()),
                    None if fs::metadata(&real_path).map(|m| !m.is_dir()).unwrap_or(false) && n.utf8 => {
                        ext.visible = true;
                        visible.insert(name.to_string(), self.extensions.len());
                    }
                    None => {}
                }
                if ext.visible
                    && let Some(pos) = raising
                    && pos < e.position
                {
                    ext.problems.push(Problem::error(
                        Code::PathError,
                        format!(
                            "CREATE EXTENSION fails before reaching this file: element {pos} of extension_control_path \
                             is not an absolute path"
                        ),
                    ));
                }
                if ext.visible && e.problem == Some(ElementProblem::Relative) {
                    ext.problems.push(Problem::error(
                        Code::PathError,
                        format!("found through relative element {}: CREATE EXTENSION fails", e.position),
                    ));
                }
                read_extension(&mut ext, &real_path, dir, settings, script_dirs, cache, resolver);
                self.extensions.push(ext);
            }
        }
        if depth == Depth::Images {
            return;
        }
        // `requires` must name an extension PostgreSQL can find.
        let names: BTreeSet<String> = visible.keys().cloned().collect();
        for ext in self.extensions.iter_mut().filter(|x| x.visible) {
            let Some(c) = &ext.control else { continue };
            for r in &c.requires {
                if !names.contains(r) && !settings.installed.contains_key(r) {
                    ext.problems.push(Problem::error(
                        Code::RequiresMissing,
                        format!("requires extension \"{r}\", which is neither available nor installed"),
                    ));
                }
            }
        }
    }

    fn collect_libraries(&mut self, settings: &Settings, root: &str, cache: &mut ReadCache, depth: Depth) {
        let mut first_by_name: HashMap<String, String> = HashMap::new();
        for e in &settings.library {
            if e.problem.is_some() {
                continue; // errors and duplicates: nothing new to list
            }
            let Some(dir) = e.searched.as_deref() else { continue };
            let mut names = match cache.list_dir(dir) {
                Ok(names) => names,
                Err(err) => {
                    self.listing_failed(dir, &err);
                    continue;
                }
            };
            names.sort_by(|a, b| a.text.cmp(&b.text));
            for n in names.into_iter().filter(|n| n.text.ends_with(".so")) {
                let path = format!("{dir}/{}", n.text);
                let mut lib = library_row(
                    &path,
                    &n,
                    image_of(dir, root).map(|(i, _)| i),
                    LibrarySource::LibraryPath(e.position),
                    depth,
                );
                match first_by_name.get(&n.text) {
                    Some(first) => lib.shadowed_by = Some(first.clone()),
                    None if lib.problems.is_empty() => {
                        first_by_name.insert(n.text.clone(), path.clone());
                    }
                    None => {}
                }
                self.libraries.push(lib);
            }
        }
        // Images' OS libraries: not loadable by name, but what their modules link against.
        if root.is_empty() {
            return;
        }
        let Ok(mut images) = cache.list_dir(root) else { return };
        images.sort_by(|a, b| a.text.cmp(&b.text));
        for img in images.iter().filter(|i| i.utf8) {
            let dir = format!("{root}/{}/system", img.text);
            let mut names = match cache.list_dir(&dir) {
                Ok(names) => names,
                Err(err) => {
                    self.listing_failed(&dir, &err);
                    continue;
                }
            };
            names.sort_by(|a, b| a.text.cmp(&b.text));
            for n in names.into_iter().filter(|n| n.text.contains(".so")) {
                let path = format!("{dir}/{}", n.text);
                self.libraries.push(library_row(
                    &path,
                    &n,
                    Some(img.text.clone()),
                    LibrarySource::System,
                    depth,
                ));
            }
        }
    }

    /// Remembers a directory that exists but could not be listed, for its image's row. Missing,
    /// unreadable and non-directories are reported by `extension_paths` and stay quiet here.
    fn listing_failed(&mut self, dir: &str, err: &std::io::Error) {
        let problem = if too_many_entries(err) {
            Problem::error(
                Code::TooManyEntries,
                format!("{dir}: {err}; its contents are not examined (PostgreSQL still reads them all)"),
            )
        } else if matches!(
            err.raw_os_error(),
            Some(libc::ENOENT | libc::EACCES | libc::ENOTDIR | libc::EPERM)
        ) {
            return;
        } else {
            Problem::error(Code::DirectoryUnreadable, format!("cannot list {dir}: {err}"))
        };
        self.failed_listings.entry(dir.to_string()).or_insert(problem);
    }

    fn link_references(&mut self) {
        let mut by_path: HashMap<&str, BTreeSet<String>> = HashMap::new();
        for ext in self.extensions.iter().filter(|x| x.visible) {
            let refs = ext
                .module_library
                .iter()
                .chain(ext.references.iter().filter_map(|r| r.resolved.as_ref()));
            for p in refs {
                by_path.entry(p.as_str()).or_default().insert(ext.name.clone());
            }
        }
        let resolved: HashMap<String, Vec<String>> = by_path
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().collect()))
            .collect();
        for lib in &mut self.libraries {
            if let Some(names) = resolved.get(&lib.path) {
                lib.referenced_by = names.clone();
            }
        }
    }

    fn collect_images(&mut self, settings: &Settings, root: &str, cache: &mut ReadCache) {
        if root.is_empty() {
            return;
        }
        let mut images: BTreeMap<String, Image> = BTreeMap::new();
        let blank = |name: &str| Image {
            name: name.to_string(),
            root: format!("{root}/{name}"),
            mounted: false,
            on_control_path: Vec::new(),
            on_library_path: Vec::new(),
            on_ld_library_path: Vec::new(),
            on_path: Vec::new(),
            env: Vec::new(),
            not_on_path: Vec::new(),
            extension_count: 0,
            library_count: 0,
            problems: Vec::new(),
        };
        if let Ok(names) = cache.list_dir(root) {
            for n in names {
                let p = format!("{root}/{}", n.text);
                if n.utf8 && fs::metadata(&p).map(|m| m.is_dir()).unwrap_or(false) {
                    images.insert(n.text.clone(), blank(&n.text));
                }
            }
        }
        for name in &settings.pinned {
            images.entry(name.clone()).or_insert_with(|| blank(name));
        }
        let mut note = |dir: &str, pick: fn(&mut Image) -> &mut Vec<String>| {
            if let Some((name, sub)) = image_of(dir, root) {
                let img = images.entry(name.clone()).or_insert_with(|| blank(&name));
                let list = pick(img);
                if !list.contains(&sub) {
                    list.push(sub);
                }
            }
        };
        for e in &settings.control {
            if let Some(d) = &e.searched {
                note(d, |i| &mut i.on_control_path);
            }
        }
        for e in &settings.library {
            if let Some(d) = &e.searched {
                note(d, |i| &mut i.on_library_path);
            }
        }
        for d in &settings.ld_library_path {
            note(&paths::canonicalize_path(d), |i| &mut i.on_ld_library_path);
        }
        for d in &settings.path {
            note(&paths::canonicalize_path(d), |i| &mut i.on_path);
        }
        let mut env: Vec<_> = settings.env.iter().collect();
        env.sort();
        for (var, value) in env {
            // One entry per image however many elements of a `:` list point into it.
            let named: BTreeSet<String> = value
                .split(':')
                .filter(|e| e.starts_with('/'))
                .filter_map(|e| image_of(&paths::canonicalize_path(e), root).map(|(name, _)| name))
                .collect();
            if named.is_empty() {
                continue;
            }
            let entry = format!("{var}={value}");
            for name in named {
                let img = images.entry(name.clone()).or_insert_with(|| blank(&name));
                img.env.push(entry.clone());
            }
        }
        for img in images.values_mut() {
            img.mounted = fs::metadata(&img.root).map(|m| m.is_dir()).unwrap_or(false);
            img.extension_count = self
                .extensions
                .iter()
                .filter(|x| x.image.as_deref() == Some(&img.name))
                .count();
            img.library_count = self
                .libraries
                .iter()
                .filter(|l| l.image.as_deref() == Some(&img.name))
                .count();
            check_image(img, cache);
            for (dir, p) in &self.failed_listings {
                if image_of(dir, root).is_some_and(|(name, _)| name == img.name) && !img.problems.contains(p) {
                    img.problems.push(p.clone());
                }
            }
        }
        self.images = images.into_values().collect();
    }
}

/// Hashes every examinable library, in parallel, reusing and filling `cache`: a file whose
/// identity (device, inode, size, mtime, ctime) did not change is not read again.
pub fn hash_libraries(
    libs: &mut [Library],
    cache: &mut HashCache,
    threads: usize,
    cancel: &dyn Fn() -> bool,
) -> Result<(), Cancelled> {
    let mut pending: Vec<(usize, FileKey)> = Vec::new();
    for (i, lib) in libs.iter_mut().enumerate() {
        if lib.size.is_none() || !lib.problems.is_empty() {
            continue; // already known unreadable or not a file
        }
        let Ok(meta) = fs::metadata(&lib.path) else { continue };
        let key = FileKey::from_metadata(&meta);
        match cache.get(&key) {
            Some(d) => lib.sha256 = Some(d),
            None => pending.push((i, key)),
        }
    }
    let jobs = pending.iter().map(|(i, _)| libs[*i].path.clone().into()).collect();
    let results = hash::hash_files(jobs, threads, cancel)?;
    for ((i, before), result) in pending.into_iter().zip(results) {
        let lib = &mut libs[i];
        match result {
            Ok((digest, _)) => {
                lib.sha256 = Some(digest);
                // Cache only what provably did not change while it was read.
                if let Ok(meta) = fs::metadata(&lib.path)
                    && FileKey::from_metadata(&meta) == before
                {
                    cache.insert(before, digest);
                }
            }
            Err(err) => lib.problems.push(Problem::error(
                fsinfo::problem_code(&err, Code::Unreadable),
                format!("cannot read the file: {err}"),
            )),
        }
    }
    Ok(())
}

/// A library row; with `Depth::Images` only its place (the file is not examined).
fn library_row(path: &str, n: &Name, image: Option<String>, source: LibrarySource, depth: Depth) -> Library {
    let mut lib = Library {
        path: path.to_string(),
        basename: n.text.clone(),
        image,
        source,
        size: None,
        sha256: None,
        shadowed_by: None,
        referenced_by: Vec::new(),
        problems: Vec::new(),
    };
    if depth == Depth::Images {
        return lib;
    }
    if !n.utf8 {
        lib.problems
            .push(Problem::warning(Code::NonUtf8Name, "the file name is not valid UTF-8"));
    }
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => lib.problems.push(Problem::error(
            Code::NotAFile,
            "a directory where a library should be: PostgreSQL skips it",
        )),
        Ok(m) if !m.is_file() => lib.problems.push(Problem::error(
            Code::NotRegularFile,
            format!(
                "a {} where a library should be: loading it blocks or fails, and pgext does not open it",
                fsinfo::kind_name(m.file_type())
            ),
        )),
        Ok(m) => {
            lib.size = Some(m.len());
            if !fsinfo::access(Path::new(path), libc::R_OK).unwrap_or(false) {
                lib.problems
                    .push(Problem::error(Code::Unreadable, "the server cannot read this file"));
            }
        }
        Err(err) => {
            let code = match err.raw_os_error() {
                Some(libc::ELOOP) => Code::SymlinkLoop,
                Some(libc::ENOENT) => Code::DanglingSymlink,
                _ => Code::Unreadable,
            };
            lib.problems
                .push(Problem::error(code, format!("cannot examine the file: {err}")));
        }
    }
    lib
}

fn check_image(img: &mut Image, cache: &mut ReadCache) {
    let used = !img.on_control_path.is_empty() || !img.on_library_path.is_empty();
    if !img.mounted {
        img.problems.push(Problem::error(
            Code::NotMounted,
            format!(
                "{} does not exist but the settings or a pin name it: PostgreSQL skips missing directories \
                 silently, so this image's extensions are simply unavailable",
                img.root
            ),
        ));
        return;
    }
    let mut has = |sub: &str, pred: &dyn Fn(&str) -> bool| -> bool {
        cache
            .list_dir(&format!("{}/{sub}", img.root))
            .map(|names| names.iter().any(|n| pred(&n.text)))
            .unwrap_or(false)
    };
    if !img.on_control_path.iter().any(|d| d == "share/extension")
        && has("share/extension", &|n| n.ends_with(".control"))
    {
        img.not_on_path.push("share/extension".to_string());
    }
    if !img.on_library_path.iter().any(|d| d == "lib") && has("lib", &|n| n.ends_with(".so")) {
        img.not_on_path.push("lib".to_string());
    }
    if !img.on_ld_library_path.iter().any(|d| d == "system") && has("system", &|_| true) {
        img.not_on_path.push("system".to_string());
    }
    for d in &img.not_on_path {
        let what = match d.as_str() {
            "share/extension" => "its control files are not on extension_control_path: PostgreSQL does not see them",
            "lib" => "its libraries are not on dynamic_library_path: only absolute references can load them",
            _ => "its OS libraries are not on the postmaster's LD_LIBRARY_PATH: modules that need them fail to load",
        };
        img.problems
            .push(Problem::warning(Code::NotOnPath, format!("{d}/: {what}")));
    }
    if !used && img.not_on_path.is_empty() {
        img.problems
            .push(Problem::info(Code::UnusedImage, "no setting points into this image"));
    }
}

/// Parses the control file and everything that follows from it.
fn read_extension(
    ext: &mut Extension,
    real_path: &Path,
    control_dir: &str,
    settings: &Settings,
    script_dirs: &mut HashMap<String, ScriptDirListing>,
    cache: &mut ReadCache,
    resolver: &mut Resolver<'_>,
) {
    // pg_available_extensions reads the first-listed copy of each name and fails on it when it
    // cannot be read; CREATE EXTENSION skips copies that do not exist. A copy neither reads can
    // be broken without consequence.
    let listed = ext.listed;
    // Read and parse failures: fatal for the first-listed copy (pg_available_extensions).
    let unreadable = |p: Problem| {
        let mut p = p;
        if !listed {
            p.severity = crate::problem::Severity::Warning;
        } else if !p.message.contains("pg_available_extensions") {
            p.message
                .push_str(" (pg_available_extensions fails while this file is first on the path)");
        }
        p
    };
    // Everything else matters only for the copy CREATE EXTENSION uses.
    let visible = ext.visible;
    let sev = |p: Problem| {
        let mut p = p;
        if !visible {
            p.severity = crate::problem::Severity::Warning;
        }
        p
    };
    let control_key = fs::metadata(real_path)
        .ok()
        .filter(|m| !m.is_dir())
        .map(|m| FileKey::from_metadata(&m));
    let cached = control_key.and_then(|k| cache.controls.get(&(ext.control_path.clone(), k)).cloned());
    let bytes = match fs::metadata(real_path) {
        _ if cached.is_some() => Vec::new(),
        Ok(m) if m.is_dir() => {
            ext.problems.push(unreadable(Problem::error(
                Code::ControlNotAFile,
                "a directory where the control file should be",
            )));
            return;
        }
        _ => match fsinfo::read_untrusted(real_path, MAX_CONTROL_BYTES) {
            Ok(b) => b,
            // pgext's own cap: PostgreSQL reads it, with what outcome pgext cannot tell.
            Err(err) if matches!(fsinfo::refused(&err), Some(fsinfo::Refused::TooLarge { .. })) => {
                ext.problems.push(sev(Problem::warning(
                    Code::FileTooLarge,
                    format!("extension control file not read: {err}; PostgreSQL reads it, pgext does not"),
                )));
                return;
            }
            Err(err) => {
                ext.problems.push(unreadable(Problem::error(
                    fsinfo::problem_code(&err, Code::ControlUnreadable),
                    format!(
                        "could not read extension control file: {err}{}",
                        refusal_consequence(&err)
                    ),
                )));
                return;
            }
        },
    };
    let parsed = match cached {
        Some(c) => c,
        None => {
            let parsed =
                control::parse_control(&bytes, ControlKind::Primary).map_err(|e| e.pg_message(&ext.control_path));
            // Only what provably did not change while it was read.
            if let Some(k) = control_key
                && settled(&k)
                && fs::metadata(real_path)
                    .map(|m| FileKey::from_metadata(&m) == k)
                    .unwrap_or(false)
            {
                cache.controls.insert((ext.control_path.clone(), k), parsed.clone());
            }
            parsed
        }
    };
    let primary = match parsed {
        Ok(c) => c,
        Err(msg) => {
            let msg = if listed {
                format!("{msg} (pg_available_extensions and CREATE EXTENSION fail while this file is on the path)")
            } else {
                format!("{msg} (harmless while shadowed: PostgreSQL never reads it)")
            };
            ext.problems.push(unreadable(Problem::error(Code::ControlInvalid, msg)));
            return;
        }
    };
    let script_dir = scripts::script_directory(control_dir, primary.directory.as_deref());
    let dir_key = fs::metadata(&script_dir).ok().map(|m| FileKey::from_metadata(&m));
    let set_key = dir_key.map(|k| (script_dir.clone(), k, ext.name.clone()));
    let cached_set = set_key.as_ref().and_then(|k| cache.script_sets.get(k).cloned());
    let names = match &cached_set {
        Some(_) => Ok(Vec::new()),
        None => script_dirs
            .entry(script_dir.clone())
            .or_insert_with(|| match cache.list_dir(&script_dir) {
                Ok(n) => Ok(n.into_iter().filter(|n| n.utf8).map(|n| n.text).collect()),
                Err(err) if too_many_entries(&err) => Err((Code::TooManyEntries, err.to_string())),
                Err(err) => Err((Code::ScriptDirUnreadable, err.to_string())),
            })
            .clone(),
    };
    ext.script_dir = Some(script_dir.clone());
    let names = match names {
        Ok(n) => n,
        Err((code, err)) => {
            ext.problems.push(sev(Problem::error(
                code,
                format!("cannot list script directory {script_dir}: {err}"),
            )));
            ext.control = Some(primary);
            return;
        }
    };
    let set = match cached_set {
        Some(set) => set,
        None => {
            let set = ScriptSet::from_file_names(&ext.name, names.iter().map(String::as_str));
            if let (Some(k), Some(dk)) = (set_key, dir_key)
                && settled(&dk)
            {
                cache.script_sets.insert(k, set.clone());
            }
            set
        }
    };
    for p in set.problems() {
        ext.problems.push(Problem::warning(p.code(), p.to_string()));
    }
    ext.installable_versions = set.installable_versions().into_iter().map(|v| v.version).collect();

    // PostgreSQL reads the default version's secondary control file on top of the primary one.
    let mut control = primary;
    // Scripts already reported as not regular files (not to be reported twice).
    let mut flagged = Vec::new();
    if let Some(dv) = control.default_version.clone() {
        if let Some(file) = set.secondary_control_file(&dv) {
            let path = format!("{script_dir}/{file}");
            match read_capped(&path, MAX_CONTROL_BYTES) {
                Ok(b) => match control::merge_secondary(&control, &b) {
                    Ok(merged) => control = merged,
                    Err(e) => ext
                        .problems
                        .push(sev(Problem::error(Code::ControlInvalid, e.pg_message(&path)))),
                },
                Err(err) => ext.problems.push(sev(Problem::error(
                    fsinfo::problem_code(&err, Code::ControlUnreadable),
                    format!(
                        "could not read secondary control file {path}: {err}{}",
                        refusal_consequence(&err)
                    ),
                ))),
            }
        }
        ext.install_path = set.install_path(&dv);
        if let Some(steps) = ext.install_path.clone() {
            flagged = check_script_files(ext, &set, &script_dir, &steps);
        }
        // Too many versions to search: reported as such (above), not as "not installable".
        if ext.install_path.is_none() && !set.too_many_versions() {
            ext.problems.push(sev(Problem::error(
                Code::DefaultVersionNotInstallable,
                format!(
                    "no installation script nor update path for default version \"{dv}\" in {script_dir}: \
                         CREATE EXTENSION fails"
                ),
            )));
        }
    } else {
        ext.problems.push(sev(Problem::error(
            Code::NoDefaultVersion,
            "no default_version: CREATE EXTENSION fails unless VERSION is given",
        )));
    }

    if let Some(mp) = control.module_pathname.clone() {
        match resolver.resolve(&mp, LibraryRef::Function) {
            Ok(Some(f)) => ext.module_library = Some(f),
            // module_pathname loads nothing by itself (it is substituted for MODULE_PATHNAME
            // in scripts): a warning here; a script that loads it makes it an error in compat.
            Ok(None) => ext.problems.push(Problem::warning(
                Code::LibraryNotFound,
                format!("module_pathname '{mp}' matches no file on dynamic_library_path"),
            )),
            Err((pos, p)) => ext.problems.push(Problem::warning(
                Code::LibrarySearchError,
                format!("loading '{mp}' fails at element {pos} of dynamic_library_path ({p})"),
            )),
        }
    }

    if ext.visible {
        if let Some(installed) = settings.installed.get(&ext.name) {
            ext.installed_version = Some(installed.clone());
            if let Some(dv) = &control.default_version {
                ext.update_path = set.update_path(installed, dv);
                if ext.update_path.is_none() {
                    ext.problems.push(Problem::warning(
                        Code::NoUpdatePath,
                        format!("no update path from installed version \"{installed}\" to \"{dv}\""),
                    ));
                }
            }
        }
        if settings.with_references
            && !set.too_many_versions()
            && settings
                .references_for
                .as_ref()
                .is_none_or(|only| only.contains(&ext.name))
        {
            let (references, problems) = script_references(
                &set,
                &script_dir,
                control.module_pathname.as_deref(),
                &flagged,
                cache,
                resolver,
            );
            ext.references = references;
            ext.problems.extend(problems);
        }
    }
    ext.control = Some(control);
}

/// The scripts `CREATE EXTENSION` runs for the default version must be regular files:
/// PostgreSQL reads each whole, and a FIFO would block it for good. `stat` only; nothing is opened.
/// Returns the names of the files reported.
fn check_script_files(ext: &mut Extension, set: &ScriptSet, script_dir: &str, steps: &[String]) -> Vec<String> {
    let mut flagged = Vec::new();
    let mut files = Vec::new();
    if let Some(first) = steps.first() {
        files.push(set.install_script_name(first));
    }
    for pair in steps.windows(2) {
        files.push(set.update_script_name(&pair[0], &pair[1]));
    }
    for file in files {
        let path = format!("{script_dir}/{file}");
        if let Ok(m) = fs::metadata(&path)
            && !m.is_file()
        {
            let what = fsinfo::kind_name(m.file_type());
            let consequence = if m.file_type().is_fifo() {
                "CREATE EXTENSION would block reading it, uninterruptibly"
            } else {
                "CREATE EXTENSION cannot run it"
            };
            let p = Problem::error(
                Code::NotRegularFile,
                format!("script {file} is a {what}, not a regular file: {consequence}"),
            );
            ext.problems.push(if ext.visible {
                p
            } else {
                Problem::warning(p.code, p.message)
            });
            flagged.push(file);
        }
    }
    flagged
}

/// Library references of every script, with a problem for each script that could not be
/// scanned (refused, too large, unreadable) and when the per-extension byte budget ran out.
fn script_references(
    set: &ScriptSet,
    script_dir: &str,
    module_pathname: Option<&str>,
    already_reported: &[String],
    cache: &mut ReadCache,
    resolver: &mut Resolver<'_>,
) -> (Vec<ScriptReference>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut budget = MAX_SCRIPT_BYTES_PER_EXTENSION;
    let mut bytes = Vec::new();
    for f in set.files() {
        if matches!(f.kind, ScriptKind::SecondaryControl { .. }) || already_reported.contains(&f.file_name) {
            continue;
        }
        let path = format!("{script_dir}/{}", f.file_name);
        let Ok(meta) = fs::metadata(&path) else { continue };
        // The module_pathname is substituted into the references: part of the key.
        let key = (
            format!("{path}\0{}", module_pathname.unwrap_or("")),
            FileKey::from_metadata(&meta),
        );
        let refs = match cache.references.get(&key) {
            Some(r) => r.clone(),
            None => {
                if meta.len() > budget && meta.len() <= MAX_SCRIPT_BYTES {
                    problems.push(Problem::warning(
                        Code::ReferencesIncomplete,
                        format!(
                            "{}: more than {MAX_SCRIPT_BYTES_PER_EXTENSION} bytes of scripts; the rest were not \
                             scanned for the libraries they name",
                            f.file_name
                        ),
                    ));
                    break;
                }
                if let Err(err) = fsinfo::read_untrusted_into(Path::new(&path), MAX_SCRIPT_BYTES, &mut bytes) {
                    {
                        problems.push(Problem::warning(
                            fsinfo::problem_code(&err, Code::ScriptUnreadable),
                            format!(
                                "script {} cannot be scanned for the libraries it names: {err}{}",
                                f.file_name,
                                refusal_consequence(&err)
                            ),
                        ));
                        continue;
                    }
                }
                budget = budget.saturating_sub(bytes.len() as u64);
                let refs = scripts::library_references_in(&mut bytes, module_pathname);
                // Only what provably did not change while it was read.
                if fs::metadata(&path)
                    .map(|m| FileKey::from_metadata(&m) == key.1)
                    .unwrap_or(false)
                {
                    cache.references.insert(key, refs.clone());
                }
                refs
            }
        };
        for r in refs {
            let how = match r.kind {
                ReferenceKind::Function => LibraryRef::Function,
                ReferenceKind::Load => LibraryRef::Load,
            };
            let (resolved, search_error) = match resolver.resolve(&r.name, how) {
                Ok(f) => (f, None),
                Err(e) => (None, Some(e)),
            };
            out.push(ScriptReference {
                script: f.file_name.clone(),
                line: r.line,
                kind: r.kind,
                name: r.name,
                resolved,
                search_error,
            });
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use crate::testing::Tree;

    fn codes(p: &[Problem]) -> Vec<&'static str> {
        p.iter().map(|p| p.code.as_str()).collect()
    }

    #[test]
    fn visible_copies_shadowing_and_module_resolution() {
        let t = Tree::new();
        let ctl = "default_version = '1.1'\nmodule_pathname = '$libdir/vec'\ncomment = 'v'\n";
        let scripts = [
            (
                "vec--1.0.sql",
                "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;",
            ),
            ("vec--1.0--1.1.sql", "LOAD '$libdir/vec';"),
        ];
        t.ext("a", "vec", ctl, &scripts);
        t.ext("b", "vec", ctl, &scripts);
        t.write("ext/a/lib/vec.so", "elf");
        t.write("ext/b/lib/vec.so", "elf");
        fs::create_dir_all(t.p("share/extension")).unwrap();
        fs::create_dir_all(t.p("pkglib")).unwrap();
        let s = t.settings(
            "$system:@ext/a/share:@ext/b/share:@ext/ghost/share",
            "$libdir:@ext/a/lib:@ext/b/lib",
        );
        let inv = Inventory::collect(&s);
        assert_eq!(inv.extensions.len(), 2);
        let (a, b) = (&inv.extensions[0], &inv.extensions[1]);
        assert!(a.visible && !b.visible);
        assert_eq!(b.shadowed_by.as_deref(), Some(a.control_path.as_str()));
        assert_eq!(a.image.as_deref(), Some("a"));
        assert_eq!(a.installable_versions, vec!["1.0", "1.1"]);
        // `$libdir/vec` is stripped for functions: found through the path, in image a.
        assert_eq!(a.module_library.as_deref(), Some(t.p("ext/a/lib/vec.so").as_str()));
        assert!(a.problems.is_empty(), "{:?}", a.problems);
        // LOAD keeps `$libdir/`: only pkglibdir, where nothing is.
        let load = a.references.iter().find(|r| r.kind == ReferenceKind::Load).unwrap();
        assert_eq!((load.resolved.as_deref(), load.line), (None, 1));
        // Libraries: b's copy is shadowed by a's; a's is referenced by vec.
        let libs: Vec<_> = inv
            .libraries
            .iter()
            .map(|l| (l.basename.as_str(), l.image.as_deref()))
            .collect();
        assert_eq!(libs, vec![("vec.so", Some("a")), ("vec.so", Some("b"))]);
        assert_eq!(
            inv.libraries[1].shadowed_by.as_deref(),
            Some(t.p("ext/a/lib/vec.so").as_str())
        );
        assert_eq!(inv.libraries[0].referenced_by, vec!["vec".to_string()]);
        assert!(inv.libraries[1].referenced_by.is_empty());
        // Images: a and b mounted, ghost named by the path but absent.
        let imgs: Vec<_> = inv.images.iter().map(|i| (i.name.as_str(), i.mounted)).collect();
        assert_eq!(imgs, vec![("a", true), ("b", true), ("ghost", false)]);
        assert_eq!(inv.images[0].on_control_path, vec!["share/extension"]);
        assert_eq!(inv.images[0].on_library_path, vec!["lib"]);
        assert_eq!((inv.images[0].extension_count, inv.images[0].library_count), (1, 1));
        assert_eq!(codes(&inv.images[2].problems), vec!["not_mounted"]);
        // A pinned image is a row even when nothing else names it.
        let mut pinned = s.clone();
        pinned.pinned = vec!["pinned_only".into()];
        let inv = Inventory::collect(&pinned);
        let p = inv.images.iter().find(|i| i.name == "pinned_only").unwrap();
        assert!(!p.mounted);
        assert_eq!(codes(&p.problems), vec!["not_mounted"]);
    }

    #[test]
    fn broken_items_become_problems_not_missing_rows() {
        let t = Tree::new();
        t.ext(
            "x",
            "bad",
            "default_version = '1.0'\nbogus = 1\n",
            &[("bad--1.0.sql", "")],
        );
        t.ext("x", "nover", "comment = 'x'\n", &[]);
        t.ext(
            "x",
            "nolib",
            "default_version = '1.0'\nmodule_pathname = '$libdir/nolib'\n",
            &[("nolib--1.0.sql", "")],
        );
        t.ext(
            "x",
            "noscript",
            "default_version = '2.0'\n",
            &[("noscript--1.0.sql", "")],
        );
        t.ext(
            "x",
            "req",
            "default_version = '1'\nrequires = 'absent_ext'\n",
            &[("req--1.sql", "")],
        );
        fs::create_dir_all(t.p("ext/x/share/extension/dir.control")).unwrap();
        std::os::unix::fs::symlink("nowhere", t.p("ext/x/share/extension/dangling.control")).unwrap();
        std::os::unix::fs::symlink("loop.control", t.p("ext/x/share/extension/loop.control")).unwrap();
        fs::create_dir_all(t.p("ext/x/lib/dir.so")).unwrap();
        std::os::unix::fs::symlink("gone.so", t.p("ext/x/lib/dangling.so")).unwrap();
        let s = t.settings("@ext/x/share", "$libdir:@ext/x/lib");
        let inv = Inventory::collect(&s);
        let by: HashMap<&str, Vec<&str>> = inv
            .extensions
            .iter()
            .map(|e| (e.name.as_str(), codes(&e.problems)))
            .collect();
        assert_eq!(by["bad"], vec!["control_invalid"]);
        assert_eq!(by["nover"], vec!["no_default_version"]);
        assert_eq!(by["nolib"], vec!["library_not_found"]);
        assert_eq!(by["noscript"], vec!["default_version_not_installable"]);
        assert_eq!(by["req"], vec!["requires_missing"]);
        assert_eq!(by["dir"], vec!["control_not_a_file"]);
        assert_eq!(by["dangling"], vec!["dangling_symlink"]);
        assert_eq!(by["loop"], vec!["symlink_loop"]);
        let libs: HashMap<&str, Vec<&str>> = inv
            .libraries
            .iter()
            .map(|l| (l.basename.as_str(), codes(&l.problems)))
            .collect();
        assert_eq!(libs["dir.so"], vec!["not_a_file"]);
        assert_eq!(libs["dangling.so"], vec!["dangling_symlink"]);
    }

    fn mkfifo(path: &str) {
        let c = std::ffi::CString::new(path).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    /// Collects on a thread and fails instead of hanging when something blocks.
    fn collect_within_seconds(s: Settings) -> Inventory {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Inventory::collect(&s));
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("the inventory blocked on a hostile file")
    }

    #[test]
    fn hostile_files_are_refused_without_blocking() {
        let t = Tree::new();
        let d = "ext/h/share/extension";
        t.write(&format!("{d}/ok.control"), "default_version = '1'\n");
        t.write(&format!("{d}/ok--1.sql"), "-- fine\n");
        // A FIFO as the control file, as a secondary control file and as the install script.
        mkfifo(&t.p(&format!("{d}/x.control")));
        t.write(&format!("{d}/y.control"), "default_version = '1'\n");
        mkfifo(&t.p(&format!("{d}/y--1.sql")));
        t.write(&format!("{d}/z.control"), "default_version = '1'\n");
        t.write(&format!("{d}/z--1.sql"), "-- z\n");
        mkfifo(&t.p(&format!("{d}/z--1.control")));
        // Devices and /proc where control files and scripts should be.
        std::os::unix::fs::symlink("/dev/zero", t.p(&format!("{d}/zero.control"))).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", t.p(&format!("{d}/environ.control"))).unwrap();
        t.write(&format!("{d}/rand.control"), "default_version = '1'\n");
        std::os::unix::fs::symlink("/dev/urandom", t.p(&format!("{d}/rand--1.sql"))).unwrap();
        t.write(&format!("{d}/u.control"), "default_version = '1'\n");
        t.write(&format!("{d}/u--1.sql"), "-- u\n");
        mkfifo(&t.p(&format!("{d}/u--1--2.sql")));
        // A 50 MB control file and a 1 GB script, both sparse.
        t.write(&format!("{d}/huge.control"), "default_version = '1'\n");
        fs::File::options()
            .append(true)
            .open(t.p(&format!("{d}/huge.control")))
            .unwrap()
            .set_len(50 << 20)
            .unwrap();
        t.write(&format!("{d}/big.control"), "default_version = '1'\n");
        fs::File::create(t.p(&format!("{d}/big--1.sql")))
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        // Libraries: a FIFO, a device, a /proc file.
        fs::create_dir_all(t.p("ext/h/lib")).unwrap();
        mkfifo(&t.p("ext/h/lib/fifo.so"));
        std::os::unix::fs::symlink("/dev/zero", t.p("ext/h/lib/zero.so")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", t.p("ext/h/lib/environ.so")).unwrap();
        let s = t.settings("@ext/h/share", "$libdir:@ext/h/lib");
        let start = std::time::Instant::now();
        let mut inv = collect_within_seconds(s);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        let by: HashMap<&str, Vec<&str>> = inv
            .extensions
            .iter()
            .map(|e| (e.name.as_str(), codes(&e.problems)))
            .collect();
        assert_eq!(by["ok"], Vec::<&str>::new());
        assert_eq!(by["x"], vec!["not_regular_file"]);
        assert_eq!(by["y"], vec!["not_regular_file"]);
        assert_eq!(by["z"], vec!["not_regular_file"]);
        assert_eq!(by["zero"], vec!["not_regular_file"]);
        assert_eq!(by["environ"], vec!["not_regular_file"]);
        assert_eq!(by["rand"], vec!["not_regular_file"]);
        // A FIFO update script off the install path is found by the reference scan, unopened.
        assert_eq!(by["u"], vec!["not_regular_file"]);
        assert_eq!(
            inv.extensions.iter().find(|e| e.name == "u").unwrap().problems[0].severity,
            crate::problem::Severity::Warning
        );
        assert_eq!(by["huge"], vec!["file_too_large"]);
        assert_eq!(by["big"], vec!["file_too_large"]);
        let x = inv.extensions.iter().find(|e| e.name == "x").unwrap();
        assert!(x.visible, "PostgreSQL sees a FIFO as an existing control file");
        assert!(x.problems[0].message.contains("block"), "{}", x.problems[0].message);
        assert_eq!(x.problems[0].severity, crate::problem::Severity::Error);
        let huge = inv.extensions.iter().find(|e| e.name == "huge").unwrap();
        assert!(
            huge.problems[0].message.contains("52428800 bytes"),
            "{}",
            huge.problems[0].message
        );
        hash_libraries(&mut inv.libraries, &mut HashCache::new(), 2, &|| false).unwrap();
        let libs: HashMap<&str, Vec<&str>> = inv
            .libraries
            .iter()
            .map(|l| (l.basename.as_str(), codes(&l.problems)))
            .collect();
        assert_eq!(libs["fifo.so"], vec!["not_regular_file"]);
        assert_eq!(libs["zero.so"], vec!["not_regular_file"]);
        // /proc files look regular to stat: refused when opened for hashing.
        assert_eq!(libs["environ.so"], vec!["not_regular_file"]);
    }

    #[test]
    fn crowded_directories_are_an_image_problem() {
        let t = Tree::new();
        let d = t.p("ext/crowd/share/extension");
        fs::create_dir_all(&d).unwrap();
        fs::write(format!("{d}/crowd.control"), "default_version = '1'\n").unwrap();
        for i in 0..MAX_DIR_ENTRIES {
            fs::File::create(format!("{d}/crowd--{i}.sql")).unwrap();
        }
        t.ext("fine", "fine", "default_version = '1'\n", &[("fine--1.sql", "")]);
        let s = t.settings("@ext/crowd/share:@ext/fine/share", "$libdir");
        let start = std::time::Instant::now();
        let inv = Inventory::collect(&s);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            inv.extensions.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            vec!["fine"]
        );
        let crowd = inv.images.iter().find(|i| i.name == "crowd").unwrap();
        assert_eq!(codes(&crowd.problems), vec!["too_many_entries"]);
        assert!(
            crowd.problems[0].message.contains("50000"),
            "{}",
            crowd.problems[0].message
        );
    }

    #[test]
    fn listing_and_create_extension_pick_different_copies() {
        // A dangling first copy: pg_available_extensions reads (and fails on) it, while
        // CREATE EXTENSION skips it and uses the next copy that exists.
        let t = Tree::new();
        fs::create_dir_all(t.p("ext/a/share/extension")).unwrap();
        std::os::unix::fs::symlink("gone", t.p("ext/a/share/extension/dup.control")).unwrap();
        t.ext("b", "dup", "default_version = '1'\n", &[("dup--1.sql", "")]);
        let inv = Inventory::collect(&t.settings("@ext/a/share:@ext/b/share", "$libdir"));
        let (a, b) = (&inv.extensions[0], &inv.extensions[1]);
        assert!(a.listed && !a.visible);
        assert!(!b.listed && b.visible);
        assert_eq!(a.problems[0].code, Code::DanglingSymlink);
        assert_eq!(a.problems[0].severity, crate::problem::Severity::Error);
        assert!(
            a.problems[0].message.contains("pg_available_extensions fails"),
            "{}",
            a.problems[0].message
        );
        assert!(b.problems.is_empty(), "{:?}", b.problems);
    }

    #[test]
    fn script_directory_relative_to_basedir() {
        let t = Tree::new();
        t.write(
            "ext/d/share/extension/rel.control",
            "default_version = '1'\ndirectory = 'scripts'\n",
        );
        t.write("ext/d/share/scripts/rel--1.sql", "");
        let inv = Inventory::collect(&t.settings("@ext/d/share", "$libdir"));
        let e = &inv.extensions[0];
        assert_eq!(e.script_dir.as_deref(), Some(t.p("ext/d/share/scripts").as_str()));
        assert_eq!(e.installable_versions, vec!["1"]);
        assert!(e.problems.is_empty(), "{:?}", e.problems);
    }

    #[test]
    fn images_report_directories_no_setting_uses() {
        let t = Tree::new();
        t.ext("p", "p", "default_version = '1'\n", &[("p--1.sql", "")]);
        t.write("ext/p/lib/p.so", "x");
        t.write("ext/p/system/libgeos_c.so.1", "x");
        t.write("ext/q/share/extension/q.control", "default_version = '1'\n");
        let mut s = t.settings("@ext/p/share", "$libdir:@ext/p/lib");
        let inv = Inventory::collect(&s);
        let p = &inv.images[0];
        assert_eq!(p.not_on_path, vec!["system"]);
        assert_eq!(codes(&p.problems), vec!["not_on_path"]);
        assert_eq!(inv.images[1].not_on_path, vec!["share/extension"]);
        // With system/ on LD_LIBRARY_PATH, p is clean and its OS library is listed.
        s.ld_library_path = vec![t.p("ext/p/system/")];
        let inv = Inventory::collect(&s);
        assert!(inv.images[0].problems.is_empty(), "{:?}", inv.images[0].problems);
        assert_eq!(inv.images[0].on_ld_library_path, vec!["system"]);
        let sys: Vec<_> = inv
            .libraries
            .iter()
            .filter(|l| l.source == LibrarySource::System)
            .collect();
        assert_eq!(sys.len(), 1);
        assert_eq!(sys[0].basename, "libgeos_c.so.1");
    }

    /// CloudNativePG 1.29's `bin_path` and `env`: the postmaster's PATH and environment as each
    /// image sees them.
    #[test]
    fn images_show_path_and_environment_that_point_into_them() {
        let t = Tree::new();
        t.ext("p", "p", "default_version = '1'\n", &[("p--1.sql", "")]);
        t.write("ext/p/bin/raster2pgsql", "x");
        t.write("ext/p/share/proj/proj.db", "x");
        t.write("ext/q/share/extension/q.control", "default_version = '1'\n");
        let mut s = t.settings("@ext/p/share:@ext/q/share", "$libdir");
        s.path = vec!["/usr/bin".into(), t.p("ext/p/bin/"), t.p("ext/p/bin")];
        let gdal = format!("/usr/share/gdal:{}", t.p("ext/p/share/gdal"));
        s.env = vec![
            ("PROJ_DATA".into(), t.p("ext/p/share/proj")),
            ("GDAL_DATA".into(), gdal.clone()),
            ("HOME".into(), "/var/lib/postgresql".into()),
            ("RELATIVE".into(), "ext/p/share".into()),
        ];
        // Two elements into the same image: one entry.
        let search = format!("{}:{}", t.p("ext/p/share/a"), t.p("ext/p/bin"));
        s.env.push(("SEARCH".into(), search.clone()));
        let inv = Inventory::collect(&s);
        let p = inv.images.iter().find(|i| i.name == "p").unwrap();
        assert_eq!(p.on_path, vec!["bin"]);
        assert_eq!(
            p.env,
            vec![
                format!("GDAL_DATA={gdal}"),
                format!("PROJ_DATA={}", t.p("ext/p/share/proj")),
                format!("SEARCH={search}"),
            ]
        );
        let q = inv.images.iter().find(|i| i.name == "q").unwrap();
        assert!(q.on_path.is_empty() && q.env.is_empty());
        assert_eq!(inv.images.len(), 2);
        // An image named only by the environment gets its row (unmounted, like one named only by
        // a path setting: a failed mount shows).
        s.env.push(("X".into(), t.p("ext/r/data")));
        let inv = Inventory::collect(&s);
        let r = inv.images.iter().find(|i| i.name == "r").unwrap();
        assert!(!r.mounted);
        assert_eq!(r.env, vec![format!("X={}", t.p("ext/r/data"))]);
    }

    #[test]
    fn relative_element_breaks_lookups_after_it() {
        let t = Tree::new();
        t.ext("a", "late", "default_version = '1'\n", &[("late--1.sql", "")]);
        let inv = Inventory::collect(&t.settings("rel/share:@ext/a/share", "$libdir"));
        assert_eq!(codes(&inv.extensions[0].problems), vec!["path_error"]);
    }

    #[test]
    fn installed_versions_and_update_paths() {
        let t = Tree::new();
        t.ext(
            "a",
            "u",
            "default_version = '1.2'\n",
            &[("u--1.0.sql", ""), ("u--1.0--1.1.sql", ""), ("u--1.1--1.2.sql", "")],
        );
        t.ext("a", "stuck", "default_version = '2'\n", &[("stuck--2.sql", "")]);
        let mut s = t.settings("@ext/a/share", "$libdir");
        s.installed.insert("u".into(), "1.0".into());
        s.installed.insert("stuck".into(), "1".into());
        let inv = Inventory::collect(&s);
        let u = inv.extensions.iter().find(|e| e.name == "u").unwrap();
        assert_eq!(u.installed_version.as_deref(), Some("1.0"));
        assert_eq!(u.update_path, Some(vec!["1.1".to_string(), "1.2".to_string()]));
        let stuck = inv.extensions.iter().find(|e| e.name == "stuck").unwrap();
        assert_eq!(stuck.update_path, None);
        assert_eq!(codes(&stuck.problems), vec!["no_update_path"]);
    }

    #[test]
    fn libraries_are_hashed_once_per_identity() {
        let t = Tree::new();
        t.write("ext/a/lib/one.so", "abc");
        t.write("ext/a/lib/two.so", "");
        let s = t.settings("@ext/a/share", "$libdir:@ext/a/lib");
        let mut inv = Inventory::collect(&s);
        let mut cache = HashCache::new().with_racy_window(std::time::Duration::ZERO);
        hash_libraries(&mut inv.libraries, &mut cache, 2, &|| false).unwrap();
        assert_eq!(
            hash::to_hex(&inv.libraries[0].sha256.unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash::to_hex(&inv.libraries[1].sha256.unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!((cache.len(), cache.hits()), (2, 0));
        let mut again = Inventory::collect(&s);
        hash_libraries(&mut again.libraries, &mut cache, 2, &|| false).unwrap();
        assert_eq!(cache.hits(), 2);
        assert_eq!(again.libraries[0].sha256, inv.libraries[0].sha256);
        // A changed file has a new identity and is hashed again.
        t.write("ext/a/lib/one.so", "abd");
        let mut changed = Inventory::collect(&s);
        hash_libraries(&mut changed.libraries, &mut cache, 2, &|| false).unwrap();
        assert_ne!(changed.libraries[0].sha256, inv.libraries[0].sha256);
        // Cancellation is reported, not swallowed.
        let mut fresh = HashCache::new();
        assert!(hash_libraries(&mut changed.libraries, &mut fresh, 2, &|| true).is_err());
    }

    #[test]
    fn fingerprint_notices_changes_that_matter() {
        let t = Tree::new();
        t.ext("a", "fp", "default_version = '1'\n", &[("fp--1.sql", "")]);
        let s = t.settings("@ext/a/share", "$libdir");
        // Just written: too recent to trust (ctime cannot be set back, so wait it out below).
        assert!(Fingerprint::of(&Inventory::collect(&s), &s).is_none());
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let inv = Inventory::collect(&s);
        let fp = Fingerprint::of(&inv, &s).expect("settled");
        assert!(fp.len() >= 3 && fp.unchanged());
        // A new script changes the script directory; an edited control file changes itself.
        t.write("ext/a/share/extension/fp--1--2.sql", "");
        assert!(!fp.unchanged());
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let fp = Fingerprint::of(&Inventory::collect(&s), &s).expect("settled");
        t.write("ext/a/share/extension/fp.control", "default_version = '2'\n");
        assert!(!fp.unchanged());
    }

    #[test]
    fn references_can_be_limited_to_some_extensions() {
        let t = Tree::new();
        let sql = "CREATE FUNCTION f() RETURNS int AS '$libdir/x' LANGUAGE C;";
        t.ext("a", "one", "default_version = '1'\n", &[("one--1.sql", sql)]);
        t.ext("a", "two", "default_version = '1'\n", &[("two--1.sql", sql)]);
        let mut s = t.settings("@ext/a/share", "$libdir");
        let all = Inventory::collect(&s);
        assert!(all.extensions.iter().all(|e| e.references.len() == 1));
        s.references_for = Some(BTreeSet::from(["two".to_string()]));
        let some = Inventory::collect(&s);
        let refs: Vec<(&str, usize)> = some
            .extensions
            .iter()
            .map(|e| (e.name.as_str(), e.references.len()))
            .collect();
        assert_eq!(refs, vec![("one", 0), ("two", 1)]);
    }

    #[test]
    fn image_of_splits_on_components() {
        assert_eq!(
            image_of("/extensions/pgvector/share/extension", "/extensions"),
            Some(("pgvector".into(), "share/extension".into()))
        );
        assert_eq!(
            image_of("/extensions/pgvector", "/extensions"),
            Some(("pgvector".into(), String::new()))
        );
        assert_eq!(image_of("/extensionsx/a", "/extensions"), None);
        assert_eq!(image_of("/extensions", "/extensions"), None);
        assert_eq!(image_of("/other/a", ""), None);
    }
}
