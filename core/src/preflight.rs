//! Pre-flight: the verdicts of `pgext.mounted_extensions` for images judged against a server other
//! than the running one ([`Target`]) — a major upgrade's target image, or a server image in an
//! extension publisher's CI. The same inventory and verdict engine, composed the way
//! CloudNativePG composes a server: `extension_control_path = '$system:<image>/share…'`,
//! `dynamic_library_path = '$libdir:<image>/lib…'`, `LD_LIBRARY_PATH` = the images' `system/`.

use crate::codes::Code;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::compat::{self, Preloaded};
use crate::elf::{Analyzer, LibraryReport};
use crate::inventory::{Inventory, Settings};
use crate::paths;
use crate::problem::Problem;
use crate::target::Target;

/// One extension image, as mounted (a directory with `share/extension`, `lib`, maybe `system`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDir {
    /// The name it is shown with (CloudNativePG's extension name).
    pub name: String,
    /// Where it is.
    pub dir: PathBuf,
}

impl ImageDir {
    /// Parses `name=dir`, or a bare directory named after the image.
    pub fn parse(arg: &str) -> Result<ImageDir, String> {
        let (name, dir) = match arg.split_once('=') {
            Some((n, d)) => (n.to_owned(), PathBuf::from(d)),
            None => {
                let dir = PathBuf::from(arg);
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                (
                    name.ok_or_else(|| format!("\"{arg}\": no image name (use name=directory)"))?,
                    dir,
                )
            }
        };
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', ':']) {
            return Err(format!("\"{name}\" is not an image name"));
        }
        if dir.as_os_str().is_empty() {
            return Err(format!("image \"{name}\": no directory"));
        }
        Ok(ImageDir { name, dir })
    }

    fn sub(&self, rel: &str) -> String {
        self.dir.join(rel).to_string_lossy().into_owned()
    }
}

/// One extension's answer, as `mounted_extensions` shows its visible row.
#[derive(Debug, Clone)]
pub struct ExtensionVerdict {
    /// Extension name.
    pub name: String,
    /// The image it comes from; `None` for the target's own (`$system`).
    pub image: Option<String>,
    /// Default version, when the control file could be read.
    pub default_version: Option<String>,
    /// `CREATE EXTENSION … CASCADE` succeeds (`None`: could not be decided statically).
    pub compatible: Option<bool>,
    /// Findings about `CREATE EXTENSION`.
    pub problems: Vec<Problem>,
    /// Every library it names loads.
    pub usable: bool,
    /// Findings about use.
    pub usable_problems: Vec<Problem>,
    /// The libraries it names, with the analysis of each.
    pub libraries: Vec<(String, LibraryReport)>,
}

/// The verdicts of every extension visible on the target with the images.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// Extensions in `pg_available_extensions` order (path order, then name).
    pub extensions: Vec<ExtensionVerdict>,
    /// Problems of the composition itself (an image that is not there, a target too old to
    /// search images at all).
    pub problems: Vec<(String, Problem)>,
}

/// The inventory settings of `target` with `images` mounted.
pub fn settings(target: &Target, images: &[ImageDir]) -> Settings {
    let mut control = String::from("$system");
    let mut library = String::from("$libdir");
    for image in images {
        control.push(':');
        control.push_str(&image.sub("share"));
        library.push(':');
        library.push_str(&image.sub("lib"));
    }
    Settings {
        control: paths::expand_control_path(&control, &target.sharedir),
        library: paths::expand_library_path(&library, &target.pkglibdir),
        pkglibdir: target.pkglibdir.clone(),
        ld_library_path: ld_library_path(images),
        with_references: true,
        // Files the scripts read are looked up in the target's file system; its data directory
        // (for relative paths) is not known, nor is its user (permissions are not judged).
        server_root: target.sysroot.as_ref().map(|r| r.to_string_lossy().into_owned()),
        server_mounts: images
            .iter()
            .map(|i| (format!("/extensions/{}", i.name), i.dir.to_string_lossy().into_owned()))
            .collect(),
        ..Settings::default()
    }
}

/// The images' `system/` directories that exist: what CloudNativePG puts on `LD_LIBRARY_PATH`.
pub fn ld_library_path(images: &[ImageDir]) -> Vec<String> {
    images
        .iter()
        .map(|i| i.sub("system"))
        .filter(|d| std::fs::metadata(d).is_ok_and(|m| m.is_dir()))
        .collect()
}

