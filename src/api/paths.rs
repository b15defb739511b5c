//! `pgext.extension_paths`: every element of `extension_control_path` and `dynamic_library_path`,
//! expanded exactly as PostgreSQL 18 expands it, with what the server can see there.

use std::path::Path;

use pgext_core::fsinfo::{self, DirProblem};
use pgext_core::paths::{ElementProblem, PathElement, PathKind};
use pgrx::prelude::*;

use crate::session::current_elements;

/// PostgreSQL first tries a library name without `.so` in every element, then with it: a name
/// written without the suffix (the usual `$libdir/name`) reaches every element unless the bare
/// file exists.
const EVERY_NAME: &str = "libraries named without \".so\" (the usual '$libdir/name') are first searched \
    through every element, so the first call of any such C function in a session fails with";

/// One explanation per problem code, phrased as the consequence for PostgreSQL.
fn detail(e: &PathElement, dir_problem: Option<DirProblem>, elements: &[PathElement]) -> Option<String> {
    let guc = e.kind.guc_name();
    let text = match (e.problem, dir_problem, e.kind) {
        (Some(ElementProblem::Empty), _, PathKind::Control) => {
            "zero-length element: PostgreSQL searches \"/extension\" for it".to_string()
        }
        (Some(ElementProblem::Empty), _, PathKind::Library) if e.raw.is_empty() && elements.len() == 1 => {
            "dynamic_library_path is empty: library names are passed to dlopen() as written".to_string()
        }
        (Some(ElementProblem::Empty), _, PathKind::Library) => format!(
            "zero-length element: {EVERY_NAME} \"zero-length component in parameter \"{guc}\"\""
        ),
        (Some(ElementProblem::Relative), _, PathKind::Control) if e.raw.starts_with("$system") => {
            "$system is substituted only when it is the whole element: this one is relative, and a lookup that reaches it fails with \"component in parameter \"extension_control_path\" is not an absolute path\"".to_string()
        }
        (Some(ElementProblem::Relative), _, PathKind::Control) => format!(
            "relative element: a lookup that reaches it fails with \"component in parameter \"{guc}\" is not an absolute path\""
        ),
        (Some(ElementProblem::Relative), _, PathKind::Library) => format!(
            "relative element: {EVERY_NAME} \"component in parameter \"{guc}\" is not an absolute path\""
        ),
        (Some(ElementProblem::InvalidMacro), _, _) => format!(
            "only $libdir is recognised, at the start of an element: {EVERY_NAME} \"invalid macro name in path: {}\"",
            e.raw
        ),
        (Some(ElementProblem::Duplicate), _, _) => {
            let first = elements
                .iter()
                .find(|o| o.problem.is_none() && o.searched == e.searched)
                .map(|o| o.position)
                .unwrap_or(0);
            format!("same directory as element {first}: never searched to any effect")
        }
        (None, Some(DirProblem::Missing), PathKind::Control) => {
            "directory does not exist: PostgreSQL skips it silently, so extensions expected here are simply unavailable".to_string()
        }
        (None, Some(DirProblem::Missing), PathKind::Library) => {
            "directory does not exist: PostgreSQL skips it silently when loading libraries".to_string()
        }
        (None, Some(DirProblem::NotADirectory), PathKind::Control) => {
            "not a directory: pg_available_extensions fails with an error while reading it".to_string()
        }
        (None, Some(DirProblem::NotADirectory), PathKind::Library) => {
            "not a directory: no library is ever found here".to_string()
        }
        (None, Some(DirProblem::Unreadable), PathKind::Control) => {
            "the server cannot read this directory: pg_available_extensions fails with \"permission denied\"".to_string()
        }
        (None, Some(DirProblem::Unreadable), PathKind::Library) => {
            "the server cannot read this directory: libraries in it are silently not found".to_string()
        }
        (None, None, _) => return None,
    };
    Some(text)
}

