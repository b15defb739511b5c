//! Small blobs kept by digest between verifications: image configs, signature payloads, Sigstore
//! bundles and in-toto statements.
//!
//! A blob is content-addressed: its digest names its bytes, so what a verification downloaded
//! once serves every later one — a repeated verification of an unchanged pin then reads its
//! manifests (has the tag moved? which signatures and attestations are attached now?) and
//! nothing else. Nothing is trusted for being in the cache: a blob read back must have the
//! descriptor's size and hash to its digest, else it is removed and downloaded again, exactly as
//! a download is checked. The cache is bounded ([`MAX_BYTES`], oldest removed first); failing
//! to read or write it only costs a download.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Most bytes the cache holds; past it, the blobs least recently used are removed.
pub const MAX_BYTES: u64 = 256 << 20;

/// A directory of blobs, `<dir>/<algorithm>/<hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl BlobCache {
    /// The cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> BlobCache {
        BlobCache {
            dir: dir.into(),
            max_bytes: MAX_BYTES,
        }
    }

    /// Sets the most bytes kept.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> BlobCache {
        self.max_bytes = max_bytes;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        // The hex is validated (lower-case, fixed length): a plain file name.
        self.dir.join(digest.algorithm().name()).join(digest.hex())
    }

    /// The blob `digest` of `size` bytes, if kept and intact. A kept file of another size, or
    /// whose bytes do not hash to `digest`, is removed.
    pub fn get(&self, digest: &Digest, size: u64) -> Option<Vec<u8>> {
        let path = self.path(digest);
        let (file, meta) = pgext_core::fsinfo::open_untrusted(&path, false).ok()?;
        if meta.len() != size {
            let _ = fs::remove_file(&path);
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).ok()?);
        file.take(size.saturating_add(1)).read_to_end(&mut bytes).ok()?;
        if bytes.len() as u64 != size || !digest.matches(&bytes) {
            let _ = fs::remove_file(&path);
            return None;
        }
        // Most recently used last to go.
        let _ = fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some(bytes)
    }

    /// Keeps `bytes`, already verified to be the blob `digest` (best effort: a failure only
    /// costs a download later). Blobs larger than a quarter of the cache are not kept.
    pub fn put(&self, digest: &Digest, bytes: &[u8]) {
        if bytes.len() as u64 > self.max_bytes / 4 {
            return;
        }
        if self.write(digest, bytes).is_ok() {
            self.prune();
        }
    }

    fn write(&self, digest: &Digest, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(digest);
        let Some(parent) = path.parent() else {
            return Err(io::Error::other("no parent"));
        };
        fs::create_dir_all(parent)?;
        // Written under a name of this process's, then renamed: a reader sees the whole blob or
        // none (and checks it all the same).
        let tmp = parent.join(format!(".{}.{}", digest.hex(), std::process::id()));
        let written = fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes));
        match written.and_then(|()| fs::rename(&tmp, &path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Removes the least recently used blobs while the cache holds more than its bound.
    fn prune(&self) {
        let mut files = Vec::new();
        let mut total = 0u64;
        let Ok(algorithms) = fs::read_dir(&self.dir) else {
            return;
        };
        for alg in algorithms.flatten() {
            let Ok(entries) = fs::read_dir(alg.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(meta) = e.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                total = total.saturating_add(meta.len());
                files.push((meta.modified().ok(), meta.len(), e.path()));
            }
        }
        if total <= self.max_bytes {
            return;
        }
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algorithm;

    #[test]
    fn blobs_come_back_only_intact() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path().join("blobs"));
        let blob = b"{\"payloadType\":\"application/vnd.in-toto+json\"}".to_vec();
        let digest = Digest::of(Algorithm::Sha256, &blob);
        assert_eq!(cache.get(&digest, blob.len() as u64), None, "nothing kept yet");
        cache.put(&digest, &blob);
        assert_eq!(cache.get(&digest, blob.len() as u64), Some(blob.clone()));
        // Another size than the descriptor's: not served, removed.
        assert_eq!(cache.get(&digest, blob.len() as u64 + 1), None);
        assert_eq!(cache.get(&digest, blob.len() as u64), None);
        // A changed byte, same size: not served, removed.
        cache.put(&digest, &blob);
        let path = dir.path().join("blobs/sha256").join(digest.hex());
        let mut bad = blob.clone();
        bad[0] ^= 1;
        fs::write(&path, &bad).unwrap();
        assert_eq!(cache.get(&digest, blob.len() as u64), None);
        assert!(!path.exists());
        // A symlink in its place is not followed.
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, &blob).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert_eq!(cache.get(&digest, blob.len() as u64), None);
    }

    #[test]
    fn the_oldest_blobs_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path()).with_max_bytes(4000);
        let blobs: Vec<(Digest, Vec<u8>)> = (0..5u8)
            .map(|i| {
                let b = vec![i; 900];
                (Digest::of(Algorithm::Sha256, &b), b)
            })
            .collect();
        for (i, (d, b)) in blobs.iter().enumerate() {
            cache.put(d, b);
            // Distinct times, whatever the file system's clock granularity.
            let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i as u64);
            fs::File::options()
                .write(true)
                .open(cache.path(d))
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        // 5 × 900 > 4000: the first one put went.
        let kept: Vec<bool> = blobs
            .iter()
            .map(|(d, b)| cache.get(d, b.len() as u64).is_some())
            .collect();
        assert_eq!(kept, [false, true, true, true, true]);
        // Too large for the cache: not kept at all.
        let big = vec![9u8; 1001];
        let d = Digest::of(Algorithm::Sha256, &big);
        cache.put(&d, &big);
        assert_eq!(cache.get(&d, 1001), None);
    }
}
