//! Results one process derived from the files on the search paths, left in a file for other
//! processes of the same server: a new session then starts from what the worker or an earlier
//! session already read and analysed, instead of reading and analysing every image again.
//!
//! Nothing is trusted for being in the file. A snapshot is used only when the signature of the
//! settings it was derived from is byte-for-byte the reader's, its checksum matches, and every
//! path of its [`Fingerprint`] still has the identity it had (the reader `stat`s them); anything
//! else and the reader derives the results itself. A remounted image changes the device of every
//! directory in it, and an added, removed or renamed file changes its directory, so neither can
//! be served stale.
//!
//! Layout (little-endian; the format's version is the magic's last digit): `PGEXTSN1`; the
//! signature as a u32 length and bytes; the fingerprint as a u32 count, then per path a u32
//! length and bytes, a u8 for present, dev, ino and size (u64), mtime and ctime (i128); the
//! payload as a u64 length and bytes; the SHA-256 of everything before it.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::fsinfo;
use crate::hash::{self, FileKey};
use crate::inventory::Fingerprint;

const MAGIC: &[u8; 8] = b"PGEXTSN1";
/// How many snapshot files of one kind a directory keeps (one per distinct signature: databases
/// with other installed extensions, sessions with other paths); the oldest go first.
pub const KEEP: usize = 16;

/// Where the snapshot of `kind` for `signature` lives in `dir`: one file per signature, so that
/// two databases do not overwrite each other's.
pub fn path_for(dir: &Path, kind: &str, signature: &str) -> PathBuf {
    let h = hash::to_hex(&hash::sha256(signature.as_bytes()));
    dir.join(format!("{kind}.{}", &h[..16]))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// The bytes of a snapshot.
pub fn encode(signature: &str, fingerprint: &Fingerprint, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + signature.len() + payload.len() + fingerprint.len() * 120);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, signature.as_bytes());
    out.extend_from_slice(&(fingerprint.len() as u32).to_le_bytes());
    for (p, key) in fingerprint.entries() {
        put_bytes(&mut out, p.as_bytes());
        let k = key.unwrap_or(FileKey {
            dev: 0,
            ino: 0,
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
        });
        out.push(u8::from(key.is_some()));
        out.extend_from_slice(&k.dev.to_le_bytes());
        out.extend_from_slice(&k.ino.to_le_bytes());
        out.extend_from_slice(&k.size.to_le_bytes());
        out.extend_from_slice(&k.mtime_ns.to_le_bytes());
        out.extend_from_slice(&k.ctime_ns.to_le_bytes());
    }
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = hash::sha256(&out);
    out.extend_from_slice(&sum);
    out
}

/// A bounds-checked reader over the bytes of a snapshot.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i128(&mut self) -> Option<i128> {
        Some(i128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Why a snapshot was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a snapshot of this layout, truncated, or its checksum does not match.
    Corrupt,
    /// Derived from other settings.
    OtherSignature,
}

/// The fingerprint and payload of a snapshot's bytes, when they were derived under `signature`.
/// Does not look at the files: the caller checks [`Fingerprint::unchanged`].
pub fn decode(bytes: &[u8], signature: &str) -> Result<(Fingerprint, Vec<u8>), Refused> {
    let body_len = bytes.len().checked_sub(32).ok_or(Refused::Corrupt)?;
    let (body, sum) = bytes.split_at(body_len);
    if hash::sha256(body).as_slice() != sum {
        return Err(Refused::Corrupt);
    }
    let mut c = Cursor(body);
    if c.take(MAGIC.len()) != Some(MAGIC.as_slice()) {
        return Err(Refused::Corrupt);
    }
    if c.bytes().ok_or(Refused::Corrupt)? != signature.as_bytes() {
        return Err(Refused::OtherSignature);
    }
    let n = c.u32().ok_or(Refused::Corrupt)? as usize;
    // Each entry takes at least 61 bytes: a count the rest cannot hold is corrupt, and is
    // refused before anything is allocated for it.
    if n > c.0.len() / 61 {
        return Err(Refused::Corrupt);
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let entry = (|| {
            let p = std::str::from_utf8(c.bytes()?).ok()?.to_string();
            let present = match c.take(1)?[0] {
                0 => false,
                1 => true,
                _ => return None,
            };
            let key = FileKey {
                dev: c.u64()?,
                ino: c.u64()?,
                size: c.u64()?,
                mtime_ns: c.i128()?,
                ctime_ns: c.i128()?,
            };
            // One encoding per snapshot: an absent path's key is all zeros.
            let zero = key.dev == 0 && key.ino == 0 && key.size == 0 && key.mtime_ns == 0 && key.ctime_ns == 0;
            if !present && !zero {
                return None;
            }
            Some((p, present.then_some(key)))
        })()
        .ok_or(Refused::Corrupt)?;
        entries.push(entry);
    }
    let len = usize::try_from(c.u64().ok_or(Refused::Corrupt)?).map_err(|_| Refused::Corrupt)?;
    let payload = c.take(len).ok_or(Refused::Corrupt)?.to_vec();
    if !c.0.is_empty() {
        return Err(Refused::Corrupt);
    }
    Ok((Fingerprint::from_entries(entries), payload))
}

