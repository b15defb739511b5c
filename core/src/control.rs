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

/// `pg_valid_server_encoding()`: the canonical name of a server encoding given any alias
/// `pg_char_to_encoding()` accepts (non-alphanumerics dropped, ASCII-lowercased), or `None` for
/// unknown names and client-only encodings.
pub fn server_encoding(name: &[u8]) -> Option<&'static str> {
    // pg_char_to_encoding() refuses empty names and names of NAMEDATALEN bytes or more.
    if name.is_empty() || name.len() > MAX_IDENTIFIER_BYTES {
        return None;
    }
    let key: Vec<u8> = name
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(u8::to_ascii_lowercase)
        .collect();
    let canonical = ENCODING_ALIASES
        .iter()
        .find(|(alias, _)| alias.as_bytes() == key.as_slice())
        .map(|(_, canonical)| *canonical)?;
    SERVER_ENCODINGS.contains(&canonical).then_some(canonical)
}

/// The encodings a server can use (`PG_SQL_ASCII` .. `PG_KOI8U`, i.e. `PG_VALID_BE_ENCODING`),
/// by their canonical names (`pg_enc2name_tbl`).
pub const SERVER_ENCODINGS: &[&str] = &[
    "SQL_ASCII",
    "EUC_JP",
    "EUC_CN",
    "EUC_KR",
    "EUC_TW",
    "EUC_JIS_2004",
    "UTF8",
    "MULE_INTERNAL",
    "LATIN1",
    "LATIN2",
    "LATIN3",
    "LATIN4",
    "LATIN5",
    "LATIN6",
    "LATIN7",
    "LATIN8",
    "LATIN9",
    "LATIN10",
    "WIN1256",
    "WIN1258",
    "WIN866",
    "WIN874",
    "KOI8R",
    "WIN1251",
    "WIN1252",
    "ISO_8859_5",
    "ISO_8859_6",
    "ISO_8859_7",
    "ISO_8859_8",
    "WIN1250",
    "WIN1253",
    "WIN1254",
    "WIN1255",
    "WIN1257",
    "KOI8U",
];

