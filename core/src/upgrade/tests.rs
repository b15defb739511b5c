use super::*;
use crate::preflight::ImageDir;

/// Stands in for PostgreSQL's grammar in these table tests (the upgrade-preflight suite runs the
/// real one): a script holding `NOT SQL` does not parse.
struct Marker;
impl ScriptParser for Marker {
    fn parse(&self, sql: &str) -> Result<(), SyntaxError> {
        match sql.lines().position(|l| l.contains("NOT SQL")) {
            Some(i) => Err(SyntaxError {
                message: "syntax error at or near \"NOT\"".into(),
                line: Some(i + 1),
            }),
            None => Ok(()),
        }
    }
}

fn write(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn identifiers_are_quoted_like_postgres() {
    for (name, want) in [
        ("vector", "vector"),
        ("pg_trgm", "pg_trgm"),
        ("uuid-ossp", "\"uuid-ossp\""),
        ("Foo", "\"Foo\""),
        ("1x", "\"1x\""),
        ("a\"b", "\"a\"\"b\""),
    ] {
        assert_eq!(quote_ident(name), want, "{name}");
    }
}

#[test]
fn plan_per_database() {
    let t = tempfile::tempdir().unwrap();
    let new = t.path().join("new/app");
    write(
        &new,
        &[
            ("share/extension/base.control", "default_version = '2.0'\n"),
            ("share/extension/base--1.0.sql", "CREATE TABLE t();\n"),
            ("share/extension/base--1.0--2.0.sql", "SELECT 1;\n"),
            (
                "share/extension/top.control",
                "default_version = '3'\nrequires = 'base'\n",
            ),
            ("share/extension/top--1.sql", "SELECT 1;\n"),
            ("share/extension/top--1--2.sql", "\\echo Use ALTER\nSELECT 1;\n"),
            ("share/extension/top--2--3.sql", "SELECT 1;\nNOT SQL;\n"),
            ("share/extension/stuck.control", "default_version = '9'\n"),
            ("share/extension/stuck--1.sql", "SELECT 1;\n"),
            ("share/extension/stuck--9.sql", "SELECT 1;\n"),
            ("share/extension/same.control", "default_version = '1'\n"),
            ("share/extension/same--1.sql", "SELECT 1;\n"),
        ],
    );
    let layout = JobLayout {
        old: vec![],
        new: vec![ImageDir {
            name: "app".into(),
            dir: new.clone(),
        }],
        order: LdOrder::OldFirst,
    };
    let n = new.to_string_lossy();
    let settings = Settings {
        control: paths::expand_control_path(&format!("{n}/share"), "/nonexistent"),
        library: paths::expand_library_path(&format!("{n}/lib"), "/nonexistent"),
        pkglibdir: "/nonexistent".into(),
        ..Settings::default()
    };
    let ext = |name: &str, version: &str| InstalledExtension {
        name: name.into(),
        version: version.into(),
    };
    let db = Database {
        name: "app".into(),
        extensions: vec![
            ext("base", "1.0"),
            ext("gone", "1"),
            ext("same", "1"),
            ext("stuck", "1"),
            ext("top", "1"),
        ],
        functions: vec![CFunction {
            library: "$libdir/gone".into(),
            signature: "gone_fn()".into(),
            extension: Some("gone".into()),
        }],
    };
    let libs = vec![LibraryVerdict {
        library: "$libdir/gone".into(),
        resolved: None,
        loadable: false,
        problems: vec![Problem::error(Code::LibraryNotFound, "x")],
        referenced_by: vec![],
        old_server: None,
    }];
    let plan = plan_database(&db, &settings, &libs, &layout, &Marker);
    let names: Vec<&str> = plan.extensions.iter().map(|e| e.name.as_str()).collect();
    // `top` requires `base`: base comes first.
    assert_eq!(names, ["base", "gone", "same", "stuck", "top"]);
    let get = |n: &str| plan.extensions.iter().find(|e| e.name == n).unwrap();
    let codes = |n: &str| get(n).problems.iter().map(|p| p.code).collect::<Vec<_>>();
    assert!(get("base").compatible && get("same").compatible);
    assert_eq!(get("base").update_path.as_deref(), Some(&["2.0".to_owned()][..]));
    assert_eq!(get("same").statement, None);
    assert_eq!(codes("gone"), [Code::NotProvided, Code::LibraryUnloadable]);
    assert_eq!(codes("stuck"), [Code::NoUpdatePath]);
    assert!(!get("stuck").compatible);
    assert_eq!(codes("top"), [Code::ScriptSyntaxError]);
    assert!(
        get("top").problems[0]
            .message
            .contains("top--2--3.sql line 2: syntax error")
    );
    assert_eq!(
        plan.statements(),
        [
            "ALTER EXTENSION base UPDATE;",
            "ALTER EXTENSION stuck UPDATE;",
            "ALTER EXTENSION top UPDATE;"
        ]
    );
}

#[test]
fn prepared_scripts() {
    let s = crate::scripts::prepare_for_parser(
        "\\echo no\nCREATE FUNCTION @extschema@.f() AS 'MODULE_PATHNAME' LANGUAGE C;\n",
        Some("$libdir/x"),
    );
    assert_eq!(s, "\nCREATE FUNCTION public.f() AS '$libdir/x' LANGUAGE C;\n");
}

#[test]
fn cursor_lines() {
    let sql = "SELECT 1;\nCREATE FUNCTON f();\n";
    for (pos, want) in [
        (0, None),
        (1, Some(1)),
        (10, Some(1)),
        (11, Some(2)),
        (18, Some(2)),
        (99, Some(3)),
    ] {
        assert_eq!(line_of_cursor(sql, pos), want, "{pos}");
    }
    // Characters, not bytes.
    assert_eq!(line_of_cursor("é\nx", 3), Some(2));
}

#[test]
fn update_checks_on_the_current_server() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("share/extension/a.control", "default_version = '2'\n"),
            ("share/extension/a--1.sql", "SELECT 1;\n"),
            ("share/extension/a--1--2.sql", "\nNOT SQL\n"),
            ("share/extension/b.control", "default_version = '2'\n"),
            ("share/extension/b--1.sql", "SELECT 1;\n"),
            ("share/extension/b--2.sql", "SELECT 1;\n"),
            ("share/extension/c.control", "default_version = '1'\n"),
            ("share/extension/c--1.sql", "SELECT 1;\n"),
        ],
    );
    let n = t.path().to_string_lossy();
    let settings = Settings {
        control: paths::expand_control_path(&format!("{n}/share"), "/nonexistent"),
        library: paths::expand_library_path("$libdir", "/nonexistent"),
        pkglibdir: "/nonexistent".into(),
        installed: [("a", "1"), ("b", "1"), ("c", "1")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        ..Settings::default()
    };
    let checks = update_checks(&Inventory::collect(&settings), &Marker);
    let got: Vec<(String, Option<bool>, Vec<Code>)> = checks
        .iter()
        .map(|c| (c.name.clone(), c.updatable, c.problems.iter().map(|p| p.code).collect()))
        .collect();
    assert_eq!(
        got,
        [
            ("a".into(), Some(false), vec![Code::ScriptSyntaxError]),
            ("b".into(), Some(false), vec![Code::NoUpdatePath]),
            ("c".into(), Some(true), vec![]),
        ]
    );
    assert!(
        checks[0].problems[0]
            .message
            .contains("a--1--2.sql line 2: syntax error")
    );
}

