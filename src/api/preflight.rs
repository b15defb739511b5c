//! `pgext.preflight(server, images, preload)`: "will my extensions survive the move to that
//! server?" — the verdicts of `mounted_extensions` for images judged against a server that is not
//! this one (a major upgrade's target image unpacked or mounted somewhere, an installation
//! directory). The engine of `pgext-check`, in SQL; see `pgext_core::preflight`.
//!
//! The server and the images may also be image references: fetched as `verify_image` fetches
//! (the same settings, digest discipline and limits) and unpacked into a private directory
//! under the server's `pgsql_tmp`, removed when the call ends however it ends (a crash restart
//! clears `pgsql_tmp` too).

use std::path::PathBuf;

use pgext_core::preflight::{self, ImageDir};
use pgext_core::problem::{Problem, Severity};
use pgext_core::target::Target;
use pgrx::JsonB;
use pgrx::prelude::*;

use pgext_oci::{ErrorCode, ImageArg, ImageReference, ImageSpec, ImageSpecError, Platform, Selection};

use crate::error::SqlError;
use crate::session::analyzer::preload_list;
use crate::session::cancelled;
use crate::values::{codes, details};
use crate::verify::verify_options;
use crate::{gucs, server};

/// Reading another server's files is reading server files: superusers and members of
/// `pg_read_server_files` only, as for `pg_read_file()` and `COPY FROM` a file.
pub(crate) fn require_file_access() {
    // SAFETY: plain catalog lookups on the backend's main thread, inside a transaction.
    let allowed = unsafe {
        pg_sys::superuser() || pg_sys::has_privs_of_role(pg_sys::GetUserId(), pg_sys::ROLE_PG_READ_SERVER_FILES.into())
    };
    if !allowed {
        SqlError::InsufficientPrivilege {
            message: "permission denied to read another server's files".into(),
            hint: "Only roles with privileges of the \"pg_read_server_files\" role may run a pre-flight.".into(),
        }
        .raise();
    }
}

/// Most bytes one fetched image may write: a server image is unpacked for analysis only (its
/// ELF files, extension files and loader configuration, a few hundred MB), an extension image
/// whole.
const MAX_UNPACKED_BYTES: u64 = 4 << 30;

/// Where this call unpacks fetched images; created on first use, removed when dropped.
#[derive(Default)]
pub(crate) struct Work(Option<tempfile::TempDir>);

impl Work {
    /// Fetches `reference` into `sub` of the work directory.
    pub(crate) fn fetch(
        &mut self,
        reference: &ImageReference,
        sub: &str,
        selection: Selection,
        platform: Platform,
    ) -> PathBuf {
        let raise = |message: String, code| -> ! {
            SqlError::Image {
                reference: reference.to_string(),
                code,
                message,
            }
            .raise()
        };
        if self.0.is_none() {
            // The data directory's pgsql_tmp, named the way PostgreSQL names temporary files so
            // that a restart after a crash removes it; or pgext.spool_directory when set.
            let spool = gucs::spool_directory();
            let base = if spool.is_empty() {
                PathBuf::from("base/pgsql_tmp")
            } else {
                PathBuf::from(spool)
            };
            // Absolute (the backend's working directory is the data directory): the unpacked
            // images become paths of the composed settings, which must be absolute.
            let base = match std::fs::create_dir_all(&base).and_then(|()| std::fs::canonicalize(&base)) {
                Ok(b) => b,
                Err(e) => raise(format!("cannot create {}: {e}", base.display()), ErrorCode::Io),
            };
            // SAFETY: MyProcPid is set for the life of every backend.
            let pid = unsafe { pg_sys::MyProcPid };
            match tempfile::Builder::new()
                .prefix(&format!("pgsql_tmp{pid}.pgext-preflight."))
                .tempdir_in(&base)
            {
                Ok(dir) => self.0 = Some(dir),
                Err(e) => raise(
                    format!("cannot create a work directory in {}: {e}", base.display()),
                    ErrorCode::Io,
                ),
            }
        }
        let dest = self.0.as_ref().map(|d| d.path().join(sub)).unwrap_or_default();
        if let Some(parent) = dest.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            raise(format!("cannot create {}: {e}", parent.display()), ErrorCode::Io);
        }
        if let Err(e) = std::fs::create_dir(&dest) {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                SqlError::InvalidParameter {
                    message: format!("image name \"{sub}\" given twice"),
                }
                .raise();
            }
            raise(format!("cannot create {}: {e}", dest.display()), ErrorCode::Io);
        }
        let options = pgext_oci::VerifyOptions {
            platform,
            ..verify_options()
        };
        match pgext_oci::unpack(
            reference,
            &options,
            &dest,
            selection,
            MAX_UNPACKED_BYTES,
            &server::interrupt_pending,
        ) {
            Ok(_) => dest,
            Err(e) if e.code() == ErrorCode::Cancelled => cancelled(),
            Err(e) => raise(e.to_string(), e.code()),
        }
    }
}

/// The message for an argument that is neither a directory nor a reference.
pub(crate) fn not_a_source(what: &str, arg: &str, e: &pgext_oci::OciError) -> String {
    format!("{what} \"{arg}\" is neither a directory nor an image reference: {e}")
}

