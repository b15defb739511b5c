//! Extension scripts: where they live, which versions they make installable, which scripts
//! `CREATE EXTENSION` and `ALTER EXTENSION ... UPDATE` would run, and which libraries a script
//! names.
//!
//! A port of PostgreSQL 18's `get_extension_script_directory()`, `get_ext_ver_list()`,
//! `get_ext_ver_info()`, `find_update_path()`, `find_install_path()`,
//! `get_available_versions_for_extension()` and `check_valid_version_name()`
//! (commands/extension.c), working on file names instead of a directory so it can be tested and
//! used without touching the file system.
//!
//! [`library_references`] is a heuristic SQL scanner, not a parser; its limits are listed there.

use crate::codes::Code;
use std::collections::HashMap;
use std::fmt;

/// The directory holding an extension's scripts and secondary control files.
///
/// `control_dir` is where the primary control file was found (an `extension_control_path`
/// element with `/extension` appended, or `<sharedir>/extension`). Without `directory` that is
/// the answer; an absolute `directory` is used as is; a relative one is joined, without any
/// normalisation, to the base directory: `control_dir` minus its trailing `/extension`.
pub fn script_directory(control_dir: &str, directory: Option<&str>) -> String {
    match directory {
        None => control_dir.to_owned(),
        Some(dir) if dir.starts_with('/') => dir.to_owned(),
        Some(dir) => format!("{}/{dir}", base_directory(control_dir)),
    }
}

/// `basedir` of `parse_extension_control_file()`: the control directory minus `/extension`.
///
/// The server asserts that every control directory ends in `/extension` (it appends it itself);
/// a directory that does not is returned unchanged.
pub fn base_directory(control_dir: &str) -> &str {
    control_dir.strip_suffix("/extension").unwrap_or(control_dir)
}

/// What is wrong with a version name, per `check_valid_version_name()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum VersionNameProblem {
    /// The name is empty.
    Empty,
    /// The name contains `--`.
    DoubleDash,
    /// The name starts or ends with `-`.
    DashAtEdge,
    /// The name contains `/`.
    DirectorySeparator,
}

impl VersionNameProblem {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// The server's `errdetail` text.
    pub fn detail(self) -> &'static str {
        match self {
            VersionNameProblem::Empty => "Version names must not be empty.",
            VersionNameProblem::DoubleDash => "Version names must not contain \"--\".",
            VersionNameProblem::DashAtEdge => "Version names must not begin or end with \"-\".",
            VersionNameProblem::DirectorySeparator => "Version names must not contain directory separator characters.",
        }
    }
}

/// A version name the server refuses as a `CREATE EXTENSION` / `ALTER EXTENSION` target.
/// `Display` is the server's message; [`VersionNameProblem::detail`] its detail line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid extension version name: \"{version}\"")]
pub struct VersionNameError {
    /// The rejected name.
    pub version: String,
    /// Why it is rejected.
    pub problem: VersionNameProblem,
}

/// `check_valid_version_name()`, checks in the server's order.
pub fn check_version_name(version: &str) -> Result<(), VersionNameError> {
    let problem = if version.is_empty() {
        VersionNameProblem::Empty
    } else if version.contains("--") {
        VersionNameProblem::DoubleDash
    } else if version.starts_with('-') || version.ends_with('-') {
        VersionNameProblem::DashAtEdge
    } else if version.contains('/') {
        VersionNameProblem::DirectorySeparator
    } else {
        return Ok(());
    };
    Err(VersionNameError {
        version: version.to_owned(),
        problem,
    })
}

/// What one file in the script directory is, for this extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptKind {
    /// `<ext>--<version>.sql`.
    Install {
        /// The version it installs.
        version: String,
    },
    /// `<ext>--<from>--<to>.sql`.
    Update {
        /// Version updated from.
        from: String,
        /// Version updated to.
        to: String,
    },
    /// `<ext>--<version>.control`.
    SecondaryControl {
        /// The version whose parameters it overrides.
        version: String,
    },
}

/// A file of the extension found in the script directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    /// The file name, as given.
    pub file_name: String,
    /// What the server makes of it.
    pub kind: ScriptKind,
}

/// A file that looks like one of the extension's but is ignored or unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptProblem {
    /// `<ext>--a--b--c.sql`: more than two versions; the server silently ignores the file.
    ExtraSeparator {
        /// The ignored file.
        file_name: String,
    },
    /// A version name the server refuses as a target. Like the server, the version stays in the
    /// graph (it is listed by `pg_available_extension_versions()` and can be a step of a path),
    /// but `CREATE EXTENSION ... VERSION` / `ALTER EXTENSION ... UPDATE TO` it fail.
    InvalidVersion {
        /// The file naming the version.
        file_name: String,
        /// The server's complaint.
        error: VersionNameError,
    },
    /// `<ext>--<version>.control` for a version no script mentions: never read.
    UnusedControlFile {
        /// The ignored file.
        file_name: String,
        /// The version in its name.
        version: String,
    },
    /// More versions than [`MAX_VERSIONS`]: the version graph is not searched (its searches cost
    /// time quadratic in the versions), so no install or update path is known.
    TooManyVersions {
        /// Versions named by the extension's scripts.
        count: usize,
    },
}

/// Most versions of one extension whose graph is searched: 1000. Real extensions name at most a
/// few hundred (PostGIS, with an update script from every release, about 150); the searches
/// (`pg_available_extension_versions()` order, install paths) cost O(versions × scripts).
pub const MAX_VERSIONS: usize = 1000;

impl ScriptProblem {
    /// Stable machine-readable code.
    pub fn code(&self) -> Code {
        match self {
            ScriptProblem::ExtraSeparator { .. } => Code::ExtraSeparator,
            ScriptProblem::InvalidVersion { .. } => Code::InvalidVersion,
            ScriptProblem::UnusedControlFile { .. } => Code::UnusedControlFile,
            ScriptProblem::TooManyVersions { .. } => Code::TooManyVersions,
        }
    }

    /// The file concerned.
    pub fn file_name(&self) -> &str {
        match self {
            ScriptProblem::ExtraSeparator { file_name }
            | ScriptProblem::InvalidVersion { file_name, .. }
            | ScriptProblem::UnusedControlFile { file_name, .. } => file_name,
            ScriptProblem::TooManyVersions { .. } => "",
        }
    }
}

impl fmt::Display for ScriptProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptProblem::ExtraSeparator { file_name } => {
                write!(f, "\"{file_name}\" names more than two versions and is ignored")
            }
            ScriptProblem::InvalidVersion { file_name, error } => {
                write!(f, "\"{file_name}\": {error}: {}", error.problem.detail())
            }
            ScriptProblem::UnusedControlFile { file_name, version } => {
                write!(
                    f,
                    "\"{file_name}\" is never read: no script mentions version \"{version}\""
                )
            }
            ScriptProblem::TooManyVersions { count } => write!(
                f,
                "the scripts name {count} versions, more than the {MAX_VERSIONS} pgext analyses: install and \
                 update paths are not known"
            ),
        }
    }
}

/// A version `pg_available_extension_versions()` lists, and how it is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableVersion {
    /// The version.
    pub version: String,
    /// The versions `CREATE EXTENSION ... VERSION` goes through: the first has an install script
    /// (`<ext>--<first>.sql`), each next one is reached by an update script
    /// (`<ext>--<previous>--<next>.sql`); the last is `version`.
    pub path: Vec<String>,
}

/// One vertex of the version graph (`ExtensionVersionInfo`).
#[derive(Debug, Clone)]
struct Vertex {
    name: String,
    /// Has an install script.
    installable: bool,
    /// Versions reachable through one update script, in file order.
    reachable: Vec<usize>,
}

/// Shortest paths from one start vertex: distance and chosen predecessor per vertex.
struct Paths {
    start: usize,
    dist: Vec<Option<usize>>,
    prev: Vec<Option<usize>>,
}

/// The extension's files in its script directory, and the version graph they define.
#[derive(Debug, Clone)]
pub struct ScriptSet {
    extension: String,
    /// In the server's `evi_list` order: first mention in file order.
    vertices: Vec<Vertex>,
    index: HashMap<String, usize>,
    files: Vec<ScriptFile>,
    problems: Vec<ScriptProblem>,
    /// More than [`MAX_VERSIONS`]: graph searches answer nothing.
    too_many_versions: bool,
}

