//! A PostgreSQL server other than the running one, found in a directory: an installation on this
//! machine (`<prefix>/bin/postgres`) or an unpacked server image (a root file system holding one).
//!
//! Everything the verdict engine needs comes from the target's own files, never from the process
//! asking: the magic block values from a module it ships (`plpgsql.so` is built with the server and
//! carries its `PG_MODULE_MAGIC_DATA`), the ABI and exported symbols from its `postgres`, the
//! loader's view from its ld.so cache and system directories.

use std::path::{Path, PathBuf};

use crate::elf::{self, HostAbi, MagicOutcome, ReadLimits, SearchConfig, ServerMagic};

/// Why a directory is not a usable target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// No `postgres` executable where installations and images keep it.
    #[error(
        "no PostgreSQL server in \"{0}\": looked for bin/postgres, usr/lib/postgresql/*/bin/postgres, usr/pgsql-*/bin/postgres, usr/local/pgsql/bin/postgres and usr/bin/postgres"
    )]
    NoServer(String),
    /// The executable is there but its library or share directory is not.
    #[error("PostgreSQL at \"{prefix}\" has no {what} (looked in {looked})")]
    Incomplete {
        /// Installation prefix.
        prefix: String,
        /// `library directory with plpgsql.so` or `share directory with extension/plpgsql.control`.
        what: &'static str,
        /// The candidates, comma-separated.
        looked: String,
    },
    /// `plpgsql.so` has no readable magic block: the server's values cannot be known.
    #[error("cannot read the server's magic block from \"{path}\": {reason}")]
    Magic {
        /// The module read.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The `postgres` file is not an ELF executable.
    #[error("\"{0}\" is not an ELF executable")]
    NotElf(String),
}

/// A server to judge images against.
#[derive(Debug, Clone)]
pub struct Target {
    /// The directory given.
    pub dir: PathBuf,
    /// The unpacked image's root; `None` for an installation on this machine's root.
    pub sysroot: Option<PathBuf>,
    /// The `postgres` executable (a path of this machine).
    pub postgres: PathBuf,
    /// `$libdir`.
    pub pkglibdir: String,
    /// The share directory (`$system` is its `extension/`).
    pub sharedir: String,
    /// The server's magic block values.
    pub magic: ServerMagic,
    /// The server's ABI (from its executable).
    pub host: HostAbi,
    /// `PRETTY_NAME` of the target system's `/etc/os-release`, when it has one.
    pub os: Option<String>,
}

impl Target {
    /// Finds the server in `dir`.
    pub fn open(dir: &Path) -> Result<Target, TargetError> {
        let (prefix, sysroot) = if is_file(&dir.join("bin/postgres")) {
            (dir.to_owned(), None)
        } else {
            (
                find_prefix(dir).ok_or_else(|| TargetError::NoServer(dir.display().to_string()))?,
                Some(dir.to_owned()),
            )
        };
        let postgres = prefix.join("bin/postgres");
        let host = HostAbi::from_file(&postgres).ok_or_else(|| TargetError::NotElf(postgres.display().to_string()))?;
        let pkglibdir = first_with(
            &lib_candidates(&prefix),
            "plpgsql.so",
            &prefix,
            "library directory with plpgsql.so",
        )?;
        let sharedir = first_with(
            &share_candidates(&prefix, sysroot.as_deref()),
            "extension/plpgsql.control",
            &prefix,
            "share directory with extension/plpgsql.control",
        )?;
        let module = pkglibdir.join("plpgsql.so");
        let magic = match elf::read_magic(&module, ReadLimits::default()) {
            Ok(MagicOutcome::Found(block)) => Ok(ServerMagic::from_block(&block)),
            Ok(MagicOutcome::Missing) => Err("no Pg_magic_func".to_owned()),
            Ok(MagicOutcome::Unreadable(reason)) => Err(reason),
            Err(e) => Err(e.to_string()),
        }
        .map_err(|reason| TargetError::Magic {
            path: module.display().to_string(),
            reason,
        })?;
        let os_release = sysroot.as_deref().unwrap_or(Path::new("/")).join("etc/os-release");
        Ok(Target {
            dir: dir.to_owned(),
            sysroot,
            postgres,
            pkglibdir: pkglibdir.to_string_lossy().into_owned(),
            sharedir: sharedir.to_string_lossy().into_owned(),
            magic,
            host,
            os: std::fs::read_to_string(os_release)
                .ok()
                .and_then(|t| os_release_field(&t, "PRETTY_NAME")),
        })
    }

