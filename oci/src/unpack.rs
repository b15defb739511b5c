//! Writing an image's files into a directory while its layers are applied: a server image for a
//! pre-flight (`pgext-check --server REF`), extension images judged before anything mounts them.
//! The result is for reading, never for running: no owners, no setuid/setgid/sticky bits, no
//! device nodes (the layer reader refuses them), and directories stay writable by us so that
//! later layers can change them.
//!
//! Safety rests on two invariants. The directory is fresh and ours: nothing else writes in it.
//! The disk mirrors the tree [`crate::layer::TreeBuilder`] keeps, and that tree refuses an entry
//! whose parent is not a directory, so writing a path below the root never goes through a
//! symlink a layer planted. Symlink targets are rewritten to stay inside the root, as if it were
//! a chroot: an absolute target is taken from the root, `..` stops at the root, and the target is
//! written relative to the link — so whoever reads the tree later (pgext's sysroot mode follows
//! symlinks with ordinary file calls) can never be led to this machine's own files. Lexical `..`
//! differs from the kernel's only after a symlink component; there the root wins over fidelity.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pgext_core::tree::unescape_name;

use crate::EntryKind;
use crate::error::OciError;

/// Which files [`crate::unpack`] writes. Directories and symlinks are always written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// Every regular file (an extension image: small, and all of it matters).
    #[default]
    Everything,
    /// What pgext's verdict engine reads of a server image: ELF files (executables, libraries,
    /// modules), extension control files and scripts (any `…/extension/…`), the loader's
    /// configuration and cache, and os-release. Documentation, locales, time zones, scripts of
    /// other languages are skipped: a server image is mostly those.
    ForAnalysis,
}

/// What to do with a regular file, from its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Write,
    Skip,
    /// Write it if its content starts with the ELF magic.
    IfElf,
}

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

impl Selection {
    fn want(self, path: &str) -> Want {
        match self {
            Selection::Everything => Want::Write,
            Selection::ForAnalysis => {
                let keep = matches!(
                    path,
                    "etc/ld.so.cache" | "etc/ld.so.conf" | "etc/os-release" | "usr/lib/os-release"
                ) || path.starts_with("etc/ld.so.conf.d/")
                    || path.contains("/extension/");
                if keep { Want::Write } else { Want::IfElf }
            }
        }
    }
}

/// The directory being written, with its byte budget.
pub(crate) struct Disk {
    root: PathBuf,
    selection: Selection,
    max_bytes: u64,
    /// Regular files and bytes written so far (hard links count once).
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

/// A file being written as its tar entry streams by.
pub(crate) struct Output {
    want: Want,
    file: Option<File>,
    path: PathBuf,
    rel: String,
    mode: u32,
    /// The first bytes, held until the ELF magic can be judged.
    head: Vec<u8>,
}

impl Disk {
    /// A writer into `root`, which must exist and be empty.
    pub(crate) fn new(root: &Path, selection: Selection, max_bytes: u64) -> Result<Disk, OciError> {
        let mut entries = fs::read_dir(root).map_err(|e| OciError::io(format!("opening {}", root.display()), e))?;
        if entries.next().is_some() {
            return Err(OciError::io(
                format!("unpacking into {}", root.display()),
                io::Error::new(io::ErrorKind::AlreadyExists, "the directory is not empty"),
            ));
        }
        Ok(Disk {
            root: root.to_owned(),
            selection,
            max_bytes,
            files: 0,
            bytes: 0,
        })
    }

    /// The on-disk path of a tree path (escaped form, see `pgext_core::tree`).
    fn at(&self, rel: &str) -> Result<PathBuf, OciError> {
        let raw = unescape_name(rel).ok_or_else(|| OciError::malformed("unpacked path", format!("{rel:?}")))?;
        Ok(self.root.join(std::ffi::OsStr::from_bytes(&raw)))
    }

    fn fail(rel: &str, doing: &str, e: io::Error) -> OciError {
        OciError::io(format!("{doing} {rel:?} while unpacking"), e)
    }

    /// Removes whatever is at `rel` (a directory with everything in it); never follows a symlink.
    pub(crate) fn clear(&mut self, rel: &str) -> Result<(), OciError> {
        let path = self.at(rel)?;
        let res = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => Err(e),
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
        };
        res.map_err(|e| Self::fail(rel, "removing", e))
    }

