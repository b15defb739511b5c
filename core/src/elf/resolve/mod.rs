//! Dependency resolution and symbol binding the way glibc's ld.so does them for `dlopen`.
//!
//! For each `DT_NEEDED` name, breadth-first over the closure and each name once
//! (`_dl_map_object_deps`):
//! 1. an object already loaded under that name or soname is reused (the postgres executable's own
//!    closure counts as loaded: it is mapped in every backend);
//! 2. a name containing `/` is opened as is (after `$ORIGIN`/`$LIB`/`$PLATFORM` expansion);
//! 3. otherwise the directories are tried in order: `DT_RPATH` of the loading object and then of its
//!    loaders (only while the loading object has no `DT_RUNPATH`; objects that have one are
//!    skipped), then the executable's `DT_RPATH`; `LD_LIBRARY_PATH`; the loading object's
//!    `DT_RUNPATH`; `/etc/ld.so.cache`; the system directories. The last two are skipped when the
//!    loading object has `DF_1_NODEFLIB`. A candidate of another class or machine is skipped (ld.so
//!    keeps searching); one that is not ELF at all is fatal.
//!
//! Then, for every newly loaded object: each version it requires (`.gnu.version_r`) must be
//! defined by the object loaded for that file, and every non-weak undefined symbol must be exported
//! by some loaded object (PostgreSQL dlopens with `RTLD_NOW`, so all are bound at load time).
//!
//! Not modelled: `glibc-hwcaps/` and legacy platform subdirectories of search directories (the
//! baseline copy is used), `LD_PRELOAD`, libraries other extensions loaded earlier into the same
//! backend, and empty `LD_LIBRARY_PATH` elements (meaning the working directory).
//!
//! Binding searches each object's `DT_GNU_HASH` or `DT_HASH` table, in load order, with glibc's
//! matching rules (see `symtab`), so only the symbols a reference hashes to are ever decoded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::dynamic::{DF_STATIC_TLS, DynamicTables, VersionNeed, parse_tables};
use super::file::{ElfError, ElfFile};
use super::header::{ByteOrder, ElfClass, ElfHeader, HostAbi};
use super::ldcache::{self, LdCache};
use super::reader::{ReadLimits, Reader};
use super::symtab::SymbolTable;
use crate::problem::{Code, Problem, Severity};

mod binding;

use binding::{check_static_tls, check_symbols, check_versions};

/// Where the dynamic loader of the server process looks for libraries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchConfig {
    /// The server's ABI.
    pub host: HostAbi,
    /// The postgres executable: it and its dependencies are already loaded in every backend, and
    /// its exported symbols are what extension libraries bind to (`palloc`, …). Without it, symbol
    /// binding is not checked.
    pub postgres_executable: Option<PathBuf>,
    /// `LD_LIBRARY_PATH` of the postmaster (CloudNativePG sets it from `ld_library_path`).
    pub ld_library_path: Option<String>,
    /// The ld.so cache to consult (`None`: none).
    pub ld_so_cache: Option<PathBuf>,
    /// Trusted system directories, searched last.
    pub system_dirs: Vec<PathBuf>,
    /// Value of `$PLATFORM` in search paths.
    pub platform: String,
    /// Value of `$LIB` in search paths.
    pub lib: String,
    /// Read limits for every file.
    pub limits: ReadLimits,
    /// The root of another system's files (an unpacked server image): the absolute paths its
    /// objects name — `DT_RPATH`, `DT_RUNPATH`, `DT_NEEDED` with a slash, ld.so cache entries —
    /// are read below it. `LD_LIBRARY_PATH` and `postgres_executable` stay paths of this machine
    /// (a pre-flight mounts the images here). `None`: this machine's root.
    pub sysroot: Option<PathBuf>,
}

impl SearchConfig {
    /// Defaults for a host: the ld.so cache at its usual place, Debian-style multiarch and
    /// traditional system directories, no executable, no `LD_LIBRARY_PATH`.
    pub fn new(host: HostAbi) -> SearchConfig {
        let triplet = multiarch_triplet(&host);
        SearchConfig {
            host,
            postgres_executable: None,
            ld_library_path: None,
            ld_so_cache: Some(PathBuf::from(ldcache::DEFAULT_PATH)),
            system_dirs: default_system_dirs(&host),
            platform: host.machine_name().to_owned(),
            lib: match (triplet, host.class) {
                (Some(t), _) => format!("lib/{t}"),
                (None, ElfClass::Elf64) => "lib64".to_owned(),
                (None, ElfClass::Elf32) => "lib".to_owned(),
            },
            limits: ReadLimits::default(),
            sysroot: None,
        }
    }

