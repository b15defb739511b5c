//! `pgext.mounted_images`, `pgext.mounted_extensions`, `pgext.libraries`: what each mounted image
//! provides, what PostgreSQL will actually use, and what it hides.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgext_core::hash;
use pgext_core::inventory::{self, Fingerprint, Inventory, LibrarySource};
use pgext_core::problem::{Code, Problem};
use pgext_core::status::ImageStatus;
use pgext_core::{metadata, mounts, tree};
use pgrx::JsonB;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

use crate::session::extension_rows;
use crate::session::rowcache::{self, JsonbOut, KeptJsonb, RowCache, build_identity, signature};
use crate::session::{self, cancelled, read_inventory_with, settings, with_cache};
use crate::values::{codes, details, details_value, to_i64};
use crate::{gucs, server, tables};

/// One row per control file on `extension_control_path`, `$system` included: the copy PostgreSQL
/// uses (`visible`) and every copy it hides, with what each would install.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn mounted_extensions() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(image, Option<String>),
        name!(is_system, bool),
        name!(position, i32),
        name!(control_file, String),
        name!(script_directory, Option<String>),
        name!(default_version, Option<String>),
        name!(installable_versions, Vec<String>),
        name!(installed_version, Option<String>),
        name!(update_path_exists, Option<bool>),
        name!(update_path, Option<Vec<String>>),
        name!(module_pathname, Option<String>),
        name!(library, Option<String>),
        name!(requires, Option<Vec<String>>),
        name!(superuser, Option<bool>),
        name!(trusted, Option<bool>),
        name!(relocatable, Option<bool>),
        name!(schema, Option<String>),
        name!(comment, Option<String>),
        name!(visible, bool),
        name!(shadowed_by, Option<String>),
        name!(compatible, Option<bool>),
        name!(problems, Vec<String>),
        name!(problem_details, JsonbOut),
        name!(usable, Option<bool>),
        name!(usable_problems, Vec<String>),
        name!(usable_problem_details, JsonbOut),
    ),
> {
    let rows = extension_rows::rows();
    TableIterator::new((0..rows.len()).map(move |i| {
        let r = &rows[i];
        (
            r.name.clone(),
            r.image.clone(),
            r.is_system,
            r.position,
            r.control_file.clone(),
            r.script_directory.clone(),
            r.default_version.clone(),
            r.installable_versions.clone(),
            r.installed_version.clone(),
            r.update_path_exists,
            r.update_path.clone(),
            r.module_pathname.clone(),
            r.library.clone(),
            r.requires.clone(),
            r.superuser,
            r.trusted,
            r.relocatable,
            r.schema.clone(),
            r.comment.clone(),
            r.visible,
            r.shadowed_by.clone(),
            r.compatible,
            r.problems.clone(),
            r.problem_details.out(),
            r.usable,
            r.usable_problems.clone(),
            r.usable_problem_details.out(),
        )
    }))
}

thread_local! {
    /// `libraries` rows, kept and shared.
    static LIB_ROWS: RowCache<LibRow> = const { RowCache::new("pgext_libraries") };
}

/// Every `*.so` directly in a `dynamic_library_path` directory (what PostgreSQL can load by
/// name), then every OS library in an image's `system/`: size, SHA-256, shadowing, users.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn libraries() -> TableIterator<
    'static,
    (
        name!(path, String),
        name!(basename, String),
        name!(image, Option<String>),
        name!(source, String),
        name!(position, Option<i32>),
        name!(size, Option<i64>),
        name!(sha256, Option<String>),
        name!(shadowed_by, Option<String>),
        name!(referenced_by, Vec<String>),
        name!(problems, Vec<String>),
        name!(problem_details, JsonbOut),
    ),
