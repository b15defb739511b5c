//! Compatibility in SQL: `pgext.library_compat`, `pgext.check_extension(name)`, and the verdicts
//! behind `mounted_extensions.compatible` — all from static analysis, nothing is loaded.

use std::collections::BTreeSet;
use std::ffi::CStr;

use pgext_core::compat;
use pgext_core::elf::{self, Code, LibraryReport};
use pgext_core::inventory::{Fingerprint, LibrarySource};
use pgext_core::problem::Problem;
use pgrx::JsonB;
use pgrx::prelude::*;

use crate::error::SqlError;
use crate::session::analyzer::{analyze, preload_list, preloaded};
use crate::session::rowcache::{self, JsonbOut, KeptJsonb, RowCache, signature};
use crate::session::{read_inventory, read_inventory_with, settings};
use crate::values::{codes, details_value};

/// The preload analysis of a library, as SQL shows it.
fn preload_kind(report: &LibraryReport) -> &'static str {
    match report.preload.need() {
        elf::PreloadNeed::None => "none",
        elf::PreloadNeed::Recommended(_) => "recommended",
        elf::PreloadNeed::Required(_) => "required",
        elf::PreloadNeed::Undecided(_) => "undecided",
    }
}

/// Whether `LOAD` of this library succeeds now: the ELF analysis, then `_PG_init` outside
/// preloading (NULL when that could not be decided).
fn loadable_now(report: &LibraryReport, preloaded: bool) -> Option<bool> {
    if !report.loadable {
        return Some(false);
    }
    if preloaded {
        return Some(true);
    }
    match report.preload.need() {
        elf::PreloadNeed::Required(_) => Some(false),
        elf::PreloadNeed::Undecided(_) => None,
        _ => Some(true),
    }
}

fn host_glibc() -> Option<String> {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
    Some(format!("GLIBC_{}", v.to_str().ok()?))
}

fn magic_json(report: &LibraryReport) -> serde_json::Value {
    match &report.magic {
        None => serde_json::Value::Null,
        Some(m) => serde_json::json!({
            "len": m.len, "pg_version": m.pg_version, "funcmaxargs": m.funcmaxargs,
            "indexmaxkeys": m.indexmaxkeys, "namedatalen": m.namedatalen, "float8byval": m.float8byval,
            "abi_extra": m.abi_extra, "name": m.name, "version": m.version,
        }),
    }
}

fn subjects(report: &LibraryReport, code: Code) -> Vec<String> {
    let mut v: Vec<String> = report
        .problems
        .iter()
        .filter(|p| p.code == code)
        .filter_map(|p| p.subject.clone())
        .collect();
    v.dedup();
    v
}

fn report_json(report: &LibraryReport) -> serde_json::Value {
    serde_json::json!({
        "path": report.path,
        "loadable": report.loadable,
        "machine": report.header.as_ref().map(|h| h.machine_name()),
        "magic": magic_json(report),
        "needed": report.needed,
        "rpath": report.rpath,
        "runpath": report.runpath,
        "newest_glibc_needed": compat::newest_glibc(report),
        "missing_libraries": subjects(report, Code::MissingLibrary),
        "undefined_symbols": subjects(report, Code::UndefinedSymbol),
        "dependencies": report.dependencies.iter().map(|d| serde_json::json!({
            "name": d.name, "needed_by": d.needed_by, "path": d.path, "found_via": d.found_via.map(elf::FoundVia::as_str),
        })).collect::<Vec<_>>(),
        "preload": preload_kind(report),
        "preload_refusals": report.preload.refusals.iter().map(|r| r.message()).collect::<Vec<_>>(),
        "preload_undecided": report.preload.undecided,
        "problems": report.problems.iter().map(|p| serde_json::json!({
            "code": p.code.as_str(), "severity": p.severity.as_str(),
            "message": p.message, "detail": p.detail, "hint": p.hint, "subject": p.subject,
        })).collect::<Vec<_>>(),
    })
}

