//! How PostgreSQL 18 expands `extension_control_path` and `dynamic_library_path`.
//!
//! A faithful port of `get_extension_control_directories()` (commands/extension.c),
//! `find_in_path()` / `substitute_path_macro()` (utils/fmgr/dfmgr.c) and `canonicalize_path()`
//! (port/path.c). PostgreSQL only complains about a bad element when a lookup reaches it, and
//! silently skips a missing directory; this module names each of those cases up front.

use crate::codes::Code;
use std::fmt;

/// Which setting an element comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum PathKind {
    /// `extension_control_path`: where `.control` files are looked up.
    Control,
    /// `dynamic_library_path`: where shared libraries named without a slash are looked up.
    Library,
}

impl PathKind {
    /// The stable name used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The name of the PostgreSQL setting.
    pub fn guc_name(self) -> &'static str {
        match self {
            PathKind::Control => "extension_control_path",
            PathKind::Library => "dynamic_library_path",
        }
    }
}

/// A problem that can be seen from the setting's text alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementProblem {
    /// A zero-length element (`a::b`, a leading or trailing `:`).
    Empty,
    /// The searched directory is not absolute: PostgreSQL raises an error when a lookup reaches it.
    Relative,
    /// A library element starting with `$` that is not `$libdir`: PostgreSQL raises
    /// "invalid macro name in path" when a lookup reaches it.
    InvalidMacro,
    /// The same directory appears earlier in the same setting; this copy is never reached.
    Duplicate,
}

impl ElementProblem {
    /// Stable code used in SQL output.
    pub fn code(self) -> Code {
        match self {
            ElementProblem::Empty => Code::Empty,
            ElementProblem::Relative => Code::Relative,
            ElementProblem::InvalidMacro => Code::InvalidMacro,
            ElementProblem::Duplicate => Code::Duplicate,
        }
    }
}

impl fmt::Display for ElementProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code().as_str())
    }
}

/// One element of a search path, as PostgreSQL 18 sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathElement {
    pub kind: PathKind,
    /// 1-based position in search order.
    pub position: usize,
    /// The element exactly as written in the setting.
    pub raw: String,
    /// The directory PostgreSQL searches, after macro substitution, the `/extension` suffix and
    /// canonicalisation. `None` where PostgreSQL raises an error instead of searching.
    pub searched: Option<String>,
    /// What is wrong with the element's text, if anything.
    pub problem: Option<ElementProblem>,
}

impl PathElement {
    /// `true` for the element that stands for the server's own directory (`$system` / `$libdir`).
    pub fn is_system(&self) -> bool {
        match self.kind {
            PathKind::Control => self.raw == "$system" || self.raw.is_empty() && self.position == 1,
            PathKind::Library => self.raw == "$libdir",
        }
    }
}

/// Splits a path setting the way `first_path_var_separator()` does (`:` on Unix).
/// Unlike `str::split` on an empty string, an empty setting yields one empty element, matching
/// the loop in PostgreSQL that always processes at least one piece.
fn split_elements(setting: &str) -> impl Iterator<Item = &str> {
    setting.split(':')
}

/// Expands `extension_control_path` like PostgreSQL 18's `get_extension_control_directories()`.
///
/// `sharedir` is the server's share directory (`pg_config --sharedir`). An empty setting means
/// `$system`. An element equal to exactly `$system` becomes `<sharedir>/extension`; every other
/// element gets `/extension` appended — so `$system/foo` is *not* substituted and ends up relative.
pub fn expand_control_path(setting: &str, sharedir: &str) -> Vec<PathElement> {
    let system_dir = canonicalize_path(&format!("{sharedir}/extension"));
    if setting.is_empty() {
        return vec![PathElement {
            kind: PathKind::Control,
            position: 1,
            raw: String::new(),
            searched: Some(system_dir),
            problem: None,
        }];
    }
    let mut out: Vec<PathElement> = Vec::new();
    for (i, piece) in split_elements(setting).enumerate() {
        let mangled = if piece == "$system" {
            system_dir.clone()
        } else {
            canonicalize_path(&format!("{piece}/extension"))
        };
        let problem = if piece.is_empty() {
            Some(ElementProblem::Empty)
        } else if !is_absolute_path(&mangled) {
            Some(ElementProblem::Relative)
        } else {
            None
        };
        out.push(PathElement {
            kind: PathKind::Control,
            position: i + 1,
            raw: piece.to_string(),
            searched: Some(mangled),
            problem,
        });
    }
    mark_duplicates(&mut out);
    out
}