/// `pg_encname_tbl` (PostgreSQL 18): cleaned alias → canonical encoding name. Client-only
/// encodings (SJIS, BIG5, GBK, UHC, GB18030, JOHAB, SHIFT_JIS_2004) are listed so that they are
/// recognised and then refused, as the server does.
const ENCODING_ALIASES: &[(&str, &str)] = &[
    ("abc", "WIN1258"),
    ("alt", "WIN866"),
    ("big5", "BIG5"),
    ("euccn", "EUC_CN"),
    ("eucjis2004", "EUC_JIS_2004"),
    ("eucjp", "EUC_JP"),
    ("euckr", "EUC_KR"),
    ("euctw", "EUC_TW"),
    ("gb18030", "GB18030"),
    ("gbk", "GBK"),
    ("iso88591", "LATIN1"),
    ("iso885910", "LATIN6"),
    ("iso885913", "LATIN7"),
    ("iso885914", "LATIN8"),
    ("iso885915", "LATIN9"),
    ("iso885916", "LATIN10"),
    ("iso88592", "LATIN2"),
    ("iso88593", "LATIN3"),
    ("iso88594", "LATIN4"),
    ("iso88595", "ISO_8859_5"),
    ("iso88596", "ISO_8859_6"),
    ("iso88597", "ISO_8859_7"),
    ("iso88598", "ISO_8859_8"),
    ("iso88599", "LATIN5"),
    ("johab", "JOHAB"),
    ("koi8", "KOI8R"),
    ("koi8r", "KOI8R"),
    ("koi8u", "KOI8U"),
    ("latin1", "LATIN1"),
    ("latin10", "LATIN10"),
    ("latin2", "LATIN2"),
    ("latin3", "LATIN3"),
    ("latin4", "LATIN4"),
    ("latin5", "LATIN5"),
    ("latin6", "LATIN6"),
    ("latin7", "LATIN7"),
    ("latin8", "LATIN8"),
    ("latin9", "LATIN9"),
    ("mskanji", "SJIS"),
    ("muleinternal", "MULE_INTERNAL"),
    ("shiftjis", "SJIS"),
    ("shiftjis2004", "SHIFT_JIS_2004"),
    ("sjis", "SJIS"),
    ("sqlascii", "SQL_ASCII"),
    ("tcvn", "WIN1258"),
    ("tcvn5712", "WIN1258"),
    ("uhc", "UHC"),
    ("unicode", "UTF8"),
    ("utf8", "UTF8"),
    ("vscii", "WIN1258"),
    ("win", "WIN1251"),
    ("win1250", "WIN1250"),
    ("win1251", "WIN1251"),
    ("win1252", "WIN1252"),
    ("win1253", "WIN1253"),
    ("win1254", "WIN1254"),
    ("win1255", "WIN1255"),
    ("win1256", "WIN1256"),
    ("win1257", "WIN1257"),
    ("win1258", "WIN1258"),
    ("win866", "WIN866"),
    ("win874", "WIN874"),
    ("win932", "SJIS"),
    ("win936", "GBK"),
    ("win949", "UHC"),
    ("win950", "BIG5"),
    ("windows1250", "WIN1250"),
    ("windows1251", "WIN1251"),
    ("windows1252", "WIN1252"),
    ("windows1253", "WIN1253"),
    ("windows1254", "WIN1254"),
    ("windows1255", "WIN1255"),
    ("windows1256", "WIN1256"),
    ("windows1257", "WIN1257"),
    ("windows1258", "WIN1258"),
    ("windows866", "WIN866"),
    ("windows874", "WIN874"),
    ("windows932", "SJIS"),
    ("windows936", "GBK"),
    ("windows949", "UHC"),
    ("windows950", "BIG5"),
];

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

/// One `name = value` line.
#[derive(Debug, Clone)]
struct Item {
    name: Vec<u8>,
    value: Vec<u8>,
    line: u32,
}

/// Token types of guc-file.l, in the order flex prefers them for equally long matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tok {
    Id,
    QualifiedId,
    Str,
    UnquotedString,
    Integer,
    Real,
    Equals,
    Error,
    Eol,
    Eof,
}

/// The configuration-file lexer: the rules of guc-file.l, longest match first, earlier rule on
/// a tie.
struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    /// `ConfigFileLineno`: incremented when a newline token is returned.
    line: u32,
}

fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_letter_or_digit(b: u8) -> bool {
    is_letter(b) || b.is_ascii_digit()
}

impl<'a> Lexer<'a> {
    fn new(text: &'a [u8]) -> Self {
        Lexer { text, pos: 0, line: 1 }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.text.get(i).copied()
    }

    fn count(&self, from: usize, pred: impl Fn(u8) -> bool) -> usize {
        self.text
            .get(from..)
            .map_or(0, |rest| rest.iter().take_while(|&&b| pred(b)).count())
    }

    /// `{ID}`: a letter, then letters and digits.
    fn match_id(&self, p: usize) -> usize {
        match self.at(p) {
            Some(b) if is_letter(b) => 1 + self.count(p + 1, is_letter_or_digit),
            _ => 0,
        }
    }

    /// `{ID}"."{ID}`.
    fn match_qualified_id(&self, p: usize) -> usize {
        let first = self.match_id(p);
        if first == 0 || self.at(p + first) != Some(b'.') {
            return 0;
        }
        match self.match_id(p + first + 1) {
            0 => 0,
            second => first + 1 + second,
        }
    }

    /// `{LETTER}({LETTER_OR_DIGIT}|[-._:/])*`.
    fn match_unquoted(&self, p: usize) -> usize {
        match self.at(p) {
            Some(b) if is_letter(b) => {
                1 + self.count(p + 1, |b| {
                    is_letter_or_digit(b) || matches!(b, b'-' | b'.' | b':' | b'/')
                })
            }
            _ => 0,
        }
    }

