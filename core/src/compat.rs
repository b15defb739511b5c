//! Compatibility verdicts: will `CREATE EXTENSION` (and the `LOAD`s its scripts run) work?
//!
//! Decided from the inventory and static library analysis only — nothing is loaded, since
//! `dlopen` runs constructors (and a truncated library crashes the backend outright). The rules:
//! the extension row has no error; every library the install path's scripts name resolves under
//! PostgreSQL 18's dfmgr rules and passes [`crate::elf`] analysis; every `requires` entry is
//! itself compatible. Libraries named only by update scripts off the install path are reported
//! as warnings: they break `ALTER EXTENSION … UPDATE`, not `CREATE EXTENSION`.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::elf;
use crate::inventory::{Extension, Inventory, ScriptReference};
use crate::problem::{Problem, Severity};
use crate::scripts::ReferenceKind;

/// Libraries that must be in `shared_preload_libraries` to work fully, with why. Whether a
/// library needs preloading cannot be decided statically, so this curated list only produces a
/// hint, never a failure.
pub const NEEDS_PRELOAD: &[(&str, &str)] = &[
    ("pg_stat_statements", "allocates its shared memory at server start"),
    (
        "auto_explain",
        "installs its executor hooks only when loaded (LOAD works per session)",
    ),
    ("pgaudit", "installs its audit hooks at server start"),
    (
        "timescaledb",
        "starts background workers and installs planner hooks at server start",
    ),
    ("pg_cron", "starts its scheduler background worker at server start"),
    ("citus", "needs shared memory and hooks at server start"),
    ("pg_stat_kcache", "allocates shared memory at server start"),
    (
        "pg_wait_sampling",
        "allocates shared memory and a collector at server start",
    ),
    ("pg_qualstats", "allocates shared memory at server start"),
    ("pg_stat_monitor", "allocates shared memory at server start"),
    ("pglogical", "starts its supervisor background worker at server start"),
    ("pg_squeeze", "starts background workers at server start"),
    ("pg_partman_bgw", "starts its background worker at server start"),
    ("pg_failover_slots", "starts its background worker at server start"),
    ("pgsentinel", "allocates shared memory at server start"),
    ("pg_show_plans", "allocates shared memory at server start"),
    ("pg_tle", "installs its hooks at server start"),
    ("pgext", "pgext's background worker and shared status need it"),
];

/// One library an extension needs, with how it was named and what analysis found.
#[derive(Debug, Clone)]
pub struct LibraryUse {
    /// The resolved file.
    pub path: String,
    /// How it is named: `module_pathname`, or `<script>:<line>`.
    pub via: Vec<String>,
    /// Needed by `CREATE EXTENSION` (install path) rather than only by an update.
    pub on_install_path: bool,
    /// The analysis.
    pub report: elf::LibraryReport,
}

/// The verdict for one visible extension.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Extension name.
    pub name: String,
    /// `CREATE EXTENSION` (default version) is expected to succeed.
    pub compatible: bool,
    /// Every finding: the inventory's, the libraries', the requirements'.
    pub problems: Vec<Problem>,
    /// Libraries the scripts name (resolved), analysed.
    pub libraries: Vec<LibraryUse>,
    /// `requires` entries and whether each is compatible (`None`: not available).
    pub requires: Vec<(String, Option<bool>)>,
}

