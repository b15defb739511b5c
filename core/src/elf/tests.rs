//! End-to-end tests on real ELF files: tiny C libraries compiled with `cc` at test time (sources
//! in `core/tests/elf-fixtures/`), this machine's system libraries, and the PostgreSQL 18 build at
//! /opt/pgext/pg18 when present.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/elf-fixtures")
        .join(name)
}

/// Runs a compiler; test setup failures are loud.
fn compile(compiler: &str, args: &[&str]) {
    let out = Command::new(compiler)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `magic.c` as a shared library with extra flags.
fn magic_lib(dir: &Path, name: &str, compiler: &str, flags: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let src = fixture("magic.c");
    let mut args = vec![
        "-shared",
        "-fPIC",
        "-O2",
        "-o",
        out.to_str().unwrap(),
        src.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    compile(compiler, &args);
    out
}

fn host() -> HostAbi {
    HostAbi::current()
}

fn server() -> ServerMagic {
    ServerMagic::pg18(host().class)
}

fn codes(report: &LibraryReport) -> Vec<(Code, Severity)> {
    report.problems.iter().map(|p| (p.code, p.severity)).collect()
}

fn error_codes(report: &LibraryReport) -> Vec<Code> {
    report.errors().map(|p| p.code).collect()
}

#[test]
fn magic_blocks_of_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    struct Case {
        name: &'static str,
        compiler: &'static str,
        flags: &'static [&'static str],
        version: i32,
        layout: MagicLayout,
        module: Option<(&'static str, &'static str)>,
        source: MagicSource,
        problem: Option<Code>,
    }
    let pg18 = |name, compiler, flags, module, source| Case {
        name,
        compiler,
        flags,
        version: 1800,
        layout: MagicLayout::Pg18,
        module,
        source,
        problem: None,
    };
    let named = Some(("fixture", "1.2.3"));
    let cases = [
        pg18(
            "ext18.so",
            "cc",
            &["-DLAYOUT=18", "-DWITH_NAME"][..],
            named,
            MagicSource::Decoded,
        ),
        pg18("plain18.so", "cc", &["-DLAYOUT=18"], None, MagicSource::Decoded),
        pg18(
            "o0.so",
            "cc",
            &["-DLAYOUT=18", "-DWITH_NAME", "-O0"],
            named,
            MagicSource::Decoded,
        ),
        pg18(
            "cet.so",
            "cc",
            &["-DLAYOUT=18", "-DWITH_NAME", "-fcf-protection=full"],
            named,
            MagicSource::Decoded,
        ),
        pg18(
            "relr.so",
            "cc",
            &["-DLAYOUT=18", "-DWITH_NAME", "-Wl,-z,pack-relative-relocs"],
            named,
            MagicSource::Decoded,
        ),
        pg18(
            "clang.so",
            "clang",
            &["-DLAYOUT=18", "-DWITH_NAME"],
            named,
            MagicSource::Decoded,
        ),
        pg18(
            "clang-o0.so",
            "clang",
            &["-DLAYOUT=18", "-DWITH_NAME", "-O0"],
            named,
            MagicSource::Decoded,
        ),
        pg18(
            "opaque18.so",
            "cc",
            &["-DLAYOUT=18", "-DWITH_NAME", "-DOPAQUE"],
            named,
            MagicSource::Scanned,
        ),
        Case {
            name: "pg17.so",
            compiler: "cc",
            flags: &["-DLAYOUT=17"],
            version: 1700,
            layout: MagicLayout::Pg15To17,
            module: None,
            source: MagicSource::Decoded,
            problem: Some(Code::PgVersionMismatch),
        },
        Case {
            name: "opaque17.so",
            compiler: "cc",
            flags: &["-DLAYOUT=17", "-DOPAQUE"],
            version: 1700,
            layout: MagicLayout::Pg15To17,
            module: None,
            source: MagicSource::Scanned,
            problem: Some(Code::PgVersionMismatch),
        },
        Case {
            name: "pg14.so",
            compiler: "cc",
            flags: &["-DLAYOUT=14"],
            version: 1400,
            layout: MagicLayout::Pg13To14,
            module: None,
            source: MagicSource::Decoded,
            problem: Some(Code::PgVersionMismatch),
        },
        Case {
            name: "pg12.so",
            compiler: "cc",
            flags: &["-DLAYOUT=12"],
            version: 1200,
            layout: MagicLayout::Pg84To12,
            module: None,
            source: MagicSource::Decoded,
            problem: Some(Code::PgVersionMismatch),
        },
        Case {
            name: "fork.so",
            compiler: "cc",
            flags: &["-DLAYOUT=18", "-DABI_EXTRA=\"EDB\""],
            version: 1800,
            layout: MagicLayout::Pg18,
            module: None,
            source: MagicSource::Decoded,
            problem: Some(Code::MagicMismatch),
        },
    ];
    let mut analyzer = Analyzer::new(SearchConfig::new(host()), server());
    for case in cases {
        let lib = magic_lib(dir.path(), case.name, case.compiler, case.flags);
        let report = analyzer.analyze(&lib);
        let magic = report
            .magic
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no magic: {:#?}", case.name, report.problems));
        assert_eq!(
            (magic.pg_version, magic.layout, magic.source),
            (case.version, case.layout, case.source),
            "{}",
            case.name
        );
        assert_eq!(
            magic.name.as_deref().zip(magic.version.as_deref()),
            case.module,
            "{}",
            case.name
        );
        assert_eq!(magic.funcmaxargs, Some(100), "{}", case.name);
        if case.layout == MagicLayout::Pg84To12 {
            assert_eq!(magic.float4byval, Some(1));
        }
        assert_eq!(
            error_codes(&report),
            case.problem.into_iter().collect::<Vec<_>>(),
            "{}: {:#?}",
            case.name,
            report.problems
        );
        assert!(report.needed.iter().any(|n| n == "libc.so.6"), "{}", case.name);
        assert!(
            report.version_needs.iter().any(|n| n.file == "libc.so.6"),
            "{}",
            case.name
        );
    }
}

/// A 32-bit (i386) library: Elf32 tables, REL relocations with implicit addends, the 64-byte
/// PG 18 block, and no instruction decoder (found by scanning).
#[test]
fn magic_block_of_a_32_bit_library() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["-m32", "-nostdlib", "-DNO_LIBC", "-DLAYOUT=18", "-DWITH_NAME"];
    let probe = Command::new("cc")
        .args(["-m32", "-c", "-x", "c", "/dev/null", "-o", "/dev/null"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        // scripts/setup.sh installs gcc-multilib on amd64; elsewhere there is no i386 toolchain.
        if cfg!(target_arch = "x86_64") {
            panic!("cc cannot build 32-bit code: run scripts/setup.sh (installs gcc-multilib)");
        }
        eprintln!("not on x86_64: no 32-bit toolchain to build with");
        return;
    }
    let lib = magic_lib(dir.path(), "m32.so", "cc", &flags);
    let i386 = HostAbi {
        class: ElfClass::Elf32,
        byte_order: ByteOrder::Little,
        machine: 3,
    };
    let report = analyze_library(&lib, &SearchConfig::new(i386), &ServerMagic::pg18(ElfClass::Elf32));
    assert!(report.loadable, "{:#?}", report.problems);
    let magic = report.magic.unwrap();
    assert_eq!(
        (magic.len, magic.layout, magic.source),
        (64, MagicLayout::Pg18, MagicSource::Scanned)
    );
    assert_eq!(
        (magic.name.as_deref(), magic.version.as_deref()),
        (Some("fixture"), Some("1.2.3"))
    );
    // The 64-bit server refuses it before looking at the block.
    let report = analyze_library(&lib, &SearchConfig::new(host()), &server());
    assert_eq!(error_codes(&report), vec![Code::WrongClass]);
}

#[test]
fn missing_magic_block() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("nomagic.so");
    compile(
        "cc",
        &[
            "-shared",
            "-fPIC",
            "-o",
            lib.to_str().unwrap(),
            fixture("dep.c").to_str().unwrap(),
        ],
    );
    let report = analyze_library(&lib, &SearchConfig::new(host()), &server());
    assert_eq!(error_codes(&report), vec![Code::MissingMagicBlock]);
    let p = report.errors().next().unwrap();
    assert_eq!(
        p.message,
        format!("incompatible library \"{}\": missing magic block", lib.display())
    );
    assert!(report.magic.is_none());
}