    fn sign_len(&self, p: usize) -> usize {
        usize::from(matches!(self.at(p), Some(b'+' | b'-')))
    }

    /// `{SIGN}?({DIGIT}+|0x{HEXDIGIT}+){UNIT_LETTER}*`.
    fn match_integer(&self, p: usize) -> usize {
        let q = p + self.sign_len(p);
        let digits = self.count(q, |b| b.is_ascii_digit());
        let decimal = if digits > 0 {
            q - p + digits + self.count(q + digits, |b| b.is_ascii_alphabetic())
        } else {
            0
        };
        let hex = if self.at(q) == Some(b'0') && self.at(q + 1) == Some(b'x') {
            match self.count(q + 2, |b| b.is_ascii_hexdigit()) {
                0 => 0,
                h => q - p + 2 + h + self.count(q + 2 + h, |b| b.is_ascii_alphabetic()),
            }
        } else {
            0
        };
        decimal.max(hex)
    }

    /// `{SIGN}?{DIGIT}*"."{DIGIT}*{EXPONENT}?` with `[Ee]{SIGN}?{DIGIT}+` as exponent.
    fn match_real(&self, p: usize) -> usize {
        let q = p + self.sign_len(p);
        let int_digits = self.count(q, |b| b.is_ascii_digit());
        let dot = q + int_digits;
        if self.at(dot) != Some(b'.') {
            return 0;
        }
        let end = dot + 1 + self.count(dot + 1, |b| b.is_ascii_digit());
        let mut len = end - p;
        if matches!(self.at(end), Some(b'e' | b'E')) {
            let s = end + 1 + self.sign_len(end + 1);
            let exp_digits = self.count(s, |b| b.is_ascii_digit());
            if exp_digits > 0 {
                len = s + exp_digits - p;
            }
        }
        len
    }

    /// `\'([^'\\\n]|\\.|\'\')*\'`, longest match: a doubled quote either continues the string
    /// or (if the string never closes later) the first quote ends it.
    fn match_string(&self, p: usize) -> usize {
        if self.at(p) != Some(b'\'') {
            return 0;
        }
        let mut best = 0;
        let mut i = p + 1;
        while let Some(b) = self.at(i) {
            match b {
                b'\'' => {
                    best = i + 1 - p;
                    if self.at(i + 1) == Some(b'\'') {
                        i += 2;
                    } else {
                        break;
                    }
                }
                // `.` in flex matches anything but a newline.
                b'\\' => match self.at(i + 1) {
                    Some(n) if n != b'\n' => i += 2,
                    _ => break,
                },
                b'\n' => break,
                _ => i += 1,
            }
        }
        best
    }

    /// The next token and its text; whitespace and comments are skipped.
    fn next_token(&mut self) -> (Tok, &'a [u8]) {
        loop {
            let p = self.pos;
            let Some(b) = self.at(p) else {
                return (Tok::Eof, &[]);
            };
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.line = self.line.saturating_add(1);
                    return (Tok::Eol, self.text.get(p..p + 1).unwrap_or_default());
                }
                b' ' | b'\t' | b'\r' => self.pos += self.count(p, |b| matches!(b, b' ' | b'\t' | b'\r')),
                // A comment runs up to, not including, the newline.
                b'#' => self.pos += self.count(p, |b| b != b'\n'),
                _ => {
                    let candidates = [
                        (Tok::Id, self.match_id(p)),
                        (Tok::QualifiedId, self.match_qualified_id(p)),
                        (Tok::Str, self.match_string(p)),
                        (Tok::UnquotedString, self.match_unquoted(p)),
                        (Tok::Integer, self.match_integer(p)),
                        (Tok::Real, self.match_real(p)),
                        (Tok::Equals, usize::from(b == b'=')),
                        (Tok::Error, 1),
                    ];
                    // Longest match; on equal length the earlier rule, as flex does.
                    let (tok, len) = candidates
                        .iter()
                        .fold((Tok::Error, 0), |best, &c| if c.1 > best.1 { c } else { best });
                    self.pos = p + len;
                    return (tok, self.text.get(p..p + len).unwrap_or_default());
                }
            }
        }
    }
}

