//! PostgreSQL's lexical rules, as far as finding library references needs them: comments,
//! every string form and its escapes, dollar quoting, quoted identifiers, and words compared
//! lowercased.

/// How a string literal's body is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StrKind {
    /// `'...'` and `N'...'` (standard_conforming_strings on).
    Standard,
    /// `E'...'`.
    Escape,
    /// `U&'...'`.
    Unicode,
    /// `$tag$...$tag$`.
    Dollar,
    /// `B'...'`, `X'...'`: bit strings, never file names.
    Bit,
}

/// A string literal: one or more segments (continuation across newlines).
#[derive(Debug, Clone)]
pub(super) struct StringLit {
    pub(super) kind: StrKind,
    /// Body byte ranges, delimiters excluded: the first, then any continuations (rare: kept
    /// apart so the common literal allocates nothing).
    pub(super) first: (usize, usize),
    pub(super) more: Vec<(usize, usize)>,
    /// Offset of the literal's first byte.
    pub(super) start: usize,
}

impl StringLit {
    fn segments(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        std::iter::once(self.first).chain(self.more.iter().copied())
    }

    pub(super) fn segment_count(&self) -> usize {
        1 + self.more.len()
    }

    /// The literal's value, with `MODULE_PATHNAME` replaced in the source text first when
    /// `module_pathname` is given. `None` for bit strings.
    pub(super) fn value_with(&self, text: &[u8], module_pathname: Option<&str>) -> Option<String> {
        if self.kind == StrKind::Bit {
            return None;
        }
        let mut value = Vec::new();
        for (from, to) in self.segments() {
            let body = text.get(from..to).unwrap_or_default();
            let body = match module_pathname {
                Some(mp) => replace_bytes(body, b"MODULE_PATHNAME", mp.as_bytes()),
                None => body.to_vec(),
            };
            value.extend(match self.kind {
                StrKind::Standard => collapse_quotes(&body),
                StrKind::Escape => unescape_e(&body),
                StrKind::Unicode => unescape_u(&body),
                StrKind::Dollar | StrKind::Bit => body,
            });
        }
        Some(String::from_utf8_lossy(&value).into_owned())
    }
}

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack.get(i..).is_some_and(|rest| rest.starts_with(needle)) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.extend(haystack.get(i).copied());
            i += 1;
        }
    }
    out
}

fn collapse_quotes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        out.push(b);
        i += if b == b'\'' && body.get(i + 1) == Some(&b'\'') {
            2
        } else {
            1
        };
    }
    out
}