/// A tree like a CloudNativePG image: `<root>/lib/user.so`, `<root>/system/libdep.so.1`, and a
/// stand-in postgres executable.
struct Image {
    _dir: tempfile::TempDir,
    root: PathBuf,
    server: PathBuf,
}

impl Image {
    fn new() -> Image {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        fs::create_dir_all(root.join("lib")).unwrap();
        fs::create_dir_all(root.join("system")).unwrap();
        fs::create_dir_all(root.join("build")).unwrap();
        let server = root.join("build/postgres");
        compile(
            "cc",
            &[
                "-rdynamic",
                "-o",
                server.to_str().unwrap(),
                fixture("server.c").to_str().unwrap(),
            ],
        );
        Image {
            _dir: dir,
            root,
            server,
        }
    }

    /// Builds the dependency (old or new release) with a soname into `dir/libdep.so.1`.
    fn dep(&self, dir: &str, new: bool, soname: &str) -> PathBuf {
        self.dep_with(dir, new, soname, &[])
    }

    /// [`Image::dep`] with extra compiler flags.
    fn dep_with(&self, dir: &str, new: bool, soname: &str, flags: &[&str]) -> PathBuf {
        let out = self.root.join(dir).join(soname);
        let map = fixture(if new { "dep-new.map" } else { "dep-old.map" });
        let version_script = format!("-Wl,--version-script={}", map.display());
        let soname_flag = format!("-Wl,-soname,{soname}");
        let mut args = vec![
            "-shared",
            "-fPIC",
            "-o",
            out.to_str().unwrap(),
            &soname_flag,
            &version_script,
        ];
        if new {
            args.push("-DNEW");
        }
        let src = fixture("dep.c");
        args.push(src.to_str().unwrap());
        args.extend_from_slice(flags);
        compile("cc", &args);
        out
    }

