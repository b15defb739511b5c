//! Which libraries a script names and which server files it reads: a heuristic scanner over the
//! lexer's tokens, not a parser; its limits are listed on [`scan_script`].

use super::lexer::{Lexer, MAX_STATEMENT_TOKENS, StrKind, StringLit, Token};
use super::reads::FileRead;

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

/// What one script does that the server resolves outside the script: the libraries it loads and
/// the server files it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptScan {
    /// Libraries named by C functions and `LOAD`, in script order.
    pub libraries: Vec<LibraryReference>,
    /// Server files read by `COPY … FROM 'file'` and the file-reading functions, in script order.
    pub file_reads: Vec<FileRead>,
}

/// Finds the libraries a script names — `AS 'file'` / `AS 'file', 'symbol'` of
/// `CREATE [OR REPLACE] FUNCTION|PROCEDURE` with `LANGUAGE C`, and `LOAD 'file'` — and the
/// server files it reads: `COPY table [(columns)] FROM 'file'` (not `STDIN`, not `PROGRAM`;
/// options after it are fine) at the start of a statement, and `pg_read_file('file' …)`,
/// `pg_read_binary_file('file' …)` and `lo_import('file' …)` with a literal first argument
/// (unqualified or `pg_catalog.`) in a top-level `SELECT`. A call with a `true` argument is
/// taken as `missing_ok` (a missing file is then NULL, not an error) and not reported.
///
/// Prepared as `execute_extension_script()` does: lines starting with `\echo` are blanked, and
/// `MODULE_PATHNAME` is replaced by `module_pathname` (when set) wherever it occurs in a file
/// or symbol literal's source text, before escapes are resolved. The scanner knows SQL comments
/// (`--`, nested `/* */`), standard strings (`''`), `E''` escape strings, `U&''` strings,
/// dollar quoting, quoted identifiers and string continuation across newlines; keywords are
/// case-insensitive. A dollar-quoted body is one string, so text inside it is never a reference
/// (except as the `AS` literal of a C function, or the file of a `COPY`, which are legal SQL).
///
/// Statements inside a `DO $$...$$` block (PL/pgSQL, the default) also run with the script, so
/// their `CREATE FUNCTION`, `LOAD`, `COPY` and reading calls are reported too, marked
/// `in_do_block` (hstore 1.1→1.2 creates its C functions this way); there a reading call counts
/// unless a `CREATE` precedes it in its statement. Function bodies run when the function is
/// called, not with the script: for libraries they are never looked into; for file reads, the
/// dollar-quoted body of a PL/pgSQL or SQL function the script creates is scanned like a `DO`
/// body when it mentions a reader, and its reads are reported, marked `via`, where a later
/// top-level `SELECT` or `CALL` (or a `DO` statement) calls the function by name — Debian's
/// unit 7 COPYs in `unit_load()` and runs `SELECT unit_load();`. Calls are matched by name only
/// (not schema, arguments or overload), the last definition of a name wins, and a call inside
/// another function's body is followed only when that body itself mentions a reader.
///
/// Not caught, by design of a scanner without a parser:
/// - SQL built at run time (`EXECUTE '...'`, `format()`), as PostGIS's upgrade scripts do;
/// - `DO` blocks in other languages or written as `'...'` strings, and `DO` inside `DO`;
/// - libraries named only in settings (`SET`/`ALTER SYSTEM ... shared_preload_libraries`);
/// - reading calls outside a top-level `SELECT` (`INSERT … SELECT pg_read_file(…)`,
///   `CREATE TABLE … AS`), with a computed or cast file name, or `missing_ok` passed as
///   anything but the word `true`; `COPY` inside `WITH`, and other readers (`pg_stat_file`,
///   `lo_import` through `EXECUTE`, untrusted languages);
/// - `SET standard_conforming_strings = off` inside a script (backslashes in `'...'` are then
///   read as literal), and `UESCAPE` clauses of `U&''` strings;
/// - a `module_pathname` containing quotes, `$` or newlines, which would change how the server
///   lexes the substituted script.
///
/// `LANGUAGE C` is an unquoted `c` in any case, or exactly `"c"` / `'c'`: the server does not
/// fold quoted language names, so `LANGUAGE 'C'` names a language that does not exist.
pub fn scan_script(sql: &str, module_pathname: Option<&str>) -> ScriptScan {
    scan_script_in(&mut sql.as_bytes().to_vec(), module_pathname)
}

/// [`scan_script`] of a script's bytes as read, without validating them as UTF-8 first
/// (names and strings are decoded lossily one by one) and blanking its `\echo` lines in place:
/// PostGIS's scripts are 8 MB each, and a copy or a validation pass of each is measurable.
pub fn scan_script_in(text: &mut [u8], module_pathname: Option<&str>) -> ScriptScan {
    scan(text, module_pathname, true)
}

/// [`scan_script_in`] lexing every statement in full, for the fuzz target to hold the
/// skimming of statements that cannot matter to the same answers.
#[doc(hidden)]
pub fn scan_script_unskimmed(text: &mut [u8], module_pathname: Option<&str>) -> ScriptScan {
    scan(text, module_pathname, false)
}

/// The libraries of [`scan_script`].
pub fn library_references(sql: &str, module_pathname: Option<&str>) -> Vec<LibraryReference> {
    scan_script(sql, module_pathname).libraries
}

