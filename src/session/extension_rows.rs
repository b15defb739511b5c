//! The rows of `mounted_extensions`: built from an inventory and its verdicts, kept between
//! queries and left for new sessions (the worker leaves them each cycle).

use std::collections::BTreeMap;
use std::rc::Rc;

use pgext_core::compat::Verdict;
use pgext_core::inventory::{Fingerprint, Inventory, Settings};

use super::rowcache::{self, KeptJsonb, RowCache, signature};
use super::{analyzer, read_inventory_with, settings};
use crate::values::{codes, details_value};

/// One row of `mounted_extensions`, kept between queries and shared between backends (see
/// [`rowcache`]).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ExtRow {
    pub(crate) name: String,
    pub(crate) image: Option<String>,
    pub(crate) is_system: bool,
    pub(crate) position: i32,
    pub(crate) control_file: String,
    pub(crate) script_directory: Option<String>,
    pub(crate) default_version: Option<String>,
    pub(crate) installable_versions: Vec<String>,
    pub(crate) installed_version: Option<String>,
    pub(crate) update_path_exists: Option<bool>,
    pub(crate) update_path: Option<Vec<String>>,
    pub(crate) module_pathname: Option<String>,
    pub(crate) library: Option<String>,
    pub(crate) requires: Option<Vec<String>>,
    pub(crate) superuser: Option<bool>,
    pub(crate) trusted: Option<bool>,
    pub(crate) relocatable: Option<bool>,
    pub(crate) schema: Option<String>,
    pub(crate) comment: Option<String>,
    pub(crate) visible: bool,
    pub(crate) shadowed_by: Option<String>,
    pub(crate) compatible: Option<bool>,
    pub(crate) problems: Vec<String>,
    pub(crate) problem_details: KeptJsonb,
    pub(crate) usable: Option<bool>,
    pub(crate) usable_problems: Vec<String>,
    pub(crate) usable_problem_details: KeptJsonb,
}

thread_local! {
    /// `mounted_extensions` rows, kept and shared (see [`rowcache`]).
    static EXT_ROWS: RowCache<ExtRow> = const { RowCache::new("pgext_extensions") };
}

/// The rows of `mounted_extensions` under this statement's settings: kept, shared, or built.
pub(crate) fn rows() -> Rc<Vec<ExtRow>> {
    let s = settings(true);
    EXT_ROWS.with(|c| {
        c.rows(&signature(&s), || {
            let inv = read_inventory_with(&s);
            let verdicts = analyzer::verdicts(&inv);
            (build_extension_rows(&inv, &verdicts), Fingerprint::of(&inv, &s))
        })
    })
}

/// The rows of `mounted_extensions` for an inventory and its verdicts.
fn build_extension_rows(inv: &Inventory, verdicts: &BTreeMap<String, Verdict>) -> Vec<ExtRow> {
    inv.extensions
        .iter()
        .map(|e| {
            let c = e.control.as_ref();
            // The verdict of the copy PostgreSQL uses carries the inventory's problems too.
            let verdict = if e.visible { verdicts.get(&e.name) } else { None };
            let problems = verdict.map(|v| v.problems.as_slice()).unwrap_or(&e.problems);
            let usable_problems = verdict.map(|v| v.usable_problems.as_slice()).unwrap_or(&[]);
            ExtRow {
                name: e.name.clone(),
                image: e.image.clone(),
                is_system: e.is_system,
                position: e.position as i32,
                control_file: e.control_path.clone(),
                script_directory: e.script_dir.clone(),
                default_version: c.and_then(|c| c.default_version.clone()),
                installable_versions: e.installable_versions.clone(),
                installed_version: e.installed_version.clone(),
                update_path_exists: e.installed_version.as_ref().map(|_| e.update_path.is_some()),
                update_path: e.update_path.clone(),
                module_pathname: c.and_then(|c| c.module_pathname.clone()),
                library: e.module_library.clone(),
                requires: c.map(|c| c.requires.clone()),
                superuser: c.map(|c| c.superuser),
                trusted: c.map(|c| c.trusted),
                relocatable: c.map(|c| c.relocatable),
                schema: c.and_then(|c| c.schema.clone()),
                comment: c.and_then(|c| c.comment.clone()),
                visible: e.visible,
                shadowed_by: e.shadowed_by.clone(),
                compatible: verdict.and_then(|v| v.compatible_sql()),
                problems: codes(problems),
                problem_details: details_value(problems).into(),
                usable: verdict.map(|v| v.usable),
                usable_problems: codes(usable_problems),
                usable_problem_details: details_value(usable_problems).into(),
            }
        })
        .collect()
}

/// Leaves the rows of `mounted_extensions` that `inv` and `verdicts` give for new sessions under
/// the same settings (the worker calls it each cycle; unchanged rows are not written again).
pub(crate) fn share(s: &Settings, inv: &Inventory, verdicts: &BTreeMap<String, Verdict>) {
    if let Some(fp) = Fingerprint::of(inv, s) {
        EXT_ROWS.with(|c| c.share(&signature(s), &fp, &build_extension_rows(inv, verdicts)));
    }
}

/// Where this session's last rows came from.
pub(crate) fn source() -> Option<rowcache::Source> {
    EXT_ROWS.with(|c| c.source())
}

/// Forgets the kept rows.
pub(crate) fn clear() {
    EXT_ROWS.with(RowCache::clear);
}