    /// Defaults for another system unpacked at `root`: its ld.so cache and system directories.
    pub fn for_sysroot(host: HostAbi, root: &Path) -> SearchConfig {
        let mut config = SearchConfig::new(host);
        config.ld_so_cache = Some(below(root, ldcache::DEFAULT_PATH));
        config.system_dirs = config
            .system_dirs
            .iter()
            .map(|d| below(root, &d.to_string_lossy()))
            .collect();
        config.sysroot = Some(root.to_owned());
        config
    }

    /// The view of the running process: its ABI, its own executable (in a backend: postgres) and
    /// its `LD_LIBRARY_PATH` (inherited from the postmaster).
    pub fn for_this_process() -> SearchConfig {
        let mut config = SearchConfig::new(HostAbi::current());
        config.postgres_executable = std::fs::read_link("/proc/self/exe")
            .ok()
            .or_else(|| std::env::current_exe().ok());
        config.ld_library_path = std::env::var("LD_LIBRARY_PATH").ok();
        config
    }
}

/// Debian/Ubuntu multiarch triplet of a host (`x86_64-linux-gnu`), if known.
pub fn multiarch_triplet(host: &HostAbi) -> Option<&'static str> {
    Some(match (host.machine, host.class, host.byte_order) {
        (62, ElfClass::Elf64, _) => "x86_64-linux-gnu",
        (62, ElfClass::Elf32, _) => "x86_64-linux-gnux32",
        (3, _, _) => "i386-linux-gnu",
        (183, ElfClass::Elf64, ByteOrder::Little) => "aarch64-linux-gnu",
        (183, ElfClass::Elf64, ByteOrder::Big) => "aarch64_be-linux-gnu",
        (40, _, _) => "arm-linux-gnueabihf",
        (21, ElfClass::Elf64, ByteOrder::Little) => "powerpc64le-linux-gnu",
        (21, ElfClass::Elf64, ByteOrder::Big) => "powerpc64-linux-gnu",
        (22, ElfClass::Elf64, _) => "s390x-linux-gnu",
        (243, ElfClass::Elf64, _) => "riscv64-linux-gnu",
        (258, ElfClass::Elf64, _) => "loongarch64-linux-gnu",
        _ => return None,
    })
}

/// System directories: `/lib/<triplet>`, `/usr/lib/<triplet>` (Debian, Ubuntu), `/lib64`,
/// `/usr/lib64` for 64-bit hosts (Red Hat, SUSE), then `/lib`, `/usr/lib`. A distribution's ld.so
/// searches only its own subset; the others do not hold libraries there.
pub fn default_system_dirs(host: &HostAbi) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(t) = multiarch_triplet(host) {
        dirs.push(PathBuf::from(format!("/lib/{t}")));
        dirs.push(PathBuf::from(format!("/usr/lib/{t}")));
    }
    if host.class == ElfClass::Elf64 {
        dirs.push(PathBuf::from("/lib64"));
        dirs.push(PathBuf::from("/usr/lib64"));
    }
    dirs.push(PathBuf::from("/lib"));
    dirs.push(PathBuf::from("/usr/lib"));
    dirs
}

/// How a needed library was found (SQL shows it in snake case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum FoundVia {
    /// Already loaded under that name (in the server's closure or earlier in this one).
    AlreadyLoaded,
    /// The name contains `/` and was opened directly.
    Path,
    /// `DT_RPATH` of the loading object or one of its loaders.
    Rpath,
    /// `LD_LIBRARY_PATH`.
    LdLibraryPath,
    /// `DT_RUNPATH` of the loading object.
    Runpath,
    /// `/etc/ld.so.cache`.
    #[strum(serialize = "ld_so_cache")]
    LdCache,
    /// A system directory.
    SystemDir,
}

