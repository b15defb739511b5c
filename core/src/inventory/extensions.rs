//! The extensions: every control file on `extension_control_path`, parsed, with its scripts,
//! versions and the libraries they name.

use super::*;

impl Inventory {
    pub(super) fn collect_extensions(
        &mut self,
        settings: &Settings,
        root: &str,
        script_dirs: &mut HashMap<String, ScriptDirListing>,
        cache: &mut ReadCache,
        resolver: &mut Resolver<'_>,
        depth: Depth,
    ) {
        // name → index of the copy PostgreSQL uses.
        let mut visible: HashMap<String, usize> = HashMap::new();
        let mut listed: BTreeSet<String> = BTreeSet::new();
        // The first element at which a control-file lookup raises ("not an absolute path").
        let mut raising: Option<usize> = None;
        for e in &settings.control {
            if matches!(e.problem, Some(ElementProblem::Duplicate)) {
                continue;
            }
            if matches!(e.problem, Some(ElementProblem::Relative)) && raising.is_none() {
                raising = Some(e.position);
            }
            let Some(dir) = e.searched.as_deref() else { continue };
            if cache.dir_problem(dir).is_some() {
                continue; // reported by extension_paths and on the image
            }
            let Some(names) = self.sorted_listing(dir, cache) else {
                continue;
            };
            for n in names {
                let Some(name) = n.text.strip_suffix(".control") else {
                    continue;
                };
                if name.contains("--") {
                    continue; // a secondary control file
                }
                let control_path = format!("{dir}/{}", n.text);
                let mut ext = Extension {
                    name: name.to_string(),
                    image: image_of(dir, root).map(|(i, _)| i),
                    is_system: e.is_system(),
                    position: e.position,
                    control_path: control_path.clone(),
                    script_dir: None,
                    control: None,
                    installable_versions: Vec::new(),
                    install_path: None,
                    installed_version: None,
                    update_path: None,
                    module_library: None,
                    references: Vec::new(),
                    file_reads: Vec::new(),
                    visible: false,
                    listed: listed.insert(name.to_string()),
                    shadowed_by: None,
                    problems: Vec::new(),
                };
                if depth == Depth::Images {
                    self.extensions.push(ext); // a row of its image: counted, not read
                    continue;
                }
                let real_path = Path::new(dir).join(&n.raw);
                if !n.utf8 {
                    ext.problems.push(Problem::error(
                        Code::NonUtf8Name,
                        "the control file's name is not valid UTF-8; the extension cannot be named in SQL",
                    ));
                }
                match visible.get(name) {
                    Some(&i) => ext.shadowed_by = Some(self.extensions[i].control_path.clone()),
                    None if fs::metadata(&real_path).map(|m| !m.is_dir()).unwrap_or(false) && n.utf8 => {
                        ext.visible = true;
                        visible.insert(name.to_string(), self.extensions.len());
                    }
                    None => {}
                }
                if ext.visible
                    && let Some(pos) = raising
                    && pos < e.position
                {
                    ext.problems.push(Problem::error(
                        Code::PathError,
                        format!(
                            "CREATE EXTENSION fails before reaching this file: element {pos} of extension_control_path \
                             is not an absolute path"
                        ),
                    ));
                }
                if ext.visible && e.problem == Some(ElementProblem::Relative) {
                    ext.problems.push(Problem::error(
                        Code::PathError,
                        format!("found through relative element {}: CREATE EXTENSION fails", e.position),
                    ));
                }
                read_extension(&mut ext, &real_path, dir, settings, script_dirs, cache, resolver);
                self.extensions.push(ext);
            }
        }
        if depth == Depth::Images {
            return;
        }
        // `requires` must name an extension PostgreSQL can find.
        let names: BTreeSet<String> = visible.keys().cloned().collect();
        for ext in self.extensions.iter_mut().filter(|x| x.visible) {
            let Some(c) = &ext.control else { continue };
            for r in &c.requires {
                if !names.contains(r) && !settings.installed.contains_key(r) {
                    ext.problems.push(Problem::error(
                        Code::RequiresMissing,
                        format!("requires extension \"{r}\", which is neither available nor installed"),
                    ));
                }
            }
        }
    }
}

/// Reads a control file or script of an image: never blocking on a FIFO or device, never more
/// than `cap` bytes ([`fsinfo::read_untrusted`]).
fn read_capped(path: &str, cap: u64) -> std::io::Result<Vec<u8>> {
    fsinfo::read_untrusted(Path::new(path), cap)
}