/// The full reasoning for one extension, for people and tools: where PostgreSQL finds it, what
/// installing it runs, every library it names and what analysis found, its requirements.
#[pg_extern(volatile)]
fn check_extension(name: &str) -> JsonB {
    // Scripts are read only for the extension and what it requires: a PostGIS-sized neighbour's
    // hundreds of upgrade scripts say nothing about this one.
    // Libraries are analysed for the same closure only: everyone else's verdict is not asked for.
    let closure = compat::requirement_closure(&read_inventory(false), &[name]);
    let mut settings = settings(true);
    settings.references_for = Some(closure.clone());
    let inv = read_inventory_with(&settings);
    let Some(ext) = inv.extensions.iter().find(|e| e.visible && e.name == name) else {
        SqlError::NotFound {
            what: "available extension",
            name: name.to_string(),
        }
        .raise()
    };
    let verdicts = compat::judge_only(&inv, &mut analyze, &preloaded(), &closure);
    let v = verdicts.get(name);
    let copies: Vec<serde_json::Value> = inv
        .extensions
        .iter()
        .filter(|e| e.name == name)
        .map(|e| serde_json::json!({"control_file": e.control_path, "image": e.image, "visible": e.visible}))
        .collect();
    let c = ext.control.as_ref();
    JsonB(serde_json::json!({
        "name": name,
        "compatible": v.and_then(|v| v.compatible_sql()),
        "usable": v.map(|v| v.usable),
        "image": ext.image,
        "control_file": ext.control_path,
        "copies": copies,
        "default_version": c.and_then(|c| c.default_version.clone()),
        "install_path": ext.install_path,
        "installed_version": ext.installed_version,
        "update_path": ext.update_path,
        "module_pathname": c.and_then(|c| c.module_pathname.clone()),
        "library": ext.module_library,
        "requires": v.map(|v| v.requires.iter().map(|(r, ok)| serde_json::json!({"name": r, "compatible": ok}))
            .collect::<Vec<_>>()),
        "script_references": ext.references.iter().map(|r| serde_json::json!({
            "script": r.script, "line": r.line, "kind": r.kind.as_str(), "name": r.name, "resolved": r.resolved,
        })).collect::<Vec<_>>(),
        // Server files the scripts read while they run, looked up where the server opens them.
        "script_file_reads": ext.file_reads.iter().map(|f| serde_json::json!({
            "script": f.script, "line": f.line, "kind": f.kind.as_str(), "path": f.path,
            "in_do_block": f.in_do_block, "looked_up": f.looked_up, "state": f.state.as_str(),
            "via": f.via.as_ref().map(|(function, line)| serde_json::json!({"function": function, "line": line})),
            "in_image": f.in_image,
        })).collect::<Vec<_>>(),
        "libraries": v.map(|v| v.libraries.iter().map(|l| {
            let mut j = report_json(&l.report);
            j["via"] = serde_json::json!(l.via);
            j["on_install_path"] = serde_json::json!(l.on_install_path);
            j["preloaded"] = serde_json::json!(l.preloaded);
            j["loadable_now"] = serde_json::json!(loadable_now(&l.report, l.preloaded));
            j
        }).collect::<Vec<_>>()),
        "problems": details_value(v.map(|v| v.problems.as_slice()).unwrap_or(&ext.problems)),
        "usable_problems": details_value(v.map(|v| v.usable_problems.as_slice()).unwrap_or_default()),
        "server": {
            "pg_version": pg_sys::PG_VERSION_NUM / 100,
            "glibc": host_glibc(),
            "shared_preload_libraries": preload_list(),
        },
    }))
}

/// Static analysis of every library in `pgext.libraries`: ABI, magic block, glibc, dependencies.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn library_compat() -> TableIterator<
    'static,
    (
        name!(path, String),
        name!(image, Option<String>),
        name!(source, String),
        name!(loadable, Option<bool>),
        name!(machine, Option<String>),
        name!(magic_version, Option<i32>),
        name!(magic_abi_extra, Option<String>),
        name!(module_name, Option<String>),
        name!(module_version, Option<String>),
        name!(glibc_needed, Option<String>),
        name!(glibc_available, Option<String>),
        name!(needed, Vec<String>),
        name!(missing_libraries, Vec<String>),
        name!(undefined_symbols, Vec<String>),
        name!(problems, Vec<String>),
        name!(problem_details, JsonbOut),
        name!(preload, Option<String>),
        name!(preloaded, bool),
    ),
> {
    let s = settings(false);
    let rows = COMPAT_ROWS.with(|c| c.rows(&signature(&s), || compat_rows(&s)));
    TableIterator::new((0..rows.len()).map(move |i| {
        let r = &rows[i];
        (
            r.path.clone(),
            r.image.clone(),
            r.source.clone(),
            r.loadable,
            r.machine.clone(),
            r.magic_version,
            r.magic_abi_extra.clone(),
            r.module_name.clone(),
            r.module_version.clone(),
            r.glibc_needed.clone(),
            r.glibc_available.clone(),
            r.needed.clone(),
            r.missing_libraries.clone(),
            r.undefined_symbols.clone(),
            r.problems.clone(),
            r.problem_details.out(),
            r.preload.clone(),
            r.preloaded,
        )
    }))
}

/// One row of `library_compat`, kept between queries and shared between backends.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct CompatRow {
    path: String,
    image: Option<String>,
    source: String,
    loadable: Option<bool>,
    machine: Option<String>,
    magic_version: Option<i32>,
    magic_abi_extra: Option<String>,
    module_name: Option<String>,
    module_version: Option<String>,
    glibc_needed: Option<String>,
    glibc_available: Option<String>,
    needed: Vec<String>,
    missing_libraries: Vec<String>,
    undefined_symbols: Vec<String>,
    problems: Vec<String>,
    problem_details: KeptJsonb,
    preload: Option<String>,
    preloaded: bool,
}