    /// The major version as PostgreSQL prints it (`18`).
    pub fn pg_major(&self) -> String {
        elf::magic::format_pg_version(self.magic.version)
    }

    /// The dynamic loader's view of the target, with `ld_library_path` as the postmaster's
    /// `LD_LIBRARY_PATH` (paths of this machine).
    pub fn search_config(&self, ld_library_path: Option<String>) -> SearchConfig {
        let mut config = match &self.sysroot {
            Some(root) => SearchConfig::for_sysroot(self.host, root),
            None => SearchConfig::new(self.host),
        };
        config.postgres_executable = Some(self.postgres.clone());
        config.ld_library_path = ld_library_path;
        config
    }
}

fn is_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file())
}

/// Where server images keep PostgreSQL: Debian and Ubuntu (`usr/lib/postgresql/<major>`, the
/// newest when several), the PGDG RPMs (`usr/pgsql-<major>`), a source build's default, Alpine.
fn find_prefix(root: &Path) -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for (dir, name_prefix) in [("usr/lib/postgresql", ""), ("usr", "pgsql-")] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let major = name
                .to_str()
                .and_then(|n| n.strip_prefix(name_prefix))
                .and_then(|m| m.parse().ok());
            if let Some(major) = major
                && is_file(&e.path().join("bin/postgres"))
            {
                found.push((major, e.path()));
            }
        }
    }
    if let Some((_, p)) = found.into_iter().max_by_key(|(m, _)| *m) {
        return Some(p);
    }
    ["usr/local/pgsql", "usr"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| is_file(&p.join("bin/postgres")))
}

fn lib_candidates(prefix: &Path) -> Vec<PathBuf> {
    ["lib/postgresql", "lib", "lib64/pgsql", "lib/pgsql"]
        .iter()
        .map(|p| prefix.join(p))
        .collect()
}

/// The share directory: below the prefix, or where Debian keeps it (`usr/share/postgresql/<major>`
/// for a prefix `usr/lib/postgresql/<major>`).
fn share_candidates(prefix: &Path, sysroot: Option<&Path>) -> Vec<PathBuf> {
    let mut c: Vec<PathBuf> = ["share/postgresql", "share", "share/pgsql"]
        .iter()
        .map(|p| prefix.join(p))
        .collect();
    if let Some(major) = prefix.file_name() {
        let root = match sysroot {
            Some(r) => r.to_owned(),
            // An installation laid out as Debian's: <root>/usr/lib/postgresql/<major>.
            None => prefix.ancestors().nth(4).unwrap_or(Path::new("/")).to_owned(),
        };
        c.push(root.join("usr/share/postgresql").join(major));
    }
    c
}

fn first_with(candidates: &[PathBuf], file: &str, prefix: &Path, what: &'static str) -> Result<PathBuf, TargetError> {
    candidates
        .iter()
        .find(|d| is_file(&d.join(file)))
        .cloned()
        .ok_or_else(|| TargetError::Incomplete {
            prefix: prefix.display().to_string(),
            what,
            looked: candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// One field of an os-release file (shell-style `KEY=value`, quotes removed).
pub fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k == key).then(|| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let text =
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        for (key, want) in [
            ("PRETTY_NAME", Some("Debian GNU/Linux 12 (bookworm)")),
            ("ID", Some("debian")),
            ("VERSION_ID", Some("12")),
            ("MISSING", None),
        ] {
            assert_eq!(os_release_field(text, key).as_deref(), want, "{key}");
        }
    }

    #[test]
    fn not_a_server() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Target::open(dir.path()), Err(TargetError::NoServer(_))));
    }

    #[test]
    fn debian_layout_share_directory() {
        let c = share_candidates(Path::new("/img/usr/lib/postgresql/17"), Some(Path::new("/img")));
        assert_eq!(c.last().unwrap(), Path::new("/img/usr/share/postgresql/17"));
        let c = share_candidates(Path::new("/x/usr/lib/postgresql/15"), None);
        assert_eq!(c.last().unwrap(), Path::new("/x/usr/share/postgresql/15"));
    }
}
