//! The version graph of an extension's scripts: a port of `get_ext_ver_list()`,
//! `get_ext_ver_info()`, `find_update_path()`, `find_install_path()` and
//! `get_available_versions_for_extension()` (commands/extension.c), over file names.

use super::{MAX_VERSIONS, ScriptFile, ScriptKind, ScriptProblem, check_version_name};
use std::collections::HashMap;

/// A version `pg_available_extension_versions()` lists, and how it is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableVersion {
    /// The version.
    pub version: String,
    /// The versions `CREATE EXTENSION ... VERSION` goes through: the first has an install script
    /// (`<ext>--<first>.sql`), each next one is reached by an update script
    /// (`<ext>--<previous>--<next>.sql`); the last is `version`.
    pub path: Vec<String>,
}

/// One vertex of the version graph (`ExtensionVersionInfo`).
#[derive(Debug, Clone)]
struct Vertex {
    name: String,
    /// Has an install script.
    installable: bool,
    /// Versions reachable through one update script, in file order.
    reachable: Vec<usize>,
}

/// Shortest paths from one start vertex: distance and chosen predecessor per vertex.
struct Paths {
    start: usize,
    dist: Vec<Option<usize>>,
    prev: Vec<Option<usize>>,
}

/// The extension's files in its script directory, and the version graph they define.
#[derive(Debug, Clone)]
pub struct ScriptSet {
    extension: String,
    /// In the server's `evi_list` order: first mention in file order.
    vertices: Vec<Vertex>,
    index: HashMap<String, usize>,
    files: Vec<ScriptFile>,
    problems: Vec<ScriptProblem>,
    /// More than [`MAX_VERSIONS`]: graph searches answer nothing.
    too_many_versions: bool,
}

