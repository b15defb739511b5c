//! Where manifests and blobs come from: a registry, an OCI layout directory, or a tar of one.
//!
//! Sources only move bytes. Every blob goes through a [`BlobSink`], which hashes while spooling to
//! an unnamed temporary file, enforces the descriptor's size as it goes, and hands the file back
//! only once the digest is confirmed — nothing downstream ever sees an unverified byte.

mod dns;
mod layout;
mod registry;

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

pub use dns::Lookup;
pub(crate) use dns::system_lookup;
pub(crate) use layout::LayoutSource;
pub use registry::{MAX_ERROR_BYTES, MAX_MANIFEST_BYTES, MAX_REDIRECTS, MAX_TOKEN_BYTES};
pub(crate) use registry::{RegistrySettings, RegistrySource, oci_error_code};

/// The first challenge of a `WWW-Authenticate` value, if pgext can answer it (for fuzzing).
pub(crate) fn parse_challenge(value: &str) -> bool {
    registry::Challenge::parse(value).is_some()
}

use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::OciError;
use crate::interrupt::Interrupt;
use crate::manifest::{Descriptor, Document, parse_document};

/// Network chunks are small (8–16 KiB): they are gathered into pieces of this size, each
/// written with one system call and hashed with one wake-up of the hashing thread.
const SPOOL_BUFFER: usize = 256 * 1024;
/// Pieces queued for the hashing thread; the receiving thread waits (for well under a
/// millisecond of hashing) when it is this far ahead.
const HASH_QUEUE: usize = 4;

/// A source of manifests and blobs.
pub(crate) enum Source {
    /// A registry.
    Registry(RegistrySource),
    /// An OCI layout directory or archive.
    Layout(LayoutSource),
}

impl Source {
    /// The digest a tag points at now; `Ok(None)` if the tag does not exist. For registries the
    /// digest is computed from the manifest bytes, not taken from a header, and those bytes come
    /// along (they are the manifest with that digest); layouts read the digest from `index.json`.
    /// `algorithm` is the one to express it in (the pinned digest's), so the two compare.
    pub(crate) async fn resolve_tag(
        &mut self,
        tag: &str,
        algorithm: Algorithm,
        max: u64,
        intr: &Interrupt<'_>,
    ) -> Result<Option<(Digest, Option<Vec<u8>>)>, OciError> {
        match self {
            Source::Registry(r) => Ok(r
                .resolve_tag(tag, algorithm, max, intr)
                .await?
                .map(|(digest, bytes)| (digest, Some(bytes)))),
            Source::Layout(l) => Ok(l.resolve_tag(tag, Some(algorithm))?.map(|d| (d, None))),
        }
    }

    /// The digest the reference names when it pins none: the tag's (registry: `latest` without a
    /// tag), or a layout's only manifest.
    pub(crate) async fn resolve_default(
        &mut self,
        tag: Option<&str>,
        max: u64,
        intr: &Interrupt<'_>,
    ) -> Result<Digest, OciError> {
        match self {
            Source::Registry(r) => {
                let tag = tag.unwrap_or("latest");
                r.resolve_tag(tag, Algorithm::Sha256, max, intr)
                    .await?
                    .map(|(digest, _)| digest)
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
            Source::Registry(r) => r.manifest(digest, max, intr).await?,
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

    /// The manifests listed as having `digest` as their subject (OCI 1.1 referrers): from the
    /// registry's referrers API, else from the referrers tag schema (an index tagged
    /// `<algorithm>-<hex>`), which is also how layouts and archives hold them. Empty when none
    /// is listed. Entries are only a listing: each must be fetched by digest and its subject
    /// checked.
    pub(crate) async fn referrers(
        &mut self,
        digest: &Digest,
        max: u64,
        intr: &Interrupt<'_>,
    ) -> Result<Vec<Descriptor>, OciError> {
        let what = format!("the referrers of {digest}");
        if let Source::Registry(r) = self
            && let Some(bytes) = r.referrers(digest, max, intr).await?
        {
            return match parse_document(&bytes, &what)? {
                Document::Index { manifests } => Ok(manifests),
                Document::Image { .. } => Err(OciError::malformed(&what, "an image manifest, not an index")),
            };
        }
        let tag = digest.to_string().replacen(':', "-", 1);
        let Some((found, bytes)) = self.resolve_tag(&tag, digest.algorithm(), max, intr).await? else {
            return Ok(Vec::new());
        };
        let bytes = match bytes {
            Some(b) => b,
            None => self.manifest(&found, None, max, intr).await?,
        };
        match parse_document(&bytes, &format!("{what} (tag {tag})"))? {
            Document::Index { manifests } => Ok(manifests),
            // Not the schema's index: nothing listed there.
            Document::Image { .. } => Ok(Vec::new()),
        }
    }

    /// Streams the blob into `sink`; the caller finishes the sink to verify it.
    pub(crate) async fn blob(&mut self, sink: &mut BlobSink<'_, '_>, intr: &Interrupt<'_>) -> Result<(), OciError> {
        match self {
            Source::Registry(r) => r.blob(sink, intr).await,
            Source::Layout(l) => l.blob(sink),
        }
    }

    /// Whether blobs come from a registry (not local files).
    pub(crate) fn is_registry(&self) -> bool {
        matches!(self, Source::Registry(_))
    }

    /// Names the source in messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::Registry(r) => r.describe(),
            Source::Layout(l) => l.describe(),
        }
    }
}

/// Hashes a blob on a thread of its own, so that hashing overlaps receiving and spooling. It
/// only ever sees bytes (pieces of [`SPOOL_BUFFER`], handed back for reuse); it ends when the
/// sink stops sending, and is joined.
struct HashThread {
    pieces: Option<SyncSender<Vec<u8>>>,
    hashed: Receiver<Vec<u8>>,
    /// Pieces that may still be created (the rest circulate).
    unallocated: usize,
    thread: Option<JoinHandle<Digest>>,
}

impl HashThread {
    fn start(hasher: Hasher) -> Result<Self, OciError> {
        let (tx, rx) = sync_channel(HASH_QUEUE);
        let (back_tx, back_rx) = channel();
        let thread = crate::threads::spawn("pgext-oci-hash", move || hash_all(hasher, &rx, &back_tx))
            .map_err(|e| OciError::io("starting the blob hashing thread", e))?;
        Ok(HashThread {
            pieces: Some(tx),
            hashed: back_rx,
            unallocated: HASH_QUEUE + 1,
            thread: Some(thread),
        })
    }

