//! What a statement will read and load, resolved before it runs: the control files, scripts and
//! libraries of `CREATE EXTENSION [CASCADE]`, `ALTER EXTENSION … UPDATE [TO]`, `LOAD` and
//! `CREATE FUNCTION … LANGUAGE C AS 'file'`, exactly as PostgreSQL 18 will pick them.
//!
//! The port follows `src/backend/commands/extension.c`: `find_extension_control_filename()`
//! (first match on `extension_control_path`), `CreateExtensionInternal()` (the install script of
//! the requested version, else `find_install_path()`'s start version and update chain; the
//! requirements of the *start* version's control file, created first with `CASCADE`),
//! `ApplyExtensionUpdates()` (each step reads the control file of the version it leads to, for
//! `module_pathname` and `requires`) and `ExecAlterExtensionStmt()` (update path from the
//! installed version to `TO` or the primary control file's `default_version`); and
//! `src/backend/utils/fmgr/dfmgr.c` for the libraries (see [`crate::paths::library_candidates`]).
//!
//! Where PostgreSQL would fail before loading anything more (no control file, no path, a missing
//! requirement without `CASCADE`, a cycle), the plan stops and says so: the files listed up to
//! there are the ones the server reads before it raises.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;

use crate::control::{self, ControlFile, ControlKind};
use crate::inventory::pg_file_exists;
use crate::paths::{self, ElementProblem, LibraryRef, PathElement};
use crate::scripts::{self, ReferenceKind, ScriptSet};

/// Largest control file read.
const MAX_CONTROL_BYTES: u64 = 1 << 20;
/// Largest script read.
const MAX_SCRIPT_BYTES: u64 = 64 << 20;

/// The session's view of the server, as the statement will see it.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// `extension_control_path`, expanded.
    pub control: &'a [PathElement],
    /// `dynamic_library_path`, expanded.
    pub library: &'a [PathElement],
    /// `$libdir`.
    pub pkglibdir: &'a str,
    /// Extensions installed in the current database: name → version.
    pub installed: &'a HashMap<String, String>,
}

/// What a planned file is to the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    /// A primary or secondary control file.
    #[strum(serialize = "control file")]
    Control,
    /// An install or update script (run as the installing role, often a superuser).
    Script,
    /// A shared library that will be `dlopen`ed.
    Library,
}

impl Role {
    /// Stable name used in messages.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One file the statement uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The extension it belongs to (`None` for `LOAD` and a plain C function).
    pub extension: Option<String>,
    /// What it is.
    pub role: Role,
    /// Full path as the server opens it.
    pub path: String,
    /// Where it comes from: `<script>:<line>` for a library a script names, else empty.
    pub via: String,
}

/// Everything the statement will read or load, in the order the server does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The files.
    pub files: Vec<PlannedFile>,
    /// Extensions the statement creates or updates, requirements first.
    pub extensions: Vec<String>,
    /// Why the server will raise before the end, if it will.
    pub failure: Option<String>,
}