/// What PostgreSQL itself does with a file pgext refused to read, for the problem message.
fn refusal_consequence(e: &std::io::Error) -> &'static str {
    match fsinfo::refused(e) {
        Some(fsinfo::Refused::NotRegular { what: "FIFO" }) => {
            "; PostgreSQL would block reading it, uninterruptibly (not even pg_terminate_backend ends the wait)"
        }
        Some(fsinfo::Refused::NotRegular { .. }) => "; PostgreSQL would read a device or fail",
        Some(fsinfo::Refused::PseudoFile { .. }) => "; PostgreSQL would read the server's own state",
        _ => "",
    }
}

/// Parses the control file and everything that follows from it.
fn read_extension(
    ext: &mut Extension,
    real_path: &Path,
    control_dir: &str,
    settings: &Settings,
    script_dirs: &mut HashMap<String, ScriptDirListing>,
    cache: &mut ReadCache,
    resolver: &mut Resolver<'_>,
) {
    // pg_available_extensions reads the first-listed copy of each name and fails on it when it
    // cannot be read; CREATE EXTENSION skips copies that do not exist. A copy neither reads can
    // be broken without consequence.
    let listed = ext.listed;
    // Read and parse failures: fatal for the first-listed copy (pg_available_extensions).
    let unreadable = |p: Problem| {
        let mut p = p;
        if !listed {
            p.severity = crate::problem::Severity::Warning;
        } else if !p.message.contains("pg_available_extensions") {
            p.message
                .push_str(" (pg_available_extensions fails while this file is first on the path)");
        }
        p
    };
    // Everything else matters only for the copy CREATE EXTENSION uses.
    let visible = ext.visible;
    let sev = |p: Problem| {
        let mut p = p;
        if !visible {
            p.severity = crate::problem::Severity::Warning;
        }
        p
    };
    let control_key = fs::metadata(real_path)
        .ok()
        .filter(|m| !m.is_dir())
        .map(|m| FileKey::from_metadata(&m));
    let cached = control_key.and_then(|k| cache.controls.get(&(ext.control_path.clone(), k)).cloned());
    let bytes = match fs::metadata(real_path) {
        _ if cached.is_some() => Vec::new(),
        Ok(m) if m.is_dir() => {
            ext.problems.push(unreadable(Problem::error(
                Code::ControlNotAFile,
                "a directory where the control file should be",
            )));
            return;
        }
        _ => match fsinfo::read_untrusted(real_path, MAX_CONTROL_BYTES) {
            Ok(b) => b,
            // pgext's own cap: PostgreSQL reads it, with what outcome pgext cannot tell.
            Err(err) if matches!(fsinfo::refused(&err), Some(fsinfo::Refused::TooLarge { .. })) => {
                ext.problems.push(sev(Problem::warning(
                    Code::FileTooLarge,
                    format!("extension control file not read: {err}; PostgreSQL reads it, pgext does not"),
                )));
                return;
            }
            Err(err) => {
                ext.problems.push(unreadable(Problem::error(
                    fsinfo::problem_code(&err, Code::ControlUnreadable),
                    format!(
                        "could not read extension control file: {err}{}",
                        refusal_consequence(&err)
                    ),
                )));
                return;
            }
        },
    };
    let parsed = match cached {
        Some(c) => c,
        None => {
            let parsed =
                control::parse_control(&bytes, ControlKind::Primary).map_err(|e| e.pg_message(&ext.control_path));
            // Only what provably did not change while it was read.
            if let Some(k) = control_key
                && settled(&k)
                && fs::metadata(real_path)
                    .map(|m| FileKey::from_metadata(&m) == k)
                    .unwrap_or(false)
            {
                cache.controls.insert((ext.control_path.clone(), k), parsed.clone());
            }
            parsed
        }
    };
    let primary = match parsed {
        Ok(c) => c,
        Err(msg) => {
            let msg = if listed {
                format!("{msg} (pg_available_extensions and CREATE EXTENSION fail while this file is on the path)")
            } else {
                format!("{msg} (harmless while shadowed: PostgreSQL never reads it)")
            };
            ext.problems.push(unreadable(Problem::error(Code::ControlInvalid, msg)));
            return;
        }
    };
    let script_dir = scripts::script_directory(control_dir, primary.directory.as_deref());
    let dir_key = fs::metadata(&script_dir).ok().map(|m| FileKey::from_metadata(&m));
    let set_key = dir_key.map(|k| (script_dir.clone(), k, ext.name.clone()));
    let cached_set = set_key.as_ref().and_then(|k| cache.script_sets.get(k).cloned());
    let names = match &cached_set {
        Some(_) => Ok(Vec::new()),
        None => script_dirs
            .entry(script_dir.clone())
            .or_insert_with(|| match cache.list_dir(&script_dir) {
                Ok(n) => Ok(n.into_iter().filter(|n| n.utf8).map(|n| n.text).collect()),
                Err(err) if too_many_entries(&err) => Err((Code::TooManyEntries, err.to_string())),
                Err(err) => Err((Code::ScriptDirUnreadable, err.to_string())),
            })
            .clone(),
    };
    ext.script_dir = Some(script_dir.clone());
    let names = match names {
        Ok(n) => n,
        Err((code, err)) => {
            ext.problems.push(sev(Problem::error(
                code,
                format!("cannot list script directory {script_dir}: {err}"),
            )));
            ext.control = Some(primary);
            return;
        }
    };
    let set = match cached_set {
        Some(set) => set,
        None => {
            let set = ScriptSet::from_file_names(&ext.name, names.iter().map(String::as_str));
            if let (Some(k), Some(dk)) = (set_key, dir_key)
                && settled(&dk)
            {
                cache.script_sets.insert(k, set.clone());
            }
            set
        }
    };
    for p in set.problems() {
        ext.problems.push(Problem::warning(p.code(), p.to_string()));
    }
    ext.installable_versions = set.installable_versions().into_iter().map(|v| v.version).collect();

    // PostgreSQL reads the default version's secondary control file on top of the primary one.
    let mut control = primary;
    // Scripts already reported as not regular files (not to be reported twice).
    let mut flagged = Vec::new();
    if let Some(dv) = control.default_version.clone() {
        if let Some(file) = set.secondary_control_file(&dv) {
            let path = format!("{script_dir}/{file}");
            match read_capped(&path, MAX_CONTROL_BYTES) {
                Ok(b) => match control::merge_secondary(&control, &b) {
                    Ok(merged) => control = merged,
                    Err(e) => ext
                        .problems
                        .push(sev(Problem::error(Code::ControlInvalid, e.pg_message(&path)))),
                },
                Err(err) => ext.problems.push(sev(Problem::error(
                    fsinfo::problem_code(&err, Code::ControlUnreadable),
                    format!(
                        "could not read secondary control file {path}: {err}{}",
                        refusal_consequence(&err)
                    ),
                ))),
            }
        }
        ext.install_path = set.install_path(&dv);
        if let Some(steps) = ext.install_path.clone() {
            flagged = check_script_files(ext, &set, &script_dir, &steps);
        }
        // Too many versions to search: reported as such (above), not as "not installable".
        if ext.install_path.is_none() && !set.too_many_versions() {
            ext.problems.push(sev(Problem::error(
                Code::DefaultVersionNotInstallable,
                format!(
                    "no installation script nor update path for default version \"{dv}\" in {script_dir}: \
                         CREATE EXTENSION fails"
                ),
            )));
        }
    } else {
        ext.problems.push(sev(Problem::error(
            Code::NoDefaultVersion,
            "no default_version: CREATE EXTENSION fails unless VERSION is given",
        )));
    }

    if let Some(mp) = control.module_pathname.clone() {
        match resolver.resolve(&mp, LibraryRef::Function) {
            Ok(Some(f)) => ext.module_library = Some(f),
            // module_pathname loads nothing by itself (it is substituted for MODULE_PATHNAME
            // in scripts): a warning here; a script that loads it makes it an error in compat.
            Ok(None) => ext.problems.push(Problem::warning(
                Code::LibraryNotFound,
                format!("module_pathname '{mp}' matches no file on dynamic_library_path"),
            )),
            Err((pos, p)) => ext.problems.push(Problem::warning(
                Code::LibrarySearchError,
                format!("loading '{mp}' fails at element {pos} of dynamic_library_path ({p})"),
            )),
        }
    }

    if ext.visible {
        if let Some(installed) = settings.installed.get(&ext.name) {
            ext.installed_version = Some(installed.clone());
            if let Some(dv) = &control.default_version {
                ext.update_path = set.update_path(installed, dv);
                if ext.update_path.is_none() {
                    ext.problems.push(Problem::warning(
                        Code::NoUpdatePath,
                        format!("no update path from installed version \"{installed}\" to \"{dv}\""),
                    ));
                }
            }
        }
        if settings.with_references
            && !set.too_many_versions()
            && settings
                .references_for
                .as_ref()
                .is_none_or(|only| only.contains(&ext.name))
        {
            // A data file the scripts read may sit beside the control file or the scripts.
            let image_dirs = [script_dir.as_str(), control_dir];
            let found = script_references(
                &set,
                &script_dir,
                control.module_pathname.as_deref(),
                &flagged,
                cache,
                resolver,
                settings,
                &image_dirs,
            );
            ext.references = found.references;
            ext.file_reads = found.file_reads;
            ext.problems.extend(found.problems);
        }
    }
    ext.control = Some(control);
}

