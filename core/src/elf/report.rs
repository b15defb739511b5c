//! One library, end to end: header, magic block, dependency closure, versions, symbols.

use std::path::Path;
use std::rc::Rc;

use super::dynamic::{DynamicInfo, VersionNeed, parse_tables};
use super::file::{ElfError, ElfFile};
use super::header::{ElfHeader, HeaderMismatch, HostAbi};
use super::magic::{MagicBlock, MagicOutcome, ServerMagic, check_magic, find_magic};
use super::preload::{self, PreloadFacts};
use super::reader::ReadLimits;
use super::resolve::{Dependency, LoadFailure, Loader, ObjectFacts, SearchConfig};
use crate::problem::{Code, Problem, Severity};

/// Everything known about one library, as plain fields (the SQL layer turns it into jsonb/columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryReport {
    /// The path analysed (as given).
    pub path: String,
    /// No error-severity problem: the server should be able to load it.
    pub loadable: bool,
    /// The ELF header, if readable.
    pub header: Option<ElfHeader>,
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_NEEDED`.
    pub needed: Vec<String>,
    /// `DT_RPATH`.
    pub rpath: Vec<String>,
    /// `DT_RUNPATH`.
    pub runpath: Vec<String>,
    /// Versions required per needed file (`libc.so.6` → `GLIBC_2.38`, …).
    pub version_needs: Vec<VersionNeed>,
    /// The decoded magic block, if found and readable.
    pub magic: Option<MagicBlock>,
    /// Every `DT_NEEDED` edge of the library and of what it brings in, with how it resolved.
    pub dependencies: Vec<Dependency>,
    /// Problems in the order the server would meet them: loading (`dlopen`), then the magic block.
    pub problems: Vec<Problem>,
    /// Whether undefined symbols were checked (needs the postgres executable).
    pub symbols_checked: bool,
    /// Objects the library brings into the process (itself included); 0 if not resolved.
    pub objects_loaded: usize,
    /// Bytes read from disk for this report (cached files count once per [`Analyzer`]).
    pub bytes_read: u64,
    /// What `_PG_init` does outside `shared_preload_libraries`.
    pub preload: PreloadFacts,
}

impl LibraryReport {
    pub(crate) fn empty(path: &str) -> LibraryReport {
        LibraryReport {
            path: path.to_owned(),
            loadable: false,
            header: None,
            soname: None,
            needed: Vec::new(),
            rpath: Vec::new(),
            runpath: Vec::new(),
            version_needs: Vec::new(),
            magic: None,
            dependencies: Vec::new(),
            problems: Vec::new(),
            symbols_checked: false,
            objects_loaded: 0,
            bytes_read: 0,
            preload: PreloadFacts::default(),
        }
    }

    /// Problems of error severity.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }

    fn finish(mut self) -> LibraryReport {
        self.loadable = !self.problems.iter().any(|p| p.severity == Severity::Error);
        self
    }
}

/// Analyses libraries against one server, reusing parsed dependencies between calls.
///
/// Not `Send`: one per backend, like the rest of a backend's state.
#[derive(Debug)]
pub struct Analyzer {
    loader: Loader,
    server: ServerMagic,
}

impl Analyzer {
    /// An analyzer for a server environment and its magic block.
    pub fn new(config: SearchConfig, server: ServerMagic) -> Analyzer {
        Analyzer {
            loader: Loader::new(config),
            server,
        }
    }

    /// The loader (ld.so cache, parsed files).
    pub fn loader(&mut self) -> &mut Loader {
        &mut self.loader
    }

    /// Predicts whether the server can load the library at `path`.
    pub fn analyze(&mut self, path: &Path) -> LibraryReport {
        let before = self.loader.bytes_read();
        let libname = path.to_string_lossy().into_owned();
        let mut report = LibraryReport::empty(&libname);
        let limits = self.loader.config().limits;
        let host = self.loader.config().host;
        let parsed = match ElfFile::open(path, limits) {
            Ok(file) => inspect_file(file, &libname, &host, &mut report),
            Err(e) => {
                report.problems.push(load_error(&libname, &e));
                None
            }
        };
        let Some((facts, magic)) = parsed else {
            return report.finish();
        };
        report.bytes_read = facts.bytes_read();
        let closure = self.loader.resolve(Rc::new(facts));
        report.dependencies = closure.dependencies;
        report.symbols_checked = closure.symbols_checked;
        report.objects_loaded = closure.objects_loaded;
        report.bytes_read += self.loader.bytes_read() - before;
        for mut problem in closure.problems {
            if let Some(name) = problem.subject.as_deref()
                && report.preload.dlopens.iter().any(|d| d == name)
                && problem.detail.as_deref() == Some(format!("needed by {libname}").as_str())
            {
                problem.detail = Some(format!(
                    "_PG_init of {libname} opens it with dlopen() (it is not a DT_NEEDED entry){}",
                    if report.preload.raises_anyway {
                        ", and can raise an ERROR when it cannot"
                    } else {
                        "; nothing shows that it fails without it"
                    }
                ));
                if !report.preload.raises_anyway && problem.severity == Severity::Error {
                    problem.severity = Severity::Warning;
                }
            }
            if problem.severity == Severity::Error {
                problem.message = format!("could not load library \"{libname}\": {}", problem.message);
            }
            if problem.code == Code::MissingLibrary && problem.hint.is_none() {
                problem.hint = missing_library_hint(path, problem.subject.as_deref());
            }
            report.problems.push(problem);
        }
        report.problems.extend(check_magic(&libname, &magic, &self.server));
        report.finish()
    }
}

/// Predicts whether a server with this environment and magic block can load `path`.
pub fn analyze_library(path: &Path, config: &SearchConfig, server: &ServerMagic) -> LibraryReport {
    Analyzer::new(config.clone(), *server).analyze(path)
}

/// Analyses one file's bytes without resolving dependencies (for files taken from image layers,
/// and for fuzzing): header, dynamic section, magic block.
pub fn inspect_bytes(bytes: Vec<u8>, host: &HostAbi, server: &ServerMagic, limits: ReadLimits) -> LibraryReport {
    let libname = "<bytes>";
    let mut report = LibraryReport::empty(libname);
    match ElfFile::from_bytes(bytes, limits) {
        Ok(file) => {
            if let Some((facts, magic)) = inspect_file(file, libname, host, &mut report) {
                report.bytes_read = facts.bytes_read();
                report.problems.extend(check_magic(libname, &magic, server));
            }
        }
        Err(e) => report.problems.push(load_error(libname, &e)),
    }
    report.finish()
}

/// Header checks, dynamic section and magic block of an opened file. Returns what resolution needs
/// when the file is loadable at all (right ABI, a shared object).
fn inspect_file(
    mut file: ElfFile,
    libname: &str,
    host: &HostAbi,
    report: &mut LibraryReport,
) -> Option<(ObjectFacts, MagicOutcome)> {
    let header = file.header;
    report.header = Some(header);
    let mut loadable_kind = true;
    if let Err(mismatch) = host.check(&header) {
        let code = match mismatch {
            HeaderMismatch::Class { .. } => Code::WrongClass,
            _ => Code::WrongMachine,
        };
        report.problems.push(
            Problem::error(
                code,
                format!("could not load library \"{libname}\": {libname}: {mismatch}"),
            )
            .with_detail(format!(
                "The server is {} {}.",
                host.class.as_str(),
                host.machine_name()
            )),
        );
        loadable_kind = false;
    }
    if !header.is_dyn() {
        let why = if header.file_type == 2 {
            "cannot dynamically load executable"
        } else {
            "only ET_DYN and ET_EXEC can be loaded"
        };
        report.problems.push(
            Problem::error(
                Code::NotSharedObject,
                format!("could not load library \"{libname}\": {libname}: {why}"),
            )
            .with_detail(format!("ELF type is {}.", header.file_type_name())),
        );
        loadable_kind = false;
    }
    let tables = match parse_tables(&mut file) {
        Ok(t) => t,
        Err(e) => {
            report.problems.push(load_error(libname, &e));
            return None;
        }
    };
    // The library under analysis is the one object whose symbols are listed (the magic block
    // is found through them); its dependencies are only searched by hash.
    let dynamic = match tables.to_info() {
        Ok(d) => d,
        Err(e) => {
            report.problems.push(load_error(libname, &e));
            return None;
        }
    };
    if dynamic.is_pie() {
        report.problems.push(Problem::error(
            Code::NotSharedObject,
            format!("could not load library \"{libname}\": {libname}: cannot dynamically load position-independent executable"),
        ));
        loadable_kind = false;
    }
    fill_dynamic(report, &dynamic);
    let magic = find_magic(&mut file, &dynamic);
    if let MagicOutcome::Found(block) = &magic {
        report.magic = Some(block.clone());
    }
    report.preload = preload::analyze(&mut file, &dynamic);
    if !loadable_kind {
        // Resolution and the magic comparison are moot for a file ld.so rejects; the block is
        // still reported (it tells which server the file was built for).
        report.bytes_read = file.bytes_read();
        return None;
    }
    let mut facts = ObjectFacts::new(Path::new(libname), &file, tables);
    // What _PG_init opens itself is searched like a dependency. Missing, it is an error when
    // _PG_init can raise an ERROR either way (mysql_fdw: "failed to load the mysql query"),
    // a warning otherwise (see `Analyzer::analyze`).
    facts.also_opens(&report.preload.dlopens);
    Some((facts, magic))
}

/// CloudNativePG images ship OS libraries in `<image>/system/` next to `<image>/lib/`; they are
/// found only when the cluster lists `system` in the extension's `ld_library_path`
/// (postgres-extensions-containers#70).
fn missing_library_hint(library: &Path, soname: Option<&str>) -> Option<String> {
    let soname = soname.filter(|s| !s.contains('/'))?;
    let image_root = library.parent()?.parent()?;
    let candidate = image_root.join("system").join(soname);
    candidate.is_file().then(|| {
        format!(
            "{} exists: add \"system\" to the extension's ld_library_path so the server's LD_LIBRARY_PATH includes {}.",
            candidate.display(),
            image_root.join("system").display()
        )
    })
}

fn fill_dynamic(report: &mut LibraryReport, dynamic: &DynamicInfo) {
    report.soname = dynamic.soname.clone();
    report.needed = dynamic.needed.clone();
    report.rpath = dynamic.rpath.clone();
    report.runpath = dynamic.runpath.clone();
    report.version_needs = dynamic.version_needs.clone();
}

fn load_error(libname: &str, e: &ElfError) -> Problem {
    let failure = LoadFailure::from_error(e);
    Problem::error(
        failure.code,
        format!("could not load library \"{libname}\": {libname}: {}", failure.message),
    )
}