/// Text of a token as C would print it (`%s` stops at a NUL byte), lossily decoded.
fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// `DeescapeQuotedString()` on a quoted token, with C-string semantics: the token is read up to
/// a NUL byte, the last character copied (normally the closing quote) is dropped, and the result
/// ends at the first NUL (so `'\0x'` yields an empty value).
fn deescape(token: &[u8]) -> Vec<u8> {
    let c_len = token.iter().position(|&b| b == 0).unwrap_or(token.len());
    let s = token.get(1..c_len).unwrap_or_default();
    // Reading one past the end yields the terminating NUL, as in C.
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = at(i);
        if b == b'\\' {
            i += 1;
            let c = at(i);
            out.push(match c {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'0'..=b'7' => {
                    let mut value: u32 = 0;
                    let mut k = 0;
                    while k < 3 && matches!(at(i + k), b'0'..=b'7') {
                        value = (value << 3) + u32::from(at(i + k) - b'0');
                        k += 1;
                    }
                    i += k - 1;
                    // (char) octVal: only the low byte survives.
                    (value & 0xff) as u8
                }
                other => other,
            });
        } else if b == b'\'' && at(i + 1) == b'\'' {
            i += 1;
            out.push(at(i));
        } else {
            out.push(b);
        }
        i += 1;
    }
    out.pop();
    if let Some(nul) = out.iter().position(|&b| b == 0) {
        out.truncate(nul);
    }
    out
}

