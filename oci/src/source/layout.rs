//! OCI image layouts: a directory (`oci:`) or a tar of one (`oci-archive:`).
//!
//! Archives are not extracted: one pass over the tar headers (seeking over the data) records where
//! each member's bytes start, and members are then read in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use pgext_core::fsinfo::{open_untrusted, refused};
use serde::Deserialize;

use super::BlobSink;
use crate::digest::{Algorithm, Digest};
use crate::error::OciError;
use crate::interrupt::Interrupt;
use crate::manifest::{Descriptor, Document, parse_document};

/// Annotation that names a manifest in `index.json` (what `oci:dir:TAG` refers to).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Chunk size for copying local blobs.
const COPY_CHUNK: usize = 256 * 1024;

enum Store {
    Dir(PathBuf),
    Archive {
        path: PathBuf,
        members: HashMap<String, Member>,
    },
}

#[derive(Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

/// An OCI image layout, in a directory or an archive.
pub(crate) struct LayoutSource {
    store: Store,
    max_document: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciLayoutFile {
    image_layout_version: String,
}

impl LayoutSource {
    /// Opens a layout directory. `max_document` bounds `index.json` and manifests.
    pub(crate) fn open_dir(path: &Path, max_document: u64) -> Result<Self, OciError> {
        let meta = std::fs::metadata(path).map_err(|e| not_found_or_io(e, "OCI layout directory", path))?;
        if !meta.is_dir() {
            return Err(OciError::NotFound {
                what: "OCI layout directory".into(),
                detail: format!("{} is not a directory", path.display()),
            });
        }
        let me = LayoutSource {
            store: Store::Dir(path.to_owned()),
            max_document,
        };
        me.check_layout_file()?;
        Ok(me)
    }

