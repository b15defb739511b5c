//! Extension scripts: where they live, which versions they make installable, which scripts
//! `CREATE EXTENSION` and `ALTER EXTENSION ... UPDATE` would run, which libraries a script
//! names and which server files it reads.
//!
//! A port of PostgreSQL 18's `get_extension_script_directory()`, `get_ext_ver_list()`,
//! `get_ext_ver_info()`, `find_update_path()`, `find_install_path()`,
//! `get_available_versions_for_extension()` and `check_valid_version_name()`
//! (commands/extension.c), working on file names instead of a directory so it can be tested and
//! used without touching the file system.
//!
//! [`scan_script`] is a heuristic SQL scanner, not a parser; its limits are listed there.
//!
//! This file: where scripts live and what their names mean. `graph.rs`: the version graph and
//! its paths. `references.rs`: the libraries a script names, over `lexer.rs`'s tokens;
//! `reads.rs`: the server files it reads.

mod graph;
mod lexer;
mod reads;
mod references;

pub use graph::{AvailableVersion, ScriptSet};
pub use lexer::MAX_STATEMENT_TOKENS;
pub use reads::{FileRead, FileReadKind};
pub use references::{
    LibraryReference, ReferenceKind, ScriptScan, library_references, library_references_in,
    library_references_unskimmed, scan_script, scan_script_in, scan_script_unskimmed,
};

use crate::codes::Code;
use std::fmt;

/// The directory holding an extension's scripts and secondary control files.
///
/// `control_dir` is where the primary control file was found (an `extension_control_path`
/// element with `/extension` appended, or `<sharedir>/extension`). Without `directory` that is
/// the answer; an absolute `directory` is used as is; a relative one is joined, without any
/// normalisation, to the base directory: `control_dir` minus its trailing `/extension`.
pub fn script_directory(control_dir: &str, directory: Option<&str>) -> String {
    match directory {
        None => control_dir.to_owned(),
        Some(dir) if dir.starts_with('/') => dir.to_owned(),
        Some(dir) => format!("{}/{dir}", base_directory(control_dir)),
    }
}

/// `basedir` of `parse_extension_control_file()`: the control directory minus `/extension`.
///
/// The server asserts that every control directory ends in `/extension` (it appends it itself);
/// a directory that does not is returned unchanged.
pub fn base_directory(control_dir: &str) -> &str {
    control_dir.strip_suffix("/extension").unwrap_or(control_dir)
}

/// A script as `execute_extension_script()` hands it to the parser: `\echo` lines dropped,
/// `MODULE_PATHNAME` and the `@extschema@` / `@extschema:<name>@` / `@extowner@` placeholders
/// replaced (their values do not change what parses: they become identifiers).
pub fn prepare_for_parser(sql: &str, module_pathname: Option<&str>) -> String {
    let mut out: String = sql
        .split_inclusive('\n')
        .map(|l| if l.starts_with("\\echo") { "\n" } else { l })
        .collect();
    if let Some(mp) = module_pathname {
        out = out.replace("MODULE_PATHNAME", mp);
    }
    let mut rest = out.as_str();
    let mut done = String::with_capacity(out.len());
    while let Some(at) = rest.find('@') {
        done.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        match tail.find('@') {
            Some(end) if tail[..end].starts_with("extschema") || &tail[..end] == "extowner" => {
                done.push_str("public");
                rest = &tail[end + 1..];
            }
            _ => {
                done.push('@');
                rest = tail;
            }
        }
    }
    done.push_str(rest);
    done
}

/// What is wrong with a version name, per `check_valid_version_name()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum VersionNameProblem {
    /// The name is empty.
    Empty,
    /// The name contains `--`.
    DoubleDash,
    /// The name starts or ends with `-`.
    DashAtEdge,
    /// The name contains `/`.
    DirectorySeparator,
}

impl VersionNameProblem {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// The server's `errdetail` text.
    pub fn detail(self) -> &'static str {
        match self {
            VersionNameProblem::Empty => "Version names must not be empty.",
            VersionNameProblem::DoubleDash => "Version names must not contain \"--\".",
            VersionNameProblem::DashAtEdge => "Version names must not begin or end with \"-\".",
            VersionNameProblem::DirectorySeparator => "Version names must not contain directory separator characters.",
        }
    }
}

/// A version name the server refuses as a `CREATE EXTENSION` / `ALTER EXTENSION` target.
/// `Display` is the server's message; [`VersionNameProblem::detail`] its detail line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid extension version name: \"{version}\"")]
pub struct VersionNameError {
    /// The rejected name.
    pub version: String,
    /// Why it is rejected.
    pub problem: VersionNameProblem,
}

/// `check_valid_version_name()`, checks in the server's order.
pub fn check_version_name(version: &str) -> Result<(), VersionNameError> {
    let problem = if version.is_empty() {
        VersionNameProblem::Empty
    } else if version.contains("--") {
        VersionNameProblem::DoubleDash
    } else if version.starts_with('-') || version.ends_with('-') {
        VersionNameProblem::DashAtEdge
    } else if version.contains('/') {
        VersionNameProblem::DirectorySeparator
    } else {
        return Ok(());
    };
    Err(VersionNameError {
        version: version.to_owned(),
        problem,
    })
}

/// What one file in the script directory is, for this extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptKind {
    /// `<ext>--<version>.sql`.
    Install {
        /// The version it installs.
        version: String,
    },
    /// `<ext>--<from>--<to>.sql`.
    Update {
        /// Version updated from.
        from: String,
        /// Version updated to.
        to: String,
    },
    /// `<ext>--<version>.control`.
    SecondaryControl {
        /// The version whose parameters it overrides.
        version: String,
    },
}

