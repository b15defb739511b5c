//! Applying layer tar streams, lowest first, into the tree a container runtime would produce.
//!
//! Semantics follow the OCI image spec's changeset rules as containerd applies them:
//! - paths: a leading `/` or `./` is stripped and `//`, `.` components collapse; any `..`
//!   component is refused (runtimes refuse to write outside the root, so such a layer cannot be
//!   the content of a mount);
//! - a missing parent directory is created with mode 0755;
//! - a directory over a directory only changes the mode; anything else over a directory replaces
//!   it with its whole subtree; anything over a non-directory replaces it;
//! - `.wh.NAME` deletes NAME (recursively), `.wh..wh..opq` empties its directory — both only of
//!   what earlier layers put there; other `.wh..wh.*` names (and AUFS's `.wh..wh.*` directories
//!   at the root) are bookkeeping and ignored;
//! - hard links take the content, kind and mode of their target (they share its inode);
//! - symlinks get mode 0777 (Linux has no symlink modes; `lstat` always reports 0777);
//! - names are bytes: paths and link targets are kept in `pgext_core::tree`'s lossless escaped
//!   form, so non-UTF-8 names compare equal to what a scan of the mount reports.
//!
//! Device nodes and FIFOs are refused (`hostile_layer`) rather than recorded as
//! [`EntryKind::Other`]: an extension image (`FROM scratch`: `lib/`, `share/`) has no use for one, a
//! device node in a mount the database server reads is at best a mistake, and device numbers are
//! not part of a [`TreeEntry`], so such an entry could not be verified byte for byte anyway.
//!
//! Memory stays bounded: files are hashed while streaming, the tar crate's in-memory metadata
//! (GNU long names, PAX headers) is capped per entry by [`Limits::max_metadata_bytes`], and only
//! the tree itself (one small record per entry, at most [`Limits::max_entries`]) is kept.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufReader, Read};
use std::ops::Bound;

use pgext_core::hash::{READ_BUFFER_SIZE, hash_reader};
use pgext_core::tree::escape_name;

use crate::error::OciError;
use crate::interrupt::Checkpoint;
use crate::manifest::Compression;
use crate::unpack::{Disk, Output};
use crate::{EntryKind, TreeEntry};

/// Mode of directories a layer implies but does not contain (what runtimes create).
pub const IMPLICIT_DIR_MODE: u32 = 0o755;
/// Mode every symlink has on Linux.
pub const SYMLINK_MODE: u32 = 0o777;
/// Bytes the tar reader consumes between two entries besides long names and PAX data: up to four
/// 512-byte headers and padding.
const METADATA_SLACK: u64 = 4096;
/// Read buffer over a layer blob (the spool file): few, large reads.
const BLOB_READ_BUFFER: usize = 256 * 1024;
/// Largest zstd window accepted: 2^24 = 16 MiB (zstd levels ≤ 19 use at most 8 MiB); bigger
/// windows (`--long`) would make the decoder allocate up to 2 GiB inside the server.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// Size and count limits. Every field has a generous default for extension images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest, index, `index.json` or image config (bytes).
    pub max_document_bytes: u64,
    /// Most layers in one image.
    pub max_layers: usize,
    /// Largest compressed layer blob (bytes); also bounds the spool file.
    pub max_blob_bytes: u64,
    /// Largest uncompressed layer tar stream (bytes): the decompression-bomb guard.
    pub max_layer_bytes: u64,
    /// Largest single file (bytes).
    pub max_file_bytes: u64,
    /// Most entries in the resulting tree (and members of an `oci-archive:` file).
    pub max_entries: usize,
    /// Longest entry path (bytes).
    pub max_path_bytes: usize,
    /// Largest tar metadata for one entry (GNU long name/link, PAX header), held in memory.
    pub max_metadata_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 4 << 20,
            max_layers: 128,
            max_blob_bytes: 8 << 30,
            max_layer_bytes: 16 << 30,
            max_file_bytes: 4 << 30,
            max_entries: 200_000,
            max_path_bytes: 4096,
            max_metadata_bytes: 1 << 20,
        }
    }
}

/// Byte accounting under the tar reader: total uncompressed bytes, bytes the tar crate reads
/// between two entries (headers, long names, PAX data), and cancel checks. A limit breach is
/// recorded here and surfaces through the tar crate as an opaque I/O error.
struct Meter<'a> {
    check: &'a dyn Checkpoint,
    layer: &'a str,
    limits: &'a Limits,
    total: Cell<u64>,
    window: Cell<Option<u64>>,
    error: RefCell<Option<OciError>>,
}