    /// Builds `lib/user.so` linked against `build/<soname>` with extra flags.
    fn user(&self, soname: &str, flags: &[&str]) -> PathBuf {
        let out = self.root.join("lib/user.so");
        let dep = self.root.join("build").join(soname);
        let src = fixture("user.c");
        let mut args = vec![
            "-shared",
            "-fPIC",
            "-O2",
            "-o",
            out.to_str().unwrap(),
            src.to_str().unwrap(),
            dep.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        compile("cc", &args);
        out
    }

    fn config(&self) -> SearchConfig {
        let mut config = SearchConfig::new(host());
        config.postgres_executable = Some(self.server.clone());
        config
    }
}

#[test]
fn missing_library_and_ld_library_path() {
    let image = Image::new();
    image.dep("build", true, "libgeos_c.so.1");
    let lib = image.user("libgeos_c.so.1", &["-DUSE_NEW"]);

    // Not found anywhere: like postgres-extensions-containers#70.
    let report = analyze_library(&lib, &image.config(), &server());
    assert_eq!(
        error_codes(&report),
        vec![Code::MissingLibrary, Code::UndefinedSymbol, Code::UndefinedSymbol]
    );
    let missing = report.errors().next().unwrap();
    assert_eq!(missing.subject.as_deref(), Some("libgeos_c.so.1"));
    assert!(
        missing
            .message
            .ends_with("libgeos_c.so.1: cannot open shared object file: No such file or directory"),
        "{}",
        missing.message
    );
    assert!(
        missing
            .message
            .starts_with(&format!("could not load library \"{}\"", lib.display()))
    );
    let dep = &report.dependencies.iter().find(|d| d.name == "libgeos_c.so.1").unwrap();
    assert_eq!((dep.path.as_deref(), dep.found_via), (None, None));

    assert_eq!(missing.hint, None);

    // Shipped in the image's system/ but not on the path: still missing, with a hint.
    image.dep("system", true, "libgeos_c.so.1");
    let report = analyze_library(&lib, &image.config(), &server());
    let missing = report.errors().next().unwrap();
    assert_eq!(missing.code, Code::MissingLibrary);
    assert!(
        missing.hint.as_deref().is_some_and(|h| h.contains("ld_library_path")),
        "{missing:?}"
    );

    // Found once system/ is on LD_LIBRARY_PATH, like CloudNativePG's ld_library_path: [system].
    let mut config = image.config();
    config.ld_library_path = Some(format!("/nonexistent:{}", image.root.join("system").display()));
    let report = analyze_library(&lib, &config, &server());
    assert!(report.loadable, "{:#?}", report.problems);
    assert_eq!(codes(&report), vec![]);
    let dep = report.dependencies.iter().find(|d| d.name == "libgeos_c.so.1").unwrap();
    assert_eq!(dep.found_via, Some(FoundVia::LdLibraryPath));
    assert_eq!(
        dep.path.as_deref(),
        Some(image.root.join("system/libgeos_c.so.1").to_str().unwrap())
    );
    assert!(!dep.preloaded);
    assert!(report.symbols_checked);
}

#[test]
fn libraries_of_the_server_are_reused() {
    let image = Image::new();
    let lib = magic_lib(&image.root.join("lib"), "m.so", "cc", &["-DLAYOUT=18", "-DWITH_NAME"]);
    let report = analyze_library(&lib, &image.config(), &server());
    assert_eq!(codes(&report), vec![], "{:#?}", report.problems);
    let libc = report.dependencies.iter().find(|d| d.name == "libc.so.6").unwrap();
    assert_eq!((libc.found_via, libc.preloaded), (Some(FoundVia::AlreadyLoaded), true));
    // libc's own needs belong to the server's closure and are not listed again.
    assert_eq!(report.dependencies.len(), 1, "{:#?}", report.dependencies);
    assert_eq!(report.objects_loaded, 1);
}

#[test]
fn origin_runpath_and_rpath() {
    let image = Image::new();
    image.dep("build", false, "libdep.so.1");
    image.dep("system", false, "libdep.so.1");
    // (link flags, expected way found)
    let cases: [(&[&str], FoundVia); 3] = [
        (
            &["-Wl,-rpath,$ORIGIN/../system", "-Wl,--enable-new-dtags"],
            FoundVia::Runpath,
        ),
        (
            &["-Wl,-rpath,${ORIGIN}/../system", "-Wl,--disable-new-dtags"],
            FoundVia::Rpath,
        ),
        (
            &["-Wl,-rpath,/nonexistent:$ORIGIN/../system", "-Wl,--enable-new-dtags"],
            FoundVia::Runpath,
        ),
    ];
    for (flags, via) in cases {
        let lib = image.user("libdep.so.1", flags);
        let report = analyze_library(&lib, &image.config(), &server());
        assert!(report.loadable, "{flags:?}: {:#?}", report.problems);
        let dep = report.dependencies.iter().find(|d| d.name == "libdep.so.1").unwrap();
        assert_eq!(dep.found_via, Some(via), "{flags:?}");
        assert!(
            dep.path.as_deref().unwrap().ends_with("lib/../system/libdep.so.1"),
            "{dep:?}"
        );
        assert!(!report.rpath.is_empty() || !report.runpath.is_empty());
    }
}

#[test]
fn versions_and_symbols_of_an_older_dependency() {
    let image = Image::new();
    image.dep("build", true, "libdep.so.1");
    let lib = image.user("libdep.so.1", &["-DUSE_NEW", "-Wl,-rpath,$ORIGIN/../system"]);

    // Built against the new release, run with the old one: like cloudnative-pg#11285 and the
    // GLIBC_2.38 failures, the version check fails first, then the symbol.
    image.dep("system", false, "libdep.so.1");
    let report = analyze_library(&lib, &image.config(), &server());
    assert_eq!(
        error_codes(&report),
        vec![Code::MissingSymbolVersion, Code::UndefinedSymbol]
    );
    let version = &report.problems[0];
    assert_eq!(version.subject.as_deref(), Some("DEP_2.0"));
    assert!(
        version.message.contains("version `DEP_2.0' not found (required by"),
        "{}",
        version.message
    );
    let detail = version.detail.as_deref().unwrap();
    assert!(
        detail.contains("needs DEP_2.0 from libdep.so.1") && detail.ends_with("provides up to DEP_1.0."),
        "{detail}"
    );
    let symbol = &report.problems[1];
    assert_eq!(symbol.subject.as_deref(), Some("GEOSCoverageCleanParams_create"));
    assert!(
        symbol
            .message
            .ends_with("undefined symbol: GEOSCoverageCleanParams_create, version DEP_2.0"),
        "{}",
        symbol.message
    );

    // With the new release everything binds, including server_function from the executable.
    image.dep("system", true, "libdep.so.1");
    let report = analyze_library(&lib, &image.config(), &server());
    assert_eq!(codes(&report), vec![], "{:#?}", report.problems);

    // A symbol nobody defines; weak undefined symbols are fine.
    let lib = image.user("libdep.so.1", &["-DUSE_MISSING", "-Wl,-rpath,$ORIGIN/../system"]);
    let report = analyze_library(&lib, &image.config(), &server());
    assert_eq!(error_codes(&report), vec![Code::UndefinedSymbol]);
    assert_eq!(report.problems[0].subject.as_deref(), Some("symbol_nobody_defines"));

    // Without the executable, server_function cannot be checked: binding is skipped, said so.
    let mut config = image.config();
    config.postgres_executable = None;
    let report = analyze_library(&lib, &config, &server());
    assert!(!report.symbols_checked);
    assert_eq!(codes(&report), vec![(Code::UndefinedSymbol, Severity::Info)]);
}

/// Rewrites the type of every section of `sh_type` in an ELF64 little-endian file to
/// `SHT_PROGBITS`, so that the section headers no longer reveal it.
fn hide_sections(path: &Path, sh_type: u32) {
    let mut bytes = fs::read(path).unwrap();
    let file = file::ElfFile::from_bytes(bytes.clone(), ReadLimits::default()).unwrap();
    let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize;
    for (i, section) in file.sections.iter().enumerate() {
        if section.sh_type == sh_type {
            let at = shoff + i * 64 + 4;
            bytes[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
        }
    }
    fs::write(path, bytes).unwrap();
}

/// The same verdicts whichever hash table the dependency carries: `DT_GNU_HASH`, `DT_HASH`,
/// both, or none the section headers show (then every exported name is indexed instead).
#[test]
fn binding_through_every_kind_of_hash_table() {
    let image = Image::new();
    image.dep("build", true, "libdep.so.1");
    let lib = image.user("libdep.so.1", &["-DUSE_NEW", "-Wl,-rpath,$ORIGIN/../system"]);
    // (hash style, section type to hide, index used)
    let styles = [
        ("gnu", None, "gnu"),
        ("sysv", None, "sysv"),
        ("both", None, "gnu"),
        ("gnu", Some(object::elf::SHT_GNU_HASH.0), "names"),
        ("sysv", Some(object::elf::SHT_HASH.0), "names"),
    ];
    for (style, hidden, index) in styles {
        let flag = format!("-Wl,--hash-style={style}");
        let what = format!("--hash-style={style}, hidden {hidden:?}");
        for (new, want) in [
            (false, vec![Code::MissingSymbolVersion, Code::UndefinedSymbol]),
            (true, vec![]),
        ] {
            let dep = image.dep_with("system", new, "libdep.so.1", &[&flag]);
            if let Some(sh_type) = hidden {
                hide_sections(&dep, sh_type);
            }
            let mut file = file::ElfFile::open(&dep, ReadLimits::default()).unwrap();
            let tables = dynamic::parse_tables(&mut file).unwrap();
            assert_eq!(tables.symbols.index_kind(), index, "{what}");
            let report = analyze_library(&lib, &image.config(), &server());
            assert_eq!(error_codes(&report), want, "{what}, new {new}: {:#?}", report.problems);
            if !new {
                assert_eq!(
                    report.problems[1].subject.as_deref(),
                    Some("GEOSCoverageCleanParams_create"),
                    "{what}"
                );
            }
        }
    }
}

/// Relocation sections with absurd sizes and offsets (found by fuzzing: a sum of section sizes
/// overflowed) are reported, not a panic, and a large but sane table is still decoded.
#[test]
fn hostile_relocation_sections_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let lib = magic_lib(dir.path(), "r.so", "cc", &["-DLAYOUT=18", "-DWITH_NAME"]);
    let bytes = fs::read(&lib).unwrap();
    let file = file::ElfFile::from_bytes(bytes.clone(), ReadLimits::default()).unwrap();
    let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize;
    let relocs: Vec<usize> = file
        .sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.sh_type == object::elf::SHT_RELA.0)
        .map(|(i, _)| i)
        .collect();
    assert!(!relocs.is_empty());
    // (field offset in Elf64_Shdr: 24 sh_offset, 32 sh_size; value), applied to every RELA section
    let cases: &[&[(usize, u64)]] = &[
        &[(32, u64::MAX)],
        &[(32, u64::MAX / 2 + 1)],
        &[(24, u64::MAX - 8)],
        &[(24, u64::MAX - 8), (32, 1 << 20)],
        &[(32, 1 << 30)],
    ];
    for fields in cases {
        let mut m = bytes.clone();
        for &i in &relocs {
            for &(field, value) in fields.iter() {
                let at = shoff + i * 64 + field;
                m[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
        }
        let report = inspect_bytes(m, &host(), &server(), ReadLimits::default());
        assert!(!report.problems.is_empty() || report.magic.is_some(), "{fields:?}");
    }
    let report = inspect_bytes(bytes, &host(), &server(), ReadLimits::default());
    assert_eq!(report.magic.and_then(|m| m.name).as_deref(), Some("fixture"));

    // 20,000 pointers need as many RELATIVE relocations (~480 KB): the table is streamed.
    let big = dir.path().join("big.c");
    let table = vec!["s"; 20_000].join(",");
    fs::write(
        &big,
        format!("static const char s[] = \"x\";\nconst char *const big_table[] = {{{table}}};\n"),
    )
    .unwrap();
    let lib = magic_lib(
        dir.path(),
        "big.so",
        "cc",
        &["-DLAYOUT=18", "-DWITH_NAME", big.to_str().unwrap()],
    );
    let bytes = fs::read(&lib).unwrap();
    let file = file::ElfFile::from_bytes(bytes.clone(), ReadLimits::default()).unwrap();
    let rela: u64 = file
        .sections
        .iter()
        .filter(|s| s.sh_type == object::elf::SHT_RELA.0)
        .map(|s| s.size)
        .sum();
    assert!(rela > 256 << 10, "{rela} bytes of relocations");
    let report = inspect_bytes(bytes, &host(), &server(), ReadLimits::default());
    let magic = report.magic.unwrap();
    assert_eq!(
        (magic.name.as_deref(), magic.version.as_deref()),
        (Some("fixture"), Some("1.2.3"))
    );
}

/// Hostile dependencies: their symbol, string, version and hash tables mutated, bound against
/// by a library that needs them. Nothing panics or hangs, and a report always says something.
#[test]
fn mutated_dependencies_never_panic() {
    let image = Image::new();
    image.dep("build", true, "libdep.so.1");
    let lib = image.user("libdep.so.1", &["-DUSE_NEW", "-Wl,-rpath,$ORIGIN/../system"]);
    let dep = image.dep("system", true, "libdep.so.1");
    let bytes = fs::read(&dep).unwrap();
    let file = file::ElfFile::from_bytes(bytes.clone(), ReadLimits::default()).unwrap();
    let wanted = [
        object::elf::SHT_GNU_HASH.0,
        object::elf::SHT_HASH.0,
        object::elf::SHT_DYNSYM.0,
        object::elf::SHT_STRTAB.0,
        object::elf::SHT_GNU_VERSYM.0,
        object::elf::SHT_GNU_VERDEF.0,
        object::elf::SHT_GNU_VERNEED.0,
    ];
    let hot: Vec<usize> = file
        .sections
        .iter()
        .filter(|s| wanted.contains(&s.sh_type) && s.is_alloc())
        .flat_map(|s| s.offset as usize..(s.offset + s.size) as usize)
        .collect();
    assert!(hot.len() > 100, "{} bytes of tables", hot.len());
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let start = Instant::now();
    for _ in 0..400 {
        let mut m = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            let at = hot[rng.below(hot.len())];
            match rng.below(3) {
                0 => m[at] ^= 1 << rng.below(8),
                1 => m[at] = 0xff,
                _ => {
                    let v = [0u32, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000][rng.below(5)];
                    let at = at.min(m.len() - 4);
                    m[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        fs::write(&dep, &m).unwrap();
        let report = analyze_library(&lib, &image.config(), &server());
        assert!(report.loadable || !report.problems.is_empty());
    }
    assert!(start.elapsed().as_secs() < 60, "mutants took {:?}", start.elapsed());
}

#[test]
fn dynamic_info_of_fixtures() {
    let image = Image::new();
    let dep = image.dep("build", true, "libdep.so.1");
    let lib = image.user(
        "libdep.so.1",
        &["-DUSE_NEW", "-Wl,-rpath,$ORIGIN/../system", "-Wl,--enable-new-dtags"],
    );
    let limits = ReadLimits::default();

    let (header, info) = read_dynamic_info(&dep, limits).unwrap();
    assert!(header.is_dyn());
    assert_eq!(info.soname.as_deref(), Some("libdep.so.1"));
    let defs: Vec<(&str, bool)> = info.version_defs.iter().map(|d| (d.name.as_str(), d.base)).collect();
    assert_eq!(
        defs,
        vec![("libdep.so.1", true), ("DEP_1.0", false), ("DEP_2.0", false)]
    );
    let sym = info
        .symbols
        .iter()
        .find(|s| s.name == "GEOSCoverageCleanParams_create")
        .unwrap();
    assert_eq!(
        (sym.defined, sym.version.as_deref(), sym.binding),
        (true, Some("DEP_2.0"), Binding::Global)
    );

    let (_, info) = read_dynamic_info(&lib, limits).unwrap();
    assert_eq!(info.needed, vec!["libdep.so.1"]);
    assert_eq!(
        (info.runpath.clone(), info.has_runpath, info.rpath.len()),
        (vec!["$ORIGIN/../system".to_owned()], true, 0)
    );
    let need = info.version_needs.iter().find(|n| n.file == "libdep.so.1").unwrap();
    let mut versions: Vec<&str> = need.versions.iter().map(|v| v.name.as_str()).collect();
    versions.sort();
    assert_eq!(versions, vec!["DEP_1.0", "DEP_2.0"]);
    // (symbol, defined, version, version file, binding)
    let cases = [
        (
            "GEOSCoverageCleanParams_create",
            false,
            Some("DEP_2.0"),
            Some("libdep.so.1"),
            Binding::Global,
        ),
        (
            "dep_old_function",
            false,
            Some("DEP_1.0"),
            Some("libdep.so.1"),
            Binding::Global,
        ),
        ("server_function", false, None, None, Binding::Global),
        ("weak_nobody_defines", false, None, None, Binding::Weak),
        ("user_function", true, None, None, Binding::Global),
        ("Pg_magic_func", true, None, None, Binding::Global),
    ];
    for (name, defined, version, file, binding) in cases {
        let s = info
            .symbols
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(
            (s.defined, s.version.as_deref(), s.version_file.as_deref(), s.binding),
            (defined, version, file, binding),
            "{name}"
        );
    }
    match read_magic(&lib, limits).unwrap() {
        MagicOutcome::Found(m) => assert_eq!((m.pg_version, m.name.as_deref()), (1800, Some("user"))),
        other => panic!("{other:?}"),
    }
    assert_eq!(read_magic(&dep, limits).unwrap(), MagicOutcome::Missing);
}

#[test]
fn wrong_class_and_not_shared() {
    let dir = tempfile::tempdir().unwrap();
    // An executable is not a loadable library (PIE: flagged DF_1_PIE).
    let exe = dir.path().join("exe");
    compile(
        "cc",
        &["-o", exe.to_str().unwrap(), fixture("server.c").to_str().unwrap()],
    );
    let report = analyze_library(&exe, &SearchConfig::new(host()), &server());
    assert_eq!(error_codes(&report), vec![Code::NotSharedObject]);

    // Another machine: pretend the server is aarch64.
    let lib = magic_lib(dir.path(), "m.so", "cc", &["-DLAYOUT=18"]);
    let arm = HostAbi { machine: 183, ..host() };
    let report = analyze_library(&lib, &SearchConfig::new(arm), &ServerMagic::pg18(arm.class));
    assert_eq!(error_codes(&report), vec![Code::WrongMachine]);
    assert_eq!(
        report.magic.as_ref().map(|m| m.pg_version),
        Some(1800),
        "magic still decoded"
    );

    let i386 = HostAbi {
        class: ElfClass::Elf32,
        machine: 3,
        ..host()
    };
    let report = analyze_library(&lib, &SearchConfig::new(i386), &ServerMagic::pg18(i386.class));
    assert_eq!(error_codes(&report), vec![Code::WrongClass]);
    assert!(report.problems[0].message.ends_with("wrong ELF class: ELFCLASS64"));

    // Not ELF at all, and not a file.
    let text = dir.path().join("text.so");
    fs::write(&text, "INPUT(-lc)\n").unwrap();
    let report = analyze_library(&text, &SearchConfig::new(host()), &server());
    assert_eq!(error_codes(&report), vec![Code::NotElf]);
    let report = analyze_library(dir.path(), &SearchConfig::new(host()), &server());
    assert_eq!(error_codes(&report), vec![Code::Unreadable]);
    let report = analyze_library(&dir.path().join("absent.so"), &SearchConfig::new(host()), &server());
    assert_eq!(error_codes(&report), vec![Code::Unreadable]);
}

/// Small deterministic PRNG (xorshift64*), so mutation tests are reproducible without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn truncated_copies_never_panic_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let lib = magic_lib(dir.path(), "t.so", "cc", &["-DLAYOUT=18", "-DWITH_NAME"]);
    let bytes = fs::read(&lib).unwrap();
    let limits = ReadLimits::default();
    let full = inspect_bytes(bytes.clone(), &host(), &server(), limits);
    assert!(full.loadable, "{:#?}", full.problems);
    let mut cuts: Vec<usize> = (0..256.min(bytes.len())).collect();
    cuts.extend((256..bytes.len()).step_by(7));
    cuts.push(bytes.len() - 1);
    for cut in cuts {
        let report = inspect_bytes(bytes[..cut].to_vec(), &host(), &server(), limits);
        assert!(!report.loadable, "cut at {cut} accepted");
        assert_eq!(
            error_codes(&report),
            vec![Code::Truncated],
            "cut at {cut}: {:#?}",
            report.problems
        );
    }
    // Through the file path as well, including a truncated dependency.
    let truncated = dir.path().join("short.so");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let report = analyze_library(&truncated, &SearchConfig::new(host()), &server());
    assert_eq!(error_codes(&report), vec![Code::Truncated]);
}

#[test]
fn mutated_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let lib = magic_lib(dir.path(), "m.so", "cc", &["-DLAYOUT=18", "-DWITH_NAME"]);
    let bytes = fs::read(&lib).unwrap();
    // The interesting bytes: headers and tables at both ends of the file.
    let hot: Vec<usize> = (0..bytes.len().min(0x1000))
        .chain(bytes.len().saturating_sub(0x800)..bytes.len())
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tight = ReadLimits {
        max_bytes_per_file: 64 << 10,
        max_name_len: 64,
        max_objects: 4,
        max_version_records: 32,
    };
    let start = Instant::now();
    for round in 0..3000 {
        let mut m = bytes.clone();
        for _ in 0..1 + rng.below(6) {
            let at = if rng.below(4) == 0 {
                rng.below(m.len())
            } else {
                hot[rng.below(hot.len())]
            };
            match rng.below(3) {
                0 => m[at] ^= 1 << rng.below(8),
                1 => m[at] = 0xff,
                _ => {
                    // Plant an extreme 32-bit value (counts, offsets, sizes).
                    let v = [0u32, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000][rng.below(5)];
                    let at = at.min(m.len() - 4);
                    m[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        let limits = if round % 2 == 0 { ReadLimits::default() } else { tight };
        let _ = inspect_bytes(m, &host(), &server(), limits);
    }
    assert!(start.elapsed().as_secs() < 60, "mutants took {:?}", start.elapsed());
}

/// The fuzzing seeds (small stripped builds of the fixtures) decode as intended.
#[test]
fn fuzz_seeds_decode() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/elf_inspect");
    // (seed, expected magic: version, source, module name)
    let cases = [
        ("pg18-named.so", Some((1800, MagicSource::Decoded, Some("fixture")))),
        ("pg18-scan.so", Some((1800, MagicSource::Scanned, Some("fixture")))),
        ("pg17.so", Some((1700, MagicSource::Decoded, None))),
        ("pg12-O0.so", Some((1200, MagicSource::Decoded, None))),
        ("dep-verdef.so", None),
        ("user-versioned.so", Some((1800, MagicSource::Decoded, Some("user")))),
    ];
    for (seed, want) in cases {
        let bytes = fs::read(corpus.join(seed)).unwrap_or_else(|e| panic!("seed {seed} is in the repository: {e}"));
        let report = inspect_bytes(bytes, &host(), &server(), ReadLimits::default());
        let got = report
            .magic
            .as_ref()
            .map(|m| (m.pg_version, m.source, m.name.as_deref()));
        assert_eq!(got, want, "{seed}: {:#?}", report.problems);
    }
}

/// The dynamic loader's own directories; system libraries should resolve completely.
#[test]
fn system_libraries() {
    let mut config = SearchConfig::new(host());
    let postgres = Path::new("/opt/pgext/pg18/bin/postgres");
    if postgres.exists() {
        config.postgres_executable = Some(postgres.to_owned());
    }
    let mut analyzer = Analyzer::new(config, server());
    let cache = analyzer.loader().ld_cache().map(|c| c.len()).unwrap_or(0);
    let mut seen = 0;
    for name in [
        "libc.so.6",
        "libssl.so.3",
        "libcrypto.so.3",
        "libz.so.1",
        "libstdc++.so.6",
    ] {
        let Some(path) = analyzer
            .loader()
            .ld_cache()
            .ok()
            .and_then(|c| c.lookup(name))
            .map(PathBuf::from)
        else {
            eprintln!("skipped {name}: not in the ld.so cache ({cache} entries)");
            continue;
        };
        seen += 1;
        let report = analyzer.analyze(&path);
        assert_eq!(
            error_codes(&report),
            vec![Code::MissingMagicBlock],
            "{name}: {:#?}",
            report.problems
        );
        assert!(
            report.dependencies.iter().all(|d| d.path.is_some()),
            "{name}: {:#?}",
            report.dependencies
        );
        if name == "libc.so.6" {
            assert!(
                report.needed.iter().any(|n| n.starts_with("ld-linux")),
                "{:?}",
                report.needed
            );
        }
    }
    assert!(seen >= 2, "no system libraries found");
}

/// The PostgreSQL 18 that scripts/setup.sh chose: `$PG_CONFIG` (set by scripts/test.sh), else
/// the default build prefix. Its absence fails the test: set-up always provides one.
fn pg18_dirs() -> (PathBuf, PathBuf) {
    let from_pg_config = std::env::var_os("PG_CONFIG").and_then(|pg_config| {
        let ask = |flag: &str| {
            Command::new(&pg_config)
                .arg(flag)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        };
        Some((ask("--bindir")?, ask("--pkglibdir")?))
    });
    let (bindir, pkglibdir) = from_pg_config.unwrap_or_else(|| {
        (
            PathBuf::from("/opt/pgext/pg18/bin"),
            PathBuf::from("/opt/pgext/pg18/lib/postgresql"),
        )
    });
    assert!(
        bindir.join("postgres").exists(),
        "no PostgreSQL 18 at {}: run scripts/setup.sh, or set PG_CONFIG",
        bindir.display()
    );
    (bindir, pkglibdir)
}

fn pg18_analyzer() -> Option<Analyzer> {
    let (bindir, _) = pg18_dirs();
    let mut config = SearchConfig::new(host());
    config.postgres_executable = Some(bindir.join("postgres"));
    Some(Analyzer::new(config, server()))
}

#[test]
fn postgresql_18_contrib_modules() {
    let Some(mut analyzer) = pg18_analyzer() else { return };
    let (_, pkglibdir) = pg18_dirs();
    let dir = pkglibdir.as_path();
    let mut libs: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "so"))
                .collect()
        })
        .unwrap_or_default();
    libs.sort();
    assert!(!libs.is_empty(), "no modules in {}", dir.display());
    for lib in &libs {
        let report = analyzer.analyze(lib);
        assert!(report.loadable, "{}: {:#?}", lib.display(), report.problems);
        let magic = report.magic.as_ref().unwrap();
        assert_eq!(
            (magic.pg_version, magic.layout, magic.source),
            (1800, MagicLayout::Pg18, MagicSource::Decoded),
            "{}",
            lib.display()
        );
        assert_eq!(report.problems, vec![], "{}", lib.display());
    }
    let pgss = analyzer.analyze(&dir.join("pg_stat_statements.so"));
    let magic = pgss.magic.unwrap();
    assert_eq!(magic.name.as_deref(), Some("pg_stat_statements"));
    assert_eq!(magic.version.as_deref(), Some("18.6"));
}

#[test]
fn debian_postgresql_15_modules_are_refused() {
    let dir = Path::new("/usr/lib/postgresql/15/lib");
    let lib = dir.join("pg_stat_statements.so");
    assert!(
        lib.exists(),
        "no {}: run scripts/setup.sh (installs Debian's postgresql-15 for its modules)",
        lib.display()
    );
    let report = analyze_library(&lib, &SearchConfig::new(host()), &server());
    let magic = report.magic.as_ref().unwrap();
    assert_eq!(
        (magic.pg_version, magic.layout, magic.abi_extra.as_deref()),
        (1500, MagicLayout::Pg15To17, Some("PostgreSQL"))
    );
    let p = report.errors().find(|p| p.code == Code::PgVersionMismatch).unwrap();
    assert_eq!(
        p.detail.as_deref(),
        Some("Server is version 18, library is version 15.")
    );
}

/// Compares predictions with real `dlopen(RTLD_NOW | RTLD_GLOBAL)` of every library in the system
/// directory, each in a forked child of a small C harness (`dlopen_check.c`) that plays the
/// executable. Ignored by default: it runs the constructors of hundreds of libraries.
#[test]
#[ignore]
fn predictions_match_dlopen() {
    let dir = tempfile::tempdir().unwrap();
    let harness = dir.path().join("dlopen_check");
    compile(
        "cc",
        &[
            "-rdynamic",
            "-o",
            harness.to_str().unwrap(),
            fixture("dlopen_check.c").to_str().unwrap(),
        ],
    );
    let libdir = Path::new("/usr/lib").join(multiarch_triplet(&host()).unwrap_or("."));
    let mut libs: Vec<PathBuf> = fs::read_dir(&libdir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".so")) && p.is_file())
        .collect();
    libs.sort();
    let out = Command::new(&harness).args(&libs).output().unwrap();
    let truth: std::collections::HashMap<String, Option<String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            match (f.next(), f.next(), f.next()) {
                (Some("OK"), Some(p), _) => Some((p.to_owned(), None)),
                (Some("FAIL"), Some(p), e) => Some((p.to_owned(), Some(e.unwrap_or("").to_owned()))),
                _ => None,
            }
        })
        .collect();
    let mut config = SearchConfig::new(host());
    config.postgres_executable = Some(harness.clone());
    let mut analyzer = Analyzer::new(config, server());
    let (mut agree, mut disagree, mut tls_warnings_loaded) = (0, Vec::new(), 0);
    for lib in &libs {
        let Some(real) = truth.get(lib.to_str().unwrap()) else {
            continue;
        };
        let report = analyzer.analyze(lib);
        let predicted_ok = report.errors().all(|p| p.code == Code::MissingMagicBlock);
        let may_fail = report
            .problems
            .iter()
            .any(|p| p.code == Code::StaticTls && p.severity == Severity::Warning);
        tls_warnings_loaded += usize::from(may_fail && real.is_none());
        if predicted_ok == real.is_none() || (may_fail && real.as_deref().is_some_and(|e| e.contains("static TLS"))) {
            agree += 1;
        } else {
            let ours: Vec<_> = report.errors().map(|p| p.message.clone()).collect();
            disagree.push(format!("{}: dlopen {:?}, predicted {:?}", lib.display(), real, ours));
        }
    }
    eprintln!(
        "{agree} agree ({tls_warnings_loaded} loaded despite a static TLS warning), {} disagree:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
    assert!(disagree.is_empty());
}