/// A file of the extension found in the script directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    /// The file name, as given.
    pub file_name: String,
    /// What the server makes of it.
    pub kind: ScriptKind,
}

/// A file that looks like one of the extension's but is ignored or unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptProblem {
    /// `<ext>--a--b--c.sql`: more than two versions; the server silently ignores the file.
    ExtraSeparator {
        /// The ignored file.
        file_name: String,
    },
    /// A version name the server refuses as a target. Like the server, the version stays in the
    /// graph (it is listed by `pg_available_extension_versions()` and can be a step of a path),
    /// but `CREATE EXTENSION ... VERSION` / `ALTER EXTENSION ... UPDATE TO` it fail.
    InvalidVersion {
        /// The file naming the version.
        file_name: String,
        /// The server's complaint.
        error: VersionNameError,
    },
    /// `<ext>--<version>.control` for a version no script mentions: never read.
    UnusedControlFile {
        /// The ignored file.
        file_name: String,
        /// The version in its name.
        version: String,
    },
    /// More versions than [`MAX_VERSIONS`]: the version graph is not searched (its searches cost
    /// time quadratic in the versions), so no install or update path is known.
    TooManyVersions {
        /// Versions named by the extension's scripts.
        count: usize,
    },
}

/// Most versions of one extension whose graph is searched: 1000. Real extensions name at most a
/// few hundred (PostGIS, with an update script from every release, about 150); the searches
/// (`pg_available_extension_versions()` order, install paths) cost O(versions × scripts).
pub const MAX_VERSIONS: usize = 1000;

impl ScriptProblem {
    /// Stable machine-readable code.
    pub fn code(&self) -> Code {
        match self {
            ScriptProblem::ExtraSeparator { .. } => Code::ExtraSeparator,
            ScriptProblem::InvalidVersion { .. } => Code::InvalidVersion,
            ScriptProblem::UnusedControlFile { .. } => Code::UnusedControlFile,
            ScriptProblem::TooManyVersions { .. } => Code::TooManyVersions,
        }
    }

    /// The file concerned.
    pub fn file_name(&self) -> &str {
        match self {
            ScriptProblem::ExtraSeparator { file_name }
            | ScriptProblem::InvalidVersion { file_name, .. }
            | ScriptProblem::UnusedControlFile { file_name, .. } => file_name,
            ScriptProblem::TooManyVersions { .. } => "",
        }
    }
}

impl fmt::Display for ScriptProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptProblem::ExtraSeparator { file_name } => {
                write!(f, "\"{file_name}\" names more than two versions and is ignored")
            }
            ScriptProblem::InvalidVersion { file_name, error } => {
                write!(f, "\"{file_name}\": {error}: {}", error.problem.detail())
            }
            ScriptProblem::UnusedControlFile { file_name, version } => {
                write!(
                    f,
                    "\"{file_name}\" is never read: no script mentions version \"{version}\""
                )
            }
            ScriptProblem::TooManyVersions { count } => write!(
                f,
                "the scripts name {count} versions, more than the {MAX_VERSIONS} pgext analyses: install and \
                 update paths are not known"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_directories() {
        let cases = [
            (
                "/usr/share/postgresql/18/extension",
                None,
                "/usr/share/postgresql/18/extension",
            ),
            (
                "/extensions/pgvector/share/extension",
                None,
                "/extensions/pgvector/share/extension",
            ),
            (
                "/extensions/pgvector/share/extension",
                Some("/opt/scripts"),
                "/opt/scripts",
            ),
            (
                "/extensions/pgvector/share/extension",
                Some("vector"),
                "/extensions/pgvector/share/vector",
            ),
            (
                "/extensions/x/share/extension",
                Some("extension/x"),
                "/extensions/x/share/extension/x",
            ),
            (
                "/usr/share/postgresql/18/extension",
                Some("contrib"),
                "/usr/share/postgresql/18/contrib",
            ),
            // No normalisation, as in the server.
            ("/e/share/extension", Some("../up"), "/e/share/../up"),
            ("/e/share/extension", Some(""), "/e/share/"),
            ("/extension", Some("d"), "/d"),
            // Not produced by the server; kept as is.
            ("/odd/dir", Some("d"), "/odd/dir/d"),
        ];
        for (control_dir, directory, expected) in cases {
            assert_eq!(
                script_directory(control_dir, directory),
                expected,
                "{control_dir} {directory:?}"
            );
        }
    }

    #[test]
    fn version_names() {
        let cases: &[(&str, Option<VersionNameProblem>)] = &[
            ("1.0", None),
            ("0.8.0", None),
            ("1.0-beta1", None),
            ("unpackaged", None),
            ("", Some(VersionNameProblem::Empty)),
            ("1--2", Some(VersionNameProblem::DoubleDash)),
            ("-1", Some(VersionNameProblem::DashAtEdge)),
            ("1-", Some(VersionNameProblem::DashAtEdge)),
            ("-", Some(VersionNameProblem::DashAtEdge)),
            ("a/b", Some(VersionNameProblem::DirectorySeparator)),
            ("..", None),
            // "--" is checked before the edges.
            ("--", Some(VersionNameProblem::DoubleDash)),
        ];
        for (version, expected) in cases {
            assert_eq!(
                check_version_name(version).err().map(|e| e.problem),
                *expected,
                "{version:?}"
            );
        }
        let e = check_version_name("a/b").unwrap_err();
        assert_eq!(e.to_string(), "invalid extension version name: \"a/b\"");
        assert_eq!(
            e.problem.detail(),
            "Version names must not contain directory separator characters."
        );
    }
}
