//! Major-upgrade pre-flight: what CloudNativePG's upgrade Job does with `pg_upgrade`, judged
//! before it runs.
//!
//! `pg_upgrade --check` (src/bin/pg_upgrade/function.c) reads, in every database of the old
//! cluster, `SELECT DISTINCT probin FROM pg_proc WHERE prolang = 13 AND probin IS NOT NULL AND
//! oid >= 16384` (`get_loadable_libraries()`), then runs `LOAD '<probin>'` for each name in the
//! new server (`check_loadable_libraries()`): `load_file()`, which keeps a `$libdir/` prefix and
//! so looks only in the new server's pkglibdir (PostgreSQL 18). Both servers run under the
//! Job's environment ([`layout`]). After the upgrade every extension is still at its old version;
//! `ALTER EXTENSION … UPDATE` brings it to the new default through the new images' update
//! scripts (CloudNativePG writes them to `update_extensions.sql`).
//!
//! The caller reads the old cluster ([`Catalog`]) and brings a grammar ([`ScriptParser`]):
//! the core stays free of both a client and a parser.

pub mod chains;
#[cfg(feature = "client")]
pub mod client;
pub mod layout;

use std::collections::{BTreeMap, BTreeSet};

use crate::codes::Code;
use crate::compat::{self, Preloaded};
use crate::elf::{Analyzer, LibraryReport};
use crate::inventory::{self, Inventory, Settings};
use crate::paths::{self, LibraryRef};
use crate::preflight::{self, Cancelled};
use crate::problem::{Problem, Severity};
use crate::target::Target;

pub use chains::{UpdateChain, update_chains};
pub use layout::{JobLayout, LdOrder};

/// A C function of the old cluster, as `pg_upgrade` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CFunction {
    /// `probin`: the library name as the catalog stores it.
    pub library: String,
    /// `oid::regprocedure`.
    pub signature: String,
    /// The extension it belongs to (`pg_depend` deptype `e`), if any.
    pub extension: Option<String>,
}

/// One installed extension of a database of the old cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledExtension {
    /// `extname`.
    pub name: String,
    /// `extversion`.
    pub version: String,
}

/// One database of the old cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Database {
    /// `datname`.
    pub name: String,
    /// `pg_extension`, by name.
    pub extensions: Vec<InstalledExtension>,
    /// C functions with a library (user objects only, as `pg_upgrade` reads them).
    pub functions: Vec<CFunction>,
}

/// What the pre-flight needs from the old cluster: read-only catalog facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalog {
    /// `server_version_num`.
    pub server_version_num: u32,
    /// `shared_preload_libraries`, split.
    pub shared_preload_libraries: Vec<String>,
    /// `dynamic_library_path` as the old server has it (Job paths).
    pub dynamic_library_path: String,
    /// Every database `pg_upgrade` connects to (`datallowconn`), by name.
    pub databases: Vec<Database>,
}

/// The queries that fill a [`Catalog`], for PostgreSQL 13 and later; each runs in every database
/// (pg_upgrade's own query, with the function and its extension).
pub mod queries {
    /// The cluster's settings and databases (run once).
    pub const SETTINGS: &str = "SELECT current_setting('server_version_num'), current_setting('shared_preload_libraries'), current_setting('dynamic_library_path')";
    /// Databases `pg_upgrade` reads.
    pub const DATABASES: &str = "SELECT datname::text FROM pg_catalog.pg_database WHERE datallowconn ORDER BY datname";
    /// Installed extensions.
    pub const EXTENSIONS: &str = "SELECT extname::text, extversion FROM pg_catalog.pg_extension ORDER BY extname";
    /// `get_loadable_libraries()`'s query (prolang 13 = C, 16384 = FirstNormalObjectId), with the
    /// function and the extension it belongs to.
    pub const FUNCTIONS: &str = "SELECT p.probin, p.oid::pg_catalog.regprocedure::text, e.extname::text \
        FROM pg_catalog.pg_proc p \
        LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid \
             AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e' \
        LEFT JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
        WHERE p.prolang = 13 AND p.probin IS NOT NULL AND p.oid >= 16384 \
        ORDER BY 1, 2";
}