/// The scripts `CREATE EXTENSION` runs for the default version must be regular files:
/// PostgreSQL reads each whole, and a FIFO would block it for good. `stat` only; nothing is opened.
/// Returns the names of the files reported.
fn check_script_files(ext: &mut Extension, set: &ScriptSet, script_dir: &str, steps: &[String]) -> Vec<String> {
    let mut flagged = Vec::new();
    let mut files = Vec::new();
    if let Some(first) = steps.first() {
        files.push(set.install_script_name(first));
    }
    for pair in steps.windows(2) {
        files.push(set.update_script_name(&pair[0], &pair[1]));
    }
    for file in files {
        let path = format!("{script_dir}/{file}");
        if let Ok(m) = fs::metadata(&path)
            && !m.is_file()
        {
            let what = fsinfo::kind_name(m.file_type());
            let consequence = if m.file_type().is_fifo() {
                "CREATE EXTENSION would block reading it, uninterruptibly"
            } else {
                "CREATE EXTENSION cannot run it"
            };
            let p = Problem::error(
                Code::NotRegularFile,
                format!("script {file} is a {what}, not a regular file: {consequence}"),
            );
            ext.problems.push(if ext.visible {
                p
            } else {
                Problem::warning(p.code, p.message)
            });
            flagged.push(file);
        }
    }
    flagged
}