impl FoundVia {
    /// Snake-case name for SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One `DT_NEEDED` edge of the new objects and how it resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The name in `DT_NEEDED`.
    pub name: String,
    /// Path of the object that needs it.
    pub needed_by: String,
    /// The file that would be loaded, `None` if not found.
    pub path: Option<String>,
    /// How it was found.
    pub found_via: Option<FoundVia>,
    /// Whether that file is already loaded in every backend (part of the postgres closure).
    pub preloaded: bool,
}

/// What resolution and binding need from one object; the rest of the parse is dropped.
#[derive(Debug)]
pub(crate) struct ObjectFacts {
    path: PathBuf,
    /// Checked against the host again when a cached object is a candidate for another name.
    header: ElfHeader,
    soname: Option<String>,
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    has_runpath: bool,
    nodeflib: bool,
    version_needs: Vec<VersionNeed>,
    version_defs: HashSet<String>,
    has_verdef: bool,
    /// Searched by hash when other objects bind to this one.
    symbols: SymbolTable,
    /// Size of the TLS segment when the object uses the initial-exec TLS model (`DF_STATIC_TLS`).
    static_tls: Option<u64>,
    bytes_read: u64,
}

impl ObjectFacts {
    /// Libraries the object's own code opens with `dlopen()` and cannot do without: searched and
    /// checked after its `DT_NEEDED` entries, as if it named them (a library's `dlopen()` searches
    /// its own `DT_RUNPATH`, as ld.so does for its dependencies).
    pub(crate) fn also_opens(&mut self, names: &[String]) {
        for n in names {
            if !self.needed.contains(n) {
                self.needed.push(n.clone());
            }
        }
    }

    /// Keeps what resolution needs from a parsed object.
    pub(crate) fn new(path: &Path, file: &ElfFile, tables: DynamicTables) -> ObjectFacts {
        let DynamicTables {
            info: dynamic, symbols, ..
        } = tables;
        ObjectFacts {
            path: path.to_owned(),
            header: file.header,
            nodeflib: dynamic.nodeflib(),
            has_verdef: !dynamic.version_defs.is_empty(),
            version_defs: dynamic
                .version_defs
                .into_iter()
                .filter(|d| !d.base)
                .map(|d| d.name)
                .collect(),
            soname: dynamic.soname,
            needed: dynamic.needed,
            rpath: dynamic.rpath,
            runpath: dynamic.runpath,
            has_runpath: dynamic.has_runpath,
            version_needs: dynamic.version_needs,
            symbols,
            static_tls: (dynamic.flags & DF_STATIC_TLS != 0).then(|| {
                file.segments
                    .iter()
                    .filter(|s| s.p_type == PT_TLS)
                    .map(|s| s.memsz)
                    .max()
                    .unwrap_or(0)
            }),
            bytes_read: file.bytes_read(),
        }
    }

    /// Bytes read from the file to build these facts.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn origin(&self) -> Option<&Path> {
        self.path.parent()
    }
}

/// Identity of a file on disk, to notice a replaced file and to detect one file under two names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileKey {
    fn of(path: &Path) -> Option<FileKey> {
        let m = std::fs::metadata(path).ok()?;
        m.is_file().then(|| FileKey {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }
}

/// Why a file could not be used, kept as data so cached failures can be reported again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadFailure {
    pub code: Code,
    pub message: String,
}

impl LoadFailure {
    pub(crate) fn from_error(e: &ElfError) -> LoadFailure {
        let (code, message) = if e.is_not_elf() {
            (Code::NotElf, "invalid ELF header".to_owned())
        } else if e.is_truncated() {
            (Code::Truncated, format!("file too short: {e}"))
        } else {
            (Code::Unreadable, e.to_string())
        };
        LoadFailure { code, message }
    }
}

#[derive(Debug, Clone)]
struct Loaded {
    facts: Rc<ObjectFacts>,
    /// The object whose `DT_NEEDED` brought this one in (ld.so's `l_loader`), for the RPATH chain.
    loader: Option<usize>,
    preloaded: bool,
}

/// The objects of one simulated process, in load order (ld.so's namespace list).
#[derive(Debug, Clone, Default)]
struct LinkMap {
    objects: Vec<Loaded>,
    by_name: HashMap<String, usize>,
    by_file: HashMap<(u64, u64), usize>,
    main: Option<usize>,
}

