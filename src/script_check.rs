//! PostgreSQL's own grammar against pgext's script scanner (`pgext_core::scripts`), over the
//! scripts of every extension the server can see (each directory of `extension_control_path`):
//! the scanner must find exactly the libraries `raw_parser()` finds in `CREATE FUNCTION …
//! LANGUAGE C` and `LOAD` statements, and exactly the server files it finds read by `COPY …
//! FROM 'file'` and by `pg_read_file`/`pg_read_binary_file`/`lo_import` calls with a literal
//! in a top-level `SELECT`; and the time each takes is measured. Test-only: it measures
//! whether the grammar could replace the scanner for verdicts, and holds the scanner to the
//! grammar on real scripts meanwhile. `cargo pgrx test` covers the server's own contrib scripts;
//! the wide oracle (tests/oracle) runs it again with every image of its corpus on the path
//! (`PGEXT_SCRIPT_CHECK_PATH`, see `pg_test` in lib.rs). The figures go to `script_check.txt`
//! beside the data directory, in pgrx's `--pgdata` (a passing `#[pg_test]` shows none of its log).

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use std::ffi::CString;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use pgext_core::control::{ControlKind, parse_control};
    use pgext_core::paths;
    use pgext_core::scripts::{self, FileReadKind, ReferenceKind, scan_script};
    use pgrx::PgList;
    use pgrx::pg_sys::panic::CaughtError;
    use pgrx::prelude::*;

    use crate::server::{self, owned};

    /// (kind, file, symbol, inside a DO block): what both sides must agree on.
    type Found = (&'static str, String, Option<String>, bool);

    /// The script as `execute_extension_script()` hands it to the parser (shared with the
    /// upgrade pre-flight).
    fn prepare(sql: &str, module_pathname: Option<&str>) -> String {
        scripts::prepare_for_parser(sql, module_pathname)
    }

    /// The references the grammar finds, or its error for a script PostgreSQL cannot run at all; a
    /// `DO` body (PL/pgSQL, which the grammar does not parse) is handed to the scanner, as pgext
    /// would.
    fn parsed(sql: &str) -> Result<Vec<Found>, String> {
        let Ok(text) = CString::new(sql) else {
            return Err("the script holds a NUL byte".into());
        };
        PgTryBuilder::new(|| Ok(parse(&text)))
            .catch_others(|e| {
                Err(match e {
                    CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r.message().to_string(),
                    CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
                })
            })
            .execute()
    }

    fn parse(text: &CString) -> Vec<Found> {
        let mut out = Vec::new();
        // SAFETY: raw_parser returns a List of RawStmt in the current memory context; every node
        // read below is the grammar's, checked by tag before it is cast.
        unsafe {
            let stmts = pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
            for raw in PgList::<pg_sys::RawStmt>::from_pg(stmts).iter_ptr() {
                let node = (*raw).stmt;
                match (*node).type_ {
                    pg_sys::NodeTag::T_LoadStmt => {
                        let s = node.cast::<pg_sys::LoadStmt>();
                        out.push((ReferenceKind::Load.as_str(), owned((*s).filename), None, false));
                    }
                    pg_sys::NodeTag::T_CreateFunctionStmt => {
                        let s = node.cast::<pg_sys::CreateFunctionStmt>();
                        if let Some([file, rest @ ..]) = server::c_function_as(s).as_deref() {
                            let symbol = rest.first().cloned();
                            out.push((ReferenceKind::Function.as_str(), file.clone(), symbol, false));
                        }
                    }
                    pg_sys::NodeTag::T_CopyStmt => {
                        let s = node.cast::<pg_sys::CopyStmt>();
                        // gram.y: FROM STDIN leaves filename NULL; COPY (query) is TO only.
                        if (*s).is_from && !(*s).is_program && !(*s).filename.is_null() {
                            out.push((FileReadKind::Copy.as_str(), owned((*s).filename), None, false));
                        }
                    }
                    pg_sys::NodeTag::T_SelectStmt => {
                        let mut calls: Vec<Found> = Vec::new();
                        pg_sys::raw_expression_tree_walker_impl(node, Some(reading_calls), (&raw mut calls).cast());
                        out.extend(calls);
                    }
                    pg_sys::NodeTag::T_DoStmt => {
                        let s = node.cast::<pg_sys::DoStmt>();
                        let (mut language, mut body) = (None, None);
                        for d in PgList::<pg_sys::DefElem>::from_pg((*s).args).iter_ptr() {
                            match owned((*d).defname).as_str() {
                                "language" => language = Some(owned(pg_sys::defGetString(d))),
                                "as" => body = Some(owned(pg_sys::defGetString(d))),
                                _ => {}
                            }
                        }
                        if matches!(language.as_deref(), None | Some("plpgsql"))
                            && let Some(body) = body
                        {
                            let wrapped = format!("DO $pgext_body$\n{body}\n$pgext_body$;");
                            out.extend(scanned(&wrapped, None));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// The string of a `String` node or of an `A_Const` holding one.
    ///
    /// # Safety
    /// `node` is null or a node of the raw parse tree.
    unsafe fn string_value(node: *mut pg_sys::Node) -> Option<String> {
        if node.is_null() {
            return None;
        }
        // SAFETY: tags are checked before each cast; the grammar sets them.
        unsafe {
            match (*node).type_ {
                pg_sys::NodeTag::T_String => Some(owned((*node.cast::<pg_sys::String>()).sval)),
                pg_sys::NodeTag::T_A_Const => {
                    let c = node.cast::<pg_sys::A_Const>();
                    if (*c).isnull || (*c).val.node.type_ != pg_sys::NodeTag::T_String {
                        return None;
                    }
                    Some(owned((*c).val.sval.sval))
                }
                _ => None,
            }
        }
    }

    /// A walker of `raw_expression_tree_walker()`: collects calls of the file-reading functions
    /// whose first argument is a string constant and no argument after it the constant `true`
    /// (`missing_ok`; lo_import's second argument is an OID), into the `Vec<Found>` at `ctx`.
    unsafe extern "C-unwind" fn reading_calls(node: *mut pg_sys::Node, ctx: *mut std::ffi::c_void) -> bool {
        if node.is_null() {
            return false;
        }
        // SAFETY: the walker hands raw parse tree nodes and the context given below.
        unsafe {
            if (*node).type_ == pg_sys::NodeTag::T_FuncCall {
                let call = node.cast::<pg_sys::FuncCall>();
                let names: Vec<String> = PgList::<pg_sys::Node>::from_pg((*call).funcname)
                    .iter_ptr()
                    .filter_map(|n| string_value(n))
                    .collect();
                let kind = match names.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                    ["pg_read_file"] | ["pg_catalog", "pg_read_file"] => Some(FileReadKind::PgReadFile),
                    ["pg_read_binary_file"] | ["pg_catalog", "pg_read_binary_file"] => {
                        Some(FileReadKind::PgReadBinaryFile)
                    }
                    ["lo_import"] | ["pg_catalog", "lo_import"] => Some(FileReadKind::LoImport),
                    _ => None,
                };
                let args: Vec<*mut pg_sys::Node> = PgList::<pg_sys::Node>::from_pg((*call).args).iter_ptr().collect();
                let missing_ok = args.iter().skip(1).any(|&a| {
                    (*a).type_ == pg_sys::NodeTag::T_A_Const && {
                        let c = a.cast::<pg_sys::A_Const>();
                        !(*c).isnull && (*c).val.node.type_ == pg_sys::NodeTag::T_Boolean && (*c).val.boolval.boolval
                    }
                });
                let first = args.first().filter(|&&a| (*a).type_ == pg_sys::NodeTag::T_A_Const);
                if let (Some(kind), Some(&first)) = (kind, first)
                    && let Some(path) = string_value(first)
                    && (kind == FileReadKind::LoImport || !missing_ok)
                {
                    (*ctx.cast::<Vec<Found>>()).push((kind.as_str(), path, None, false));
                }
            }
            pg_sys::raw_expression_tree_walker_impl(node, Some(reading_calls), ctx)
        }
    }

    fn scanned(sql: &str, module_pathname: Option<&str>) -> Vec<Found> {
        let scan = scan_script(sql, module_pathname);
        // Reads in a function body run by a later call: the grammar does not follow calls.
        let reads = scan
            .file_reads
            .into_iter()
            .filter(|r| r.via.is_none())
            .map(|r| (r.kind.as_str(), r.path, None, r.in_do_block));
        scan.libraries
            .into_iter()
            .map(|r| (r.kind.as_str(), r.name, r.symbol, r.in_do_block))
            .chain(reads)
            .collect()
    }

    /// The scripts of every extension on `extension_control_path` (first control file of a name
    /// wins, as in PostgreSQL), found in its script directory (`directory` honoured) by name
    /// (`<name>--*.sql`), each with its `module_pathname`; and how many directories on the path
    /// hold control files (the oracle checks that its images were all on it).
    fn scripts_on_the_path() -> (Vec<(PathBuf, Option<String>)>, usize) {
        let (mut out, mut dirs) = (Vec::new(), 0);
        let mut seen = std::collections::HashSet::new();
        let elements = paths::expand_control_path(&server::extension_control_path(), &server::sharedir());
        for dir in elements
            .iter()
            .filter(|e| e.problem.is_none())
            .filter_map(|e| e.searched.as_ref())
        {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut controls: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "control"))
                .collect();
            controls.sort();
            dirs += usize::from(!controls.is_empty());
            for control in controls {
                let name = control.file_stem().unwrap().to_string_lossy().into_owned();
                if name.contains("--") || !seen.insert(name.clone()) {
                    continue; // a secondary control file, or a name found earlier on the path
                }
                let parsed = std::fs::read(&control)
                    .ok()
                    .and_then(|c| parse_control(&c, ControlKind::Primary).ok());
                let directory = parsed.as_ref().and_then(|c| c.directory.as_deref());
                let script_dir = scripts::script_directory(dir, directory);
                let mp = parsed.as_ref().and_then(|c| c.module_pathname.clone());
                let Ok(files) = std::fs::read_dir(&script_dir) else {
                    continue;
                };
                let prefix = format!("{name}--");
                let mut scripts: Vec<PathBuf> = files
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        let file = p.file_name().unwrap().to_string_lossy();
                        file.starts_with(&prefix) && file.ends_with(".sql")
                    })
                    .collect();
                scripts.sort();
                out.extend(scripts.into_iter().map(|p| (p, mp.clone())));
            }
        }
        (out, dirs)
    }

    #[pg_test]
    fn scanner_finds_what_the_parser_finds() {
        let (scripts, dirs) = scripts_on_the_path();
        let (mut scanner, mut grammar) = (Duration::ZERO, Duration::ZERO);
        let (mut references, mut reads, mut bytes) = (0, 0, 0);
        let (mut disagree, mut unparsable) = (Vec::new(), Vec::new());
        for (path, mp) in &scripts {
            let raw = std::fs::read(path).expect("a readable script");
            // PostgreSQL converts from the control file's encoding; every script seen is UTF-8 or
            // ASCII, and both sides read the same text either way.
            let sql = String::from_utf8_lossy(&raw);
            bytes += sql.len();

            let t = Instant::now();
            let mut by_scanner = scanned(&sql, mp.as_deref());
            scanner += t.elapsed();
            let prepared = prepare(&sql, mp.as_deref());
            let t = Instant::now();
            let by_grammar = parsed(&prepared);
            grammar += t.elapsed();

            match by_grammar {
                Ok(mut by_grammar) => {
                    by_scanner.sort();
                    by_grammar.sort();
                    if by_scanner != by_grammar {
                        disagree.push(format!(
                            "{}:\n  scanner {by_scanner:?}\n  grammar {by_grammar:?}",
                            path.display()
                        ));
                    }
                    let is_library = |f: &&Found| matches!(f.0, "function" | "load");
                    references += by_grammar.iter().filter(is_library).count();
                    reads += by_grammar.len() - by_grammar.iter().filter(is_library).count();
                }
                // CREATE EXTENSION fails on such a script whatever its references are.
                Err(e) => unparsable.push(format!("{}: {e}", path.display())),
            }
        }
        let mut report = format!(
            "{} scripts from {dirs} directories, {} kB, {references} library references, \
             {reads} server file reads; {} unparsable, {} disagree\n\
             scanner {:.1} ms, raw_parser {:.1} ms ({} build)\n",
            scripts.len(),
            bytes / 1024,
            unparsable.len(),
            disagree.len(),
            scanner.as_secs_f64() * 1e3,
            grammar.as_secs_f64() * 1e3,
            if cfg!(debug_assertions) { "debug" } else { "release" },
        );
        for line in unparsable.iter().chain(&disagree) {
            let _ = writeln!(report, "{line}");
        }
        // Beside the data directory: pgrx removes the cluster itself when the tests end.
        let data_dir = server::data_dir();
        let beside = Path::new(&data_dir).parent().expect("an absolute data directory");
        std::fs::write(beside.join("script_check.txt"), &report).expect("the report beside the data directory");
        pgrx::log!("pgext script_check: {report}");

        assert!(disagree.is_empty(), "the scanner and the grammar disagree:\n{report}");
        assert!(scripts.len() >= 100, "only {} scripts on the path", scripts.len());
        assert!(
            references >= 500,
            "only {references} references in {} scripts",
            scripts.len()
        );
        // The server's own scripts all run; an unparsable one there means the harness broke.
        let system = format!("{}/extension/", server::sharedir());
        assert!(
            unparsable.iter().all(|u| !u.starts_with(&system)),
            "contrib scripts the grammar rejects:\n{report}"
        );
    }
}