impl ScriptSet {
    /// Classifies the names of the files in the script directory, as `get_ext_ver_list()` does.
    ///
    /// Only `<ext>--*.sql` and `<ext>--*.control` names concern the extension; others are
    /// skipped. The order of `names` matters only where the server's depends on `readdir()`
    /// order: the order of [`ScriptSet::installable_versions`]. Pass names in directory order to
    /// reproduce the server exactly.
    pub fn from_file_names<'a>(extension: &str, names: impl IntoIterator<Item = &'a str>) -> ScriptSet {
        let mut set = ScriptSet {
            extension: extension.to_owned(),
            vertices: Vec::new(),
            index: HashMap::new(),
            files: Vec::new(),
            problems: Vec::new(),
            too_many_versions: false,
        };
        let prefix = format!("{extension}--");
        let mut controls = Vec::new();
        for name in names {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                continue;
            };
            // The server takes the text after the last '.', which ".sql" / ".control" pins down.
            if let Some(versions) = rest.strip_suffix(".sql") {
                set.add_script(name, versions);
            } else if let Some(version) = rest.strip_suffix(".control") {
                controls.push((name, version));
            }
        }
        for (name, version) in controls {
            if !set.index.contains_key(version) {
                set.problems.push(ScriptProblem::UnusedControlFile {
                    file_name: name.to_owned(),
                    version: version.to_owned(),
                });
            }
            set.files.push(ScriptFile {
                file_name: name.to_owned(),
                kind: ScriptKind::SecondaryControl {
                    version: version.to_owned(),
                },
            });
        }
        if set.vertices.len() > MAX_VERSIONS {
            set.problems.push(ScriptProblem::TooManyVersions {
                count: set.vertices.len(),
            });
            set.too_many_versions = true;
        }
        set
    }

    /// Whether the graph has more than [`MAX_VERSIONS`] versions and is not searched: then
    /// [`ScriptSet::installable_versions`] is empty and every path is `None`.
    pub fn too_many_versions(&self) -> bool {
        self.too_many_versions
    }

    fn add_script(&mut self, file_name: &str, versions: &str) {
        let kind = match versions.split_once("--") {
            None => {
                let v = self.vertex(versions);
                if let Some(vertex) = self.vertices.get_mut(v) {
                    vertex.installable = true;
                }
                ScriptKind::Install {
                    version: versions.to_owned(),
                }
            }
            Some((_, to)) if to.contains("--") => {
                self.problems.push(ScriptProblem::ExtraSeparator {
                    file_name: file_name.to_owned(),
                });
                return;
            }
            Some((from, to)) => {
                let f = self.vertex(from);
                let t = self.vertex(to);
                if let Some(vertex) = self.vertices.get_mut(f) {
                    vertex.reachable.push(t);
                }
                ScriptKind::Update {
                    from: from.to_owned(),
                    to: to.to_owned(),
                }
            }
        };
        let named: Vec<&str> = match &kind {
            ScriptKind::Update { from, to } => vec![from, to],
            ScriptKind::Install { version } | ScriptKind::SecondaryControl { version } => vec![version],
        };
        for version in named {
            if let Err(error) = check_version_name(version) {
                self.problems.push(ScriptProblem::InvalidVersion {
                    file_name: file_name.to_owned(),
                    error,
                });
            }
        }
        self.files.push(ScriptFile {
            file_name: file_name.to_owned(),
            kind,
        });
    }

    /// `get_ext_ver_info()`: the vertex for a version, created at the end of the list if new.
    fn vertex(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.vertices.len();
        self.vertices.push(Vertex {
            name: name.to_owned(),
            installable: false,
            reachable: Vec::new(),
        });
        self.index.insert(name.to_owned(), i);
        i
    }

    /// The extension name the set was built for.
    pub fn extension(&self) -> &str {
        &self.extension
    }

    /// The extension's scripts and secondary control files, scripts in the order given, then
    /// control files. Ignored files are in [`ScriptSet::problems`] only.
    pub fn files(&self) -> &[ScriptFile] {
        &self.files
    }

    /// Files that are ignored by the server or name versions it refuses.
    pub fn problems(&self) -> &[ScriptProblem] {
        &self.problems
    }

    /// Every version named by a script, in the server's graph order.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.vertices.iter().map(|v| v.name.as_str())
    }

    /// Whether `<ext>--<version>.sql` exists.
    pub fn has_install_script(&self, version: &str) -> bool {
        self.index
            .get(version)
            .and_then(|&i| self.vertices.get(i))
            .is_some_and(|v| v.installable)
    }

    /// The name of the secondary control file for `version`, if there is one.
    pub fn secondary_control_file(&self, version: &str) -> Option<&str> {
        self.files.iter().find_map(|f| match &f.kind {
            ScriptKind::SecondaryControl { version: v } if v == version => Some(f.file_name.as_str()),
            _ => None,
        })
    }

    fn name(&self, i: usize) -> &str {
        self.vertices.get(i).map_or("", |v| v.name.as_str())
    }

    fn installable(&self, i: usize) -> bool {
        self.vertices.get(i).is_some_and(|v| v.installable)
    }

    /// `find_update_path()` from `start` to every vertex at once.
    ///
    /// All edges weigh 1, so the server's Dijkstra is a breadth-first search; its tie-break
    /// (among equally short routes, the predecessor whose name sorts first by `strcmp`) does not
    /// depend on visiting order, so the paths are the server's whatever the target. With
    /// `reject_indirect`, installable versions are treated as unreachable.
    fn shortest_paths(&self, start: usize, reject_indirect: bool) -> Paths {
        let n = self.vertices.len();
        let mut dist = vec![None; n];
        let mut prev: Vec<Option<usize>> = vec![None; n];
        if let Some(d) = dist.get_mut(start) {
            *d = Some(0);
        }
        let mut frontier = vec![start];
        let mut level = 0;
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for &u in &frontier {
                let Some(vertex) = self.vertices.get(u) else { continue };
                for &v in &vertex.reachable {
                    if reject_indirect && self.installable(v) {
                        continue;
                    }
                    match dist.get(v).copied().flatten() {
                        None => {
                            if let (Some(d), Some(p)) = (dist.get_mut(v), prev.get_mut(v)) {
                                *d = Some(level + 1);
                                *p = Some(u);
                                next.push(v);
                            }
                        }
                        Some(d) if d == level + 1 => {
                            if let Some(p) = prev.get_mut(v)
                                && p.is_some_and(|old| self.name(u) < self.name(old))
                            {
                                *p = Some(u);
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        Paths { start, dist, prev }
    }

    /// The path to `target` (start excluded), if reachable.
    fn path_to(&self, paths: &Paths, target: usize) -> Option<Vec<String>> {
        paths.dist.get(target).copied().flatten()?;
        let mut steps = Vec::new();
        let mut at = target;
        // Bounded by the vertex count, so a corrupt predecessor chain cannot loop forever.
        for _ in 0..=self.vertices.len() {
            if at == paths.start {
                steps.reverse();
                return Some(steps);
            }
            steps.push(self.name(at).to_owned());
            at = paths.prev.get(at).copied().flatten()?;
        }
        None
    }

    /// `find_install_path()` for every vertex: the chosen start version (with distance) for
    /// each target that has no install script but can be reached from one.
    ///
    /// Among start versions, the shortest path wins; on a tie the start whose name sorts
    /// *last* by `strcmp` (that is what the server's comparison does, whatever its comment says).
    fn install_starts(&self) -> Vec<Option<(usize, usize)>> {
        let mut best: Vec<Option<(usize, usize)>> = vec![None; self.vertices.len()];
        for start in (0..self.vertices.len()).filter(|&i| self.installable(i)) {
            let paths = self.shortest_paths(start, true);
            for (target, slot) in best.iter_mut().enumerate() {
                if self.installable(target) {
                    continue;
                }
                let Some(d) = paths.dist.get(target).copied().flatten() else {
                    continue;
                };
                let better = match *slot {
                    None => true,
                    Some((old_start, old_d)) => d < old_d || (d == old_d && self.name(old_start) < self.name(start)),
                };
                if better {
                    *slot = Some((start, d));
                }
            }
        }
        best
    }

    /// What `pg_available_extension_versions()` lists, in its order: each version with an
    /// install script (in graph order), each followed by the versions without one whose best
    /// install path starts there.
    pub fn installable_versions(&self) -> Vec<AvailableVersion> {
        if self.too_many_versions {
            return Vec::new();
        }
        let starts = self.install_starts();
        let mut out = Vec::new();
        for start in (0..self.vertices.len()).filter(|&i| self.installable(i)) {
            let start_name = self.name(start).to_owned();
            out.push(AvailableVersion {
                version: start_name.clone(),
                path: vec![start_name.clone()],
            });
            let targets: Vec<usize> = (0..self.vertices.len())
                .filter(|&t| starts.get(t).copied().flatten().is_some_and(|(s, _)| s == start))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let paths = self.shortest_paths(start, true);
            for target in targets {
                if let Some(steps) = self.path_to(&paths, target) {
                    let mut path = vec![start_name.clone()];
                    path.extend(steps);
                    out.push(AvailableVersion {
                        version: self.name(target).to_owned(),
                        path,
                    });
                }
            }
        }
        out
    }

    /// The versions `CREATE EXTENSION <ext> VERSION '<target>'` goes through: the first has
    /// the install script that runs, each next one is reached by an update script; the last is
    /// `target`. `None` where the server fails: an invalid version name
    /// ([`check_version_name`]) or "has no installation script nor update path".
    pub fn install_path(&self, target: &str) -> Option<Vec<String>> {
        if self.too_many_versions {
            return None;
        }
        check_version_name(target).ok()?;
        let &t = self.index.get(target)?;
        if self.installable(t) {
            return Some(vec![target.to_owned()]);
        }
        let mut best: Option<(usize, Vec<String>)> = None;
        for start in (0..self.vertices.len()).filter(|&i| self.installable(i)) {
            let Some(steps) = self.path_to(&self.shortest_paths(start, true), t) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((old_start, old)) => {
                    steps.len() < old.len() || (steps.len() == old.len() && self.name(*old_start) < self.name(start))
                }
            };
            if better {
                best = Some((start, steps));
            }
        }
        best.map(|(start, steps)| {
            let mut path = vec![self.name(start).to_owned()];
            path.extend(steps);
            path
        })
    }

    /// The update scripts `ALTER EXTENSION <ext> UPDATE TO '<to>'` runs from installed version
    /// `from`: each element is the version one script leads to (`from` itself excluded), so the
    /// scripts are `<ext>--<from>--<p0>.sql`, `<ext>--<p0>--<p1>.sql`, ... Empty when
    /// `from == to` (the server only says the version is already installed). `None` where the
    /// server fails: `to` is an invalid version name or there is no update path.
    pub fn update_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        if self.too_many_versions {
            return None;
        }
        check_version_name(to).ok()?;
        if from == to {
            return Some(Vec::new());
        }
        let (&f, &t) = (self.index.get(from)?, self.index.get(to)?);
        self.path_to(&self.shortest_paths(f, false), t)
    }

    /// The file name of the install script for `version`.
    pub fn install_script_name(&self, version: &str) -> String {
        format!("{}--{version}.sql", self.extension)
    }

    /// The file name of the update script from `from` to `to`.
    pub fn update_script_name(&self, from: &str, to: &str) -> String {
        format!("{}--{from}--{to}.sql", self.extension)
    }
}

/// How a script names a library; the server resolves the two differently (see dfmgr.c:
/// `load_external_function()` strips a leading `$libdir/`, `load_file()` does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ReferenceKind {
    /// `CREATE FUNCTION/PROCEDURE ... AS 'file' [, 'symbol'] LANGUAGE C`.
    Function,
    /// `LOAD 'file'`.
    Load,
}

impl ReferenceKind {
    /// Stable name used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A library named by an extension script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryReference {
    /// Function `AS` clause or `LOAD`.
    pub kind: ReferenceKind,
    /// The literal's value as written (SQL escapes resolved), e.g. `MODULE_PATHNAME`.
    pub raw: String,
    /// The file name the server uses: `raw` after the textual `MODULE_PATHNAME` substitution.
    /// `@extowner@`, `@extschema@` and `@extschema:<ext>@` are left as written: their values
    /// are only known when the script runs.
    pub name: String,
    /// The link symbol of `AS 'file', 'symbol'` (after substitution).
    pub symbol: Option<String>,
    /// The function or procedure name as written, for [`ReferenceKind::Function`].
    pub object: Option<String>,
    /// 1-based line of the file literal.
    pub line: usize,
    /// Found inside a `DO` block's PL/pgSQL body: it runs with the script, but possibly only
    /// under a condition (`IF ... THEN CREATE FUNCTION ...`).
    pub in_do_block: bool,
}

/// Finds the libraries a script names: `AS 'file'` / `AS 'file', 'symbol'` of
/// `CREATE [OR REPLACE] FUNCTION|PROCEDURE` with `LANGUAGE C`, and `LOAD 'file'`.
///
/// Prepared as `execute_extension_script()` does: lines starting with `\echo` are blanked, and
/// `MODULE_PATHNAME` is replaced by `module_pathname` (when set) wherever it occurs in a file
/// or symbol literal's source text, before escapes are resolved. The scanner knows SQL comments
/// (`--`, nested `/* */`), standard strings (`''`), `E''` escape strings, `U&''` strings,
/// dollar quoting, quoted identifiers and string continuation across newlines; keywords are
/// case-insensitive. A dollar-quoted body is one string, so text inside it is never a reference
/// (except as the `AS` literal of a C function, which is legal SQL).
///
/// Statements inside a `DO $$...$$` block (PL/pgSQL, the default) also run with the script, so
/// their `CREATE FUNCTION` and `LOAD` statements are reported too, marked
/// [`LibraryReference::in_do_block`] (hstore 1.1→1.2 creates its C functions this way). Function
/// bodies are never looked into: they run when the function is called, not with the script.
///
/// Not caught, by design of a scanner without a parser:
/// - SQL built at run time (`EXECUTE '...'`, `format()`), as PostGIS's upgrade scripts do;
/// - `DO` blocks in other languages or written as `'...'` strings, and `DO` inside `DO`;
/// - libraries named only in settings (`SET`/`ALTER SYSTEM ... shared_preload_libraries`);
/// - `SET standard_conforming_strings = off` inside a script (backslashes in `'...'` are then
///   read as literal), and `UESCAPE` clauses of `U&''` strings;
/// - a `module_pathname` containing quotes, `$` or newlines, which would change how the server
///   lexes the substituted script.
///
/// `LANGUAGE C` is an unquoted `c` in any case, or exactly `"c"` / `'c'`: the server does not
/// fold quoted language names, so `LANGUAGE 'C'` names a language that does not exist.
pub fn library_references(sql: &str, module_pathname: Option<&str>) -> Vec<LibraryReference> {
    library_references_in(&mut sql.as_bytes().to_vec(), module_pathname)
}

/// [`library_references`] of a script's bytes as read, without validating them as UTF-8 first
/// (names and strings are decoded lossily one by one) and blanking its `\echo` lines in place:
/// PostGIS's scripts are 8 MB each, and a copy or a validation pass of each is measurable.
pub fn library_references_in(text: &mut [u8], module_pathname: Option<&str>) -> Vec<LibraryReference> {
    scan_references(text, module_pathname, true)
}

/// [`library_references_in`] lexing every statement in full, for the fuzz target to hold the
/// skimming of statements that cannot matter to the same answers.
#[doc(hidden)]
pub fn library_references_unskimmed(text: &mut [u8], module_pathname: Option<&str>) -> Vec<LibraryReference> {
    scan_references(text, module_pathname, false)
}

fn scan_references(text: &mut [u8], module_pathname: Option<&str>, skim: bool) -> Vec<LibraryReference> {
    blank_echo_lines(text);
    let scan = Scan {
        text,
        lines: LineIndex::new(text),
        module_pathname,
        skim,
    };
    let mut out = Vec::new();
    scan.statements(0, text.len(), false, &mut out);
    out
}

/// One script being scanned.
struct Scan<'a> {
    text: &'a [u8],
    lines: LineIndex<'a>,
    module_pathname: Option<&'a str>,
    /// Skim statements whose first words rule them out (off only to test that it changes nothing).
    skim: bool,
}

