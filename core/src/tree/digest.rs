//! pgext's canonical tree digest: the lossless name escaping, the plain-text listing and its
//! SHA-256 (specified in docs/src/reference/tree-digest.md, recomputed by scripts/tree-digest.sh).

use super::{DigestError, EntryKind, TreeEntry};
use crate::hash::{self, Sha256};
use std::fmt::Write as _;

/// Escapes a raw name (or path, or link target) losslessly into a string: valid UTF-8 is kept
/// except that `\` becomes `\\` and control characters (U+0000–U+001F, U+007F) become `\xNN`;
/// every byte that is not part of a valid UTF-8 sequence becomes `\xNN`. Hex is lowercase.
pub fn escape_name(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\0'..='\x1f' | '\x7f' => push_hex_escape(&mut out, c as u8),
                c => out.push(c),
            }
        }
        for &b in chunk.invalid() {
            push_hex_escape(&mut out, b);
        }
    }
    out
}

fn push_hex_escape(out: &mut String, b: u8) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\\x{b:02x}");
}

/// Reverses [`escape_name`] (and the listing's extra `\x20`): `None` for a malformed escape
/// (anything after `\` other than `\` or `x` plus two lowercase hex digits).
pub fn unescape_name(escaped: &str) -> Option<Vec<u8>> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = |j: usize| match bytes.get(j) {
                    Some(&c @ b'0'..=b'9') => Some(c - b'0'),
                    Some(&c @ b'a'..=b'f') => Some(c - b'a' + 10),
                    _ => None,
                };
                out.push((hex(i + 2)? << 4) | hex(i + 3)?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `s` is exactly what [`escape_name`] produces for some byte string.
fn is_canonical_escape(s: &str) -> bool {
    unescape_name(s).is_some_and(|raw| escape_name(&raw) == s)
}

/// The listing form of an escaped name: additionally `' '` → `\x20`, so that no field of a
/// listing line contains a space and every line splits unambiguously on single spaces.
fn listing_field(escaped: &str) -> String {
    escaped.replace(' ', "\\x20")
}

fn check_path(path: &str) -> Result<(), DigestError> {
    let reason = if path.is_empty() {
        Some("empty")
    } else if path.starts_with('/') {
        Some("absolute")
    } else if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        Some("empty, '.' or '..' component")
    } else if !is_canonical_escape(path) {
        Some("not in canonical escaped form")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DigestError::InvalidPath {
            path: path.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The canonical listing of `entries` (in any order): one line per entry, sorted by the bytes of
/// the path field, fields separated by one space, each line ending in `\n`:
///
/// ```text
/// f <mode> <size> <sha256 hex> <path>
/// d <mode> <path>
/// l <path> -> <target>
/// o <mode> <path>
/// ```
///
/// `<mode>` is 4-digit octal; paths and targets are escaped ([`escape_name`]) with spaces written
/// `\x20`. Fails rather than produce a listing that does not describe the tree exactly.
pub fn canonical_listing(entries: &[TreeEntry]) -> Result<Vec<u8>, DigestError> {
    let mut lines: Vec<(String, &TreeEntry)> = Vec::with_capacity(entries.len());
    for e in entries {
        check_path(&e.path)?;
        if e.mode > 0o7777 {
            return Err(DigestError::InvalidMode {
                path: e.path.clone(),
                mode: e.mode,
            });
        }
        lines.push((listing_field(&e.path), e));
    }
    lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if let Some(w) = lines.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(DigestError::DuplicatePath {
            path: w[0].1.path.clone(),
        });
    }
    let mut out = String::with_capacity(lines.len() * 100);
    for (path, e) in &lines {
        // Writing to a String cannot fail.
        let _ = match e.kind {
            EntryKind::File => {
                let sha = e
                    .sha256
                    .ok_or_else(|| DigestError::MissingHash { path: e.path.clone() })?;
                writeln!(out, "f {:04o} {} {} {path}", e.mode, e.size, hash::to_hex(&sha))
            }
            EntryKind::Dir => writeln!(out, "d {:04o} {path}", e.mode),
            EntryKind::Symlink => {
                let target = e
                    .link_target
                    .as_deref()
                    .ok_or_else(|| DigestError::MissingLinkTarget { path: e.path.clone() })?;
                if !is_canonical_escape(target) {
                    return Err(DigestError::InvalidLinkTarget { path: e.path.clone() });
                }
                writeln!(out, "l {path} -> {}", listing_field(target))
            }
            EntryKind::Other => writeln!(out, "o {:04o} {path}", e.mode),
        };
    }
    Ok(out.into_bytes())
}

/// SHA-256 of [`canonical_listing`]: pgext's digest of a tree's names, types, modes, sizes,
/// contents and link targets (not owners or times).
pub fn tree_digest(entries: &[TreeEntry]) -> Result<Sha256, DigestError> {
    Ok(hash::sha256(&canonical_listing(entries)?))
}

/// [`tree_digest`] in its display form, `sha256:<hex>`.
pub fn tree_digest_string(entries: &[TreeEntry]) -> Result<String, DigestError> {
    Ok(hash::to_prefixed_hex(&tree_digest(entries)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_golden_form_and_byte_order() {
        // Given out of order; byte order of the path fields puts "B" < "_x" < "a" < "a-b" < "a/b" <
        // "a\x20b" (the escaped "a b") < "é", unlike most locales' collation.
        let entries = vec![
            TreeEntry::file("\u{e9}", 0o644, b""),
            TreeEntry::dir("a", 0o755),
            TreeEntry::file("a/b", 0o600, b"abc"),
            TreeEntry::file("a-b", 0o644, b""),
            TreeEntry {
                kind: EntryKind::Other,
                ..TreeEntry::dir("_x", 0o644)
            },
            TreeEntry::symlink("a b", "x y"),
            TreeEntry::file("B", 0o4755, b""),
        ];
        let e3 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let want = format!(
            "f 4755 0 {e3} B\no 0644 _x\nd 0755 a\nf 0644 0 {e3} a-b\nf 0600 3 {abc} a/b\nl a\\x20b -> x\\x20y\n\
             f 0644 0 {e3} \u{e9}\n"
        );
        assert_eq!(String::from_utf8(canonical_listing(&entries).unwrap()).unwrap(), want);
        assert_eq!(tree_digest(&entries).unwrap(), hash::sha256(want.as_bytes()));
        let mut reversed = entries.clone();
        reversed.reverse();
        assert_eq!(tree_digest(&reversed).unwrap(), tree_digest(&entries).unwrap());
    }

    #[test]
    fn documented_example_digest() {
        // The example in docs/src/reference/tree-digest.md: keep the two in step.
        let mut entries = vec![
            TreeEntry::dir("lib", 0o755),
            TreeEntry::symlink("lib/vector-0.8.so", "vector.so"),
            TreeEntry::file("lib/vector.so", 0o755, b"not really ELF\n"),
            TreeEntry::dir("share", 0o755),
            TreeEntry::dir("share/extension", 0o755),
            TreeEntry::file("share/extension/secret key", 0o600, b""),
            TreeEntry::file("share/extension/vector.control", 0o644, b"default_version = '0.8.0'\n"),
        ];
        let want = "sha256:65df616b274feb51c5f666993c2d4c65c725d3f044aa6625c336737aa177858d";
        assert_eq!(tree_digest_string(&entries).unwrap(), want);
        entries.remove(5);
        let want = "sha256:600e7e0bc561b5b330c1c35c582808ff19f1dcf35e0a15a8ae6c0cf15e474294";
        assert_eq!(tree_digest_string(&entries).unwrap(), want);
        assert_eq!(
            tree_digest_string(&[]).unwrap(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn every_change_changes_the_digest() {
        let base = vec![
            TreeEntry::dir("d", 0o755),
            TreeEntry::file("d/f", 0o644, b"content"),
            TreeEntry::symlink("d/l", "f"),
        ];
        let d0 = tree_digest(&base).unwrap();
        type Change = Box<dyn Fn(&mut Vec<TreeEntry>)>;
        let variants: Vec<(&str, Change)> = vec![
            (
                "one content byte",
                Box::new(|v| v[1] = TreeEntry::file("d/f", 0o644, b"contenT")),
            ),
            ("file mode", Box::new(|v| v[1].mode = 0o755)),
            ("dir mode", Box::new(|v| v[0].mode = 0o700)),
            ("size", Box::new(|v| v[1].size += 1)),
            ("link target", Box::new(|v| v[2].link_target = Some("g".into()))),
            ("name", Box::new(|v| v[1].path = "d/g".into())),
            ("kind", Box::new(|v| v[0].kind = EntryKind::Other)),
            ("extra entry", Box::new(|v| v.push(TreeEntry::dir("e", 0o755)))),
            ("missing entry", Box::new(|v| drop(v.pop()))),
        ];
        for (what, change) in variants {
            let mut v = base.clone();
            change(&mut v);
            assert_ne!(tree_digest(&v).unwrap(), d0, "{what}");
        }
        // A symlink's mode is not part of its line.
        let mut v = base.clone();
        v[2].mode = 0o755;
        assert_eq!(tree_digest(&v).unwrap(), d0);
    }

    #[test]
    fn digest_refuses_what_it_cannot_describe() {
        let ok = TreeEntry::file("f", 0o644, b"");
        let cases: Vec<(TreeEntry, &str)> = vec![
            (
                TreeEntry {
                    sha256: None,
                    ..ok.clone()
                },
                "no digest",
            ),
            (
                TreeEntry {
                    link_target: None,
                    ..TreeEntry::symlink("l", "x")
                },
                "no target",
            ),
            (TreeEntry::symlink("l", "bad\\q"), "canonical"),
            (TreeEntry::file("", 0o644, b""), "empty"),
            (TreeEntry::file("/abs", 0o644, b""), "absolute"),
            (TreeEntry::file("a//b", 0o644, b""), "component"),
            (TreeEntry::file("./a", 0o644, b""), "component"),
            (TreeEntry::file("a/..", 0o644, b""), "component"),
            (TreeEntry::file("a/", 0o644, b""), "component"),
            (TreeEntry::file("new\nline", 0o644, b""), "canonical"),
            (TreeEntry::file("x\\x20y", 0o644, b""), "canonical"),
            (TreeEntry::file("f", 0o10644, b""), "outside 7777"),
        ];
        for (entry, msg) in cases {
            let err = tree_digest(std::slice::from_ref(&entry)).unwrap_err();
            assert!(err.to_string().contains(msg), "{entry:?}: {err}");
        }
        let err = tree_digest(&[ok.clone(), ok]).unwrap_err();
        assert!(matches!(err, DigestError::DuplicatePath { .. }), "{err}");
    }

    #[test]
    fn escaping_is_lossless() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain.so", "plain.so"),
            (b"with space", "with space"),
            (b"back\\slash", "back\\\\slash"),
            (b"lit\\x41", "lit\\\\x41"),
            (b"nl\ntab\tdel\x7f", "nl\\x0atab\\x09del\\x7f"),
            ("caf\u{e9} \u{1f418}".as_bytes(), "caf\u{e9} \u{1f418}"),
            (b"\xff\xfe", "\\xff\\xfe"),
            (b"trunc\xe2\x82", "trunc\\xe2\\x82"),
            (b"\xe2\x82\xe2\x82\xac", "\\xe2\\x82\u{20ac}"),
            (b"overlong\xc0\xaf", "overlong\\xc0\\xaf"),
            (b"surrogate\xed\xa0\x80", "surrogate\\xed\\xa0\\x80"),
            (b"too big\xf4\x90\x80\x80", "too big\\xf4\\x90\\x80\\x80"),
        ];
        for (raw, escaped) in cases {
            assert_eq!(escape_name(raw), *escaped, "{raw:?}");
            assert_eq!(unescape_name(escaped).as_deref(), Some(*raw), "{escaped:?}");
        }
        for bad in ["a\\", "a\\n", "a\\x4", "a\\x4G", "a\\xFF"] {
            assert_eq!(unescape_name(bad), None, "{bad:?}");
        }
        assert_eq!(unescape_name("a\\x20b").as_deref(), Some(&b"a b"[..]));
    }
}