/// Timing over the largest libraries of this machine (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn bench_large_libraries() {
    let dir = Path::new("/usr/lib/x86_64-linux-gnu");
    let mut libs: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".so")))
        .filter_map(|p| fs::metadata(&p).ok().filter(|m| m.is_file()).map(|m| (m.len(), p)))
        .collect();
    libs.sort_by_key(|l| std::cmp::Reverse(l.0));
    let mut config = SearchConfig::new(host());
    config.postgres_executable = Some(PathBuf::from("/opt/pgext/pg18/bin/postgres")).filter(|p| p.exists());
    let mut analyzer = Analyzer::new(config, server());
    let start = Instant::now();
    let (mut total_size, mut total_read) = (0u64, 0u64);
    for (size, lib) in libs.iter().take(20) {
        let t = Instant::now();
        let report = analyzer.analyze(lib);
        total_size += size;
        total_read += report.bytes_read;
        let errors: Vec<_> = report.errors().map(|p| p.code.as_str()).collect();
        eprintln!(
            "{:>8.1} ms {:>6} MiB file, {:>6.2} MiB read, {:>3} objects  {} {:?}",
            t.elapsed().as_secs_f64() * 1000.0,
            size >> 20,
            report.bytes_read as f64 / (1 << 20) as f64,
            report.objects_loaded,
            lib.display(),
            errors
        );
    }
    eprintln!(
        "20 largest: {:.1} ms total, {} MiB of files, {:.1} MiB read",
        start.elapsed().as_secs_f64() * 1000.0,
        total_size >> 20,
        total_read as f64 / (1 << 20) as f64
    );
    let start = Instant::now();
    let mut n = 0;
    for (_, lib) in &libs {
        let report = analyzer.analyze(lib);
        n += 1;
        // Installed system libraries load, so anything but the missing magic block is suspect.
        for p in report.errors().filter(|p| p.code != Code::MissingMagicBlock) {
            eprintln!("  {}: {p}", lib.display());
        }
    }
    if let Ok(entries) = fs::read_dir("/opt/pgext/pg18/lib/postgresql") {
        let mut modules: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        modules.sort();
        for module in modules.iter().filter(|p| p.extension().is_some_and(|e| e == "so")) {
            let size = fs::metadata(module).map(|m| m.len()).unwrap_or(0);
            let t = Instant::now();
            let report = analyzer.analyze(module);
            if size > 1 << 20 {
                eprintln!(
                    "{:>8.1} ms {:>6} MiB module, {:.2} MiB read, magic {:?}",
                    t.elapsed().as_secs_f64() * 1000.0,
                    size >> 20,
                    report.bytes_read as f64 / (1 << 20) as f64,
                    report.magic.map(|m| (m.pg_version, m.source, m.name))
                );
            }
        }
    }
    eprintln!(
        "all {n} libraries again (warm cache): {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
}

