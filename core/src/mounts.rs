//! Which mount a path lives on, from `/proc/self/mountinfo` (proc(5)), and whether it is read-only.
//!
//! CloudNativePG mounts each extension image read-only at `/extensions/<name>`; an image volume
//! that failed to mount leaves an empty directory on the container's root filesystem instead.
//! Telling those apart, and showing what backs a mount (overlay snapshot, bind of a layer
//! directory), needs the mount table as the server process sees it.
//!
//! A mountinfo line (fields separated by single spaces; space, tab, newline and backslash inside
//! a field are written as octal escapes such as `\040`):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2) (3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
//! ```
//!
//! mount ID, parent ID, major:minor, root of the mount within its filesystem, mount point,
//! per-mount options, zero or more optional fields, a `-` separator, filesystem type, source,
//! superblock options.

use std::collections::HashSet;
use std::ffi::{CString, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// One mount, as listed in mountinfo. Paths are unescaped and kept as raw bytes; the other
/// text fields are unescaped and converted lossily (they are only displayed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Unique ID of the mount (may be reused after unmount).
    pub mount_id: u64,
    /// ID of the parent mount (of itself for the root of a namespace; a mount outside this
    /// process's root when the root was changed).
    pub parent_id: u64,
    /// Major device number of the filesystem.
    pub major: u32,
    /// Minor device number of the filesystem.
    pub minor: u32,
    /// Directory of the filesystem that is the root of this mount (`/` unless a bind mount of
    /// a subdirectory; not always a path, e.g. `net:[4026531993]` for namespace files).
    pub root: PathBuf,
    /// Where it is mounted, relative to this process's root directory.
    pub mount_point: PathBuf,
    /// Per-mount options (`ro`, `nosuid`, ...).
    pub mount_options: Vec<String>,
    /// Optional fields such as `shared:1` or `master:2`.
    pub optional_fields: Vec<String>,
    /// Filesystem type, `type[.subtype]`.
    pub fs_type: String,
    /// Filesystem-specific source (`/dev/sda1`, `overlay`, `none`, ...).
    pub source: String,
    /// Per-superblock options (for overlayfs, `lowerdir=...` and friends).
    pub super_options: Vec<String>,
    /// Whether the mount itself is read-only (`ro` among `mount_options`).
    pub read_only: bool,
}

impl MountInfo {
    /// Whether the superblock is read-only (`ro` among `super_options`). A mount can be `ro` over
    /// a read-write superblock (a read-only bind mount) and vice versa.
    pub fn super_read_only(&self) -> bool {
        self.super_options.iter().any(|o| o == "ro")
    }

    /// Value of superblock option `name=value`, or `Some("")` for a bare flag `name`.
    pub fn super_option(&self, name: &str) -> Option<&str> {
        self.super_options.iter().find_map(|o| match o.split_once('=') {
            Some((k, v)) if k == name => Some(v),
            None if o == name => Some(""),
            _ => None,
        })
    }
}

/// Result of parsing a whole mountinfo text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    /// Mounts in the order listed.
    pub mounts: Vec<MountInfo>,
    /// Non-empty lines that could not be parsed and were skipped.
    pub malformed_lines: usize,
}

impl MountTable {
    /// [`mount_for`] over this table.
    pub fn mount_for(&self, path: &Path) -> Option<&MountInfo> {
        mount_for(path, &self.mounts)
    }
}

/// Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash). A backslash not followed by three octal digits is kept as is: the kernel never
/// writes one, and guessing would only hide the oddity.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&b) = field.get(i) {
        if b == b'\\'
            && let Some(&[d0, d1, d2]) = field.get(i + 1..i + 4)
            && [d0, d1, d2].iter().all(|d| (b'0'..=b'7').contains(d))
            && d0 <= b'3'
        {
            out.push(((d0 - b'0') << 6) | ((d1 - b'0') << 3) | (d2 - b'0'));
            i += 4;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(&unescape(field)).into_owned()
}

