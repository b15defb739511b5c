//! What the server process can see of a directory: existence, type, access, read-only mounts.
//!
//! Probes run inside the PostgreSQL backend, so `access(2)` answers for the server's own user —
//! exactly the question "can PostgreSQL read this?".

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The state of one directory as the server process sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirProbe {
    /// `stat()` succeeded (symlinks followed, as PostgreSQL's `AllocateDir` would).
    pub exists: bool,
    /// It is a directory.
    pub is_dir: bool,
    /// The server may list it and open files in it (`R_OK | X_OK`).
    pub readable: bool,
    /// It sits on a file system mounted read-only (`statvfs` `ST_RDONLY`). `None` when unknown.
    pub read_only: Option<bool>,
}

/// Why a searched directory will not serve PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirProblem {
    /// Does not exist: PostgreSQL skips it without a word (a failed mount makes its
    /// extensions vanish).
    Missing,
    /// Exists but is not a directory: `pg_available_extensions` raises an error on it.
    NotADirectory,
    /// Exists but the server cannot list or enter it: `pg_available_extensions` raises an error.
    Unreadable,
}

impl DirProblem {
    /// Stable code used in SQL output.
    pub fn code(self) -> &'static str {
        match self {
            DirProblem::Missing => "missing",
            DirProblem::NotADirectory => "not_a_directory",
            DirProblem::Unreadable => "unreadable",
        }
    }
}

impl DirProbe {
    /// The most important problem, if any.
    pub fn problem(&self) -> Option<DirProblem> {
        if !self.exists {
            Some(DirProblem::Missing)
        } else if !self.is_dir {
            Some(DirProblem::NotADirectory)
        } else if !self.readable {
            Some(DirProblem::Unreadable)
        } else {
            None
        }
    }
}

/// Probes `path`. Never fails: what cannot be determined is reported as absent or unknown.
pub fn probe_dir(path: &Path) -> DirProbe {
    let Ok(meta) = std::fs::metadata(path) else {
        return DirProbe::default();
    };
    let is_dir = meta.is_dir();
    let mode = if is_dir { libc::R_OK | libc::X_OK } else { libc::R_OK };
    DirProbe {
        exists: true,
        is_dir,
        readable: access(path, mode).unwrap_or(false),
        read_only: statvfs_read_only(path).ok(),
    }
}

/// `access(2)` for the calling process's real user.
pub fn access(path: &Path, mode: libc::c_int) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let rc = unsafe { libc::access(c.as_ptr(), mode) };
    Ok(rc == 0)
}

/// Whether `path` lies on a file system mounted read-only.
pub fn statvfs_read_only(path: &Path) -> io::Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut buf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid C string; `buf` is written by statvfs before we read it on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let st = unsafe { buf.assume_init() };
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_each_kind() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();

        let d = probe_dir(dir.path());
        assert!(d.exists && d.is_dir && d.readable);
        assert_eq!(d.read_only, Some(false));
        assert_eq!(d.problem(), None);

        let f = probe_dir(&file);
        assert!(f.exists && !f.is_dir);
        assert_eq!(f.problem(), Some(DirProblem::NotADirectory));

        let m = probe_dir(&dir.path().join("absent"));
        assert_eq!(m, DirProbe::default());
        assert_eq!(m.problem(), Some(DirProblem::Missing));

        // A path through a regular file (ENOTDIR) is missing too, as PostgreSQL treats it.
        assert_eq!(probe_dir(&file.join("x")).problem(), Some(DirProblem::Missing));
    }

    #[test]
    fn proc_is_read_only_somewhere() {
        // /proc/self is never on a read-only mount, but statvfs must answer for it.
        assert!(statvfs_read_only(Path::new("/proc/self")).is_ok());
        assert!(statvfs_read_only(Path::new("/definitely/not/here")).is_err());
    }

    #[test]
    fn unreadable_dir_is_reported_unless_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("locked");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o000)).unwrap();
        let p = probe_dir(&sub);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root bypasses permission bits: access() says readable, and so would the server.
            assert!(p.readable);
        } else {
            assert_eq!(p.problem(), Some(DirProblem::Unreadable));
        }
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
