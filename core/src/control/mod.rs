//! Extension control files (`<name>.control`, `<name>--<version>.control`), read exactly as
//! PostgreSQL 18 reads them.
//!
//! A port of `parse_extension_control_file()` and `read_extension_aux_control_file()`
//! (commands/extension.c) on top of a port of the configuration-file lexer `ParseConfigFp()` /
//! `DeescapeQuotedString()` (utils/misc/guc-file.l), `parse_bool()` (utils/adt/bool.c),
//! `SplitIdentifierString()` (utils/adt/varlena.c) and `pg_valid_server_encoding()`
//! (common/encnames.c).
//!
//! Where the server's behaviour depends on things a file cannot tell us, this module assumes:
//! - a UTF-8 database: unquoted names in `requires` / `no_relocate` are downcased in ASCII only
//!   and names are cut to 63 bytes on a character boundary, as `downcase_truncate_identifier()`
//!   and `truncate_identifier()` do in a multibyte encoding;
//! - `include`, `include_if_exists` and `include_dir` lines (which the server obeys in control
//!   files too, reading other files relative to the control file) are reported as
//!   [`ControlError::IncludeDirective`] rather than followed: this module reads no files.
//!
//! PostgreSQL treats values as raw bytes. Values that are not UTF-8 are reported as
//! [`ControlError::InvalidUtf8`] where they would have to become a `String`; booleans and
//! encoding names are checked on the raw bytes first, as the server does.
//!
//! This file: the parameters and what they mean. `lexer.rs`: the configuration-file syntax.
//! `encoding.rs`: the server encoding names.

mod encoding;
mod lexer;

pub use encoding::{SERVER_ENCODINGS, server_encoding};

use lexer::{Item, c_text, parse_items};
use std::fmt;

/// `NAMEDATALEN - 1`: the longest identifier the server keeps.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Which kind of control file a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// `<name>.control`, found on `extension_control_path`.
    Primary,
    /// `<name>--<version>.control` in the script directory; overrides the primary file's fields
    /// for that version and may not set `directory` or `default_version`.
    Secondary,
}

/// The parameters of an extension control file, with PostgreSQL 18's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    /// Script directory: absent (where the control file is), absolute, or relative to the base
    /// directory (see [`crate::scripts::script_directory`]).
    pub directory: Option<String>,
    /// The version `CREATE EXTENSION` installs when none is given.
    pub default_version: Option<String>,
    /// Replaces every `MODULE_PATHNAME` in the scripts.
    pub module_pathname: Option<String>,
    /// Shown by `pg_available_extensions`.
    pub comment: Option<String>,
    /// Target schema; only allowed when the extension is not relocatable.
    pub schema: Option<String>,
    /// Encoding of the script files, as PostgreSQL's canonical name (`UTF8`, `LATIN1`, ...):
    /// aliases such as `utf-8` or `ISO-8859-1` are normalised the way `pg_char_to_encoding()` does.
    pub encoding: Option<String>,
    /// Whether `ALTER EXTENSION ... SET SCHEMA` is supported. Default false.
    pub relocatable: bool,
    /// Whether installing or updating needs a superuser. Default true.
    pub superuser: bool,
    /// Whether a non-superuser with CREATE on the database may install it although `superuser`
    /// is true. Default false; meaningless when `superuser` is false.
    pub trusted: bool,
    /// Names of extensions that must be installed first (already downcased / unquoted).
    pub requires: Vec<String>,
    /// Required extensions whose schema may not change when this one is relocated.
    pub no_relocate: Vec<String>,
}

impl Default for ControlFile {
    /// `new_ExtensionControlFile()`: everything unset, `superuser` true.
    fn default() -> Self {
        ControlFile {
            directory: None,
            default_version: None,
            module_pathname: None,
            comment: None,
            schema: None,
            encoding: None,
            relocatable: false,
            superuser: true,
            trusted: false,
            requires: Vec::new(),
            no_relocate: Vec::new(),
        }
    }
}

/// Who may run an extension's install or update scripts, from `superuser` and `trusted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum InstallPrivilege {
    /// `superuser = false`: any role that may create the objects (`trusted` is then ignored).
    AnyUser,
    /// `superuser = true` and `trusted = true`: a role with CREATE on the current database; the
    /// script then runs as the bootstrap superuser.
    DatabaseCreate,
    /// `superuser = true`, not trusted: superusers only.
    Superuser,
}