fn path(field: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

fn options(field: &[u8]) -> Vec<String> {
    // Split before unescaping: a comma inside an option value is escaped by the kernel.
    field
        .split(|&b| b == b',')
        .filter(|o| !o.is_empty())
        .map(text)
        .collect()
}

fn number<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Parses one line; `None` if it does not have the proc(5) shape.
fn parse_line(line: &[u8]) -> Option<MountInfo> {
    // Single spaces separate fields; splitting on each keeps an empty field (e.g. an empty
    // source) in place instead of shifting the rest.
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let sep = fields.iter().skip(6).position(|f| *f == b"-")? + 6;
    let [id, parent, devno, root, mount_point, mount_opts] = fields.get(..6)? else {
        return None;
    };
    let [fs_type, source, super_opts] = fields.get(sep + 1..)? else {
        return None;
    };
    let (major, minor) = std::str::from_utf8(devno).ok()?.split_once(':')?;
    let mount_point = path(mount_point);
    if !mount_point.is_absolute() || fs_type.is_empty() {
        return None;
    }
    let mount_options = options(mount_opts);
    Some(MountInfo {
        mount_id: number(id)?,
        parent_id: number(parent)?,
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root: path(root),
        mount_point,
        read_only: mount_options.iter().any(|o| o == "ro"),
        mount_options,
        optional_fields: fields.get(6..sep)?.iter().map(|f| text(f)).collect(),
        fs_type: text(fs_type),
        source: text(source),
        super_options: options(super_opts),
    })
}

/// Parses mountinfo bytes (paths may be any bytes), skipping and counting malformed lines.
pub fn parse_mountinfo_bytes(data: &[u8]) -> MountTable {
    let mut table = MountTable::default();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(m) => table.mounts.push(m),
            None => table.malformed_lines += 1,
        }
    }
    table
}

/// Parses mountinfo text, skipping malformed lines (see [`parse_mountinfo_bytes`] for the count).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    parse_mountinfo_bytes(text.as_bytes()).mounts
}

/// Reads and parses a mountinfo file.
pub fn read_mountinfo(path: &Path) -> io::Result<MountTable> {
    Ok(parse_mountinfo_bytes(&std::fs::read(path)?))
}

/// The mount table of the calling process (`/proc/self/mountinfo`).
pub fn read_self_mountinfo() -> io::Result<MountTable> {
    read_mountinfo(Path::new("/proc/self/mountinfo"))
}

/// The mount that `path` (absolute; compared lexically, so resolve symlinks and `..` first)
/// lives on, or `None` for a relative path or when no mount point covers it.
///
/// Follows the mount tree the way a path lookup does: from the root mount, it repeatedly crosses
/// into the child mount whose mount point is the shallowest one on the path (later-listed wins
/// at the same point, i.e. stacked mounts). This is the longest mount-point prefix on component
/// boundaries, except that a mount hidden under a later mount of one of its parents is skipped.
/// If the IDs do not form a tree (a truncated or synthetic table), falls back to the plain rule:
/// longest prefix, later-listed wins on equal mount points.
pub fn mount_for<'m>(path: &Path, mounts: &'m [MountInfo]) -> Option<&'m MountInfo> {
    if !path.is_absolute() {
        return None;
    }
    // Normalised once (`//` and `.` dropped), then compared byte-wise with the table's paths.
    let path: PathBuf = path.components().collect();
    by_mount_tree(&path, mounts).or_else(|| longest_prefix(&path, mounts))
}

/// How deep a normalised absolute path is, for ordering mount points: its `/`s ("/" is 0).
/// Counted on bytes, not components: a few hundred mounts are ordered for every image on every
/// query.
fn depth(p: &Path) -> usize {
    match p.as_os_str().as_bytes() {
        b"/" => 0,
        b => b.iter().filter(|&&c| c == b'/').count(),
    }
}

