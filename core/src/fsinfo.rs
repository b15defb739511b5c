//! What the server process can see of a directory: existence, type, access, read-only mounts;
//! and the one way pgext opens a file that comes from an image or a layout ([`open_untrusted`]).
//!
//! Probes run inside the PostgreSQL backend, so `access(2)` answers for the server's own user —
//! exactly the question "can PostgreSQL read this?".

use crate::codes::Code;
use std::ffi::CString;
use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why an untrusted file was refused before a byte of it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A FIFO, socket, device or directory where a regular file is expected. `what` names it.
    NotRegular {
        /// `FIFO`, `character device`, `directory`, ...
        what: &'static str,
    },
    /// A file of a kernel pseudo file system (`/proc`, `/sys`, ...): its size means nothing, its
    /// content is the server's own state, never part of an image.
    PseudoFile {
        /// `proc`, `sysfs`, ...
        fs: &'static str,
    },
    /// Larger than the cap for this kind of file.
    TooLarge {
        /// The size `fstat` reported (or the bytes seen, for a file that grew while read).
        size: u64,
        /// The cap in force.
        limit: u64,
    },
}

impl Refused {
    /// Stable problem code: `not_regular_file` or `file_too_large`.
    pub fn code(self) -> Code {
        match self {
            Refused::NotRegular { .. } | Refused::PseudoFile { .. } => Code::NotRegularFile,
            Refused::TooLarge { .. } => Code::FileTooLarge,
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NotRegular { what } => write!(f, "a {what}, not a regular file"),
            Refused::PseudoFile { fs } => {
                write!(
                    f,
                    "a file of the kernel's {fs} file system, not a regular file of the image"
                )
            }
            Refused::TooLarge { size, limit } => write!(f, "{size} bytes, more than the limit of {limit} bytes"),
        }
    }
}

impl std::error::Error for Refused {}

impl From<Refused> for io::Error {
    /// `InvalidInput` carrying the [`Refused`]; [`refused`] gets it back.
    fn from(r: Refused) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, r)
    }
}

/// The [`Refused`] inside an error made by [`open_untrusted`] or [`read_untrusted`], if any.
pub fn refused(e: &io::Error) -> Option<Refused> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Refused>()).copied()
}

/// A stable problem code for a failure to open or read an untrusted file: `not_regular_file`,
/// `file_too_large`, `symlink_loop`, `dangling_symlink`, else `fallback`.
pub fn problem_code(e: &io::Error, fallback: Code) -> Code {
    if let Some(r) = refused(e) {
        return r.code();
    }
    match e.raw_os_error() {
        Some(libc::ELOOP) => Code::SymlinkLoop,
        Some(libc::ENOENT) => Code::DanglingSymlink,
        _ => fallback,
    }
}

/// Names the kind of a non-regular file.
pub fn kind_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_file() {
        "regular file"
    } else {
        "file of unknown type"
    }
}

/// Kernel pseudo file systems whose files look regular (`/proc/self/environ`, `/sys/...`) but
/// hold the server's own state: refused wherever an image's file is expected.
const PSEUDO_FILE_SYSTEMS: &[(u32, &str)] = &[
    (0x9fa0, "proc"),            // PROC_SUPER_MAGIC
    (0x6265_6572, "sysfs"),      // SYSFS_MAGIC
    (0x6462_6720, "debugfs"),    // DEBUGFS_MAGIC
    (0x7472_6163, "tracefs"),    // TRACEFS_MAGIC
    (0x7363_6673, "securityfs"), // SECURITYFS_MAGIC
    (0x6265_6570, "configfs"),   // CONFIGFS_MAGIC
    (0x6367_7270, "cgroup2"),    // CGROUP2_SUPER_MAGIC
    (0x0027_e0eb, "cgroup"),     // CGROUP_SUPER_MAGIC
    (0xcafe_4a11, "bpf"),        // BPF_FS_MAGIC
];

fn pseudo_file_system(file: &File) -> Option<&'static str> {
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `file` is an open descriptor; `buf` is written by fstatfs before it is read on success.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), buf.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: fstatfs returned 0, so the struct is initialised.
    // Magic numbers are 32-bit; `f_type`'s width and signedness vary by architecture.
    #[allow(clippy::unnecessary_cast)]
    let f_type = unsafe { buf.assume_init() }.f_type as u32;
    PSEUDO_FILE_SYSTEMS
        .iter()
        .find(|(magic, _)| *magic == f_type)
        .map(|(_, name)| *name)
}

/// Opens a file that comes from an image, a mount or a layout, for reading, in a way that can
/// never block: `O_NONBLOCK` (a FIFO would otherwise block `open()` until a writer appears, and
/// PostgreSQL's signal handlers restart the call, so not even `pg_terminate_backend` ends it),
/// `O_NOCTTY` (a terminal device must not become the backend's controlling terminal) and
/// `O_CLOEXEC`. Then `fstat`: anything but a regular file, or a file of `/proc` or `/sys`, is
/// refused ([`Refused`], inside an `InvalidInput` error). `O_NONBLOCK` is cleared again before
/// the file is returned.
///
/// Symlinks are followed (images use them legitimately) unless `follow_symlinks` is false, when
/// a symlink is refused with `ELOOP` (`O_NOFOLLOW`).
pub fn open_untrusted(path: &Path, follow_symlinks: bool) -> io::Result<(File, Metadata)> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    if !follow_symlinks {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(Refused::NotRegular {
            what: kind_name(meta.file_type()),
        }
        .into());
    }
    if let Some(fs) = pseudo_file_system(&file) {
        return Err(Refused::PseudoFile { fs }.into());
    }
    let fd = file.as_raw_fd();
    // SAFETY: plain fcntl calls on a descriptor we own. Regular files ignore O_NONBLOCK, so
    // failing to clear it changes nothing; it is cleared so no later reader is surprised.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 && fl & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
    Ok((file, meta))
}