/// Counts the parses it is asked for, to show each script is parsed once per call.
struct Counting(std::cell::Cell<usize>);

impl ScriptParser for Counting {
    fn parse(&self, sql: &str) -> Result<(), SyntaxError> {
        self.0.set(self.0.get() + 1);
        Marker.parse(sql)
    }
}

#[test]
fn update_chains_of_every_version() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("share/extension/a.control", "default_version = '1.2'\n"),
            ("share/extension/a--1.0.sql", "SELECT 1;\n"),
            ("share/extension/a--unpackaged--1.0.sql", "SELECT 1;\n"),
            ("share/extension/a--0.9--1.0.sql", "SELECT 1;\n"),
            ("share/extension/a--1.0--1.1.sql", "SELECT 1;\n"),
            ("share/extension/a--1.1--1.2.sql", "SELECT 1;\n\nNOT SQL\n"),
            // A branch that leads away from the default: no path back.
            ("share/extension/a--1.0--2.0.sql", "SELECT 1;\n"),
            ("share/extension/b.control", "default_version = '1'\n"),
            ("share/extension/b--1.sql", "SELECT 1;\n"),
        ],
    );
    let n = t.path().to_string_lossy();
    let settings = Settings {
        control: paths::expand_control_path(&format!("{n}/share"), "/nonexistent"),
        library: paths::expand_library_path("$libdir", "/nonexistent"),
        pkglibdir: "/nonexistent".into(),
        ..Settings::default()
    };
    let inv = Inventory::collect(&settings);
    let parser = Counting(std::cell::Cell::new(0));
    let chains = update_chains(&inv, None, &parser, &|| false).unwrap();
    // (name, source, path joined with "--", updatable, problem codes)
    type Row<'a> = (&'a str, &'a str, Option<String>, bool, Vec<Code>);
    let got: Vec<Row> = chains
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.source.as_str(),
                c.update_path.as_ref().map(|p| p.join("--")),
                c.updatable,
                c.problems.iter().map(|p| p.code).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "a",
                "0.9",
                Some("1.0--1.1--1.2".into()),
                false,
                vec![Code::ScriptSyntaxError]
            ),
            (
                "a",
                "1.0",
                Some("1.1--1.2".into()),
                false,
                vec![Code::ScriptSyntaxError]
            ),
            ("a", "1.1", Some("1.2".into()), false, vec![Code::ScriptSyntaxError]),
            ("a", "2.0", None, false, vec![Code::NoUpdatePath]),
            (
                "a",
                "unpackaged",
                Some("1.0--1.1--1.2".into()),
                false,
                vec![Code::ScriptSyntaxError]
            ),
        ]
    );
    assert!(
        chains[2].problems[0]
            .message
            .contains("a--1.1--1.2.sql line 3: syntax error")
    );
    // Three scripts lie on the chains (0.9--1.0, 1.0--1.1, 1.1--1.2, unpackaged--1.0): four parses.
    assert_eq!(parser.0.get(), 4);
    // One extension only; cancelling stops the walk.
    assert!(update_chains(&inv, Some("b"), &parser, &|| false).unwrap().is_empty());
    assert!(update_chains(&inv, Some("a"), &parser, &|| true).is_err());
}