fn read_capped(path: &str, cap: u64) -> std::io::Result<Vec<u8>> {
    let f = fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(std::io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(buf)
}

/// `find_extension_control_filename()`: the directory and path of the first `<name>.control` on
/// `extension_control_path`. `Err` where the lookup raises (a relative element before a match).
pub fn find_control(env: &Env<'_>, name: &str) -> Result<Option<(String, String)>, String> {
    for e in env.control {
        if matches!(e.problem, Some(ElementProblem::Relative)) {
            return Err(format!(
                "component in parameter \"extension_control_path\" is not an absolute path (element {})",
                e.position
            ));
        }
        let Some(dir) = e.searched.as_deref() else { continue };
        let path = format!("{dir}/{name}.control");
        if pg_file_exists(&path) {
            return Ok(Some((dir.to_string(), path)));
        }
    }
    Ok(None)
}

/// An extension's primary control file and scripts, as read once per statement.
struct Found {
    primary: ControlFile,
    script_dir: String,
    set: ScriptSet,
}

impl Found {
    /// `read_extension_aux_control_file()`: the primary control merged with `<name>--<v>.control`.
    fn control_for(&self, version: &str, plan: &mut Plan, ext: &str) -> Result<ControlFile, String> {
        let Some(file) = self.set.secondary_control_file(version) else {
            return Ok(self.primary.clone());
        };
        let path = format!("{}/{file}", self.script_dir);
        plan.push(ext, Role::Control, &path, "");
        let bytes = read_capped(&path, MAX_CONTROL_BYTES).map_err(|e| format!("could not read {path}: {e}"))?;
        control::merge_secondary(&self.primary, &bytes).map_err(|e| e.pg_message(&path))
    }
}

impl Plan {
    fn push(&mut self, ext: &str, role: Role, path: &str, via: &str) {
        let f = PlannedFile {
            extension: Some(ext.to_string()),
            role,
            path: path.to_string(),
            via: via.to_string(),
        };
        if !self.files.contains(&f) {
            self.files.push(f);
        }
    }

    fn fail(mut self, why: String) -> Plan {
        self.failure.get_or_insert(why);
        self
    }
}

fn find(env: &Env<'_>, name: &str, plan: &mut Plan) -> Result<Found, String> {
    let (dir, path) = match find_control(env, name)? {
        Some(found) => found,
        None => return Err(format!("extension \"{name}\" is not available")),
    };
    plan.push(name, Role::Control, &path, "");
    let bytes = read_capped(&path, MAX_CONTROL_BYTES).map_err(|e| format!("could not read {path}: {e}"))?;
    let primary = control::parse_control(&bytes, ControlKind::Primary).map_err(|e| e.pg_message(&path))?;
    let script_dir = scripts::script_directory(&dir, primary.directory.as_deref());
    let names: Vec<String> = fs::read_dir(&script_dir)
        .map_err(|e| format!("could not open directory \"{script_dir}\": {e}"))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    let set = ScriptSet::from_file_names(name, names.iter().map(String::as_str));
    Ok(Found {
        primary,
        script_dir,
        set,
    })
}

/// Adds a script and the libraries it names (resolved with the caller's rule for each kind).
fn add_script(env: &Env<'_>, plan: &mut Plan, ext: &str, path: &str, module_pathname: Option<&str>) {
    plan.push(ext, Role::Script, path, "");
    let Ok(mut bytes) = read_capped(path, MAX_SCRIPT_BYTES) else {
        return; // the server fails to read it too, before running anything of it
    };
    let script = path.rsplit('/').next().unwrap_or(path);
    for r in scripts::library_references_in(&mut bytes, module_pathname) {
        let how = match r.kind {
            ReferenceKind::Function => LibraryRef::Function,
            ReferenceKind::Load => LibraryRef::Load,
        };
        if let Ok(Some(lib)) =
            paths::library_candidates(&r.name, how, env.library, env.pkglibdir).resolve(pg_file_exists)
        {
            plan.push(ext, Role::Library, &lib, &format!("{script}:{}", r.line));
        }
    }
}

/// The plan of `CREATE EXTENSION name [VERSION version] [CASCADE]`. An extension that is already
/// installed gives an empty plan (the server only raises or, with `IF NOT EXISTS`, notices).
pub fn create_extension(env: &Env<'_>, name: &str, version: Option<&str>, cascade: bool) -> Plan {
    let mut plan = Plan::default();
    if env.installed.contains_key(name) {
        return plan;
    }
    let mut created = HashSet::new();
    match create_into(env, name, version, cascade, &mut Vec::new(), &mut created, &mut plan) {
        Ok(()) => plan,
        Err(why) => plan.fail(why),
    }
}

fn create_into(
    env: &Env<'_>,
    name: &str,
    version: Option<&str>,
    cascade: bool,
    parents: &mut Vec<String>,
    created: &mut HashSet<String>,
    plan: &mut Plan,
) -> Result<(), String> {
    let found = find(env, name, plan)?;
    let target = match version
        .map(str::to_string)
        .or_else(|| found.primary.default_version.clone())
    {
        Some(v) => v,
        None => return Err(format!("version to install must be specified for extension \"{name}\"")),
    };
    scripts::check_version_name(&target)
        .map_err(|e| format!("invalid extension version name: \"{target}\": {}", e.problem.detail()))?;
    let path = found.set.install_path(&target).ok_or_else(|| {
        format!("extension \"{name}\" has no installation script nor update path for version \"{target}\"")
    })?;
    let start = path[0].clone();
    let control = found.control_for(&start, plan, name)?;
    parents.push(name.to_string());
    let result = (|| {
        require_all(env, name, &control.requires, cascade, parents, created, plan)?;
        add_script(
            env,
            plan,
            name,
            &format!("{}/{}", found.script_dir, found.set.install_script_name(&start)),
            control.module_pathname.as_deref(),
        );
        updates(env, &found, name, &path, cascade, parents, created, plan)
    })();
    parents.pop();
    result?;
    created.insert(name.to_string());
    if !plan.extensions.iter().any(|e| e == name) {
        plan.extensions.push(name.to_string());
    }
    Ok(())
}

/// `get_required_extension()` for each requirement: installed (or created earlier by this
/// statement) ones are used as they are; others are created with `CASCADE`, else the server
/// raises.
fn require_all(
    env: &Env<'_>,
    name: &str,
    requires: &[String],
    cascade: bool,
    parents: &mut Vec<String>,
    created: &mut HashSet<String>,
    plan: &mut Plan,
) -> Result<(), String> {
    for r in requires {
        if env.installed.contains_key(r) || created.contains(r) {
            continue;
        }
        if !cascade {
            return Err(format!("required extension \"{r}\" is not installed"));
        }
        if parents.iter().any(|p| p == r) {
            return Err(format!(
                "cyclic dependency detected between extensions \"{r}\" and \"{name}\""
            ));
        }
        create_into(env, r, None, cascade, parents, created, plan)?;
    }
    Ok(())
}

/// `ApplyExtensionUpdates()` over `versions` (the first is the version in place).
#[allow(clippy::too_many_arguments)]
fn updates(
    env: &Env<'_>,
    found: &Found,
    name: &str,
    versions: &[String],
    cascade: bool,
    parents: &mut Vec<String>,
    created: &mut HashSet<String>,
    plan: &mut Plan,
) -> Result<(), String> {
    for w in versions.windows(2) {
        let control = found.control_for(&w[1], plan, name)?;
        require_all(env, name, &control.requires, cascade, parents, created, plan)?;
        add_script(
            env,
            plan,
            name,
            &format!("{}/{}", found.script_dir, found.set.update_script_name(&w[0], &w[1])),
            control.module_pathname.as_deref(),
        );
    }
    Ok(())
}

/// The plan of `ALTER EXTENSION name UPDATE [TO version]`.
pub fn update_extension(env: &Env<'_>, name: &str, to: Option<&str>) -> Plan {
    let mut plan = Plan::default();
    let Some(from) = env.installed.get(name).cloned() else {
        return plan.fail(format!("extension \"{name}\" does not exist"));
    };
    let found = match find(env, name, &mut plan) {
        Ok(f) => f,
        Err(why) => return plan.fail(why),
    };
    let Some(target) = to.map(str::to_string).or_else(|| found.primary.default_version.clone()) else {
        return plan.fail(format!("version to install must be specified for extension \"{name}\""));
    };
    let Some(steps) = found.set.update_path(&from, &target) else {
        return plan.fail(format!(
            "extension \"{name}\" has no update path from version \"{from}\" to version \"{target}\""
        ));
    };
    if steps.is_empty() {
        return plan; // "version … already installed": nothing runs
    }
    let mut versions = vec![from];
    versions.extend(steps);
    // ALTER EXTENSION passes cascade = false: a new requirement must be installed already.
    let mut created = HashSet::new();
    match updates(
        env,
        &found,
        name,
        &versions,
        false,
        &mut Vec::new(),
        &mut created,
        &mut plan,
    ) {
        Ok(()) => {
            plan.extensions.push(name.to_string());
            plan
        }
        Err(why) => plan.fail(why),
    }
}

/// The plan of loading one library by name with `how`'s rule: `LOAD` and the preload settings
/// ([`LibraryRef::Load`]), or a C function's `AS 'file'` ([`LibraryRef::Function`]). A name
/// that resolves to nothing is handed to `dlopen()` as is: nothing to plan.
pub fn library(env: &Env<'_>, name: &str, how: LibraryRef) -> Plan {
    let mut plan = Plan::default();
    match paths::library_candidates(name, how, env.library, env.pkglibdir).resolve(pg_file_exists) {
        Ok(Some(path)) => plan.files.push(PlannedFile {
            extension: None,
            role: Role::Library,
            path,
            via: String::new(),
        }),
        Ok(None) => {}
        Err((pos, p)) => plan.failure = Some(format!("element {pos} of dynamic_library_path: {p}")),
    }
    plan
}

/// The names in a preload setting (`SplitDirectoriesString()`: comma-separated, trimmed,
/// double quotes removed), with `local_preload_libraries`' `$libdir/plugins/` prefix for names
/// without a directory.
pub fn preload_names(setting: &str, restricted: bool) -> Vec<String> {
    setting
        .split(',')
        .map(|s| s.trim())
        .map(|s| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s))
        .filter(|s| !s.is_empty())
        .map(|s| {
            if restricted && !s.contains('/') {
                format!("$libdir/plugins/{s}")
            } else {
                s.to_string()
            }
        })
        .collect()
}