/// `ParseConfigFp()` at ERROR level: the list of `name = value` items, or the first error.
fn parse_items(text: &[u8]) -> Result<Vec<Item>, ControlError> {
    let mut lexer = Lexer::new(text);
    let mut items = Vec::new();
    let syntax_error = |tok: Tok, token: &[u8], line: u32| {
        if matches!(tok, Tok::Eol | Tok::Eof) {
            ControlError::Syntax {
                line: line.saturating_sub(1),
                near: SyntaxNear::EndOfLine,
            }
        } else {
            ControlError::Syntax {
                line,
                near: SyntaxNear::Token(c_text(token)),
            }
        }
    };
    loop {
        let (tok, name) = lexer.next_token();
        match tok {
            Tok::Eof => break,
            Tok::Eol => continue,
            Tok::Id | Tok::QualifiedId => {}
            _ => return Err(syntax_error(tok, name, lexer.line)),
        }
        let (mut tok, mut value) = lexer.next_token();
        if tok == Tok::Equals {
            (tok, value) = lexer.next_token();
        }
        // A qualified name is not a valid value: `schema = a.b` is a syntax error.
        if !matches!(tok, Tok::Id | Tok::Str | Tok::Integer | Tok::Real | Tok::UnquotedString) {
            return Err(syntax_error(tok, value, lexer.line));
        }
        let value = if tok == Tok::Str {
            deescape(value)
        } else {
            value.to_vec()
        };
        let (end, end_text) = lexer.next_token();
        match end {
            Tok::Eol => {}
            // EOF ends the line like a newline does, for numbering.
            Tok::Eof => lexer.line = lexer.line.saturating_add(1),
            _ => return Err(syntax_error(end, end_text, lexer.line)),
        }
        let line = lexer.line.saturating_sub(1);
        // guc_name_compare() is case-insensitive; the server obeys these in control files.
        if ["include_dir", "include_if_exists", "include"]
            .iter()
            .any(|d| name.eq_ignore_ascii_case(d.as_bytes()))
        {
            return Err(ControlError::IncludeDirective {
                directive: c_text(name),
                target: c_text(&value),
                line,
            });
        }
        items.push(Item {
            name: name.to_vec(),
            value,
            line,
        });
        if end == Tok::Eof {
            break;
        }
    }
    Ok(items)
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

    #[test]
    fn encodings() {
        let accepted: &[(&str, &str)] = &[
            ("UTF8", "UTF8"),
            ("utf-8", "UTF8"),
            ("Unicode", "UTF8"),
            ("ISO-8859-1", "LATIN1"),
            ("iso_8859_15", "LATIN9"),
            ("latin1", "LATIN1"),
            ("SQL_ASCII", "SQL_ASCII"),
            ("koi8", "KOI8R"),
            ("Windows-1252", "WIN1252"),
            ("win", "WIN1251"),
            ("EUC-JP", "EUC_JP"),
            ("mule_internal", "MULE_INTERNAL"),
            ("iso8859-5", "ISO_8859_5"),
        ];
        for (name, canonical) in accepted {
            assert_eq!(server_encoding(name.as_bytes()), Some(*canonical), "{name}");
            let text = format!("encoding = '{name}'\n");
            let control = parse_control(text.as_bytes(), ControlKind::Primary).unwrap();
            assert_eq!(control.encoding.as_deref(), Some(*canonical), "{name}");
        }
        // Client-only encodings, unknown names, empty and over-long names.
        let long = format!("utf8{}", "-".repeat(60));
        for name in [
            "SJIS",
            "big5",
            "GBK",
            "UHC",
            "GB18030",
            "JOHAB",
            "SHIFT_JIS_2004",
            "utf16",
            "",
            "-",
            &long,
        ] {
            assert_eq!(server_encoding(name.as_bytes()), None, "{name:?}");
        }
        assert_eq!(SERVER_ENCODINGS.len(), 35);
        // Every canonical name in the alias table is either a server encoding or client-only.
        let client_only = ["SJIS", "BIG5", "GBK", "UHC", "GB18030", "JOHAB", "SHIFT_JIS_2004"];
        for (_, canonical) in ENCODING_ALIASES {
            assert!(
                SERVER_ENCODINGS.contains(canonical) || client_only.contains(canonical),
                "{canonical}"
            );
        }
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
    fn lexer_tokens() {
        let cases: &[(&str, &[(Tok, &str)])] = &[
            ("a.b", &[(Tok::QualifiedId, "a.b")]),
            ("a.b.c", &[(Tok::UnquotedString, "a.b.c")]),
            ("abc", &[(Tok::Id, "abc")]),
            ("a-b", &[(Tok::UnquotedString, "a-b")]),
            ("0.8.0", &[(Tok::Real, "0.8"), (Tok::Real, ".0")]),
            ("1e5", &[(Tok::Integer, "1e"), (Tok::Integer, "5")]),
            ("1.5E+3x", &[(Tok::Real, "1.5E+3"), (Tok::Id, "x")]),
            ("0x", &[(Tok::Integer, "0x")]),
            ("-", &[(Tok::Error, "-")]),
            ("+.", &[(Tok::Real, "+.")]),
            ("'a''", &[(Tok::Str, "'a'"), (Tok::Error, "'")]),
            (
                "'a\\'",
                &[(Tok::Error, "'"), (Tok::Id, "a"), (Tok::Error, "\\"), (Tok::Error, "'")],
            ),
            ("=x", &[(Tok::Equals, "="), (Tok::Id, "x")]),
            ("a # b\nc", &[(Tok::Id, "a"), (Tok::Eol, "\n"), (Tok::Id, "c")]),
        ];
        for (text, expected) in cases {
            let mut lexer = Lexer::new(text.as_bytes());
            let mut got = Vec::new();
            loop {
                let (tok, t) = lexer.next_token();
                if tok == Tok::Eof {
                    break;
                }
                got.push((tok, String::from_utf8_lossy(t).into_owned()));
            }
            let expected: Vec<(Tok, String)> = expected.iter().map(|(t, s)| (*t, (*s).to_owned())).collect();
            assert_eq!(got, expected, "{text:?}");
        }
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