thread_local! {
    /// `library_compat` rows, kept and shared (see [`rowcache`]).
    static COMPAT_ROWS: RowCache<CompatRow> = const { RowCache::new("pgext_library_compat") };
}

/// Forgets the rows `library_compat` keeps.
pub(crate) fn clear_rows() {
    COMPAT_ROWS.with(RowCache::clear);
}

/// Where this session's last `library_compat` rows came from.
pub fn row_source() -> Option<rowcache::Source> {
    COMPAT_ROWS.with(RowCache::source)
}

/// Analyses every library of the session's inventory. The fingerprint watches, besides the
/// inventory's paths, every library, every file its dependencies resolved to and their
/// directories (a library added there may change what resolves), and the ld.so cache.
fn compat_rows(s: &pgext_core::inventory::Settings) -> (Vec<CompatRow>, Option<Fingerprint>) {
    let inv = read_inventory_with(s);
    let glibc = host_glibc();
    let preloaded = preloaded();
    let published = preloaded.published(&mut |p: &str| analyze(p));
    let mut watched: BTreeSet<String> = BTreeSet::new();
    watched.insert(elf::ldcache::DEFAULT_PATH.to_string());
    let rows: Vec<_> = inv
        .libraries
        .iter()
        .filter(|l| l.size.is_some())
        .map(|l| {
            let mut r = analyze(&l.path);
            r.preload.assume_published(&published);
            watched.insert(l.path.clone());
            for d in r.dependencies.iter().filter_map(|d| d.path.as_deref()) {
                watched.insert(d.to_string());
                if let Some((dir, _)) = d.rsplit_once('/') {
                    watched.insert(if dir.is_empty() {
                        "/".to_string()
                    } else {
                        dir.to_string()
                    });
                }
            }
            let source = match l.source {
                LibrarySource::LibraryPath(_) => "library_path",
                LibrarySource::System => "system",
            };
            let is_preloaded = preloaded.contains(&l.path);
            let mut loadable = loadable_now(&r, is_preloaded);
            let mut preload = Some(preload_kind(&r).to_string());
            if source == "system" {
                // An OS library is a dependency, not a PostgreSQL module: no magic block is due.
                r.problems.retain(|p| !p.code.as_str().contains("magic"));
                r.loadable = !r.problems.iter().any(|p| p.severity == elf::Severity::Error);
                loadable = Some(r.loadable);
                preload = None;
            }
            let mut problems: Vec<_> = r.problems.iter().map(Problem::folded).collect();
            if source != "system" {
                problems.extend(compat::preload_problem(&r, is_preloaded, true));
            }
            CompatRow {
                path: l.path.clone(),
                image: l.image.clone(),
                source: source.to_string(),
                loadable,
                machine: r.header.as_ref().map(|h| h.machine_name().to_string()),
                magic_version: r.magic.as_ref().map(|m| m.pg_version),
                magic_abi_extra: r.magic.as_ref().and_then(|m| m.abi_extra.clone()),
                module_name: r.magic.as_ref().and_then(|m| m.name.clone()),
                module_version: r.magic.as_ref().and_then(|m| m.version.clone()),
                glibc_needed: compat::newest_glibc(&r),
                glibc_available: glibc.clone(),
                needed: r.needed.clone(),
                missing_libraries: subjects(&r, Code::MissingLibrary),
                undefined_symbols: subjects(&r, Code::UndefinedSymbol),
                problems: codes(&problems),
                problem_details: details_value(&problems).into(),
                preload,
                preloaded: is_preloaded,
            }
        })
        .collect();
    let fp = Fingerprint::of_with(&inv, s, watched);
    (rows, fp)
}

extension_sql_file!(
    "../../sql/compat.sql",
    name = "compat_views",
    requires = [library_compat, check_extension, "image_tables"]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn contrib_modules_are_compatible_and_named() {
        // plpgsql is in every $system directory: its module must analyse as loadable PG 18.
        let j = Spi::get_one::<pgrx::JsonB>("SELECT pgext.check_extension('plpgsql')")
            .expect("spi")
            .expect("row");
        assert_eq!(j.0["compatible"], serde_json::json!(true), "{}", j.0);
        let magic = &j.0["libraries"][0]["magic"];
        assert_eq!(magic["pg_version"], serde_json::json!(1800), "{}", j.0);
        assert_eq!(magic["name"], serde_json::json!("plpgsql"), "{}", j.0);
        let loadable =
            Spi::get_one::<bool>("SELECT bool_and(loadable) FROM pgext.library_compat WHERE path LIKE '%/plpgsql.so'")
                .expect("spi");
        assert_eq!(loadable, Some(true));
    }

    #[pg_test(error = "available extension \"no_such_thing\" does not exist")]
    fn unknown_extension_is_an_error() {
        Spi::run("SELECT pgext.check_extension('no_such_thing')").expect("spi");
    }
}
