//! Where manifests and blobs come from: a registry, an OCI layout directory, or a tar of one.
//!
//! Sources only move bytes. Every blob goes through a [`BlobSink`], which hashes while spooling to
//! an unnamed temporary file, enforces the descriptor's size as it goes, and hands the file back
//! only once the digest is confirmed — nothing downstream ever sees an unverified byte.

mod layout;
mod registry;

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

pub(crate) use layout::LayoutSource;
pub(crate) use registry::{RegistrySettings, RegistrySource};

use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::OciError;
use crate::interrupt::Interrupt;

/// Spool writes are buffered: network chunks are small (8–16 KiB).
const SPOOL_BUFFER: usize = 256 * 1024;

/// A source of manifests and blobs.
pub(crate) enum Source {
    /// A registry.
    Registry(RegistrySource),
    /// An OCI layout directory or archive.
    Layout(LayoutSource),
}

impl Source {
    /// The digest a tag points at now; `Ok(None)` if the tag does not exist. For registries the
    /// digest is computed from the manifest bytes, not taken from a header.
    /// `algorithm` is the one to express it in (the pinned digest's), so the two compare.
    pub(crate) async fn resolve_tag(
        &mut self,
        tag: &str,
        algorithm: Algorithm,
        intr: &Interrupt<'_>,
    ) -> Result<Option<Digest>, OciError> {
        match self {
            Source::Registry(r) => r.resolve_tag(tag, algorithm, intr).await,
            Source::Layout(l) => l.resolve_tag(tag, Some(algorithm)),
        }
    }

    /// The digest the reference names when it pins none: the tag's (registry: `latest` without a
    /// tag), or a layout's only manifest.
    pub(crate) async fn resolve_default(
        &mut self,
        tag: Option<&str>,
        intr: &Interrupt<'_>,
    ) -> Result<Digest, OciError> {
        match self {
            Source::Registry(r) => {
                let tag = tag.unwrap_or("latest");
                r.resolve_tag(tag, Algorithm::Sha256, intr)
                    .await?
                    .ok_or_else(|| OciError::NotFound {
                        what: format!("tag {tag:?}"),
                        detail: r.describe(),
                    })
            }
            Source::Layout(l) => match tag {
                Some(t) => l.resolve_tag(t, None)?.ok_or_else(|| OciError::NotFound {
                    what: format!("tag {t:?}"),
                    detail: l.describe(),
                }),
                None => l.only_manifest(),
            },
        }
    }

    /// The bytes of the manifest with `digest`, verified against it (and against `size` if known).
    pub(crate) async fn manifest(
        &mut self,
        digest: &Digest,
        size: Option<u64>,
        max: u64,
        intr: &Interrupt<'_>,
    ) -> Result<Vec<u8>, OciError> {
        if let Some(s) = size
            && s > max
        {
            return Err(OciError::TooLarge {
                what: format!("manifest {digest}"),
                limit: max,
                unit: "bytes",
            });
        }
        let bytes = match self {
            Source::Registry(r) => r.manifest(digest, intr).await?,
            Source::Layout(l) => l.read_small(digest, max)?,
        };
        if bytes.len() as u64 > max {
            return Err(OciError::TooLarge {
                what: format!("manifest {digest}"),
                limit: max,
                unit: "bytes",
            });
        }
        let actual = Digest::of(digest.algorithm(), &bytes);
        if actual != *digest {
            return Err(OciError::DigestMismatch {
                what: format!("manifest {digest} from {}", self.describe()),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        if let Some(s) = size
            && s != bytes.len() as u64
        {
            return Err(OciError::DigestMismatch {
                what: format!("manifest {digest} (size)"),
                expected: format!("{s} bytes"),
                actual: format!("{} bytes", bytes.len()),
            });
        }
        Ok(bytes)
    }

    /// Streams the blob into `sink`; the caller finishes the sink to verify it.
    pub(crate) async fn blob(&mut self, sink: &mut BlobSink<'_, '_>, intr: &Interrupt<'_>) -> Result<(), OciError> {
        match self {
            Source::Registry(r) => r.blob(sink, intr).await,
            Source::Layout(l) => l.blob(sink),
        }
    }

    /// Names the source in messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::Registry(r) => r.describe(),
            Source::Layout(l) => l.describe(),
        }
    }
}

/// Receives a blob's bytes: hashes them, counts them against the expected size, spools them.
pub(crate) struct BlobSink<'i, 'c> {
    digest: Digest,
    size: u64,
    what: String,
    hasher: Hasher,
    written: u64,
    out: BufWriter<File>,
    intr: &'i Interrupt<'c>,
}

impl<'i, 'c> BlobSink<'i, 'c> {
    /// A sink for the blob `digest` of `size` bytes, spooling into a fresh unnamed temporary file
    /// in `spool_dir` (the system temporary directory if `None`): the file has no name, so it
    /// disappears when dropped, whatever happens — cancel, error or crash.
    pub(crate) fn new(
        digest: &Digest,
        size: u64,
        what: String,
        spool_dir: Option<&Path>,
        intr: &'i Interrupt<'c>,
    ) -> Result<Self, OciError> {
        let file = match spool_dir {
            Some(d) => tempfile::tempfile_in(d),
            None => tempfile::tempfile(),
        }
        .map_err(|e| OciError::io("creating the spool file", e))?;
        Ok(BlobSink {
            digest: digest.clone(),
            size,
            what,
            hasher: digest.hasher(),
            written: 0,
            out: BufWriter::with_capacity(SPOOL_BUFFER, file),
            intr,
        })
    }