    /// Removes what a whiteout took from the tree, deepest first. A directory that still holds
    /// entries the current layer added is left (the tree kept them too).
    pub(crate) fn remove_all(&mut self, doomed: &[(String, EntryKind)]) -> Result<(), OciError> {
        for (rel, kind) in doomed.iter().rev() {
            let path = self.at(rel)?;
            let res = match kind {
                EntryKind::Dir => match fs::remove_dir(&path) {
                    Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
                    r => r,
                },
                _ => fs::remove_file(&path),
            };
            match res {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(Self::fail(rel, "removing", e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// A directory: created, or its mode changed if it is one already. Always `u+rwx` for us.
    pub(crate) fn dir(&mut self, rel: &str, mode: u32, exists: bool) -> Result<(), OciError> {
        let path = self.at(rel)?;
        let mode = (mode & 0o777) | 0o700;
        if !exists {
            self.clear(rel)?;
            fs::create_dir(&path).map_err(|e| Self::fail(rel, "creating directory", e))?;
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| Self::fail(rel, "setting the mode of", e))
    }

    /// A symlink at `rel` to `target` (escaped form), rewritten to stay inside the root.
    pub(crate) fn symlink(&mut self, rel: &str, target: &str) -> Result<(), OciError> {
        let raw = unescape_name(target).ok_or_else(|| OciError::malformed("symlink target", format!("{target:?}")))?;
        let inside = confine_link(rel, &raw);
        self.clear(rel)?;
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&inside), self.at(rel)?)
            .map_err(|e| Self::fail(rel, "creating symlink", e))
    }

    /// A hard link at `rel` to the file already at `source` (nothing if that file was skipped).
    pub(crate) fn hard_link(&mut self, rel: &str, source: &str) -> Result<(), OciError> {
        self.clear(rel)?;
        let from = self.at(source)?;
        match fs::symlink_metadata(&from) {
            Ok(m) if m.is_file() => {
                fs::hard_link(&from, self.at(rel)?).map_err(|e| Self::fail(rel, "creating hard link", e))
            }
            _ => Ok(()),
        }
    }

    /// Starts a regular file; its bytes follow through [`Disk::write`].
    pub(crate) fn start_file(&mut self, rel: &str, mode: u32) -> Result<Output, OciError> {
        self.clear(rel)?;
        let want = self.selection.want(rel);
        let mut out = Output {
            want,
            file: None,
            path: self.at(rel)?,
            rel: rel.to_owned(),
            // Permission bits only; executables stay executable (ld.so does not care, readers might).
            mode: (mode & 0o777) | 0o600,
            head: Vec::new(),
        };
        if want == Want::Write {
            self.open(&mut out)?;
        }
        Ok(out)
    }

    fn open(&mut self, out: &mut Output) -> Result<(), OciError> {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(out.mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&out.path)
            .map_err(|e| Self::fail(&out.rel, "creating", e))?;
        self.files += 1;
        out.file = Some(file);
        Ok(())
    }

    /// The next bytes of the file.
    pub(crate) fn write(&mut self, out: &mut Output, chunk: &[u8]) -> Result<(), OciError> {
        if out.want == Want::IfElf {
            let need = ELF_MAGIC.len() - out.head.len();
            out.head.extend_from_slice(&chunk[..need.min(chunk.len())]);
            if out.head.len() < ELF_MAGIC.len() {
                return Ok(());
            }
            if out.head.as_slice() != ELF_MAGIC {
                out.want = Want::Skip;
                return Ok(());
            }
            out.want = Want::Write;
            self.open(out)?;
            let head = std::mem::take(&mut out.head);
            // The magic came from this chunk (or earlier ones): write what was held back, then
            // the rest of this chunk.
            let from_chunk = need.min(chunk.len());
            self.put(out, &head[..head.len() - from_chunk])?;
            return self.put(out, chunk);
        }
        if out.want == Want::Write {
            self.put(out, chunk)?;
        }
        Ok(())
    }

    fn put(&mut self, out: &mut Output, bytes: &[u8]) -> Result<(), OciError> {
        let Some(file) = out.file.as_mut() else {
            return Ok(());
        };
        self.bytes = self.bytes.saturating_add(bytes.len() as u64);
        if self.bytes > self.max_bytes {
            return Err(OciError::TooLarge {
                what: format!("the unpacked image in {}", self.root.display()),
                limit: self.max_bytes,
                unit: "bytes",
            });
        }
        file.write_all(bytes).map_err(|e| Self::fail(&out.rel, "writing", e))
    }
}

/// `target` of a symlink at `link` (both relative to the root), as a path relative to the link's
/// directory that stays inside the root: resolved lexically from the root (absolute) or from the
/// link's directory, with `..` stopping at the root.
fn confine_link(link: &str, target: &[u8]) -> Vec<u8> {
    let link_dir: Vec<&[u8]> = {
        let mut parts: Vec<&[u8]> = link.as_bytes().split(|&b| b == b'/').collect();
        parts.pop();
        parts
    };
    let mut resolved: Vec<&[u8]> = if target.starts_with(b"/") {
        Vec::new()
    } else {
        link_dir.clone()
    };
    for comp in target.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                resolved.pop();
            }
            c => resolved.push(c),
        }
    }
    // Relative to the link's directory: up to the common prefix, then down.
    let common = link_dir.iter().zip(&resolved).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&[u8]> = vec![b".."; link_dir.len() - common];
    out.extend_from_slice(&resolved[common..]);
    if out.is_empty() {
        return b".".to_vec();
    }
    out.join(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside_the_root() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "lib64/ld.so",
                "/lib/x86_64-linux-gnu/ld.so",
                "../lib/x86_64-linux-gnu/ld.so",
            ),
            ("etc/os-release", "../usr/lib/os-release", "../usr/lib/os-release"),
            ("usr/lib/libz.so.1", "libz.so.1.3", "libz.so.1.3"),
            ("a/b/evil", "../../../../../etc/passwd", "../../etc/passwd"),
            ("evil", "/../../etc/shadow", "etc/shadow"),
            ("a/self", ".", "."),
            ("a/up", "..", ".."),
            ("a/b/c", "/a/b/d/./e//", "d/e"),
            ("top", "/", "."),
        ];
        for (link, target, want) in cases {
            let got = confine_link(link, target.as_bytes());
            assert_eq!(String::from_utf8_lossy(&got), *want, "{link} -> {target}");
        }
    }

    #[test]
    fn analysis_keeps_what_the_engine_reads() {
        let s = Selection::ForAnalysis;
        assert_eq!(s.want("etc/ld.so.cache"), Want::Write);
        assert_eq!(s.want("etc/ld.so.conf.d/x86_64-linux-gnu.conf"), Want::Write);
        assert_eq!(s.want("usr/share/postgresql/18/extension/plpgsql.control"), Want::Write);
        assert_eq!(s.want("usr/lib/x86_64-linux-gnu/libc.so.6"), Want::IfElf);
        assert_eq!(s.want("usr/share/doc/libc6/copyright"), Want::IfElf);
        assert_eq!(Selection::Everything.want("usr/share/doc/x"), Want::Write);
    }

    fn write_in(disk: &mut Disk, rel: &str, chunks: &[&[u8]]) {
        let mut out = disk.start_file(rel, 0o644).unwrap();
        for c in chunks {
            disk.write(&mut out, c).unwrap();
        }
    }

    #[test]
    fn elf_files_are_kept_whole_whatever_the_chunking() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = Disk::new(dir.path(), Selection::ForAnalysis, 1 << 20).unwrap();
        let elf = b"\x7fELF\x02\x01\x01rest of it";
        write_in(&mut disk, "a", &[&elf[..2], &elf[2..3], &elf[3..]]);
        write_in(&mut disk, "b", &[elf]);
        write_in(&mut disk, "c", &[b"#!/bin/sh\n", b"\x7fELF"]);
        write_in(&mut disk, "d", &[b"\x7f"]);
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), elf);
        assert_eq!(fs::read(dir.path().join("b")).unwrap(), elf);
        assert!(!dir.path().join("c").exists());
        assert!(!dir.path().join("d").exists());
        assert_eq!((disk.files, disk.bytes), (2, 2 * elf.len() as u64));
    }

    #[test]
    fn the_byte_budget_holds_and_a_used_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = Disk::new(dir.path(), Selection::Everything, 10).unwrap();
        let mut out = disk.start_file("f", 0o644).unwrap();
        disk.write(&mut out, b"0123456789").unwrap();
        assert!(matches!(disk.write(&mut out, b"x"), Err(OciError::TooLarge { .. })));
        assert!(Disk::new(dir.path(), Selection::Everything, 10).is_err());
    }
}