/// `path.starts_with(prefix)` on whole components, for the normalised absolute paths of a mount
/// table: a byte comparison (`Path::starts_with` walks components, and a table of a few hundred
/// mounts is searched for every image on every query).
fn under(path: &Path, prefix: &Path) -> bool {
    let (path, prefix) = (path.as_os_str().as_bytes(), prefix.as_os_str().as_bytes());
    let prefix = match prefix {
        [rest @ .., b'/'] => rest, // "/" itself, or a (never listed) trailing slash
        p => p,
    };
    path.starts_with(prefix) && matches!(path.get(prefix.len()), None | Some(b'/'))
}

fn longest_prefix<'m>(path: &Path, mounts: &'m [MountInfo]) -> Option<&'m MountInfo> {
    mounts
        .iter()
        .filter(|m| under(path, &m.mount_point))
        .fold(None, |best: Option<&MountInfo>, m| match best {
            Some(b) if depth(&b.mount_point) > depth(&m.mount_point) => Some(b),
            _ => Some(m),
        })
}

fn by_mount_tree<'m>(path: &Path, mounts: &'m [MountInfo]) -> Option<&'m MountInfo> {
    let ids: HashSet<u64> = mounts.iter().map(|m| m.mount_id).collect();
    // The root mount's parent is not listed (it lies outside this process's root, or is itself
    // the namespace root with an ID that is never shown).
    let mut current = mounts
        .iter()
        .rev()
        .find(|m| m.mount_point.as_os_str() == "/" && !ids.contains(&m.parent_id))?;
    // Each step moves to a child mount; a table with a cycle is cut off and left to the fallback.
    for _ in 0..=mounts.len() {
        let next = mounts
            .iter()
            .filter(|m| {
                m.parent_id == current.mount_id
                    && m.mount_id != current.mount_id
                    && under(&m.mount_point, &current.mount_point)
                    && under(path, &m.mount_point)
            })
            .fold(None, |best: Option<&MountInfo>, m| match best {
                Some(b) if depth(&b.mount_point) < depth(&m.mount_point) => Some(b),
                _ => Some(m),
            });
        match next {
            Some(n) => current = n,
            None => return Some(current),
        }
    }
    None
}

/// The ID of the mount `path` is on that the kernel never gives another mount (`statx(2)`'s
/// `STATX_MNT_ID_UNIQUE`, Linux 6.8), or `None` where it has none. The ID of the mount table is
/// reused after an unmount, and so are the device numbers of overlays and loop devices: only
/// this one tells a remount from the mount it replaced. Follows symlinks.
pub fn unique_mount_id(path: &Path) -> Option<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `st` is a zeroed buffer of the
    // struct's size, which statx fills on success; it is read only in that case.
    let st = unsafe {
        if libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_MNT_ID_UNIQUE,
            st.as_mut_ptr(),
        ) != 0
        {
            return None;
        }
        st.assume_init()
    };
    (st.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0).then_some(st.stx_mnt_id)
}

