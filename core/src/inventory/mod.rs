//! The inventory: the images under the extensions root, the extensions each provides, the
//! libraries PostgreSQL can load — what PostgreSQL 18 would use, and what it hides.
//!
//! Everything is read from the file system with the rules of `paths`, `control` and `scripts`;
//! nothing is hashed here (the caller hashes what it shows, with its cache) and nothing fails as
//! a whole: a broken item becomes a row with a [`Problem`].
//!
//! This file: the rows and the order they are read in. `extensions.rs`, `libraries.rs` and
//! `images.rs`: each kind of row. `resolve.rs`: library names resolved as the server does.
//! `cache.rs` and `fingerprint.rs`: what a backend may reuse, and when.

mod cache;
mod datafiles;
mod extensions;
mod fingerprint;
mod images;
mod libraries;
mod resolve;

pub use cache::ReadCache;
pub use datafiles::{DataFileState, ScriptFileRead};
pub use fingerprint::Fingerprint;
pub use images::image_of;
pub use libraries::hash_libraries;

use cache::{ScriptDirListing, settled};
use resolve::Resolver;

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
    /// The data directory, the server's working directory: where a relative path a script
    /// reads (`COPY … FROM 'data.csv'`) is opened. `None` when not known (a pre-flight).
    pub data_directory: Option<String>,
    /// Where the server's `/` is on this machine: `None` for this machine's own root, an
    /// unpacked server image's directory for a pre-flight against it.
    pub server_root: Option<String>,
    /// Directories the server sees at another path than this machine does, `(server path,
    /// path here)`: a pre-flight's images, which CloudNativePG mounts at `/extensions/<name>`.
    /// They take precedence over `server_root`.
    pub server_mounts: Vec<(String, String)>,
    /// This process runs as the server's OS user (pgext inside the server): a file it cannot
    /// read, the server cannot either. Elsewhere only existence and type are judged.
    pub reads_as_server: bool,
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
    /// Server files the scripts read, looked up (with the references).
    pub file_reads: Vec<ScriptFileRead>,
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

/// `pg_file_exists()`: `stat()` succeeds and it is not a directory.
pub fn pg_file_exists(path: &str) -> bool {
    fs::metadata(path).map(|m| !m.is_dir()).unwrap_or(false)
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
        cache.begin_collection();
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

    /// The names in `dir` in byte order, or `None` (the failure remembered for its image's row).
    fn sorted_listing(&mut self, dir: &str, cache: &mut ReadCache) -> Option<Vec<Name>> {
        match cache.list_dir(dir) {
            Ok(mut names) => {
                names.sort_by(|a, b| a.text.cmp(&b.text));
                Some(names)
            }
            Err(err) => {
                self.listing_failed(dir, &err);
                None
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
