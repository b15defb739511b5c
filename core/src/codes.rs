//! Every problem and finding code SQL can show, in one list.
//!
//! A code is part of pgext's SQL surface: views, jsonb, `pgext.findings` and scripts match on
//! it, so it never changes meaning and a new situation gets a new code. [`Problem`] and
//! [`Finding`] carry a [`Code`], never text, so no code can reach SQL without being listed here;
//! narrower enums (a tree walk's problems, a path element's, a refused file) convert into it.
//! The book's table of codes (docs/src/reference/problem-codes.md) is rendered from this list
//! ([`markdown_table`]) and a test keeps the two equal.
//!
//! Not listed: `error_code`, a verification's failure class (`pgext_oci::ErrorCode`, plus
//! [`Code::ScanFailed`]), documented with verification.
//!
//! [`Problem`]: crate::problem::Problem
//! [`Finding`]: crate::status::Finding

use strum::{EnumMessage, EnumProperty, IntoEnumIterator};

/// A stable problem or finding code. Its SQL name is the variant in snake_case; `message` says
/// what it means and `shown` where it appears (the book's table).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
    strum::EnumMessage,
    strum::EnumProperty,
)]
#[strum(serialize_all = "snake_case")]
pub enum Code {
    // Path settings, one element each.
    #[strum(
        message = "a zero-length element (`a::b`, a leading or trailing `:`)",
        props(shown = "paths")
    )]
    Empty,
    #[strum(
        message = "the searched directory is not absolute: a lookup that reaches it raises an error",
        props(shown = "paths")
    )]
    Relative,
    #[strum(
        message = "a `dynamic_library_path` element starting with `$` that is not `$libdir`: a lookup that reaches it raises \"invalid macro name in path\"",
        props(shown = "paths")
    )]
    InvalidMacro,
    #[strum(
        message = "the directory appears earlier in the same setting; this copy is never reached",
        props(shown = "paths")
    )]
    Duplicate,
    #[strum(
        message = "the directory does not exist: PostgreSQL skips it without a word (a failed mount makes its extensions vanish)",
        props(shown = "paths")
    )]
    Missing,
    #[strum(
        message = "a directory of a path setting, or an image's root, exists but is not a directory (`pg_available_extensions` raises an error on it)",
        props(shown = "paths, mounted_images")
    )]
    NotADirectory,
    #[strum(
        message = "permission denied: a directory that cannot be listed or entered, a file that cannot be read, a library that cannot be parsed (I/O error, malformed tables, limits exceeded)",
        props(shown = "paths, libraries, mounted_images")
    )]
    Unreadable,

    // Control files and scripts.
    #[strum(
        message = "the control file does not parse as PostgreSQL parses it; the message is the server's",
        props(shown = "mounted_extensions")
    )]
    ControlInvalid,
    #[strum(
        message = "a directory where the control file should be",
        props(shown = "mounted_extensions")
    )]
    ControlNotAFile,
    #[strum(message = "the control file could not be read", props(shown = "mounted_extensions"))]
    ControlUnreadable,
    #[strum(
        message = "no `default_version` in the control file: `CREATE EXTENSION` without `VERSION` fails",
        props(shown = "mounted_extensions")
    )]
    NoDefaultVersion,
    #[strum(
        message = "no install script (nor update path from one) reaches the default version",
        props(shown = "mounted_extensions")
    )]
    DefaultVersionNotInstallable,
    #[strum(
        message = "the installed version has no update path to the default version: `ALTER EXTENSION UPDATE` fails",
        props(shown = "mounted_extensions")
    )]
    NoUpdatePath,
    #[strum(
        message = "`<ext>--a--b--c.sql`: more than two versions in a script name; PostgreSQL ignores the file",
        props(shown = "mounted_extensions")
    )]
    ExtraSeparator,
    #[strum(
        message = "a script names a version PostgreSQL refuses (empty, `--`, a leading or trailing `-`, a directory separator)",
        props(shown = "mounted_extensions")
    )]
    InvalidVersion,
    #[strum(
        message = "`<ext>--<version>.control` for a version no script names: never read",
        props(shown = "mounted_extensions")
    )]
    UnusedControlFile,
    #[strum(
        message = "scripts name more than 1000 versions: the version graph is not searched, so no install or update path is claimed",
        props(shown = "mounted_extensions")
    )]
    TooManyVersions,
    #[strum(
        message = "a script that could not be read for its library references",
        props(shown = "mounted_extensions")
    )]
    ScriptUnreadable,
    #[strum(
        message = "the extension's script directory could not be listed",
        props(shown = "mounted_extensions")
    )]
    ScriptDirUnreadable,
    #[strum(
        message = "more than 256 MiB of one extension's scripts: the rest are not scanned for libraries",
        props(shown = "mounted_extensions")
    )]
    ReferencesIncomplete,

    // Server files the scripts read while they run.
    #[strum(
        message = "a script on the install or update path reads a server file (`COPY … FROM 'file'`, `pg_read_file`, `lo_import`) that is missing there or is no readable file: `CREATE EXTENSION` fails (the path was baked in for another layout)",
        props(shown = "mounted_extensions")
    )]
    MissingDataFile,
    #[strum(
        message = "a script on the install or update path reads a server file pgext cannot look at (a relative path without a known data directory, a placeholder): `compatible` is NULL",
        props(shown = "mounted_extensions")
    )]
    DataFileUnchecked,
    #[strum(
        message = "an element of `extension_control_path` before this extension's directory is not absolute: `CREATE EXTENSION` fails before reaching it",
        props(shown = "mounted_extensions")
    )]
    PathError,

    // Files refused before a byte is read, and listings.
    #[strum(
        message = "a FIFO, socket or device, or a file of a kernel pseudo file system, where a control file, script or library belongs",
        props(shown = "mounted_extensions, libraries")
    )]
    NotRegularFile,
    #[strum(
        message = "a control file over 1 MiB or a script over 32 MiB: not read at all",
        props(shown = "mounted_extensions, libraries")
    )]
    FileTooLarge,
    #[strum(
        message = "a directory where a library should be: PostgreSQL skips it",
        props(shown = "libraries")
    )]
    NotAFile,
    #[strum(
        message = "a directory (control, library, script or `system/`) with more than 50 000 entries, or a tree of more than 500 000: its contents are not examined",
        props(shown = "mounted_extensions, mounted_images")
    )]
    TooManyEntries,
    #[strum(
        message = "a directory that exists but could not be listed (I/O error)",
        props(shown = "mounted_images")
    )]
    DirectoryUnreadable,

    // Libraries and the extensions that load them.
    #[strum(
        message = "no library PostgreSQL would find matches the name a script or the control file uses",
        props(shown = "mounted_extensions")
    )]
    LibraryNotFound,
    #[strum(
        message = "the library search fails at an element of `dynamic_library_path` (relative, invalid macro) before it finds the library",
        props(shown = "mounted_extensions")
    )]
    LibrarySearchError,
    #[strum(
        message = "`LOAD '$libdir/…'` or a `$libdir` path looks only in the server's own directory, but the library is only in an image",
        props(shown = "mounted_extensions")
    )]
    LibdirReference,
    #[strum(message = "a required extension is not visible", props(shown = "mounted_extensions"))]
    RequiresMissing,
    #[strum(
        message = "a required extension is not compatible",
        props(shown = "mounted_extensions")
    )]
    RequiresIncompatible,
    #[strum(
        message = "the chain of required extensions is cyclic",
        props(shown = "mounted_extensions")
    )]
    RequiresCycle,
    #[strum(
        message = "a required extension is not usable (in `usable_problems`)",
        props(shown = "mounted_extensions")
    )]
    RequiresUnusable,
    #[strum(
        message = "the library works only from `shared_preload_libraries`: `_PG_init` refuses otherwise (an error for `CREATE`/`LOAD`, a warning in `usable_problems`)",
        props(shown = "mounted_extensions, libraries")
    )]
    PreloadRequired,
    #[strum(
        message = "the library loads, but does less than when preloaded",
        props(shown = "mounted_extensions, libraries")
    )]
    PreloadRecommended,
    #[strum(
        message = "whether `_PG_init` refuses unless preloaded could not be decided statically (`compatible` is NULL)",
        props(shown = "mounted_extensions, libraries")
    )]
    PreloadUndecided,
    #[strum(
        message = "the library refuses to be preloaded (`_PG_init` raises FATAL when `process_shared_preload_libraries_in_progress` is set, as pgtt does): the server does not start with it in `shared_preload_libraries`",
        props(shown = "mounted_extensions, libraries, preflight")
    )]
    PreloadRefused,
    #[strum(
        message = "the file does not start with the ELF magic bytes",
        props(shown = "libraries, mounted_extensions")
    )]
    NotElf,
    #[strum(
        message = "the file ends before data its headers point to (loading it may crash the backend)",
        props(shown = "libraries, mounted_extensions")
    )]
    Truncated,
    #[strum(
        message = "32-bit against a 64-bit server, or the reverse",
        props(shown = "libraries, mounted_extensions")
    )]
    WrongClass,
    #[strum(
        message = "another CPU architecture, byte order or OS ABI than the server's",
        props(shown = "libraries, mounted_extensions")
    )]
    WrongMachine,
    #[strum(
        message = "not a shared library (`ET_DYN` without the PIE flag)",
        props(shown = "libraries, mounted_extensions")
    )]
    NotSharedObject,
    #[strum(
        message = "no exported `Pg_magic_func`: PostgreSQL refuses the library (\"missing magic block\")",
        props(shown = "libraries, mounted_extensions")
    )]
    MissingMagicBlock,
    #[strum(
        message = "`Pg_magic_func` exists but its block could not be located or decoded statically",
        props(shown = "libraries, mounted_extensions")
    )]
    UnreadableMagicBlock,
    #[strum(
        message = "the magic block differs from the server's in an ABI field or its length (\"ABI mismatch\")",
        props(shown = "libraries, mounted_extensions")
    )]
    MagicMismatch,
    #[strum(
        message = "the magic block is for another PostgreSQL major version (\"version mismatch\")",
        props(shown = "libraries, mounted_extensions")
    )]
    PgVersionMismatch,
    #[strum(
        message = "a `DT_NEEDED` library, or one `_PG_init` opens itself with `dlopen()` (mysql_fdw's client library), cannot be found the way ld.so searches (e.g. `libgeos_c.so.1` outside `ld_library_path`)",
        props(shown = "libraries, mounted_extensions")
    )]
    MissingLibrary,
    #[strum(
        message = "a required symbol version (e.g. `GLIBC_2.38`) is not defined by the library found",
        props(shown = "libraries, mounted_extensions")
    )]
    MissingSymbolVersion,
    #[strum(
        message = "a non-weak undefined symbol that nothing loaded defines",
        props(shown = "libraries, mounted_extensions")
    )]
    UndefinedSymbol,
    #[strum(
        message = "initial-exec TLS (`DF_STATIC_TLS`): `dlopen` may run out of static TLS space",
        props(shown = "libraries, mounted_extensions")
    )]
    StaticTls,

    // Images: mounts, settings, trees and metadata.
    #[strum(
        message = "the image's directory does not exist but a setting or a pin names it: its extensions are simply unavailable",
        props(shown = "mounted_images, preflight")
    )]
    NotMounted,
    #[strum(
        message = "the image's `share/extension`, `lib` or `system` holds files but is not on `extension_control_path`, `dynamic_library_path` or `LD_LIBRARY_PATH`",
        props(shown = "mounted_images")
    )]
    NotOnPath,
    #[strum(message = "no setting points into this image", props(shown = "mounted_images"))]
    UnusedImage,
    #[strum(
        message = "the image's root could not be opened or listed",
        props(shown = "mounted_images")
    )]
    RootUnreadable,
    #[strum(
        message = "the tree is deeper than 64 levels: not scanned",
        props(shown = "mounted_images")
    )]
    TooDeep,
    #[strum(
        message = "entries of the tree could not be examined: no `tree_digest` (a comparison with the pinned image reports an error, never \"files missing\")",
        props(shown = "mounted_images")
    )]
    ScanIncomplete,
    #[strum(message = "the tree digest could not be computed", props(shown = "mounted_images"))]
    NoTreeDigest,
    #[strum(
        message = "a name or link target that is not valid UTF-8 (listed, escaped losslessly)",
        props(shown = "mounted_images, mounted_extensions")
    )]
    NonUtf8Name,
    #[strum(
        message = "a symbolic link whose target does not exist",
        props(shown = "mounted_images, mounted_extensions")
    )]
    DanglingSymlink,
    #[strum(
        message = "a symbolic link whose resolution loops",
        props(shown = "mounted_images, mounted_extensions")
    )]
    SymlinkLoop,
    #[strum(
        message = "a FIFO, socket or device node in the image",
        props(shown = "mounted_images")
    )]
    SpecialFile,
    #[strum(
        message = "an entry disappeared between listing and reading",
        props(shown = "mounted_images")
    )]
    Vanished,
    #[strum(
        message = "a file changed (size, mtime, ctime or identity) while it was hashed",
        props(shown = "mounted_images")
    )]
    Changed,
    #[strum(
        message = "any other I/O failure while scanning the tree",
        props(shown = "mounted_images")
    )]
    IoError,
    #[strum(
        message = "the image's `io.cloudnativepg.image.base.pgmajor` label or annotation names another PostgreSQL major",
        props(shown = "mounted_images")
    )]
    ImagePgMajorMismatch,
    #[strum(
        message = "the image is for another OS or architecture",
        props(shown = "mounted_images")
    )]
    ImagePlatformMismatch,
    #[strum(
        message = "the image's `io.cloudnativepg.image.base.os` label names another release than the server's",
        props(shown = "mounted_images")
    )]
    ImageOsMismatch,
    #[strum(
        message = "the target PostgreSQL has no `extension_control_path`: judged as if the images' files were installed into its own directories",
        props(shown = "preflight")
    )]
    ControlPathUnsupported,

    // Findings of the worker's cycles.
    #[strum(
        message = "the mount differs from the pinned image",
        props(shown = "findings, image_status")
    )]
    Drift,
    #[strum(
        message = "the mount could not be read completely: its state is unknown (also an `error_code`)",
        props(shown = "findings, image_status")
    )]
    ScanFailed,
    #[strum(message = "the registry could not be reached", props(shown = "findings"))]
    Unreachable,
    #[strum(
        message = "a verification failed (the message carries its `error_code`)",
        props(shown = "findings")
    )]
    VerifyError,
    #[strum(
        message = "the tag of the pinned reference now names another image; verification uses the pinned digest",
        props(shown = "findings")
    )]
    TagMoved,
    #[strum(
        message = "a signature is malformed or signs another digest",
        props(shown = "findings")
    )]
    SignatureInvalid,
    #[strum(
        message = "the image is not signed by a key of `pgext.trusted_keys`",
        props(shown = "findings")
    )]
    NotSigned,
    #[strum(message = "the image's signatures could not be judged", props(shown = "findings"))]
    SignatureError,
    #[strum(
        message = "checking the image failed (the message says why)",
        props(shown = "findings")
    )]
    CheckFailed,
    #[strum(
        message = "an extension of the image is not compatible (one finding per extension sums up its errors)",
        props(shown = "findings")
    )]
    Incompatible,
    #[strum(
        message = "pgext is not installed in `pgext.database`: pins, recorded trees and history are not read",
        props(shown = "findings")
    )]
    NotInstalled,
    #[strum(
        message = "the worker could not read pins and recorded checks",
        props(shown = "findings")
    )]
    ReadFailed,
    #[strum(message = "the worker could not record its results", props(shown = "findings"))]
    WriteFailed,

    // Major upgrades (`pgext-check upgrade`) and `ALTER EXTENSION … UPDATE` pre-flights.
    #[strum(
        message = "an update script on the path from the installed to the default version does not parse in PostgreSQL's grammar: `ALTER EXTENSION … UPDATE` fails there",
        props(shown = "`pgext-check upgrade`")
    )]
    ScriptSyntaxError,
    #[strum(
        message = "an installed extension has no control file on the new server's `extension_control_path`: after the upgrade it cannot be updated, dumped or re-created",
        props(shown = "`pgext-check upgrade`")
    )]
    NotProvided,
    #[strum(
        message = "a C function of the extension references a library the new server cannot `LOAD`: `pg_upgrade --check` stops at \"Checking for presence of required libraries\"",
        props(shown = "`pgext-check upgrade`")
    )]
    LibraryUnloadable,
    #[strum(
        message = "a dependency resolves to an earlier `LD_LIBRARY_PATH` entry of the upgrade Job (the other set of images) that lacks what the library needs; the other order loads it",
        props(shown = "`pgext-check upgrade`")
    )]
    LdLibraryPathShadowed,
}