/// Cold and warm analysis of Debian's PostGIS laid out as a CloudNativePG image by `make bench`
/// (`$PGEXT_CACHE/bench/postgis/image`, default under /var/cache/pgext), the way a backend started
/// with `LD_LIBRARY_PATH=<image>/system` runs it, with a breakdown: first `postgis-3.so` alone,
/// then every library `check_extension('postgis')` judges (the image's four modules and the
/// server's contrib modules, all visible extensions being judged). Run in release mode:
/// `cargo test --release -p pgext-core --lib elf::tests::bench_postgis_image -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_postgis_image() {
    let cache = std::env::var("PGEXT_CACHE").unwrap_or_else(|_| "/var/cache/pgext".to_owned());
    let image = Path::new(&cache).join("bench/postgis/image");
    let postgres = Path::new("/opt/pgext/pg18/bin/postgres");
    let lib = image.join("lib/postgis-3.so");
    if !lib.exists() || !postgres.exists() {
        eprintln!(
            "skipped: needs {} (make bench builds it) and {}",
            lib.display(),
            postgres.display()
        );
        return;
    }
    let mut config = SearchConfig::new(host());
    config.postgres_executable = Some(postgres.to_owned());
    config.ld_library_path = Some(image.join("system").to_string_lossy().into_owned());
    let sorted_so = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "so"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let mut everything = sorted_so(&image.join("lib"));
    everything.extend(sorted_so(Path::new("/opt/pgext/pg18/lib/postgresql")));
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let runs = 7;
    for (label, libs) in [
        ("postgis-3.so", vec![lib.clone()]),
        ("all judged libraries", everything),
    ] {
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        let mut last = Vec::new();
        for run in 0..runs {
            let mut analyzer = Analyzer::new(config.clone(), server());
            let t = Instant::now();
            let reports: Vec<LibraryReport> = libs.iter().map(|l| analyzer.analyze(l)).collect();
            let total = t.elapsed();
            cold.push(total);
            let tm = analyzer.loader().timings();
            let files = analyzer.loader().files_parsed();
            let t = Instant::now();
            let again: Vec<LibraryReport> = libs.iter().map(|l| analyzer.analyze(l)).collect();
            warm.push(t.elapsed());
            for (a, r) in again.iter().zip(&reports) {
                // Bytes read differ: a warm run reads only the root.
                assert!(
                    a.problems == r.problems && a.dependencies == r.dependencies,
                    "{}",
                    r.path
                );
            }
            eprintln!(
                "{label} run {run}: cold {:.1} ms (parse {:.1} ms of {} files, closure walk {:.1} ms, versions {:.2} \
                 ms, symbols {:.1} ms, roots and magic {:.1} ms), warm {:.1} ms; {} objects, {:.2} MiB read",
                ms(total),
                ms(tm.parse),
                files,
                ms(tm.closure.saturating_sub(tm.parse)),
                ms(tm.versions),
                ms(tm.symbols),
                ms(total.saturating_sub(tm.closure + tm.versions + tm.symbols)),
                ms(*warm.last().unwrap()),
                reports.iter().map(|r| r.objects_loaded).max().unwrap_or(0),
                reports.iter().map(|r| r.bytes_read).sum::<u64>() as f64 / f64::from(1 << 20),
            );
            last = reports;
        }
        cold.sort();
        warm.sort();
        eprintln!(
            "{label}: cold best {:.1} ms, median {:.1} ms; warm best {:.2} ms, median {:.2} ms",
            ms(cold[0]),
            ms(cold[runs / 2]),
            ms(warm[0]),
            ms(warm[runs / 2])
        );
        // The slowest libraries of a cold analyzer, each on its own (the closure of the postgres
        // executable is loaded first, as every cold run does).
        let mut analyzer = Analyzer::new(config.clone(), server());
        analyzer.analyze(&lib);
        let mut each: Vec<(std::time::Duration, &PathBuf)> = libs
            .iter()
            .map(|l| {
                let t = Instant::now();
                analyzer.analyze(l);
                (t.elapsed(), l)
            })
            .collect();
        each.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (t, l) in each.iter().take(6) {
            eprintln!("  {:>6.2} ms  {}", ms(*t), l.display());
        }
        for report in &last {
            let mut codes: Vec<&str> = report.problems.iter().map(|p| p.code.as_str()).collect();
            codes.sort();
            codes.dedup();
            eprintln!(
                "  {} loadable {} problems {} {:?}",
                report.path,
                report.loadable,
                report.problems.len(),
                codes
            );
        }
    }

    // Per-object parse cost over the largest closure, each file parsed cold by a loader of its own.
    let mut analyzer = Analyzer::new(config.clone(), server());
    let report = analyzer.analyze(&image.join("lib/postgis_raster-3.so"));
    let mut paths: Vec<PathBuf> = report
        .dependencies
        .iter()
        .filter_map(|d| d.path.as_ref().map(PathBuf::from))
        .collect();
    paths.push(postgres.to_owned());
    paths.sort();
    paths.dedup();
    let mut per_object: Vec<(std::time::Duration, u64, PathBuf)> = paths
        .into_iter()
        .map(|p| {
            let mut loader = Loader::new(config.clone());
            let t = Instant::now();
            let bytes = loader.facts_for(&p).map(|f| f.bytes_read()).unwrap_or(0);
            (t.elapsed(), bytes, p)
        })
        .collect();
    per_object.sort_by_key(|o| std::cmp::Reverse(o.0));
    let sum: std::time::Duration = per_object.iter().map(|o| o.0).sum();
    eprintln!(
        "postgis_raster-3.so: parsing its {} objects one by one: {:.1} ms; the slowest:",
        per_object.len(),
        ms(sum)
    );
    for (t, bytes, p) in per_object.iter().take(12) {
        eprintln!(
            "  {:>6.2} ms {:>8.1} KiB read  {}",
            ms(*t),
            *bytes as f64 / 1024.0,
            p.display()
        );
    }
}