/// The libraries of [`scan_script_in`].
pub fn library_references_in(text: &mut [u8], module_pathname: Option<&str>) -> Vec<LibraryReference> {
    scan(text, module_pathname, true).libraries
}

/// The libraries of [`scan_script_unskimmed`].
#[doc(hidden)]
pub fn library_references_unskimmed(text: &mut [u8], module_pathname: Option<&str>) -> Vec<LibraryReference> {
    scan(text, module_pathname, false).libraries
}

fn scan(text: &mut [u8], module_pathname: Option<&str>, skim: bool) -> ScriptScan {
    blank_echo_lines(text);
    let scan = Scan {
        text,
        lines: LineIndex::new(text),
        module_pathname,
        skim,
        bodies: Default::default(),
    };
    let mut out = ScriptScan::default();
    scan.statements(0, text.len(), false, &mut out);
    out
}

/// One script being scanned.
pub(super) struct Scan<'a> {
    pub(super) text: &'a [u8],
    pub(super) lines: LineIndex<'a>,
    module_pathname: Option<&'a str>,
    /// Skim statements whose first words rule them out (off only to test that it changes nothing).
    skim: bool,
    /// The server files each PL/pgSQL or SQL function created so far reads, by name: a call of
    /// it later in the script runs them.
    pub(super) bodies: std::cell::RefCell<std::collections::HashMap<String, Vec<FileRead>>>,
}

impl Scan<'_> {
    /// Scans the statements in `text[from..to]`: the whole script, or the body of a `DO` block.
    ///
    /// One statement's tokens are held at a time, and a statement costing more than
    /// [`MAX_STATEMENT_TOKENS`] is skipped unread, so memory stays bounded whatever the script
    /// (64 MB of `(` would otherwise be 64 M tokens, gigabytes). A `DO` body is scanned once,
    /// never a `DO` inside it: the recursion is one level deep.
    pub(super) fn statements(&self, from: usize, to: usize, in_do_block: bool, out: &mut ScriptScan) {
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
    fn statement(&self, statement: &[Token], in_do_block: bool, out: &mut ScriptScan) {
        self.file_reads(statement, in_do_block, &mut out.file_reads);
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
        let function = self.function_definition(statement);
        let found = self
            .load_reference(statement)
            .or_else(|| function.as_ref().and_then(|def| self.function_reference(def)));
        if let Some(mut r) = found {
            r.in_do_block = in_do_block;
            out.libraries.push(r);
        } else if !in_do_block {
            match function {
                Some(def) => self.remember_function(&def),
                // DO blocks run while the script runs (unlike function bodies): look inside once.
                None => {
                    if let Some((body_from, body_to)) = do_body(statement) {
                        self.statements(body_from, body_to, true, out);
                    }
                }
            }
        }
    }

    pub(super) fn literal(&self, lit: &StringLit, substitute: bool) -> Option<String> {
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
pub(super) struct LineIndex<'a> {
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

    pub(super) fn line(&self, offset: usize) -> usize {
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
/// Whether a top-level statement that begins with `tokens` can be a `LOAD`, a `CREATE [OR
/// REPLACE] FUNCTION|PROCEDURE`, a `DO` block, a `COPY` or a `SELECT` (what [`Scan::statement`]
/// looks at): `None` until its first words decide it.
fn may_matter(tokens: &[Token]) -> Option<bool> {
    let word = |k: usize| tokens.get(k).map(Token::word);
    let function = |w: Option<&str>| Some(matches!(w, Some("function" | "procedure")));
    match word(0)? {
        Some("load" | "do" | "copy" | "select" | "call") => Some(true),
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
    fn function_reference(&self, def: &FunctionDef<'_>) -> Option<LibraryReference> {
        if def.language.as_deref() != Some("c") {
            return None;
        }
        let (file, symbol) = def.body?;
        Some(LibraryReference {
            kind: ReferenceKind::Function,
            raw: self.literal(file, false)?,
            name: self.literal(file, true)?,
            symbol: symbol.and_then(|s| self.literal(s, true)),
            object: def.object.clone(),
            line: self.lines.line(file.start),
            in_do_block: false,
        })
    }

    /// The parts of `CREATE [OR REPLACE] FUNCTION|PROCEDURE name(...) ... AS ... LANGUAGE ...`
    /// the scanner reads.
    pub(super) fn function_definition<'t>(&self, statement: &'t [Token]) -> Option<FunctionDef<'t>> {
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
        let name = name_len.checked_sub(1).and_then(|last| rest.get(last));
        let object = match (rest.first(), name) {
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
        Some(FunctionDef {
            object,
            name,
            language,
            body,
        })
    }
}

/// What [`Scan::function_definition`] reads of a `CREATE FUNCTION` statement.
pub(super) struct FunctionDef<'t> {
    /// The name as written, schema included.
    pub(super) object: Option<String>,
    /// The token of the function's own name (the last before its argument list).
    pub(super) name: Option<&'t Token>,
    /// `LANGUAGE x`, as written (unquoted names lowercased).
    pub(super) language: Option<String>,
    /// The `AS` literal(s): a C function's file and symbol, or another language's body.
    pub(super) body: Option<(&'t StringLit, Option<&'t StringLit>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
