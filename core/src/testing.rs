//! Test support shared by the modules' tests: a temporary tree of images laid out as
//! CloudNativePG mounts them, and settings that point into it.

use std::collections::HashMap;
use std::fs;

use crate::inventory::Settings;
use crate::paths;

/// A temporary directory: `ext/<image>/share/extension/…` and `ext/<image>/lib/…` below it.
pub(crate) struct Tree {
    pub(crate) dir: tempfile::TempDir,
}

impl Tree {
    pub(crate) fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub(crate) fn p(&self, rel: &str) -> String {
        format!("{}/{rel}", self.dir.path().display())
    }
    pub(crate) fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    pub(crate) fn ext(&self, image: &str, name: &str, control: &str, scripts: &[(&str, &str)]) {
        self.write(&format!("ext/{image}/share/extension/{name}.control"), control);
        for (file, sql) in scripts {
            self.write(&format!("ext/{image}/share/extension/{file}"), sql);
        }
    }
    pub(crate) fn settings(&self, control: &str, library: &str) -> Settings {
        let control = control.replace("@", &self.p(""));
        let library = library.replace("@", &self.p(""));
        Settings {
            control: paths::expand_control_path(&control, &self.p("share")),
            library: paths::expand_library_path(&library, &self.p("pkglib")),
            pkglibdir: self.p("pkglib"),
            extensions_root: self.p("ext"),
            ld_library_path: vec![],
            path: vec![],
            env: vec![],
            installed: HashMap::new(),
            with_references: true,
            references_for: None,
            pinned: vec![],
            ..Settings::default()
        }
    }
}