/// A syntax error PostgreSQL's grammar reports for a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The parser's message (`syntax error at or near "…"`).
    pub message: String,
    /// 1-based line of the error's position (PostgreSQL's cursor), when known.
    pub line: Option<usize>,
}

/// The 1-based line of PostgreSQL's error cursor (`cursorpos`: 1-based, in characters);
/// `None` for 0 (no position).
pub fn line_of_cursor(sql: &str, cursorpos: usize) -> Option<usize> {
    let before = cursorpos.checked_sub(1)?;
    Some(sql.chars().take(before).filter(|&c| c == '\n').count() + 1)
}

/// PostgreSQL's own grammar (`raw_parser()`), brought by the caller: `libpg_query` in
/// `pgext-check`, the server's parser inside PostgreSQL.
pub trait ScriptParser {
    /// Parses a whole script (already prepared as `execute_extension_script()` would).
    fn parse(&self, sql: &str) -> Result<(), SyntaxError>;
}

/// The verdict on one library name of the old catalog.
#[derive(Debug, Clone)]
pub struct LibraryVerdict {
    /// The name as the catalog has it (`probin`).
    pub library: String,
    /// The file `LOAD` reaches in the new server (Job path), when one does.
    pub resolved: Option<String>,
    /// `LOAD` succeeds in the new server.
    pub loadable: bool,
    /// Why not, or warnings.
    pub problems: Vec<Problem>,
    /// Database → functions using it.
    pub referenced_by: Vec<(String, Vec<String>)>,
    /// The old server under the Job's environment: `None` when the old server was not given.
    pub old_server: Option<OldLoad>,
}

/// The old server loading a library under the Job's environment.
#[derive(Debug, Clone)]
pub struct OldLoad {
    /// It loads.
    pub loadable: bool,
    /// `true` for a `shared_preload_libraries` entry: the old server does not start without it.
    pub preloaded: bool,
    /// Why not.
    pub problems: Vec<Problem>,
}

/// One installed extension after the upgrade.
#[derive(Debug, Clone)]
pub struct ExtensionPlan {
    /// Name.
    pub name: String,
    /// `extversion` in the old cluster (and so right after `pg_upgrade`).
    pub installed_version: String,
    /// The new default version, when the new images provide the extension.
    pub target_version: Option<String>,
    /// Versions `ALTER EXTENSION … UPDATE` passes through (installed excluded); `None`: no path.
    pub update_path: Option<Vec<String>>,
    /// The image providing it in the new server (`None`: the server's own, or not provided).
    pub image: Option<String>,
    /// Everything below holds.
    pub compatible: bool,
    /// What is wrong.
    pub problems: Vec<Problem>,
    /// The statement to run after the upgrade, when the version changes.
    pub statement: Option<String>,
}

/// One database after the upgrade.
#[derive(Debug, Clone)]
pub struct DatabasePlan {
    /// Name.
    pub name: String,
    /// Installed extensions, in update order (required ones first).
    pub extensions: Vec<ExtensionPlan>,
}

impl DatabasePlan {
    /// The `ALTER EXTENSION … UPDATE` statements, in order.
    pub fn statements(&self) -> Vec<String> {
        self.extensions.iter().filter_map(|e| e.statement.clone()).collect()
    }
}

/// The answer.
#[derive(Debug, Clone)]
pub struct UpgradeReport {
    /// Every library of the old catalog, by name.
    pub libraries: Vec<LibraryVerdict>,
    /// Every database, by name.
    pub databases: Vec<DatabasePlan>,
    /// Problems of the composition (an image directory missing, …), with the image's name.
    pub problems: Vec<(String, Problem)>,
    /// The old cluster's major (`15`).
    pub old_major: u32,
    /// The `LD_LIBRARY_PATH` order judged.
    pub order: LdOrder,
    /// The Job's `LD_LIBRARY_PATH` (Job paths).
    pub ld_library_path: Vec<String>,
}