impl<'a> Meter<'a> {
    fn count(&self, n: u64) -> Result<(), OciError> {
        let total = self.total.get().saturating_add(n);
        self.total.set(total);
        if total > self.limits.max_layer_bytes {
            return Err(OciError::TooLarge {
                what: format!("layer {} uncompressed", self.layer),
                limit: self.limits.max_layer_bytes,
                unit: "bytes",
            });
        }
        if let Some(w) = self.window.get() {
            let w = w.saturating_add(n);
            self.window.set(Some(w));
            if w > self.limits.max_metadata_bytes.saturating_add(METADATA_SLACK) {
                return Err(OciError::HostileLayer {
                    layer: self.layer.to_owned(),
                    path: String::new(),
                    reason: format!(
                        "tar metadata (long name, long link or PAX header) larger than {} bytes",
                        self.limits.max_metadata_bytes
                    ),
                });
            }
        }
        self.check.progress(n)
    }

    /// The error behind an I/O error from the tar/decompression stack.
    fn fail(&self, e: io::Error) -> OciError {
        match self.error.borrow_mut().take() {
            Some(recorded) => recorded,
            None => OciError::malformed(format!("layer {}", self.layer), e.to_string()),
        }
    }
}

struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter<'m>,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.meter.count(n as u64) {
            *self.meter.error.borrow_mut() = Some(e);
            // Not `Interrupted`: readers retry those.
            return Err(io::Error::other("layer reading stopped"));
        }
        Ok(n)
    }
}

/// Some writers end the tar stream right after the last entry's data, with neither the padding
/// to 512 bytes nor the two zero blocks that close an archive (Debian bookworm's umoci 0.4.7
/// does). GNU tar and container runtimes accept that, so this reader supplies the missing tail
/// as zeros and remembers where it began: the caller then checks that it began exactly where the
/// last entry's data ended, so zeros never stand in for missing content.
struct PaddedEof<R> {
    inner: R,
    pos: u64,
    /// Where the supplied zeros started, once the inner stream ended unaligned or unterminated.
    pad_start: std::rc::Rc<Cell<Option<u64>>>,
    /// Zero bytes still to supply.
    pad_left: u64,
}

impl<R: Read> Read for PaddedEof<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pad_start.get().is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.pos += n as u64;
                return Ok(n);
            }
            // Inner EOF: pad to a block boundary, then the two end-of-archive blocks.
            self.pad_start.set(Some(self.pos));
            self.pad_left = (512 - self.pos % 512) % 512 + 1024;
        }
        let n = (buf.len() as u64).min(self.pad_left) as usize;
        buf[..n].fill(0);
        self.pad_left -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The uncompressed tar stream of a (verified) layer blob. The decompressors read the blob
/// through one buffer (theirs would be a second, smaller one).
pub(crate) fn decoder<'r, R: Read + 'r>(blob: R, compression: Compression) -> io::Result<Box<dyn Read + 'r>> {
    let blob = BufReader::with_capacity(BLOB_READ_BUFFER, blob);
    Ok(match compression {
        Compression::None => Box::new(blob),
        #[cfg(feature = "isal")]
        Compression::Gzip => Box::new(crate::isal::GzDecoder::new(blob)?),
        #[cfg(not(feature = "isal"))]
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(blob)),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(blob)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(d)
        }
    })
}

/// Builds the expected tree from layers applied in order.
pub(crate) struct TreeBuilder {
    entries: BTreeMap<String, TreeEntry>,
    /// Paths the current layer created; whiteouts and opaque markers spare them.
    added: HashSet<String>,
    limits: Limits,
    layer: String,
    buf: Vec<u8>,
    /// Where the files go too, when unpacking (see `crate::unpack`).
    disk: Option<Disk>,
}

/// A tar entry's data on its way to the hasher, copied to disk as it passes.
struct Tee<'a, R> {
    inner: R,
    disk: &'a mut Disk,
    out: Output,
    error: Option<OciError>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.disk.write(&mut self.out, &buf[..n]) {
            self.error = Some(e);
            return Err(io::Error::other("writing the unpacked file failed"));
        }
        Ok(n)
    }
}

/// The canonical (escaped, see [`escape_name`]) relative path of a raw tar name; `None` for the
/// root itself; `Err` with the reason for a `..` component.
fn normalize(raw: &[u8]) -> Result<Option<String>, &'static str> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err("path has a '..' component (would escape the image root)"),
            c => parts.push(c),
        }
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(escape_name(&parts.join(&b'/')))
    })
}

fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "symlink",
        EntryKind::Other => "special file",
    }
}

impl TreeBuilder {
    pub(crate) fn new(limits: &Limits) -> Self {
        TreeBuilder {
            entries: BTreeMap::new(),
            added: HashSet::new(),
            limits: limits.clone(),
            layer: String::new(),
            buf: vec![0u8; READ_BUFFER_SIZE],
            disk: None,
        }
    }

    /// Also writes the tree into `disk`'s directory as it is built.
    pub(crate) fn with_disk(mut self, disk: Option<Disk>) -> Self {
        self.disk = disk;
        self
    }

    /// Files and bytes written to disk (zero when not unpacking).
    pub(crate) fn written(&self) -> (u64, u64) {
        self.disk.as_ref().map_or((0, 0), |d| (d.files, d.bytes))
    }