/// Expands `dynamic_library_path` like PostgreSQL 18's `find_in_path()`.
///
/// `pkglibdir` is the server's library directory (`pg_config --pkglibdir`). `$libdir` is replaced
/// only at the start of an element (followed by `/` or nothing). An empty setting disables the
/// search altogether: library names then go to `dlopen()` as written.
pub fn expand_library_path(setting: &str, pkglibdir: &str) -> Vec<PathElement> {
    if setting.is_empty() {
        return vec![PathElement {
            kind: PathKind::Library,
            position: 1,
            raw: String::new(),
            searched: None,
            problem: Some(ElementProblem::Empty),
        }];
    }
    let mut out: Vec<PathElement> = Vec::new();
    for (i, piece) in split_elements(setting).enumerate() {
        let (searched, problem) = if piece.is_empty() {
            (None, Some(ElementProblem::Empty))
        } else {
            match substitute_path_macro(piece, "$libdir", pkglibdir) {
                None => (None, Some(ElementProblem::InvalidMacro)),
                Some(s) => {
                    let c = canonicalize_path(&s);
                    if is_absolute_path(&c) {
                        (Some(c), None)
                    } else {
                        (None, Some(ElementProblem::Relative))
                    }
                }
            }
        };
        out.push(PathElement {
            kind: PathKind::Library,
            position: i + 1,
            raw: piece.to_string(),
            searched,
            problem,
        });
    }
    mark_duplicates(&mut out);
    out
}

fn mark_duplicates(elements: &mut [PathElement]) {
    for i in 1..elements.len() {
        if elements[i].problem.is_some() {
            continue;
        }
        let dup = elements[..i]
            .iter()
            .any(|e| e.problem.is_none() && e.searched.is_some() && e.searched == elements[i].searched);
        if dup {
            elements[i].problem = Some(ElementProblem::Duplicate);
        }
    }
}

/// `substitute_path_macro()`: a `$` is recognised only at the start of the string, and the
/// macro must be the whole first component. Returns `None` where PostgreSQL raises
/// "invalid macro name in path".
pub fn substitute_path_macro(s: &str, macro_name: &str, value: &str) -> Option<String> {
    if !s.starts_with('$') {
        return Some(s.to_string());
    }
    let sep = s.find('/').unwrap_or(s.len());
    if &s[..sep] != macro_name {
        return None;
    }
    Some(format!("{value}{}", &s[sep..]))
}

/// `is_absolute_path()` on Unix.
pub fn is_absolute_path(p: &str) -> bool {
    p.starts_with('/')
}

/// `canonicalize_path()` on Unix: drop trailing separators, fold repeated separators, remove `.`
/// components and resolve `..` lexically (`/..` stays `/`; a relative path keeps leading `..`).
pub fn canonicalize_path(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Resolves a library name the way PostgreSQL 18's `load_external_function()` does for a C
/// function's `AS '…'` clause: a simple `$libdir/name` (no further `/`) has `$libdir/` stripped
/// so that `dynamic_library_path` is searched. `LOAD` and preload lists use [`LibraryRef::Load`],
/// which keeps the prefix and so looks only in pkglibdir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LibraryRef {
    /// `CREATE FUNCTION … AS 'file'`: `load_external_function()`.
    Function,
    /// `LOAD 'file'`, `shared_preload_libraries` and friends: `load_file()`.
    Load,
}

/// One step of a library search, in the order PostgreSQL takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchStep {
    /// Try this file: the first that exists and is not a directory wins (`pg_file_exists`).
    Candidate(String),
    /// The search raises an error here (element position, 0 for the name itself, and why).
    Error(usize, ElementProblem),
}

/// The search for a library name, before PostgreSQL falls back to `dlopen(name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryLookup {
    /// The name after PostgreSQL's own rewriting (`$libdir/` stripped for simple names).
    pub name: String,
    /// Candidates and error points, in order.
    pub steps: Vec<SearchStep>,
}

/// Where a library search ends: the file, nothing (PostgreSQL then tries `dlopen(name)`), or the
/// element at which it raises.
pub type Resolution = Result<Option<String>, (usize, ElementProblem)>;

impl LibraryLookup {
    /// Walks the steps like `expand_dynamic_library_name()`: `Ok(Some(file))` for the first
    /// candidate `exists` accepts, `Ok(None)` when nothing matches (PostgreSQL then hands the bare
    /// name to `dlopen`), `Err` where the search raises before finding anything.
    pub fn resolve(&self, mut exists: impl FnMut(&str) -> bool) -> Resolution {
        for step in &self.steps {
            match step {
                SearchStep::Candidate(c) if exists(c) => return Ok(Some(c.clone())),
                SearchStep::Candidate(_) => {}
                SearchStep::Error(pos, p) => return Err((*pos, *p)),
            }
        }
        Ok(None)
    }
}

