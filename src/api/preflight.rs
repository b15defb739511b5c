//! `pgext.preflight(server, images, preload)`: "will my extensions survive the move to that
//! server?" — the verdicts of `mounted_extensions` for images judged against a server that is not
//! this one (a major upgrade's target image unpacked or mounted somewhere, an installation
//! directory). The engine of `pgext-check`, in SQL; see `pgext_core::preflight`.

use pgext_core::preflight::{self, ImageDir};
use pgext_core::problem::Severity;
use pgext_core::target::Target;
use pgrx::JsonB;
use pgrx::prelude::*;

use crate::api::compat::preload_list;
use crate::api::inventory::{cancelled, codes, details};
use crate::error::SqlError;
use crate::{gucs, server};

/// Reading another server's files is reading server files: superusers and members of
/// `pg_read_server_files` only, as for `pg_read_file()` and `COPY FROM` a file.
fn require_file_access() {
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

/// The images to judge: `name=directory` or `directory` entries, or (NULL) every directory
/// under `pgext.extensions_root` — the images this server has mounted now.
fn image_dirs(images: Option<Vec<Option<String>>>) -> Vec<ImageDir> {
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
            ImageDir::parse(&arg).unwrap_or_else(|message| SqlError::InvalidParameter { message }.raise())
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
    ),
> {
    require_file_access();
    let Some(server) = server else {
        SqlError::InvalidParameter {
            message: "server must not be NULL".into(),
        }
        .raise()
    };
    let target = Target::open(std::path::Path::new(server)).unwrap_or_else(|e| {
        SqlError::InvalidParameter {
            message: format!("{e}"),
        }
        .raise()
    });
    let images = image_dirs(images);
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
        )
    }))
}

extension_sql_file!(
    "../../sql/preflight.sql",
    name = "preflight_grants",
    requires = [preflight, "image_tables"]
);