impl LinkMap {
    fn push(&mut self, facts: Rc<ObjectFacts>, loader: Option<usize>, name: Option<&str>, preloaded: bool) -> usize {
        let index = self.objects.len();
        if let Some(name) = name {
            self.by_name.entry(name.to_owned()).or_insert(index);
        }
        if let Some(soname) = &facts.soname {
            self.by_name.entry(soname.clone()).or_insert(index);
        }
        self.by_name
            .entry(facts.path.to_string_lossy().into_owned())
            .or_insert(index);
        if let Some(key) = FileKey::of(&facts.path) {
            self.by_file.entry((key.dev, key.ino)).or_insert(index);
        }
        self.objects.push(Loaded {
            facts,
            loader,
            preloaded,
        });
        index
    }
}

/// Result of resolving the closure of one library.
#[derive(Debug, Clone, Default)]
pub struct Closure {
    /// Every `DT_NEEDED` edge of the library and of the objects it brings in.
    pub dependencies: Vec<Dependency>,
    /// Missing libraries, versions and symbols, in the order ld.so would meet them.
    pub problems: Vec<Problem>,
    /// Whether undefined symbols were checked (needs the postgres executable).
    pub symbols_checked: bool,
    /// Objects newly brought in (the library itself included).
    pub objects_loaded: usize,
}

/// `PT_TLS`: the thread-local storage template.
const PT_TLS: u32 = 7;

enum Resolved {
    Existing(usize),
    New(Rc<ObjectFacts>, FoundVia),
    NotFound { skipped: Vec<String> },
    Failed(LoadFailure, PathBuf),
}

/// Where the time of a [`Loader`] went, summed over its calls (for benchmarks and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoaderTimings {
    /// Opening and parsing files (cache misses), wherever it happened.
    pub parse: Duration,
    /// Walking `DT_NEEDED` (the postgres executable's closure included), parsing included.
    pub closure: Duration,
    /// Checking required versions against the providers' definitions.
    pub versions: Duration,
    /// Binding undefined symbols.
    pub symbols: Duration,
}

/// Resolves libraries against one server's environment, caching parsed files by path (a
/// replaced file is noticed through its inode, size and mtime).
#[derive(Debug)]
pub struct Loader {
    config: SearchConfig,
    ld_cache: Option<Result<LdCache, String>>,
    facts: HashMap<PathBuf, (FileKey, Result<Rc<ObjectFacts>, LoadFailure>)>,
    preload: Option<(LinkMap, Vec<Problem>)>,
    files_parsed: usize,
    bytes_read: u64,
    timings: LoaderTimings,
}

impl Loader {
    /// A loader for this configuration.
    pub fn new(config: SearchConfig) -> Loader {
        Loader {
            config,
            ld_cache: None,
            facts: HashMap::new(),
            preload: None,
            files_parsed: 0,
            bytes_read: 0,
            timings: LoaderTimings::default(),
        }
    }

    /// Where the time went so far.
    pub fn timings(&self) -> LoaderTimings {
        self.timings
    }

    /// The configuration.
    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Files parsed so far (cache misses).
    pub fn files_parsed(&self) -> usize {
        self.files_parsed
    }

    /// Bytes read from files so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The ld.so cache (read once), or why it is unusable.
    pub fn ld_cache(&mut self) -> Result<&LdCache, &str> {
        if self.ld_cache.is_none() {
            let loaded = match &self.config.ld_so_cache {
                None => Ok(LdCache::default()),
                Some(path) => LdCache::load(path, &self.config.host).map_err(|e| e.to_string()),
            };
            self.ld_cache = Some(loaded);
        }
        match self.ld_cache.as_ref() {
            Some(Ok(cache)) => Ok(cache),
            Some(Err(e)) => Err(e.as_str()),
            None => Err("not loaded"),
        }
    }

    /// Parses a file once per identity.
    pub(crate) fn facts_for(&mut self, path: &Path) -> Result<Rc<ObjectFacts>, LoadFailure> {
        let key = FileKey::of(path);
        if let Some(cached) = key.and_then(|key| self.cached(path, key)) {
            return cached;
        }
        self.parse(path, key, None)
    }

    /// What an earlier parse of this path found, if the file has not changed since.
    fn cached(&self, path: &Path, key: FileKey) -> Option<Result<Rc<ObjectFacts>, LoadFailure>> {
        match self.facts.get(path) {
            Some((cached_key, result)) if *cached_key == key => Some(result.clone()),
            _ => None,
        }
    }