/// The images to judge: `name=directory` or `directory` entries (or references in their
/// place), or (NULL) every directory under `pgext.extensions_root` — the images this server has
/// mounted now.
pub(crate) fn image_dirs(images: Option<Vec<Option<String>>>, work: &mut Work, platform: &Platform) -> Vec<ImageDir> {
    let Some(list) = images else {
        let root = gucs::extensions_root();
        if root.is_empty() {
            SqlError::InvalidParameter {
                message: "no images given and pgext.extensions_root is not set".into(),
            }
            .raise();
        }
        let mut dirs: Vec<ImageDir> = std::fs::read_dir(&root)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| ImageDir::parse(&e.path().to_string_lossy()).ok())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort_by(|a, b| a.name.cmp(&b.name));
        return dirs;
    };
    list.into_iter()
        .map(|arg| {
            let arg = arg.unwrap_or_default();
            let spec = ImageSpec::parse(&arg).unwrap_or_else(|e| {
                let message = match e {
                    ImageSpecError::Source { arg, error } => not_a_source("image", &arg, &error),
                    ImageSpecError::Name(m) => m,
                };
                SqlError::InvalidParameter { message }.raise()
            });
            match spec {
                ImageSpec::Dir(dir) => dir,
                ImageSpec::Fetch { name, reference } => {
                    let dir = work.fetch(
                        &reference,
                        &format!("images/{name}"),
                        Selection::Everything,
                        platform.clone(),
                    );
                    ImageDir { name, dir }
                }
            }
        })
        .collect()
}

/// Per visible extension of `server` with `images` mounted as CloudNativePG mounts them: what
/// `mounted_extensions` would say there. `preload` is that server's `shared_preload_libraries`
/// (NULL: this server's).
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn preflight(
    server: Option<&str>,
    images: default!(Option<Vec<Option<String>>>, "NULL"),
    preload: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(image, Option<String>),
        name!(default_version, Option<String>),
        name!(compatible, Option<bool>),
        name!(problems, Vec<String>),
        name!(problem_details, JsonB),
        name!(usable, bool),
        name!(usable_problems, Vec<String>),
        name!(usable_problem_details, JsonB),
        name!(libraries, JsonB),
    ),
> {
    require_file_access();
    let Some(server) = server else {
        SqlError::InvalidParameter {
            message: "server must not be NULL".into(),
        }
        .raise()
    };
    let mut work = Work::default();
    let server_arg = ImageArg::parse(server).unwrap_or_else(|e| {
        SqlError::InvalidParameter {
            message: not_a_source("server", server, &e),
        }
        .raise()
    });
    let server_dir = match server_arg {
        ImageArg::Dir(dir) => dir,
        ImageArg::Reference(r) => work.fetch(&r, "server", Selection::ForAnalysis, Platform::host()),
    };
    let target = Target::open(&server_dir).unwrap_or_else(|e| {
        SqlError::InvalidParameter {
            message: format!("{e}"),
        }
        .raise()
    });
    // Extension images for the server's architecture, whatever this one's.
    let platform = Platform::linux(target.host.machine_name());
    let images = image_dirs(images, &mut work, &platform);
    let preload: Vec<String> = match preload {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        None => preload_list(),
    };
    let result = match preflight::run(&target, &images, &preload, &server::interrupt_pending) {
        Ok(r) => r,
        Err(preflight::Cancelled) => cancelled(),
    };
    // An image that is not there was named by the caller: an error, not a row short.
    for (image, p) in &result.problems {
        let who = if image.is_empty() {
            String::new()
        } else {
            format!("image \"{image}\": ")
        };
        match p.severity {
            Severity::Error => SqlError::InvalidParameter {
                message: format!("{who}{}", p.message),
            }
            .raise(),
            _ => pgrx::warning!("{who}{}", p.message),
        }
    }
    TableIterator::new(result.extensions.into_iter().map(|e| {
        let libraries = libraries(&e);
        (
            e.name,
            e.image,
            e.default_version,
            e.compatible,
            codes(&e.problems),
            details(&e.problems),
            e.usable,
            codes(&e.usable_problems),
            details(&e.usable_problems),
            libraries,
        )
    }))
}

/// Each library the extension names, as `library_compat` judges it: `path`, `loadable`, the
/// `pg_major` its magic block names, `problems` (codes) and `problem_details`.
fn libraries(e: &preflight::ExtensionVerdict) -> JsonB {
    JsonB(serde_json::Value::Array(
        e.libraries
            .iter()
            .map(|(path, r)| {
                let problems: Vec<_> = r.problems.iter().map(Problem::folded).collect();
                serde_json::json!({
                    "path": path,
                    "loadable": r.loadable,
                    "pg_major": r.magic.as_ref().map(|m| m.pg_major()),
                    "problems": codes(&problems),
                    "problem_details": details(&problems).0,
                })
            })
            .collect(),
    ))
}

extension_sql_file!(
    "../../sql/preflight.sql",
    name = "preflight_grants",
    requires = [preflight, "image_tables"]
);