impl Scan<'_> {
    /// Scans the statements in `text[from..to]`: the whole script, or the body of a `DO` block.
    ///
    /// One statement's tokens are held at a time, and a statement costing more than
    /// [`MAX_STATEMENT_TOKENS`] is skipped unread, so memory stays bounded whatever the script
    /// (64 MB of `(` would otherwise be 64 M tokens, gigabytes). A `DO` body is scanned once,
    /// never a `DO` inside it: the recursion is one level deep.
    fn statements(&self, from: usize, to: usize, in_do_block: bool, out: &mut Vec<LibraryReference>) {
        let mut lexer = Lexer {
            text: self.text.get(..to).unwrap_or(self.text),
            i: from,
        };
        let mut statement: Vec<Token> = Vec::new();
        let mut cost = 0usize;
        let mut skipping = false;
        loop {
            // A statement that cannot matter is skimmed to its `;` without keeping tokens: most
            // of PostGIS's 8 MB scripts are INSERTs into spatial_ref_sys.
            if self.skim && (skipping || (!in_do_block && may_matter(&statement) == Some(false))) {
                let found = lexer.skim();
                statement.clear();
                cost = 0;
                skipping = false;
                if !found || lexer.i >= lexer.text.len() {
                    return;
                }
                continue;
            }
            let more = lexer.step(&mut statement);
            if let Some(Token::Str(lit)) = statement.last() {
                cost += lit.segment_count();
            }
            cost += 1;
            let ended = matches!(statement.last(), Some(Token::Punct(b';', _)));
            if ended {
                statement.pop();
            }
            if ended || !more {
                if !skipping {
                    self.statement(&statement, in_do_block, out);
                }
                statement.clear();
                cost = 0;
                skipping = false;
                if !more {
                    return;
                }
            } else if cost > MAX_STATEMENT_TOKENS {
                // Too long to be a CREATE FUNCTION or LOAD worth reading: drop it to its end.
                statement.clear();
                skipping = true;
            }
        }
    }

    /// Looks at one statement (without its `;`).
    fn statement(&self, statement: &[Token], in_do_block: bool, out: &mut Vec<LibraryReference>) {
        // In PL/pgSQL a statement may follow BEGIN, THEN, ELSE, ... without a semicolon:
        // start at the first CREATE or LOAD instead of the first token.
        let start = if in_do_block {
            statement.iter().position(starts_reference)
        } else {
            Some(0)
        };
        let Some(statement) = start.and_then(|k| statement.get(k..)) else {
            return;
        };
        let found = self
            .load_reference(statement)
            .or_else(|| self.function_reference(statement));
        if let Some(mut r) = found {
            r.in_do_block = in_do_block;
            out.push(r);
        } else if !in_do_block {
            // DO blocks run while the script runs (unlike function bodies): look inside once.
            if let Some((body_from, body_to)) = do_body(statement) {
                self.statements(body_from, body_to, true, out);
            }
        }
    }

    fn literal(&self, lit: &StringLit, substitute: bool) -> Option<String> {
        lit.value_with(self.text, if substitute { self.module_pathname } else { None })
    }
}

/// Replaces lines matching `^\\echo.*$` with spaces, keeping offsets and line numbers.
fn blank_echo_lines(text: &mut [u8]) {
    // Only the places where `\echo` occurs are looked at (scripts are megabytes, with one or two).
    let found: Vec<usize> = memchr::memmem::find_iter(text, b"\\echo")
        .filter(|&at| at == 0 || text.get(at - 1) == Some(&b'\n'))
        .collect();
    for start in found {
        let end = memchr::memchr(b'\n', text.get(start..).unwrap_or_default()).map_or(text.len(), |p| start + p);
        if let Some(line) = text.get_mut(start..end) {
            line.fill(b' ');
        }
    }
}

/// Byte offset → 1-based line, counted when asked and from the last answer on: lines are asked
/// for in increasing offsets (a script's references in order), so indexing every line of a
/// megabyte script up front would cost more than it saves.
struct LineIndex<'a> {
    text: &'a [u8],
    /// (offset, line at that offset) of the last answer.
    last: std::cell::Cell<(usize, usize)>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a [u8]) -> Self {
        LineIndex {
            text,
            last: std::cell::Cell::new((0, 1)),
        }
    }

    fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let (from, line) = match self.last.get() {
            (at, line) if at <= offset => (at, line),
            _ => (0, 1),
        };
        let line = line + memchr::memchr_iter(b'\n', self.text.get(from..offset).unwrap_or_default()).count();
        self.last.set((offset, line));
        line
    }
}

/// How a string literal's body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrKind {
    /// `'...'` and `N'...'` (standard_conforming_strings on).
    Standard,
    /// `E'...'`.
    Escape,
    /// `U&'...'`.
    Unicode,
    /// `$tag$...$tag$`.
    Dollar,
    /// `B'...'`, `X'...'`: bit strings, never file names.
    Bit,
}

/// A string literal: one or more segments (continuation across newlines).
#[derive(Debug, Clone)]
struct StringLit {
    kind: StrKind,
    /// Body byte ranges, delimiters excluded: the first, then any continuations (rare: kept
    /// apart so the common literal allocates nothing).
    first: (usize, usize),
    more: Vec<(usize, usize)>,
    /// Offset of the literal's first byte.
    start: usize,
}

impl StringLit {
    fn segments(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        std::iter::once(self.first).chain(self.more.iter().copied())
    }

    fn segment_count(&self) -> usize {
        1 + self.more.len()
    }

    /// The literal's value, with `MODULE_PATHNAME` replaced in the source text first when
    /// `module_pathname` is given. `None` for bit strings.
    fn value_with(&self, text: &[u8], module_pathname: Option<&str>) -> Option<String> {
        if self.kind == StrKind::Bit {
            return None;
        }
        let mut value = Vec::new();
        for (from, to) in self.segments() {
            let body = text.get(from..to).unwrap_or_default();
            let body = match module_pathname {
                Some(mp) => replace_bytes(body, b"MODULE_PATHNAME", mp.as_bytes()),
                None => body.to_vec(),
            };
            value.extend(match self.kind {
                StrKind::Standard => collapse_quotes(&body),
                StrKind::Escape => unescape_e(&body),
                StrKind::Unicode => unescape_u(&body),
                StrKind::Dollar | StrKind::Bit => body,
            });
        }
        Some(String::from_utf8_lossy(&value).into_owned())
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack.get(i..).is_some_and(|rest| rest.starts_with(needle)) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.extend(haystack.get(i).copied());
            i += 1;
        }
    }
    out
}

fn collapse_quotes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        out.push(b);
        i += if b == b'\'' && body.get(i + 1) == Some(&b'\'') {
            2
        } else {
            1
        };
    }
    out
}