    /// Parses a file (through `reader` when the caller opened it already) and caches the result
    /// under its identity.
    fn parse(
        &mut self,
        path: &Path,
        key: Option<FileKey>,
        reader: Option<Reader>,
    ) -> Result<Rc<ObjectFacts>, LoadFailure> {
        let start = Instant::now();
        let reader = match reader {
            Some(reader) => Ok(reader),
            None => Reader::open(path, self.config.limits).map_err(ElfError::from),
        };
        let result = reader
            .and_then(ElfFile::from_reader)
            .and_then(|mut file| {
                let tables = parse_tables(&mut file)?;
                Ok(Rc::new(ObjectFacts::new(path, &file, tables)))
            })
            .map_err(|e| LoadFailure::from_error(&e));
        self.files_parsed += 1;
        if let Ok(facts) = &result {
            self.bytes_read += facts.bytes_read;
        }
        if let Some(key) = key {
            self.facts.insert(path.to_owned(), (key, result.clone()));
        }
        self.timings.parse += start.elapsed();
        result
    }

    /// The postgres executable and its closure, loaded once.
    fn preloaded(&mut self) -> (LinkMap, Vec<Problem>) {
        if let Some(p) = &self.preload {
            return p.clone();
        }
        let mut map = LinkMap::default();
        let mut problems = Vec::new();
        if let Some(exe) = self.config.postgres_executable.clone() {
            match self.facts_for(&exe) {
                Ok(facts) => {
                    let main = map.push(facts, None, None, true);
                    map.main = Some(main);
                    let mut ignored = Vec::new();
                    let mut closure_problems = Vec::new();
                    let start = Instant::now();
                    self.load_deps(&mut map, main, true, &mut ignored, &mut closure_problems);
                    self.timings.closure += start.elapsed();
                    // The server runs, so these are artefacts of an incomplete view; keep them as warnings.
                    problems.extend(closure_problems.into_iter().map(|mut p| {
                        p.severity = Severity::Warning;
                        p.message = format!("in the postgres executable's own dependencies: {}", p.message);
                        p
                    }));
                }
                Err(f) => problems.push(
                    Problem::warning(
                        f.code,
                        format!("postgres executable \"{}\": {}", exe.display(), f.message),
                    )
                    .with_hint("Symbol binding is not checked without a readable postgres executable."),
                ),
            }
        }
        self.preload = Some((map.clone(), problems.clone()));
        (map, problems)
    }

    /// Resolves the closure of a parsed library as `dlopen` from the server would, and checks
    /// versions and symbols of every object it brings in.
    pub(crate) fn resolve(&mut self, root: Rc<ObjectFacts>) -> Closure {
        let (mut map, preload_problems) = self.preloaded();
        let symbols_checked = map.main.is_some();
        let mut closure = Closure {
            symbols_checked,
            ..Closure::default()
        };
        closure.problems.extend(preload_problems);
        let first_new = map.objects.len();
        let root_index = map.push(root, map.main, None, false);
        let start = Instant::now();
        self.load_deps(
            &mut map,
            root_index,
            false,
            &mut closure.dependencies,
            &mut closure.problems,
        );
        closure.objects_loaded = map.objects.len() - first_new;
        let versions_start = Instant::now();
        self.timings.closure += versions_start - start;
        check_versions(&map, first_new, &mut closure.problems);
        check_static_tls(&map, first_new, &mut closure.problems);
        let symbols_start = Instant::now();
        self.timings.versions += symbols_start - versions_start;
        if symbols_checked {
            check_symbols(&map, first_new, &mut closure.problems);
            self.timings.symbols += symbols_start.elapsed();
        } else {
            closure.problems.push(Problem::new(
                Code::UndefinedSymbol,
                Severity::Info,
                "undefined symbols were not checked: the postgres executable is unknown",
            ));
        }
        closure
    }