impl InstallPrivilege {
    /// Stable name used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl ControlFile {
    /// What `execute_extension_script()` demands of the calling role: `trusted` only matters
    /// when `superuser` is true.
    pub fn install_privilege(&self) -> InstallPrivilege {
        match (self.superuser, self.trusted) {
            (false, _) => InstallPrivilege::AnyUser,
            (true, true) => InstallPrivilege::DatabaseCreate,
            (true, false) => InstallPrivilege::Superuser,
        }
    }
}

/// Where a syntax error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxNear {
    /// The line (or the file) ended where more was expected.
    EndOfLine,
    /// The offending token's text (lossily decoded if not UTF-8).
    Token(String),
}

impl fmt::Display for SyntaxNear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxNear::EndOfLine => f.write_str("end of line"),
            SyntaxNear::Token(t) => write!(f, "token \"{t}\""),
        }
    }
}

/// Why a control file is rejected. `Display` gives PostgreSQL's wording without the file name;
/// [`ControlError::pg_message`] adds it back exactly where the server puts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The configuration-file lexer/parser rejected a line. `line` is what the server reports:
    /// for an error at the very end of a file without a final newline that is one less than the
    /// line holding the error (even 0), a quirk of `ParseConfigFp()` kept on purpose.
    #[error("syntax error on line {line}, near {near}")]
    Syntax {
        /// Line number as the server reports it.
        line: u32,
        /// What the parser found.
        near: SyntaxNear,
    },
    /// A parameter PostgreSQL 18 does not know (names are case-sensitive).
    #[error("unrecognized parameter \"{name}\"")]
    UnknownParameter {
        /// The parameter name as written.
        name: String,
        /// Line of the parameter.
        line: u32,
    },
    /// `directory` or `default_version` in a secondary control file.
    #[error("parameter \"{name}\" cannot be set in a secondary extension control file")]
    NotAllowedInSecondary {
        /// The parameter name.
        name: String,
        /// Line of the parameter.
        line: u32,
    },
    /// `relocatable`, `superuser` or `trusted` with a value `parse_bool()` rejects.
    #[error("parameter \"{name}\" requires a Boolean value")]
    InvalidBoolean {
        /// The parameter name.
        name: String,
        /// The rejected value.
        value: String,
        /// Line of the parameter.
        line: u32,
    },
    /// `requires` or `no_relocate` that `SplitIdentifierString()` rejects.
    #[error("parameter \"{name}\" must be a list of extension names")]
    InvalidNameList {
        /// The parameter name.
        name: String,
        /// The rejected value.
        value: String,
        /// Line of the parameter.
        line: u32,
    },
    /// `encoding` that is not a server encoding (client-only encodings such as SJIS included).
    #[error("\"{value}\" is not a valid encoding name")]
    InvalidEncoding {
        /// The rejected value.
        value: String,
        /// Line of the parameter.
        line: u32,
    },
    /// `schema` set while `relocatable` is true (checked after all parameters, on the merged
    /// result for a secondary file).
    #[error("parameter \"schema\" cannot be specified when \"relocatable\" is true")]
    SchemaWithRelocatable,
    /// An `include`-style directive: the server would read another file here.
    #[error(
        "\"{directive}\" directive on line {line} would read \"{target}\"; control files including other files are not supported"
    )]
    IncludeDirective {
        /// `include`, `include_if_exists` or `include_dir`, as written.
        directive: String,
        /// The file or directory named (lossily decoded).
        target: String,
        /// Line of the directive.
        line: u32,
    },
    /// A string parameter whose value is not UTF-8. PostgreSQL would take the raw bytes; we
    /// cannot represent them.
    #[error("value of parameter \"{name}\" on line {line} is not valid UTF-8")]
    InvalidUtf8 {
        /// The parameter name.
        name: String,
        /// Line of the parameter.
        line: u32,
    },
}

