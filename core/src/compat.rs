//! Compatibility verdicts: will `CREATE EXTENSION … CASCADE` (and the `LOAD`s its scripts run)
//! work now — and will the extension work once used?
//!
//! Decided from the inventory and static library analysis only — nothing is loaded, since
//! `dlopen` runs constructors (and a truncated library crashes the backend outright).
//!
//! `compatible` answers "will `CREATE EXTENSION … CASCADE` succeed now": the extension row has no
//! error; every library a script **of the install path** loads (a C function `AS 'file'` or a
//! `LOAD`; for an installed extension, the update path from `installed_version` too) resolves
//! under PostgreSQL 18's dfmgr rules, passes [`crate::elf`] analysis, and does not refuse to load
//! outside `shared_preload_libraries` unless it is preloaded ([`elf::PreloadNeed`]); every
//! `requires` entry is itself compatible. A control file's `module_pathname` loads nothing by
//! itself (it is only substituted for `MODULE_PATHNAME` in scripts): SQL-only extensions that
//! name a missing library install fine. When the preload analysis cannot decide, the verdict is
//! undecided ([`Verdict::decided`] false, code `preload_undecided`), never a silent `true`.
//!
//! `usable` answers "will it work once used": every library it names — `module_pathname`'s and
//! those of its install and update paths — loads, a preload-only library counting as loadable
//! (it loads at the next restart once preloaded), and every requirement is usable. Libraries
//! named only by update scripts off both paths are warnings: they break nothing that runs.

use crate::codes::Code;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::elf;
use crate::inventory::{DataFileState, Extension, Inventory, ScriptFileRead, ScriptReference, Settings};
use crate::paths::{self, LibraryRef};
use crate::problem::{Problem, Severity};
use crate::scripts::ReferenceKind;

/// The server's preload settings, resolved to files: a library in `shared_preload_libraries` was
/// loaded by the postmaster with `process_shared_preload_libraries_in_progress` true, and dfmgr
/// finds it already loaded (same file) when a script loads it again, so its `_PG_init` does not
/// run again. `session_preload_libraries` and `local_preload_libraries` load at backend start
/// with the flag false, so they do not help a preload-only library.
#[derive(Debug, Clone, Default)]
pub struct Preloaded {
    /// `shared_preload_libraries` as listed.
    pub shared: Vec<String>,
    /// The files those entries resolve to (canonical paths).
    files: HashSet<String>,
}

impl Preloaded {
    /// Resolves each entry as `load_file()` does (no `$libdir/` stripping; `dynamic_library_path`
    /// for bare names, then with `.so`).
    pub fn resolve(shared: &[String], settings: &Settings) -> Preloaded {
        let files = shared
            .iter()
            .filter_map(|name| {
                paths::library_candidates(name, LibraryRef::Load, &settings.library, &settings.pkglibdir)
                    .resolve(crate::inventory::pg_file_exists)
                    .ok()
                    .flatten()
            })
            .map(|f| canonical(&f))
            .collect();
        Preloaded {
            shared: shared.to_vec(),
            files,
        }
    }

    /// Whether the library at `path` is loaded at server start.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains(&canonical(path))
    }

    /// The rendezvous variables the preloaded libraries set while they load (a loader such as
    /// timescaledb.so announcing itself to the library it loads later).
    pub fn published(&self, analyze: &mut dyn FnMut(&str) -> elf::LibraryReport) -> Vec<String> {
        let mut files: Vec<&String> = self.files.iter().collect();
        files.sort();
        let mut out: Vec<String> = files.into_iter().flat_map(|f| analyze(f).preload.publishes).collect();
        out.sort();
        out.dedup();
        out
    }
}

fn canonical(path: &str) -> String {
    std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string())
}

/// How a library is named by an extension.
#[derive(Debug, Clone, Default)]
pub struct Naming {
    /// `module_pathname`, or `<script>:<line>` for each reference.
    pub via: Vec<String>,
    /// Loaded by `CREATE EXTENSION` (a script of the install path).
    pub on_install_path: bool,
    /// Loaded by `ALTER EXTENSION … UPDATE` from the installed version.
    pub on_update_path: bool,
}

/// One library an extension names, with how it was named and what analysis found.
#[derive(Debug, Clone)]
pub struct LibraryUse {
    /// The resolved file.
    pub path: String,
    /// How it is named: `module_pathname`, or `<script>:<line>`.
    pub via: Vec<String>,
    /// Needed by `CREATE EXTENSION` (install path) or the pending update, rather than only named.
    pub on_install_path: bool,
    /// In `shared_preload_libraries`.
    pub preloaded: bool,
    /// The analysis.
    pub report: elf::LibraryReport,
}

/// The verdict for one visible extension.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Extension name.
    pub name: String,
    /// No error found for `CREATE EXTENSION … CASCADE` (default version).
    pub compatible: bool,
    /// `false` when whether a library refuses to load could not be decided statically (code
    /// `preload_undecided`, here or in a requirement): `compatible` is then shown as NULL.
    pub decided: bool,
    /// Findings about `CREATE EXTENSION`: the inventory's, the libraries', the requirements'.
    pub problems: Vec<Problem>,
    /// Every library it names loads (preload-only ones once preloaded), requirements included.
    pub usable: bool,
    /// Findings about use: libraries `CREATE` does not touch, preloading still to be done.
    pub usable_problems: Vec<Problem>,
    /// Libraries named (resolved), analysed.
    pub libraries: Vec<LibraryUse>,
    /// `requires` entries and whether each is compatible (`None`: not available or undecided).
    pub requires: Vec<(String, Option<bool>)>,
}

impl Verdict {
    /// `compatible` as SQL shows it: a decided failure is `false`, an undecided one NULL.
    pub fn compatible_sql(&self) -> Option<bool> {
        match (self.compatible, self.decided) {
            (false, _) => Some(false),
            (true, true) => Some(true),
            (true, false) => None,
        }
    }
}

