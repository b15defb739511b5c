//! The libraries: every file on `dynamic_library_path` and in `$libdir`, and their digests.

use super::*;

impl Inventory {
    pub(super) fn collect_libraries(&mut self, settings: &Settings, root: &str, cache: &mut ReadCache, depth: Depth) {
        let mut first_by_name: HashMap<String, String> = HashMap::new();
        for e in &settings.library {
            if e.problem.is_some() {
                continue; // errors and duplicates: nothing new to list
            }
            let Some(dir) = e.searched.as_deref() else { continue };
            let Some(names) = self.sorted_listing(dir, cache) else {
                continue;
            };
            for n in names.into_iter().filter(|n| n.text.ends_with(".so")) {
                let path = format!("{dir}/{}", n.text);
                let mut lib = library_row(
                    &path,
                    &n,
                    image_of(dir, root).map(|(i, _)| i),
                    LibrarySource::LibraryPath(e.position),
                    depth,
                );
                match first_by_name.get(&n.text) {
                    Some(first) => lib.shadowed_by = Some(first.clone()),
                    None if lib.problems.is_empty() => {
                        first_by_name.insert(n.text.clone(), path.clone());
                    }
                    None => {}
                }
                self.libraries.push(lib);
            }
        }
        // Images' OS libraries: not loadable by name, but what their modules link against.
        if root.is_empty() {
            return;
        }
        let Ok(mut images) = cache.list_dir(root) else { return };
        images.sort_by(|a, b| a.text.cmp(&b.text));
        for img in images.iter().filter(|i| i.utf8) {
            let dir = format!("{root}/{}/system", img.text);
            let Some(names) = self.sorted_listing(&dir, cache) else {
                continue;
            };
            for n in names.into_iter().filter(|n| n.text.contains(".so")) {
                let path = format!("{dir}/{}", n.text);
                self.libraries.push(library_row(
                    &path,
                    &n,
                    Some(img.text.clone()),
                    LibrarySource::System,
                    depth,
                ));
            }
        }
    }
}

/// Hashes every examinable library, in parallel, reusing and filling `cache`: a file whose
/// identity (device, inode, size, mtime, ctime) did not change is not read again.
pub fn hash_libraries(
    libs: &mut [Library],
    cache: &mut HashCache,
    threads: usize,
    cancel: &dyn Fn() -> bool,
) -> Result<(), Cancelled> {
    let mut pending: Vec<(usize, FileKey)> = Vec::new();
    for (i, lib) in libs.iter_mut().enumerate() {
        if lib.size.is_none() || !lib.problems.is_empty() {
            continue; // already known unreadable or not a file
        }
        let Ok(meta) = fs::metadata(&lib.path) else { continue };
        let key = FileKey::from_metadata(&meta);
        match cache.get(&key) {
            Some(d) => lib.sha256 = Some(d),
            None => pending.push((i, key)),
        }
    }
    let jobs = pending.iter().map(|(i, _)| libs[*i].path.clone().into()).collect();
    let results = hash::hash_files(jobs, threads, cancel)?;
    for ((i, before), result) in pending.into_iter().zip(results) {
        let lib = &mut libs[i];
        match result {
            Ok((digest, _)) => {
                lib.sha256 = Some(digest);
                // Cache only what provably did not change while it was read.
                if let Ok(meta) = fs::metadata(&lib.path)
                    && FileKey::from_metadata(&meta) == before
                {
                    cache.insert(before, digest);
                }
            }
            Err(err) => lib.problems.push(Problem::error(
                fsinfo::problem_code(&err, Code::Unreadable),
                format!("cannot read the file: {err}"),
            )),
        }
    }
    Ok(())
}

/// A library row; with `Depth::Images` only its place (the file is not examined).
fn library_row(path: &str, n: &Name, image: Option<String>, source: LibrarySource, depth: Depth) -> Library {
    let mut lib = Library {
        path: path.to_string(),
        basename: n.text.clone(),
        image,
        source,
        size: None,
        sha256: None,
        shadowed_by: None,
        referenced_by: Vec::new(),
        problems: Vec::new(),
    };
    if depth == Depth::Images {
        return lib;
    }
    if !n.utf8 {
        lib.problems
            .push(Problem::warning(Code::NonUtf8Name, "the file name is not valid UTF-8"));
    }
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => lib.problems.push(Problem::error(
            Code::NotAFile,
            "a directory where a library should be: PostgreSQL skips it",
        )),
        Ok(m) if !m.is_file() => lib.problems.push(Problem::error(
            Code::NotRegularFile,
            format!(
                "a {} where a library should be: loading it blocks or fails, and pgext does not open it",
                fsinfo::kind_name(m.file_type())
            ),
        )),
        Ok(m) => {
            lib.size = Some(m.len());
            if !fsinfo::access(Path::new(path), libc::R_OK).unwrap_or(false) {
                lib.problems
                    .push(Problem::error(Code::Unreadable, "the server cannot read this file"));
            }
        }
        Err(err) => {
            let code = match err.raw_os_error() {
                Some(libc::ELOOP) => Code::SymlinkLoop,
                Some(libc::ENOENT) => Code::DanglingSymlink,
                _ => Code::Unreadable,
            };
            lib.problems
                .push(Problem::error(code, format!("cannot examine the file: {err}")));
        }
    }
    lib
}