impl ControlError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::Syntax { .. } => "syntax_error",
            ControlError::UnknownParameter { .. } => "unknown_parameter",
            ControlError::NotAllowedInSecondary { .. } => "not_allowed_in_secondary",
            ControlError::InvalidBoolean { .. } | ControlError::InvalidNameList { .. } => "invalid_value",
            ControlError::InvalidEncoding { .. } => "invalid_encoding",
            ControlError::SchemaWithRelocatable => "schema_with_relocatable",
            ControlError::IncludeDirective { .. } => "include_directive",
            ControlError::InvalidUtf8 { .. } => "invalid_utf8",
        }
    }

    /// The SQLSTATE the server raises for this error (`0A000` / `22021` for the two cases the
    /// server would not reject).
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ControlError::Syntax { .. }
            | ControlError::UnknownParameter { .. }
            | ControlError::NotAllowedInSecondary { .. }
            | ControlError::SchemaWithRelocatable => "42601",
            ControlError::InvalidBoolean { .. } | ControlError::InvalidNameList { .. } => "22023",
            ControlError::InvalidEncoding { .. } => "42704",
            ControlError::IncludeDirective { .. } => "0A000",
            ControlError::InvalidUtf8 { .. } => "22021",
        }
    }

    /// The line the error refers to, when there is one.
    pub fn line(&self) -> Option<u32> {
        match self {
            ControlError::Syntax { line, .. }
            | ControlError::UnknownParameter { line, .. }
            | ControlError::NotAllowedInSecondary { line, .. }
            | ControlError::InvalidBoolean { line, .. }
            | ControlError::InvalidNameList { line, .. }
            | ControlError::InvalidEncoding { line, .. }
            | ControlError::IncludeDirective { line, .. }
            | ControlError::InvalidUtf8 { line, .. } => Some(*line),
            ControlError::SchemaWithRelocatable => None,
        }
    }

    /// The message exactly as PostgreSQL 18 words it, for a file at `file`.
    pub fn pg_message(&self, file: &str) -> String {
        match self {
            ControlError::Syntax { line, near } => format!("syntax error in file \"{file}\" line {line}, near {near}"),
            ControlError::UnknownParameter { name, .. } => {
                format!("unrecognized parameter \"{name}\" in file \"{file}\"")
            }
            other => other.to_string(),
        }
    }
}

/// Parses a control file's bytes as PostgreSQL 18 does, starting from the defaults.
///
/// The whole file is lexed first (so a syntax error anywhere wins), then parameters are applied
/// in order (the first bad one is reported; a repeated parameter overrides the earlier one), and
/// finally `schema` is checked against `relocatable`.
pub fn parse_control(text: &[u8], kind: ControlKind) -> Result<ControlFile, ControlError> {
    let mut control = ControlFile::default();
    apply_items(&mut control, &parse_items(text)?, kind)?;
    check_schema(&control)?;
    Ok(control)
}

/// Applies a secondary control file (`<name>--<version>.control`) on top of the primary one, as
/// `read_extension_aux_control_file()` does: every parameter it sets replaces the primary's
/// value (lists included), `directory` and `default_version` are rejected.
pub fn merge_secondary(primary: &ControlFile, secondary_text: &[u8]) -> Result<ControlFile, ControlError> {
    let mut control = primary.clone();
    apply_items(&mut control, &parse_items(secondary_text)?, ControlKind::Secondary)?;
    check_schema(&control)?;
    Ok(control)
}