/// The AArch64 machine (little-endian, LP64), as Debian's arm64 calls it.
const AARCH64: HostAbi = HostAbi {
    class: ElfClass::Elf64,
    byte_order: ByteOrder::Little,
    machine: 183,
};

/// Flags that make clang build an AArch64 shared library without a libc (the fixtures need
/// none): clang's own headers, binutils-aarch64-linux-gnu's linker. Debian's gcc cross compiler
/// conflicts with gcc-multilib (the 32-bit test), so clang builds the arm64 fixtures; real
/// gcc-built arm64 libraries are judged by tests/oracle-arm64.
const AARCH64_CLANG: &[&str] = &["--target=aarch64-linux-gnu", "-nostdlib"];

fn aarch64_toolchain() {
    let probe = Command::new("aarch64-linux-gnu-ld").arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "aarch64-linux-gnu-ld is missing: run scripts/setup.sh (installs binutils-aarch64-linux-gnu)"
    );
}

#[test]
fn preload_needs_decided_from_pg_init() {
    preload_needs_decided("cc", &[], host(), &[&["-O2"], &["-O0"], &["-O2", "-fno-plt"], &["-Os"]]);
}

/// The same fixtures compiled for AArch64 (with and without Debian's branch protection: `bti c`,
/// `paciasp`): the walk decides them as it does on x86-64.
#[test]
fn preload_needs_decided_from_aarch64_pg_init() {
    aarch64_toolchain();
    preload_needs_decided(
        "clang",
        AARCH64_CLANG,
        AARCH64,
        &[
            &["-O2"],
            &["-O0"],
            &["-O2", "-fno-plt"],
            &["-Os"],
            &["-O2", "-mbranch-protection=standard"],
        ],
    );
}