/// The image a path belongs to: the first directory below `root` (after canonicalisation, so
/// `..` cannot step out), or, when the path is a symbolic link, the image of what it points to.
/// `None` for files outside the root (the server image: `$libdir`, `$system`).
pub fn image_of_path(path: &str, root: &str) -> Option<String> {
    let root = paths::canonicalize_path(root);
    if root.is_empty() || root == "/" || root == "." {
        return None;
    }
    let direct = crate::inventory::image_of(&paths::canonicalize_path(path), &root).map(|(i, _)| i);
    if direct.is_some() {
        return direct;
    }
    let real = fs::canonicalize(path).ok()?;
    let real_root = fs::canonicalize(&root).ok()?;
    let rest = real.strip_prefix(&real_root).ok()?;
    rest.components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fx {
        dir: tempfile::TempDir,
    }

    impl Fx {
        fn new() -> Fx {
            Fx {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn p(&self, rel: &str) -> String {
            format!("{}/{rel}", self.dir.path().display())
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.p(rel);
            fs::create_dir_all(std::path::Path::new(&p).parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        fn ext(&self, image: &str, name: &str, control: &str, scripts: &[(&str, &str)]) {
            self.write(&format!("ext/{image}/share/extension/{name}.control"), control);
            for (file, text) in scripts {
                self.write(&format!("ext/{image}/share/extension/{file}"), text);
            }
        }
        fn paths(&self, images: &[&str]) -> (Vec<PathElement>, Vec<PathElement>) {
            fs::create_dir_all(self.p("sys/extension")).unwrap();
            fs::create_dir_all(self.p("pkglib")).unwrap();
            let c: Vec<String> = images.iter().map(|i| self.p(&format!("ext/{i}/share"))).collect();
            let l: Vec<String> = images.iter().map(|i| self.p(&format!("ext/{i}/lib"))).collect();
            (
                paths::expand_control_path(&format!("$system:{}", c.join(":")), &self.p("sys")),
                paths::expand_library_path(&format!("$libdir:{}", l.join(":")), &self.p("pkglib")),
            )
        }
    }

    fn libs(plan: &Plan) -> Vec<(String, String)> {
        plan.files
            .iter()
            .filter(|f| f.role == Role::Library)
            .map(|f| (f.path.rsplit('/').next().unwrap().to_string(), f.via.clone()))
            .collect()
    }

    #[test]
    fn cascade_follows_requires_across_images_with_the_start_versions_control() {
        let fx = Fx::new();
        fx.ext(
            "a",
            "top",
            "default_version = '2'\nmodule_pathname = '$libdir/top'\n",
            &[
                (
                    "top--1.sql",
                    "CREATE FUNCTION f() RETURNS int AS 'MODULE_PATHNAME' LANGUAGE C;\n",
                ),
                ("top--1--2.sql", "LOAD 'helper';\n"),
                // requires only from the start version's secondary control file
                ("top--1.control", "requires = 'base'\n"),
            ],
        );
        fx.write("ext/a/lib/top.so", "x");
        fx.write("ext/b/lib/helper.so", "x");
        fx.ext(
            "b",
            "base",
            "default_version = '1'\n",
            &[(
                "base--1.sql",
                "CREATE FUNCTION g() RETURNS int AS '$libdir/helper' LANGUAGE C;\n",
            )],
        );
        let (c, l) = fx.paths(&["a", "b"]);
        let installed = HashMap::new();
        let env = Env {
            control: &c,
            library: &l,
            pkglibdir: &fx.p("pkglib"),
            installed: &installed,
        };
        let plan = create_extension(&env, "top", None, true);
        assert_eq!(plan.failure, None);
        assert_eq!(plan.extensions, vec!["base", "top"]);
        assert_eq!(
            libs(&plan),
            vec![
                ("helper.so".to_string(), "base--1.sql:1".to_string()),
                ("top.so".to_string(), "top--1.sql:1".to_string()),
                ("helper.so".to_string(), "top--1--2.sql:1".to_string()),
            ]
        );
        let root = fx.p("ext");
        let images: Vec<Option<String>> = plan.files.iter().map(|f| image_of_path(&f.path, &root)).collect();
        assert!(images.iter().all(|i| i.is_some()));
        // Without CASCADE the server stops at the requirement, before any script.
        let plan = create_extension(&env, "top", None, false);
        assert_eq!(
            plan.failure.as_deref(),
            Some("required extension \"base\" is not installed")
        );
        assert!(plan.files.iter().all(|f| f.role == Role::Control));
        // Installed requirements are not planned again.
        let installed = HashMap::from([("base".to_string(), "1".to_string())]);
        let env = Env {
            installed: &installed,
            ..env
        };
        let plan = create_extension(&env, "top", None, false);
        assert_eq!(plan.extensions, vec!["top"]);
    }

    #[test]
    fn first_control_file_wins_and_update_path_is_the_servers() {
        let fx = Fx::new();
        fx.ext(
            "a",
            "x",
            "default_version = '1.1'\n",
            &[("x--1.0.sql", ""), ("x--1.0--1.1.sql", "LOAD 'xlib';\n")],
        );
        fx.ext("b", "x", "default_version = '9'\n", &[("x--9.sql", "")]);
        fx.write("ext/b/lib/xlib.so", "x");
        let (c, l) = fx.paths(&["a", "b"]);
        let installed = HashMap::from([("x".to_string(), "1.0".to_string())]);
        let env = Env {
            control: &c,
            library: &l,
            pkglibdir: &fx.p("pkglib"),
            installed: &installed,
        };
        let plan = update_extension(&env, "x", None);
        assert_eq!(plan.failure, None);
        assert!(plan.files[0].path.ends_with("/ext/a/share/extension/x.control"));
        assert_eq!(
            libs(&plan),
            vec![("xlib.so".to_string(), "x--1.0--1.1.sql:1".to_string())]
        );
        assert_eq!(image_of_path(&plan.files[2].path, &fx.p("ext")).as_deref(), Some("b"));
        // Already at the target: nothing runs.
        let same = update_extension(&env, "x", Some("1.0"));
        assert!(same.files.iter().all(|f| f.role == Role::Control), "{same:?}");
        // Installed: CREATE EXTENSION does nothing.
        assert!(create_extension(&env, "x", None, true).files.is_empty());
    }

    #[test]
    fn load_keeps_libdir_and_functions_strip_it() {
        let fx = Fx::new();
        fx.write("ext/a/lib/m.so", "x");
        let (c, l) = fx.paths(&["a"]);
        let installed = HashMap::new();
        let env = Env {
            control: &c,
            library: &l,
            pkglibdir: &fx.p("pkglib"),
            installed: &installed,
        };
        assert!(library(&env, "$libdir/m", LibraryRef::Load).files.is_empty());
        let p = library(&env, "$libdir/m", LibraryRef::Function);
        assert_eq!(image_of_path(&p.files[0].path, &fx.p("ext")).as_deref(), Some("a"));
        assert_eq!(library(&env, "m", LibraryRef::Load).files.len(), 1);
        assert_eq!(
            preload_names(" m , \"x y\",/abs/z", true),
            vec!["$libdir/plugins/m", "$libdir/plugins/x y", "/abs/z"]
        );
    }

    #[test]
    fn cycles_and_missing_extensions_fail_like_the_server() {
        let fx = Fx::new();
        fx.ext("a", "p", "default_version = '1'\nrequires = 'q'\n", &[("p--1.sql", "")]);
        fx.ext("a", "q", "default_version = '1'\nrequires = 'p'\n", &[("q--1.sql", "")]);
        let (c, l) = fx.paths(&["a"]);
        let installed = HashMap::new();
        let env = Env {
            control: &c,
            library: &l,
            pkglibdir: &fx.p("pkglib"),
            installed: &installed,
        };
        let plan = create_extension(&env, "p", None, true);
        assert!(plan.failure.unwrap().starts_with("cyclic dependency"));
        let plan = create_extension(&env, "nope", None, true);
        assert_eq!(plan.failure.as_deref(), Some("extension \"nope\" is not available"));
    }

    #[test]
    fn symlinks_into_an_image_belong_to_it() {
        let fx = Fx::new();
        fx.write("ext/a/lib/m.so", "x");
        fs::create_dir_all(fx.p("pkglib")).unwrap();
        std::os::unix::fs::symlink(fx.p("ext/a/lib/m.so"), fx.p("pkglib/m.so")).unwrap();
        assert_eq!(image_of_path(&fx.p("pkglib/m.so"), &fx.p("ext")).as_deref(), Some("a"));
        assert_eq!(image_of_path(&fx.p("ext/../pkglib/x.so"), &fx.p("ext")), None);
        assert_eq!(
            image_of_path(&fx.p("ext/a/../b/x.so"), &fx.p("ext")).as_deref(),
            Some("b")
        );
    }
}