> {
    let s = settings(true);
    let rows = LIB_ROWS.with(|c| {
        c.rows(&signature(&s), || {
            let mut inv = read_inventory_with(&s);
            let threads = gucs::hash_threads();
            if with_cache(|c| inventory::hash_libraries(&mut inv.libraries, c, threads, &server::interrupt_pending))
                .is_err()
            {
                cancelled();
            }
            // A digest stands while its file's identity does: every library is watched.
            let fp = Fingerprint::of_with(&inv, &s, inv.libraries.iter().map(|l| l.path.clone()));
            let rows = inv
                .libraries
                .into_iter()
                .map(|l| {
                    let (source, position) = match l.source {
                        LibrarySource::LibraryPath(p) => ("library_path", Some(p as i32)),
                        LibrarySource::System => ("system", None),
                    };
                    LibRow {
                        path: l.path,
                        basename: l.basename,
                        image: l.image,
                        source: source.to_string(),
                        position,
                        size: l.size.map(to_i64),
                        sha256: l.sha256.map(|d| hash::to_hex(&d)),
                        shadowed_by: l.shadowed_by,
                        referenced_by: l.referenced_by,
                        problems: codes(&l.problems),
                        problem_details: details_value(&l.problems).into(),
                    }
                })
                .collect();
            (rows, fp)
        })
    });
    TableIterator::new((0..rows.len()).map(move |i| {
        let r = &rows[i];
        (
            r.path.clone(),
            r.basename.clone(),
            r.image.clone(),
            r.source.clone(),
            r.position,
            r.size,
            r.sha256.clone(),
            r.shadowed_by.clone(),
            r.referenced_by.clone(),
            r.problems.clone(),
            r.problem_details.out(),
        )
    }))
}

/// One row of `libraries`, kept between queries and shared between backends.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct LibRow {
    path: String,
    basename: String,
    image: Option<String>,
    source: String,
    position: Option<i32>,
    size: Option<i64>,
    sha256: Option<String>,
    shadowed_by: Option<String>,
    referenced_by: Vec<String>,
    problems: Vec<String>,
    problem_details: KeptJsonb,
}

/// What `mounted_images` shows of an image's tree; kept and shared between backends.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct TreeSummary {
    file_count: u64,
    total_bytes: u64,
    digest: Option<String>,
    /// Oddities, all warnings: (code, message).
    problems: Vec<(TreeCode, String)>,
}

/// A tree problem's code as SQL shows it. Read back from a shared file only when it is one of
/// the codes a scan gives: anything else makes the file unusable (the tree is walked instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TreeCode(Code);

impl serde::Serialize for TreeCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TreeCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        tree::ProblemCode::ALL
            .iter()
            .map(|&c| Code::from(c))
            .chain([Code::NoTreeDigest])
            .find(|c| c.as_str() == text)
            .map(TreeCode)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown tree problem code {text:?}")))
    }
}

impl TreeSummary {
    /// What the view shows of a scan: a missing digest is a problem of its own.
    fn of(s: &tree::ScanSummary) -> TreeSummary {
        let mut problems: Vec<(TreeCode, String)> = s
            .problems
            .iter()
            .map(|p| (TreeCode(p.code.into()), format!("{}: {}", p.path, p.message)))
            .collect();
        let digest = match &s.digest {
            Ok(d) => Some(hash::to_prefixed_hex(d)),
            Err(e) => {
                problems.push((TreeCode(Code::NoTreeDigest), e.to_string()));
                None
            }
        };
        TreeSummary {
            file_count: s.file_count,
            total_bytes: s.total_bytes,
            digest,
            problems,
        }
    }

    fn problems(&self) -> impl Iterator<Item = Problem> + '_ {
        self.problems.iter().map(|(c, m)| Problem::warning(c.0, m.clone()))
    }
}

/// The mount an image's root is on, for [`tree_summary`]: its never-reused ID and whether its
/// superblock is read-only. `None` where the kernel gives no such ID (before Linux 6.8).
#[derive(Clone, Copy, PartialEq, Eq)]
struct MountKey {
    unique_id: u64,
    sealed: bool,
}

impl MountKey {
    fn of(root: &std::path::Path, m: &mounts::MountInfo) -> Option<MountKey> {
        Some(MountKey {
            unique_id: mounts::unique_mount_id(root)?,
            sealed: m.super_read_only(),
        })
    }
}

