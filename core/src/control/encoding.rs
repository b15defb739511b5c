//! Server encoding names: `pg_valid_server_encoding()` and the tables it reads
//! (common/encnames.c).

use super::MAX_IDENTIFIER_BYTES;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ControlKind, parse_control};

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
}