/// Reads a whole untrusted file of at most `limit` bytes, opened with [`open_untrusted`]
/// (symlinks followed). A file whose `fstat` size exceeds `limit` is refused before it is read
/// ([`Refused::TooLarge`]); one that grows past `limit` while read is refused after `limit + 1`
/// bytes, so memory never exceeds the cap.
pub fn read_untrusted(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_untrusted_into(path, limit, &mut buf)?;
    Ok(buf)
}

/// [`read_untrusted`] into `buf` (cleared first): a caller reading many large files reuses one
/// buffer instead of faulting in fresh pages for each (megabytes per PostGIS script).
pub fn read_untrusted_into(path: &Path, limit: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let (file, meta) = open_untrusted(path, true)?;
    if meta.len() > limit {
        return Err(Refused::TooLarge {
            size: meta.len(),
            limit,
        }
        .into());
    }
    buf.reserve(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(buf)?;
    if buf.len() as u64 > limit {
        return Err(Refused::TooLarge {
            size: buf.len() as u64,
            limit,
        }
        .into());
    }
    Ok(())
}

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
    pub fn code(self) -> Code {
        match self {
            DirProblem::Missing => Code::Missing,
            DirProblem::NotADirectory => Code::NotADirectory,
            DirProblem::Unreadable => Code::Unreadable,
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
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    /// Runs `f` on a thread and fails (rather than hanging the test run) if it does not return
    /// within five seconds: a blocking open is exactly the bug these tests guard against.
    fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("open blocked: it must never wait for a writer")
    }

    #[test]
    fn untrusted_opens_never_block_and_refuse_non_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        mkfifo(&d.join("x.control"));
        std::os::unix::fs::symlink("x.control", d.join("via-link.control")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("zero.control")).unwrap();
        std::os::unix::fs::symlink("/dev/urandom", d.join("urandom.sql")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", d.join("environ.control")).unwrap();
        std::os::unix::fs::symlink("/dev/tty", d.join("tty.control")).unwrap();
        let start = Instant::now();
        let results = within_seconds(move || {
            [
                "x.control",
                "via-link.control",
                "zero.control",
                "urandom.sql",
                "environ.control",
                ".",
            ]
            .iter()
            .map(|n| (n.to_string(), read_untrusted(&d.join(n), 1 << 20)))
            .collect::<Vec<_>>()
        });
        for (name, r) in results {
            let e = r.expect_err(&name);
            assert_eq!(
                problem_code(&e, Code::Unreadable).as_str(),
                "not_regular_file",
                "{name}: {e}"
            );
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name}");
        }
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            refused(&open_untrusted(&dir.path().join("x.control"), true).unwrap_err()),
            Some(Refused::NotRegular { what: "FIFO" })
        );
        assert_eq!(
            refused(&open_untrusted(&dir.path().join("environ.control"), true).unwrap_err()),
            Some(Refused::PseudoFile { fs: "proc" })
        );
        // /dev/tty may not exist for this process; when it opens, it is refused like any device.
        if let Err(e) = open_untrusted(&dir.path().join("tty.control"), true) {
            assert!(refused(&e).is_some() || e.raw_os_error() == Some(libc::ENXIO), "{e}");
        }
    }

    #[test]
    fn untrusted_reads_are_capped_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("ok.control");
        std::fs::write(&small, b"default_version = '1'\n").unwrap();
        std::os::unix::fs::symlink("ok.control", dir.path().join("link.control")).unwrap();
        assert_eq!(read_untrusted(&small, 22).unwrap().len(), 22);
        assert_eq!(read_untrusted(&dir.path().join("link.control"), 64).unwrap().len(), 22);
        let e = read_untrusted(&small, 21).unwrap_err();
        assert_eq!(refused(&e), Some(Refused::TooLarge { size: 22, limit: 21 }));
        assert_eq!(problem_code(&e, Code::Unreadable).as_str(), "file_too_large");
        // A sparse 1 GiB file is refused from its size alone, at once.
        let big = dir.path().join("big--1.sql");
        std::fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();
        let start = Instant::now();
        let e = read_untrusted(&big, 32 << 20).unwrap_err();
        assert_eq!(
            refused(&e),
            Some(Refused::TooLarge {
                size: 1 << 30,
                limit: 32 << 20
            })
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        // Not following symlinks refuses them with ELOOP; other errors keep their codes.
        let e = open_untrusted(&dir.path().join("link.control"), false).unwrap_err();
        assert_eq!(problem_code(&e, Code::Unreadable).as_str(), "symlink_loop");
        let e = open_untrusted(&dir.path().join("absent"), true).unwrap_err();
        assert_eq!(problem_code(&e, Code::Unreadable).as_str(), "dangling_symlink");
        // The returned descriptor is blocking again and close-on-exec.
        let (f, _) = open_untrusted(&small, true).unwrap();
        // SAFETY: fcntl queries on an open descriptor.
        let (fl, fd) = unsafe {
            (
                libc::fcntl(f.as_raw_fd(), libc::F_GETFL),
                libc::fcntl(f.as_raw_fd(), libc::F_GETFD),
            )
        };
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fd & libc::FD_CLOEXEC, 0);
    }

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