thread_local! {
    /// Tree summaries of read-only mounts, by root, kept and shared (see [`tree_summary`]).
    static TREES: RefCell<HashMap<String, Rc<RowCache<TreeSummary>>>> = RefCell::new(HashMap::new());
    /// After `reset_hash_cache()`: trees first met afterwards are walked, not taken from others.
    static TREES_RESET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the last `mounted_images` query's trees came from, the least reused of them
    /// (`None`: no query yet).
    static TREES_SOURCE: std::cell::Cell<Option<rowcache::Source>> = const { std::cell::Cell::new(None) };
    /// Writable trees this backend keeps, revalidated by inotify (`tree::WatchedTrees`); `None`
    /// until first needed, or while no inotify instance can be had (the user's
    /// `fs.inotify.max_user_instances`): such trees are then walked at every query.
    static WATCHED: RefCell<Option<tree::WatchedTrees>> = const { RefCell::new(None) };
}

/// Notes where one tree of the current query came from: the query's source is its least
/// reused tree's.
fn note_tree_source(s: rowcache::Source) {
    use rowcache::Source::*;
    let rank = |s: rowcache::Source| match s {
        Backend => 0,
        Shared => 1,
        Computed => 2,
    };
    TREES_SOURCE.set(Some(match TREES_SOURCE.get() {
        Some(t) if rank(t) >= rank(s) => t,
        _ => s,
    }));
}

/// The file count, size, digest and oddities of the tree at `root`. A read-only mount cannot be
/// written through, so its summary is kept (and left in `pg_stat_tmp` for other backends, like
/// the views' rows) instead of walking and `stat`ing every file again, and revalidated:
/// - on a *sealed* mount (read-only superblock: an image volume's overlay of layers, erofs,
///   squashfs), which nothing can change through any path, by the mount's unique ID (Linux
///   6.8; mount-table IDs and device numbers are reused) and the identity of the root and its
///   top-level directories: a remount, even of the same image at the same path, walks again;
/// - otherwise (a read-only bind mount, whose source may change elsewhere; an older kernel), by
///   the identity of every directory in the tree: an entry added, removed or renamed anywhere
///   changes one of them, a remount changes them all.
///
/// A writable tree is kept by this backend only, and only while inotify vouches that nothing in
/// it changed since its walk (see [`watched_tree`]).
fn tree_summary(
    root: &std::path::Path,
    read_only: bool,
    mount: Option<MountKey>,
    threads: usize,
    mounts: Option<&[mounts::MountInfo]>,
) -> Result<TreeSummary, tree::TreeError> {
    if !read_only {
        return watched_tree(root, threads, mounts);
    }
    let key = root.to_string_lossy().into_owned();
    let cache = TREES.with(|c| {
        Rc::clone(c.borrow_mut().entry(key.clone()).or_insert_with(|| {
            // One kind per root (`pgext_tree_<hash of the root>`): the snapshot files of a kind
            // are capped, and a remount leaves an old one behind.
            let cache = RowCache::with_kind(format!(
                "pgext_tree_{}",
                &hash::to_hex(&hash::sha256(key.as_bytes()))[..16]
            ));
            if TREES_RESET.get() {
                cache.clear();
            }
            Rc::new(cache)
        }))
    });
    let signature = format!(
        "{key}\n{}\n{}",
        mount.map_or("-".to_string(), |m| format!("{} {}", m.unique_id, m.sealed)),
        build_identity()
    );
    let mut failed = None;
    let rows = cache.rows(&signature, || match walk_tree(root, threads) {
        Ok((summary, dirs)) => {
            let sealed = mount.is_some_and(|m| m.sealed);
            let watched = dirs.into_iter().filter(|d| !sealed || !d.contains('/'));
            let watched = watched.map(|d| root.join(d).to_string_lossy().into_owned());
            // Kept only when every directory could be watched (a name in escaped form, or one
            // gone meanwhile, cannot be) and none changed within the racy window.
            let fp = Fingerprint::of_paths(std::iter::once(key.clone()).chain(watched))
                .filter(|fp| fp.entries().iter().all(|(_, k)| k.is_some()));
            (vec![summary], fp)
        }
        Err(e) => {
            failed = Some(e);
            (Vec::new(), None)
        }
    });
    if let Some(s) = cache.source() {
        note_tree_source(s);
    }
    match (failed, rows.first()) {
        (Some(e), _) => Err(e),
        (None, Some(t)) => Ok(t.clone()),
        // A shared file with no summary in it: never written so; walk.
        (None, None) => walk_tree(root, threads).map(|(t, _)| t),
    }
}