/// Whether the filesystem at `path` is mounted read-only, from `statvfs(3)`'s `ST_RDONLY`
/// (set when either the mount or its superblock is read-only). Follows symlinks.
pub fn statvfs_read_only(path: &Path) -> io::Result<bool> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut st = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `st` is a properly sized buffer
    // that statvfs fills completely on success, and is read only in that case.
    let st = unsafe {
        if libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        st.assume_init()
    };
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A containerd pod with an overlay root, stacked and bind mounts, and two CloudNativePG image
    /// volumes: a multi-layer image (read-only overlay of lower dirs only) and a single-layer one
    /// (read-only bind of the layer directory, so `root` is not `/` and the superblock is rw).
    const POD: &str = "\
1310 1157 0:343 / / rw,relatime master:617 - overlay overlay rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/120/fs:/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/119/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/121/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/121/work
1311 1310 0:346 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1312 1310 0:347 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
1313 1312 0:348 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666
1314 1312 0:330 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw
1315 1310 0:334 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
1320 1310 8:1 /var/lib/kubelet/pods/5c1e/volumes/kubernetes.io~empty-dir/pgdata /var/lib/postgresql/data rw,relatime - ext4 /dev/sda1 rw,discard
1325 1310 0:350 / /extensions/postgis ro,relatime - overlay overlay ro,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/204/fs:/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/203/fs
1326 1310 8:1 /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/57/fs /extensions/pgvector ro,nosuid,nodev,relatime master:1 - ext4 /dev/sda1 rw,discard
1330 1313 0:349 / /dev/pts rw,nosuid,noexec,relatime shared:5 master:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=666
1331 1311 0:347 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755,inode64
";

    fn table(text: &str) -> MountTable {
        parse_mountinfo_bytes(text.as_bytes())
    }

    #[test]
    fn unique_mount_ids() {
        // Kernels before 6.8 have none; where there is one, it is the same for two paths on the
        // same mount and differs across mounts.
        if let Some(root) = unique_mount_id(Path::new("/")) {
            assert_eq!(unique_mount_id(Path::new("/.")), Some(root));
            if let Some(proc) = unique_mount_id(Path::new("/proc/self")) {
                assert_ne!(proc, root);
            }
        }
        assert_eq!(unique_mount_id(Path::new("/does/not/exist")), None);
    }

    #[test]
    fn under_is_a_whole_component_prefix() {
        for (path, prefix, want) in [
            ("/", "/", true),
            ("/a", "/", true),
            ("/a/b", "/a", true),
            ("/a", "/a", true),
            ("/ab", "/a", false),
            ("/a", "/a/b", false),
            ("/a/b/c", "/a/b/", true),
            ("/extensions/pgvector/lib", "/extensions/pgvector", true),
            ("/extensions/pgvector2", "/extensions/pgvector", false),
        ] {
            assert_eq!(under(Path::new(path), Path::new(prefix)), want, "{path} under {prefix}");
            assert_eq!(
                Path::new(path).starts_with(prefix),
                want,
                "as Path::starts_with: {path} {prefix}"
            );
        }
    }

    #[test]
    fn parses_every_field() {
        let t = table(POD);
        assert_eq!(t.malformed_lines, 0);
        assert_eq!(t.mounts.len(), 11);
        let root = &t.mounts[0];
        assert_eq!(
            (root.mount_id, root.parent_id, root.major, root.minor),
            (1310, 1157, 0, 343)
        );
        assert_eq!(root.optional_fields, ["master:617"]);
        assert_eq!(root.fs_type, "overlay");
        assert_eq!(
            root.super_option("upperdir"),
            Some("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/121/fs")
        );
        assert_eq!(root.super_option("rw"), Some(""));
        assert_eq!(root.super_option("nope"), None);
        assert!(!root.read_only && !root.super_read_only());

        let pgvector = &t.mounts[8];
        assert_eq!(pgvector.mount_point, Path::new("/extensions/pgvector"));
        assert_eq!(
            pgvector.root,
            Path::new("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/57/fs")
        );
        assert_eq!(pgvector.mount_options, ["ro", "nosuid", "nodev", "relatime"]);
        assert_eq!(
            (pgvector.fs_type.as_str(), pgvector.source.as_str()),
            ("ext4", "/dev/sda1")
        );
        assert!(pgvector.read_only && !pgvector.super_read_only());
        let postgis = &t.mounts[7];
        assert!(postgis.read_only && postgis.super_read_only());
        assert_eq!(postgis.super_option("upperdir"), None);
    }

    #[test]
    fn finds_the_mount_of_a_path() {
        let t = table(POD);
        let cases: &[(&str, Option<u64>)] = &[
            ("/", Some(1310)),
            ("/var/lib/postgresql/data/base/1", Some(1320)),
            ("/var/lib/postgresql", Some(1310)),
            ("/extensions/pgvector/lib/vector.so", Some(1326)),
            ("/extensions/pgvector", Some(1326)),
            ("/extensions/pgvector2/lib", Some(1310)), // component boundary, not a string prefix
            ("/extensions/postgis/system/libgeos_c.so.1", Some(1325)),
            ("/extensions", Some(1310)),
            ("/dev/pts/0", Some(1330)), // stacked on 1313: the later one is on top
            ("/dev/null", Some(1312)),
            ("/proc/kcore", Some(1331)), // a file bind-mounted over /proc/kcore
            ("/proc/1/maps", Some(1311)),
            ("//extensions//pgvector/./lib", Some(1326)), // lexical normalisation of / and .
            ("relative/path", None),
        ];
        for (p, want) in cases {
            assert_eq!(t.mount_for(Path::new(p)).map(|m| m.mount_id), *want, "{p}");
        }
    }

    #[test]
    fn hidden_mounts_and_broken_trees() {
        // /a/b was mounted first, then /a over it: /a/b is unreachable, /a wins for /a/b/c.
        let hidden = "\
1 0 0:1 / / rw - ext4 /dev/vda rw
2 1 0:2 / /a/b rw - tmpfs t rw
3 1 0:3 / /a rw - tmpfs t rw
4 3 0:4 / /a/b/c/d rw - tmpfs t rw
";
        let t = table(hidden);
        let cases: &[(&str, u64)] = &[("/a/b/c", 3), ("/a/b/c/d/e", 4), ("/x", 1), ("/a", 3)];
        for (p, want) in cases {
            assert_eq!(t.mount_for(Path::new(p)).map(|m| m.mount_id), Some(*want), "{p}");
        }

        // IDs that form no tree (every parent listed, a self-parent): longest prefix, later wins.
        let broken = "\
7 7 0:1 / / rw - ext4 /dev/vda rw
8 9 0:2 / /a rw - tmpfs first rw
9 8 0:3 / /a rw - tmpfs second rw
10 7 0:4 / /a/b rw - tmpfs deep rw
";
        let t = table(broken);
        assert_eq!(
            t.mount_for(Path::new("/a/x")).map(|m| m.source.as_str()),
            Some("second")
        );
        assert_eq!(
            t.mount_for(Path::new("/a/b/x")).map(|m| m.source.as_str()),
            Some("deep")
        );
        assert_eq!(t.mount_for(Path::new("/z")).map(|m| m.mount_id), Some(7));
        assert_eq!(mount_for(Path::new("/"), &[]), None);
    }

    /// A hostile or huge table (a mount chain as deep as it is long, and a parent cycle) is
    /// walked by a bounded loop on a small stack, never by recursion.
    #[test]
    fn deep_mount_chains_are_walked_iteratively() {
        let mut text = String::from("1 0 0:1 / / rw - ext4 /dev/vda rw\n");
        let mut point = String::new();
        for id in 2..2_000u64 {
            point.push_str("/m");
            text.push_str(&format!("{id} {} 0:{id} / {point} rw - tmpfs t{id} rw\n", id - 1));
        }
        // Two mounts that are each other's parent, below the chain.
        text.push_str(&format!(
            "5000 5001 0:9 / {point}/c rw - tmpfs c1 rw\n5001 5000 0:9 / {point}/c rw - tmpfs c2 rw\n"
        ));
        let deepest = format!("{point}/c/x");
        let found = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || {
                let t = parse_mountinfo_bytes(text.as_bytes());
                (
                    t.mounts.len(),
                    t.mount_for(Path::new(&deepest)).map(|m| m.source.clone()),
                )
            })
            .unwrap()
            .join()
            .unwrap();
        // The cycle hangs from no listed mount: the walk ends at the chain's deepest mount.
        assert_eq!(found, (2_001, Some("t1999".to_owned())));
    }

    #[test]
    fn unescapes_paths_and_keeps_bytes() {
        let text = "\
40 1 0:50 /my\\040dir /mnt/with\\040space\\011tab\\012nl\\134bs ro - tmpfs none\\040src rw,x=a\\054b
41 1 0:51 / /mnt/latin\\377 rw - tmpfs  rw
42 1 0:52 / /mnt/odd\\9 rw - tmpfs t rw
";
        let t = table(text);
        assert_eq!(t.malformed_lines, 0);
        let m = &t.mounts[0];
        assert_eq!(m.root, Path::new("/my dir"));
        assert_eq!(m.mount_point, Path::new("/mnt/with space\ttab\nnl\\bs"));
        assert_eq!(m.source, "none src");
        assert_eq!(m.super_options, ["rw", "x=a,b"]);
        assert_eq!(t.mounts[1].mount_point.as_os_str().as_bytes(), b"/mnt/latin\xff");
        assert_eq!(t.mounts[1].source, ""); // empty source keeps the other fields in place
        assert_eq!(t.mounts[1].super_options, ["rw"]);
        assert_eq!(t.mounts[2].mount_point, Path::new("/mnt/odd\\9"));
        assert_eq!(
            t.mount_for(Path::new("/mnt/with space\ttab\nnl\\bs/f"))
                .map(|m| m.mount_id),
            Some(40)
        );
    }

    #[test]
    fn malformed_lines_are_skipped_and_counted() {
        let cases: &[&str] = &[
            "garbage",
            "22 27 0:21 / /proc rw,relatime proc proc rw", // no separator
            "22 27 0:21 / /proc rw,relatime - proc proc",  // too few after it
            "22 27 0:21 / /proc rw,relatime - proc proc rw extra", // too many after it
            "x 27 0:21 / /proc rw,relatime - proc proc rw", // non-numeric ID
            "22 27 0-21 / /proc rw,relatime - proc proc rw", // bad major:minor
            "22 27 0:21 / proc rw,relatime - proc proc rw", // relative mount point
            "22 27 0:21 / /proc - proc proc rw",           // options missing
            "22 27 0:21 / /proc rw -  proc rw",            // empty fs type
            "22 27 0:21 / /proc rw,relatime - proc proc rw\u{0}", // tolerated: NUL is just a byte
        ];
        for (i, line) in cases.iter().enumerate() {
            let t = table(&format!("{line}\n27 1 254:0 / / rw - ext4 /dev/vda rw\n"));
            let want = usize::from(i + 1 < cases.len());
            assert_eq!(t.malformed_lines, want, "{line:?}");
            assert_eq!(t.mounts.len(), 2 - want, "{line:?}");
        }
        let t = table("\n\r\n27 1 254:0 / / rw - ext4 /dev/vda rw\r\n\n");
        assert_eq!((t.mounts.len(), t.malformed_lines), (1, 0));
        assert_eq!(parse_mountinfo("").len(), 0);
        // Arbitrary bytes never panic.
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let _ = parse_mountinfo_bytes(&noise);
    }

    #[test]
    fn live_mountinfo_agrees_with_statvfs() {
        let t = read_self_mountinfo().unwrap();
        assert_eq!(t.malformed_lines, 0);
        let root = t.mount_for(Path::new("/")).unwrap();
        assert_eq!(root.mount_point, Path::new("/"));
        assert_eq!(t.mount_for(Path::new("/proc/self/mountinfo")).unwrap().fs_type, "proc");
        assert_eq!(
            parse_mountinfo(&String::from_utf8_lossy(
                &std::fs::read("/proc/self/mountinfo").unwrap()
            ))
            .len(),
            t.mounts.len()
        );
        // For every visible mount of a local kind, ST_RDONLY = mount ro or superblock ro.
        let local = [
            "proc", "sysfs", "tmpfs", "devtmpfs", "ext4", "xfs", "btrfs", "overlay", "cgroup", "cgroup2",
        ];
        let mut checked = 0;
        for m in &t.mounts {
            if !local.contains(&m.fs_type.as_str()) || t.mount_for(&m.mount_point) != Some(m) {
                continue;
            }
            let Ok(ro) = statvfs_read_only(&m.mount_point) else {
                continue;
            };
            assert_eq!(ro, m.read_only || m.super_read_only(), "{m:?}");
            checked += 1;
        }
        assert!(checked >= 2, "only {checked} mounts checked");
        assert!(!statvfs_read_only(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap());
        assert_eq!(
            statvfs_read_only(Path::new("/nonexistent/pgext")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            statvfs_read_only(Path::new("/a\0b")).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