impl Code {
    /// The stable name SQL shows.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What the code means, one line.
    pub fn meaning(self) -> &'static str {
        self.get_message().unwrap_or_default()
    }

    /// Where SQL shows it (views, `preflight`, `findings`), comma-separated.
    pub fn shown(self) -> &'static str {
        self.get_str("shown").unwrap_or_default()
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The book's table of codes (docs/src/reference/problem-codes.md), rendered from the list.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | shown in | meaning |\n| --- | --- | --- |\n");
    for c in Code::iter() {
        out.push_str(&format!("| `{}` | {} | {} |\n", c.as_str(), c.shown(), c.meaning()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code says what it means and where it shows, and no two share a name.
    #[test]
    fn every_code_is_described_once() {
        let mut names = std::collections::BTreeSet::new();
        for c in Code::iter() {
            assert!(!c.meaning().is_empty() && !c.shown().is_empty(), "{c:?}");
            assert!(names.insert(c.as_str()), "{c:?}");
            assert_eq!(c.as_str().parse::<Code>(), Ok(c));
        }
    }

    /// The book's problem-code reference lists exactly these codes, as `markdown_table` renders
    /// them. After changing the list, `bash scripts/book.sh bless` (or
    /// `PGEXT_BLESS_BOOK=1 cargo test -p pgext-core codes::`) rewrites the table.
    #[test]
    fn book_table_is_the_list() {
        const BEGIN: &str = "<!-- codes: begin (rendered from core/src/codes.rs) -->\n";
        const END: &str = "<!-- codes: end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/reference/problem-codes.md");
        let page = std::fs::read_to_string(path).unwrap();
        let start = page.find(BEGIN).expect("the page has the codes markers") + BEGIN.len();
        let end = start + page[start..].find(END).expect("the page has the end marker");
        let want = markdown_table();
        if std::env::var_os("PGEXT_BLESS_BOOK").is_some() {
            std::fs::write(path, format!("{}{want}{}", &page[..start], &page[end..])).unwrap();
        } else {
            assert_eq!(
                page[start..end],
                want,
                "the book's table of codes is stale: run bash scripts/book.sh bless"
            );
        }
    }
}