/// A writable tree: this backend's kept scan while no inotify event, mount or symlink says it may
/// have changed (`tree::WatchedTrees`: every directory and file is watched from before the walk
/// examined it), else walked, with file digests from the hash cache. Without inotify, walked.
fn watched_tree(
    root: &std::path::Path,
    threads: usize,
    mounts: Option<&[mounts::MountInfo]>,
) -> Result<TreeSummary, tree::TreeError> {
    let opts = tree::ScanOptions {
        threads,
        cancel: &server::interrupt_pending,
        ..Default::default()
    };
    let scanned = WATCHED.with(|w| {
        let mut w = w.borrow_mut();
        if w.is_none() {
            *w = tree::WatchedTrees::new().ok();
        }
        w.as_mut().map(|w| with_cache(|c| w.scan(root, &opts, Some(c), mounts)))
    });
    let (summary, kept) = match scanned {
        Some(r) => r?,
        None => (
            tree::ScanSummary::of(&with_cache(|c| tree::scan_tree(root, &opts, Some(c)))?),
            false,
        ),
    };
    note_tree_source(if kept {
        rowcache::Source::Backend
    } else {
        rowcache::Source::Computed
    });
    Ok(TreeSummary::of(&summary))
}

/// Walks the tree at `root` (file digests from the hash cache): its summary and its directories.
fn walk_tree(root: &std::path::Path, threads: usize) -> Result<(TreeSummary, Vec<String>), tree::TreeError> {
    let opts = tree::ScanOptions {
        threads,
        cancel: &server::interrupt_pending,
        ..Default::default()
    };
    let scan = with_cache(|c| tree::scan_tree(root, &opts, Some(c)))?;
    let dirs = scan
        .entries
        .iter()
        .filter(|e| e.kind == tree::EntryKind::Dir)
        .map(|e| e.path.clone())
        .collect();
    let summary = TreeSummary::of(&tree::ScanSummary::of(&scan));
    Ok((summary, dirs))
}

/// One row per image under `pgext.extensions_root` (and per image the settings name that is not
/// there): mount, which of its directories the settings use, contents and the tree digest. The
/// view `pgext.mounted_images` spreads `differences` (missing, modified, unexpected, changed)
/// into columns: a pgrx row holds at most 32.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn mounted_images() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(root, String),
        name!(mounted, bool),
        name!(read_only, Option<bool>),
        name!(fs_type, Option<String>),
        name!(mount_options, Option<Vec<String>>),
        name!(on_control_path, Vec<String>),
        name!(on_library_path, Vec<String>),
        name!(on_ld_library_path, Vec<String>),
        name!(on_path, Vec<String>),
        name!(env, Vec<String>),
        name!(not_on_path, Vec<String>),
        name!(file_count, Option<i64>),
        name!(total_bytes, Option<i64>),
        name!(extension_count, i32),
        name!(library_count, i32),
        name!(tree_digest, Option<String>),
        name!(reference, Option<String>),
        name!(pin_source, Option<String>),
        name!(pinned_digest, Option<String>),
        name!(resolved_digest, Option<String>),
        name!(status, String),
        name!(verified_at, Option<TimestampWithTimeZone>),
        name!(checked_at, Option<TimestampWithTimeZone>),
        name!(differences, Option<Vec<i32>>),
        name!(problems, Vec<String>),
        name!(problem_details, JsonB),
        name!(signature, Option<String>),
        name!(signed_by, Option<String>),
        name!(signed_at, Option<TimestampWithTimeZone>),
        name!(image_metadata, Option<JsonB>),
    ),