impl UpgradeReport {
    /// `pg_upgrade` loads every library, the old server starts, and every update would run.
    pub fn compatible(&self) -> bool {
        self.libraries
            .iter()
            .all(|l| l.loadable && l.old_server.as_ref().is_none_or(|o| o.loadable || !o.preloaded))
            && self.databases.iter().all(|d| d.extensions.iter().all(|e| e.compatible))
            && !self.problems.iter().any(|(_, p)| p.severity == Severity::Error)
    }
}

/// What to judge against.
pub struct Inputs<'a> {
    /// The new server.
    pub target: &'a Target,
    /// The old server's installation, for its side of the Job (optional).
    pub old_target: Option<&'a Target>,
    /// The images and `LD_LIBRARY_PATH` order.
    pub layout: &'a JobLayout,
    /// The new cluster's `shared_preload_libraries`.
    pub new_preload: &'a [String],
    /// The old cluster.
    pub catalog: &'a Catalog,
    /// PostgreSQL's grammar.
    pub parser: &'a dyn ScriptParser,
}

/// Judges the upgrade. `cancel` is asked before each library analysis.
pub fn run(inputs: &Inputs<'_>, cancel: &dyn Fn() -> bool) -> Result<UpgradeReport, Cancelled> {
    let Inputs {
        target,
        old_target,
        layout,
        new_preload,
        catalog,
        parser,
    } = *inputs;
    let order = layout.order;
    let mut settings = preflight::settings(target, &layout.new);
    settings.ld_library_path = layout.ld_library_path(order);
    let ld = |o: LdOrder| Some(layout.ld_library_path(o).join(":")).filter(|s| !s.is_empty());
    let mut analyzer = Analyzer::new(target.search_config(ld(order)), target.magic);
    let mut other = Analyzer::new(target.search_config(ld(order.other())), target.magic);
    let preloaded = Preloaded::resolve(new_preload, &settings);
    let published = preloaded.published(&mut |p: &str| analyzer.analyze(std::path::Path::new(p)));

    // Library names, with who uses them.
    let mut uses: BTreeMap<&str, BTreeMap<&str, Vec<String>>> = BTreeMap::new();
    for db in &catalog.databases {
        for f in &db.functions {
            uses.entry(&f.library)
                .or_default()
                .entry(&db.name)
                .or_default()
                .push(f.signature.clone());
        }
    }
    let mut libraries = Vec::with_capacity(uses.len());
    for (name, by) in &uses {
        if cancel() {
            return Err(Cancelled);
        }
        let mut v = judge_new(
            name,
            &settings,
            layout,
            &mut analyzer,
            &mut other,
            (&preloaded, &published),
        );
        v.referenced_by = by.iter().map(|(d, f)| ((*d).to_owned(), f.clone())).collect();
        libraries.push(v);
    }

    // The old server under the Job's environment.
    if let Some(old) = old_target {
        let mut old_an = Analyzer::new(old.search_config(ld(order)), old.magic);
        let lib_path = paths::expand_library_path(
            &layout::localise_setting(layout, &catalog.dynamic_library_path),
            &old.pkglibdir,
        );
        // PostgreSQL before 18 never strips `$libdir/`; 18 does for C functions.
        let how = if catalog.server_version_num >= 180000 {
            LibraryRef::Function
        } else {
            LibraryRef::Load
        };
        for v in &mut libraries {
            if cancel() {
                return Err(Cancelled);
            }
            v.old_server = Some(judge_old(&v.library, how, false, &lib_path, layout, &mut old_an, old));
        }
        for name in &catalog.shared_preload_libraries {
            if cancel() {
                return Err(Cancelled);
            }
            let o = judge_old(name, LibraryRef::Load, true, &lib_path, layout, &mut old_an, old);
            match libraries.iter_mut().find(|l| &l.library == name) {
                Some(l) => l.old_server = Some(o),
                None => libraries.push(LibraryVerdict {
                    library: name.clone(),
                    resolved: None,
                    loadable: true,
                    problems: Vec::new(),
                    referenced_by: Vec::new(),
                    old_server: Some(o),
                }),
            }
        }
    }

    let databases = catalog
        .databases
        .iter()
        .map(|db| plan_database(db, &settings, &libraries, layout, parser))
        .collect();

    let mut problems = Vec::new();
    for image in layout.new.iter().chain(&layout.old) {
        if !image.dir.is_dir() {
            problems.push((
                image.name.clone(),
                Problem::error(
                    Code::NotMounted,
                    format!("image directory \"{}\" does not exist", image.dir.display()),
                ),
            ));
        }
    }
    Ok(UpgradeReport {
        libraries,
        databases,
        problems,
        old_major: catalog.server_version_num / 10000,
        order,
        ld_library_path: settings.ld_library_path.iter().map(|p| layout.job_path(p)).collect(),
    })
}

