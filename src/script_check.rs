//! PostgreSQL's own grammar against pgext's script scanner (`pgext_core::scripts`), over the
//! scripts of every extension installed with the server: the scanner must find exactly the
//! libraries `raw_parser()` finds in `CREATE FUNCTION … LANGUAGE C` and `LOAD` statements, and
//! the time each takes is logged. Test-only: it measures whether the grammar could replace the
//! scanner for verdicts, and holds the scanner to the grammar on real scripts meanwhile.

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use std::ffi::CString;
    use std::time::{Duration, Instant};

    use pgext_core::control::{ControlKind, parse_control};
    use pgext_core::scripts::{ReferenceKind, library_references};
    use pgrx::PgList;
    use pgrx::prelude::*;

    use crate::server::{self, owned};

    /// (kind, file, symbol, inside a DO block): what both sides must agree on.
    type Found = (&'static str, String, Option<String>, bool);

    /// The script as `execute_extension_script()` hands it to the parser: `\echo` lines
    /// dropped, `MODULE_PATHNAME` and the placeholders replaced (their values do not matter here).
    fn prepare(sql: &str, module_pathname: Option<&str>) -> String {
        let mut out: String = sql
            .split_inclusive('\n')
            .map(|l| if l.starts_with("\\echo") { "\n" } else { l })
            .collect();
        if let Some(mp) = module_pathname {
            out = out.replace("MODULE_PATHNAME", mp);
        }
        let mut rest = out.as_str();
        let mut done = String::with_capacity(out.len());
        // @extschema@, @extschema:<name>@ and @extowner@ are identifiers once substituted.
        while let Some(at) = rest.find('@') {
            done.push_str(&rest[..at]);
            let tail = &rest[at + 1..];
            match tail.find('@') {
                Some(end) if tail[..end].starts_with("extschema") || &tail[..end] == "extowner" => {
                    done.push_str("public");
                    rest = &tail[end + 1..];
                }
                _ => {
                    done.push('@');
                    rest = tail;
                }
            }
        }
        done.push_str(rest);
        done
    }

    /// The references the grammar finds; a `DO` body (PL/pgSQL, which the grammar does not
    /// parse) is handed to the scanner, as pgext would.
    fn parsed(sql: &str) -> Vec<Found> {
        let text = CString::new(sql).expect("script without NUL bytes");
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

    fn scanned(sql: &str, module_pathname: Option<&str>) -> Vec<Found> {
        library_references(sql, module_pathname)
            .into_iter()
            .map(|r| (r.kind.as_str(), r.name, r.symbol, r.in_do_block))
            .collect()
    }

    #[pg_test]
    fn scanner_finds_what_the_parser_finds() {
        let dir = format!("{}/extension", server::sharedir());
        let mut scripts: Vec<_> = std::fs::read_dir(&dir)
            .expect("the server's extension directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        scripts.sort();
        let (mut scanner, mut grammar) = (Duration::ZERO, Duration::ZERO);
        let (mut references, mut bytes) = (0, 0);
        for path in &scripts {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let ext = file.split("--").next().unwrap();
            let control = std::fs::read(format!("{dir}/{ext}.control")).expect("control file");
            let control = parse_control(&control, ControlKind::Primary).expect("a valid control file");
            let mp = control.module_pathname.as_deref();
            let sql = std::fs::read_to_string(path).expect("a UTF-8 script");
            bytes += sql.len();

            let t = Instant::now();
            let mut by_scanner = scanned(&sql, mp);
            scanner += t.elapsed();
            let prepared = prepare(&sql, mp);
            let t = Instant::now();
            let mut by_grammar = parsed(&prepared);
            grammar += t.elapsed();

            by_scanner.sort();
            by_grammar.sort();
            assert_eq!(by_scanner, by_grammar, "{file}");
            references += by_grammar.len();
        }
        assert!(scripts.len() >= 100, "only {} scripts in {dir}", scripts.len());
        assert!(
            references >= 500,
            "only {references} references in {} scripts",
            scripts.len()
        );
        pgrx::log!(
            "pgext script_check: {} scripts, {} kB, {references} references: scanner {:.1} ms, raw_parser {:.1} ms",
            scripts.len(),
            bytes / 1024,
            scanner.as_secs_f64() * 1e3,
            grammar.as_secs_f64() * 1e3,
        );
    }
}