> {
    let pins = tables::all_pins();
    let checks = tables::check_records();
    let mut s = settings(false);
    s.pinned = pins
        .iter()
        .filter(|p| p.effective)
        .map(|p| p.pin.name.clone())
        .collect();
    // Only the image rows: no control file, script or library is read for them.
    let images = session::with_read_cache(|c| Inventory::image_rows(&s, c));
    let mount_table = mounts::read_self_mountinfo().ok();
    let threads = gucs::hash_threads();
    TREES_SOURCE.set(None);
    // What changed in the writable trees this session keeps, once for the whole query.
    WATCHED.with(|w| {
        if let Some(w) = w.borrow_mut().as_mut() {
            w.refresh();
        }
    });
    let mut writable = std::collections::HashSet::new();
    let mut rows = Vec::with_capacity(images.len());
    for img in images {
        let mut problems = img.problems;
        let root_buf = std::path::PathBuf::from(&img.root);
        let root = root_buf.as_path();
        // An absent image has no mount of its own; its parent's would only mislead.
        let mount = mount_table
            .as_ref()
            .filter(|_| img.mounted)
            .and_then(|t| mounts::mount_for(root, &t.mounts));
        let read_only = if img.mounted {
            mounts::statvfs_read_only(root).ok()
        } else {
            None
        };
        let (mut file_count, mut total_bytes, mut digest) = (None, None, None);
        if img.mounted {
            let key = if read_only == Some(true) {
                mount.and_then(|m| MountKey::of(root, m))
            } else {
                None
            };
            let mounts = mount_table.as_ref().map(|t| t.mounts.as_slice());
            if read_only != Some(true) {
                writable.insert(root_buf.clone());
            }
            match tree_summary(root, read_only == Some(true), key, threads, mounts) {
                Ok(t) => {
                    file_count = Some(to_i64(t.file_count));
                    total_bytes = Some(to_i64(t.total_bytes));
                    digest = t.digest.clone();
                    problems.extend(t.problems());
                }
                Err(e) => match e.code() {
                    Some(code) => problems.push(Problem::error(code, e.to_string())),
                    None => cancelled(),
                },
            }
        }
        let pin = pins.iter().find(|p| p.effective && p.pin.name == img.name);
        let check = checks.get(&img.name);
        let status = tables::image_status(pin, check);
        // A verdict about another reference says nothing about this one.
        let check = check.filter(|_| status != ImageStatus::NeverChecked);
        let pinned_digest = pin
            .and_then(|p| p.parsed.as_ref().ok())
            .and_then(|r| r.digest().map(|d| d.to_string()));
        // What the verified image says it was built for, judged against this server.
        let image_metadata = check.and_then(|c| c.metadata.as_ref()).map(|m| {
            let (judged, found) = metadata::judge(&tables::image_facts(m), &server_facts());
            problems.extend(found);
            let mut m = m.clone();
            m["judged"] = judged
                .iter()
                .map(|j| serde_json::json!({"what": j.what, "image": j.image, "server": j.server, "agrees": j.agrees}))
                .collect();
            JsonB(m)
        });
        rows.push((
            img.name,
            img.root,
            img.mounted,
            read_only,
            mount.map(|m| m.fs_type.clone()),
            mount.map(|m| m.mount_options.clone()),
            img.on_control_path,
            img.on_library_path,
            img.on_ld_library_path,
            img.on_path,
            img.env,
            img.not_on_path,
            file_count,
            total_bytes,
            img.extension_count as i32,
            img.library_count as i32,
            digest,
            pin.map(|p| p.pin.reference.clone()),
            pin.map(|p| p.source.as_str().to_string()),
            pinned_digest,
            check.and_then(|c| c.resolved_digest.clone()),
            status.as_str().to_string(),
            check.and_then(|c| c.verified_at),
            check.and_then(|c| c.checked_at),
            check.map(|c| {
                let d = c.counts.summary();
                vec![d.missing, d.modified, d.unexpected, d.changed]
            }),
            codes(&problems),
            details(&problems),
            check.and_then(|c| c.signature.clone()),
            check.and_then(|c| c.signed_by.clone()),
            check.and_then(|c| c.signed_at),
            image_metadata,
        ));
    }
    // Writable trees no longer listed are forgotten, and their watches removed.
    WATCHED.with(|w| {
        if let Some(w) = w.borrow_mut().as_mut() {
            w.retain(|r| writable.contains(r));
        }
    });
    TableIterator::new(rows)
}

