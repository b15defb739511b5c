//! Server files a script reads while it runs: a heuristic over the lexer's tokens, like
//! `references.rs`; its limits are listed on [`crate::scripts::scan_script`].
//!
//! The server opens these files itself, relative to its data directory when the path is
//! relative (a backend's working directory): `BeginCopyFrom()` (commands/copyfrom.c),
//! `read_binary_file()` (utils/adt/genfile.c) and `lo_import_internal()`
//! (libpq/be-fsstubs.c). A path baked in at build time (Debian's `postgresql-unit` reads
//! `/usr/share/postgresql/18/extension/unit_prefixes.data`) is not where an image mounts it.

use super::lexer::{StrKind, StringLit, Token};
use super::references::{FunctionDef, Scan, ScriptScan};

/// How a script reads a server file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum FileReadKind {
    /// `COPY table [(columns)] FROM 'file'` (not `STDIN`, not `PROGRAM`).
    Copy,
    /// `pg_read_file('file' …)` without `missing_ok => true`.
    PgReadFile,
    /// `pg_read_binary_file('file' …)` without `missing_ok => true`.
    PgReadBinaryFile,
    /// `lo_import('file' [, oid])`: the server-side function.
    LoImport,
}

impl FileReadKind {
    /// Stable name used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The statement as a person would name it, for messages.
    pub fn statement(self) -> &'static str {
        match self {
            FileReadKind::Copy => "COPY … FROM",
            FileReadKind::PgReadFile => "pg_read_file()",
            FileReadKind::PgReadBinaryFile => "pg_read_binary_file()",
            FileReadKind::LoImport => "lo_import()",
        }
    }

    /// The server's error when it cannot open `path`, without the OS error (PostgreSQL 18:
    /// copyfrom.c and genfile.c say "for reading", be-fsstubs.c says "server file").
    pub fn open_error(self, path: &str) -> String {
        match self {
            FileReadKind::LoImport => format!("could not open server file \"{path}\""),
            _ => format!("could not open file \"{path}\" for reading"),
        }
    }
}

/// A server file read by an extension script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead {
    /// `COPY`, or the function that reads it.
    pub kind: FileReadKind,
    /// The literal's value as written (SQL escapes resolved).
    pub raw: String,
    /// The path the server opens: `raw` after the textual `MODULE_PATHNAME` substitution.
    pub path: String,
    /// 1-based line of the literal.
    pub line: usize,
    /// Found inside a `DO` block's PL/pgSQL body (it runs, possibly under a condition).
    pub in_do_block: bool,
    /// Read in the body of a PL/pgSQL or SQL function the script creates, and run by a call of
    /// it later in the script (`SELECT unit_load();`): the function's name and the call's line.
    pub via: Option<(String, usize)>,
}

/// `pg_read_file`, `pg_read_binary_file` or `lo_import`, unqualified or `pg_catalog.`.
fn reading_function(statement: &[Token], k: usize) -> Option<FileReadKind> {
    let name = |t: Option<&Token>| t.and_then(function_name);
    let kind = match name(statement.get(k))?.as_str() {
        "pg_read_file" => FileReadKind::PgReadFile,
        "pg_read_binary_file" => FileReadKind::PgReadBinaryFile,
        "lo_import" => FileReadKind::LoImport,
        _ => return None,
    };
    if let Some(before) = k.checked_sub(1)
        && matches!(statement.get(before), Some(Token::Punct(b'.', _)))
        && name(before.checked_sub(1).and_then(|s| statement.get(s))).as_deref() != Some("pg_catalog")
    {
        return None; // another schema's function of that name
    }
    Some(kind)
}

/// A function's name as the server folds it: unquoted names lowercased, quoted ones as written.
/// Long or non-ASCII unquoted names (kept by the lexer as no word at all) are not matched.
fn function_name(token: &Token) -> Option<String> {
    match token {
        Token::Word(w, _, _) => Some(w.as_str())
            .filter(|w| !w.is_empty() && w.is_ascii() && !w.contains('\0'))
            .map(str::to_owned),
        Token::QuotedIdent(s, _, _) => Some(s.clone()),
        _ => None,
    }
}

/// Whether a function body may read a file (ASCII case-insensitive): only such bodies are lexed,
/// since PostGIS's scripts hold thousands of functions.
fn mentions_a_reader(body: &[u8]) -> bool {
    let lower = body.to_ascii_lowercase();
    [&b"copy"[..], b"pg_read_", b"lo_import"]
        .iter()
        .any(|needle| memchr::memmem::find(&lower, needle).is_some())
}