    /// The tree, sorted by path.
    pub(crate) fn into_entries(self) -> Vec<TreeEntry> {
        self.entries.into_values().collect()
    }

    /// Applies one layer (an already verified blob) on top of what is there, on this thread.
    #[cfg(test)]
    pub(crate) fn apply_layer<R: Read>(
        &mut self,
        blob: R,
        compression: Compression,
        layer: &str,
        check: &dyn Checkpoint,
    ) -> Result<(), OciError> {
        let tar =
            decoder(blob, compression).map_err(|e| OciError::malformed(format!("layer {layer}"), e.to_string()))?;
        self.apply_tar(tar, layer, check)
    }

    /// Applies one layer, given as its uncompressed tar stream, on top of what is there. Returns
    /// once the archive's end is read: whatever follows it in `tar` is left unread.
    pub(crate) fn apply_tar<R: Read>(&mut self, tar: R, layer: &str, check: &dyn Checkpoint) -> Result<(), OciError> {
        self.layer = layer.to_owned();
        self.added.clear();
        let limits = self.limits.clone();
        let meter = Meter {
            check,
            layer,
            limits: &limits,
            total: Cell::new(0),
            window: Cell::new(None),
            error: RefCell::new(None),
        };
        let pad_start = std::rc::Rc::new(Cell::new(None));
        let mut archive = tar::Archive::new(Metered {
            inner: PaddedEof {
                inner: tar,
                pos: 0,
                pad_start: pad_start.clone(),
                pad_left: 0,
            },
            meter: &meter,
        });
        // End of the last entry's data in the tar stream: the only place a missing tail may start.
        let mut data_end = 0u64;
        let mut entries = archive.entries().map_err(|e| meter.fail(e))?;
        loop {
            // Whatever the tar crate reads while finding the next entry is metadata it may hold in
            // memory (file data is always consumed below, so none is skipped in here).
            meter.window.set(Some(0));
            let next = entries.next();
            meter.window.set(None);
            let mut entry = match next {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => return Err(meter.fail(e)),
            };
            let end = entry.raw_file_position().saturating_add(entry.size());
            self.apply_entry(&mut entry, &meter)?;
            io::copy(&mut entry, &mut io::sink()).map_err(|e| meter.fail(e))?;
            data_end = end;
        }
        match pad_start.get() {
            // A well-formed archive, or one that only lacks padding and terminator after the last
            // entry's data.
            None => Ok(()),
            // Past the data, only padding or end blocks were missing (a cut inside a header fails
            // its checksum above).
            Some(at) if at >= data_end => Ok(()),
            Some(at) => Err(OciError::malformed(
                format!("layer {}", self.layer),
                format!("tar stream truncated at byte {at}, inside an entry"),
            )),
        }
    }

