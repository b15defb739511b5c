//! Every version's way to the default: for each version an extension's scripts name, the
//! update path `ALTER EXTENSION … UPDATE` would take from it to the default version, and
//! whether every script on that path parses. What `pg_extension_update_paths()` answers for
//! the default version as target, checked.
//!
//! An installed version need not be one the current image can install: a database upgraded
//! from an older image (or an older major) may sit at any version the update graph names, so
//! every vertex of the graph is a source, not only `pg_available_extension_versions()`.
//! A script lies on many chains; each is read and parsed once per call.

use std::collections::HashMap;

use super::{JobLayout, LdOrder, ScriptParser, script_problem};
use crate::codes::Code;
use crate::inventory::{Inventory, MAX_DIR_ENTRIES};
use crate::preflight::Cancelled;
use crate::problem::Problem;
use crate::scripts::ScriptSet;

/// One source version's chain to the default version.
#[derive(Debug, Clone)]
pub struct UpdateChain {
    /// Extension.
    pub name: String,
    /// The version updated from.
    pub source: String,
    /// The default version (the target of `ALTER EXTENSION … UPDATE`).
    pub target: String,
    /// Versions the update passes through, `source` excluded; `None`: no path.
    pub update_path: Option<Vec<String>>,
    /// A path exists and every script on it parses.
    pub updatable: bool,
    /// `no_update_path`, `script_syntax_error`, `script_unreadable`.
    pub problems: Vec<Problem>,
}

/// [`UpdateChain`]s of every visible extension with a default version (of `only`, when given),
/// by extension and source version.
pub fn update_chains(
    inv: &Inventory,
    only: Option<&str>,
    parser: &dyn ScriptParser,
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<UpdateChain>, Cancelled> {
    let layout = JobLayout {
        old: Vec::new(),
        new: Vec::new(),
        order: LdOrder::default(),
    };
    let mut out = Vec::new();
    for ext in inv.extensions.iter().filter(|e| e.visible) {
        if only.is_some_and(|o| o != ext.name) {
            continue;
        }
        let (Some(dir), Some(target)) = (
            ext.script_dir.as_deref(),
            ext.control.as_ref().and_then(|c| c.default_version.as_deref()),
        ) else {
            continue;
        };
        let Some(set) = script_set(&ext.name, dir) else {
            continue;
        };
        let module = ext.control.as_ref().and_then(|c| c.module_pathname.as_deref());
        // One parse per script file, whichever chains it lies on.
        let mut parsed: HashMap<(String, String), Option<Problem>> = HashMap::new();
        let mut sources: Vec<&str> = set.versions().filter(|v| *v != target).collect();
        sources.sort_unstable();
        for source in sources {
            if cancel() {
                return Err(Cancelled);
            }
            let path = set.update_path(source, target);
            let mut problems = Vec::new();
            match &path {
                None => problems.push(Problem::warning(
                    Code::NoUpdatePath,
                    format!("no update path from version \"{source}\" to \"{target}\""),
                )),
                Some(steps) => {
                    let mut prev = source;
                    for to in steps {
                        let found = parsed
                            .entry((prev.to_owned(), to.clone()))
                            .or_insert_with(|| script_problem(&ext.name, prev, to, dir, module, parser, &layout));
                        problems.extend(found.iter().cloned());
                        prev = to;
                    }
                }
            }
            out.push(UpdateChain {
                name: ext.name.clone(),
                source: source.to_owned(),
                target: target.to_owned(),
                updatable: path.is_some() && problems.is_empty(),
                update_path: path,
                problems,
            });
        }
    }
    Ok(out)
}

/// The extension's scripts as the inventory read them (same names, same cap); `None` when the
/// directory cannot be listed — the inventory already reported that on the extension.
fn script_set(name: &str, dir: &str) -> Option<ScriptSet> {
    let prefix = format!("{name}--");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.take(MAX_DIR_ENTRIES) {
        let Ok(entry) = entry else { continue };
        // Non-UTF-8 names are not PostgreSQL versions the graph could reach either.
        if let Ok(n) = entry.file_name().into_string()
            && n.starts_with(&prefix)
        {
            names.push(n);
        }
    }
    Some(ScriptSet::from_file_names(name, names.iter().map(String::as_str)))
}
