//! Images judged where they are not mounted — a pre-flight's server and extension images: an
//! argument is a directory as mounted, or a reference to fetch and [`crate::unpack`].

use std::path::{Path, PathBuf};

use pgext_core::preflight::ImageDir;

use crate::ImageReference;
use crate::error::OciError;

/// A server or extension image named on a command line or in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageArg {
    /// A directory: an unpacked image, a mount, an installation.
    Dir(PathBuf),
    /// An image to fetch: `registry/repository[:tag][@digest]`, `docker://…`, `oci:DIR[:tag]`,
    /// `oci-archive:FILE[:tag]`.
    Reference(ImageReference),
}

impl ImageArg {
    /// A path (absolute, `./…`, `../…`, or an existing directory) is a directory; anything else
    /// must parse as a reference. An existing directory wins over a Docker Hub short name.
    pub fn parse(arg: &str) -> Result<ImageArg, OciError> {
        let path = Path::new(arg);
        if arg.starts_with('/') || arg.starts_with("./") || arg.starts_with("../") || arg == "." || path.is_dir() {
            return Ok(ImageArg::Dir(path.to_owned()));
        }
        arg.parse().map(ImageArg::Reference)
    }

    /// Splits `NAME=SOURCE` (NAME has no `/` or `:`) from a bare SOURCE.
    pub fn split_name(arg: &str) -> (Option<&str>, &str) {
        match arg.split_once('=') {
            Some((name, rest)) if !name.is_empty() && !name.contains(['/', ':']) => (Some(name), rest),
            _ => (None, arg),
        }
    }
}

/// An extension image argument (`NAME=SOURCE` or `SOURCE`), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSpec {
    /// A directory as mounted.
    Dir(ImageDir),
    /// A reference to fetch, with the name it is mounted under (given, else [`mount_name`]),
    /// checked as [`ImageDir`] checks names: it becomes a directory name.
    Fetch { name: String, reference: ImageReference },
}

/// Why an image argument is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ImageSpecError {
    /// SOURCE is neither a directory nor a reference.
    #[error("{error}")]
    Source {
        /// The SOURCE part.
        arg: String,
        /// Why it is no reference.
        error: OciError,
    },
    /// The name (or the directory) is not usable.
    #[error("{0}")]
    Name(String),
}

impl ImageSpec {
    /// Parses `NAME=SOURCE` or `SOURCE` (a directory or a reference, see [`ImageArg::parse`]).
    pub fn parse(arg: &str) -> Result<ImageSpec, ImageSpecError> {
        let (name, source) = ImageArg::split_name(arg);
        match ImageArg::parse(source).map_err(|error| ImageSpecError::Source {
            arg: source.to_owned(),
            error,
        })? {
            ImageArg::Dir(_) => ImageDir::parse(arg).map(ImageSpec::Dir).map_err(ImageSpecError::Name),
            ImageArg::Reference(reference) => {
                let name = name.map_or_else(|| mount_name(&reference), str::to_owned);
                let checked = ImageDir::parse(&format!("{name}=/")).map_err(ImageSpecError::Name)?;
                Ok(ImageSpec::Fetch {
                    name: checked.name,
                    reference,
                })
            }
        }
    }
}

/// The name an image would be mounted under when none is given: a registry repository's last
/// component (`ghcr.io/cloudnative-pg/postgis:17` → `postgis`), a layout's directory or archive
/// name without `.tar`.
pub fn mount_name(reference: &ImageReference) -> String {
    match reference {
        ImageReference::Registry(r) => r.repository().rsplit('/').next().unwrap_or_default().to_owned(),
        ImageReference::Layout(l) | ImageReference::Archive(l) => {
            let file = l
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            file.strip_suffix(".tar").map(str::to_owned).unwrap_or(file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_references_and_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let existing = dir.path().to_str().expect("utf-8");
        assert_eq!(ImageArg::parse(existing).unwrap(), ImageArg::Dir(dir.path().to_owned()));
        assert!(matches!(ImageArg::parse("/not/there").unwrap(), ImageArg::Dir(_)));
        assert!(matches!(ImageArg::parse("./x").unwrap(), ImageArg::Dir(_)));
        for (arg, name) in [
            ("ghcr.io/cloudnative-pg/postgis:17-bookworm", "postgis"),
            (
                "docker://127.0.0.1:5000/ext/pgvector@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "pgvector",
            ),
            ("oci:/srv/layouts/hll:1.0", "hll"),
            ("oci-archive:/srv/ip4r.tar:2", "ip4r"),
            ("postgres", "postgres"),
        ] {
            match ImageArg::parse(arg) {
                Ok(ImageArg::Reference(r)) => assert_eq!(mount_name(&r), name, "{arg}"),
                other => panic!("{arg}: {other:?}"),
            }
        }
        assert!(ImageArg::parse("Bad Ref").is_err());
        assert_eq!(ImageArg::split_name("hll=oci:/x:1"), (Some("hll"), "oci:/x:1"));
        assert_eq!(ImageArg::split_name("oci:/x=y:1"), (None, "oci:/x=y:1"));
        assert_eq!(ImageArg::split_name("=x"), (None, "=x"));
        assert_eq!(ImageArg::split_name("/a=b"), (None, "/a=b"));
        match ImageSpec::parse("oci:/srv/hll:1") {
            Ok(ImageSpec::Fetch { name, .. }) => assert_eq!(name, "hll"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(ImageSpec::parse("x=/srv/x"), Ok(ImageSpec::Dir(d)) if d.name == "x"));
        assert!(matches!(
            ImageSpec::parse("..=oci:/srv/x:1"),
            Err(ImageSpecError::Name(_))
        ));
        assert!(matches!(ImageSpec::parse("x=Bad Ref"), Err(ImageSpecError::Source { arg, .. }) if arg == "Bad Ref"));
    }
}