/// What loading a library does to the server when it is not preloaded, as a problem (with
/// `for_load` the severity that fits `LOAD`/`CREATE`; otherwise advice for use); when it is
/// preloaded, whether it refuses to be.
pub fn preload_problem(report: &elf::LibraryReport, preloaded: bool, for_load: bool) -> Option<Problem> {
    if !report.loadable {
        return None;
    }
    let base = report.path.rsplit('/').next().unwrap_or(&report.path);
    let base = base.strip_suffix(".so").unwrap_or(base);
    if preloaded {
        // The postmaster runs _PG_init while it starts: a FATAL there stops the server.
        return report.preload.preload_refused.as_ref().map(|r| {
            Problem::new(
                Code::PreloadRefused,
                Severity::Error,
                format!(
                    "{base} refuses to be preloaded: {}; the server does not start with it in shared_preload_libraries: take it out (LOAD it, or use session_preload_libraries)",
                    r.message()
                ),
            )
        });
    }
    match report.preload.need() {
        elf::PreloadNeed::None => None,
        elf::PreloadNeed::Required(why) => Some(Problem::new(
            Code::PreloadRequired,
            if for_load { Severity::Error } else { Severity::Warning },
            format!("{base} refuses to load unless it is in shared_preload_libraries: {why}; add it there and restart"),
        )),
        elf::PreloadNeed::Recommended(why) => Some(Problem::warning(
            Code::PreloadRecommended,
            format!("{base} loads without preloading but does less: {why}"),
        )),
        elf::PreloadNeed::Undecided(why) => Some(Problem::warning(
            Code::PreloadUndecided,
            format!(
                "whether {base} refuses to load outside shared_preload_libraries could not be decided statically: {why}"
            ),
        )),
    }
}

/// Script names on the path from the first version (installed by `<ext>--<v0>.sql`) through
/// update scripts to the last.
fn scripts_on(ext: &str, versions: &[String], from_installed: bool) -> HashSet<String> {
    let mut out = HashSet::new();
    if versions.is_empty() {
        return out;
    }
    if !from_installed {
        out.insert(format!("{ext}--{}.sql", versions[0]));
    }
    for w in versions.windows(2) {
        out.insert(format!("{ext}--{}--{}.sql", w[0], w[1]));
    }
    out
}

/// Three-valued state of a requirement chain: false wins over undecided, undecided over true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tri {
    No,
    Unknown,
    Yes,
}

/// Judges every visible extension of `inv`. `analyze` turns a library path into a report (the
/// caller caches); `preloaded` is the server's preload settings.
pub fn judge_all(
    inv: &Inventory,
    analyze: &mut dyn FnMut(&str) -> elf::LibraryReport,
    preloaded: &Preloaded,
) -> BTreeMap<String, Verdict> {
    judge(inv, analyze, preloaded, None)
}

/// `names` and every extension they require, transitively, as the visible control files say
/// (unknown names included: their verdict says they are missing).
pub fn requirement_closure<S: AsRef<str>>(inv: &Inventory, names: &[S]) -> BTreeSet<String> {
    let mut closure = BTreeSet::new();
    let mut todo: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
    while let Some(n) = todo.pop() {
        if closure.contains(&n) {
            continue;
        }
        if let Some(c) = inv
            .extensions
            .iter()
            .find(|e| e.visible && e.name == n)
            .and_then(|e| e.control.as_ref())
        {
            todo.extend(c.requires.iter().filter(|r| !closure.contains(*r)).cloned());
        }
        closure.insert(n);
    }
    closure
}

/// The verdicts [`judge_all`] gives the extensions of `only`, which must be closed under
/// `requires` ([`requirement_closure`]): no other extension's libraries are analysed (one
/// extension's check should not walk every library of the server).
pub fn judge_only(
    inv: &Inventory,
    analyze: &mut dyn FnMut(&str) -> elf::LibraryReport,
    preloaded: &Preloaded,
    only: &BTreeSet<String>,
) -> BTreeMap<String, Verdict> {
    judge(inv, analyze, preloaded, Some(only))
}

fn judge(
    inv: &Inventory,
    analyze_file: &mut dyn FnMut(&str) -> elf::LibraryReport,
    preloaded: &Preloaded,
    only: Option<&BTreeSet<String>>,
) -> BTreeMap<String, Verdict> {
    // Every report as this server's preloaded libraries leave it.
    let published = preloaded.published(analyze_file);
    let mut analyze_here = |p: &str| {
        let mut r = analyze_file(p);
        r.preload.assume_published(&published);
        r
    };
    let analyze: &mut dyn FnMut(&str) -> elf::LibraryReport = &mut analyze_here;
    let visible: HashMap<&str, &Extension> = inv
        .extensions
        .iter()
        .filter(|e| e.visible && only.is_none_or(|o| o.contains(&e.name)))
        .map(|e| (e.name.as_str(), e))
        .collect();
    // Library basenames found on dynamic_library_path: to explain a `LOAD '$libdir/x'` that only
    // an image provides.
    let on_path: HashMap<String, &str> = inv
        .libraries
        .iter()
        .filter(|l| l.shadowed_by.is_none() && matches!(l.source, crate::inventory::LibrarySource::LibraryPath(_)))
        .map(|l| (l.basename.trim_end_matches(".so").to_string(), l.path.as_str()))
        .collect();
    let mut own: BTreeMap<String, Verdict> = BTreeMap::new();
    for ext in visible.values() {
        own.insert(ext.name.clone(), judge_own(ext, analyze, preloaded, &on_path));
    }
    let graph: HashMap<&str, Vec<&str>> = visible
        .iter()
        .map(|(n, e)| {
            let reqs = e
                .control
                .as_ref()
                .map(|c| c.requires.iter().map(String::as_str).collect())
                .unwrap_or_default();
            (*n, reqs)
        })
        .collect();
    let own_state = |v: &Verdict| match v.compatible_sql() {
        Some(true) => Tri::Yes,
        Some(false) => Tri::No,
        None => Tri::Unknown,
    };
    let create: HashMap<String, Tri> = own.iter().map(|(n, v)| (n.clone(), own_state(v))).collect();
    let use_: HashMap<String, Tri> = own
        .iter()
        .map(|(n, v)| (n.clone(), if v.usable { Tri::Yes } else { Tri::No }))
        .collect();
    let (create_memo, cyclic) = chains(&graph, &create);
    let (use_memo, _) = chains(&graph, &use_);
    for (name, v) in own.iter_mut() {
        let mut req_rows = Vec::new();
        for r in graph.get(name.as_str()).cloned().unwrap_or_default() {
            let state = if visible.contains_key(r) {
                create_memo.get(r).copied()
            } else {
                None
            };
            match state {
                Some(Tri::No) => v.problems.push(Problem::error(
                    Code::RequiresIncompatible,
                    format!("requires extension \"{r}\", which is not compatible"),
                )),
                Some(Tri::Unknown) => v.problems.push(Problem::warning(
                    Code::PreloadUndecided,
                    format!("requires extension \"{r}\", whose compatibility could not be decided"),
                )),
                _ => {}
            }
            if use_memo.get(r) == Some(&Tri::No) {
                v.usable_problems.push(Problem::error(
                    Code::RequiresUnusable,
                    format!("requires extension \"{r}\", which is not usable"),
                ));
            }
            req_rows.push((
                r.to_string(),
                match state {
                    Some(Tri::Yes) => Some(true),
                    Some(Tri::No) => Some(false),
                    _ => None,
                },
            ));
        }
        if cyclic.contains(name.as_str()) {
            v.problems.push(Problem::error(
                Code::RequiresCycle,
                "its requires chain is cyclic: CREATE EXTENSION … CASCADE fails with \"cyclic dependency detected\"",
            ));
        }
        v.requires = req_rows;
        v.compatible = crate::problem::none_fatal(&v.problems);
        v.decided = decided(&v.problems);
        v.usable = curable_errors_only(&v.problems) && crate::problem::none_fatal(&v.usable_problems);
    }
    own
}