/// `parse_bool()`: a non-empty prefix of `true`, `false`, `yes`, `no`, or at least two letters of
/// `on` / `off`, or exactly `1` / `0`; ASCII case-insensitive.
pub fn parse_bool(value: &[u8]) -> Option<bool> {
    let lower: Vec<u8> = value.iter().map(u8::to_ascii_lowercase).collect();
    let prefix_of = |word: &[u8]| !lower.is_empty() && word.starts_with(&lower);
    match lower.first()? {
        b't' if prefix_of(b"true") => Some(true),
        b'f' if prefix_of(b"false") => Some(false),
        b'y' if prefix_of(b"yes") => Some(true),
        b'n' if prefix_of(b"no") => Some(false),
        // A lone "o" is ambiguous between on and off: the server compares at least two bytes.
        b'o' if lower.len() >= 2 && prefix_of(b"on") => Some(true),
        b'o' if lower.len() >= 2 && prefix_of(b"off") => Some(false),
        b'1' if lower.len() == 1 => Some(true),
        b'0' if lower.len() == 1 => Some(false),
        _ => None,
    }
}
/// `SplitIdentifierString(value, ',')`: `None` where the server reports a syntax error.
/// Unquoted names are ASCII-downcased, `""` inside quotes is one `"`, names are cut to 63 bytes.
/// Names are returned as bytes; the caller decides what to do with non-UTF-8 ones.
pub fn split_identifier_list(value: &[u8]) -> Option<Vec<Vec<u8>>> {
    // scanner_isspace(): the SQL lexer's whitespace.
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let at = |i: usize| value.get(i).copied();
    let mut names = Vec::new();
    let mut i = 0;
    while at(i).is_some_and(is_space) {
        i += 1;
    }
    if at(i).is_none() {
        return Some(names);
    }
    loop {
        let mut name = Vec::new();
        if at(i) == Some(b'"') {
            i += 1;
            loop {
                match at(i) {
                    None => return None, // mismatched quotes
                    Some(b'"') if at(i + 1) == Some(b'"') => {
                        name.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b) => {
                        name.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while let Some(b) = at(i).filter(|&b| b != b',' && !is_space(b)) {
                name.push(b.to_ascii_lowercase());
                i += 1;
            }
            if name.is_empty() {
                return None; // empty unquoted name
            }
        }
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        names.push(truncate_identifier(name));
        match at(i) {
            Some(b',') => {
                i += 1;
                while at(i).is_some_and(is_space) {
                    i += 1;
                }
            }
            None => return Some(names),
            Some(_) => return None,
        }
    }
}

/// `truncate_identifier()` in a UTF-8 database: at most 63 bytes, never splitting a character.
fn truncate_identifier(mut name: Vec<u8>) -> Vec<u8> {
    if name.len() > MAX_IDENTIFIER_BYTES {
        let mut cut = MAX_IDENTIFIER_BYTES;
        // Back up over UTF-8 continuation bytes so the cut lands on a character start.
        while cut > 0 && name.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}
fn utf8(item: &Item, name: &str) -> Result<String, ControlError> {
    String::from_utf8(item.value.clone()).map_err(|_| ControlError::InvalidUtf8 {
        name: name.to_owned(),
        line: item.line,
    })
}

fn bool_value(item: &Item, name: &str) -> Result<bool, ControlError> {
    parse_bool(&item.value).ok_or_else(|| ControlError::InvalidBoolean {
        name: name.to_owned(),
        value: c_text(&item.value),
        line: item.line,
    })
}

fn name_list(item: &Item, name: &str) -> Result<Vec<String>, ControlError> {
    let names = split_identifier_list(&item.value).ok_or_else(|| ControlError::InvalidNameList {
        name: name.to_owned(),
        value: c_text(&item.value),
        line: item.line,
    })?;
    names
        .into_iter()
        .map(|n| {
            String::from_utf8(n).map_err(|_| ControlError::InvalidUtf8 {
                name: name.to_owned(),
                line: item.line,
            })
        })
        .collect()
}

/// The loop of `parse_extension_control_file()` over the parsed items.
fn apply_items(control: &mut ControlFile, items: &[Item], kind: ControlKind) -> Result<(), ControlError> {
    for item in items {
        // Parameter names are compared case-sensitively (strcmp) by the server.
        let Ok(name) = std::str::from_utf8(&item.name) else {
            return Err(ControlError::UnknownParameter {
                name: c_text(&item.name),
                line: item.line,
            });
        };
        match name {
            "directory" | "default_version" if kind == ControlKind::Secondary => {
                return Err(ControlError::NotAllowedInSecondary {
                    name: name.to_owned(),
                    line: item.line,
                });
            }
            "directory" => control.directory = Some(utf8(item, name)?),
            "default_version" => control.default_version = Some(utf8(item, name)?),
            "module_pathname" => control.module_pathname = Some(utf8(item, name)?),
            "comment" => control.comment = Some(utf8(item, name)?),
            "schema" => control.schema = Some(utf8(item, name)?),
            "relocatable" => control.relocatable = bool_value(item, name)?,
            "superuser" => control.superuser = bool_value(item, name)?,
            "trusted" => control.trusted = bool_value(item, name)?,
            "encoding" => {
                let canonical = server_encoding(&item.value).ok_or_else(|| ControlError::InvalidEncoding {
                    value: c_text(&item.value),
                    line: item.line,
                })?;
                control.encoding = Some(canonical.to_owned());
            }
            "requires" => control.requires = name_list(item, name)?,
            "no_relocate" => control.no_relocate = name_list(item, name)?,
            _ => {
                return Err(ControlError::UnknownParameter {
                    name: name.to_owned(),
                    line: item.line,
                });
            }
        }
    }
    Ok(())
}

fn check_schema(control: &ControlFile) -> Result<(), ControlError> {
    if control.relocatable && control.schema.is_some() {
        return Err(ControlError::SchemaWithRelocatable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::lexer::deescape;
    use super::*;

    const PG_STAT_STATEMENTS: &str = "# pg_stat_statements extension
comment = 'track planning and execution statistics of all SQL statements executed'
default_version = '1.12'
module_pathname = '$libdir/pg_stat_statements'
relocatable = true
";

    const PLPGSQL: &str = "# plpgsql extension
comment = 'PL/pgSQL procedural language'
default_version = '1.0'
module_pathname = '$libdir/plpgsql'
relocatable = false
schema = pg_catalog
superuser = true
trusted = true
";

    const CUBE: &str = "# cube extension
comment = 'data type for multidimensional cubes'
default_version = '1.5'
module_pathname = '$libdir/cube'
relocatable = true
trusted = true
";

    const EARTHDISTANCE: &str = "# earthdistance extension
comment = 'calculate great-circle distances on the surface of the Earth'
default_version = '1.2'
module_pathname = '$libdir/earthdistance'
relocatable = true
requires = 'cube'
";

    const VECTOR: &str = "comment = 'vector data type and ivfflat and hnsw access methods'
default_version = '0.8.0'
module_pathname = '$libdir/vector'
relocatable = true
";

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn real_control_files() {
        let cases: Vec<(&str, &str, ControlFile)> = vec![
            (
                "pg_stat_statements",
                PG_STAT_STATEMENTS,
                ControlFile {
                    comment: s("track planning and execution statistics of all SQL statements executed"),
                    default_version: s("1.12"),
                    module_pathname: s("$libdir/pg_stat_statements"),
                    relocatable: true,
                    ..ControlFile::default()
                },
            ),
            (
                "plpgsql",
                PLPGSQL,
                ControlFile {
                    comment: s("PL/pgSQL procedural language"),
                    default_version: s("1.0"),
                    module_pathname: s("$libdir/plpgsql"),
                    schema: s("pg_catalog"),
                    trusted: true,
                    ..ControlFile::default()
                },
            ),
            (
                "cube",
                CUBE,
                ControlFile {
                    comment: s("data type for multidimensional cubes"),
                    default_version: s("1.5"),
                    module_pathname: s("$libdir/cube"),
                    relocatable: true,
                    trusted: true,
                    ..ControlFile::default()
                },
            ),
            (
                "earthdistance",
                EARTHDISTANCE,
                ControlFile {
                    comment: s("calculate great-circle distances on the surface of the Earth"),
                    default_version: s("1.2"),
                    module_pathname: s("$libdir/earthdistance"),
                    relocatable: true,
                    requires: strings(&["cube"]),
                    ..ControlFile::default()
                },
            ),
            (
                "vector",
                VECTOR,
                ControlFile {
                    comment: s("vector data type and ivfflat and hnsw access methods"),
                    default_version: s("0.8.0"),
                    module_pathname: s("$libdir/vector"),
                    relocatable: true,
                    ..ControlFile::default()
                },
            ),
            ("empty file", "", ControlFile::default()),
            ("comments only", "# nothing\n\n   # here\n", ControlFile::default()),
        ];
        for (label, text, expected) in cases {
            assert_eq!(
                parse_control(text.as_bytes(), ControlKind::Primary),
                Ok(expected),
                "{label}"
            );
        }
    }

    #[test]
    fn privileges() {
        let cases = [
            ("superuser = false\ntrusted = true\n", InstallPrivilege::AnyUser),
            ("superuser = false\n", InstallPrivilege::AnyUser),
            ("trusted = true\n", InstallPrivilege::DatabaseCreate),
            ("", InstallPrivilege::Superuser),
        ];
        for (text, expected) in cases {
            let control = parse_control(text.as_bytes(), ControlKind::Primary).unwrap();
            assert_eq!(control.install_privilege(), expected, "{text:?}");
        }
    }

    /// Lexing and value forms: each text must give this `comment` / `default_version`.
    #[test]
    fn value_forms() {
        let cases: &[(&str, &str, &str)] = &[
            // (label, file text, expected default_version)
            ("quoted", "default_version = '1.0'\n", "1.0"),
            ("no equals sign", "default_version '1.0'\n", "1.0"),
            ("no spaces", "default_version='1.0'\n", "1.0"),
            ("real", "default_version = 1.0\n", "1.0"),
            ("integer", "default_version = 2\n", "2"),
            ("integer with unit letters", "default_version = 10MB\n", "10MB"),
            ("hex integer", "default_version = 0x1F\n", "0x1F"),
            ("signed real with exponent", "default_version = -1.5e3\n", "-1.5e3"),
            ("lone dot is a real", "default_version = .\n", "."),
            ("identifier", "default_version = beta\n", "beta"),
            ("unquoted string", "default_version = v1.2-rc1\n", "v1.2-rc1"),
            ("unquoted with slash and colon", "default_version = a/b:c\n", "a/b:c"),
            (
                "three-part qualified is unquoted string",
                "default_version = a.b.c\n",
                "a.b.c",
            ),
            (
                "high bytes are letters",
                "default_version = \u{e9}t\u{e9}\n",
                "\u{e9}t\u{e9}",
            ),
            ("trailing comment", "default_version = '1.0' # comment\n", "1.0"),
            ("comment directly after", "default_version = '1.0'#x\n", "1.0"),
            ("CRLF", "default_version = '1.0'\r\n", "1.0"),
            ("CRLF unquoted", "default_version = 1.0\r\n", "1.0"),
            ("no trailing newline", "default_version = '1.0'", "1.0"),
            ("doubled quote", "default_version = 'it''s'\n", "it's"),
            ("backslash quote", "default_version = 'it\\'s'\n", "it's"),
            ("escapes", "default_version = 'a\\tb\\nc\\\\d'\n", "a\tb\nc\\d"),
            ("octal escape", "default_version = '\\101\\1022'\n", "AB2"),
            ("unknown escape keeps char", "default_version = '\\q'\n", "q"),
            ("empty string", "default_version = ''\n", ""),
            ("nul escape truncates", "default_version = 'ab\\0cd'\n", "ab"),
            (
                "carriage return inside quotes kept",
                "default_version = 'a\rb'\n",
                "a\rb",
            ),
            ("hash inside quotes", "default_version = 'a#b'\n", "a#b"),
            (
                "later value wins",
                "default_version = '1'\ndefault_version = '2'\n",
                "2",
            ),
            ("tab separated", "default_version\t'3'\n", "3"),
        ];
        for (label, text, expected) in cases {
            let control = parse_control(text.as_bytes(), ControlKind::Primary)
                .unwrap_or_else(|e| panic!("{label}: unexpected error {e}"));
            assert_eq!(control.default_version.as_deref(), Some(*expected), "{label}");
        }
    }

    #[test]
    fn booleans() {
        let accepted: &[(&str, bool)] = &[
            ("true", true),
            ("TRUE", true),
            ("t", true),
            ("tr", true),
            ("false", false),
            ("F", false),
            ("yes", true),
            ("y", true),
            ("no", false),
            ("n", false),
            ("on", true),
            ("ON", true),
            ("off", false),
            ("of", false),
            ("1", true),
            ("0", false),
        ];
        for (value, expected) in accepted {
            assert_eq!(parse_bool(value.as_bytes()), Some(*expected), "{value}");
            let text = format!("relocatable = '{value}'\n");
            let control = parse_control(text.as_bytes(), ControlKind::Primary).unwrap();
            assert_eq!(control.relocatable, *expected, "{value}");
        }
        for value in [
            "", "o", "tru e", "truex", "yess", "onn", "offf", "2", "01", "10", "-1", " true", "nope",
        ] {
            assert_eq!(parse_bool(value.as_bytes()), None, "{value:?}");
        }
    }

    #[test]
    fn name_lists() {
        let cases: &[(&str, &[&str])] = &[
            ("requires = 'cube'\n", &["cube"]),
            ("requires = 'cube, earthdistance'\n", &["cube", "earthdistance"]),
            ("requires = 'Cube,PostGIS'\n", &["cube", "postgis"]),
            ("requires = '\"PostGIS\", \"a,b\"'\n", &["PostGIS", "a,b"]),
            ("requires = '\"a\"\"b\"'\n", &["a\"b"]),
            ("requires = '\"\"'\n", &[""]),
            ("requires = '  a ,\tb  '\n", &["a", "b"]),
            ("requires = 'uuid-ossp'\n", &["uuid-ossp"]),
            ("requires = ''\n", &[]),
            ("requires = '   '\n", &[]),
            ("requires = cube\n", &["cube"]),
            ("requires = 'a'\nrequires = 'b'\n", &["b"]),
        ];
        for (text, expected) in cases {
            let control = parse_control(text.as_bytes(), ControlKind::Primary)
                .unwrap_or_else(|e| panic!("{text:?}: unexpected error {e}"));
            assert_eq!(control.requires, strings(expected), "{text:?}");
        }
        let long = "x".repeat(70);
        let control = parse_control(format!("no_relocate = '{long}'\n").as_bytes(), ControlKind::Primary).unwrap();
        assert_eq!(control.no_relocate, vec!["x".repeat(63)]);
        // A 2-byte character straddling byte 63 is dropped whole.
        let straddle = format!("{}\u{e9}", "y".repeat(62));
        assert_eq!(truncate_identifier(straddle.into_bytes()), "y".repeat(62).into_bytes());
    }

    fn err(text: &[u8], kind: ControlKind) -> ControlError {
        match parse_control(text, kind) {
            Err(e) => e,
            Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(text)),
        }
    }

    #[test]
    fn errors() {
        use ControlKind::{Primary, Secondary};
        let cases: Vec<(&str, &[u8], ControlKind, &str, &str)> = vec![
            // (label, text, kind, code, Display)
            (
                "unknown",
                b"comment = 'x'\nfoo = 1\n",
                Primary,
                "unknown_parameter",
                "unrecognized parameter \"foo\"",
            ),
            (
                "names are case-sensitive",
                b"Comment = 'x'\n",
                Primary,
                "unknown_parameter",
                "unrecognized parameter \"Comment\"",
            ),
            (
                "qualified name",
                b"a.b = 1\n",
                Primary,
                "unknown_parameter",
                "unrecognized parameter \"a.b\"",
            ),
            (
                "directory in secondary",
                b"directory = 'x'\n",
                Secondary,
                "not_allowed_in_secondary",
                "parameter \"directory\" cannot be set in a secondary extension control file",
            ),
            (
                "default_version in secondary",
                b"default_version = '1'\n",
                Secondary,
                "not_allowed_in_secondary",
                "parameter \"default_version\" cannot be set in a secondary extension control file",
            ),
            (
                "bad boolean",
                b"relocatable = maybe\n",
                Primary,
                "invalid_value",
                "parameter \"relocatable\" requires a Boolean value",
            ),
            (
                "lone o",
                b"trusted = o\n",
                Primary,
                "invalid_value",
                "parameter \"trusted\" requires a Boolean value",
            ),
            (
                "empty boolean",
                b"superuser = ''\n",
                Primary,
                "invalid_value",
                "parameter \"superuser\" requires a Boolean value",
            ),
            (
                "bad list: trailing comma",
                b"requires = 'a,'\n",
                Primary,
                "invalid_value",
                "parameter \"requires\" must be a list of extension names",
            ),
            (
                "bad list: empty element",
                b"requires = 'a,,b'\n",
                Primary,
                "invalid_value",
                "parameter \"requires\" must be a list of extension names",
            ),
            (
                "bad list: unclosed quote",
                b"no_relocate = '\"a'\n",
                Primary,
                "invalid_value",
                "parameter \"no_relocate\" must be a list of extension names",
            ),
            (
                "bad list: junk after quote",
                b"requires = '\"a\"b'\n",
                Primary,
                "invalid_value",
                "parameter \"requires\" must be a list of extension names",
            ),
            (
                "bad list: space separated",
                b"requires = 'a b'\n",
                Primary,
                "invalid_value",
                "parameter \"requires\" must be a list of extension names",
            ),
            (
                "bad encoding",
                b"encoding = 'klingon'\n",
                Primary,
                "invalid_encoding",
                "\"klingon\" is not a valid encoding name",
            ),
            (
                "client-only encoding",
                b"encoding = SJIS\n",
                Primary,
                "invalid_encoding",
                "\"SJIS\" is not a valid encoding name",
            ),
            (
                "schema with relocatable",
                b"schema = s\nrelocatable = true\n",
                Primary,
                "schema_with_relocatable",
                "parameter \"schema\" cannot be specified when \"relocatable\" is true",
            ),
            (
                "missing value",
                b"comment =\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near end of line",
            ),
            (
                "missing value at EOF reports the previous line",
                b"comment = 'x'\ncomment =",
                Primary,
                "syntax_error",
                "syntax error on line 1, near end of line",
            ),
            (
                "name only at EOF",
                b"foo",
                Primary,
                "syntax_error",
                "syntax error on line 0, near end of line",
            ),
            (
                "two values",
                b"# c\ncomment = 'a' 'b'\n",
                Primary,
                "syntax_error",
                "syntax error on line 2, near token \"'b'\"",
            ),
            (
                "unquoted dollar",
                b"module_pathname = $libdir/vector\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near token \"$\"",
            ),
            (
                "unquoted three-part version",
                b"default_version = 0.8.0\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near token \".0\"",
            ),
            (
                "two-part qualified value",
                b"schema = public.x\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near token \"public.x\"",
            ),
            (
                "unterminated string",
                b"comment = 'abc\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near token \"'\"",
            ),
            (
                "double equals",
                b"comment = = 'x'\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near token \"=\"",
            ),
            (
                "line starts with value",
                b"'x' = 1\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near token \"'x'\"",
            ),
            (
                "syntax error beats earlier unknown parameter",
                b"foo = 1\n\n\ncomment 'a' b\n",
                Primary,
                "syntax_error",
                "syntax error on line 4, near token \"b\"",
            ),
            (
                "include",
                b"include 'other.conf'\n",
                Primary,
                "include_directive",
                "\"include\" directive on line 1 would read \"other.conf\"; control files including other files are not supported",
            ),
            (
                "include_dir any case",
                b"\nINCLUDE_DIR = 'd'\n",
                Primary,
                "include_directive",
                "\"INCLUDE_DIR\" directive on line 2 would read \"d\"; control files including other files are not supported",
            ),
            (
                "non-UTF-8 comment",
                b"comment = 'caf\xe9'\n",
                Primary,
                "invalid_utf8",
                "value of parameter \"comment\" on line 1 is not valid UTF-8",
            ),
            (
                "non-UTF-8 via octal escape",
                b"\nmodule_pathname = '\\351'\n",
                Primary,
                "invalid_utf8",
                "value of parameter \"module_pathname\" on line 2 is not valid UTF-8",
            ),
            (
                "non-UTF-8 parameter name",
                b"caf\xe9 = 1\n",
                Primary,
                "unknown_parameter",
                "unrecognized parameter \"caf\u{fffd}\"",
            ),
            (
                "raw NUL outside quotes",
                b"comment = \0\n",
                Primary,
                "syntax_error",
                "syntax error on line 1, near token \"\"",
            ),
        ];
        for (label, text, kind, code, display) in cases {
            let e = err(text, kind);
            assert_eq!((e.code(), e.to_string().as_str()), (code, display), "{label}");
        }
    }

    #[test]
    fn pg_messages_and_lines() {
        let e = err(b"comment = 'x'\nbogus = 1\n", ControlKind::Primary);
        assert_eq!(
            e.pg_message("/x/y.control"),
            "unrecognized parameter \"bogus\" in file \"/x/y.control\""
        );
        assert_eq!(e.line(), Some(2));
        assert_eq!(e.sqlstate(), "42601");
        let e = err(b"\n\ncomment 'a' b\n", ControlKind::Primary);
        assert_eq!(
            e.pg_message("/c"),
            "syntax error in file \"/c\" line 3, near token \"b\""
        );
        let e = err(b"relocatable = x\n", ControlKind::Primary);
        assert_eq!(e.pg_message("/c"), "parameter \"relocatable\" requires a Boolean value");
        assert_eq!(e.sqlstate(), "22023");
        assert_eq!(err(b"encoding = x\n", ControlKind::Primary).sqlstate(), "42704");
    }

    #[test]
    fn raw_nul_inside_quotes_follows_c_strings() {
        // C sees "'ab" and drops its last character.
        let control = parse_control(b"comment = 'ab\0cd'\n", ControlKind::Primary).unwrap();
        assert_eq!(control.comment.as_deref(), Some("a"));
        let control = parse_control(b"comment = '\0'\n", ControlKind::Primary).unwrap();
        assert_eq!(control.comment.as_deref(), Some(""));
    }

    #[test]
    fn secondary_files() {
        let primary = parse_control(PLPGSQL.as_bytes(), ControlKind::Primary).unwrap();
        let cases: Vec<(&str, &[u8], Result<ControlFile, &str>)> = vec![
            ("empty", b"", Ok(primary.clone())),
            (
                "overrides",
                b"comment = 'new'\nsuperuser = false\nrequires = 'a, b'\nencoding = 'utf-8'\n",
                Ok(ControlFile {
                    comment: s("new"),
                    superuser: false,
                    requires: strings(&["a", "b"]),
                    encoding: s("UTF8"),
                    ..primary.clone()
                }),
            ),
            ("directory", b"directory = 'x'\n", Err("not_allowed_in_secondary")),
            (
                "default_version",
                b"default_version = '2'\n",
                Err("not_allowed_in_secondary"),
            ),
            // The primary sets schema, so relocatable = true conflicts once merged.
            (
                "merged conflict",
                b"relocatable = true\n",
                Err("schema_with_relocatable"),
            ),
            ("syntax", b"comment = \n", Err("syntax_error")),
        ];
        for (label, text, expected) in cases {
            let got = merge_secondary(&primary, text).map_err(|e| e.code());
            assert_eq!(got, expected, "{label}");
        }
        // The primary parser accepts what the secondary one refuses.
        assert!(parse_control(b"directory = 'x'\ndefault_version = '1'\n", ControlKind::Primary).is_ok());
    }

    #[test]
    fn never_panics_on_garbage() {
        // Every prefix of a nasty input, so truncation in any state is exercised.
        let nasty: &[u8] = b"a = '\\\n'\\0\xff\xfe = \"x\" ''' \\1 0x 1e+ .e5 #\r\n\0include 'x\0' requires '\"";
        for end in 0..=nasty.len() {
            let _ = parse_control(&nasty[..end], ControlKind::Primary);
            let _ = merge_secondary(&ControlFile::default(), &nasty[..end]);
        }
        for end in 0..=nasty.len() {
            let _ = split_identifier_list(&nasty[..end]);
            let _ = deescape(&nasty[..end]);
        }
    }
}