/// A file-name literal: any string form but bit strings.
fn file_literal(token: Option<&Token>) -> Option<&StringLit> {
    match token {
        Some(Token::Str(lit)) if lit.kind != StrKind::Bit => Some(lit),
        _ => None,
    }
}

impl Scan<'_> {
    /// The server files one statement reads (without its `;`). At top level a `COPY` must start
    /// the statement and the functions count only in a `SELECT`; in a `DO` body the statement
    /// may start after `BEGIN`/`THEN`…, and a call counts unless a `CREATE` comes before it
    /// (a view's or a function's text does not run with the script).
    pub(super) fn file_reads(&self, statement: &[Token], in_do_block: bool, out: &mut Vec<FileRead>) {
        let copy_at = if in_do_block {
            statement.iter().position(|t| t.word() == Some("copy"))
        } else {
            (statement.first().and_then(Token::word) == Some("copy")).then_some(0)
        };
        if let Some(found) = copy_at
            .and_then(|k| statement.get(k..))
            .and_then(|copy| self.copy_read(copy))
        {
            out.push(FileRead { in_do_block, ..found });
            return;
        }
        if !in_do_block && !matches!(statement.first().and_then(Token::word), Some("select" | "call")) {
            return;
        }
        for k in 0..statement.len() {
            if in_do_block && statement.get(k).and_then(Token::word) == Some("create") {
                return;
            }
            if let Some(found) = self.call_read(statement, k) {
                out.push(FileRead { in_do_block, ..found });
            }
            self.function_call(statement, k, in_do_block, out);
        }
    }

    /// A call at `statement[k]` of a function the script created earlier whose body reads
    /// files: those reads run now.
    fn function_call(&self, statement: &[Token], k: usize, in_do_block: bool, out: &mut Vec<FileRead>) {
        if !matches!(statement.get(k + 1), Some(Token::Punct(b'(', _))) {
            return;
        }
        let Some(token) = statement.get(k) else { return };
        let Some(name) = function_name(token) else { return };
        let bodies = self.bodies.borrow();
        let Some(reads) = bodies.get(&name) else { return };
        let line = self.lines.line(token.span().0);
        out.extend(reads.iter().map(|r| FileRead {
            in_do_block,
            via: Some((name.clone(), line)),
            ..r.clone()
        }));
    }

    /// A top-level `CREATE FUNCTION|PROCEDURE … LANGUAGE plpgsql|sql AS $$body$$` whose body
    /// mentions a reader: the files the body reads (scanned as a `DO` body is) are remembered
    /// under the function's name, for [`Scan::function_call`].
    pub(super) fn remember_function(&self, def: &FunctionDef<'_>) {
        let Some(name) = def.name.and_then(function_name) else {
            return;
        };
        let body = match (def.language.as_deref(), def.body) {
            (Some("plpgsql" | "sql"), Some((body, None))) if body.kind == StrKind::Dollar => Some(body.first),
            _ => None,
        };
        let mut found = ScriptScan::default();
        if let Some((from, to)) = body
            && mentions_a_reader(self.text.get(from..to).unwrap_or_default())
        {
            self.statements(from, to, true, &mut found);
        }
        let reads: Vec<FileRead> = found
            .file_reads
            .into_iter()
            .map(|r| FileRead {
                in_do_block: false,
                ..r
            })
            .collect();
        // A later definition of the name (CREATE OR REPLACE, or another overload) is what a
        // later call most likely runs.
        let mut bodies = self.bodies.borrow_mut();
        if reads.is_empty() {
            bodies.remove(&name);
        } else {
            bodies.insert(name, reads);
        }
    }

    /// `COPY [BINARY] name [(columns)] FROM 'file' …` (gram.y `CopyStmt`); `FROM STDIN`,
    /// `FROM PROGRAM`, `TO` and `COPY (query) TO` read no server file.
    fn copy_read(&self, copy: &[Token]) -> Option<FileRead> {
        let is_name = |t: Option<&Token>| matches!(t, Some(Token::Word(..) | Token::QuotedIdent(..)));
        let mut k = 1;
        if copy.get(k).and_then(Token::word) == Some("binary") {
            k += 1;
        }
        if !is_name(copy.get(k)) {
            return None;
        }
        k += 1;
        while matches!(copy.get(k), Some(Token::Punct(b'.', _))) && is_name(copy.get(k + 1)) {
            k += 2;
        }
        if matches!(copy.get(k), Some(Token::Punct(b'(', _))) {
            let mut depth = 0usize;
            while let Some(t) = copy.get(k) {
                k += 1;
                match t {
                    Token::Punct(b'(', _) => depth += 1,
                    Token::Punct(b')', _) => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        if copy.get(k)?.word()? != "from" {
            return None;
        }
        let lit = file_literal(copy.get(k + 1))?;
        self.read(FileReadKind::Copy, lit)
    }

    /// `f('file')` or `f('file', …)` at `statement[k]`, for the reading functions. A call
    /// with a `true` argument is `missing_ok` (pg_read_file's last parameter): a missing file
    /// is then NULL, not an error.
    fn call_read(&self, statement: &[Token], k: usize) -> Option<FileRead> {
        let kind = reading_function(statement, k)?;
        if !matches!(statement.get(k + 1), Some(Token::Punct(b'(', _))) {
            return None;
        }
        let lit = file_literal(statement.get(k + 2))?;
        match statement.get(k + 3)? {
            Token::Punct(b')', _) => {}
            Token::Punct(b',', _) => {
                let mut depth = 0usize;
                for t in statement.get(k + 4..)? {
                    match t {
                        Token::Punct(b'(', _) => depth += 1,
                        Token::Punct(b')', _) if depth == 0 => break,
                        Token::Punct(b')', _) => depth -= 1,
                        Token::Word(w, _, _)
                            if depth == 0 && w.as_str() == "true" && kind != FileReadKind::LoImport =>
                        {
                            return None;
                        }
                        _ => {}
                    }
                }
            }
            _ => return None, // `'file'::text`, `'a' || 'b'`: not a plain literal
        }
        self.read(kind, lit)
    }

    fn read(&self, kind: FileReadKind, lit: &StringLit) -> Option<FileRead> {
        Some(FileRead {
            kind,
            raw: self.literal(lit, false)?,
            path: self.literal(lit, true)?,
            line: self.lines.line(lit.start),
            in_do_block: false,
            via: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripts::scan_script;

    /// (kind, path, line, in a DO block)
    type Read<'a> = (FileReadKind, &'a str, usize, bool);

    fn reads(sql: &str) -> Vec<(FileReadKind, String, usize, bool)> {
        scan_script(sql, Some("$libdir/unit"))
            .file_reads
            .into_iter()
            .map(|r| (r.kind, r.path, r.line, r.in_do_block))
            .collect()
    }

    #[test]
    fn file_read_cases() {
        use FileReadKind::{Copy, LoImport, PgReadBinaryFile, PgReadFile};
        let cases: Vec<(&str, &str, Vec<Read<'_>>)> = vec![
            (
                "unit 2--3 as Debian builds it",
                "CREATE TABLE unit_prefixes (prefix varchar(32) PRIMARY KEY);\n\n\
                 COPY unit_prefixes FROM '/usr/share/postgresql/18/extension/unit_prefixes.data';\n\
                 COPY unit_units FROM '/usr/share/postgresql/18/extension/unit_units.data';",
                vec![
                    (Copy, "/usr/share/postgresql/18/extension/unit_prefixes.data", 3, false),
                    (Copy, "/usr/share/postgresql/18/extension/unit_units.data", 4, false),
                ],
            ),
            (
                "columns, schema, quoted names, lower case, options after",
                "copy \"s\".t (a, \"b\") from '/d/t.csv' with (format csv, header true) where a > 0;",
                vec![(Copy, "/d/t.csv", 1, false)],
            ),
            (
                "old syntax: BINARY, WITH CSV",
                "COPY BINARY t FROM '/d/b' ; COPY t FROM '/d/c' WITH CSV HEADER;",
                vec![(Copy, "/d/b", 1, false), (Copy, "/d/c", 1, false)],
            ),
            (
                "relative path, kept as written",
                "COPY t FROM 'data/t.csv';",
                vec![(Copy, "data/t.csv", 1, false)],
            ),
            (
                "MODULE_PATHNAME substituted as in library literals",
                "COPY t FROM 'MODULE_PATHNAME.data';",
                vec![(Copy, "$libdir/unit.data", 1, false)],
            ),
            (
                "E string escapes, standard string quotes",
                "COPY t FROM E'/d/a\\x41\\'s'; COPY t FROM '/d/it''s';",
                vec![(Copy, "/d/aA's", 1, false), (Copy, "/d/it's", 1, false)],
            ),
            (
                "dollar-quoted file name",
                "COPY t FROM $f$/d/dollar$f$;",
                vec![(Copy, "/d/dollar", 1, false)],
            ),
            (
                "continued literal",
                "COPY t FROM '/d/'\n  'cont';",
                vec![(Copy, "/d/cont", 1, false)],
            ),
            ("STDIN reads no server file", "COPY t FROM STDIN;\n", vec![]),
            (
                "stdin in lower case",
                "copy t (a) from stdin with (format csv);",
                vec![],
            ),
            ("PROGRAM runs a command", "COPY t FROM PROGRAM 'cat /d/x';", vec![]),
            ("COPY TO writes", "COPY t TO '/tmp/out';", vec![]),
            ("COPY (query) TO writes", "COPY (SELECT 1) TO '/tmp/out';", vec![]),
            ("bit string is not a file name", "COPY t FROM B'0101';", vec![]),
            (
                "comments and strings that look like COPY",
                "-- COPY t FROM '/c/line';\n/* COPY t FROM '/c/block'; /* nested */ */\n\
                 SELECT 'COPY t FROM ''/c/string''';\nCOMMENT ON TABLE t IS 'COPY t FROM ''/c/x''';",
                vec![],
            ),
            (
                "function bodies do not run with the script",
                "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  COPY t FROM '/f/body';\n  \
                 PERFORM pg_read_file('/f/x');\nEND $$;\n\
                 CREATE FUNCTION g() RETURNS text LANGUAGE sql RETURN pg_read_file('/f/std');",
                vec![],
            ),
            (
                "SELECT of the reading functions",
                "SELECT pg_read_file('/r/a');\nSELECT pg_catalog.pg_read_binary_file('/r/b', 0, 10);\n\
                 SELECT lo_import('/r/c'), lo_import('/r/d', 4242);\nselect \"pg_read_file\"('/r/e');",
                vec![
                    (PgReadFile, "/r/a", 1, false),
                    (PgReadBinaryFile, "/r/b", 2, false),
                    (LoImport, "/r/c", 3, false),
                    (LoImport, "/r/d", 3, false),
                    (PgReadFile, "/r/e", 4, false),
                ],
            ),
            (
                "nested call, FROM clause",
                "SELECT convert_from(pg_read_binary_file('/r/n'), 'UTF8');\n\
                 SELECT * FROM pg_read_file('/r/from') AS f;",
                vec![(PgReadBinaryFile, "/r/n", 1, false), (PgReadFile, "/r/from", 2, false)],
            ),
            (
                "missing_ok: a missing file is NULL",
                "SELECT pg_read_file('/r/m', true);\nSELECT pg_read_binary_file('/r/m', 0, 10, true);\n\
                 SELECT pg_read_file('/r/not_ok', false);",
                vec![(PgReadFile, "/r/not_ok", 3, false)],
            ),
            (
                "not a plain literal, another schema, not a SELECT",
                "SELECT pg_read_file('/r/' || 'x');\nSELECT pg_read_file('/r/cast'::text);\n\
                 SELECT other.pg_read_file('/r/other');\nSELECT pg_read_file(current_setting('x'));\n\
                 CREATE VIEW v AS SELECT pg_read_file('/r/view');\n\
                 CREATE TABLE t (a text DEFAULT pg_read_file('/r/default'));",
                vec![],
            ),
            (
                "in a DO block: COPY after THEN, PERFORM, assignment; DDL text does not run",
                "DO $$\nDECLARE x text;\nBEGIN\n  IF true THEN COPY t FROM '/do/copy'; END IF;\n  \
                 PERFORM pg_read_file('/do/perform');\n  x := lo_import('/do/assign');\n  \
                 CREATE VIEW v AS SELECT pg_read_file('/do/view');\n  \
                 EXECUTE 'COPY t FROM ''/do/execute''';\nEND $$;\nCOPY t FROM '/after';",
                vec![
                    (Copy, "/do/copy", 4, true),
                    (PgReadFile, "/do/perform", 5, true),
                    (LoImport, "/do/assign", 6, true),
                    (Copy, "/after", 10, false),
                ],
            ),
            (
                "DO in another language is not read",
                "DO LANGUAGE plperl $$ COPY t FROM '/x'; $$;",
                vec![],
            ),
            (
                "\\echo lines are blanked",
                "\\echo COPY t FROM '/echo';\nCOPY t FROM '/real';",
                vec![(Copy, "/real", 2, false)],
            ),
        ];
        for (label, sql, expected) in cases {
            let expected: Vec<(FileReadKind, String, usize, bool)> = expected
                .into_iter()
                .map(|(k, p, l, d)| (k, p.to_owned(), l, d))
                .collect();
            assert_eq!(reads(sql), expected, "{label}");
        }
    }

    /// Debian's unit 7 COPYs inside a PL/pgSQL function it creates and then calls with a
    /// top-level `SELECT unit_load();`: the call runs the body's reads.
    #[test]
    fn reads_of_functions_the_script_calls() {
        let sql = "CREATE TABLE unit_prefixes (prefix text);\n\
                   CREATE FUNCTION unit_load()\n\tRETURNS VOID\n\tLANGUAGE plpgsql\n\tAS $$BEGIN\n\
                   CREATE TEMP TABLE tmp_prefixes (LIKE unit_prefixes) ON COMMIT DROP;\n\
                   COPY tmp_prefixes (prefix) FROM '/usr/share/postgresql/18/extension/unit_prefixes.data';\n\
                   END;$$;\n\
                   COMMENT ON FUNCTION unit_load() IS 'Loads';\n\
                   SELECT unit_load();\n\
                   CREATE FUNCTION never_called() RETURNS void LANGUAGE sql AS $$ SELECT pg_read_file('/n/x') $$;\n\
                   CREATE FUNCTION \"Quoted\"() RETURNS void LANGUAGE sql AS $b$ SELECT pg_read_file('/q/x') $b$;\n\
                   CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COPY t FROM '/p/x'; END $$;\n\
                   CALL p();\nSELECT * FROM t WHERE \"Quoted\"() IS NULL;\nSELECT quoted();\n\
                   DO $$ BEGIN PERFORM unit_load(); END $$;\n\
                   CREATE OR REPLACE FUNCTION unit_load() RETURNS void LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;\n\
                   SELECT unit_load();";
        /// (path, line, via, in a DO block)
        type Found = (String, usize, Option<(String, usize)>, bool);
        let got: Vec<Found> = scan_script(sql, None)
            .file_reads
            .into_iter()
            .map(|r| (r.path, r.line, r.via, r.in_do_block))
            .collect();
        let via = |f: &str, l: usize| Some((f.to_owned(), l));
        assert_eq!(
            got,
            vec![
                (
                    "/usr/share/postgresql/18/extension/unit_prefixes.data".to_owned(),
                    7,
                    via("unit_load", 10),
                    false
                ),
                ("/p/x".to_owned(), 13, via("p", 14), false),
                ("/q/x".to_owned(), 12, via("Quoted", 15), false),
                (
                    "/usr/share/postgresql/18/extension/unit_prefixes.data".to_owned(),
                    7,
                    via("unit_load", 17),
                    true
                ),
            ]
        );
        // A C function of the same name is no body to follow; a body in a quoted string is not read.
        let sql = "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME', 'f' LANGUAGE C;\n\
                   CREATE FUNCTION g() RETURNS void LANGUAGE sql AS 'SELECT pg_read_file(''/g'')';\n\
                   SELECT f(), g();";
        assert_eq!(scan_script(sql, Some("$libdir/x")).file_reads, vec![]);
    }

    /// Statements that read files are lexed in full: skimming gives the same answers, and a
    /// library reference beside them is still found.
    #[test]
    fn reads_survive_skimming_and_keep_raw_text() {
        let sql = "INSERT INTO t VALUES ('COPY t FROM ''/no''');\nCOPY t FROM 'MODULE_PATHNAME/d';\n\
                   CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;\nSELECT pg_read_file('/p');";
        let skimmed = crate::scripts::scan_script_in(&mut sql.as_bytes().to_vec(), Some("$libdir/m"));
        let full = crate::scripts::scan_script_unskimmed(&mut sql.as_bytes().to_vec(), Some("$libdir/m"));
        assert_eq!(skimmed, full);
        assert_eq!(skimmed.libraries.len(), 1);
        let r = &skimmed.file_reads[0];
        assert_eq!(
            (r.raw.as_str(), r.path.as_str(), r.line),
            ("MODULE_PATHNAME/d", "$libdir/m/d", 2)
        );
        assert_eq!(skimmed.file_reads[1].path, "/p");
    }

    #[test]
    fn messages_name_the_server_error() {
        assert_eq!(
            FileReadKind::Copy.open_error("/a"),
            "could not open file \"/a\" for reading"
        );
        assert_eq!(
            FileReadKind::LoImport.open_error("/a"),
            "could not open server file \"/a\""
        );
        assert_eq!(FileReadKind::PgReadBinaryFile.as_str(), "pg_read_binary_file");
    }
}