/// What [`script_references`] finds in an extension's scripts.
struct ScriptsFound {
    references: Vec<ScriptReference>,
    file_reads: Vec<ScriptFileRead>,
    problems: Vec<Problem>,
}

/// Library references and server file reads of every script, with a problem for each script
/// that could not be scanned (refused, too large, unreadable) and when the per-extension byte
/// budget ran out.
#[allow(clippy::too_many_arguments)] // the collection's state, passed down as the other readers get it
fn script_references(
    set: &ScriptSet,
    script_dir: &str,
    module_pathname: Option<&str>,
    already_reported: &[String],
    cache: &mut ReadCache,
    resolver: &mut Resolver<'_>,
    settings: &Settings,
    image_dirs: &[&str],
) -> ScriptsFound {
    let mut out = Vec::new();
    let mut file_reads = Vec::new();
    let mut problems = Vec::new();
    let mut budget = MAX_SCRIPT_BYTES_PER_EXTENSION;
    let mut bytes = Vec::new();
    for f in set.files() {
        if matches!(f.kind, ScriptKind::SecondaryControl { .. }) || already_reported.contains(&f.file_name) {
            continue;
        }
        let path = format!("{script_dir}/{}", f.file_name);
        let Ok(meta) = fs::metadata(&path) else { continue };
        // The module_pathname is substituted into the references: part of the key.
        let key = (
            format!("{path}\0{}", module_pathname.unwrap_or("")),
            FileKey::from_metadata(&meta),
        );
        let refs = match cache.references.get(&key) {
            Some(r) => r.clone(),
            None => {
                if meta.len() > budget && meta.len() <= MAX_SCRIPT_BYTES {
                    problems.push(Problem::warning(
                        Code::ReferencesIncomplete,
                        format!(
                            "{}: more than {MAX_SCRIPT_BYTES_PER_EXTENSION} bytes of scripts; the rest were not \
                             scanned for the libraries they name",
                            f.file_name
                        ),
                    ));
                    break;
                }
                if let Err(err) = fsinfo::read_untrusted_into(Path::new(&path), MAX_SCRIPT_BYTES, &mut bytes) {
                    {
                        problems.push(Problem::warning(
                            fsinfo::problem_code(&err, Code::ScriptUnreadable),
                            format!(
                                "script {} cannot be scanned for the libraries it names: {err}{}",
                                f.file_name,
                                refusal_consequence(&err)
                            ),
                        ));
                        continue;
                    }
                }
                budget = budget.saturating_sub(bytes.len() as u64);
                let refs = scripts::scan_script_in(&mut bytes, module_pathname);
                // Only what provably did not change while it was read.
                if fs::metadata(&path)
                    .map(|m| FileKey::from_metadata(&m) == key.1)
                    .unwrap_or(false)
                {
                    cache.references.insert(key, refs.clone());
                }
                refs
            }
        };
        file_reads.extend(datafiles::look_up(&f.file_name, &refs.file_reads, settings, image_dirs));
        for r in refs.libraries {
            let how = match r.kind {
                ReferenceKind::Function => LibraryRef::Function,
                ReferenceKind::Load => LibraryRef::Load,
            };
            let (resolved, search_error) = match resolver.resolve(&r.name, how) {
                Ok(f) => (f, None),
                Err(e) => (None, Some(e)),
            };
            out.push(ScriptReference {
                script: f.file_name.clone(),
                line: r.line,
                kind: r.kind,
                name: r.name,
                resolved,
                search_error,
            });
        }
    }
    ScriptsFound {
        references: out,
        file_reads,
        problems,
    }
}