/// A pre-flight stopped because its caller asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("pre-flight cancelled")]
pub struct Cancelled;

/// Judges `images` against `target`, with `preload` as its `shared_preload_libraries`. `cancel`
/// is asked before each library is analysed (the long part); when it says true the run stops.
pub fn run(
    target: &Target,
    images: &[ImageDir],
    preload: &[String],
    cancel: &dyn Fn() -> bool,
) -> Result<Preflight, Cancelled> {
    let settings = settings(target, images);
    let inv = Inventory::collect(&settings);
    let ld = settings.ld_library_path.join(":");
    let mut analyzer = Analyzer::new(target.search_config((!ld.is_empty()).then_some(ld)), target.magic);
    let mut reports: BTreeMap<String, LibraryReport> = BTreeMap::new();
    let mut stopped = false;
    let mut analyze = |path: &str| {
        stopped = stopped || cancel();
        if stopped {
            return LibraryReport::empty(path);
        }
        reports
            .entry(path.to_owned())
            .or_insert_with(|| analyzer.analyze(std::path::Path::new(path)))
            .clone()
    };
    let verdicts = compat::judge_all(&inv, &mut analyze, &Preloaded::resolve(preload, &settings));
    if stopped {
        return Err(Cancelled);
    }

    let mut problems = Vec::new();
    for image in images {
        if !image.dir.is_dir() {
            problems.push((
                image.name.clone(),
                Problem::error(
                    Code::NotMounted,
                    format!("image directory \"{}\" does not exist", image.dir.display()),
                ),
            ));
        }
    }
    // PostgreSQL before 18 reads control files from its own share directory only: the answer is
    // then for the images' files installed into the server's directories (as a package would).
    if target.magic.version < 1800 && !images.is_empty() {
        problems.push((
            String::new(),
            Problem::warning(
                Code::ControlPathUnsupported,
                format!(
                    "PostgreSQL {} has no extension_control_path: judged as if the images' files were installed into its own directories",
                    target.pg_major()
                ),
            ),
        ));
    }
    let extensions = inv
        .extensions
        .iter()
        .filter(|e| e.visible)
        .filter_map(|e| {
            let v = verdicts.get(&e.name)?;
            Some(ExtensionVerdict {
                name: e.name.clone(),
                image: image_of(images, &e.control_path),
                default_version: e.control.as_ref().and_then(|c| c.default_version.clone()),
                compatible: v.compatible_sql(),
                problems: v.problems.clone(),
                usable: v.usable,
                usable_problems: v.usable_problems.clone(),
                libraries: v.libraries.iter().map(|l| (l.path.clone(), l.report.clone())).collect(),
            })
        })
        .collect();
    Ok(Preflight { extensions, problems })
}

/// The image whose directory holds `path`.
fn image_of(images: &[ImageDir], path: &str) -> Option<String> {
    images
        .iter()
        .find(|i| std::path::Path::new(path).starts_with(&i.dir))
        .map(|i| i.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_arguments() {
        for (arg, want) in [
            ("postgis=/ext/postgis", Ok(("postgis", "/ext/postgis"))),
            ("/new-extensions/vector", Ok(("vector", "/new-extensions/vector"))),
            ("/new-extensions/vector/", Ok(("vector", "/new-extensions/vector/"))),
            ("a/b=/x", Err(())),
            ("=/x", Err(())),
            ("x=", Err(())),
            ("/", Err(())),
            ("..=/x", Err(())),
            (".=/x", Err(())),
            ("/srv/..", Err(())),
        ] {
            let got = ImageDir::parse(arg);
            match want {
                Ok((n, d)) => {
                    let got = got.unwrap_or_else(|e| panic!("{arg}: {e}"));
                    assert_eq!((got.name.as_str(), got.dir.to_str().unwrap()), (n, d), "{arg}");
                }
                Err(()) => assert!(got.is_err(), "{arg}: {got:?}"),
            }
        }
    }

    #[test]
    fn images_are_found_by_prefix() {
        let images = [
            ImageDir::parse("a=/ext/a").unwrap(),
            ImageDir::parse("ab=/ext/ab").unwrap(),
        ];
        assert_eq!(
            image_of(&images, "/ext/ab/share/extension/x.control").as_deref(),
            Some("ab")
        );
        assert_eq!(
            image_of(&images, "/ext/a/share/extension/x.control").as_deref(),
            Some("a")
        );
        assert_eq!(image_of(&images, "/usr/share/postgresql/18/extension/x.control"), None);
    }
}
