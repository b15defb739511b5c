//! The configuration-file lexer control files are read with: a port of `ParseConfigFp()` and
//! `DeescapeQuotedString()` (utils/misc/guc-file.l), giving `name = value` items.

use super::{ControlError, SyntaxNear};

/// One `name = value` line.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) name: Vec<u8>,
    pub(super) value: Vec<u8>,
    pub(super) line: u32,
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
pub(super) fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// `DeescapeQuotedString()` on a quoted token, with C-string semantics: the token is read up to
/// a NUL byte, the last character copied (normally the closing quote) is dropped, and the result
/// ends at the first NUL (so `'\0x'` yields an empty value).
pub(super) fn deescape(token: &[u8]) -> Vec<u8> {
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
pub(super) fn parse_items(text: &[u8]) -> Result<Vec<Item>, ControlError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