    /// Queues a piece and returns an empty one to fill next; `None` if the thread is gone (it
    /// only ends early by panicking).
    fn swap(&mut self, piece: Vec<u8>) -> Option<Vec<u8>> {
        self.pieces.as_ref()?.send(piece).ok()?;
        if let Ok(p) = self.hashed.try_recv() {
            return Some(p);
        }
        if self.unallocated > 0 {
            self.unallocated -= 1;
            return Some(Vec::with_capacity(SPOOL_BUFFER));
        }
        // Every piece is queued: wait for the thread to finish one (well under a millisecond).
        self.hashed.recv().ok()
    }

    /// The digest of everything sent; `None` if the thread panicked.
    fn finish(mut self) -> Option<Digest> {
        self.pieces = None;
        self.thread.take()?.join().ok()
    }
}

fn hash_all(mut hasher: Hasher, pieces: &Receiver<Vec<u8>>, back: &Sender<Vec<u8>>) -> Digest {
    for mut piece in pieces {
        hasher.update(&piece);
        piece.clear();
        let _ = back.send(piece);
    }
    hasher.finish()
}

impl Drop for HashThread {
    fn drop(&mut self) {
        self.pieces = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Receives a blob's bytes: hashes them, counts them against the expected size, spools them.
pub(crate) struct BlobSink<'i, 'c> {
    digest: Digest,
    size: u64,
    what: String,
    hasher: HashThread,
    /// Bytes not yet written and handed to the hashing thread.
    pending: Vec<u8>,
    written: u64,
    out: File,
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
            hasher: HashThread::start(digest.hasher())?,
            pending: Vec::with_capacity(SPOOL_BUFFER),
            written: 0,
            out: file,
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
        // Network chunks are small: gathered into pieces of SPOOL_BUFFER, each written with one
        // system call and hashed with one wake-up of the hashing thread.
        self.pending.extend_from_slice(chunk);
        if self.pending.len() >= SPOOL_BUFFER {
            self.flush_pending()?;
        }
        self.written += len;
        self.intr.progress(len)
    }

    fn flush_pending(&mut self) -> Result<(), OciError> {
        self.out
            .write_all(&self.pending)
            .map_err(|e| OciError::io("writing the spool file", e))?;
        let piece = std::mem::take(&mut self.pending);
        self.pending = self.hasher.swap(piece).ok_or_else(hash_thread_gone)?;
        Ok(())
    }

    /// Verifies size and digest; on success returns the spool file rewound to its start.
    pub(crate) fn finish(mut self) -> Result<File, OciError> {
        if self.written != self.size {
            return Err(OciError::DigestMismatch {
                what: format!("{} (size)", self.what),
                expected: format!("{} bytes", self.size),
                actual: format!("{} bytes", self.written),
            });
        }
        if !self.pending.is_empty() {
            self.flush_pending()?;
        }
        let actual = self.hasher.finish().ok_or_else(hash_thread_gone)?;
        if actual != self.digest {
            return Err(OciError::DigestMismatch {
                what: self.what,
                expected: self.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let mut file = self.out;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| OciError::io("rewinding the spool file", e))?;
        Ok(file)
    }
}

/// The hashing thread ended without a digest: it panicked (a bug).
fn hash_thread_gone() -> OciError {
    OciError::io(
        "hashing a blob",
        std::io::Error::other("the hashing thread ended early"),
    )
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

    #[test]
    fn sink_hashes_large_blobs_in_pieces() {
        let never = || false;
        let intr = Interrupt::new(&never, None);
        // More pieces than circulate between the sink and its hashing thread, in uneven chunks.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let data: Vec<u8> = (0..(SPOOL_BUFFER * (HASH_QUEUE + 3) + 12_345))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let good = Digest::of(Algorithm::Sha256, &data);
        let mut bad_data = data.clone();
        bad_data[SPOOL_BUFFER * 2] ^= 1;
        for (bytes, ok) in [(&data, true), (&bad_data, false)] {
            let mut sink = BlobSink::new(&good, data.len() as u64, "blob".into(), None, &intr).unwrap();
            for chunk in bytes.chunks(7_001) {
                sink.write(chunk).unwrap();
            }
            match sink.finish() {
                Ok(mut f) => {
                    assert!(ok, "a changed byte must not verify");
                    let mut back = Vec::new();
                    f.read_to_end(&mut back).unwrap();
                    assert!(back == data, "spooled bytes differ");
                }
                Err(e) => {
                    assert!(!ok, "{e}");
                    assert_eq!(e.code(), crate::ErrorCode::DigestMismatch, "{e}");
                }
            }
        }
    }
}