    /// Breadth-first over `DT_NEEDED`, each name once.
    fn load_deps(
        &mut self,
        map: &mut LinkMap,
        root: usize,
        preloading: bool,
        deps: &mut Vec<Dependency>,
        problems: &mut Vec<Problem>,
    ) {
        let mut queue = VecDeque::from([root]);
        while let Some(index) = queue.pop_front() {
            let facts = Rc::clone(&map.objects[index].facts);
            for name in &facts.needed {
                let resolved = self.resolve_name(map, index, name);
                let (path, found_via, preloaded) = match resolved {
                    Resolved::Existing(j) => {
                        map.by_name.entry(name.clone()).or_insert(j);
                        (
                            Some(map.objects[j].facts.path.clone()),
                            Some(FoundVia::AlreadyLoaded),
                            map.objects[j].preloaded,
                        )
                    }
                    Resolved::New(new, via) => {
                        if map.objects.len() >= self.config.limits.max_objects {
                            problems.push(Problem::error(
                                Code::Unreadable,
                                format!(
                                    "more than {} objects in the dependency closure; stopped",
                                    self.config.limits.max_objects
                                ),
                            ));
                            return;
                        }
                        let path = new.path.clone();
                        let j = map.push(new, Some(index), Some(name), preloading);
                        queue.push_back(j);
                        (Some(path), Some(via), preloading)
                    }
                    Resolved::NotFound { skipped } => {
                        let mut p = Problem::error(
                            Code::MissingLibrary,
                            if skipped.is_empty() {
                                format!("{name}: cannot open shared object file: No such file or directory")
                            } else {
                                format!("{name}: cannot open shared object file: wrong ELF class or machine")
                            },
                        )
                        .with_subject(name.clone())
                        .with_detail(format!("needed by {}", facts.path.display()));
                        if !skipped.is_empty() {
                            p.detail = Some(format!(
                                "needed by {}; skipped: {}",
                                facts.path.display(),
                                skipped.join("; ")
                            ));
                        }
                        problems.push(p);
                        (None, None, false)
                    }
                    Resolved::Failed(failure, path) => {
                        problems.push(
                            Problem::error(failure.code, format!("{}: {}", path.display(), failure.message))
                                .with_subject(name.clone())
                                .with_detail(format!("needed by {}", facts.path.display())),
                        );
                        (None, None, false)
                    }
                };
                if !preloading {
                    deps.push(Dependency {
                        name: name.clone(),
                        needed_by: facts.path.to_string_lossy().into_owned(),
                        path: path.map(|p| p.to_string_lossy().into_owned()),
                        found_via,
                        preloaded,
                    });
                }
            }
        }
    }

    fn resolve_name(&mut self, map: &LinkMap, loader: usize, name: &str) -> Resolved {
        if let Some(&j) = map.by_name.get(name) {
            return Resolved::Existing(j);
        }
        let loader_facts = Rc::clone(&map.objects[loader].facts);
        let mut skipped = Vec::new();
        if name.contains('/') {
            let Some(path) = self.expand_named(name, loader_facts.origin()) else {
                return Resolved::NotFound { skipped };
            };
            return match self.try_candidate(map, Path::new(&path), FoundVia::Path, &mut skipped) {
                Some(r) => r,
                None if skipped.is_empty() => Resolved::NotFound { skipped },
                // An explicit path of the wrong class is an error, not a reason to search on.
                None => Resolved::Failed(
                    LoadFailure {
                        code: Code::WrongClass,
                        message: skipped.join("; "),
                    },
                    PathBuf::from(path),
                ),
            };
        }

        let mut dirs: Vec<(String, FoundVia)> = Vec::new();
        if !loader_facts.has_runpath {
            let mut chain = Vec::new();
            let mut cursor = Some(loader);
            // Loader links point to earlier objects, so this ends; the bound is a second guard.
            while let Some(i) = cursor.filter(|_| chain.len() <= map.objects.len()) {
                chain.push(i);
                cursor = map.objects[i].loader;
            }
            if let Some(main) = map.main.filter(|m| !chain.contains(m)) {
                chain.push(main);
            }
            for i in chain {
                let f = &map.objects[i].facts;
                if !f.has_runpath {
                    for dir in &f.rpath {
                        if let Some(d) = self.expand_named(dir, f.origin()) {
                            dirs.push((d, FoundVia::Rpath));
                        }
                    }
                }
            }
        }
        let exe_origin = map.main.map(|m| Rc::clone(&map.objects[m].facts));
        for dir in split_ld_library_path(self.config.ld_library_path.as_deref().unwrap_or("")) {
            if let Some(d) = self.expand(dir, exe_origin.as_ref().and_then(|f| f.origin())) {
                dirs.push((d, FoundVia::LdLibraryPath));
            }
        }
        for dir in &loader_facts.runpath {
            if let Some(d) = self.expand_named(dir, loader_facts.origin()) {
                dirs.push((d, FoundVia::Runpath));
            }
        }
        for (dir, via) in dirs {
            let candidate = Path::new(&dir).join(name);
            if let Some(r) = self.try_candidate(map, &candidate, via, &mut skipped) {
                return r;
            }
        }
        if !loader_facts.nodeflib {
            let cached = self.ld_cache().ok().and_then(|c| c.lookup(name)).map(str::to_owned);
            let cached = cached.map(|p| match &self.config.sysroot {
                Some(root) => below(root, &p),
                None => PathBuf::from(p),
            });
            if let Some(path) = cached
                && let Some(r) = self.try_candidate(map, &path, FoundVia::LdCache, &mut skipped)
            {
                return r;
            }
            for dir in self.config.system_dirs.clone() {
                if let Some(r) = self.try_candidate(map, &dir.join(name), FoundVia::SystemDir, &mut skipped) {
                    return r;
                }
            }
        }
        Resolved::NotFound { skipped }
    }