/// Whether every error of `CREATE` is one that preloading cures: `preload_required` itself, or
/// a requirement's (judged for use through `requires_unusable`).
fn curable_errors_only(problems: &[Problem]) -> bool {
    problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .all(|p| matches!(p.code, Code::PreloadRequired | Code::RequiresIncompatible))
}

/// The state of each extension's `requires` chain (its own state combined with every
/// requirement's, transitively; a missing requirement is reported by the inventory), computed
/// iteratively: control files are untrusted, and a recursion over a long chain would overflow the
/// backend's stack. Also returns the extensions found on a cycle.
fn chains<'a>(
    graph: &HashMap<&'a str, Vec<&'a str>>,
    own: &HashMap<String, Tri>,
) -> (HashMap<&'a str, Tri>, HashSet<&'a str>) {
    let mut memo: HashMap<&'a str, Tri> = HashMap::new();
    let mut cyclic: HashSet<&'a str> = HashSet::new();
    let mut on_stack: HashMap<&'a str, usize> = HashMap::new();
    let mut names: Vec<&'a str> = graph.keys().copied().collect();
    names.sort_unstable();
    for start in names {
        if memo.contains_key(start) {
            continue;
        }
        // (node, next requirement index, state so far)
        let mut stack: Vec<(&'a str, usize, Tri)> = Vec::new();
        let state0 = own.get(start).copied().unwrap_or(Tri::No);
        on_stack.insert(start, 0);
        stack.push((start, 0, state0));
        while let Some(&mut (node, ref mut i, ref mut state)) = stack.last_mut() {
            let reqs = graph.get(node).map(Vec::as_slice).unwrap_or_default();
            if let Some(&r) = reqs.get(*i) {
                *i += 1;
                if let Some(&known) = memo.get(r) {
                    *state = (*state).min(known);
                } else if let Some(&depth) = on_stack.get(r) {
                    // A cycle: every extension from r up to here is on it.
                    *state = Tri::No;
                    for (n, _, s) in &mut stack[depth..] {
                        cyclic.insert(n);
                        *s = Tri::No;
                    }
                } else if !graph.contains_key(r) {
                    // Not visible: reported by the inventory (requires_missing) when not installed.
                } else {
                    let s = own.get(r).copied().unwrap_or(Tri::No);
                    on_stack.insert(r, stack.len());
                    stack.push((r, 0, s));
                }
                continue;
            }
            let (node, _, state) = stack.pop().expect("non-empty");
            on_stack.remove(node);
            memo.insert(node, state);
            if let Some(parent) = stack.last_mut() {
                parent.2 = parent.2.min(state);
            }
        }
    }
    (memo, cyclic)
}

fn judge_own(
    ext: &Extension,
    analyze: &mut dyn FnMut(&str) -> elf::LibraryReport,
    preloaded: &Preloaded,
    on_path: &HashMap<String, &str>,
) -> Verdict {
    // The inventory's problems: an unresolved module_pathname is only a warning there (it loads
    // nothing by itself); what the scripts do with it is judged below.
    let mut problems: Vec<Problem> = ext.problems.clone();
    let mut usable_problems: Vec<Problem> = Vec::new();
    let install_scripts = ext
        .install_path
        .as_deref()
        .map(|p| scripts_on(&ext.name, p, false))
        .unwrap_or_default();
    let update_scripts = match (&ext.installed_version, &ext.update_path) {
        (Some(from), Some(steps)) if !steps.is_empty() => {
            let mut versions = vec![from.clone()];
            versions.extend(steps.iter().cloned());
            scripts_on(&ext.name, &versions, true)
        }
        _ => HashSet::new(),
    };
    let mut uses: BTreeMap<String, Naming> = BTreeMap::new();
    if let Some(lib) = &ext.module_library {
        uses.entry(lib.clone())
            .or_default()
            .via
            .push("module_pathname".to_string());
    }
    for r in &ext.references {
        let install = install_scripts.contains(&r.script);
        let update = update_scripts.contains(&r.script);
        let via = format!("{}:{}", r.script, r.line);
        match &r.resolved {
            Some(path) => {
                let e = uses.entry(path.clone()).or_default();
                e.via.push(via);
                e.on_install_path |= install;
                e.on_update_path |= update;
            }
            None => {
                let p = unresolved(r, install || update, on_path, update && !install);
                if install || update {
                    usable_problems.push(p.clone());
                }
                problems.push(p);
            }
        }
    }
    for f in &ext.file_reads {
        let install = install_scripts.contains(&f.script);
        let update = update_scripts.contains(&f.script);
        if let Some(p) = data_file_problem(f, install, update) {
            if install || update {
                usable_problems.push(p.clone());
            }
            problems.push(p);
        }
    }
    let mut libraries = Vec::new();
    for (path, naming) in uses {
        let report = analyze(&path);
        let needed = naming.on_install_path || naming.on_update_path;
        let prefix = if naming.on_install_path {
            String::new()
        } else if naming.on_update_path {
            "ALTER EXTENSION … UPDATE fails: ".to_string()
        } else if naming.via.iter().any(|v| v == "module_pathname") {
            format!(
                "its module_pathname library ({}), which no install script loads: ",
                path
            )
        } else {
            format!("ALTER EXTENSION … UPDATE through {}: ", naming.via.join(", "))
        };
        for p in &report.problems {
            let mut q = p.folded();
            q.message = format!("{prefix}{}", q.message);
            // Loading it is part of using the extension when CREATE/UPDATE or module_pathname names it.
            let used = needed || naming.via.iter().any(|v| v == "module_pathname");
            if used {
                usable_problems.push(q.clone());
            }
            if !needed && q.severity == Severity::Error {
                q.severity = Severity::Warning;
            }
            problems.push(q);
        }
        let is_preloaded = preloaded.contains(&path);
        if needed {
            if let Some(mut p) = preload_problem(&report, is_preloaded, true) {
                p.message = format!("{prefix}{}", p.message);
                if p.code == Code::PreloadRequired {
                    // Usable once preloaded: advice, not a failure, for use.
                    usable_problems.push(Problem {
                        severity: Severity::Warning,
                        ..p.clone()
                    });
                }
                problems.push(p);
            }
        } else if let Some(p) = preload_problem(&report, is_preloaded, false) {
            usable_problems.push(Problem {
                message: format!("{prefix}{}", p.message),
                ..p
            });
        }
        libraries.push(LibraryUse {
            path,
            via: naming.via,
            on_install_path: needed,
            preloaded: is_preloaded,
            report,
        });
    }
    dedupe(&mut problems);
    dedupe(&mut usable_problems);
    Verdict {
        name: ext.name.clone(),
        compatible: crate::problem::none_fatal(&problems),
        decided: decided(&problems),
        usable: curable_errors_only(&problems) && crate::problem::none_fatal(&usable_problems),
        problems,
        usable_problems,
        libraries,
        requires: Vec::new(),
    }
}

fn unresolved(r: &ScriptReference, needed: bool, on_path: &HashMap<String, &str>, update: bool) -> Problem {
    let place = format!("{}:{}", r.script, r.line);
    let base = r.name.trim_start_matches("$libdir/").trim_end_matches(".so");
    let p = match (r.kind, r.search_error, on_path.get(base)) {
        (_, Some((pos, why)), _) => Problem::error(
            Code::LibrarySearchError,
            format!(
                "{place}: loading '{}' fails at element {pos} of dynamic_library_path ({why})",
                r.name
            ),
        ),
        (ReferenceKind::Load, None, Some(found)) if r.name.starts_with("$libdir/") => Problem::error(
            Code::LibdirReference,
            format!(
                "{place}: LOAD '{}' looks only in $libdir (LOAD does not search dynamic_library_path), but the \
                 library is only at {found}: it fails with \"could not access file\"",
                r.name
            ),
        ),
        (ReferenceKind::Function, None, Some(found)) if r.name.contains('/') => Problem::error(
            Code::LibdirReference,
            format!(
                "{place}: AS '{}' is a nested path, which PostgreSQL does not search on dynamic_library_path, \
                 but the library is only at {found}",
                r.name
            ),
        ),
        _ => Problem::error(
            Code::LibraryNotFound,
            format!("{place}: '{}' matches no library PostgreSQL would find", r.name),
        ),
    };
    if needed {
        if update {
            Problem {
                message: format!("ALTER EXTENSION … UPDATE fails: {}", p.message),
                ..p
            }
        } else {
            p
        }
    } else {
        Problem {
            severity: Severity::Warning,
            message: format!("only an update script off the install path: {}", p.message),
            ..p
        }
    }
}

/// Whether nothing left the verdict open: a library's preload behaviour, or a file a script on
/// the path reads that could not be looked at.
fn decided(problems: &[Problem]) -> bool {
    !problems
        .iter()
        .any(|p| p.code == Code::PreloadUndecided || p.code == Code::DataFileUnchecked)
}

/// A server file a script reads, as a problem when the server fails on it (or it could not be
/// looked at): an error on the install or update path, a warning in other update scripts.
fn data_file_problem(f: &ScriptFileRead, install: bool, update: bool) -> Option<Problem> {
    let place = match &f.via {
        Some((function, call)) => format!("{}:{} (in {function}(), called at line {call})", f.script, f.line),
        None => format!("{}:{}", f.script, f.line),
    };
    let what = f.kind.statement();
    let path = &f.path;
    let stage = if install {
        "CREATE EXTENSION"
    } else {
        "ALTER EXTENSION … UPDATE"
    };
    let p = match &f.state {
        DataFileState::Readable => return None,
        DataFileState::Unknown(why) => {
            if !(install || update) {
                return None;
            }
            Problem::warning(
                Code::DataFileUnchecked,
                format!("{place}: {what} reads '{path}', which pgext cannot look at: {why}"),
            )
        }
        DataFileState::Missing => Problem::error(
            Code::MissingDataFile,
            format!(
                "{place}: {what} reads '{path}', which does not exist on the server: {stage} fails with \"{}: No such \
                 file or directory\"",
                f.kind.open_error(path)
            ),
        ),
        DataFileState::NotRegular(kind) => Problem::error(
            Code::MissingDataFile,
            format!(
                "{place}: {what} reads '{path}', which is a {kind} on the server, not a file: {stage} {}",
                if *kind == "FIFO" {
                    "blocks until something writes to it"
                } else {
                    "fails"
                }
            ),
        ),
        DataFileState::Unreadable(err) => Problem::error(
            Code::MissingDataFile,
            format!(
                "{place}: {what} reads '{path}', which the server cannot read: {stage} fails with \"{}: {err}\"",
                f.kind.open_error(path)
            ),
        ),
    };
    let p = match (&f.in_image, p.code) {
        (Some(found), Code::MissingDataFile) => p.with_hint(format!(
            "The image's file is at {found}: the extension was built for another layout (its script names a path \
             of the server it was packaged for); rebuild the image to read it there, or provide the file at {path}."
        )),
        (None, Code::MissingDataFile) => p.with_hint(
            "The extension was built for another layout: its script reads a file of the server it was packaged for, \
             which neither this server nor the image provides.",
        ),
        _ => p,
    };
    let p = p.folded();
    Some(if install || update {
        p
    } else {
        Problem {
            severity: Severity::Warning,
            message: format!("only an update script off the install path: {}", p.message),
            ..p
        }
    })
}

fn dedupe(problems: &mut Vec<Problem>) {
    let mut seen = HashSet::new();
    problems.retain(|p| seen.insert((p.code, p.message.clone())));
}

/// The newest `GLIBC_x.y` a library needs (from its version needs), for display.
pub fn newest_glibc(report: &elf::LibraryReport) -> Option<String> {
    report
        .version_needs
        .iter()
        .flat_map(|n| n.versions.iter())
        .filter_map(|v| {
            v.name
                .strip_prefix("GLIBC_")
                .map(|rest| (glibc_key(rest), v.name.clone()))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v)
}

fn glibc_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(codes: Vec<Code>) -> Vec<&'static str> {
        codes.into_iter().map(Code::as_str).collect()
    }
    use crate::inventory::Inventory;
    use crate::paths;
    use std::fs;

    fn settings(root: &std::path::Path) -> Settings {
        let r = root.display();
        Settings {
            control: paths::expand_control_path(&format!("{r}/ext/a/share"), &format!("{r}/share")),
            library: paths::expand_library_path(&format!("$libdir:{r}/ext/a/lib"), &format!("{r}/pkglib")),
            pkglibdir: format!("{r}/pkglib"),
            extensions_root: format!("{r}/ext"),
            with_references: true,
            ..Settings::default()
        }
    }

    fn write(root: &std::path::Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn report(path: &str, loadable: bool) -> elf::LibraryReport {
        let mut r = elf::inspect_bytes(
            Vec::new(),
            &elf::HostAbi::compiled(),
            &elf::ServerMagic::pg18(elf::ElfClass::Elf64),
            elf::ReadLimits::default(),
        );
        r.path = path.to_string();
        if loadable {
            r.problems.clear();
            r.loadable = true;
        }
        r
    }

    fn codes(v: &Verdict) -> Vec<&'static str> {
        v.problems.iter().map(|p| p.code.as_str()).collect()
    }

    /// Debian's `postgresql-unit`: its update script on the install path COPYs from the server's
    /// own share directory, where an image-mounted extension has no such file.
    #[test]
    fn data_files_the_scripts_read() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let r = root.display();
        fs::create_dir_all(root.join("pkglib")).unwrap();
        fs::create_dir_all(root.join("data/dir.csv")).unwrap();
        let e = "ext/a/share/extension";
        let server_share = format!("{r}/share/extension");
        fs::create_dir_all(&server_share).unwrap();
        // unit: the install path 2 → 3 reads <server share>/unit_prefixes.data; the image has it
        // in its own share/extension only.
        write(root, &format!("{e}/unit.control"), "default_version = '3'\n");
        write(
            root,
            &format!("{e}/unit--2.sql"),
            "CREATE TABLE unit_prefixes (p text);\n",
        );
        write(
            root,
            &format!("{e}/unit--2--3.sql"),
            &format!("-- data\n\nCOPY unit_prefixes FROM '{server_share}/unit_prefixes.data';\n"),
        );
        write(root, &format!("{e}/unit_prefixes.data"), "k\t1\n");
        // present: the same, with the file where the script reads it.
        write(root, &format!("{e}/present.control"), "default_version = '1'\n");
        write(
            root,
            &format!("{e}/present--1.sql"),
            &format!("COPY t FROM '{server_share}/present.data';\nCOPY t FROM STDIN;\n"),
        );
        write(root, "share/extension/present.data", "1\n");
        // offpath: only an update script no install takes reads a missing file.
        write(root, &format!("{e}/offpath.control"), "default_version = '2'\n");
        write(root, &format!("{e}/offpath--2.sql"), "");
        write(root, &format!("{e}/offpath--1.sql"), "");
        write(
            root,
            &format!("{e}/offpath--1--2.sql"),
            "SELECT pg_read_file('/nonexistent/x');\n",
        );
        // relative: a relative path, judged against the data directory when it is known.
        write(root, &format!("{e}/relative.control"), "default_version = '1'\n");
        write(root, &format!("{e}/relative--1.sql"), "COPY t FROM 'dir.csv';\n");

        let mut s = settings(root);
        s.data_directory = Some(format!("{r}/data"));
        s.reads_as_server = true;
        let inv = Inventory::collect(&s);
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &Preloaded::default());
        let unit = &v["unit"];
        assert_eq!(unit.compatible_sql(), Some(false));
        assert!(!unit.usable);
        assert_eq!(codes(unit), vec!["missing_data_file"]);
        let m = &unit.problems[0].message;
        assert!(m.starts_with("unit--2--3.sql:3: COPY … FROM reads '"), "{m}");
        assert!(m.contains("could not open file"), "{m}");
        assert!(
            m.contains(&format!("HINT: The image's file is at {r}/{e}/unit_prefixes.data")),
            "{m}"
        );
        assert_eq!(v["present"].compatible_sql(), Some(true), "{:?}", v["present"].problems);
        assert_eq!(v["offpath"].compatible_sql(), Some(true));
        assert_eq!(codes(&v["offpath"]), vec!["missing_data_file"]);
        assert_eq!(v["offpath"].problems[0].severity, Severity::Warning);
        // data/dir.csv is a directory: COPY refuses it.
        assert_eq!(v["relative"].compatible_sql(), Some(false));
        assert!(
            v["relative"].problems[0]
                .message
                .contains("is a directory on the server")
        );

        // The file appears: the verdict follows (the inventory's fingerprint watches the path).
        let unit_row = inv.extensions.iter().find(|x| x.name == "unit").unwrap();
        let looked_up = format!("{server_share}/unit_prefixes.data");
        assert_eq!(unit_row.file_reads[0].looked_up.as_deref(), Some(looked_up.as_str()));
        write(root, "share/extension/unit_prefixes.data", "k\t1\n");
        let inv = Inventory::collect(&s);
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &Preloaded::default());
        assert_eq!(v["unit"].compatible_sql(), Some(true), "{:?}", v["unit"].problems);

        // Without a data directory (a pre-flight) a relative path is not judged: undecided.
        s.data_directory = None;
        let inv = Inventory::collect(&s);
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &Preloaded::default());
        assert_eq!(v["relative"].compatible_sql(), None);
        assert_eq!(codes(&v["relative"]), vec!["data_file_unchecked"]);
        assert!(v["relative"].problems[0].message.contains("data directory"));
    }

    #[test]
    fn verdicts_follow_scripts_libraries_and_requirements() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("pkglib")).unwrap();
        let e = "ext/a/share/extension";
        // good: a loadable module.
        write(
            root,
            &format!("{e}/good.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/good'\n",
        );
        write(
            root,
            &format!("{e}/good--1.sql"),
            "CREATE FUNCTION g() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;",
        );
        write(root, "ext/a/lib/good.so", "elf");
        // bad: its module does not load.
        write(
            root,
            &format!("{e}/bad.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/bad'\n",
        );
        write(
            root,
            &format!("{e}/bad--1.sql"),
            "CREATE FUNCTION b() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;",
        );
        write(root, "ext/a/lib/bad.so", "elf");
        // needs_bad: requires bad.
        write(
            root,
            &format!("{e}/needs_bad.control"),
            "default_version = '1'\nrequires = 'bad'\n",
        );
        write(root, &format!("{e}/needs_bad--1.sql"), "");
        // loads: install fine, the update script LOADs '$libdir/good', which only the image has.
        write(root, &format!("{e}/loads.control"), "default_version = '2'\n");
        write(root, &format!("{e}/loads--2.sql"), "");
        write(root, &format!("{e}/loads--1.sql"), "");
        write(root, &format!("{e}/loads--1--2.sql"), "LOAD '$libdir/good';\n");
        // cycle: a requires b requires a.
        write(
            root,
            &format!("{e}/cyc_a.control"),
            "default_version = '1'\nrequires = 'cyc_b'\n",
        );
        write(root, &format!("{e}/cyc_a--1.sql"), "");
        write(
            root,
            &format!("{e}/cyc_b.control"),
            "default_version = '1'\nrequires = 'cyc_a'\n",
        );
        write(root, &format!("{e}/cyc_b--1.sql"), "");
        let mut s = settings(root);
        let inv = Inventory::collect(&s);
        let mut analyzed = Vec::new();
        let mut analyze = |p: &str| {
            analyzed.push(p.to_string());
            report(p, !p.ends_with("bad.so"))
        };
        let v = judge_all(&inv, &mut analyze, &Preloaded::default());
        assert!(v["good"].compatible, "{:?}", v["good"].problems);
        assert!(!v["bad"].compatible);
        assert!(!v["needs_bad"].compatible);
        assert_eq!(codes(&v["needs_bad"]), vec!["requires_incompatible"]);
        assert_eq!(v["needs_bad"].requires, vec![("bad".to_string(), Some(false))]);
        // The LOAD sits in an update script off the install path: a warning only.
        assert!(v["loads"].compatible, "{:?}", v["loads"].problems);
        assert_eq!(codes(&v["loads"]), vec!["libdir_reference"]);
        assert_eq!(v["loads"].problems[0].severity, Severity::Warning);
        assert!(!v["cyc_a"].compatible && !v["cyc_b"].compatible);
        assert!(codes(&v["cyc_a"]).contains(&"requires_cycle"));
        // One extension's check judges its requirement closure only, exactly as judge_all does.
        for name in ["needs_bad", "cyc_a", "good", "absent"] {
            let only = requirement_closure(&inv, &[name]);
            let mut analyzed = Vec::new();
            let mut analyze = |p: &str| {
                analyzed.push(p.to_string());
                report(p, !p.ends_with("bad.so"))
            };
            let some = judge_only(&inv, &mut analyze, &Preloaded::default(), &only);
            assert_eq!(
                some.keys().collect::<Vec<_>>(),
                only.iter().filter(|n| v.contains_key(*n)).collect::<Vec<_>>()
            );
            for (n, verdict) in &some {
                assert_eq!(format!("{verdict:?}"), format!("{:?}", v[n]), "{n}");
            }
            let expect_bad = name == "needs_bad";
            assert_eq!(
                analyzed.iter().any(|p| p.ends_with("/bad.so")),
                expect_bad,
                "{name}: {analyzed:?}"
            );
            assert!(
                analyzed.iter().all(|p| !p.ends_with("/good.so")) || name == "good",
                "{name}: {analyzed:?}"
            );
        }
        assert_eq!(
            requirement_closure(&inv, &["cyc_a"]),
            ["cyc_a", "cyc_b"].map(String::from).into()
        );
        // Several names: the union of their closures, each name once (enforcement judges all the
        // extensions of one statement together).
        assert_eq!(
            requirement_closure(&inv, &["cyc_b", "good", "cyc_a"]),
            requirement_closure(&inv, &["cyc_a"])
                .union(&requirement_closure(&inv, &["good"]))
                .cloned()
                .collect::<BTreeSet<_>>()
        );
        assert_eq!(
            requirement_closure(&inv, &["absent", "needs_bad"]),
            requirement_closure(&inv, &["needs_bad"])
                .into_iter()
                .chain(["absent".to_string()])
                .collect::<BTreeSet<_>>()
        );
        assert!(requirement_closure::<&str>(&inv, &[]).is_empty());
        // Installed at 1: the update from 1 to 2 runs the LOAD, so it becomes an error.
        s.installed.insert("loads".into(), "1".into());
        let inv = Inventory::collect(&s);
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &Preloaded::default());
        assert_eq!(v["loads"].problems[0].severity, Severity::Error);
        assert!(v["loads"].problems[0].message.starts_with("ALTER EXTENSION"));
    }

    /// A report whose `_PG_init` analysis says `need` (the ELF part is loadable).
    fn with_need(path: &str, need: &str) -> elf::LibraryReport {
        let mut r = report(path, true);
        r.preload.has_init = true;
        match need {
            "required" => {
                r.preload.refusals = vec![elf::Refusal::Raises {
                    level: 21,
                    message: Some("x must be loaded via shared_preload_libraries".into()),
                }]
            }
            "recommended" => r.preload.degrades_imports = vec!["RegisterBackgroundWorker".into()],
            "undecided" => r.preload.undecided = Some("an indirect jump".into()),
            "refused" => {
                r.preload.preload_refused = Some(elf::Refusal::Raises {
                    level: 22,
                    message: Some("x can not be loaded using shared_preload_libraries".into()),
                })
            }
            _ => {}
        }
        r
    }

    /// One image with extension `x` whose install script creates a C function from `lib.so`.
    fn one_c_extension(root: &std::path::Path) -> Settings {
        fs::create_dir_all(root.join("pkglib")).unwrap();
        let e = "ext/a/share/extension";
        write(
            root,
            &format!("{e}/x.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/lib'\n",
        );
        write(
            root,
            &format!("{e}/x--1.sql"),
            "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;",
        );
        write(
            root,
            &format!("{e}/y.control"),
            "default_version = '1'\nrequires = 'x'\n",
        );
        write(root, &format!("{e}/y--1.sql"), "");
        write(root, "ext/a/lib/lib.so", "elf");
        settings(root)
    }

    /// (need, preloaded, compatible, codes, usable, compatible of the extension requiring it)
    type PreloadCase = (
        &'static str,
        bool,
        Option<bool>,
        &'static [&'static str],
        bool,
        Option<bool>,
    );
    /// (name, compatible, usable, codes, usable codes)
    type PathCase = (
        &'static str,
        Option<bool>,
        bool,
        &'static [&'static str],
        &'static [&'static str],
    );

    #[test]
    fn preload_needs_decide_compatible_and_usable() {
        let t = tempfile::tempdir().unwrap();
        let s = one_c_extension(t.path());
        let inv = Inventory::collect(&s);
        let lib = t.path().join("ext/a/lib/lib.so").display().to_string();
        // (need, preloaded) → (compatible as SQL shows it, x's codes, usable, y's compatible)
        let cases: &[PreloadCase] = &[
            ("none", false, Some(true), &[], true, Some(true)),
            ("required", false, Some(false), &["preload_required"], true, Some(false)),
            ("required", true, Some(true), &[], true, Some(true)),
            (
                "recommended",
                false,
                Some(true),
                &["preload_recommended"],
                true,
                Some(true),
            ),
            ("recommended", true, Some(true), &[], true, Some(true)),
            ("undecided", false, None, &["preload_undecided"], true, None),
            ("undecided", true, Some(true), &[], true, Some(true)),
            // pgtt: loads as it is, and stops the server from starting when preloaded.
            ("refused", false, Some(true), &[], true, Some(true)),
            ("refused", true, Some(false), &["preload_refused"], false, Some(false)),
        ];
        for &(need, pre, compatible, codes_want, usable, y_compatible) in cases {
            let preloaded = if pre {
                // Named as an administrator would: a bare name found on dynamic_library_path.
                Preloaded::resolve(&["lib".to_string()], &s)
            } else {
                Preloaded::resolve(&["other".to_string()], &s)
            };
            let v = judge_all(&inv, &mut |p: &str| with_need(p, need), &preloaded);
            let x = &v["x"];
            assert_eq!(x.compatible_sql(), compatible, "{need} {pre}: {:?}", x.problems);
            assert_eq!(
                names(crate::problem::distinct_codes(&x.problems)),
                codes_want.to_vec(),
                "{need} {pre}"
            );
            assert_eq!(x.usable, usable, "{need} {pre}: {:?}", x.usable_problems);
            assert_eq!(
                v["y"].compatible_sql(),
                y_compatible,
                "{need} {pre}: {:?}",
                v["y"].problems
            );
            assert_eq!(x.libraries[0].preloaded, pre);
            assert_eq!(x.libraries[0].path, lib);
        }
    }

    /// timescaledb: the versioned library refuses unless preloaded, or unless its preloaded
    /// loader published the rendezvous variable it reads.
    #[test]
    fn a_preloaded_loader_lifts_the_refusal_it_publishes_for() {
        let t = tempfile::tempdir().unwrap();
        let s = one_c_extension(t.path());
        write(t.path(), "ext/a/lib/loader.so", "elf");
        write(t.path(), "ext/a/lib/quiet.so", "elf");
        let inv = Inventory::collect(&s);
        let mut analyze = |p: &str| {
            let mut r = with_need(p, "required");
            if p.ends_with("/lib.so") {
                r.preload.unless_published = vec!["x.loader_present".into()];
            } else if p.ends_with("/loader.so") {
                r.preload.publishes = vec!["x.loader_present".into()];
            }
            r
        };
        for (preload, compatible) in [("loader", Some(true)), ("quiet", Some(false)), ("other", Some(false))] {
            let preloaded = Preloaded::resolve(&[preload.to_string()], &s);
            let v = judge_all(&inv, &mut analyze, &preloaded);
            assert_eq!(v["x"].compatible_sql(), compatible, "{preload}: {:?}", v["x"].problems);
            assert_eq!(v["y"].compatible_sql(), compatible, "{preload}");
        }
    }

    #[test]
    fn only_the_install_path_loads_libraries() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("pkglib")).unwrap();
        let e = "ext/a/share/extension";
        // pgtap-style: module_pathname names a library that does not exist; SQL-only scripts.
        write(
            root,
            &format!("{e}/sqlonly.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/nowhere'\n",
        );
        write(
            root,
            &format!("{e}/sqlonly--1.sql"),
            "CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql;",
        );
        // A broken library that no install script loads: CREATE works, use does not.
        write(
            root,
            &format!("{e}/shipsbad.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/bad'\n",
        );
        write(root, &format!("{e}/shipsbad--1.sql"), "");
        write(root, "ext/a/lib/bad.so", "elf");
        // The same missing library, but the install script uses it: CREATE fails.
        write(
            root,
            &format!("{e}/usesmissing.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/nowhere'\n",
        );
        write(
            root,
            &format!("{e}/usesmissing--1.sql"),
            "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;",
        );
        // No module_pathname: 'MODULE_PATHNAME' is a literal file name that does not exist.
        write(root, &format!("{e}/literal.control"), "default_version = '1'\n");
        write(
            root,
            &format!("{e}/literal--1.sql"),
            "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;",
        );
        // A preload-only library no script loads: CREATE works; use needs preloading.
        write(
            root,
            &format!("{e}/bgw.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/bgw'\n",
        );
        write(root, &format!("{e}/bgw--1.sql"), "");
        write(root, "ext/a/lib/bgw.so", "elf");
        let inv = Inventory::collect(&settings(root));
        let mut analyze = |p: &str| {
            if p.ends_with("bgw.so") {
                with_need(p, "required")
            } else {
                report(p, !p.ends_with("bad.so"))
            }
        };
        let v = judge_all(&inv, &mut analyze, &Preloaded::default());
        // (name, compatible, usable, codes of problems, codes of usable_problems)
        let want: &[PathCase] = &[
            ("sqlonly", Some(true), true, &["library_not_found"], &[]),
            ("shipsbad", Some(true), false, &["truncated"], &["truncated"]),
            (
                "usesmissing",
                Some(false),
                false,
                &["library_not_found"],
                &["library_not_found"],
            ),
            (
                "literal",
                Some(false),
                false,
                &["library_not_found"],
                &["library_not_found"],
            ),
            ("bgw", Some(true), true, &[], &["preload_required"]),
        ];
        for &(name, compatible, usable, codes_want, usable_codes) in want {
            let x = &v[name];
            assert_eq!(x.compatible_sql(), compatible, "{name}: {:?}", x.problems);
            assert_eq!(x.usable, usable, "{name}: {:?}", x.usable_problems);
            assert_eq!(
                names(crate::problem::distinct_codes(&x.problems)),
                codes_want.to_vec(),
                "{name}"
            );
            assert_eq!(
                names(crate::problem::distinct_codes(&x.usable_problems)),
                usable_codes.to_vec(),
                "{name}"
            );
        }
        assert_eq!(v["sqlonly"].problems[0].severity, Severity::Warning);
        assert_eq!(
            v["literal"].problems[0].message,
            "literal--1.sql:1: 'MODULE_PATHNAME' matches no library PostgreSQL would find"
        );
    }

    #[test]
    fn a_long_requires_chain_does_not_overflow_the_stack() {
        // 100 000 extensions, each requiring the next; the last cannot be installed. A recursive
        // walk overflows the stack of a test thread (2 MiB) long before this.
        const N: usize = 100_000;
        let names: Vec<String> = (0..N).map(|i| format!("c{i}")).collect();
        let mut graph: HashMap<&str, Vec<&str>> = HashMap::new();
        for i in 0..N {
            graph.insert(&names[i], if i + 1 < N { vec![names[i + 1].as_str()] } else { vec![] });
        }
        let mut own: HashMap<String, Tri> = names.iter().map(|n| (n.clone(), Tri::Yes)).collect();
        own.insert(names[N - 1].clone(), Tri::No);
        let (memo, cyclic) = chains(&graph, &own);
        assert_eq!(memo.len(), N);
        assert!(memo.values().all(|s| *s == Tri::No));
        assert!(cyclic.is_empty());
        // Closing the chain into a cycle: every member is found on it, still without recursion.
        graph.insert(&names[N - 1], vec![names[0].as_str()]);
        own.insert(names[N - 1].clone(), Tri::Yes);
        let (memo, cyclic) = chains(&graph, &own);
        assert_eq!(cyclic.len(), N);
        assert_eq!(memo["c5"], Tri::No);
    }

    #[test]
    fn requirement_chains_through_the_inventory() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("pkglib")).unwrap();
        let e = root.join("ext/a/share/extension");
        fs::create_dir_all(&e).unwrap();
        const N: usize = 300;
        for i in 0..N {
            let requires = if i + 1 < N {
                format!("requires = 'c{}'\n", i + 1)
            } else {
                String::new()
            };
            let version = if i + 1 < N { "1" } else { "2" };
            fs::write(
                e.join(format!("c{i}.control")),
                format!("default_version = '{version}'\n{requires}"),
            )
            .unwrap();
            fs::write(e.join(format!("c{i}--1.sql")), "").unwrap();
        }
        let inv = Inventory::collect(&settings(root));
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &Preloaded::default());
        assert_eq!(v.len(), N);
        assert_eq!(v["c0"].compatible_sql(), Some(false));
        assert_eq!(
            names(crate::problem::distinct_codes(&v["c0"].problems)),
            vec!["requires_incompatible"]
        );
        assert_eq!(v["c0"].requires, vec![("c1".to_string(), Some(false))]);
        assert!(!v["c0"].usable);
        assert_eq!(
            v[&format!("c{}", N - 1)].problems[0].code,
            Code::DefaultVersionNotInstallable
        );
    }
}