    /// Indexes the members of a layout archive (a plain tar). At most `max_members` members.
    pub(crate) fn open_archive(
        path: &Path,
        max_document: u64,
        max_members: usize,
        intr: &Interrupt<'_>,
    ) -> Result<Self, OciError> {
        intr.set_phase(format!("indexing {}", path.display()));
        let file = open_file(path).map_err(|e| not_found_or_io(e, "OCI archive", path))?;
        let mut archive = tar::Archive::new(file);
        let malformed = |e: io::Error| OciError::malformed(format!("OCI archive {}", path.display()), e.to_string());
        let mut members = HashMap::new();
        for entry in archive.entries_with_seek().map_err(malformed)? {
            let entry = entry.map_err(malformed)?;
            // A header read (and a seek) per member: count it, so huge archives stay cancellable.
            intr.progress(512)?;
            // Only plain regular members can be read in place (sparse ones would need expanding).
            if !matches!(
                entry.header().entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            ) {
                continue;
            }
            let Ok(name) = std::str::from_utf8(&entry.path_bytes()).map(member_name) else {
                continue;
            };
            if members.len() >= max_members {
                return Err(OciError::TooLarge {
                    what: format!("OCI archive {}", path.display()),
                    limit: max_members as u64,
                    unit: "members",
                });
            }
            members.insert(
                name,
                Member {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
            );
        }
        let me = LayoutSource {
            store: Store::Archive {
                path: path.to_owned(),
                members,
            },
            max_document,
        };
        me.check_layout_file()?;
        Ok(me)
    }

    pub(crate) fn describe(&self) -> String {
        match &self.store {
            Store::Dir(p) => format!("oci:{}", p.display()),
            Store::Archive { path, .. } => format!("oci-archive:{}", path.display()),
        }
    }

    fn check_layout_file(&self) -> Result<(), OciError> {
        let bytes = self.read_member("oci-layout", 4096)?;
        let f: OciLayoutFile = serde_json::from_slice(&bytes)
            .map_err(|e| OciError::malformed(format!("{}/oci-layout", self.describe()), e.to_string()))?;
        if !f.image_layout_version.starts_with("1.") {
            return Err(OciError::UnsupportedMediaType {
                what: format!("{}/oci-layout", self.describe()),
                media_type: format!("imageLayoutVersion {}", f.image_layout_version),
            });
        }
        Ok(())
    }

    /// Opens a member (`index.json`, `blobs/sha256/<hex>`) with its size.
    fn open_member(&self, rel: &str) -> Result<(Box<dyn Read>, u64), OciError> {
        match &self.store {
            Store::Dir(root) => {
                let path = root.join(rel);
                let (file, meta) = open_untrusted(&path, true).map_err(|e| not_found_or_io(e, rel, &path))?;
                Ok((Box::new(file), meta.len()))
            }
            Store::Archive { path, members } => {
                let m = members.get(rel).ok_or_else(|| OciError::NotFound {
                    what: rel.to_owned(),
                    detail: format!("no such member in {}", path.display()),
                })?;
                let mut file = open_file(path).map_err(|e| not_found_or_io(e, "OCI archive", path))?;
                file.seek(SeekFrom::Start(m.offset))
                    .map_err(|e| OciError::io(format!("reading {} in {}", rel, path.display()), e))?;
                Ok((Box::new(file.take(m.size)), m.size))
            }
        }
    }

    fn read_member(&self, rel: &str, max: u64) -> Result<Vec<u8>, OciError> {
        let (reader, size) = self.open_member(rel)?;
        if size > max {
            return Err(OciError::TooLarge {
                what: format!("{}/{rel}", self.describe()),
                limit: max,
                unit: "bytes",
            });
        }
        let mut out = Vec::new();
        reader
            .take(max + 1)
            .read_to_end(&mut out)
            .map_err(|e| OciError::io(format!("reading {}/{rel}", self.describe()), e))?;
        Ok(out)
    }

    fn index(&self) -> Result<Vec<Descriptor>, OciError> {
        let what = format!("{}/index.json", self.describe());
        let bytes = self.read_member("index.json", self.max_document)?;
        match parse_document(&bytes, &what)? {
            Document::Index { manifests } => Ok(manifests),
            Document::Image { .. } => Err(OciError::malformed(what, "is an image manifest, not an index")),
        }
    }

    /// The digest `index.json` names `tag` with; `None` if no entry carries it. With `algorithm`,
    /// expressed in that algorithm (re-hashing the manifest if `index.json` uses another).
    pub(crate) fn resolve_tag(&self, tag: &str, algorithm: Option<Algorithm>) -> Result<Option<Digest>, OciError> {
        let index = self.index()?;
        let mut found: Option<&Descriptor> = None;
        for d in index
            .iter()
            .filter(|d| d.annotations.get(REF_NAME).is_some_and(|n| n == tag))
        {
            if found.is_some_and(|f| f.digest != d.digest) {
                return Err(OciError::malformed(
                    format!("{}/index.json", self.describe()),
                    format!("tag {tag:?} names more than one manifest"),
                ));
            }
            found = Some(d);
        }
        let Some(d) = found else { return Ok(None) };
        match algorithm {
            Some(a) if a != d.digest.algorithm() => {
                let bytes = self.read_small(&d.digest, self.max_document)?;
                Ok(Some(Digest::of(a, &bytes)))
            }
            _ => Ok(Some(d.digest.clone())),
        }
    }

    /// Without tag or digest, a layout with a single manifest means that one.
    pub(crate) fn only_manifest(&self) -> Result<Digest, OciError> {
        let index = self.index()?;
        match index.as_slice() {
            [one] => Ok(one.digest.clone()),
            [] => Err(OciError::NotFound {
                what: "any manifest".into(),
                detail: format!("{} is empty", self.describe()),
            }),
            many => Err(OciError::malformed(
                format!("{}/index.json", self.describe()),
                format!("{} manifests and no tag given; name one as oci:PATH:TAG", many.len()),
            )),
        }
    }

    /// A small blob (manifest, config), unverified: the caller verifies.
    pub(crate) fn read_small(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, OciError> {
        self.read_member(&blob_path(digest), max)
    }

    /// Copies a blob into the sink (which hashes, bounds and checks for cancel as it goes).
    pub(crate) fn blob(&self, sink: &mut BlobSink<'_, '_>) -> Result<(), OciError> {
        let rel = blob_path(sink.digest());
        let (mut reader, _) = self.open_member(&rel)?;
        let mut buf = vec![0u8; COPY_CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(OciError::io(format!("reading {}/{rel}", self.describe()), e)),
            };
            sink.write(buf.get(..n).unwrap_or_default())?;
        }
    }
}

/// `blobs/<algorithm>/<hex>`: safe because [`Digest`] validated the hex.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
}

/// Archive member names as written by tools: `./index.json`, `index.json`, `/index.json`.
fn member_name(raw: &str) -> String {
    raw.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Opens a layout's file without ever blocking (a FIFO planted as `index.json` or as the archive
/// would otherwise hang the backend in `open()`, beyond cancel and terminate); anything but a
/// regular file is refused.
fn open_file(path: &Path) -> io::Result<File> {
    open_untrusted(path, true).map(|(file, _)| file)
}

fn not_found_or_io(e: io::Error, what: &str, path: &Path) -> OciError {
    if let Some(r) = refused(&e) {
        OciError::malformed(format!("{what} {}", path.display()), r.to_string())
    } else if e.kind() == io::ErrorKind::NotFound {
        OciError::NotFound {
            what: what.to_owned(),
            detail: path.display().to_string(),
        }
    } else {
        OciError::io(format!("opening {}", path.display()), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    /// Each FIFO, device or /proc file in a layout is refused at once, never waited on.
    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        std::fs::create_dir(&layout).unwrap();
        mkfifo(&layout.join("oci-layout"));
        let fifo_archive = dir.path().join("fifo.tar");
        mkfifo(&fifo_archive);
        let zero_layout = dir.path().join("zero");
        std::fs::create_dir(&zero_layout).unwrap();
        std::os::unix::fs::symlink("/dev/zero", zero_layout.join("oci-layout")).unwrap();
        let proc_archive = dir.path().join("proc.tar");
        std::os::unix::fs::symlink("/proc/self/environ", &proc_archive).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let intr = Interrupt::new(&|| false, None);
            let results = vec![
                LayoutSource::open_dir(&layout, 1 << 20).err(),
                LayoutSource::open_archive(&fifo_archive, 1 << 20, 100, &intr).err(),
                LayoutSource::open_dir(&zero_layout, 1 << 20).err(),
                LayoutSource::open_archive(&proc_archive, 1 << 20, 100, &intr).err(),
            ];
            let _ = tx.send(
                results
                    .into_iter()
                    .map(|e| e.map(|e| (e.code(), e.to_string())))
                    .collect::<Vec<_>>(),
            );
        });
        let results = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("opening a layout blocked on a FIFO");
        for r in results {
            let (code, msg) = r.expect("must be refused");
            assert_eq!(code, crate::ErrorCode::Malformed, "{msg}");
            assert!(msg.contains("not a regular file"), "{msg}");
        }
    }

    #[test]
    fn member_names() {
        let cases = [
            ("index.json", "index.json"),
            ("./index.json", "index.json"),
            ("/blobs//sha256/ab", "blobs/sha256/ab"),
            ("./blobs/sha256/ab/", "blobs/sha256/ab"),
        ];
        for (raw, want) in cases {
            assert_eq!(member_name(raw), want, "{raw}");
        }
    }
}