    fn hostile(&self, path: &str, reason: impl Into<String>) -> OciError {
        OciError::HostileLayer {
            layer: self.layer.clone(),
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, meter: &Meter<'_>) -> Result<(), OciError> {
        let etype = entry.header().entry_type();
        if etype.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_bytes = entry.path_bytes().into_owned();
        // Names are bytes; errors and the tree carry them escaped, losslessly.
        let raw = escape_name(&raw_bytes);
        if raw_bytes.len() > self.limits.max_path_bytes {
            return Err(OciError::TooLarge {
                what: format!("path in layer {}", self.layer),
                limit: self.limits.max_path_bytes as u64,
                unit: "bytes",
            });
        }
        let path = match normalize(&raw_bytes) {
            Err(reason) => return Err(self.hostile(&raw, reason)),
            Ok(None) => return Ok(()), // the root itself: its mode is the mount point's business
            Ok(Some(p)) => p,
        };
        let mode = entry
            .header()
            .mode()
            .map_err(|e| OciError::malformed(format!("layer {}", self.layer), format!("entry {raw:?}: {e}")))?
            & 0o7777;

        // AUFS metadata directories at the root (`.wh..wh.plnk/…`, `.wh..wh.orph/…`) are not
        // content; Docker skips them the same way.
        if path.starts_with(".wh..wh.") && path != ".wh..wh..opq" {
            return Ok(());
        }
        let (parent, name) = split_parent(&path);
        if let Some(hidden) = name.strip_prefix(".wh.") {
            self.ensure_parents(&path)?;
            if hidden == ".wh..opq" {
                let gone = self.remove_below(parent, true);
                self.disk_remove(&gone)?;
            } else if hidden.starts_with(".wh.") {
                // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content.
            } else if matches!(hidden, "" | "." | "..") {
                return Err(self.hostile(&raw, "whiteout without a valid name"));
            } else {
                let target = join(parent, hidden);
                let mut gone = Vec::new();
                if !self.added.contains(&target)
                    && let Some(e) = self.entries.remove(&target)
                {
                    gone.push((target.clone(), e.kind));
                }
                gone.extend(self.remove_below(&target, true));
                self.disk_remove(&gone)?;
            }
            return Ok(());
        }

        // Old tar: type '\0' with a trailing '/' is a directory (as Go's archive/tar reads it).
        let old_style_dir = entry.header().as_bytes()[156] == 0 && raw_bytes.ends_with(b"/");
        match etype {
            tar::EntryType::Directory => self.put_dir(&path, mode),
            tar::EntryType::Regular if old_style_dir => self.put_dir(&path, mode),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let size = entry.size();
                if size > self.limits.max_file_bytes {
                    return Err(OciError::TooLarge {
                        what: format!("file {path:?} in layer {}", self.layer),
                        limit: self.limits.max_file_bytes,
                        unit: "bytes",
                    });
                }
                let (sha, n) = match self.disk.as_mut() {
                    None => hash_reader(entry, &mut self.buf).map_err(|e| meter.fail(e))?,
                    Some(_) => {
                        // Parents first: the file goes where the tree will have it.
                        self.ensure_parents(&path)?;
                        let disk = self.disk.as_mut().expect("checked above");
                        let out = disk.start_file(&path, mode)?;
                        let mut tee = Tee {
                            inner: entry,
                            disk,
                            out,
                            error: None,
                        };
                        let res = hash_reader(&mut tee, &mut self.buf);
                        if let Some(e) = tee.error.take() {
                            return Err(e);
                        }
                        res.map_err(|e| meter.fail(e))?
                    }
                };
                if n != size && etype != tar::EntryType::GNUSparse {
                    return Err(OciError::malformed(
                        format!("layer {}", self.layer),
                        format!("file {path:?} is truncated ({n} of {size} bytes)"),
                    ));
                }
                self.put(&path, EntryKind::File, mode, n, Some(sha), None)
            }
            tar::EntryType::Symlink => {
                let target = escape_name(&self.link_bytes(entry, &raw)?);
                // Size 0 for everything but regular files, as pgext_core::tree records it.
                self.put(&path, EntryKind::Symlink, SYMLINK_MODE, 0, None, Some(target.clone()))?;
                match self.disk.as_mut() {
                    Some(disk) => disk.symlink(&path, &target),
                    None => Ok(()),
                }
            }
            tar::EntryType::Link => {
                let bytes = self.link_bytes(entry, &raw)?;
                let target = match normalize(&bytes) {
                    Err(reason) => return Err(self.hostile(&raw, format!("hard link target: {reason}"))),
                    Ok(None) => return Err(self.hostile(&raw, "hard link to the root directory")),
                    Ok(Some(t)) => t,
                };
                let Some(src) = self.entries.get(&target).cloned() else {
                    return Err(self.hostile(&raw, format!("hard link to {target:?}, which no layer so far contains")));
                };
                if src.kind == EntryKind::Dir {
                    return Err(self.hostile(&raw, format!("hard link to directory {target:?}")));
                }
                self.put(&path, src.kind, src.mode, src.size, src.sha256, src.link_target.clone())?;
                match (self.disk.as_mut(), &src.link_target) {
                    (None, _) => Ok(()),
                    (Some(disk), Some(link)) => disk.symlink(&path, link),
                    (Some(disk), None) => disk.hard_link(&path, &target),
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => Err(self.hostile(
                &raw,
                "device node or FIFO (an extension image has no use for one, and device numbers cannot be verified)",
            )),
            other => Err(self.hostile(
                &raw,
                format!("unsupported tar entry type {:?}", char::from(other.as_byte())),
            )),
        }
    }

    fn link_bytes<R: Read>(&self, entry: &tar::Entry<'_, R>, raw: &str) -> Result<Vec<u8>, OciError> {
        let bytes = entry
            .link_name_bytes()
            .ok_or_else(|| self.hostile(raw, "link without a target"))?;
        if bytes.is_empty() {
            return Err(self.hostile(raw, "link with an empty target"));
        }
        if bytes.len() > self.limits.max_path_bytes {
            return Err(OciError::TooLarge {
                what: format!("link target in layer {}", self.layer),
                limit: self.limits.max_path_bytes as u64,
                unit: "bytes",
            });
        }
        Ok(bytes.into_owned())
    }

    /// Creates missing parent directories (mode 0755); refuses to go through a non-directory.
    fn ensure_parents(&mut self, path: &str) -> Result<(), OciError> {
        let slashes: Vec<usize> = path.match_indices('/').map(|(i, _)| i).collect();
        for i in slashes {
            let parent = &path[..i];
            match self.entries.get(parent).map(|e| e.kind) {
                Some(EntryKind::Dir) => {}
                Some(kind) => {
                    // Runtimes either fail here or follow a symlink to somewhere else in the tree;
                    // neither yields a tree we could vouch for.
                    return Err(self.hostile(
                        path,
                        format!("parent {parent:?} is a {}, not a directory", kind_name(kind)),
                    ));
                }
                None => {
                    if let Some(disk) = self.disk.as_mut() {
                        disk.dir(parent, IMPLICIT_DIR_MODE, false)?;
                    }
                    self.entries
                        .insert(parent.to_owned(), TreeEntry::dir(parent, IMPLICIT_DIR_MODE));
                    self.added.insert(parent.to_owned());
                    self.check_count()?;
                }
            }
        }
        Ok(())
    }

    /// A directory entry, on disk too.
    fn put_dir(&mut self, path: &str, mode: u32) -> Result<(), OciError> {
        let exists = self.entries.get(path).is_some_and(|e| e.kind == EntryKind::Dir);
        self.put(path, EntryKind::Dir, mode, 0, None, None)?;
        match self.disk.as_mut() {
            Some(disk) => disk.dir(path, mode, exists),
            None => Ok(()),
        }
    }

    /// Takes what a whiteout removed from the tree off the disk too.
    fn disk_remove(&mut self, gone: &[(String, EntryKind)]) -> Result<(), OciError> {
        match self.disk.as_mut() {
            Some(disk) => disk.remove_all(gone),
            None => Ok(()),
        }
    }

    fn put(
        &mut self,
        path: &str,
        kind: EntryKind,
        mode: u32,
        size: u64,
        sha256: Option<[u8; 32]>,
        link_target: Option<String>,
    ) -> Result<(), OciError> {
        self.ensure_parents(path)?;
        let existing = self.entries.get(path).map(|e| e.kind);
        match (existing, kind) {
            (Some(EntryKind::Dir), EntryKind::Dir) => {
                if let Some(e) = self.entries.get_mut(path) {
                    e.mode = mode;
                }
            }
            (old, _) => {
                if old == Some(EntryKind::Dir) {
                    self.remove_below(path, false);
                }
                let entry = TreeEntry {
                    path: path.to_owned(),
                    kind,
                    mode,
                    size,
                    sha256,
                    link_target,
                };
                self.entries.insert(path.to_owned(), entry);
                self.check_count()?;
            }
        }
        self.added.insert(path.to_owned());
        Ok(())
    }

    /// Removes everything below `dir` ("" = the root), sparing the current layer's own entries
    /// if `keep_added`; returns what it removed, parents before children.
    fn remove_below(&mut self, dir: &str, keep_added: bool) -> Vec<(String, EntryKind)> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .entries
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .filter(|k| !(keep_added && self.added.contains(*k)))
            .cloned()
            .collect();
        doomed
            .into_iter()
            .filter_map(|k| self.entries.remove(&k).map(|e| (k, e.kind)))
            .collect()
    }

    fn check_count(&self) -> Result<(), OciError> {
        if self.entries.len() > self.limits.max_entries {
            return Err(OciError::TooLarge {
                what: "the image's file tree".into(),
                limit: self.limits.max_entries as u64,
                unit: "entries",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::interrupt::Interrupt;

    /// A tar entry to write in a test layer.
    enum T<'a> {
        Dir(&'a str, u32),
        File(&'a str, u32, &'a [u8]),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Fifo(&'a str),
        /// Raw name bytes (bypassing the tar crate's path checks).
        RawFile(&'a [u8], &'a [u8]),
        /// A PAX extended header ('x') for the next entry: (key, value) records.
        Pax(&'a [(&'a str, &'a str)]),
    }

    /// One PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts itself.
    fn pax_record(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while len.to_string().len() + body.len() != len {
            len = len.to_string().len() + body.len();
        }
        format!("{len}{body}").into_bytes()
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h
    }

    /// Appends an entry, writing short names raw (so `./x`, `/x` and `../x` reach the reader as
    /// they would in a hostile layer) and long ones through the tar crate (GNU long names).
    fn append(b: &mut tar::Builder<Vec<u8>>, mut h: tar::Header, name: &[u8], link: Option<&[u8]>, data: &[u8]) {
        if name.len() < 100 && link.is_none_or(|l| l.len() < 100) {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name);
            if let Some(l) = link {
                gnu.linkname = [0; 100];
                gnu.linkname[..l.len()].copy_from_slice(l);
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        } else {
            let name = std::str::from_utf8(name).unwrap();
            match link {
                Some(l) => b.append_link(&mut h, name, std::str::from_utf8(l).unwrap()).unwrap(),
                None => b.append_data(&mut h, name, data).unwrap(),
            }
        }
    }

    fn layer(entries: &[T<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            match *e {
                T::Dir(p, m) => append(&mut b, header(tar::EntryType::Directory, m, 0), p.as_bytes(), None, b""),
                T::File(p, m, data) => {
                    let h = header(tar::EntryType::Regular, m, data.len() as u64);
                    append(&mut b, h, p.as_bytes(), None, data);
                }
                T::Sym(p, t) => {
                    let h = header(tar::EntryType::Symlink, 0o777, 0);
                    append(&mut b, h, p.as_bytes(), Some(t.as_bytes()), b"");
                }
                T::Hard(p, t) => {
                    let h = header(tar::EntryType::Link, 0o644, 0);
                    append(&mut b, h, p.as_bytes(), Some(t.as_bytes()), b"");
                }
                T::Fifo(p) => append(&mut b, header(tar::EntryType::Fifo, 0o644, 0), p.as_bytes(), None, b""),
                T::RawFile(name, data) => {
                    append(
                        &mut b,
                        header(tar::EntryType::Regular, 0o644, data.len() as u64),
                        name,
                        None,
                        data,
                    );
                }
                T::Pax(records) => {
                    let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
                    let h = header(tar::EntryType::XHeader, 0o644, data.len() as u64);
                    append(&mut b, h, b"PaxHeader", None, &data);
                }
            }
        }
        b.into_inner().unwrap()
    }

    /// Applies `layers` on this thread and on the workers; both must agree.
    fn apply(layers: &[Vec<u8>], limits: &Limits) -> Result<Vec<TreeEntry>, OciError> {
        let never = || false;
        let intr = Interrupt::new(&never, None);
        let mut t = TreeBuilder::new(limits);
        let here = layers
            .iter()
            .enumerate()
            .try_for_each(|(i, l)| t.apply_layer(&l[..], Compression::None, &format!("L{i}"), &intr))
            .map(|()| t.into_entries());
        let blobs: Vec<(&[u8], Compression)> = layers.iter().map(|l| (&l[..], Compression::None)).collect();
        let workers = crate::apply::tests::apply_on_workers(&blobs, limits, &never);
        match (&here, &workers) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "one thread vs workers"),
            (Err(a), Err(b)) => assert_eq!((a.code(), a.to_string()), (b.code(), b.to_string())),
            _ => panic!("one thread: {here:?}; workers: {workers:?}"),
        }
        here
    }

    /// Renders a tree compactly: `path kind mode [content]`.
    fn render(entries: &[TreeEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::Dir => format!("{} d {:o}", e.path, e.mode),
                EntryKind::File => {
                    format!(
                        "{} f {:o} {}",
                        e.path,
                        e.mode,
                        pgext_core::hash::to_hex(&e.sha256.unwrap())[..8].to_owned()
                    )
                }
                EntryKind::Symlink => format!("{} l -> {}", e.path, e.link_target.as_deref().unwrap_or("")),
                EntryKind::Other => format!("{} o", e.path),
            })
            .collect()
    }

    fn h8(data: &[u8]) -> String {
        pgext_core::hash::to_hex(&pgext_core::hash::sha256(data))[..8].to_owned()
    }

    #[test]
    fn applies_layers_like_a_runtime() {
        let a = h8(b"a");
        let b2 = h8(b"b2");
        let c = h8(b"c");
        let lib = h8(b"ELF");
        // (name, layers, expected rendering)
        type Case = (&'static str, Vec<Vec<u8>>, Vec<String>);
        let cases: Vec<Case> = vec![
            (
                "implicit parents, ./ and / prefixes",
                vec![layer(&[
                    T::File("./lib/x.so", 0o755, b"ELF"),
                    T::File("/share/extension/x.control", 0o644, b"c"),
                ])],
                vec![
                    "lib d 755".into(),
                    format!("lib/x.so f 755 {lib}"),
                    "share d 755".into(),
                    "share/extension d 755".into(),
                    format!("share/extension/x.control f 644 {c}"),
                ],
            ),
            (
                "explicit dir mode after children, setuid kept",
                vec![layer(&[T::File("d/f", 0o4755, b"a"), T::Dir("d/", 0o700)])],
                vec!["d d 700".into(), format!("d/f f 4755 {a}")],
            ),
            (
                "later layer overrides a file and a dir mode",
                vec![
                    layer(&[T::Dir("d", 0o755), T::File("d/f", 0o644, b"a")]),
                    layer(&[T::Dir("d", 0o750), T::File("d/f", 0o600, b"b2")]),
                ],
                vec!["d d 750".into(), format!("d/f f 600 {b2}")],
            ),
            (
                "whiteout deletes recursively, only lower content",
                vec![
                    layer(&[
                        T::File("d/x/1", 0o644, b"a"),
                        T::File("d/y", 0o644, b"a"),
                        T::File("keep", 0o644, b"a"),
                    ]),
                    layer(&[
                        T::File("d/.wh.x", 0o644, b""),
                        T::File("d/.wh.y", 0o644, b""),
                        T::File("d/y", 0o644, b"c"),
                    ]),
                ],
                vec!["d d 755".into(), format!("d/y f 644 {c}"), format!("keep f 644 {a}")],
            ),
            (
                "opaque dir clears earlier content only",
                vec![
                    layer(&[
                        T::File("d/old", 0o644, b"a"),
                        T::File("d/sub/old", 0o644, b"a"),
                        T::File("e", 0o644, b"a"),
                    ]),
                    layer(&[
                        T::Dir("d", 0o755),
                        T::File("d/new", 0o644, b"c"),
                        T::File("d/.wh..wh..opq", 0o644, b""),
                    ]),
                ],
                vec!["d d 755".into(), format!("d/new f 644 {c}"), format!("e f 644 {a}")],
            ),
            (
                "hard links take the target's content and mode; symlinks are 0777",
                vec![layer(&[
                    T::File("lib/a.so.1", 0o755, b"ELF"),
                    T::Hard("lib/a.so", "lib/a.so.1"),
                    T::Sym("lib/b.so", "a.so.1"),
                ])],
                vec![
                    "lib d 755".into(),
                    format!("lib/a.so f 755 {lib}"),
                    format!("lib/a.so.1 f 755 {lib}"),
                    "lib/b.so l -> a.so.1".into(),
                ],
            ),
            (
                "hard link to a lower layer's file",
                vec![layer(&[T::File("f", 0o640, b"a")]), layer(&[T::Hard("g", "./f")])],
                vec![format!("f f 640 {a}"), format!("g f 640 {a}")],
            ),
            (
                "AUFS bookkeeping ignored, root entry ignored",
                vec![layer(&[
                    T::Dir("./", 0o700),
                    T::File(".wh..wh.plnk/1", 0o644, b""),
                    T::File("f", 0o644, b"a"),
                ])],
                vec![format!("f f 644 {a}")],
            ),
        ];
        for (name, layers, want) in cases {
            let got = apply(&layers, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(render(&got), want, "{name}");
        }
    }

    #[test]
    fn odd_names_are_escaped_like_a_scan() {
        let layers = vec![layer(&[T::RawFile(b"lib/\xff\\x.so", b"x"), T::Sym("lib/l", "a\tb")])];
        let got = apply(&layers, &Limits::default()).unwrap();
        let paths: Vec<&str> = got.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["lib", "lib/\\xff\\\\x.so", "lib/l"]);
        assert_eq!(got[2].link_target.as_deref(), Some("a\\x09b"));
        assert!(pgext_core::tree::tree_digest(&got).is_ok());
    }

    #[test]
    fn unterminated_archives_are_accepted_only_after_complete_entries() {
        // tar crate output without padding and end blocks, as bookworm's umoci writes layers.
        let full = layer(&[T::Dir("lib", 0o755), T::File("lib/x.so", 0o755, b"0123456789")]);
        let data_end = 512 * 2 + 10; // dir header, file header, file data
        let cut = |n: usize| full[..n].to_vec();
        let want = render(&apply(std::slice::from_ref(&full), &Limits::default()).unwrap());
        for n in [data_end, 512 * 3, 512 * 3 + 10, 512 * 4] {
            let got = apply(&[cut(n)], &Limits::default()).unwrap_or_else(|e| panic!("cut at {n}: {e}"));
            assert_eq!(render(&got), want, "cut at {n}");
        }
        // Cut inside the file's data or its header: zeros must never stand in for content.
        for n in [512 * 2 + 4, 512 + 100] {
            let err = apply(&[cut(n)], &Limits::default()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Malformed, "cut at {n}: {err}");
        }
    }

    #[test]
    fn file_over_dir_removes_subtree() {
        let layers = vec![
            layer(&[T::File("x/inner", 0o644, b"a")]),
            layer(&[T::File("x", 0o644, b"c")]),
        ];
        let got = apply(&layers, &Limits::default()).unwrap();
        assert_eq!(render(&got), vec![format!("x f 644 {}", h8(b"c"))]);
    }

    #[test]
    fn refuses_hostile_and_oversized_layers() {
        let small = Limits {
            max_entries: 3,
            max_file_bytes: 4,
            ..Limits::default()
        };
        type Case<'a> = (&'static str, Vec<Vec<u8>>, &'a Limits, ErrorCode, &'static str);
        let cases: Vec<Case> = vec![
            (
                "dotdot",
                vec![layer(&[T::RawFile(b"../etc/passwd", b"x")])],
                &small,
                ErrorCode::HostileLayer,
                "'..'",
            ),
            (
                "inner dotdot",
                vec![layer(&[T::RawFile(b"lib/../../x", b"x")])],
                &small,
                ErrorCode::HostileLayer,
                "'..'",
            ),
            (
                "fifo",
                vec![layer(&[T::Fifo("p")])],
                &small,
                ErrorCode::HostileLayer,
                "FIFO",
            ),
            (
                "hard link to nothing",
                vec![layer(&[T::Hard("a", "nope")])],
                &small,
                ErrorCode::HostileLayer,
                "no layer",
            ),
            (
                "hard link escaping",
                vec![layer(&[T::Hard("a", "../x")])],
                &small,
                ErrorCode::HostileLayer,
                "'..'",
            ),
            (
                "hard link to dir",
                vec![layer(&[T::Dir("d", 0o755), T::Hard("a", "d")])],
                &small,
                ErrorCode::HostileLayer,
                "directory",
            ),
            (
                "through a symlink",
                vec![layer(&[T::Sym("lib", "/usr/lib"), T::File("lib/x.so", 0o644, b"x")])],
                &small,
                ErrorCode::HostileLayer,
                "not a directory",
            ),
            (
                "under a file",
                vec![
                    layer(&[T::File("y", 0o644, b"a")]),
                    layer(&[T::File("y/z", 0o644, b"c")]),
                ],
                &small,
                ErrorCode::HostileLayer,
                "not a directory",
            ),
            (
                "file too big",
                vec![layer(&[T::File("f", 0o644, b"12345")])],
                &small,
                ErrorCode::TooLarge,
                "file",
            ),
            (
                "too many entries",
                vec![layer(&[T::File("a/b/c/d", 0o644, b"1")])],
                &small,
                ErrorCode::TooLarge,
                "entries",
            ),
            (
                "not a tar",
                vec![b"this is not a tar archive, not at all, no".repeat(20)],
                &small,
                ErrorCode::Malformed,
                "layer",
            ),
        ];
        for (name, layers, limits, code, text) in cases {
            let err = apply(&layers, limits).expect_err(name);
            assert_eq!(err.code(), code, "{name}: {err}");
            assert!(err.to_string().contains(text), "{name}: {err}");
        }
    }

    #[test]
    fn long_names_and_metadata_cap() {
        let long = format!("share/extension/{}.sql", "x".repeat(300));
        let data = layer(&[T::File(&long, 0o644, b"a")]);
        let got = apply(std::slice::from_ref(&data), &Limits::default()).unwrap();
        assert_eq!(got.last().map(|e| e.path.as_str()), Some(long.as_str()));
        let huge = format!("share/{}", "y".repeat(6000));
        let tight = Limits {
            max_metadata_bytes: 100,
            ..Limits::default()
        };
        let err = apply(&[layer(&[T::File(&huge, 0o644, b"a")])], &tight).unwrap_err();
        assert_eq!(err.code(), ErrorCode::HostileLayer, "{err}");
        assert!(err.to_string().contains("metadata"), "{err}");
    }

    #[test]
    fn pax_paths_and_link_targets_apply() {
        let long = format!("share/extension/{}.sql", "p".repeat(200));
        let layers = vec![layer(&[
            T::Pax(&[("path", &long)]),
            T::File("short", 0o644, b"a"),
            T::Pax(&[("path", "lib/l"), ("linkpath", "target.so")]),
            T::Sym("x", "y"),
        ])];
        let got = apply(&layers, &Limits::default()).unwrap();
        let paths: Vec<&str> = got.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["lib", "lib/l", "share", "share/extension", long.as_str()]);
        assert_eq!(got[1].link_target.as_deref(), Some("target.so"));
        let hostile = vec![layer(&[T::Pax(&[("path", "a/../../b")]), T::File("fine", 0o644, b"a")])];
        let err = apply(&hostile, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::HostileLayer, "{err}");
    }

    #[test]
    fn decompression_bomb_is_capped() {
        let big = vec![0u8; 1 << 20];
        let data = layer(&[T::File("zeros", 0o644, &big)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        let limits = Limits {
            max_layer_bytes: 512 * 1024,
            ..Limits::default()
        };
        let never = || false;
        let intr = Interrupt::new(&never, None);
        let mut t = TreeBuilder::new(&limits);
        let err = t.apply_layer(&gz[..], Compression::Gzip, "bomb", &intr).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TooLarge, "{err}");
        let err = crate::apply::tests::apply_on_workers(&[(&gz, Compression::Gzip)], &limits, &never).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TooLarge, "{err}");
    }

    #[test]
    fn compressed_layers_give_the_same_tree() {
        let data = layer(&[T::File("lib/x.so", 0o755, b"ELF"), T::Sym("lib/y.so", "x.so")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::stream::encode_all(&data[..], 3).unwrap();
        let never = || false;
        let intr = Interrupt::new(&never, None);
        let limits = Limits::default();
        let mut trees = Vec::new();
        for (blob, c) in [
            (&data, Compression::None),
            (&gz, Compression::Gzip),
            (&zst, Compression::Zstd),
        ] {
            let mut t = TreeBuilder::new(&limits);
            t.apply_layer(&blob[..], c, "L", &intr).unwrap();
            trees.push(t.into_entries());
            trees.push(crate::apply::tests::apply_on_workers(&[(blob, c)], &limits, &never).unwrap());
        }
        assert!(trees.iter().all(|t| *t == trees[0]));
        assert_eq!(trees[0].len(), 3);
    }

    #[test]
    fn cancel_stops_a_large_layer() {
        let big = vec![7u8; 8 << 20];
        let data = layer(&[T::File("big", 0o644, &big)]);
        let calls = Cell::new(0);
        let cancel = || {
            calls.set(calls.get() + 1);
            calls.get() > 2
        };
        let intr = Interrupt::new(&cancel, None);
        let limits = Limits::default();
        let mut t = TreeBuilder::new(&limits);
        let err = t.apply_layer(&data[..], Compression::None, "L", &intr).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
    }
}