    /// The blob's digest.
    pub(crate) fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob's size according to its descriptor.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next chunk. Fails as soon as the blob grows past its descriptor's size, so a
    /// hostile server cannot fill the disk.
    pub(crate) fn write(&mut self, chunk: &[u8]) -> Result<(), OciError> {
        let len = chunk.len() as u64;
        if self.written.saturating_add(len) > self.size {
            return Err(OciError::DigestMismatch {
                what: format!("{} (size)", self.what),
                expected: format!("{} bytes", self.size),
                actual: format!("more than {} bytes", self.size),
            });
        }
        self.hasher.update(chunk);
        self.out
            .write_all(chunk)
            .map_err(|e| OciError::io("writing the spool file", e))?;
        self.written += len;
        self.intr.progress(len)
    }

    /// Verifies size and digest; on success returns the spool file rewound to its start.
    pub(crate) fn finish(self) -> Result<File, OciError> {
        if self.written != self.size {
            return Err(OciError::DigestMismatch {
                what: format!("{} (size)", self.what),
                expected: format!("{} bytes", self.size),
                actual: format!("{} bytes", self.written),
            });
        }
        let actual = self.hasher.finish();
        if actual != self.digest {
            return Err(OciError::DigestMismatch {
                what: self.what,
                expected: self.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| OciError::io("flushing the spool file", e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| OciError::io("rewinding the spool file", e))?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn sink_verifies_size_and_digest() {
        let never = || false;
        let intr = Interrupt::new(&never, None);
        let data = b"hello blob";
        let good = Digest::of(Algorithm::Sha256, data);
        let bad = Digest::of(Algorithm::Sha256, b"other");
        // (digest, declared size, chunks, expected code)
        type Case = (Digest, u64, Vec<&'static [u8]>, Option<crate::ErrorCode>);
        let cases: Vec<Case> = vec![
            (good.clone(), 10, vec![b"hello", b" blob"], None),
            (bad, 10, vec![b"hello blob"], Some(crate::ErrorCode::DigestMismatch)),
            (
                good.clone(),
                9,
                vec![b"hello", b" blob"],
                Some(crate::ErrorCode::DigestMismatch),
            ),
            (good, 11, vec![b"hello blob"], Some(crate::ErrorCode::DigestMismatch)),
        ];
        for (digest, size, chunks, want) in cases {
            let mut sink = BlobSink::new(&digest, size, "blob".into(), None, &intr).unwrap();
            let res = chunks
                .iter()
                .try_for_each(|c| sink.write(c))
                .and_then(|()| sink.finish());
            match (res, want) {
                (Ok(mut f), None) => {
                    let mut s = String::new();
                    f.read_to_string(&mut s).unwrap();
                    assert_eq!(s, "hello blob");
                }
                (Err(e), Some(code)) => assert_eq!(e.code(), code, "{e}"),
                (Ok(_), Some(code)) => panic!("expected {code}"),
                (Err(e), None) => panic!("unexpected {e}"),
            }
        }
    }
}