    /// `None` to keep searching (absent, or another class/machine, noted in `skipped`).
    fn try_candidate(
        &mut self,
        map: &LinkMap,
        path: &Path,
        via: FoundVia,
        skipped: &mut Vec<String>,
    ) -> Option<Resolved> {
        let key = FileKey::of(path)?;
        if let Some(&j) = map.by_file.get(&(key.dev, key.ino)) {
            return Some(Resolved::Existing(j));
        }
        // A file parsed before (for another name, or by an earlier analysis) is not opened again.
        if let Some(cached) = self.cached(path, key) {
            return match cached {
                Ok(facts) => match self.config.host.check(&facts.header) {
                    Ok(()) => Some(Resolved::New(facts, via)),
                    Err(mismatch) => {
                        skipped.push(format!("{}: {mismatch}", path.display()));
                        None
                    }
                },
                Err(failure) => Some(Resolved::Failed(failure, path.to_owned())),
            };
        }
        let mut reader = match Reader::open(path, self.config.limits) {
            Ok(reader) => reader,
            Err(e) => return Some(Resolved::Failed(LoadFailure::from_error(&e.into()), path.to_owned())),
        };
        match ElfFile::read_header(&mut reader) {
            Err(e) => return Some(Resolved::Failed(LoadFailure::from_error(&e), path.to_owned())),
            Ok(h) => {
                if let Err(mismatch) = self.config.host.check(&h) {
                    skipped.push(format!("{}: {mismatch}", path.display()));
                    return None;
                }
            }
        }
        // The same open file is parsed: the header just checked is the header parsed.
        Some(match self.parse(path, Some(key), Some(reader)) {
            Ok(facts) => Resolved::New(facts, via),
            Err(f) => Resolved::Failed(f, path.to_owned()),
        })
    }

    fn expand(&self, s: &str, origin: Option<&Path>) -> Option<String> {
        expand_dst(s, origin, &self.config.platform, &self.config.lib)
    }

    /// [`Self::expand`] for a path an object names: an absolute one is read below the sysroot
    /// (`$ORIGIN` already expands to a path of this machine).
    fn expand_named(&self, s: &str, origin: Option<&Path>) -> Option<String> {
        let expanded = self.expand(s, origin)?;
        Some(match &self.config.sysroot {
            Some(root) if s.starts_with('/') => below(root, &expanded).to_string_lossy().into_owned(),
            _ => expanded,
        })
    }
}