/// `LOAD '<name>'` in the new server, as `check_loadable_libraries()` runs it.
fn judge_new(
    name: &str,
    settings: &Settings,
    layout: &JobLayout,
    analyzer: &mut Analyzer,
    other: &mut Analyzer,
    (preloaded, published): (&Preloaded, &[String]),
) -> LibraryVerdict {
    let mut v = LibraryVerdict {
        library: name.to_owned(),
        resolved: None,
        loadable: false,
        problems: Vec::new(),
        referenced_by: Vec::new(),
        old_server: None,
    };
    let local = layout.local(name);
    let lookup = paths::library_candidates(&local, LibraryRef::Load, &settings.library, &settings.pkglibdir);
    let path = match lookup.resolve(inventory::pg_file_exists) {
        Ok(Some(p)) => p,
        Ok(None) => {
            let mut p = Problem::error(
                Code::LibraryNotFound,
                format!("could not access file \"{name}\": No such file or directory"),
            );
            p.hint = Some(not_found_hint(name, &local, settings, layout));
            v.problems.push(p.folded());
            return v;
        }
        Err((pos, e)) => {
            v.problems.push(Problem::error(
                Code::LibrarySearchError,
                format!("LOAD '{name}' fails at element {pos} of the new dynamic_library_path ({e})"),
            ));
            return v;
        }
    };
    v.resolved = Some(layout.job_path(&path));
    let mut report = analyzer.analyze(std::path::Path::new(&path));
    report.preload.assume_published(published);
    v.problems = report.problems.iter().map(Problem::folded).collect();
    if layout.is_old(&path) {
        v.problems.push(Problem::warning(
            Code::LibraryNotFound,
            format!(
                "LOAD '{name}' reaches the old image's file {}: the new server would load the old build",
                layout.job_path(&path)
            ),
        ));
    }
    let preload = compat::preload_problem(&report, preloaded.contains(&path), true);
    v.loadable = report.loadable && preload.as_ref().is_none_or(|p| p.severity != Severity::Error);
    v.problems.extend(preload);
    if !report.loadable && binding_failed(&report) {
        let alt = other.analyze(std::path::Path::new(&path));
        if alt.loadable {
            v.problems.push(shadowed(&report, &alt, layout));
        }
    }
    v
}

/// The load failed on a symbol or a symbol version (not on a missing file or the magic block).
fn binding_failed(r: &LibraryReport) -> bool {
    r.errors()
        .any(|p| matches!(p.code, Code::UndefinedSymbol | Code::MissingSymbolVersion))
        && !r
            .errors()
            .any(|p| !matches!(p.code, Code::UndefinedSymbol | Code::MissingSymbolVersion))
}