fn push_char(out: &mut Vec<u8>, code: u32) {
    let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Reads up to `max` digits of `radix` at `i`; returns (value, count).
fn digits(body: &[u8], i: usize, max: usize, radix: u32) -> (u32, usize) {
    let mut value = 0u32;
    let mut n = 0;
    while n < max {
        let Some(d) = body.get(i + n).and_then(|&b| char::from(b).to_digit(radix)) else {
            break;
        };
        value = value.saturating_mul(radix).saturating_add(d);
        n += 1;
    }
    (value, n)
}

/// Escapes of `E'...'` strings (scan.l `xe` rules).
fn unescape_e(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b == b'\'' && body.get(i + 1) == Some(&b'\'') {
            out.push(b'\'');
            i += 2;
            continue;
        }
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&c) = body.get(i + 1) else {
            out.push(b);
            break;
        };
        i += 2;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let (v, n) = digits(body, i - 1, 3, 8);
                out.push((v & 0xff) as u8);
                i += n - 1;
            }
            b'x' if body.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let (v, n) = digits(body, i, 2, 16);
                out.push((v & 0xff) as u8);
                i += n;
            }
            b'u' | b'U' => {
                let want = if c == b'u' { 4 } else { 8 };
                let (v, n) = digits(body, i, want, 16);
                if n == want {
                    push_char(&mut out, v);
                    i += n;
                } else {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Escapes of `U&'...'` strings with the default escape character.
fn unescape_u(body: &[u8]) -> Vec<u8> {
    let body = collapse_quotes(body);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b == b'\\' {
            if body.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            let (plus, want) = if body.get(i + 1) == Some(&b'+') { (1, 6) } else { (0, 4) };
            let (v, n) = digits(&body, i + 1 + plus, want, 16);
            if n == want {
                push_char(&mut out, v);
                i += 1 + plus + n;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// An unquoted identifier or keyword, ASCII-lowercased and held inline: a megabyte script has
/// hundreds of thousands of them, and they are only ever compared with keywords and language
/// names. One longer than [`WORD_INLINE`] bytes or not ASCII equals none of those: it is kept
/// as [`OTHER_WORD`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Word {
    len: u8,
    bytes: [u8; WORD_INLINE],
}

/// Longest word kept as written (keywords and language names are far shorter).
const WORD_INLINE: usize = 31;
/// What a longer or non-ASCII word reads as: no keyword.
const OTHER_WORD: &str = "\u{0}";

impl Word {
    fn new(raw: &[u8]) -> Word {
        let mut w = Word {
            len: u8::MAX,
            bytes: [0; WORD_INLINE],
        };
        if raw.len() <= WORD_INLINE && raw.is_ascii() {
            w.bytes[..raw.len()].copy_from_slice(raw);
            w.bytes[..raw.len()].make_ascii_lowercase();
            w.len = raw.len() as u8; // <= WORD_INLINE
        }
        w
    }

    pub(super) fn as_str(&self) -> &str {
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or(OTHER_WORD)
    }
}

/// What the scanner emits.
#[derive(Debug, Clone)]
pub(super) enum Token {
    /// Unquoted identifier or keyword, ASCII-lowercased, with its source range.
    Word(Word, usize, usize),
    /// `"..."`, unescaped, with its source range.
    QuotedIdent(String, usize, usize),
    /// A string literal.
    Str(StringLit),
    /// `( ) , ; .` at an offset.
    Punct(u8, usize),
    /// Anything else (numbers, operators, parameters) at an offset.
    Other(usize),
}

impl Token {
    pub(super) fn word(&self) -> Option<&str> {
        match self {
            Token::Word(w, _, _) => Some(w.as_str()),
            _ => None,
        }
    }

    pub(super) fn span(&self) -> (usize, usize) {
        match self {
            Token::Word(_, s, e) | Token::QuotedIdent(_, s, e) => (*s, *e),
            Token::Str(lit) => (lit.start, lit.more.last().unwrap_or(&lit.first).1 + 1),
            Token::Punct(_, s) | Token::Other(s) => (*s, *s + 1),
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_sql_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Splits `text[from..]` into tokens, skipping whitespace and comments; offsets are into `text`.
/// Most tokens (a string literal costs one more per segment) one statement may have before it
/// is skipped unread: 1 M, ~50 MB. Real `CREATE FUNCTION` statements have a few hundred.
pub const MAX_STATEMENT_TOKENS: usize = 1 << 20;

/// The scanner's position in a text.
pub(super) struct Lexer<'a> {
    pub(super) text: &'a [u8],
    pub(super) i: usize,
}

impl Lexer<'_> {
    /// Consumes input up to and including the next token, which is pushed to `tokens` (nothing
    /// is pushed when only whitespace and comments remain). Returns whether input remains.
    pub(super) fn step(&mut self, tokens: &mut Vec<Token>) -> bool {
        let text = self.text;
        let at = |i: usize| text.get(i).copied();
        let before = tokens.len();
        let mut i = self.i;
        while tokens.len() == before
            && let Some(b) = at(i)
        {
            i = Self::one(text, i, b, tokens);
        }
        self.i = i;
        at(i).is_some()
    }

    /// Skips to just past the next `;` without keeping tokens; returns whether there was one.
    /// Token boundaries are exactly [`Lexer::step`]'s: identifiers are consumed as whole runs
    /// and everything that can open a string, quoted identifier or comment goes through
    /// [`Lexer::one`] itself; the rest are one-byte tokens or whitespace.
    pub(super) fn skim(&mut self) -> bool {
        let text = self.text;
        let mut scratch = Vec::new();
        let mut i = self.i;
        while let Some(&b) = text.get(i) {
            let prefix = matches!(b, b'e' | b'E' | b'n' | b'N' | b'b' | b'B' | b'x' | b'X' | b'u' | b'U')
                && matches!(text.get(i + 1), Some(b'\'' | b'&'));
            match b {
                b';' => {
                    self.i = i + 1;
                    return true;
                }
                _ if is_ident_start(b) && !prefix => {
                    i += 1;
                    while text.get(i).is_some_and(|&c| is_ident_cont(c)) {
                        i += 1;
                    }
                }
                b'"' => i = quoted_ident_end(text, i + 1).0,
                b'\'' | b'$' | b'-' | b'/' => {
                    i = Self::one(text, i, b, &mut scratch);
                    scratch.clear();
                }
                _ if prefix => {
                    i = Self::one(text, i, b, &mut scratch);
                    scratch.clear();
                }
                _ => i += 1,
            }
        }
        self.i = i;
        false
    }

    /// Scans what starts at `i` (whitespace, a comment or one token); returns where it ends.
    fn one(text: &[u8], i: usize, b: u8, tokens: &mut Vec<Token>) -> usize {
        let at = |i: usize| text.get(i).copied();
        let mut i = i;
        let next = at(i + 1);
        match b {
            _ if is_sql_space(b) => {
                i += 1;
                while text.get(i).is_some_and(|&c| is_sql_space(c)) {
                    i += 1;
                }
            }
            b'-' if next == Some(b'-') => i = skip_line_comment(text, i),
            b'/' if next == Some(b'*') => i = skip_block_comment(text, i),
            b'\'' => i = quoted_string(text, i, i + 1, StrKind::Standard, tokens),
            b'e' | b'E' if next == Some(b'\'') => i = quoted_string(text, i, i + 2, StrKind::Escape, tokens),
            b'n' | b'N' if next == Some(b'\'') => i = quoted_string(text, i, i + 2, StrKind::Standard, tokens),
            b'b' | b'B' | b'x' | b'X' if next == Some(b'\'') => i = quoted_string(text, i, i + 2, StrKind::Bit, tokens),
            b'u' | b'U' if next == Some(b'&') && at(i + 2) == Some(b'\'') => {
                i = quoted_string(text, i, i + 3, StrKind::Unicode, tokens)
            }
            b'u' | b'U' if next == Some(b'&') && at(i + 2) == Some(b'"') => i = quoted_ident(text, i, i + 3, tokens),
            b'"' => i = quoted_ident(text, i, i + 1, tokens),
            b'$' => match dollar_delimiter(text, i) {
                Some(len) => i = dollar_string(text, i, len, tokens),
                None => {
                    tokens.push(Token::Other(i));
                    i += 1;
                }
            },
            _ if is_ident_start(b) => {
                let len = text
                    .get(i..)
                    .map_or(0, |r| r.iter().take_while(|&&c| is_ident_cont(c)).count());
                tokens.push(Token::Word(
                    Word::new(text.get(i..i + len).unwrap_or_default()),
                    i,
                    i + len,
                ));
                i += len.max(1);
            }
            b'(' | b')' | b',' | b';' | b'.' => {
                tokens.push(Token::Punct(b, i));
                i += 1;
            }
            _ => {
                tokens.push(Token::Other(i));
                i += 1;
            }
        }
        i
    }
}

fn skip_line_comment(text: &[u8], i: usize) -> usize {
    text.get(i..)
        .and_then(|r| memchr::memchr2(b'\n', b'\r', r))
        .map_or(text.len(), |p| i + p)
}

/// Skips a (nested) block comment; an unterminated one runs to the end.
fn skip_block_comment(text: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while let Some(p) = text.get(j..).and_then(|r| memchr::memchr2(b'/', b'*', r)) {
        j += p;
        let pair = (text.get(j).copied(), text.get(j + 1).copied());
        match pair {
            (Some(b'/'), Some(b'*')) => {
                depth += 1;
                j += 2;
            }
            (Some(b'*'), Some(b'/')) => {
                depth = depth.saturating_sub(1);
                j += 2;
                if depth == 0 {
                    return j;
                }
            }
            _ => j += 1,
        }
    }
    text.len()
}

/// Scans a quoted string whose body starts at `body`, with continuation segments; pushes it.
fn quoted_string(text: &[u8], start: usize, body: usize, kind: StrKind, tokens: &mut Vec<Token>) -> usize {
    let mut first = None;
    let mut more = Vec::new();
    let mut from = body;
    loop {
        let mut j = from;
        // Bodies are most of a script's bytes: jump between the bytes that matter.
        let end = loop {
            let rest = text.get(j..).unwrap_or_default();
            let hit = if kind == StrKind::Escape {
                memchr::memchr2(b'\'', b'\\', rest)
            } else {
                memchr::memchr(b'\'', rest)
            };
            let Some(p) = hit else { break None };
            j += p;
            match text.get(j + 1) {
                _ if text.get(j) == Some(&b'\\') => j += 2,
                Some(b'\'') => j += 2,
                _ => break Some(j),
            }
        };
        let segment = (from, end.unwrap_or(text.len()));
        if first.is_none() {
            first = Some(segment);
        } else {
            more.push(segment);
        }
        let next = end.and_then(|end| continuation(text, end + 1));
        if let Some(next_body) = next {
            from = next_body;
            continue;
        }
        tokens.push(Token::Str(StringLit {
            kind,
            first: first.unwrap_or(segment),
            more,
            start,
        }));
        return end.map_or(text.len(), |end| end + 1);
    }
}

/// scan.l `quotecontinue`: whitespace with a newline (comments allowed) and another quote.
/// Returns where the next segment's body starts.
fn continuation(text: &[u8], mut j: usize) -> Option<usize> {
    let mut newline = false;
    loop {
        match text.get(j).copied() {
            Some(b' ' | b'\t' | 0x0c) => j += 1,
            Some(b'\n' | b'\r') => {
                newline = true;
                j += 1;
            }
            Some(0x0b) if newline => j += 1,
            Some(b'-') if text.get(j + 1) == Some(&b'-') => j = skip_line_comment(text, j),
            Some(b'\'') if newline => return Some(j + 1),
            _ => return None,
        }
    }
}

fn quoted_ident(text: &[u8], start: usize, body: usize, tokens: &mut Vec<Token>) -> usize {
    let (end, closed) = quoted_ident_end(text, body);
    // The body without its closing quote (an unterminated one runs to the end), `""` → `"`.
    let raw = text.get(body..end - usize::from(closed)).unwrap_or_default();
    let value = replace_bytes(raw, b"\"\"", b"\"");
    tokens.push(Token::QuotedIdent(
        String::from_utf8_lossy(&value).into_owned(),
        start,
        end,
    ));
    end
}

/// Where a quoted identifier whose body starts at `body` ends (after its closing quote), and
/// whether it was closed (an unterminated one runs to the end of the text).
fn quoted_ident_end(text: &[u8], body: usize) -> (usize, bool) {
    let mut j = body;
    while let Some(p) = text.get(j..).and_then(|r| memchr::memchr(b'"', r)) {
        j += p;
        if text.get(j + 1) == Some(&b'"') {
            j += 2;
        } else {
            return (j + 1, true);
        }
    }
    (text.len().max(body), false)
}

/// Length of a dollar-quote delimiter (`$$` or `$tag$`) at `i`, if there is one.
fn dollar_delimiter(text: &[u8], i: usize) -> Option<usize> {
    let first = text.get(i + 1).copied()?;
    if first == b'$' {
        return Some(2);
    }
    if !is_ident_start(first) {
        return None;
    }
    // Tags are identifiers without '$'.
    let tag = text
        .get(i + 1..)?
        .iter()
        .take_while(|&&b| is_ident_start(b) || b.is_ascii_digit())
        .count();
    (text.get(i + 1 + tag) == Some(&b'$')).then_some(tag + 2)
}

fn dollar_string(text: &[u8], start: usize, delim_len: usize, tokens: &mut Vec<Token>) -> usize {
    let delimiter = text.get(start..start + delim_len).unwrap_or_default();
    let body = start + delim_len;
    let rest = text.get(body..).unwrap_or_default();
    let close = memchr::memmem::find(rest, delimiter);
    let (body_end, next) = match close {
        Some(p) => (body + p, body + p + delim_len),
        None => (text.len(), text.len()),
    };
    tokens.push(Token::Str(StringLit {
        kind: StrKind::Dollar,
        first: (body, body_end),
        more: Vec::new(),
        start,
    }));
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripts::library_references;

    #[test]
    fn words_are_compared_lowercased_and_only_short_ascii_ones_kept() {
        assert_eq!(Word::new(b"LANGUAGE").as_str(), "language");
        assert_eq!(Word::new(b"PlPgSQL").as_str(), "plpgsql");
        assert_eq!(Word::new(&[b'a'; WORD_INLINE]).as_str(), "a".repeat(WORD_INLINE));
        assert_eq!(Word::new(&[b'a'; WORD_INLINE + 1]).as_str(), OTHER_WORD);
        assert_eq!(Word::new("café".as_bytes()).as_str(), OTHER_WORD);
        assert_eq!(Word::new(b"").as_str(), "");
        // Long and non-ASCII names around the keywords change nothing.
        let sql = "CREATE FUNCTION a_function_name_longer_than_thirty_one_bytes(int) RETURNS int \
                   AS 'MODULE_PATHNAME', 'fünf' LANGUAGE C STRICT;\n\
                   CREATE FUNCTION café() RETURNS int AS '$libdir/x' LANGUAGE c;";
        let found = library_references(sql, Some("$libdir/y"));
        let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["$libdir/y", "$libdir/x"]);
    }
}