/// `expand_dynamic_library_name()`: the search for `name` as [`SearchStep`]s. `how` selects the
/// caller's rule: only [`LibraryRef::Function`] strips a simple `$libdir/` prefix.
pub fn library_candidates(name: &str, how: LibraryRef, library_path: &[PathElement], pkglibdir: &str) -> LibraryLookup {
    let mut name = name.to_string();
    if how == LibraryRef::Function
        && let Some(rest) = name.strip_prefix("$libdir/")
        && !rest.contains('/')
    {
        name = rest.to_string();
    }
    let mut steps = Vec::new();
    let have_slash = name.contains('/');
    for suffix in ["", ".so"] {
        let file = format!("{name}{suffix}");
        if have_slash {
            match substitute_path_macro(&file, "$libdir", pkglibdir) {
                Some(p) => steps.push(SearchStep::Candidate(p)),
                None => {
                    steps.push(SearchStep::Error(0, ElementProblem::InvalidMacro));
                    break;
                }
            }
            continue;
        }
        // An empty setting disables the path search altogether.
        if library_path.len() == 1 && library_path[0].raw.is_empty() {
            continue;
        }
        for e in library_path {
            match (&e.searched, e.problem) {
                (_, Some(p @ (ElementProblem::Empty | ElementProblem::Relative | ElementProblem::InvalidMacro))) => {
                    steps.push(SearchStep::Error(e.position, p))
                }
                (Some(dir), _) => steps.push(SearchStep::Candidate(format!("{dir}/{file}"))),
                (None, _) => {}
            }
        }
    }
    LibraryLookup { name, steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARE: &str = "/usr/share/postgresql/18";
    const LIB: &str = "/usr/lib/postgresql/18/lib";

    fn control(setting: &str) -> Vec<(String, Option<String>, Option<&'static str>)> {
        expand_control_path(setting, SHARE)
            .into_iter()
            .map(|e| (e.raw, e.searched, e.problem.map(|p| p.code().as_str())))
            .collect()
    }

    fn library(setting: &str) -> Vec<(String, Option<String>, Option<&'static str>)> {
        expand_library_path(setting, LIB)
            .into_iter()
            .map(|e| (e.raw, e.searched, e.problem.map(|p| p.code().as_str())))
            .collect()
    }

    fn row(
        raw: &str,
        searched: Option<&str>,
        problem: Option<&'static str>,
    ) -> (String, Option<String>, Option<&'static str>) {
        (raw.to_string(), searched.map(str::to_string), problem)
    }

    #[test]
    fn canonicalize_matches_postgres() {
        let cases = [
            ("/a/b/", "/a/b"),
            ("/a//b///c", "/a/b/c"),
            ("/a/./b/.", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/../..", "/"),
            ("/..", "/"),
            ("/", "/"),
            ("//", "/"),
            ("a/../..", ".."),
            ("../dir/..", ".."),
            ("a/..", "."),
            ("./a", "a"),
            ("../../x", "../../x"),
            ("", ""),
            (
                "/extensions/pgvector/share/extension",
                "/extensions/pgvector/share/extension",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(canonicalize_path(input), want, "canonicalize_path({input:?})");
        }
    }

    #[test]
    fn control_path_expansion() {
        let cases: Vec<(&str, Vec<_>)> = vec![
            ("", vec![row("", Some("/usr/share/postgresql/18/extension"), None)]),
            (
                "$system",
                vec![row("$system", Some("/usr/share/postgresql/18/extension"), None)],
            ),
            (
                "$system:/extensions/pgvector/share",
                vec![
                    row("$system", Some("/usr/share/postgresql/18/extension"), None),
                    row(
                        "/extensions/pgvector/share",
                        Some("/extensions/pgvector/share/extension"),
                        None,
                    ),
                ],
            ),
            // `$system` is substituted only as the whole element.
            (
                "$system/foo",
                vec![row("$system/foo", Some("$system/foo/extension"), Some("relative"))],
            ),
            (
                "share/ext",
                vec![row("share/ext", Some("share/ext/extension"), Some("relative"))],
            ),
            ("/a/share/", vec![row("/a/share/", Some("/a/share/extension"), None)]),
            (
                "/a//share/../x",
                vec![row("/a//share/../x", Some("/a/x/extension"), None)],
            ),
            (
                "/a::/b",
                vec![
                    row("/a", Some("/a/extension"), None),
                    row("", Some("/extension"), Some("empty")),
                    row("/b", Some("/b/extension"), None),
                ],
            ),
            (
                "$system:/x:",
                vec![
                    row("$system", Some("/usr/share/postgresql/18/extension"), None),
                    row("/x", Some("/x/extension"), None),
                    row("", Some("/extension"), Some("empty")),
                ],
            ),
            (
                "/x:/x/:$system",
                vec![
                    row("/x", Some("/x/extension"), None),
                    row("/x/", Some("/x/extension"), Some("duplicate")),
                    row("$system", Some("/usr/share/postgresql/18/extension"), None),
                ],
            ),
        ];
        for (setting, want) in cases {
            assert_eq!(control(setting), want, "extension_control_path = {setting:?}");
        }
    }

    #[test]
    fn library_path_expansion() {
        let cases: Vec<(&str, Vec<_>)> = vec![
            ("", vec![row("", None, Some("empty"))]),
            ("$libdir", vec![row("$libdir", Some(LIB), None)]),
            (
                "$libdir/plugins",
                vec![row("$libdir/plugins", Some("/usr/lib/postgresql/18/lib/plugins"), None)],
            ),
            (
                "$libdir:/extensions/pgvector/lib",
                vec![
                    row("$libdir", Some(LIB), None),
                    row("/extensions/pgvector/lib", Some("/extensions/pgvector/lib"), None),
                ],
            ),
            // `$libdir` counts only at the start of an element.
            ("/x/$libdir", vec![row("/x/$libdir", Some("/x/$libdir"), None)]),
            ("$libdirx", vec![row("$libdirx", None, Some("invalid_macro"))]),
            ("$system", vec![row("$system", None, Some("invalid_macro"))]),
            ("lib", vec![row("lib", None, Some("relative"))]),
            (
                ":$libdir",
                vec![row("", None, Some("empty")), row("$libdir", Some(LIB), None)],
            ),
            (
                "$libdir::/b/",
                vec![
                    row("$libdir", Some(LIB), None),
                    row("", None, Some("empty")),
                    row("/b/", Some("/b"), None),
                ],
            ),
            (
                "$libdir:/usr/lib/postgresql/18/lib/",
                vec![
                    row("$libdir", Some(LIB), None),
                    row("/usr/lib/postgresql/18/lib/", Some(LIB), Some("duplicate")),
                ],
            ),
        ];
        for (setting, want) in cases {
            assert_eq!(library(setting), want, "dynamic_library_path = {setting:?}");
        }
    }

    #[test]
    fn positions_are_one_based_in_order() {
        let e = expand_library_path("$libdir:/a:/b", LIB);
        assert_eq!(e.iter().map(|e| e.position).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(e[0].is_system());
        assert!(!e[1].is_system());
    }

    #[test]
    fn library_lookup_strips_libdir_only_for_simple_function_names() {
        let path = expand_library_path("$libdir:/ext/a/lib", LIB);
        let cands = |l: &LibraryLookup| {
            l.steps
                .iter()
                .filter_map(|s| match s {
                    SearchStep::Candidate(c) => Some(c.clone()),
                    SearchStep::Error(..) => None,
                })
                .collect::<Vec<_>>()
        };
        let f = library_candidates("$libdir/vector", LibraryRef::Function, &path, LIB);
        assert_eq!(f.name, "vector");
        assert_eq!(
            cands(&f),
            vec![
                format!("{LIB}/vector"),
                "/ext/a/lib/vector".to_string(),
                format!("{LIB}/vector.so"),
                "/ext/a/lib/vector.so".to_string(),
            ]
        );
        // LOAD keeps the prefix: only pkglibdir.
        let l = library_candidates("$libdir/postgis-3", LibraryRef::Load, &path, LIB);
        assert_eq!(
            cands(&l),
            vec![format!("{LIB}/postgis-3"), format!("{LIB}/postgis-3.so")]
        );
        // Nested names are never stripped.
        let n = library_candidates("$libdir/plugins/x", LibraryRef::Function, &path, LIB);
        assert_eq!(
            cands(&n),
            vec![format!("{LIB}/plugins/x"), format!("{LIB}/plugins/x.so")]
        );
        // Absolute names are used as they are.
        let a = library_candidates("/opt/x.so", LibraryRef::Function, &path, LIB);
        assert_eq!(cands(&a), vec!["/opt/x.so".to_string(), "/opt/x.so.so".to_string()]);
    }

    #[test]
    fn library_lookup_stops_where_postgres_raises() {
        let path = expand_library_path("$libdir:rel:/ok", LIB);
        let f = library_candidates("x", LibraryRef::Function, &path, LIB);
        // Found before the bad element: no error.
        assert_eq!(f.resolve(|c| c == format!("{LIB}/x")), Ok(Some(format!("{LIB}/x"))));
        // Only after it: PostgreSQL raises at element 2 before ever trying /ok.
        assert_eq!(f.resolve(|c| c == "/ok/x"), Err((2, ElementProblem::Relative)));
        // An empty setting: no search, the bare name goes to dlopen.
        let empty = expand_library_path("", LIB);
        assert_eq!(
            library_candidates("x", LibraryRef::Function, &empty, LIB).resolve(|_| true),
            Ok(None)
        );
        // Not found anywhere.
        let good = expand_library_path("$libdir", LIB);
        assert_eq!(
            library_candidates("x", LibraryRef::Function, &good, LIB).resolve(|_| false),
            Ok(None)
        );
    }
}