/// The fix when the other `LD_LIBRARY_PATH` order loads the library: which dependency the
/// Job's order takes from where.
fn shadowed(report: &LibraryReport, alt: &LibraryReport, layout: &JobLayout) -> Problem {
    let mut moved = Vec::new();
    for d in &report.dependencies {
        let Some(p) = &d.path else { continue };
        if let Some(a) = alt
            .dependencies
            .iter()
            .find(|a| a.name == d.name && a.path.as_ref().is_some_and(|ap| ap != p))
        {
            let line = format!(
                "{} resolves to {} before {}",
                d.name,
                layout.job_path(p),
                layout.job_path(a.path.as_deref().unwrap_or_default())
            );
            if !moved.contains(&line) {
                moved.push(line);
            }
        }
    }
    let needs = report
        .errors()
        .next()
        .map(|p| p.subject.clone().unwrap_or_else(|| p.message.clone()))
        .unwrap_or_default();
    let base = report.path.rsplit('/').next().unwrap_or(&report.path);
    let order = layout.order;
    Problem::error(
        Code::LdLibraryPathShadowed,
        format!(
            "{}: {base} needs {needs}; with LD_LIBRARY_PATH {} (the other order) it loads. Fix: put the new images' library directories first (cloudnative-pg PR 11286), or ship the same {} in both images",
            if moved.is_empty() {
                "a dependency resolves differently".to_owned()
            } else {
                moved.join(", ")
            },
            order.other().as_str(),
            report
                .dependencies
                .iter()
                .find(|d| d.path.as_deref().is_some_and(|p| layout.is_old(p)))
                .map_or("dependencies".to_owned(), |d| d.name.clone()),
        ),
    )
}

/// Why a name is not found, and what would be.
fn not_found_hint(name: &str, local: &str, settings: &Settings, layout: &JobLayout) -> String {
    let found_as_function =
        paths::library_candidates(local, LibraryRef::Function, &settings.library, &settings.pkglibdir)
            .resolve(inventory::pg_file_exists)
            .ok()
            .flatten();
    match found_as_function {
        Some(p) if name.starts_with("$libdir/") => format!(
            "PostgreSQL 18's LOAD keeps \"$libdir/\" and looks only in {}; the new images have {} (found by dynamic_library_path, which C function calls use): pg_upgrade --check fails until the file is in the new server's own library directory (PostgreSQL 19 strips $libdir/ in LOAD)",
            settings.pkglibdir,
            layout.job_path(&p)
        ),
        _ if layout::OLD_BASE.len() < name.len() && name.starts_with(layout::OLD_BASE) => {
            "the catalog names an old image's path: give the functions a name the new dynamic_library_path finds"
                .to_owned()
        }
        _ => format!(
            "no new image nor the new server's {} has it: add the image that ships it, or drop the functions that use it before the upgrade",
            settings.pkglibdir
        ),
    }
}

/// The old server loading `name` under the Job's environment.
fn judge_old(
    name: &str,
    how: LibraryRef,
    preloaded: bool,
    lib_path: &[paths::PathElement],
    layout: &JobLayout,
    analyzer: &mut Analyzer,
    old: &Target,
) -> OldLoad {
    let local = layout.local(name);
    let lookup = paths::library_candidates(&local, how, lib_path, &old.pkglibdir);
    let severity = if preloaded { Severity::Error } else { Severity::Warning };
    let mut problems = Vec::new();
    let loadable = match lookup.resolve(inventory::pg_file_exists) {
        Ok(Some(p)) => {
            let r = analyzer.analyze(std::path::Path::new(&p));
            problems = r
                .problems
                .iter()
                .map(|x| {
                    let mut x = x.folded();
                    if x.severity == Severity::Error {
                        x.severity = severity;
                    }
                    x
                })
                .collect();
            r.loadable
        }
        _ => {
            problems.push(Problem::new(
                Code::LibraryNotFound,
                severity,
                format!("the old server finds no file for \"{name}\""),
            ));
            false
        }
    };
    if !loadable && preloaded {
        problems.push(Problem::error(
            Code::LibraryUnloadable,
            format!("{name} is in the old cluster's shared_preload_libraries: the old server does not start under the upgrade Job's LD_LIBRARY_PATH"),
        ));
    }
    OldLoad {
        loadable,
        preloaded,
        problems,
    }
}