/// `path` (absolute, of another system) read below `root`. Symbolic links inside are followed by
/// this machine's kernel: an absolute link target leaves the root (rare in library directories).
fn below(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// `LD_LIBRARY_PATH` elements: glibc splits at `:` and `;`; empty elements are dropped here.
fn split_ld_library_path(value: &str) -> impl Iterator<Item = &str> {
    value.split([':', ';']).filter(|s| !s.is_empty())
}

/// Expands `$ORIGIN`, `$LIB`, `$PLATFORM` (also `${…}`) like ld.so: without braces, the name must
/// be followed by `/` or the end. An element using `$ORIGIN` when the origin is unknown is dropped
/// (`None`). Other `$` sequences stay as they are.
pub fn expand_dst(s: &str, origin: Option<&Path>, platform: &str, lib: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        // glibc `is_dst`: `${NAME}`, or `$NAME` followed by the end or `/`.
        let (name, consumed) = ["ORIGIN", "PLATFORM", "LIB"]
            .into_iter()
            .find_map(|dst| {
                if let Some(braced) = after.strip_prefix('{') {
                    braced
                        .strip_prefix(dst)?
                        .starts_with('}')
                        .then_some((dst, dst.len() + 2))
                } else {
                    let tail = after.strip_prefix(dst)?;
                    (tail.is_empty() || tail.starts_with('/')).then_some((dst, dst.len()))
                }
            })
            .unwrap_or(("", 0));
        let value = match name {
            "ORIGIN" => Some(origin?.to_string_lossy().into_owned()),
            "PLATFORM" => Some(platform.to_owned()),
            "LIB" => Some(lib.to_owned()),
            _ => None,
        };
        match value {
            Some(v) if consumed > 0 => {
                out.push_str(&v);
                rest = &after[consumed..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::binding::{newest, split_version};
    use super::*;

    #[test]
    fn dst_expansion() {
        let origin = Path::new("/ext/lib");
        let cases = [
            ("$ORIGIN/../system", Some("/ext/lib/../system")),
            ("${ORIGIN}/x", Some("/ext/lib/x")),
            ("/usr/$LIB/foo", Some("/usr/lib/x86_64-linux-gnu/foo")),
            ("/opt/${PLATFORM}", Some("/opt/x86_64")),
            ("$ORIGINAL/x", Some("$ORIGINAL/x")),
            ("$ORIGIN.d/x", Some("$ORIGIN.d/x")),
            ("/a/$LIB", Some("/a/lib/x86_64-linux-gnu")),
            ("$ORIGIN", Some("/ext/lib")),
            ("/a/$/b", Some("/a/$/b")),
            ("${ORIGIN", Some("${ORIGIN")),
            ("$HOME/lib", Some("$HOME/lib")),
            ("trailing$", Some("trailing$")),
        ];
        for (input, want) in cases {
            assert_eq!(
                expand_dst(input, Some(origin), "x86_64", "lib/x86_64-linux-gnu").as_deref(),
                want,
                "{input}"
            );
        }
        assert_eq!(expand_dst("$ORIGIN/x", None, "p", "l"), None);
        assert_eq!(expand_dst("/plain", None, "p", "l").as_deref(), Some("/plain"));
    }

    #[test]
    fn version_families() {
        assert_eq!(split_version("GLIBC_2.38"), Some(("GLIBC", vec![2, 38])));
        assert_eq!(split_version("GLIBCXX_3.4.30"), Some(("GLIBCXX", vec![3, 4, 30])));
        assert_eq!(split_version("GLIBC_PRIVATE"), None);
        assert_eq!(split_version("libfoo.so.1"), None);
        let names = ["GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_2.4", "GLIBCXX_3.4", "GLIBC_PRIVATE"];
        assert_eq!(newest(names.iter().copied(), "GLIBC"), Some("GLIBC_2.34"));
        assert_eq!(newest(names.iter().copied(), "CXXABI"), None);
    }

    #[test]
    fn ld_library_path_splitting() {
        assert_eq!(
            split_ld_library_path("/a::/b;/c:").collect::<Vec<_>>(),
            vec!["/a", "/b", "/c"]
        );
    }

    #[test]
    fn system_dirs_follow_the_machine() {
        let x86 = HostAbi {
            class: ElfClass::Elf64,
            byte_order: ByteOrder::Little,
            machine: 62,
        };
        let arm = HostAbi { machine: 183, ..x86 };
        assert_eq!(
            default_system_dirs(&x86)[..2],
            [
                PathBuf::from("/lib/x86_64-linux-gnu"),
                PathBuf::from("/usr/lib/x86_64-linux-gnu")
            ]
        );
        assert_eq!(
            default_system_dirs(&arm)[1],
            PathBuf::from("/usr/lib/aarch64-linux-gnu")
        );
        assert_eq!(SearchConfig::new(x86).lib, "lib/x86_64-linux-gnu");
        assert_eq!(SearchConfig::new(arm).platform, "aarch64");
    }
}