impl ScriptSet {
    /// Classifies the names of the files in the script directory, as `get_ext_ver_list()` does.
    ///
    /// Only `<ext>--*.sql` and `<ext>--*.control` names concern the extension; others are
    /// skipped. The order of `names` matters only where the server's depends on `readdir()`
    /// order: the order of [`ScriptSet::installable_versions`]. Pass names in directory order to
    /// reproduce the server exactly.
    pub fn from_file_names<'a>(extension: &str, names: impl IntoIterator<Item = &'a str>) -> ScriptSet {
        let mut set = ScriptSet {
            extension: extension.to_owned(),
            vertices: Vec::new(),
            index: HashMap::new(),
            files: Vec::new(),
            problems: Vec::new(),
            too_many_versions: false,
        };
        let prefix = format!("{extension}--");
        let mut controls = Vec::new();
        for name in names {
            let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                continue;
            };
            // The server takes the text after the last '.', which ".sql" / ".control" pins down.
            if let Some(versions) = rest.strip_suffix(".sql") {
                set.add_script(name, versions);
            } else if let Some(version) = rest.strip_suffix(".control") {
                controls.push((name, version));
            }
        }
        for (name, version) in controls {
            if !set.index.contains_key(version) {
                set.problems.push(ScriptProblem::UnusedControlFile {
                    file_name: name.to_owned(),
                    version: version.to_owned(),
                });
            }
            set.files.push(ScriptFile {
                file_name: name.to_owned(),
                kind: ScriptKind::SecondaryControl {
                    version: version.to_owned(),
                },
            });
        }
        if set.vertices.len() > MAX_VERSIONS {
            set.problems.push(ScriptProblem::TooManyVersions {
                count: set.vertices.len(),
            });
            set.too_many_versions = true;
        }
        set
    }

    /// Whether the graph has more than [`MAX_VERSIONS`] versions and is not searched: then
    /// [`ScriptSet::installable_versions`] is empty and every path is `None`.
    pub fn too_many_versions(&self) -> bool {
        self.too_many_versions
    }

    fn add_script(&mut self, file_name: &str, versions: &str) {
        let kind = match versions.split_once("--") {
            None => {
                let v = self.vertex(versions);
                if let Some(vertex) = self.vertices.get_mut(v) {
                    vertex.installable = true;
                }
                ScriptKind::Install {
                    version: versions.to_owned(),
                }
            }
            Some((_, to)) if to.contains("--") => {
                self.problems.push(ScriptProblem::ExtraSeparator {
                    file_name: file_name.to_owned(),
                });
                return;
            }
            Some((from, to)) => {
                let f = self.vertex(from);
                let t = self.vertex(to);
                if let Some(vertex) = self.vertices.get_mut(f) {
                    vertex.reachable.push(t);
                }
                ScriptKind::Update {
                    from: from.to_owned(),
                    to: to.to_owned(),
                }
            }
        };
        let named: Vec<&str> = match &kind {
            ScriptKind::Update { from, to } => vec![from, to],
            ScriptKind::Install { version } | ScriptKind::SecondaryControl { version } => vec![version],
        };
        for version in named {
            if let Err(error) = check_version_name(version) {
                self.problems.push(ScriptProblem::InvalidVersion {
                    file_name: file_name.to_owned(),
                    error,
                });
            }
        }
        self.files.push(ScriptFile {
            file_name: file_name.to_owned(),
            kind,
        });
    }

    /// `get_ext_ver_info()`: the vertex for a version, created at the end of the list if new.
    fn vertex(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.vertices.len();
        self.vertices.push(Vertex {
            name: name.to_owned(),
            installable: false,
            reachable: Vec::new(),
        });
        self.index.insert(name.to_owned(), i);
        i
    }

    /// The extension name the set was built for.
    pub fn extension(&self) -> &str {
        &self.extension
    }

    /// The extension's scripts and secondary control files, scripts in the order given, then
    /// control files. Ignored files are in [`ScriptSet::problems`] only.
    pub fn files(&self) -> &[ScriptFile] {
        &self.files
    }

    /// Files that are ignored by the server or name versions it refuses.
    pub fn problems(&self) -> &[ScriptProblem] {
        &self.problems
    }

    /// Every version named by a script, in the server's graph order.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.vertices.iter().map(|v| v.name.as_str())
    }

    /// Whether `<ext>--<version>.sql` exists.
    pub fn has_install_script(&self, version: &str) -> bool {
        self.index
            .get(version)
            .and_then(|&i| self.vertices.get(i))
            .is_some_and(|v| v.installable)
    }

    /// The name of the secondary control file for `version`, if there is one.
    pub fn secondary_control_file(&self, version: &str) -> Option<&str> {
        self.files.iter().find_map(|f| match &f.kind {
            ScriptKind::SecondaryControl { version: v } if v == version => Some(f.file_name.as_str()),
            _ => None,
        })
    }

    fn name(&self, i: usize) -> &str {
        self.vertices.get(i).map_or("", |v| v.name.as_str())
    }

    fn installable(&self, i: usize) -> bool {
        self.vertices.get(i).is_some_and(|v| v.installable)
    }

    /// `find_update_path()` from `start` to every vertex at once.
    ///
    /// All edges weigh 1, so the server's Dijkstra is a breadth-first search; its tie-break
    /// (among equally short routes, the predecessor whose name sorts first by `strcmp`) does not
    /// depend on visiting order, so the paths are the server's whatever the target. With
    /// `reject_indirect`, installable versions are treated as unreachable.
    fn shortest_paths(&self, start: usize, reject_indirect: bool) -> Paths {
        let n = self.vertices.len();
        let mut dist = vec![None; n];
        let mut prev: Vec<Option<usize>> = vec![None; n];
        if let Some(d) = dist.get_mut(start) {
            *d = Some(0);
        }
        let mut frontier = vec![start];
        let mut level = 0;
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for &u in &frontier {
                let Some(vertex) = self.vertices.get(u) else { continue };
                for &v in &vertex.reachable {
                    if reject_indirect && self.installable(v) {
                        continue;
                    }
                    match dist.get(v).copied().flatten() {
                        None => {
                            if let (Some(d), Some(p)) = (dist.get_mut(v), prev.get_mut(v)) {
                                *d = Some(level + 1);
                                *p = Some(u);
                                next.push(v);
                            }
                        }
                        Some(d) if d == level + 1 => {
                            if let Some(p) = prev.get_mut(v)
                                && p.is_some_and(|old| self.name(u) < self.name(old))
                            {
                                *p = Some(u);
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        Paths { start, dist, prev }
    }

    /// The path to `target` (start excluded), if reachable.
    fn path_to(&self, paths: &Paths, target: usize) -> Option<Vec<String>> {
        paths.dist.get(target).copied().flatten()?;
        let mut steps = Vec::new();
        let mut at = target;
        // Bounded by the vertex count, so a corrupt predecessor chain cannot loop forever.
        for _ in 0..=self.vertices.len() {
            if at == paths.start {
                steps.reverse();
                return Some(steps);
            }
            steps.push(self.name(at).to_owned());
            at = paths.prev.get(at).copied().flatten()?;
        }
        None
    }

    /// `find_install_path()` for every vertex: the chosen start version (with distance) for
    /// each target that has no install script but can be reached from one.
    ///
    /// Among start versions, the shortest path wins; on a tie the start whose name sorts
    /// *last* by `strcmp` (that is what the server's comparison does, whatever its comment says).
    fn install_starts(&self) -> Vec<Option<(usize, usize)>> {
        let mut best: Vec<Option<(usize, usize)>> = vec![None; self.vertices.len()];
        for start in (0..self.vertices.len()).filter(|&i| self.installable(i)) {
            let paths = self.shortest_paths(start, true);
            for (target, slot) in best.iter_mut().enumerate() {
                if self.installable(target) {
                    continue;
                }
                let Some(d) = paths.dist.get(target).copied().flatten() else {
                    continue;
                };
                let better = match *slot {
                    None => true,
                    Some((old_start, old_d)) => d < old_d || (d == old_d && self.name(old_start) < self.name(start)),
                };
                if better {
                    *slot = Some((start, d));
                }
            }
        }
        best
    }

    /// What `pg_available_extension_versions()` lists, in its order: each version with an
    /// install script (in graph order), each followed by the versions without one whose best
    /// install path starts there.
    pub fn installable_versions(&self) -> Vec<AvailableVersion> {
        if self.too_many_versions {
            return Vec::new();
        }
        let starts = self.install_starts();
        let mut out = Vec::new();
        for start in (0..self.vertices.len()).filter(|&i| self.installable(i)) {
            let start_name = self.name(start).to_owned();
            out.push(AvailableVersion {
                version: start_name.clone(),
                path: vec![start_name.clone()],
            });
            let targets: Vec<usize> = (0..self.vertices.len())
                .filter(|&t| starts.get(t).copied().flatten().is_some_and(|(s, _)| s == start))
                .collect();
            if targets.is_empty() {
                continue;
            }
            let paths = self.shortest_paths(start, true);
            for target in targets {
                if let Some(steps) = self.path_to(&paths, target) {
                    let mut path = vec![start_name.clone()];
                    path.extend(steps);
                    out.push(AvailableVersion {
                        version: self.name(target).to_owned(),
                        path,
                    });
                }
            }
        }
        out
    }

    /// The versions `CREATE EXTENSION <ext> VERSION '<target>'` goes through: the first has
    /// the install script that runs, each next one is reached by an update script; the last is
    /// `target`. `None` where the server fails: an invalid version name
    /// ([`check_version_name`]) or "has no installation script nor update path".
    pub fn install_path(&self, target: &str) -> Option<Vec<String>> {
        if self.too_many_versions {
            return None;
        }
        check_version_name(target).ok()?;
        let &t = self.index.get(target)?;
        if self.installable(t) {
            return Some(vec![target.to_owned()]);
        }
        let mut best: Option<(usize, Vec<String>)> = None;
        for start in (0..self.vertices.len()).filter(|&i| self.installable(i)) {
            let Some(steps) = self.path_to(&self.shortest_paths(start, true), t) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((old_start, old)) => {
                    steps.len() < old.len() || (steps.len() == old.len() && self.name(*old_start) < self.name(start))
                }
            };
            if better {
                best = Some((start, steps));
            }
        }
        best.map(|(start, steps)| {
            let mut path = vec![self.name(start).to_owned()];
            path.extend(steps);
            path
        })
    }

    /// The update scripts `ALTER EXTENSION <ext> UPDATE TO '<to>'` runs from installed version
    /// `from`: each element is the version one script leads to (`from` itself excluded), so the
    /// scripts are `<ext>--<from>--<p0>.sql`, `<ext>--<p0>--<p1>.sql`, ... Empty when
    /// `from == to` (the server only says the version is already installed). `None` where the
    /// server fails: `to` is an invalid version name or there is no update path.
    pub fn update_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        if self.too_many_versions {
            return None;
        }
        check_version_name(to).ok()?;
        if from == to {
            return Some(Vec::new());
        }
        let (&f, &t) = (self.index.get(from)?, self.index.get(to)?);
        self.path_to(&self.shortest_paths(f, false), t)
    }

    /// The file name of the install script for `version`.
    pub fn install_script_name(&self, version: &str) -> String {
        format!("{}--{version}.sql", self.extension)
    }

    /// The file name of the update script from `from` to `to`.
    pub fn update_script_name(&self, from: &str, to: &str) -> String {
        format!("{}--{from}--{to}.sql", self.extension)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Code;

    /// pgvector 0.8.0 as packaged: one install script and the whole upgrade history.
    fn pgvector_names() -> Vec<&'static str> {
        vec![
            "vector.control",
            "vector--0.1.0--0.1.1.sql",
            "vector--0.1.1--0.1.3.sql",
            "vector--0.1.3--0.1.4.sql",
            "vector--0.1.4--0.1.5.sql",
            "vector--0.1.5--0.1.6.sql",
            "vector--0.1.6--0.1.7.sql",
            "vector--0.1.7--0.1.8.sql",
            "vector--0.1.8--0.2.0.sql",
            "vector--0.2.0--0.2.1.sql",
            "vector--0.2.1--0.2.2.sql",
            "vector--0.2.2--0.2.3.sql",
            "vector--0.2.3--0.2.4.sql",
            "vector--0.2.4--0.2.5.sql",
            "vector--0.2.5--0.2.6.sql",
            "vector--0.2.6--0.2.7.sql",
            "vector--0.2.7--0.3.0.sql",
            "vector--0.3.0--0.3.1.sql",
            "vector--0.3.1--0.3.2.sql",
            "vector--0.3.2--0.4.0.sql",
            "vector--0.4.0--0.4.1.sql",
            "vector--0.4.1--0.4.2.sql",
            "vector--0.4.2--0.4.3.sql",
            "vector--0.4.3--0.4.4.sql",
            "vector--0.4.4--0.5.0.sql",
            "vector--0.5.0--0.5.1.sql",
            "vector--0.5.1--0.6.0.sql",
            "vector--0.6.0--0.6.1.sql",
            "vector--0.6.1--0.6.2.sql",
            "vector--0.6.2--0.7.0.sql",
            "vector--0.7.0--0.7.1.sql",
            "vector--0.7.1--0.7.2.sql",
            "vector--0.7.2--0.7.3.sql",
            "vector--0.7.3--0.7.4.sql",
            "vector--0.7.4--0.8.0.sql",
            "vector--0.8.0.sql",
            // Another extension's files in the same directory.
            "vectorscale--0.1.0.sql",
            "pg_stat_statements--1.4.sql",
        ]
    }

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pgvector_layout() {
        let set = ScriptSet::from_file_names("vector", pgvector_names());
        assert!(set.problems().is_empty(), "{:?}", set.problems());
        assert_eq!(set.files().len(), 35);
        assert_eq!(
            set.installable_versions(),
            vec![AvailableVersion {
                version: "0.8.0".into(),
                path: v(&["0.8.0"])
            }]
        );
        assert_eq!(set.install_path("0.8.0"), Some(v(&["0.8.0"])));
        assert_eq!(set.install_path("0.7.4"), None, "only upgrades lead to 0.7.4");
        assert_eq!(set.install_path("9.9"), None);
        assert_eq!(set.update_path("0.7.2", "0.8.0"), Some(v(&["0.7.3", "0.7.4", "0.8.0"])));
        assert_eq!(set.update_path("0.1.0", "0.1.4"), Some(v(&["0.1.1", "0.1.3", "0.1.4"])));
        assert_eq!(set.update_path("0.8.0", "0.8.0"), Some(vec![]));
        assert_eq!(set.update_path("0.8.0", "0.7.4"), None, "no downgrade scripts");
        assert_eq!(set.update_path("0.1.2", "0.8.0"), None, "0.1.2 is not in the graph");
        assert_eq!(set.update_path("0.7.4", "0.8.0/.."), None, "invalid target name");
        assert!(set.has_install_script("0.8.0"));
        assert!(!set.has_install_script("0.7.4"));
        assert_eq!(set.versions().next(), Some("0.1.0"));
        assert_eq!(set.install_script_name("0.8.0"), "vector--0.8.0.sql");
        assert_eq!(set.update_script_name("0.7.4", "0.8.0"), "vector--0.7.4--0.8.0.sql");
    }

    #[test]
    fn upgrade_chains_and_install_paths() {
        // (label, file names, target, expected install path)
        type Case<'a> = (&'a str, Vec<&'a str>, &'a str, Option<Vec<String>>);
        let cases: Vec<Case<'_>> = vec![
            (
                "only update scripts: nothing installable",
                vec!["e--1--2.sql", "e--2--3.sql"],
                "3",
                None,
            ),
            (
                "install older version, then update",
                vec!["e--1.0.sql", "e--1.0--1.1.sql", "e--1.1--1.2.sql"],
                "1.2",
                Some(v(&["1.0", "1.1", "1.2"])),
            ),
            (
                "direct install script preferred over shorter chain",
                vec!["e--1.0.sql", "e--1.0--1.1.sql", "e--1.1.sql"],
                "1.1",
                Some(v(&["1.1"])),
            ),
            (
                "shortest chain wins",
                vec![
                    "e--1.sql",
                    "e--1--2.sql",
                    "e--2--3.sql",
                    "e--3--4.sql",
                    "e--2.5.sql",
                    "e--2.5--4.sql",
                ],
                "4",
                Some(v(&["2.5", "4"])),
            ),
            (
                "equal length: start version sorting last wins",
                vec!["e--a.sql", "e--b.sql", "e--a--x.sql", "e--b--x.sql"],
                "x",
                Some(v(&["b", "x"])),
            ),
            (
                "equal length, other file order: same answer",
                vec!["e--b--x.sql", "e--a--x.sql", "e--b.sql", "e--a.sql"],
                "x",
                Some(v(&["b", "x"])),
            ),
            (
                "a route through another installable version loses to starting there",
                vec![
                    "e--1.sql",
                    "e--2.sql",
                    "e--1--2.sql",
                    "e--2--3.sql",
                    "e--1--9.sql",
                    "e--9--8.sql",
                    "e--8--3.sql",
                ],
                "3",
                Some(v(&["2", "3"])),
            ),
            (
                "long chain from the only install script",
                vec!["e--1.sql", "e--1--2.sql", "e--2--3.sql"],
                "3",
                Some(v(&["1", "2", "3"])),
            ),
            (
                "cycle",
                vec!["e--1.sql", "e--1--2.sql", "e--2--1.sql", "e--2--3.sql", "e--3--2.sql"],
                "3",
                Some(v(&["1", "2", "3"])),
            ),
            ("unreachable", vec!["e--1.sql", "e--5--6.sql"], "6", None),
            ("invalid target name", vec!["e--1.sql", "e--1---2.sql"], "-2", None),
            ("empty target name", vec!["e--.sql"], "", None),
        ];
        for (label, names, target, expected) in cases {
            let set = ScriptSet::from_file_names("e", names);
            assert_eq!(set.install_path(target), expected, "{label}");
        }
    }

    #[test]
    fn update_paths_and_ties() {
        // (label, file names, from, to, expected)
        type Case<'a> = (&'a str, Vec<&'a str>, &'a str, &'a str, Option<Vec<String>>);
        let cases: Vec<Case<'_>> = vec![
            (
                "tie: predecessor whose name sorts first",
                vec!["e--1--b.sql", "e--1--a.sql", "e--a--2.sql", "e--b--2.sql"],
                "1",
                "2",
                Some(v(&["a", "2"])),
            ),
            (
                "tie, reversed file order",
                vec!["e--b--2.sql", "e--a--2.sql", "e--1--a.sql", "e--1--b.sql"],
                "1",
                "2",
                Some(v(&["a", "2"])),
            ),
            (
                "strcmp order, not numeric: 1.10 < 1.9",
                vec!["e--1--1.9.sql", "e--1--1.10.sql", "e--1.9--2.sql", "e--1.10--2.sql"],
                "1",
                "2",
                Some(v(&["1.10", "2"])),
            ),
            (
                "shortcut script wins over a chain",
                vec!["e--1--2.sql", "e--2--3.sql", "e--1--3.sql"],
                "1",
                "3",
                Some(v(&["3"])),
            ),
            (
                "update paths may pass through installable versions",
                vec!["e--1.sql", "e--2.sql", "e--1--2.sql", "e--2--3.sql"],
                "1",
                "3",
                Some(v(&["2", "3"])),
            ),
            (
                "cycle does not loop",
                vec!["e--1--2.sql", "e--2--1.sql", "e--2--3.sql"],
                "1",
                "3",
                Some(v(&["2", "3"])),
            ),
            ("unreachable", vec!["e--1--2.sql", "e--3--4.sql"], "1", "4", None),
            ("downgrade script", vec!["e--2--1.sql"], "2", "1", Some(v(&["1"]))),
            ("same version", vec![], "1", "1", Some(vec![])),
            ("invalid target", vec!["e--1--2-.sql"], "1", "2-", None),
            // The server does not check the installed (from) version's name.
            ("odd from version", vec!["e---1--2.sql"], "-1", "2", Some(v(&["2"]))),
        ];
        for (label, names, from, to, expected) in cases {
            let set = ScriptSet::from_file_names("e", names);
            assert_eq!(set.update_path(from, to), expected, "{label}");
        }
    }

    #[test]
    fn available_versions_order() {
        let set = ScriptSet::from_file_names(
            "e",
            [
                "e--1.0--1.1.sql",
                "e--2.0.sql",
                "e--1.0.sql",
                "e--1.1--1.2.sql",
                "e--2.0--2.1.sql",
                "e--0.9--1.0.sql",
                "e--3.0--3.1.sql",
            ],
        );
        let got: Vec<(String, Vec<String>)> = set
            .installable_versions()
            .into_iter()
            .map(|a| (a.version, a.path))
            .collect();
        // Graph order: 1.0, 1.1, 2.0, 1.2, 2.1, 0.9, 3.0, 3.1. Installable in that order: 1.0,
        // then 2.0; each followed by the versions reached from it, in graph order. 0.9, 3.0 and
        // 3.1 cannot be installed.
        assert_eq!(
            got,
            vec![
                ("1.0".into(), v(&["1.0"])),
                ("1.1".into(), v(&["1.0", "1.1"])),
                ("1.2".into(), v(&["1.0", "1.1", "1.2"])),
                ("2.0".into(), v(&["2.0"])),
                ("2.1".into(), v(&["2.0", "2.1"])),
            ]
        );
        assert_eq!(
            set.versions().collect::<Vec<_>>(),
            vec!["1.0", "1.1", "2.0", "1.2", "2.1", "0.9", "3.0", "3.1"]
        );
    }

    #[test]
    fn bad_names() {
        let set = ScriptSet::from_file_names(
            "e",
            [
                "e--1.sql",
                "e--1--2--3.sql",
                "e--.sql",
                "e---1.sql",
                "e--1--2-.sql",
                "e--1--.sql",
                "e--1.control",
                "e--7.control",
                "e--1--2.control",
                "e--1.sql.bak",
                "e--1.SQL",
                "e-1.sql",
                "e.control",
                "ee--1.sql",
            ],
        );
        let problems: Vec<(&str, &str)> = set
            .problems()
            .iter()
            .map(|p| (p.code().as_str(), p.file_name()))
            .collect();
        assert_eq!(
            problems,
            vec![
                ("extra_separator", "e--1--2--3.sql"),
                ("invalid_version", "e--.sql"),
                ("invalid_version", "e---1.sql"),
                ("invalid_version", "e--1--2-.sql"),
                ("invalid_version", "e--1--.sql"),
                ("unused_control_file", "e--7.control"),
                ("unused_control_file", "e--1--2.control"),
            ]
        );
        // Like the server, odd versions stay in the graph and are listed.
        let listed: Vec<String> = set.installable_versions().into_iter().map(|a| a.version).collect();
        assert_eq!(listed, v(&["1", "2-", "", "-1"]));
        assert_eq!(set.secondary_control_file("1"), Some("e--1.control"));
        assert_eq!(set.secondary_control_file("2"), None);
        let shown = set.problems().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            shown[0],
            "\"e--1--2--3.sql\" names more than two versions and is ignored"
        );
        assert_eq!(
            shown[1],
            "\"e--.sql\": invalid extension version name: \"\": Version names must not be empty."
        );
    }

    /// A hostile script directory: far more versions than any extension has. The graph is not
    /// searched (quadratic), the set says why, and building it stays fast.
    #[test]
    fn too_many_versions_are_refused_quickly() {
        let names: Vec<String> = (0..50_000)
            .map(|i| format!("crowd--{i}.sql"))
            .chain((0..5_000).map(|i| format!("crowd--{i}--x{i}.sql")))
            .collect();
        let start = std::time::Instant::now();
        let set = ScriptSet::from_file_names("crowd", names.iter().map(String::as_str));
        assert!(set.too_many_versions());
        assert_eq!(
            set.problems().last().map(ScriptProblem::code),
            Some(Code::TooManyVersions)
        );
        assert!(set.installable_versions().is_empty());
        assert_eq!(set.install_path("x7"), None);
        assert_eq!(set.update_path("1", "x1"), None);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        // At the limit, a long chain is still searched, iteratively.
        let chain: Vec<String> = std::iter::once("c--0.sql".to_owned())
            .chain((0..MAX_VERSIONS - 1).map(|i| format!("c--{i}--{}.sql", i + 1)))
            .collect();
        let set = ScriptSet::from_file_names("c", chain.iter().map(String::as_str));
        assert!(!set.too_many_versions());
        let last = (MAX_VERSIONS - 1).to_string();
        assert_eq!(set.install_path(&last).map(|p| p.len()), Some(MAX_VERSIONS));
        assert_eq!(set.installable_versions().len(), MAX_VERSIONS);
    }
}