/// One database: each installed extension against the new images, in update order.
fn plan_database(
    db: &Database,
    settings: &Settings,
    libraries: &[LibraryVerdict],
    layout: &JobLayout,
    parser: &dyn ScriptParser,
) -> DatabasePlan {
    let mut s = settings.clone();
    s.with_references = false;
    s.installed = db
        .extensions
        .iter()
        .map(|e| (e.name.clone(), e.version.clone()))
        .collect();
    let inv = Inventory::collect(&s);
    let mut plans: Vec<ExtensionPlan> = Vec::new();
    let mut requires: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for installed in &db.extensions {
        let mut plan = ExtensionPlan {
            name: installed.name.clone(),
            installed_version: installed.version.clone(),
            target_version: None,
            update_path: None,
            image: None,
            compatible: true,
            problems: Vec::new(),
            statement: None,
        };
        match inv.extensions.iter().find(|e| e.visible && e.name == installed.name) {
            None => plan.problems.push(Problem::error(
                Code::NotProvided,
                format!(
                    "extension \"{}\" {} is installed, but neither the new server nor a new image has {}.control: add its image to the new images",
                    installed.name, installed.version, installed.name
                ),
            )),
            Some(ext) => {
                plan.image = ext.image.clone();
                let control = ext.control.as_ref();
                plan.target_version = control.and_then(|c| c.default_version.clone());
                requires.insert(ext.name.clone(), control.map(|c| c.requires.clone()).unwrap_or_default());
                plan.update_path = ext.update_path.clone();
                for p in &ext.problems {
                    let mut p = p.folded();
                    // Without a path the update the plan needs fails.
                    if p.code == Code::NoUpdatePath {
                        p.severity = Severity::Error;
                    }
                    plan.problems.push(p);
                }
                if let (Some(path), Some(dir)) = (&plan.update_path, &ext.script_dir) {
                    check_scripts(ext, &installed.version, path, dir, parser, layout, &mut plan.problems);
                }
                // What pg_upgrade lists in update_extensions.sql: every extension whose
                // installed version is not the new default, whether or not the update can run.
                if plan.target_version.as_ref().is_some_and(|t| *t != installed.version) {
                    plan.statement = Some(format!("ALTER EXTENSION {} UPDATE;", quote_ident(&ext.name)));
                }
            }
        }
        let mut libs: BTreeSet<&str> = BTreeSet::new();
        for f in db
            .functions
            .iter()
            .filter(|f| f.extension.as_deref() == Some(&installed.name))
        {
            libs.insert(&f.library);
        }
        for lib in libs {
            if let Some(v) = libraries.iter().find(|l| l.library == lib && !l.loadable) {
                plan.problems.push(Problem::error(
                    Code::LibraryUnloadable,
                    format!(
                        "its C functions use \"{lib}\", which the new server cannot LOAD: {}",
                        v.problems
                            .iter()
                            .find(|p| p.severity == Severity::Error)
                            .map_or("", |p| p.code.as_str())
                    ),
                ));
            }
        }
        plan.compatible = !plan.problems.iter().any(|p| p.severity == Severity::Error);
        plans.push(plan);
    }
    DatabasePlan {
        name: db.name.clone(),
        extensions: update_order(plans, &requires),
    }
}

/// Parses every update script on the path; a script that cannot be read or parsed is a problem.
fn check_scripts(
    ext: &inventory::Extension,
    from: &str,
    path: &[String],
    dir: &str,
    parser: &dyn ScriptParser,
    layout: &JobLayout,
    out: &mut Vec<Problem>,
) {
    let module = ext.control.as_ref().and_then(|c| c.module_pathname.as_deref());
    let mut prev = from;
    for to in path {
        out.extend(script_problem(&ext.name, prev, to, dir, module, parser, layout));
        prev = to;
    }
}

