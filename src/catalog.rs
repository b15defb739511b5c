//! The signed image catalog of `pgext.catalog` (beside `verify.rs`: it judges with the same
//! signature policy), loaded and verified once per backend and read
//! again only when the settings or a file it rests on change (the catalog, its bundle, the
//! trusted keys and trust root: each `stat`ed, by identity, size and times). A backend is one
//! single-threaded process: a thread-local is enough.

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use pgext_core::catalog::CatalogStatus;
use pgext_core::metadata::ServerFacts;
use pgext_oci::catalog::{self, Loaded};
use pgrx::pg_sys;

use crate::gucs;

thread_local! {
    static CACHE: RefCell<Option<(Vec<u8>, Rc<Loaded>)>> = const { RefCell::new(None) };
}

/// The catalog and bundle paths in effect (`None`: `pgext.catalog` is empty).
pub fn paths() -> Option<(PathBuf, PathBuf)> {
    let c = gucs::catalog();
    if c.is_empty() {
        return None;
    }
    let path = PathBuf::from(c);
    let b = gucs::catalog_bundle();
    let bundle = if b.is_empty() {
        catalog::default_bundle(&path)
    } else {
        PathBuf::from(b)
    };
    Some((path, bundle))
}

/// What the loaded catalog rests on, as bytes: the settings, and each file's identity.
fn key(path: &Path, bundle: &Path) -> Vec<u8> {
    let settings = [
        gucs::trusted_keys(),
        gucs::trusted_root(),
        gucs::trusted_identities(),
        gucs::trust_profile(),
        gucs::keyless_require_tlog().to_string(),
    ];
    let mut out = format!("{}\0{}\0{}\0", path.display(), bundle.display(), settings.join("\0")).into_bytes();
    for f in [path, bundle, Path::new(&settings[0]), Path::new(&settings[1])] {
        match std::fs::metadata(f) {
            Ok(m) => out.extend_from_slice(
                format!(
                    "{}:{}:{}:{}.{}:{}.{}|",
                    m.dev(),
                    m.ino(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec()
                )
                .as_bytes(),
            ),
            Err(e) => out.extend_from_slice(format!("{:?}|", e.kind()).as_bytes()),
        }
    }
    out
}

/// What the catalog in effect rests on (settings and files), for caches of decisions made
/// with it; empty when `pgext.catalog` is not set.
pub fn files_key() -> Vec<u8> {
    paths().map(|(p, b)| key(&p, &b)).unwrap_or_default()
}

/// Loads (uncached) the catalog at `path` with its bundle at `bundle`, judged with the trust
/// settings in effect.
pub fn load(path: &Path, bundle: &Path) -> Loaded {
    let policy = crate::verify::signature_policy();
    catalog::load(path, bundle, policy.as_ref().map_err(String::as_str))
}

/// The catalog of `pgext.catalog` (status `off` when it is empty), cached.
pub fn current() -> Rc<Loaded> {
    let Some((path, bundle)) = paths() else {
        return Rc::new(Loaded {
            status: CatalogStatus::Off,
            detail: "pgext.catalog is not set".into(),
            signed_by: None,
            signed_at: None,
            sha256: None,
            catalog: None,
        });
    };
    let k = key(&path, &bundle);
    if let Some(hit) = CACHE.with(|c| c.borrow().as_ref().filter(|(key, _)| *key == k).map(|(_, l)| l.clone())) {
        return hit;
    }
    let loaded = Rc::new(load(&path, &bundle));
    CACHE.with(|c| *c.borrow_mut() = Some((k, loaded.clone())));
    loaded
}

/// This server, as a catalog's entries are chosen for it: its major and OS.
pub fn server() -> ServerFacts {
    ServerFacts::this_machine(&(pg_sys::PG_VERSION_NUM / 10000).to_string())
}
