//! Rows of a view kept between queries of a backend, and left for other backends: the rows, the
//! signature of the settings and builds they were derived under, and the fingerprint of every
//! path they were read from (see `pgext_core::snapshot`). A query reuses its own rows, else
//! another backend's (or the worker's) from `pg_stat_tmp`, only when the signature is its own
//! and every watched path is unchanged; otherwise it derives them and shares them.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;

use pgext_core::hash::{self, Sha256};
use pgext_core::inventory::Fingerprint;
use pgext_core::snapshot;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::server;

/// Larger snapshot files are not read (`mounted_extensions` at 164 extensions is about 1 MB).
const MAX_BYTES: u64 = 64 << 20;

/// Where the last rows of a view came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read and analysed by this backend.
    Computed,
    /// This backend's own earlier rows, revalidated.
    Backend,
    /// Another backend's or the worker's rows, revalidated.
    Shared,
}

impl Source {
    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Computed => "computed",
            Source::Backend => "backend",
            Source::Shared => "shared",
        }
    }
}

/// One view's rows in one backend (a `thread_local!`: a backend is one thread).
pub struct RowCache<T> {
    /// The file name's prefix in `pg_stat_tmp`.
    kind: &'static str,
    local: RefCell<Option<(String, Fingerprint, Vec<T>)>>,
    source: Cell<Option<Source>>,
    /// The checksum of the last snapshot this process wrote: unchanged rows are not written again.
    last_shared: Cell<Option<Sha256>>,
    /// After [`RowCache::clear`]: the next query derives the rows itself.
    skip_shared: Cell<bool>,
}

fn stat_tmp() -> PathBuf {
    std::path::Path::new(&server::data_dir()).join("pg_stat_tmp")
}

impl<T: Clone + Serialize + DeserializeOwned> RowCache<T> {
    /// An empty cache whose shared files are `pg_stat_tmp/<kind>.<signature hash>`.
    pub const fn new(kind: &'static str) -> Self {
        RowCache {
            kind,
            local: RefCell::new(None),
            source: Cell::new(None),
            last_shared: Cell::new(None),
            skip_shared: Cell::new(false),
        }
    }

    /// The rows for `signature`: this backend's, another's, or `derive`d (rows and the
    /// fingerprint of what they were read from; `None` when something is too recent to be
    /// trusted, and then nothing is kept).
    pub fn rows(&self, signature: &str, derive: impl FnOnce() -> (Vec<T>, Option<Fingerprint>)) -> Vec<T> {
        let reused = self
            .local
            .borrow()
            .as_ref()
            .filter(|(sig, fp, _)| sig == signature && fp.unchanged())
            .map(|(_, _, rows)| rows.clone());
        if let Some(rows) = reused {
            self.source.set(Some(Source::Backend));
            return rows;
        }
        if !self.skip_shared.get()
            && let Some((fp, rows)) = self.load(signature)
        {
            self.source.set(Some(Source::Shared));
            *self.local.borrow_mut() = Some((signature.to_string(), fp, rows.clone()));
            return rows;
        }
        let (rows, fp) = derive();
        self.source.set(Some(Source::Computed));
        self.skip_shared.set(false);
        if let Some(fp) = &fp {
            self.share(signature, fp, &rows);
        }
        *self.local.borrow_mut() = fp.map(|fp| (signature.to_string(), fp, rows.clone()));
        rows
    }

    fn load(&self, signature: &str) -> Option<(Fingerprint, Vec<T>)> {
        match snapshot::load(&stat_tmp(), self.kind, signature, MAX_BYTES) {
            snapshot::Loaded::Fresh(fp, payload) => match serde_json::from_slice(&payload) {
                Ok(rows) => Some((fp, rows)),
                Err(e) => {
                    pgrx::debug1!("pgext: shared rows {} not used: {e}", self.kind);
                    None
                }
            },
            snapshot::Loaded::Unusable(why) => {
                pgrx::debug1!("pgext: shared rows {} not used: {why}", self.kind);
                None
            }
            snapshot::Loaded::Absent => None,
        }
    }

    /// Leaves `rows` for other backends. Failing only costs them speed: logged at DEBUG1.
    pub fn share(&self, signature: &str, fp: &Fingerprint, rows: &[T]) {
        let payload = match serde_json::to_vec(rows) {
            Ok(p) => p,
            Err(e) => return pgrx::debug1!("pgext: could not share rows {}: {e}", self.kind),
        };
        let bytes = snapshot::encode(signature, fp, &payload);
        let sum = hash::sha256(&bytes);
        let dir = stat_tmp();
        if self.last_shared.get() == Some(sum) && snapshot::path_for(&dir, self.kind, signature).exists() {
            return;
        }
        match snapshot::save(&dir, self.kind, signature, &bytes) {
            Ok(()) => self.last_shared.set(Some(sum)),
            Err(e) => pgrx::debug1!("pgext: could not share rows {}: {e}", self.kind),
        }
    }

    /// Where the last rows came from (`None` before the first query).
    pub fn source(&self) -> Option<Source> {
        self.source.get()
    }

    /// Forgets this backend's rows; the next query derives them itself (the shared files stay:
    /// other backends revalidate them on use).
    pub fn clear(&self) {
        self.local.borrow_mut().take();
        self.skip_shared.set(true);
    }
}