/// Writes a snapshot's bytes ([`encode`]) atomically (a temporary file renamed over the old
/// one), then removes the oldest files of the same kind beyond [`KEEP`].
pub fn save(dir: &Path, kind: &str, signature: &str, bytes: &[u8]) -> io::Result<()> {
    let path = path_for(dir, kind, signature);
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    let prefix = format!("{kind}.");
    let mut mine: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(&prefix) && !n.contains(".tmp.")
        })
        .filter(|e| e.path() != path)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    // The one just written always stays.
    if mine.len() >= KEEP {
        mine.sort();
        for (_, p) in &mine[..=mine.len() - KEEP] {
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(())
}

/// What [`load`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// A snapshot derived under the same settings from files that are all unchanged.
    Fresh(Fingerprint, Vec<u8>),
    /// None for this signature.
    Absent,
    /// One exists but may not be used (why).
    Unusable(&'static str),
}

/// Reads the snapshot of `kind` for `signature` from `dir`, at most `max_bytes`, opened like any
/// untrusted file (a FIFO or device never blocks), and checks every watched path.
pub fn load(dir: &Path, kind: &str, signature: &str, max_bytes: u64) -> Loaded {
    let path = path_for(dir, kind, signature);
    let (file, meta) = match fsinfo::open_untrusted(&path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Absent,
        Err(_) => return Loaded::Unusable("unreadable"),
    };
    if meta.len() > max_bytes {
        return Loaded::Unusable("too large");
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    if file.take(max_bytes + 1).read_to_end(&mut bytes).is_err() {
        return Loaded::Unusable("unreadable");
    }
    match decode(&bytes, signature) {
        Err(Refused::Corrupt) => Loaded::Unusable("corrupt"),
        // A 64-bit name collision between two signatures: not ours.
        Err(Refused::OtherSignature) => Loaded::Absent,
        Ok((fp, _)) if !fp.unchanged() => Loaded::Unusable("files changed"),
        Ok((fp, payload)) => Loaded::Fresh(fp, payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint_of(paths: &[&Path]) -> Fingerprint {
        Fingerprint::from_entries(
            paths
                .iter()
                .map(|p| {
                    let key = std::fs::metadata(p).ok().map(|m| FileKey::from_metadata(&m));
                    (p.to_string_lossy().into_owned(), key)
                })
                .collect(),
        )
    }

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let watched = dir.path().join("ext");
        std::fs::create_dir(&watched).unwrap();
        let missing = dir.path().join("not-there");
        let fp = fingerprint_of(&[&watched, &missing]);
        let bytes = encode("sig", &fp, b"rows");
        assert_eq!(decode(&bytes, "sig"), Ok((fp.clone(), b"rows".to_vec())));
        assert_eq!(decode(&bytes, "other"), Err(Refused::OtherSignature));
        // Every truncation and every single flipped byte is refused, never misread.
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n], "sig"), Err(Refused::Corrupt), "truncated to {n}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(decode(&b, "sig").is_err(), "byte {i} flipped");
        }
        // A huge count in a file that checks out is refused before allocating.
        let mut body = MAGIC.to_vec();
        put_bytes(&mut body, b"sig");
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        let sum = hash::sha256(&body);
        body.extend_from_slice(&sum);
        assert_eq!(decode(&body, "sig"), Err(Refused::Corrupt));
    }

    #[test]
    fn load_checks_every_watched_path() {
        let dir = tempfile::tempdir().unwrap();
        let watched = dir.path().join("image");
        std::fs::create_dir(&watched).unwrap();
        let fp = fingerprint_of(&[&watched]);
        assert_eq!(load(dir.path(), "k", "sig", 1 << 20), Loaded::Absent);
        save(dir.path(), "k", "sig", &encode("sig", &fp, b"payload")).unwrap();
        assert_eq!(
            load(dir.path(), "k", "sig", 1 << 20),
            Loaded::Fresh(fp.clone(), b"payload".to_vec())
        );
        assert_eq!(load(dir.path(), "k", "other", 1 << 20), Loaded::Absent);
        assert_eq!(load(dir.path(), "k", "sig", 10), Loaded::Unusable("too large"));
        // A file added in a watched directory changes it: the snapshot is not served.
        std::fs::write(watched.join("new.control"), "").unwrap();
        assert_eq!(load(dir.path(), "k", "sig", 1 << 20), Loaded::Unusable("files changed"));
        // A FIFO in the snapshot's place is refused without blocking.
        let p = path_for(dir.path(), "k", "fifo");
        let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: creates a FIFO at a path of our temporary directory.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(load(dir.path(), "k", "fifo", 1 << 20), Loaded::Unusable("unreadable"));
        // Garbage is corrupt.
        std::fs::write(path_for(dir.path(), "k", "junk"), b"PGEXTSN1 and then nothing").unwrap();
        assert_eq!(load(dir.path(), "k", "junk", 1 << 20), Loaded::Unusable("corrupt"));
    }

    #[test]
    fn keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let fp = Fingerprint::from_entries(Vec::new());
        for i in 0..KEEP + 5 {
            let sig = format!("sig{i}");
            save(dir.path(), "k", &sig, &encode(&sig, &fp, b"x")).unwrap();
        }
        save(dir.path(), "other", "sig", &encode("sig", &fp, b"x")).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.iter().filter(|n| n.starts_with("k.")).count(), KEEP);
        assert_eq!(names.iter().filter(|n| n.starts_with("other.")).count(), 1);
        assert!(!names.iter().any(|n| n.contains(".tmp.")));
    }
}