/// Compiles case `case` of the preload.c fixture into `out` with `compiler`, `target` and `flags`.
fn preload_case(out: &Path, compiler: &str, case: &str, target: &[&str], flags: &[&str]) -> PathBuf {
    let define = format!("-DCASE_{case}");
    let src = fixture("preload.c");
    let mut args = vec![
        "-shared",
        "-fPIC",
        "-o",
        out.to_str().unwrap(),
        src.to_str().unwrap(),
        &define,
    ];
    args.extend_from_slice(target);
    args.extend_from_slice(flags);
    compile(compiler, &args);
    out.to_path_buf()
}

fn preload_needs_decided(compiler: &str, target: &[&str], abi: HostAbi, flag_sets: &[&[&str]]) {
    let dir = tempfile::tempdir().unwrap();
    // (case, expected need without preloading) — each compiled at -O2, -O0 and -O2 -fno-plt.
    #[derive(Debug, PartialEq)]
    enum Want {
        None,
        Recommended,
        Required(&'static str),
        Undecided,
    }
    let cases: &[(&str, Want)] = &[
        (
            "REFUSE",
            Want::Required("fixture must be loaded via shared_preload_libraries"),
        ),
        ("REFUSE_FATAL_LATE", Want::Required("fixture: preload me")),
        ("RETURN_EARLY", Want::Recommended),
        ("POSTMASTER_INT", Want::Required("fixture.max")),
        ("POSTMASTER_BOOL", Want::Required("fixture.on")),
        ("POSTMASTER_ENUM", Want::Required("fixture.e")),
        ("POSTMASTER_REAL", Want::Required("fixture.r")),
        ("SUSET_ONLY", Want::None),
        ("GUARDED_GUC", Want::None),
        ("UNRELATED_ERROR", Want::Recommended),
        ("WARNING_ONLY", Want::None),
        (
            "BINARY_UPGRADE",
            Want::Required("can only be loaded via shared_preload_libraries"),
        ),
        ("SHMEM_DIRECT", Want::Required("RequestAddinShmemSpace")),
        ("PLAIN", Want::None),
        ("GLOBAL_FLAG", Want::None),
        ("UNKNOWN_CONTEXT", Want::Undecided),
        ("REFUSE_PRELOAD", Want::None),
        (
            "REFUSE_THEN_CHECK",
            Want::Required("fixture must be loaded via shared_preload_libraries"),
        ),
        ("LOADER", Want::Required("fixture loader must be loaded")),
        ("VERSIONED", Want::Required("extension fixture must be preloaded")),
    ];
    // Only this case refuses to be preloaded.
    let refuses_preload =
        |case: &str| (case == "REFUSE_PRELOAD").then_some("can not be loaded using shared_preload_libraries");
    let mut failures = Vec::new();
    for (case, want) in cases {
        for (k, flags) in flag_sets.iter().enumerate() {
            let out = preload_case(
                &dir.path().join(format!("{case}-{k}.so")),
                compiler,
                case,
                target,
                flags,
            );
            let report = inspect_bytes(
                fs::read(&out).unwrap(),
                &abi,
                &ServerMagic::pg18(abi.class),
                ReadLimits::default(),
            );
            assert!(report.preload.has_init, "{case}");
            let got = report.preload.need();
            let ok = match (want, &got) {
                (Want::None, PreloadNeed::None) => true,
                (Want::Recommended, PreloadNeed::Recommended(_)) => true,
                (Want::Required(text), PreloadNeed::Required(why)) => why.contains(text),
                (Want::Undecided, PreloadNeed::Undecided(_)) => true,
                _ => false,
            };
            if !ok {
                failures.push(format!("{compiler} {case} {flags:?}: want {want:?}, got {got:?}"));
            }
            let refused = report.preload.preload_refused.as_ref().map(|r| r.message());
            let refused_ok = match (refuses_preload(case), &refused) {
                (Some(text), Some(m)) => m.contains(text) && m.contains("FATAL"),
                (None, None) => true,
                _ => false,
            };
            if !refused_ok {
                failures.push(format!("{compiler} {case} {flags:?}: preload refused {refused:?}"));
            }
            // The loader publishes its rendezvous variable; the versioned library's refusal is
            // lifted by it, and only by it.
            let present = vec!["fixture.loader_present".to_string()];
            let (publishes, lifted_by) = match *case {
                "LOADER" => (present.clone(), vec![]),
                "VERSIONED" => (vec![], present.clone()),
                _ => (vec![], vec![]),
            };
            let mut lifted = report.preload.clone();
            lifted.assume_published(&present);
            let mut other = report.preload.clone();
            other.assume_published(&["fixture.other".to_string()]);
            if report.preload.publishes != publishes
                || report.preload.unless_published != lifted_by
                || (*case == "VERSIONED" && lifted.need() != PreloadNeed::None)
                || other.need() != got
            {
                failures.push(format!(
                    "{compiler} {case} {flags:?}: publishes {:?}, lifted by {:?}, lifted {:?}",
                    report.preload.publishes,
                    report.preload.unless_published,
                    lifted.need()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Real arm64 files: Debian unstable's arm64 PostgreSQL 18 root and its arm64 extension packages,
/// laid out by tests/oracle-arm64 (which runs this with PGEXT_ARM64_ROOT and
/// PGEXT_ARM64_CORPUS set). Ignored by default: it needs those downloads.
#[test]
#[ignore = "needs the arm64 root and corpus of tests/oracle-arm64 (PGEXT_ARM64_ROOT, PGEXT_ARM64_CORPUS)"]
fn arm64_debian_files() {
    let root = PathBuf::from(std::env::var("PGEXT_ARM64_ROOT").expect("PGEXT_ARM64_ROOT"));
    let corpus = PathBuf::from(std::env::var("PGEXT_ARM64_CORPUS").expect("PGEXT_ARM64_CORPUS"));
    // ld.so.cache written by the root's own ldconfig: every entry is FLAG_AARCH64_LIB64 | libc6
    // (or plain ELF), none is skipped as another ABI's, and it names the multiarch libc.
    let cache = ldcache::LdCache::load(&root.join("etc/ld.so.cache"), &AARCH64).unwrap();
    assert!(cache.len() > 50, "{} entries", cache.len());
    assert_eq!(cache.skipped_other_abi(), 0);
    assert!(cache.entries().all(|e| e.flags == 0x0a03 || e.flags == 1), "flags");
    assert_eq!(cache.lookup("libc.so.6"), Some("/usr/lib/aarch64-linux-gnu/libc.so.6"));
    // The server's own modules: magic blocks decoded from Pg_magic_func's arm64 code, every one
    // loadable against the root (ld.so.cache, multiarch directories, symbol versions, postgres'
    // exports).
    let mut config = SearchConfig::for_sysroot(AARCH64, &root);
    config.postgres_executable = Some(root.join("usr/lib/postgresql/18/bin/postgres"));
    let lib = root.join("usr/lib/postgresql/18/lib");
    let mut n = 0;
    for entry in fs::read_dir(&lib).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "so") {
            continue;
        }
        let report = analyze_library(&path, &config, &ServerMagic::pg18(ElfClass::Elf64));
        let magic = report
            .magic
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no magic block", path.display()));
        assert_eq!(
            (magic.pg_version, magic.source),
            (1800, MagicSource::Decoded),
            "{}",
            path.display()
        );
        assert!(
            report.symbols_checked && report.loadable,
            "{}: {:#?}",
            path.display(),
            report.problems
        );
        assert!(
            !matches!(report.preload.need(), PreloadNeed::Undecided(_)),
            "{}: {:?}",
            path.display(),
            report.preload.need()
        );
        n += 1;
    }
    assert!(n > 40, "{n} contrib modules");
    // Extension libraries whose preload needs are known: decided from their arm64 _PG_init.
    let need = |image: &str, file: &str| {
        let r = analyze_library(
            &corpus.join(image).join("lib").join(file),
            &config,
            &ServerMagic::pg18(ElfClass::Elf64),
        );
        r.preload.need()
    };
    for (image, file) in [
        ("cron", "pg_cron.so"),
        ("pgaudit", "pgaudit.so"),
        ("timescaledb", "timescaledb.so"),
        ("pglogical", "pglogical.so"),
    ] {
        assert!(
            matches!(need(image, file), PreloadNeed::Required(_)),
            "{file}: {:?}",
            need(image, file)
        );
    }
    for (image, file) in [
        ("age", "age.so"),
        ("hll", "hll.so"),
        ("orafce", "orafce.so"),
        ("partman", "pg_partman_bgw.so"),
    ] {
        assert!(
            matches!(need(image, file), PreloadNeed::None | PreloadNeed::Recommended(_)),
            "{file}: {:?}",
            need(image, file)
        );
    }
}

/// A library whose `_PG_init` opens another with `dlopen()` (mysql_fdw's client library): the
/// name is taken from the walk and searched like a dependency — missing, an error when
/// `_PG_init` can raise an ERROR either way, a warning when nothing shows it needs it.
#[test]
fn dlopen_in_pg_init_is_a_dependency() {
    let dir = tempfile::tempdir().unwrap();
    for flags in [&["-O2"][..], &["-O0"][..]] {
        let build = |case: &str| {
            let out = preload_case(
                &dir.path().join(format!("{case}{}.so", flags[0])),
                "cc",
                case,
                &[],
                flags,
            );
            analyze_library(&out, &SearchConfig::new(host()), &server())
        };
        let absent = "libpgext_fixture_absent.so.1";

        let report = build("DLOPEN_REQUIRED");
        assert_eq!(report.preload.dlopens, vec![absent.to_string()], "{flags:?}");
        assert!(report.preload.raises_anyway, "{flags:?}");
        assert_eq!(report.preload.need(), PreloadNeed::None, "{flags:?}");
        let missing = report
            .errors()
            .find(|p| p.code == Code::MissingLibrary)
            .expect("an error");
        assert_eq!(missing.subject.as_deref(), Some(absent));
        assert!(
            missing
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("opens it with dlopen()") && d.contains("can raise an ERROR")),
            "{missing:?}"
        );

        let report = build("DLOPEN_OPTIONAL");
        assert_eq!(report.preload.dlopens, vec![absent.to_string()], "{flags:?}");
        assert!(!report.preload.raises_anyway, "{flags:?}");
        assert!(
            !report.errors().any(|p| p.code == Code::MissingLibrary),
            "{:?}",
            report.problems
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.code == Code::MissingLibrary && p.severity == Severity::Warning),
            "{:?}",
            report.problems
        );

        let report = build("DLOPEN_PRESENT");
        assert_eq!(report.preload.dlopens, vec!["libm.so.6".to_string()], "{flags:?}");
        assert!(
            !report.problems.iter().any(|p| p.code == Code::MissingLibrary),
            "{:?}",
            report.problems
        );
        assert!(
            report
                .dependencies
                .iter()
                .any(|d| d.name == "libm.so.6" && d.path.is_some())
        );
    }
}
