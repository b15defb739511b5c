//! Rows of a view kept between queries of a backend, and left for other backends: the rows, the
//! signature of the settings and builds they were derived under, and the fingerprint of every
//! path they were read from (see `pgext_core::snapshot`). A query reuses its own rows, else
//! another backend's (or the worker's) from `pg_stat_tmp`, only when the signature is its own
//! and every watched path is unchanged; otherwise it derives them and shares them.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;

use pgext_core::hash::{self, Sha256};
use pgext_core::inventory::{Fingerprint, Settings};
use pgext_core::snapshot;
use pgrx::pg_sys;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::server;

/// Larger snapshot files are not read: a bound on what one load may allocate.
const MAX_BYTES: u64 = 64 << 20;

/// Where the last rows of a view came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
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
        self.into()
    }
}

/// Rows with the signature they were derived under and the fingerprint of their sources.
type Kept<T> = (String, Fingerprint, Rc<Vec<T>>);

/// One view's rows in one backend (a `thread_local!`: a backend is one thread).
pub struct RowCache<T> {
    /// The file name's prefix in `pg_stat_tmp`.
    kind: std::borrow::Cow<'static, str>,
    local: RefCell<Option<Kept<T>>>,
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
            kind: std::borrow::Cow::Borrowed(kind),
            local: RefCell::new(None),
            source: Cell::new(None),
            last_shared: Cell::new(None),
            skip_shared: Cell::new(false),
        }
    }

    /// A cache whose shared files are `pg_stat_tmp/<kind>.<signature hash>`, for kinds made at
    /// run time (one per image tree). At most [`snapshot::KEEP`] files of a kind are kept.
    pub fn with_kind(kind: String) -> Self {
        RowCache {
            kind: std::borrow::Cow::Owned(kind),
            ..RowCache::new("")
        }
    }

    /// The rows for `signature`: this backend's, another's, or `derive`d (rows and the
    /// fingerprint of what they were read from; `None` when something is too recent to be
    /// trusted, and then nothing is kept).
    /// Shared with the cache: a later query's output reuses what this one's prepared
    /// ([`KeptJsonb`]).
    pub fn rows(&self, signature: &str, derive: impl FnOnce() -> (Vec<T>, Option<Fingerprint>)) -> Rc<Vec<T>> {
        let reused = self
            .local
            .borrow()
            .as_ref()
            .filter(|(sig, fp, _)| sig == signature && fp.unchanged())
            .map(|(_, _, rows)| Rc::clone(rows));
        if let Some(rows) = reused {
            self.source.set(Some(Source::Backend));
            return rows;
        }
        if !self.skip_shared.get()
            && let Some((fp, rows)) = self.load(signature)
        {
            self.source.set(Some(Source::Shared));
            let rows = Rc::new(rows);
            *self.local.borrow_mut() = Some((signature.to_string(), fp, Rc::clone(&rows)));
            return rows;
        }
        let (rows, fp) = derive();
        self.source.set(Some(Source::Computed));
        self.skip_shared.set(false);
        if let Some(fp) = &fp {
            self.share(signature, fp, &rows);
        }
        let rows = Rc::new(rows);
        *self.local.borrow_mut() = fp.map(|fp| (signature.to_string(), fp, Rc::clone(&rows)));
        rows
    }

    fn load(&self, signature: &str) -> Option<(Fingerprint, Vec<T>)> {
        match snapshot::load(&stat_tmp(), &self.kind, signature, MAX_BYTES) {
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
        if self.last_shared.get() == Some(sum) && snapshot::path_for(&dir, &self.kind, signature).exists() {
            return;
        }
        match snapshot::save(&dir, &self.kind, signature, &bytes) {
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

/// A jsonb column of kept rows: the JSON text (what is shared between backends) and, once a
/// backend first outputs it, the bytes of its jsonb datum. Later queries copy those bytes instead
/// of serialising the value and parsing it again with `jsonb_in` for every row.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(from = "String", into = "String")]
pub struct KeptJsonb {
    text: String,
    datum: std::cell::OnceCell<Vec<u8>>,
}

impl From<String> for KeptJsonb {
    fn from(text: String) -> Self {
        KeptJsonb {
            text,
            datum: std::cell::OnceCell::new(),
        }
    }
}

impl From<KeptJsonb> for String {
    fn from(j: KeptJsonb) -> String {
        j.text
    }
}

impl From<serde_json::Value> for KeptJsonb {
    fn from(v: serde_json::Value) -> Self {
        KeptJsonb::from(v.to_string())
    }
}

impl KeptJsonb {
    /// The value for output: the kept datum bytes, made once with `jsonb_in`.
    pub fn out(&self) -> JsonbOut {
        let bytes = self.datum.get_or_init(|| {
            let text = std::ffi::CString::new(self.text.as_str()).unwrap_or_else(|_| c"null".to_owned());
            // SAFETY: jsonb_in takes a NUL-terminated string and returns a palloc'd jsonb; the
            // datum is detoasted (it never is toasted here) and its VARSIZE bytes copied out.
            unsafe {
                let d = pgrx::direct_function_call_as_datum(pgrx::pg_sys::jsonb_in, &[Some(text.as_ptr().into())])
                    .unwrap_or_else(|| pgrx::error!("jsonb_in returned NULL"));
                let v = pgrx::pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
                let len = pgrx::varsize_any(v);
                std::slice::from_raw_parts(v.cast::<u8>(), len).to_vec()
            }
        });
        JsonbOut(bytes.clone())
    }
}

/// A jsonb datum's bytes, returned as a `jsonb` column.
pub struct JsonbOut(Vec<u8>);

impl pgrx::IntoDatum for JsonbOut {
    fn into_datum(self) -> Option<pgrx::pg_sys::Datum> {
        // SAFETY: a palloc'd copy of a complete jsonb varlena (header included) in the current
        // memory context, as any function returns a by-reference datum.
        unsafe {
            let p = pgrx::pg_sys::palloc(self.0.len()).cast::<u8>();
            std::ptr::copy_nonoverlapping(self.0.as_ptr(), p, self.0.len());
            Some(pgrx::pg_sys::Datum::from(p))
        }
    }

    fn type_oid() -> pgrx::pg_sys::Oid {
        pgrx::pg_sys::JSONBOID
    }
}

// SAFETY: returns the datum into_datum makes, as pgrx does for its own by-reference types.
unsafe impl pgrx::callconv::BoxRet for JsonbOut {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        match pgrx::IntoDatum::into_datum(self) {
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

// SAFETY: the datum is a jsonb.
unsafe impl pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable for JsonbOut {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbOut);
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
    const ARGUMENT_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef,
        pgrx::pgrx_sql_entity_graph::metadata::ArgumentError,
    > = Ok(pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef,
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsError,
    > = Ok(pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef::One(
        pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef::literal("jsonb"),
    ));
}

/// Everything besides files that decides the rows: the session's settings, the database's
/// installed extensions, and what judged them ([`build_identity`]), so a snapshot left by
/// another build is never used.
pub(crate) fn signature(s: &Settings) -> String {
    let mut installed: Vec<_> = s.installed.iter().collect();
    installed.sort();
    format!(
        "{}\n{}\n{}\n{:?}\n{:?}\n{}\n{}",
        server::extension_control_path(),
        server::dynamic_library_path(),
        s.extensions_root,
        s.ld_library_path,
        installed,
        server::setting(c"shared_preload_libraries"),
        build_identity(),
    )
}

/// This server's and pgext's versions, and the identity of the postgres executable and of the
/// pgext library this process loaded (found with `dladdr`, wherever on `dynamic_library_path` it
/// came from). Taken once per process: a running process keeps the code it started with,
/// whatever is installed over the files afterwards.
pub(crate) fn build_identity() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| {
        let identity = |p: &str| std::fs::metadata(p).ok().map(|m| hash::FileKey::from_metadata(&m));
        // A backend is the postgres executable.
        let postgres = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        // SAFETY: dladdr only reads the loader's tables; dli_fname, when set, is a NUL-terminated
        // path owned by the loader for as long as the library stays loaded (pgext never unloads).
        let pgext = unsafe {
            let mut info: libc::Dl_info = std::mem::zeroed();
            let found = libc::dladdr(build_identity as *const libc::c_void, &mut info) != 0;
            (found && !info.dli_fname.is_null())
                .then(|| std::ffi::CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned())
        }
        .unwrap_or_else(|| format!("{}/pgext.so", server::pkglibdir()));
        format!(
            "postgres {} {:?}\npgext {} {pgext} {:?}",
            pg_sys::PG_VERSION_NUM,
            identity(&postgres),
            env!("CARGO_PKG_VERSION"),
            identity(&pgext),
        )
    })
}