/// Converts an ELF finding to the shared shape: message, then detail and hint as PostgreSQL
/// would print them.
pub fn from_elf(p: &elf::Problem) -> Problem {
    let mut message = p.message.clone();
    if let Some(d) = &p.detail {
        message.push_str(&format!(" DETAIL: {d}"));
    }
    if let Some(h) = &p.hint {
        message.push_str(&format!(" HINT: {h}"));
    }
    Problem {
        code: p.code.as_str(),
        severity: p.severity,
        message,
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

/// Judges every visible extension of `inv`. `analyze` turns a library path into a report (the
/// caller caches); `preloaded` is `shared_preload_libraries`, split.
pub fn judge_all(
    inv: &Inventory,
    analyze: &mut dyn FnMut(&str) -> elf::LibraryReport,
    preloaded: &[String],
) -> BTreeMap<String, Verdict> {
    let visible: HashMap<&str, &Extension> = inv
        .extensions
        .iter()
        .filter(|e| e.visible)
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
    // Requirements, recursively; a cycle is PostgreSQL's "cyclic dependency" error.
    let names: Vec<String> = own.keys().cloned().collect();
    let mut memo: HashMap<String, bool> = HashMap::new();
    for name in &names {
        let mut stack = Vec::new();
        requirement_ok(name, &visible, &own, &mut memo, &mut stack);
    }
    for name in &names {
        let Some(ext) = visible.get(name.as_str()) else {
            continue;
        };
        let requires = ext.control.as_ref().map(|c| c.requires.clone()).unwrap_or_default();
        let mut extra = Vec::new();
        let mut req_rows = Vec::new();
        for r in requires {
            let ok = if visible.contains_key(r.as_str()) {
                memo.get(&r).copied()
            } else {
                None
            };
            if ok == Some(false) {
                extra.push(Problem::error(
                    "requires_incompatible",
                    format!("requires extension \"{r}\", which is not compatible"),
                ));
            }
            req_rows.push((r, ok));
        }
        if memo.get(name) == Some(&false) && cycle_through(name, &visible) {
            extra.push(Problem::error(
                "requires_cycle",
                "its requires chain is cyclic: CREATE EXTENSION … CASCADE fails with \"cyclic dependency detected\"",
            ));
        }
        if let Some(v) = own.get_mut(name) {
            v.problems.extend(extra);
            v.requires = req_rows;
            v.compatible = crate::problem::none_fatal(&v.problems);
        }
    }
    own
}

fn cycle_through(start: &str, visible: &HashMap<&str, &Extension>) -> bool {
    let mut seen = HashSet::new();
    let mut todo: Vec<String> = requires_of(start, visible);
    while let Some(n) = todo.pop() {
        if n == start {
            return true;
        }
        if seen.insert(n.clone()) {
            todo.extend(requires_of(&n, visible));
        }
    }
    false
}

fn requires_of(name: &str, visible: &HashMap<&str, &Extension>) -> Vec<String> {
    visible
        .get(name)
        .and_then(|e| e.control.as_ref())
        .map(|c| c.requires.clone())
        .unwrap_or_default()
}

/// Whether `name` and everything it requires is compatible; cycles count as incompatible.
fn requirement_ok(
    name: &str,
    visible: &HashMap<&str, &Extension>,
    own: &BTreeMap<String, Verdict>,
    memo: &mut HashMap<String, bool>,
    stack: &mut Vec<String>,
) -> bool {
    if let Some(&ok) = memo.get(name) {
        return ok;
    }
    if stack.iter().any(|s| s == name) {
        return false;
    }
    let Some(v) = own.get(name) else {
        return false;
    };
    stack.push(name.to_string());
    let mut ok = v.compatible;
    for r in requires_of(name, visible) {
        // Evaluate every requirement (no short-circuit) so each gets memoised.
        let r_ok = requirement_ok(&r, visible, own, memo, stack);
        ok = ok && r_ok;
    }
    stack.pop();
    memo.insert(name.to_string(), ok);
    ok
}

fn judge_own(
    ext: &Extension,
    analyze: &mut dyn FnMut(&str) -> elf::LibraryReport,
    preloaded: &[String],
    on_path: &HashMap<String, &str>,
) -> Verdict {
    let mut problems: Vec<Problem> = ext.problems.clone();
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
    // path → (via, on the install or installed update path)
    let mut uses: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
    if let Some(lib) = &ext.module_library {
        uses.entry(lib.clone())
            .or_default()
            .0
            .push("module_pathname".to_string());
        uses.get_mut(lib).expect("just inserted").1 = true;
    }
    for r in &ext.references {
        let needed = install_scripts.contains(&r.script) || update_scripts.contains(&r.script);
        let via = format!("{}:{}", r.script, r.line);
        match &r.resolved {
            Some(path) => {
                let e = uses.entry(path.clone()).or_default();
                e.0.push(via);
                e.1 |= needed;
            }
            // An unresolved module_pathname is reported once, by the inventory.
            None if ext.module_library.is_none()
                && ext.control.as_ref().and_then(|c| c.module_pathname.as_deref()) == Some(r.name.as_str()) => {}
            None => problems.push(unresolved(r, needed, on_path, update_scripts.contains(&r.script))),
        }
    }
    let mut libraries = Vec::new();
    for (path, (via, needed)) in uses {
        let report = analyze(&path);
        for p in &report.problems {
            let mut q = from_elf(p);
            if !needed && q.severity == Severity::Error {
                // Only an update script off the install path names it.
                q.severity = Severity::Warning;
                q.message = format!("ALTER EXTENSION … UPDATE through {}: {}", via.join(", "), q.message);
            }
            problems.push(q);
        }
        let base = path
            .rsplit('/')
            .next()
            .unwrap_or(&path)
            .trim_end_matches(".so")
            .to_string();
        if let Some((_, why)) = NEEDS_PRELOAD.iter().find(|(n, _)| *n == base)
            && !preloaded
                .iter()
                .any(|p| p.trim_start_matches("$libdir/").trim_end_matches(".so") == base)
        {
            problems.push(Problem::warning(
                "needs_preload",
                format!("{base} should be in shared_preload_libraries: it {why} (a hint: not decided statically)"),
            ));
        }
        libraries.push(LibraryUse {
            path,
            via,
            on_install_path: needed,
            report,
        });
    }
    dedupe(&mut problems);
    Verdict {
        name: ext.name.clone(),
        compatible: crate::problem::none_fatal(&problems),
        problems,
        libraries,
        requires: Vec::new(),
    }
}

fn unresolved(r: &ScriptReference, needed: bool, on_path: &HashMap<String, &str>, update: bool) -> Problem {
    let place = format!("{}:{}", r.script, r.line);
    let base = r.name.trim_start_matches("$libdir/").trim_end_matches(".so");
    let p = match (r.kind, r.search_error, on_path.get(base)) {
        (_, Some((pos, why)), _) => Problem::error(
            "library_search_error",
            format!(
                "{place}: loading '{}' fails at element {pos} of dynamic_library_path ({why})",
                r.name
            ),
        ),
        (ReferenceKind::Load, None, Some(found)) if r.name.starts_with("$libdir/") => Problem::error(
            "libdir_reference",
            format!(
                "{place}: LOAD '{}' looks only in $libdir (LOAD does not search dynamic_library_path), but the \
                 library is only at {found}: it fails with \"could not access file\"",
                r.name
            ),
        ),
        (ReferenceKind::Function, None, Some(found)) if r.name.contains('/') => Problem::error(
            "libdir_reference",
            format!(
                "{place}: AS '{}' is a nested path, which PostgreSQL does not search on dynamic_library_path, \
                 but the library is only at {found}",
                r.name
            ),
        ),
        _ => Problem::error(
            "library_not_found",
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
    use crate::inventory::{Inventory, Settings};
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
        v.problems.iter().map(|p| p.code).collect()
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
        let v = judge_all(&inv, &mut analyze, &[]);
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
        // Installed at 1: the update from 1 to 2 runs the LOAD, so it becomes an error.
        s.installed.insert("loads".into(), "1".into());
        let inv = Inventory::collect(&s);
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &[]);
        assert_eq!(v["loads"].problems[0].severity, Severity::Error);
        assert!(v["loads"].problems[0].message.starts_with("ALTER EXTENSION"));
    }

    #[test]
    fn preload_hints_never_fail() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("pkglib")).unwrap();
        let e = "ext/a/share/extension";
        write(
            root,
            &format!("{e}/pg_cron.control"),
            "default_version = '1'\nmodule_pathname = '$libdir/pg_cron'\n",
        );
        write(root, &format!("{e}/pg_cron--1.sql"), "");
        write(root, "ext/a/lib/pg_cron.so", "elf");
        let inv = Inventory::collect(&settings(root));
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &[]);
        assert!(v["pg_cron"].compatible);
        assert_eq!(codes(&v["pg_cron"]), vec!["needs_preload"]);
        let v = judge_all(&inv, &mut |p: &str| report(p, true), &["pg_cron".to_string()]);
        assert!(v["pg_cron"].problems.is_empty());
    }
}