/// This server's side of an image's metadata: its major, architecture and `/etc/os-release`
/// (read once per backend).
fn server_facts() -> metadata::ServerFacts {
    thread_local! {
        static FACTS: metadata::ServerFacts =
            metadata::ServerFacts::this_machine(&(pg_sys::PG_VERSION_NUM / 10000).to_string());
    }
    FACTS.with(Clone::clone)
}

extension_sql_file!(
    "../../sql/attestations.sql",
    name = "attestation_tables",
    requires = ["inventory_views", "image_tables", "enforce_views"]
);

extension_sql_file!(
    "../../sql/inventory.sql",
    name = "inventory_views",
    requires = [
        mounted_extensions,
        libraries,
        mounted_images,
        reset_hash_cache,
        hash_cache_status,
        row_sources,
        "image_tables"
    ]
);

/// Where this session's last rows of `mounted_extensions`, `libraries` and `mounted_images` came
/// from; for images, the least reused tree of the last query (`backend` only when every tree was
/// this session's).
pub(crate) fn row_sources() -> (
    Option<rowcache::Source>,
    Option<rowcache::Source>,
    Option<rowcache::Source>,
) {
    (
        extension_rows::source(),
        LIB_ROWS.with(|c| c.source()),
        TREES_SOURCE.get(),
    )
}

/// Forgets the rows these views keep.
pub(crate) fn clear_rows() {
    extension_rows::clear();
    LIB_ROWS.with(RowCache::clear);
    TREES.with(|c| c.borrow().values().for_each(|t| t.clear()));
    TREES_RESET.set(true);
    WATCHED.with(|w| {
        if let Some(w) = w.borrow_mut().as_mut() {
            w.clear();
        }
    });
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn hash_cache_is_filled_and_reset() {
        Spi::run("SELECT pgext.reset_hash_cache()").expect("reset");
        let n = Spi::get_one::<i64>("SELECT count(sha256) FROM pgext.libraries")
            .expect("spi")
            .unwrap_or(0);
        assert!(n > 0, "libraries of $libdir are hashed");
        let cached = Spi::get_one::<i64>("SELECT pgext.reset_hash_cache()")
            .expect("spi")
            .unwrap_or(0);
        assert!(cached > 0, "the first query filled the cache");
        assert_eq!(
            Spi::get_one::<i64>("SELECT pgext.reset_hash_cache()").expect("spi"),
            Some(0)
        );
    }

    #[pg_test]
    fn an_image_directory_is_inventoried() {
        let root = std::env::temp_dir().join(format!("pgext-pgtest-images-{}", std::process::id()));
        let ext = root.join("demo/share/extension");
        std::fs::create_dir_all(&ext).expect("mkdir");
        std::fs::write(
            ext.join("pgtest_demo.control"),
            "default_version = '1'\ncomment = 'x'\n",
        )
        .expect("write");
        std::fs::write(ext.join("pgtest_demo--1.sql"), "").expect("write");
        Spi::run(&format!("SET pgext.extensions_root = '{}'", root.display())).expect("set");
        Spi::run(&format!(
            "SET extension_control_path = '$system:{}/demo/share'",
            root.display()
        ))
        .expect("set");
        let (count, digest) = Spi::get_two::<i32, String>(
            "SELECT extension_count, tree_digest FROM pgext.mounted_images WHERE name = 'demo'",
        )
        .expect("spi");
        assert_eq!(count, Some(1));
        assert!(digest.unwrap_or_default().starts_with("sha256:"));
        let compatible = Spi::get_one::<bool>(
            "SELECT compatible FROM pgext.mounted_extensions WHERE name = 'pgtest_demo' AND visible",
        )
        .expect("spi");
        assert_eq!(compatible, Some(true));
        std::fs::remove_dir_all(&root).ok();
    }
}