/// What is wrong with the update script `<name>--<from>--<to>.sql` in `dir`: it cannot be read,
/// or PostgreSQL's grammar rejects it (as `execute_extension_script()` would hand it over).
fn script_problem(
    name: &str,
    from: &str,
    to: &str,
    dir: &str,
    module: Option<&str>,
    parser: &dyn ScriptParser,
    layout: &JobLayout,
) -> Option<Problem> {
    let file = format!("{dir}/{name}--{from}--{to}.sql");
    let sql = match read_script(&file) {
        Ok(sql) => sql,
        Err(e) => {
            return Some(Problem::error(
                Code::ScriptUnreadable,
                format!("cannot read {}: {e}", layout.job_path(&file)),
            ));
        }
    };
    let e = parser.parse(&crate::scripts::prepare_for_parser(&sql, module)).err()?;
    let mut p = Problem::error(
        Code::ScriptSyntaxError,
        format!(
            "{}{}: {}",
            layout.job_path(&file),
            e.line.map(|l| format!(" line {l}")).unwrap_or_default(),
            e.message
        ),
    );
    p.subject = Some(format!("{name}--{from}--{to}.sql"));
    p.hint = Some(format!(
        "ALTER EXTENSION {name} UPDATE fails at this step; fix the script in the image, or update to a version before it"
    ));
    Some(p.folded())
}

/// `ALTER EXTENSION … UPDATE` on the current server: one installed extension's path from its
/// installed version to the default, and whether each script on it parses.
#[derive(Debug, Clone)]
pub struct UpdateCheck {
    /// Extension.
    pub name: String,
    /// Installed version.
    pub installed_version: String,
    /// Default version of the visible control file.
    pub default_version: Option<String>,
    /// Versions the update passes through (installed excluded); `None`: no path.
    pub update_path: Option<Vec<String>>,
    /// The update would run as far as files and grammar tell: a path exists and every script on
    /// it parses (`None` when there is no default version to go to).
    pub updatable: Option<bool>,
    /// `no_update_path`, `script_syntax_error`, `script_unreadable`.
    pub problems: Vec<Problem>,
}

/// [`UpdateCheck`] for every installed, visible extension of an inventory collected with the
/// installed versions ([`Settings::installed`]).
pub fn update_checks(inv: &Inventory, parser: &dyn ScriptParser) -> Vec<UpdateCheck> {
    let layout = JobLayout {
        old: Vec::new(),
        new: Vec::new(),
        order: LdOrder::default(),
    };
    inv.extensions
        .iter()
        .filter(|e| e.visible)
        .filter_map(|ext| {
            let installed = ext.installed_version.clone()?;
            let mut problems: Vec<Problem> = ext
                .problems
                .iter()
                .filter(|p| p.code == Code::NoUpdatePath)
                .map(Problem::folded)
                .collect();
            if let (Some(path), Some(dir)) = (&ext.update_path, &ext.script_dir) {
                check_scripts(ext, &installed, path, dir, parser, &layout, &mut problems);
            }
            let default_version = ext.control.as_ref().and_then(|c| c.default_version.clone());
            Some(UpdateCheck {
                name: ext.name.clone(),
                installed_version: installed,
                updatable: default_version
                    .as_ref()
                    .map(|_| ext.update_path.is_some() && problems.is_empty()),
                default_version,
                update_path: ext.update_path.clone(),
                problems,
            })
        })
        .collect()
}

fn read_script(file: &str) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(file)?;
    let mut s = String::new();
    f.take(inventory::MAX_SCRIPT_BYTES).read_to_string(&mut s)?;
    Ok(s)
}

/// Required extensions first (control files' `requires`), otherwise by name.
fn update_order(plans: Vec<ExtensionPlan>, requires: &BTreeMap<String, Vec<String>>) -> Vec<ExtensionPlan> {
    let mut left: BTreeMap<String, ExtensionPlan> = plans.into_iter().map(|p| (p.name.clone(), p)).collect();
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready = left
            .keys()
            .find(|n| {
                requires
                    .get(*n)
                    .is_none_or(|r| r.iter().all(|x| x == *n || !left.contains_key(x)))
            })
            // A cycle (which CREATE EXTENSION refuses anyway): take the first by name.
            .or_else(|| left.keys().next())
            .cloned()
            .expect("not empty");
        out.push(left.remove(&ready).expect("present"));
    }
    out
}

/// `quote_identifier()`: lower-case letters, digits and `_`, not starting with a digit, stay
/// bare; everything else is double-quoted. (Keywords are quoted by PostgreSQL too; extension
/// names that are keywords are rare, and quoting one is harmless.)
pub fn quote_ident(name: &str) -> String {
    let bare = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if bare {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests;