/// One row per element of `extension_control_path`, then of `dynamic_library_path`, in search
/// order, with the directory PostgreSQL 18 really searches and what the server can see there.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_safe)]
fn extension_paths() -> TableIterator<
    'static,
    (
        name!(kind, String),
        name!(position, i32),
        name!(element, String),
        name!(directory, Option<String>),
        name!(is_system, bool),
        name!(exists, Option<bool>),
        name!(is_dir, Option<bool>),
        name!(readable, Option<bool>),
        name!(read_only, Option<bool>),
        name!(problem, Option<String>),
        name!(detail, Option<String>),
    ),
> {
    let (control, library) = current_elements();
    let mut rows = Vec::with_capacity(control.len() + library.len());
    for elements in [&control, &library] {
        for e in elements.iter() {
            let probe = e.searched.as_deref().map(|d| fsinfo::probe_dir(Path::new(d)));
            let dir_problem = probe.and_then(|p| p.problem());
            let problem = e.problem.map(|p| p.code()).or(dir_problem.map(|p| p.code()));
            rows.push((
                e.kind.as_str().to_string(),
                e.position as i32,
                e.raw.clone(),
                e.searched.clone(),
                e.is_system(),
                probe.map(|p| p.exists),
                probe.map(|p| p.is_dir),
                probe.map(|p| p.readable),
                probe.and_then(|p| p.read_only),
                problem.map(|c| c.as_str().to_string()),
                detail(e, if e.problem.is_none() { dir_problem } else { None }, elements),
            ));
        }
    }
    TableIterator::new(rows)
}

extension_sql_file!(
    "../../sql/paths.sql",
    name = "extension_paths_view",
    requires = [extension_paths, "image_tables"]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn dir_of(position: i32, kind: &str) -> (Option<String>, Option<String>) {
        let row = Spi::get_two_with_args::<String, String>(
            "SELECT directory, problem FROM pgext.extension_paths WHERE kind = $1 AND position = $2",
            &[kind.into(), position.into()],
        );
        row.expect("row")
    }

    #[pg_test]
    fn custom_control_element_gets_extension_suffix() {
        let tmp = std::env::temp_dir().join(format!("pgext-pgtest-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("a/share/extension")).expect("mkdir");
        let a = tmp.join("a/share");
        Spi::run(&format!(
            "SET extension_control_path = '$system:{}:{}/missing/share:rel'",
            a.display(),
            tmp.display()
        ))
        .expect("SET");
        assert_eq!(dir_of(2, "control"), (Some(format!("{}/extension", a.display())), None));
        assert_eq!(dir_of(3, "control").1.as_deref(), Some("missing"));
        assert_eq!(dir_of(4, "control").1.as_deref(), Some("relative"));
        let sys = dir_of(1, "control").0.expect("system dir");
        assert!(sys.ends_with("/extension"), "{sys}");
        std::fs::remove_dir_all(&tmp).ok();
    }

    #[pg_test]
    fn library_elements_follow_dfmgr_rules() {
        // A bad element breaks the first lookup of every C function named '$libdir/x' in the
        // session — pgext's own included — so resolve ours before breaking the setting.
        Spi::run("SELECT count(*) FROM pgext.extension_paths").expect("warm-up");
        Spi::run("SET dynamic_library_path = '$libdir:$libdir/plugins::$bogus:/x/'").expect("SET");
        let libdir = Spi::get_one::<String>(
            "SELECT directory FROM pgext.extension_paths WHERE kind = 'library' AND position = 1",
        )
        .expect("spi")
        .expect("libdir");
        assert_eq!(dir_of(2, "library").0, Some(format!("{libdir}/plugins")));
        assert_eq!(dir_of(3, "library"), (None, Some("empty".to_string())));
        assert_eq!(dir_of(4, "library"), (None, Some("invalid_macro".to_string())));
        assert_eq!(
            dir_of(5, "library"),
            (Some("/x".to_string()), Some("missing".to_string()))
        );
    }
}