fn push_char(out: &mut Vec<u8>, code: u32) {
    let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Reads up to `max` digits of `radix` at `i`; returns (value, count).
fn digits(body: &[u8], i: usize, max: usize, radix: u32) -> (u32, usize) {
    let mut value = 0u32;
    let mut n = 0;
    while n < max {
        let Some(d) = body.get(i + n).and_then(|&b| char::from(b).to_digit(radix)) else {
            break;
        };
        value = value.saturating_mul(radix).saturating_add(d);
        n += 1;
    }
    (value, n)
}

/// Escapes of `E'...'` strings (scan.l `xe` rules).
fn unescape_e(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b == b'\'' && body.get(i + 1) == Some(&b'\'') {
            out.push(b'\'');
            i += 2;
            continue;
        }
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&c) = body.get(i + 1) else {
            out.push(b);
            break;
        };
        i += 2;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let (v, n) = digits(body, i - 1, 3, 8);
                out.push((v & 0xff) as u8);
                i += n - 1;
            }
            b'x' if body.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let (v, n) = digits(body, i, 2, 16);
                out.push((v & 0xff) as u8);
                i += n;
            }
            b'u' | b'U' => {
                let want = if c == b'u' { 4 } else { 8 };
                let (v, n) = digits(body, i, want, 16);
                if n == want {
                    push_char(&mut out, v);
                    i += n;
                } else {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Escapes of `U&'...'` strings with the default escape character.
fn unescape_u(body: &[u8]) -> Vec<u8> {
    let body = collapse_quotes(body);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b == b'\\' {
            if body.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            let (plus, want) = if body.get(i + 1) == Some(&b'+') { (1, 6) } else { (0, 4) };
            let (v, n) = digits(&body, i + 1 + plus, want, 16);
            if n == want {
                push_char(&mut out, v);
                i += 1 + plus + n;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// An unquoted identifier or keyword, ASCII-lowercased and held inline: a megabyte script has
/// hundreds of thousands of them, and they are only ever compared with keywords and language
/// names. One longer than [`WORD_INLINE`] bytes or not ASCII equals none of those: it is kept
/// as [`OTHER_WORD`].
#[derive(Debug, Clone, Copy)]
struct Word {
    len: u8,
    bytes: [u8; WORD_INLINE],
}

/// Longest word kept as written (keywords and language names are far shorter).
const WORD_INLINE: usize = 31;
/// What a longer or non-ASCII word reads as: no keyword.
const OTHER_WORD: &str = "\u{0}";

impl Word {
    fn new(raw: &[u8]) -> Word {
        let mut w = Word {
            len: u8::MAX,
            bytes: [0; WORD_INLINE],
        };
        if raw.len() <= WORD_INLINE && raw.is_ascii() {
            w.bytes[..raw.len()].copy_from_slice(raw);
            w.bytes[..raw.len()].make_ascii_lowercase();
            w.len = raw.len() as u8; // <= WORD_INLINE
        }
        w
    }

    fn as_str(&self) -> &str {
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or(OTHER_WORD)
    }
}

/// What the scanner emits.
#[derive(Debug, Clone)]
enum Token {
    /// Unquoted identifier or keyword, ASCII-lowercased, with its source range.
    Word(Word, usize, usize),
    /// `"..."`, unescaped, with its source range.
    QuotedIdent(String, usize, usize),
    /// A string literal.
    Str(StringLit),
    /// `( ) , ; .` at an offset.
    Punct(u8, usize),
    /// Anything else (numbers, operators, parameters) at an offset.
    Other(usize),
}

impl Token {
    fn word(&self) -> Option<&str> {
        match self {
            Token::Word(w, _, _) => Some(w.as_str()),
            _ => None,
        }
    }

    fn span(&self) -> (usize, usize) {
        match self {
            Token::Word(_, s, e) | Token::QuotedIdent(_, s, e) => (*s, *e),
            Token::Str(lit) => (lit.start, lit.more.last().unwrap_or(&lit.first).1 + 1),
            Token::Punct(_, s) | Token::Other(s) => (*s, *s + 1),
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_sql_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits `text[from..]` into tokens, skipping whitespace and comments; offsets are into `text`.
/// Most tokens (a string literal costs one more per segment) one statement may have before it
/// is skipped unread: 1 M, ~50 MB. Real `CREATE FUNCTION` statements have a few hundred.
pub const MAX_STATEMENT_TOKENS: usize = 1 << 20;

/// The scanner's position in a text.
struct Lexer<'a> {
    text: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    /// Consumes input up to and including the next token, which is pushed to `tokens` (nothing
    /// is pushed when only whitespace and comments remain). Returns whether input remains.
    fn step(&mut self, tokens: &mut Vec<Token>) -> bool {
        let text = self.text;
        let at = |i: usize| text.get(i).copied();
        let before = tokens.len();
        let mut i = self.i;
        while tokens.len() == before
            && let Some(b) = at(i)
        {
            i = Self::one(text, i, b, tokens);
        }
        self.i = i;
        at(i).is_some()
    }

    /// Skips to just past the next `;` without keeping tokens; returns whether there was one.
    /// Token boundaries are exactly [`Lexer::step`]'s: identifiers are consumed as whole runs
    /// and everything that can open a string, quoted identifier or comment goes through
    /// [`Lexer::one`] itself; the rest are one-byte tokens or whitespace.
    fn skim(&mut self) -> bool {
        let text = self.text;
        let mut scratch = Vec::new();
        let mut i = self.i;
        while let Some(&b) = text.get(i) {
            let prefix = matches!(b, b'e' | b'E' | b'n' | b'N' | b'b' | b'B' | b'x' | b'X' | b'u' | b'U')
                && matches!(text.get(i + 1), Some(b'\'' | b'&'));
            match b {
                b';' => {
                    self.i = i + 1;
                    return true;
                }
                _ if is_ident_start(b) && !prefix => {
                    i += 1;
                    while text.get(i).is_some_and(|&c| is_ident_cont(c)) {
                        i += 1;
                    }
                }
                b'"' => i = quoted_ident_end(text, i + 1).0,
                b'\'' | b'$' | b'-' | b'/' => {
                    i = Self::one(text, i, b, &mut scratch);
                    scratch.clear();
                }
                _ if prefix => {
                    i = Self::one(text, i, b, &mut scratch);
                    scratch.clear();
                }
                _ => i += 1,
            }
        }
        self.i = i;
        false
    }

    /// Scans what starts at `i` (whitespace, a comment or one token); returns where it ends.
    fn one(text: &[u8], i: usize, b: u8, tokens: &mut Vec<Token>) -> usize {
        let at = |i: usize| text.get(i).copied();
        let mut i = i;
        let next = at(i + 1);
        match b {
            _ if is_sql_space(b) => {
                i += 1;
                while text.get(i).is_some_and(|&c| is_sql_space(c)) {
                    i += 1;
                }
            }
            b'-' if next == Some(b'-') => i = skip_line_comment(text, i),
            b'/' if next == Some(b'*') => i = skip_block_comment(text, i),
            b'\'' => i = quoted_string(text, i, i + 1, StrKind::Standard, tokens),
            b'e' | b'E' if next == Some(b'\'') => i = quoted_string(text, i, i + 2, StrKind::Escape, tokens),
            b'n' | b'N' if next == Some(b'\'') => i = quoted_string(text, i, i + 2, StrKind::Standard, tokens),
            b'b' | b'B' | b'x' | b'X' if next == Some(b'\'') => i = quoted_string(text, i, i + 2, StrKind::Bit, tokens),
            b'u' | b'U' if next == Some(b'&') && at(i + 2) == Some(b'\'') => {
                i = quoted_string(text, i, i + 3, StrKind::Unicode, tokens)
            }
            b'u' | b'U' if next == Some(b'&') && at(i + 2) == Some(b'"') => i = quoted_ident(text, i, i + 3, tokens),
            b'"' => i = quoted_ident(text, i, i + 1, tokens),
            b'$' => match dollar_delimiter(text, i) {
                Some(len) => i = dollar_string(text, i, len, tokens),
                None => {
                    tokens.push(Token::Other(i));
                    i += 1;
                }
            },
            _ if is_ident_start(b) => {
                let len = text
                    .get(i..)
                    .map_or(0, |r| r.iter().take_while(|&&c| is_ident_cont(c)).count());
                tokens.push(Token::Word(
                    Word::new(text.get(i..i + len).unwrap_or_default()),
                    i,
                    i + len,
                ));
                i += len.max(1);
            }
            b'(' | b')' | b',' | b';' | b'.' => {
                tokens.push(Token::Punct(b, i));
                i += 1;
            }
            _ => {
                tokens.push(Token::Other(i));
                i += 1;
            }
        }
        i
    }
}

fn skip_line_comment(text: &[u8], i: usize) -> usize {
    text.get(i..)
        .and_then(|r| memchr::memchr2(b'\n', b'\r', r))
        .map_or(text.len(), |p| i + p)
}

/// Skips a (nested) block comment; an unterminated one runs to the end.
fn skip_block_comment(text: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while let Some(p) = text.get(j..).and_then(|r| memchr::memchr2(b'/', b'*', r)) {
        j += p;
        let pair = (text.get(j).copied(), text.get(j + 1).copied());
        match pair {
            (Some(b'/'), Some(b'*')) => {
                depth += 1;
                j += 2;
            }
            (Some(b'*'), Some(b'/')) => {
                depth = depth.saturating_sub(1);
                j += 2;
                if depth == 0 {
                    return j;
                }
            }
            _ => j += 1,
        }
    }
    text.len()
}

/// Scans a quoted string whose body starts at `body`, with continuation segments; pushes it.
fn quoted_string(text: &[u8], start: usize, body: usize, kind: StrKind, tokens: &mut Vec<Token>) -> usize {
    let mut first = None;
    let mut more = Vec::new();
    let mut from = body;
    loop {
        let mut j = from;
        // Bodies are most of a script's bytes: jump between the bytes that matter.
        let end = loop {
            let rest = text.get(j..).unwrap_or_default();
            let hit = if kind == StrKind::Escape {
                memchr::memchr2(b'\'', b'\\', rest)
            } else {
                memchr::memchr(b'\'', rest)
            };
            let Some(p) = hit else { break None };
            j += p;
            match text.get(j + 1) {
                _ if text.get(j) == Some(&b'\\') => j += 2,
                Some(b'\'') => j += 2,
                _ => break Some(j),
            }
        };
        let segment = (from, end.unwrap_or(text.len()));
        if first.is_none() {
            first = Some(segment);
        } else {
            more.push(segment);
        }
        let next = end.and_then(|end| continuation(text, end + 1));
        if let Some(next_body) = next {
            from = next_body;
            continue;
        }
        tokens.push(Token::Str(StringLit {
            kind,
            first: first.unwrap_or(segment),
            more,
            start,
        }));
        return end.map_or(text.len(), |end| end + 1);
    }
}

/// scan.l `quotecontinue`: whitespace with a newline (comments allowed) and another quote.
/// Returns where the next segment's body starts.
fn continuation(text: &[u8], mut j: usize) -> Option<usize> {
    let mut newline = false;
    loop {
        match text.get(j).copied() {
            Some(b' ' | b'\t' | 0x0c) => j += 1,
            Some(b'\n' | b'\r') => {
                newline = true;
                j += 1;
            }
            Some(0x0b) if newline => j += 1,
            Some(b'-') if text.get(j + 1) == Some(&b'-') => j = skip_line_comment(text, j),
            Some(b'\'') if newline => return Some(j + 1),
            _ => return None,
        }
    }
}

fn quoted_ident(text: &[u8], start: usize, body: usize, tokens: &mut Vec<Token>) -> usize {
    let (end, closed) = quoted_ident_end(text, body);
    // The body without its closing quote (an unterminated one runs to the end), `""` → `"`.
    let raw = text.get(body..end - usize::from(closed)).unwrap_or_default();
    let value = replace_bytes(raw, b"\"\"", b"\"");
    tokens.push(Token::QuotedIdent(
        String::from_utf8_lossy(&value).into_owned(),
        start,
        end,
    ));
    end
}

/// Where a quoted identifier whose body starts at `body` ends (after its closing quote), and
/// whether it was closed (an unterminated one runs to the end of the text).
fn quoted_ident_end(text: &[u8], body: usize) -> (usize, bool) {
    let mut j = body;
    while let Some(p) = text.get(j..).and_then(|r| memchr::memchr(b'"', r)) {
        j += p;
        if text.get(j + 1) == Some(&b'"') {
            j += 2;
        } else {
            return (j + 1, true);
        }
    }
    (text.len().max(body), false)
}

/// Length of a dollar-quote delimiter (`$$` or `$tag$`) at `i`, if there is one.
fn dollar_delimiter(text: &[u8], i: usize) -> Option<usize> {
    let first = text.get(i + 1).copied()?;
    if first == b'$' {
        return Some(2);
    }
    if !is_ident_start(first) {
        return None;
    }
    // Tags are identifiers without '$'.
    let tag = text
        .get(i + 1..)?
        .iter()
        .take_while(|&&b| is_ident_start(b) || b.is_ascii_digit())
        .count();
    (text.get(i + 1 + tag) == Some(&b'$')).then_some(tag + 2)
}

fn dollar_string(text: &[u8], start: usize, delim_len: usize, tokens: &mut Vec<Token>) -> usize {
    let delimiter = text.get(start..start + delim_len).unwrap_or_default();
    let body = start + delim_len;
    let rest = text.get(body..).unwrap_or_default();
    let close = memchr::memmem::find(rest, delimiter);
    let (body_end, next) = match close {
        Some(p) => (body + p, body + p + delim_len),
        None => (text.len(), text.len()),
    };
    tokens.push(Token::Str(StringLit {
        kind: StrKind::Dollar,
        first: (body, body_end),
        more: Vec::new(),
        start,
    }));
    next
}

/// Whether a top-level statement that begins with `tokens` can be a `LOAD`, a `CREATE [OR
/// REPLACE] FUNCTION|PROCEDURE` or a `DO` block (what [`Scan::statement`] looks at): `None` until
/// its first words decide it.
fn may_matter(tokens: &[Token]) -> Option<bool> {
    let word = |k: usize| tokens.get(k).map(Token::word);
    let function = |w: Option<&str>| Some(matches!(w, Some("function" | "procedure")));
    match word(0)? {
        Some("load" | "do") => Some(true),
        Some("create") => match word(1)? {
            Some("or") => match word(2)? {
                Some("replace") => function(word(3)?),
                _ => Some(false),
            },
            w => function(w),
        },
        _ => Some(false),
    }
}

/// Whether a token can start a statement this module looks at.
fn starts_reference(token: &Token) -> bool {
    matches!(token.word(), Some("create" | "load"))
}

/// The byte range of a `DO [LANGUAGE plpgsql] $$body$$` block's body. Bodies in other
/// languages and bodies written as quoted strings (whose inner quotes are doubled) are skipped.
fn do_body(statement: &[Token]) -> Option<(usize, usize)> {
    if statement.first()?.word()? != "do" {
        return None;
    }
    let mut body = None;
    let mut k = 1;
    while let Some(token) = statement.get(k) {
        match token {
            Token::Word(w, _, _) if w.as_str() == "language" => {
                let plpgsql = match statement.get(k + 1) {
                    Some(Token::Word(l, _, _)) => l.as_str() == "plpgsql",
                    Some(Token::QuotedIdent(l, _, _)) => l == "plpgsql",
                    Some(Token::Str(lit)) => lit.kind != StrKind::Bit && lit.more.is_empty(),
                    _ => false,
                };
                if !plpgsql {
                    return None;
                }
                k += 2;
            }
            Token::Str(lit) if lit.kind == StrKind::Dollar => {
                body = Some(lit.first);
                k += 1;
            }
            _ => return None,
        }
    }
    body
}

impl Scan<'_> {
    /// `LOAD 'file'`.
    fn load_reference(&self, statement: &[Token]) -> Option<LibraryReference> {
        if statement.first()?.word()? != "load" {
            return None;
        }
        let Token::Str(lit) = statement.get(1)? else {
            return None;
        };
        Some(LibraryReference {
            kind: ReferenceKind::Load,
            raw: self.literal(lit, false)?,
            name: self.literal(lit, true)?,
            symbol: None,
            object: None,
            line: self.lines.line(lit.start),
            in_do_block: false,
        })
    }

    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE name(...) ... AS 'file'[, 'symbol'] ... LANGUAGE C`.
    fn function_reference(&self, statement: &[Token]) -> Option<LibraryReference> {
        let text = self.text;
        let mut rest = statement;
        if rest.first()?.word()? != "create" {
            return None;
        }
        rest = rest.get(1..)?;
        if rest.first()?.word() == Some("or") && rest.get(1)?.word() == Some("replace") {
            rest = rest.get(2..)?;
        }
        if !matches!(rest.first()?.word()?, "function" | "procedure") {
            return None;
        }
        rest = rest.get(1..)?;
        let name_len = rest
            .iter()
            .position(|t| matches!(t, Token::Punct(b'(', _)))
            .unwrap_or(rest.len());
        let object = match (rest.first(), name_len.checked_sub(1).and_then(|last| rest.get(last))) {
            (Some(first), Some(last)) => {
                let (from, _) = first.span();
                let (_, to) = last.span();
                text.get(from..to).map(|s| String::from_utf8_lossy(s).trim().to_owned())
            }
            _ => None,
        };
        let mut depth = 0usize;
        let mut language = None;
        let mut body: Option<(&StringLit, Option<&StringLit>)> = None;
        for (k, token) in rest.iter().enumerate() {
            match token {
                Token::Punct(b'(', _) => depth += 1,
                Token::Punct(b')', _) => depth = depth.saturating_sub(1),
                Token::Word(w, _, _) if depth == 0 && w.as_str() == "language" => {
                    language = match rest.get(k + 1) {
                        Some(Token::Word(l, _, _)) => Some(l.as_str().to_owned()),
                        Some(Token::QuotedIdent(l, _, _)) => Some(l.clone()),
                        Some(Token::Str(lit)) => self.literal(lit, false),
                        _ => None,
                    };
                }
                Token::Word(w, _, _) if depth == 0 && w.as_str() == "as" => {
                    if let Some(Token::Str(file)) = rest.get(k + 1) {
                        let symbol = match (rest.get(k + 2), rest.get(k + 3)) {
                            (Some(Token::Punct(b',', _)), Some(Token::Str(sym))) => Some(sym),
                            _ => None,
                        };
                        body = Some((file, symbol));
                    }
                }
                _ => {}
            }
        }
        if language.as_deref() != Some("c") {
            return None;
        }
        let (file, symbol) = body?;
        Some(LibraryReference {
            kind: ReferenceKind::Function,
            raw: self.literal(file, false)?,
            name: self.literal(file, true)?,
            symbol: symbol.and_then(|s| self.literal(s, true)),
            object,
            line: self.lines.line(file.start),
            in_do_block: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_compared_lowercased_and_only_short_ascii_ones_kept() {
        assert_eq!(Word::new(b"LANGUAGE").as_str(), "language");
        assert_eq!(Word::new(b"PlPgSQL").as_str(), "plpgsql");
        assert_eq!(Word::new(&[b'a'; WORD_INLINE]).as_str(), "a".repeat(WORD_INLINE));
        assert_eq!(Word::new(&[b'a'; WORD_INLINE + 1]).as_str(), OTHER_WORD);
        assert_eq!(Word::new("café".as_bytes()).as_str(), OTHER_WORD);
        assert_eq!(Word::new(b"").as_str(), "");
        // Long and non-ASCII names around the keywords change nothing.
        let sql = "CREATE FUNCTION a_function_name_longer_than_thirty_one_bytes(int) RETURNS int \
                   AS 'MODULE_PATHNAME', 'fünf' LANGUAGE C STRICT;\n\
                   CREATE FUNCTION café() RETURNS int AS '$libdir/x' LANGUAGE c;";
        let found = library_references(sql, Some("$libdir/y"));
        let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["$libdir/y", "$libdir/x"]);
    }

    #[test]
    fn script_directories() {
        let cases = [
            (
                "/usr/share/postgresql/18/extension",
                None,
                "/usr/share/postgresql/18/extension",
            ),
            (
                "/extensions/pgvector/share/extension",
                None,
                "/extensions/pgvector/share/extension",
            ),
            (
                "/extensions/pgvector/share/extension",
                Some("/opt/scripts"),
                "/opt/scripts",
            ),
            (
                "/extensions/pgvector/share/extension",
                Some("vector"),
                "/extensions/pgvector/share/vector",
            ),
            (
                "/extensions/x/share/extension",
                Some("extension/x"),
                "/extensions/x/share/extension/x",
            ),
            (
                "/usr/share/postgresql/18/extension",
                Some("contrib"),
                "/usr/share/postgresql/18/contrib",
            ),
            // No normalisation, as in the server.
            ("/e/share/extension", Some("../up"), "/e/share/../up"),
            ("/e/share/extension", Some(""), "/e/share/"),
            ("/extension", Some("d"), "/d"),
            // Not produced by the server; kept as is.
            ("/odd/dir", Some("d"), "/odd/dir/d"),
        ];
        for (control_dir, directory, expected) in cases {
            assert_eq!(
                script_directory(control_dir, directory),
                expected,
                "{control_dir} {directory:?}"
            );
        }
    }

    #[test]
    fn version_names() {
        let cases: &[(&str, Option<VersionNameProblem>)] = &[
            ("1.0", None),
            ("0.8.0", None),
            ("1.0-beta1", None),
            ("unpackaged", None),
            ("", Some(VersionNameProblem::Empty)),
            ("1--2", Some(VersionNameProblem::DoubleDash)),
            ("-1", Some(VersionNameProblem::DashAtEdge)),
            ("1-", Some(VersionNameProblem::DashAtEdge)),
            ("-", Some(VersionNameProblem::DashAtEdge)),
            ("a/b", Some(VersionNameProblem::DirectorySeparator)),
            ("..", None),
            // "--" is checked before the edges.
            ("--", Some(VersionNameProblem::DoubleDash)),
        ];
        for (version, expected) in cases {
            assert_eq!(
                check_version_name(version).err().map(|e| e.problem),
                *expected,
                "{version:?}"
            );
        }
        let e = check_version_name("a/b").unwrap_err();
        assert_eq!(e.to_string(), "invalid extension version name: \"a/b\"");
        assert_eq!(
            e.problem.detail(),
            "Version names must not contain directory separator characters."
        );
    }

    /// pgvector 0.8.0 as packaged: one install script and the whole upgrade history.
    fn pgvector_names() -> Vec<&'static str> {
        vec![
            "vector.control",
            "vector--0.1.0--0.1.1.sql",
            "vector--0.1.1--0.1.3.sql",
            "vector--0.1.3--0.1.4.sql",
            "vector--0.1.4--0.1.5.sql",
            "vector--0.1.5--0.1.6.sql",
            "vector--0.1.6--0.1.7.sql",
            "vector--0.1.7--0.1.8.sql",
            "vector--0.1.8--0.2.0.sql",
            "vector--0.2.0--0.2.1.sql",
            "vector--0.2.1--0.2.2.sql",
            "vector--0.2.2--0.2.3.sql",
            "vector--0.2.3--0.2.4.sql",
            "vector--0.2.4--0.2.5.sql",
            "vector--0.2.5--0.2.6.sql",
            "vector--0.2.6--0.2.7.sql",
            "vector--0.2.7--0.3.0.sql",
            "vector--0.3.0--0.3.1.sql",
            "vector--0.3.1--0.3.2.sql",
            "vector--0.3.2--0.4.0.sql",
            "vector--0.4.0--0.4.1.sql",
            "vector--0.4.1--0.4.2.sql",
            "vector--0.4.2--0.4.3.sql",
            "vector--0.4.3--0.4.4.sql",
            "vector--0.4.4--0.5.0.sql",
            "vector--0.5.0--0.5.1.sql",
            "vector--0.5.1--0.6.0.sql",
            "vector--0.6.0--0.6.1.sql",
            "vector--0.6.1--0.6.2.sql",
            "vector--0.6.2--0.7.0.sql",
            "vector--0.7.0--0.7.1.sql",
            "vector--0.7.1--0.7.2.sql",
            "vector--0.7.2--0.7.3.sql",
            "vector--0.7.3--0.7.4.sql",
            "vector--0.7.4--0.8.0.sql",
            "vector--0.8.0.sql",
            // Another extension's files in the same directory.
            "vectorscale--0.1.0.sql",
            "pg_stat_statements--1.4.sql",
        ]
    }

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pgvector_layout() {
        let set = ScriptSet::from_file_names("vector", pgvector_names());
        assert!(set.problems().is_empty(), "{:?}", set.problems());
        assert_eq!(set.files().len(), 35);
        assert_eq!(
            set.installable_versions(),
            vec![AvailableVersion {
                version: "0.8.0".into(),
                path: v(&["0.8.0"])
            }]
        );
        assert_eq!(set.install_path("0.8.0"), Some(v(&["0.8.0"])));
        assert_eq!(set.install_path("0.7.4"), None, "only upgrades lead to 0.7.4");
        assert_eq!(set.install_path("9.9"), None);
        assert_eq!(set.update_path("0.7.2", "0.8.0"), Some(v(&["0.7.3", "0.7.4", "0.8.0"])));
        assert_eq!(set.update_path("0.1.0", "0.1.4"), Some(v(&["0.1.1", "0.1.3", "0.1.4"])));
        assert_eq!(set.update_path("0.8.0", "0.8.0"), Some(vec![]));
        assert_eq!(set.update_path("0.8.0", "0.7.4"), None, "no downgrade scripts");
        assert_eq!(set.update_path("0.1.2", "0.8.0"), None, "0.1.2 is not in the graph");
        assert_eq!(set.update_path("0.7.4", "0.8.0/.."), None, "invalid target name");
        assert!(set.has_install_script("0.8.0"));
        assert!(!set.has_install_script("0.7.4"));
        assert_eq!(set.versions().next(), Some("0.1.0"));
        assert_eq!(set.install_script_name("0.8.0"), "vector--0.8.0.sql");
        assert_eq!(set.update_script_name("0.7.4", "0.8.0"), "vector--0.7.4--0.8.0.sql");
    }

    #[test]
    fn upgrade_chains_and_install_paths() {
        // (label, file names, target, expected install path)
        type Case<'a> = (&'a str, Vec<&'a str>, &'a str, Option<Vec<String>>);
        let cases: Vec<Case<'_>> = vec![
            (
                "only update scripts: nothing installable",
                vec!["e--1--2.sql", "e--2--3.sql"],
                "3",
                None,
            ),
            (
                "install older version, then update",
                vec!["e--1.0.sql", "e--1.0--1.1.sql", "e--1.1--1.2.sql"],
                "1.2",
                Some(v(&["1.0", "1.1", "1.2"])),
            ),
            (
                "direct install script preferred over shorter chain",
                vec!["e--1.0.sql", "e--1.0--1.1.sql", "e--1.1.sql"],
                "1.1",
                Some(v(&["1.1"])),
            ),
            (
                "shortest chain wins",
                vec![
                    "e--1.sql",
                    "e--1--2.sql",
                    "e--2--3.sql",
                    "e--3--4.sql",
                    "e--2.5.sql",
                    "e--2.5--4.sql",
                ],
                "4",
                Some(v(&["2.5", "4"])),
            ),
            (
                "equal length: start version sorting last wins",
                vec!["e--a.sql", "e--b.sql", "e--a--x.sql", "e--b--x.sql"],
                "x",
                Some(v(&["b", "x"])),
            ),
            (
                "equal length, other file order: same answer",
                vec!["e--b--x.sql", "e--a--x.sql", "e--b.sql", "e--a.sql"],
                "x",
                Some(v(&["b", "x"])),
            ),
            (
                "a route through another installable version loses to starting there",
                vec![
                    "e--1.sql",
                    "e--2.sql",
                    "e--1--2.sql",
                    "e--2--3.sql",
                    "e--1--9.sql",
                    "e--9--8.sql",
                    "e--8--3.sql",
                ],
                "3",
                Some(v(&["2", "3"])),
            ),
            (
                "long chain from the only install script",
                vec!["e--1.sql", "e--1--2.sql", "e--2--3.sql"],
                "3",
                Some(v(&["1", "2", "3"])),
            ),
            (
                "cycle",
                vec!["e--1.sql", "e--1--2.sql", "e--2--1.sql", "e--2--3.sql", "e--3--2.sql"],
                "3",
                Some(v(&["1", "2", "3"])),
            ),
            ("unreachable", vec!["e--1.sql", "e--5--6.sql"], "6", None),
            ("invalid target name", vec!["e--1.sql", "e--1---2.sql"], "-2", None),
            ("empty target name", vec!["e--.sql"], "", None),
        ];
        for (label, names, target, expected) in cases {
            let set = ScriptSet::from_file_names("e", names);
            assert_eq!(set.install_path(target), expected, "{label}");
        }
    }

    #[test]
    fn update_paths_and_ties() {
        // (label, file names, from, to, expected)
        type Case<'a> = (&'a str, Vec<&'a str>, &'a str, &'a str, Option<Vec<String>>);
        let cases: Vec<Case<'_>> = vec![
            (
                "tie: predecessor whose name sorts first",
                vec!["e--1--b.sql", "e--1--a.sql", "e--a--2.sql", "e--b--2.sql"],
                "1",
                "2",
                Some(v(&["a", "2"])),
            ),
            (
                "tie, reversed file order",
                vec!["e--b--2.sql", "e--a--2.sql", "e--1--a.sql", "e--1--b.sql"],
                "1",
                "2",
                Some(v(&["a", "2"])),
            ),
            (
                "strcmp order, not numeric: 1.10 < 1.9",
                vec!["e--1--1.9.sql", "e--1--1.10.sql", "e--1.9--2.sql", "e--1.10--2.sql"],
                "1",
                "2",
                Some(v(&["1.10", "2"])),
            ),
            (
                "shortcut script wins over a chain",
                vec!["e--1--2.sql", "e--2--3.sql", "e--1--3.sql"],
                "1",
                "3",
                Some(v(&["3"])),
            ),
            (
                "update paths may pass through installable versions",
                vec!["e--1.sql", "e--2.sql", "e--1--2.sql", "e--2--3.sql"],
                "1",
                "3",
                Some(v(&["2", "3"])),
            ),
            (
                "cycle does not loop",
                vec!["e--1--2.sql", "e--2--1.sql", "e--2--3.sql"],
                "1",
                "3",
                Some(v(&["2", "3"])),
            ),
            ("unreachable", vec!["e--1--2.sql", "e--3--4.sql"], "1", "4", None),
            ("downgrade script", vec!["e--2--1.sql"], "2", "1", Some(v(&["1"]))),
            ("same version", vec![], "1", "1", Some(vec![])),
            ("invalid target", vec!["e--1--2-.sql"], "1", "2-", None),
            // The server does not check the installed (from) version's name.
            ("odd from version", vec!["e---1--2.sql"], "-1", "2", Some(v(&["2"]))),
        ];
        for (label, names, from, to, expected) in cases {
            let set = ScriptSet::from_file_names("e", names);
            assert_eq!(set.update_path(from, to), expected, "{label}");
        }
    }

    #[test]
    fn available_versions_order() {
        let set = ScriptSet::from_file_names(
            "e",
            [
                "e--1.0--1.1.sql",
                "e--2.0.sql",
                "e--1.0.sql",
                "e--1.1--1.2.sql",
                "e--2.0--2.1.sql",
                "e--0.9--1.0.sql",
                "e--3.0--3.1.sql",
            ],
        );
        let got: Vec<(String, Vec<String>)> = set
            .installable_versions()
            .into_iter()
            .map(|a| (a.version, a.path))
            .collect();
        // Graph order: 1.0, 1.1, 2.0, 1.2, 2.1, 0.9, 3.0, 3.1. Installable in that order: 1.0,
        // then 2.0; each followed by the versions reached from it, in graph order. 0.9, 3.0 and
        // 3.1 cannot be installed.
        assert_eq!(
            got,
            vec![
                ("1.0".into(), v(&["1.0"])),
                ("1.1".into(), v(&["1.0", "1.1"])),
                ("1.2".into(), v(&["1.0", "1.1", "1.2"])),
                ("2.0".into(), v(&["2.0"])),
                ("2.1".into(), v(&["2.0", "2.1"])),
            ]
        );
        assert_eq!(
            set.versions().collect::<Vec<_>>(),
            vec!["1.0", "1.1", "2.0", "1.2", "2.1", "0.9", "3.0", "3.1"]
        );
    }

    #[test]
    fn bad_names() {
        let set = ScriptSet::from_file_names(
            "e",
            [
                "e--1.sql",
                "e--1--2--3.sql",
                "e--.sql",
                "e---1.sql",
                "e--1--2-.sql",
                "e--1--.sql",
                "e--1.control",
                "e--7.control",
                "e--1--2.control",
                "e--1.sql.bak",
                "e--1.SQL",
                "e-1.sql",
                "e.control",
                "ee--1.sql",
            ],
        );
        let problems: Vec<(&str, &str)> = set
            .problems()
            .iter()
            .map(|p| (p.code().as_str(), p.file_name()))
            .collect();
        assert_eq!(
            problems,
            vec![
                ("extra_separator", "e--1--2--3.sql"),
                ("invalid_version", "e--.sql"),
                ("invalid_version", "e---1.sql"),
                ("invalid_version", "e--1--2-.sql"),
                ("invalid_version", "e--1--.sql"),
                ("unused_control_file", "e--7.control"),
                ("unused_control_file", "e--1--2.control"),
            ]
        );
        // Like the server, odd versions stay in the graph and are listed.
        let listed: Vec<String> = set.installable_versions().into_iter().map(|a| a.version).collect();
        assert_eq!(listed, v(&["1", "2-", "", "-1"]));
        assert_eq!(set.secondary_control_file("1"), Some("e--1.control"));
        assert_eq!(set.secondary_control_file("2"), None);
        let shown = set.problems().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            shown[0],
            "\"e--1--2--3.sql\" names more than two versions and is ignored"
        );
        assert_eq!(
            shown[1],
            "\"e--.sql\": invalid extension version name: \"\": Version names must not be empty."
        );
    }

    /// (kind, raw, name, symbol, object, line) for compact expectations.
    type Ref<'a> = (ReferenceKind, &'a str, &'a str, Option<&'a str>, Option<&'a str>, usize);
    type Owned = (ReferenceKind, String, String, Option<String>, Option<String>, usize);

    fn refs(sql: &str, module_pathname: Option<&str>) -> Vec<Owned> {
        library_references(sql, module_pathname)
            .into_iter()
            .inspect(|r| assert!(!r.in_do_block, "{r:?}"))
            .map(|r| (r.kind, r.raw, r.name, r.symbol, r.object, r.line))
            .collect()
    }

    fn expect(list: &[Ref<'_>]) -> Vec<Owned> {
        list.iter()
            .map(|(k, raw, name, sym, obj, line)| {
                (
                    *k,
                    (*raw).to_owned(),
                    (*name).to_owned(),
                    sym.map(str::to_owned),
                    obj.map(str::to_owned),
                    *line,
                )
            })
            .collect()
    }

    const VECTOR_SQL: &str = "-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\\echo Use \"CREATE EXTENSION vector\" to load this file. \\quit

-- type

CREATE TYPE vector;

CREATE FUNCTION vector_in(cstring, oid, integer) RETURNS vector
\tAS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION vector_out(vector) RETURNS cstring
\tAS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION l2_distance(vector, vector) RETURNS float8
\tAS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION vector_sum(vector[]) RETURNS vector
\tAS $$ SELECT 1 AS 'not_a_library' $$ LANGUAGE sql IMMUTABLE;
";

    const POSTGIS_UPDATE_SQL: &str = "--
-- UPGRADE SCRIPT TO PostGIS 3.5.0
--

LOAD '$libdir/postgis-3';

DO $$
DECLARE
    old_scripts text;
BEGIN
    EXECUTE 'CREATE FUNCTION x() RETURNS int AS ''$libdir/postgis-2'' LANGUAGE c';
END
$$;

CREATE OR REPLACE FUNCTION postgis_lib_version() RETURNS text
\tAS '$libdir/postgis-3','postgis_lib_version'
\tLANGUAGE 'c' IMMUTABLE; -- a comment; LOAD 'nothing'
";

    /// Statements that cannot matter are skimmed to their `;`: every construct that hides a `;`
    /// or changes how the next bytes lex must end the skimmed statement where lexing ends it.
    #[test]
    fn skimming_ends_statements_where_lexing_does() {
        let tail = "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;";
        let cases = [
            "INSERT INTO t VALUES ('a;b', 'it''s;');",
            "INSERT INTO t VALUES (E'\\';', e'x\\\\');",
            "INSERT INTO t VALUES (xe'\\'); SELECT 1;", // `xe` is an identifier: a plain string
            "SELECT \"a\"\";b\" FROM \"t;\";",
            "SELECT U&\"d\\0061;\", U&'\\0061;' ;",
            "SELECT $x$ ; $x$, $$;$$;",
            "SELECT a$b$c, $1 FROM t;", // `$` inside identifiers and parameters
            "SELECT 1 /* ; /* nested ; */ ; */ -- ;\n;",
            "COMMENT ON FUNCTION g() IS 'a\n' \n 'continued;';",
            "CREATE TABLE t (a int); CREATE OR REPLACE VIEW v AS SELECT ';';",
            "CREATE OR x; create or replace aggregate a (sfunc = f, stype = int);",
            "GRANT SELECT ON t TO PUBLIC ;",
            "SELECT N'a;', B'01', X'ff', n'', b'1';",
        ];
        for case in cases {
            let script = format!("{case}\n{tail}\n");
            let skimmed = library_references_in(&mut script.clone().into_bytes(), Some("$libdir/x"));
            let full = library_references_unskimmed(&mut script.clone().into_bytes(), Some("$libdir/x"));
            assert_eq!(skimmed, full, "{case}");
            assert_eq!(skimmed.len(), 1, "{case}: {skimmed:?}");
            assert_eq!(skimmed[0].object.as_deref(), Some("f"), "{case}");
        }
        // A statement that does matter is lexed in full however it begins.
        for script in [
            "LOAD '$libdir/x';",
            "create or replace procedure p() as 'MODULE_PATHNAME', 'p' language c;",
            "DO $$ BEGIN CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C; END $$;",
        ] {
            let skimmed = library_references_in(&mut script.as_bytes().to_vec(), Some("$libdir/x"));
            assert_eq!(skimmed.len(), 1, "{script}: {skimmed:?}");
        }
    }

    #[test]
    fn library_references_in_real_scripts() {
        use ReferenceKind::{Function, Load};
        let mp = Some("$libdir/vector");
        assert_eq!(
            refs(VECTOR_SQL, mp),
            expect(&[
                (
                    Function,
                    "MODULE_PATHNAME",
                    "$libdir/vector",
                    None,
                    Some("vector_in"),
                    9
                ),
                (
                    Function,
                    "MODULE_PATHNAME",
                    "$libdir/vector",
                    None,
                    Some("vector_out"),
                    12
                ),
                (
                    Function,
                    "MODULE_PATHNAME",
                    "$libdir/vector",
                    None,
                    Some("l2_distance"),
                    15
                ),
            ])
        );
        // Without module_pathname the server leaves the placeholder in place.
        assert_eq!(refs(VECTOR_SQL, None)[0].2, "MODULE_PATHNAME");
        assert_eq!(
            refs(POSTGIS_UPDATE_SQL, None),
            expect(&[
                (Load, "$libdir/postgis-3", "$libdir/postgis-3", None, None, 5),
                (
                    Function,
                    "$libdir/postgis-3",
                    "$libdir/postgis-3",
                    Some("postgis_lib_version"),
                    Some("postgis_lib_version"),
                    16
                ),
            ])
        );
    }

    #[test]
    fn library_reference_cases() {
        use ReferenceKind::{Function, Load};
        let mp = Some("$libdir/m");
        let cases: Vec<(&str, &str, Vec<Ref<'_>>)> = vec![
            (
                "load",
                "LOAD 'auto_explain';",
                vec![(Load, "auto_explain", "auto_explain", None, None, 1)],
            ),
            (
                "load lower case, no semicolon",
                "load '$libdir/x'",
                vec![(Load, "$libdir/x", "$libdir/x", None, None, 1)],
            ),
            (
                "symbol and lower-case keywords",
                "create or replace function f() returns int as 'lib', 'sym' language c;",
                vec![(Function, "lib", "lib", Some("sym"), Some("f"), 1)],
            ),
            (
                "procedure, LANGUAGE before AS",
                "CREATE PROCEDURE s.p(int) LANGUAGE C AS 'MODULE_PATHNAME', 'p_impl';",
                vec![(Function, "MODULE_PATHNAME", "$libdir/m", Some("p_impl"), Some("s.p"), 1)],
            ),
            (
                "quoted language c",
                "CREATE FUNCTION f() RETURNS int AS 'a' LANGUAGE \"c\";",
                vec![(Function, "a", "a", None, Some("f"), 1)],
            ),
            (
                "quoted upper-case C is another language",
                "CREATE FUNCTION f() RETURNS int AS 'a' LANGUAGE \"C\";",
                vec![],
            ),
            (
                "string upper-case C is another language",
                "CREATE FUNCTION f() RETURNS int AS 'a' LANGUAGE 'C';",
                vec![],
            ),
            (
                "internal language",
                "CREATE FUNCTION f() RETURNS int AS 'int4in' LANGUAGE internal;",
                vec![],
            ),
            ("no language", "CREATE FUNCTION f() RETURNS int AS 'a';", vec![]),
            (
                "dollar-quoted plpgsql body with AS 'x' and LANGUAGE C inside",
                "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$\nBEGIN\n  PERFORM 1 AS 'x'; -- AS 'lib' LANGUAGE C\n  RETURN 'LOAD ''y''';\nEND $body$;",
                vec![],
            ),
            (
                "dollar body of a C function is its file",
                "CREATE FUNCTION f() RETURNS int AS $$$libdir/d$$ LANGUAGE C;",
                vec![(Function, "$libdir/d", "$libdir/d", None, Some("f"), 1)],
            ),
            (
                "nested dollar tags",
                "DO $outer$ BEGIN EXECUTE $in$ LOAD 'a' $in$; END $outer$; LOAD 'b';",
                vec![(Load, "b", "b", None, None, 1)],
            ),
            (
                "comments",
                "-- CREATE FUNCTION a() RETURNS int AS 'c1' LANGUAGE C;\n/* outer /* nested */ LOAD 'c2'; */\nLOAD /* here */ 'real';",
                vec![(Load, "real", "real", None, None, 3)],
            ),
            ("string that looks like LOAD", "SELECT 'LOAD ''x''';", vec![]),
            (
                "E string escapes",
                "LOAD E'$libdir/e\\x41\\\\z';",
                vec![(Load, "$libdir/eA\\z", "$libdir/eA\\z", None, None, 1)],
            ),
            (
                "E string hides MODULE_PATHNAME from substitution",
                "CREATE FUNCTION f() RETURNS int AS E'MODULE\\_PATHNAME' LANGUAGE C;",
                vec![(Function, "MODULE_PATHNAME", "MODULE_PATHNAME", None, Some("f"), 1)],
            ),
            (
                "standard string keeps backslashes",
                "LOAD 'a\\b';",
                vec![(Load, "a\\b", "a\\b", None, None, 1)],
            ),
            (
                "continuation splits MODULE_PATHNAME: no substitution",
                "CREATE FUNCTION f() RETURNS int AS 'MODULE_'\n  'PATHNAME' LANGUAGE C;",
                vec![(Function, "MODULE_PATHNAME", "MODULE_PATHNAME", None, Some("f"), 1)],
            ),
            (
                "continuation needs a newline",
                "LOAD 'a' 'b';",
                vec![(Load, "a", "a", None, None, 1)],
            ),
            (
                "substitution inside a longer literal",
                "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME.so' LANGUAGE C;",
                vec![(Function, "MODULE_PATHNAME.so", "$libdir/m.so", None, Some("f"), 1)],
            ),
            (
                "argument defaults and RETURNS TABLE are not AS clauses",
                "CREATE FUNCTION \"AS\"(a text DEFAULT 'AS', b int) RETURNS TABLE (x int) AS 'MODULE_PATHNAME' LANGUAGE C;",
                vec![(Function, "MODULE_PATHNAME", "$libdir/m", None, Some("\"AS\""), 1)],
            ),
            (
                "two statements on a line, CRLF line numbers",
                "\r\n\r\nCREATE FUNCTION f() RETURNS int AS 'a' LANGUAGE C; LOAD 'b';\r\n",
                vec![
                    (Function, "a", "a", None, Some("f"), 3),
                    (Load, "b", "b", None, None, 3),
                ],
            ),
            ("\\echo lines are blanked", "\\echo LOAD 'x';\n", vec![]),
            (
                "\\echo line then a statement",
                "\\echo x\nLOAD 'y';",
                vec![(Load, "y", "y", None, None, 2)],
            ),
            // Not at line start: not blanked, so it swallows the next statement (a syntax error
            // for the server too).
            ("indented \\echo is not blanked", "  \\echo x\nLOAD 'y';", vec![]),
            (
                "placeholders stay",
                "CREATE FUNCTION @extschema@.f() RETURNS int AS '@extschema@' LANGUAGE C;",
                vec![(Function, "@extschema@", "@extschema@", None, Some("@extschema@.f"), 1)],
            ),
            (
                "unicode string",
                "LOAD U&'lib\\0041';",
                vec![(Load, "libA", "libA", None, None, 1)],
            ),
            ("bit string is not a file", "LOAD B'0101';", vec![]),
            (
                "identifier with dollar is not a dollar quote",
                "SELECT a$b$ FROM t; LOAD 'z';",
                vec![(Load, "z", "z", None, None, 1)],
            ),
            (
                "parameter is not a dollar quote",
                "SELECT $1; LOAD 'p';",
                vec![(Load, "p", "p", None, None, 1)],
            ),
            (
                "not a function",
                "CREATE TABLE t (a text DEFAULT 'x'); ALTER FUNCTION f() SET x = 'y';",
                vec![],
            ),
        ];
        for (label, sql, expected) in cases {
            assert_eq!(refs(sql, mp), expect(&expected), "{label}");
        }
    }

    const HSTORE_1_1_TO_1_2_SQL: &str = "/* contrib/hstore/hstore--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\\echo Use \"ALTER EXTENSION hstore UPDATE TO '1.2'\" to load this file. \\quit


-- A version of 1.1 was shipped with these objects mistakenly in 9.3.0.
-- Therefore we only add them if we detect that they aren't already there and
-- dependent on the extension.

DO LANGUAGE plpgsql
$$
DECLARE
  my_schema pg_catalog.text := pg_catalog.quote_ident(pg_catalog.current_schema());
  old_path pg_catalog.text := pg_catalog.current_setting('search_path');
BEGIN
-- for safety, transiently set search_path to just pg_catalog+pg_temp
PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

   PERFORM 1
   FROM pg_proc p
       JOIN  pg_depend d
          ON p.proname = 'hstore_to_json_loose'
            AND d.classid = 'pg_proc'::regclass
            AND d.objid = p.oid
            AND d.refclassid = 'pg_extension'::regclass
       JOIN pg_extension x
          ON d.refobjid = x.oid
            AND  x.extname = 'hstore';

   IF NOT FOUND
   THEN
        PERFORM pg_catalog.set_config('search_path', old_path, true);

        CREATE FUNCTION hstore_to_json(hstore)
        RETURNS json
        AS 'MODULE_PATHNAME', 'hstore_to_json'
        LANGUAGE C IMMUTABLE STRICT;

        CREATE CAST (hstore AS json)
          WITH FUNCTION hstore_to_json(hstore);

        CREATE FUNCTION hstore_to_json_loose(hstore)
        RETURNS json
        AS 'MODULE_PATHNAME', 'hstore_to_json_loose'
        LANGUAGE C IMMUTABLE STRICT;

   END IF;

PERFORM pg_catalog.set_config('search_path', old_path, true);
END;

$$;
";

    #[test]
    fn do_blocks() {
        // (label, script, expected (name, symbol, line, in_do_block))
        type Found = (String, Option<String>, usize, bool);
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, Option<&'a str>, usize, bool)>);
        let cases: Vec<Case<'_>> = vec![
            (
                "hstore 1.1--1.2: conditional CREATE FUNCTION in a DO block",
                HSTORE_1_1_TO_1_2_SQL,
                vec![
                    ("$libdir/hstore", Some("hstore_to_json"), 37, true),
                    ("$libdir/hstore", Some("hstore_to_json_loose"), 45, true),
                ],
            ),
            (
                "LOAD in a DO block, and after it",
                "DO $$\nBEGIN\n  LOAD 'inner';\nEND $$;\nLOAD 'outer';",
                vec![("inner", None, 3, true), ("outer", None, 5, false)],
            ),
            (
                "DO with LANGUAGE after the body",
                "DO $$ BEGIN LOAD 'x'; END $$ LANGUAGE plpgsql;",
                vec![("x", None, 1, true)],
            ),
            (
                "DO in another language is not read",
                "DO LANGUAGE plperl $$ LOAD 'x'; $$;",
                vec![],
            ),
            (
                "DO with a quoted-string body is not read",
                "DO 'BEGIN LOAD ''x''; END';",
                vec![],
            ),
            (
                "EXECUTE of a string in a DO block is not read",
                "DO $$ BEGIN EXECUTE 'LOAD ''x'''; END $$;",
                vec![],
            ),
            (
                "function bodies do not run with the script",
                "CREATE FUNCTION mk() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  CREATE FUNCTION c() RETURNS int AS 'lib' LANGUAGE C;\n  LOAD 'other';\nEND $$;",
                vec![],
            ),
        ];
        for (label, sql, expected) in cases {
            let got: Vec<Found> = library_references(sql, Some("$libdir/hstore"))
                .into_iter()
                .map(|r| (r.name, r.symbol, r.line, r.in_do_block))
                .collect();
            let expected: Vec<Found> = expected
                .into_iter()
                .map(|(n, s, l, d)| (n.to_owned(), s.map(str::to_owned), l, d))
                .collect();
            assert_eq!(got, expected, "{label}");
        }
    }

    /// A hostile script directory: far more versions than any extension has. The graph is not
    /// searched (quadratic), the set says why, and building it stays fast.
    #[test]
    fn too_many_versions_are_refused_quickly() {
        let names: Vec<String> = (0..50_000)
            .map(|i| format!("crowd--{i}.sql"))
            .chain((0..5_000).map(|i| format!("crowd--{i}--x{i}.sql")))
            .collect();
        let start = std::time::Instant::now();
        let set = ScriptSet::from_file_names("crowd", names.iter().map(String::as_str));
        assert!(set.too_many_versions());
        assert_eq!(
            set.problems().last().map(ScriptProblem::code),
            Some(Code::TooManyVersions)
        );
        assert!(set.installable_versions().is_empty());
        assert_eq!(set.install_path("x7"), None);
        assert_eq!(set.update_path("1", "x1"), None);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        // At the limit, a long chain is still searched, iteratively.
        let chain: Vec<String> = std::iter::once("c--0.sql".to_owned())
            .chain((0..MAX_VERSIONS - 1).map(|i| format!("c--{i}--{}.sql", i + 1)))
            .collect();
        let set = ScriptSet::from_file_names("c", chain.iter().map(String::as_str));
        assert!(!set.too_many_versions());
        let last = (MAX_VERSIONS - 1).to_string();
        assert_eq!(set.install_path(&last).map(|p| p.len()), Some(MAX_VERSIONS));
        assert_eq!(set.installable_versions().len(), MAX_VERSIONS);
    }

    /// Scanning never holds more than one statement's tokens, and statements too long to be a
    /// reference are skipped to their end: memory stays bounded however the script is built.
    #[test]
    fn long_statements_and_deep_nesting_stay_bounded() {
        let mut sql = "(".repeat(MAX_STATEMENT_TOKENS + 10);
        sql.push_str(";\nCREATE FUNCTION f() RETURNS int AS '$libdir/after' LANGUAGE C;\n");
        let found = library_references(&sql, None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "$libdir/after");
        assert_eq!(found[0].line, 2);
        // A string continued over a million segments costs as much as a million tokens.
        let mut sql = "SELECT 'a'".to_owned();
        sql.push_str(&"\n'a'".repeat(MAX_STATEMENT_TOKENS));
        sql.push_str(";\nLOAD 'x';");
        assert_eq!(library_references(&sql, None).len(), 1);
        // Deeply nested block comments and DO blocks inside DO blocks: no recursion per level.
        let deep = format!("{}{}LOAD 'y';", "/*".repeat(1 << 20), "*/".repeat(1 << 20));
        assert_eq!(library_references(&deep, None)[0].name, "y");
        let mut nested = "LOAD 'inner';".to_owned();
        for i in 0..2_000 {
            nested = format!("DO $d{i}$ BEGIN {nested} END $d{i}$;");
        }
        // Only the outermost DO body is looked into (the server runs nested ones only when the
        // outer block executes them, which a static scan cannot know).
        let on_small_stack = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || library_references(&nested, None).len())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(on_small_stack, 0);
    }

    #[test]
    fn library_references_never_panic() {
        let nasty = "CREATE FUNCTION f( AS $a$ 'x' LANGUAGE C; E'\\\\ U&'\\+ /* /* */ $$ \"q\"\" -- \n'\u{e9}' \\echo \u{e9} $ $1 $\u{e9}$ LOAD";
        for end in (0..=nasty.len()).filter(|&e| nasty.is_char_boundary(e)) {
            let _ = library_references(&nasty[..end], Some("MODULE_PATHNAME"));
            let _ = library_references(&nasty[..end], None);
        }
    }
}
