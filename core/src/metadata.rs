//! What an image says it was built for — its labels and platform — judged against the server,
//! before any ELF analysis: CloudNativePG's extension images carry
//! `io.cloudnativepg.image.base.pgmajor` and `io.cloudnativepg.image.base.os`, every image config
//! an os/architecture. A mismatch is a problem with its own code; agreement is shown too.

use crate::codes::Code;
use std::collections::BTreeMap;

use crate::problem::Problem;

/// Label (or manifest annotation) naming the PostgreSQL major an image is built for.
pub const PG_MAJOR_LABEL: &str = "io.cloudnativepg.image.base.pgmajor";
/// Label naming the operating system release it is built on (`trixie`, `bookworm`, …).
pub const OS_LABEL: &str = "io.cloudnativepg.image.base.os";

/// What the image says, as recorded by a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// `os/architecture[/variant]` from the image config (or its index entry).
    pub platform: Option<String>,
    /// Config labels.
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

impl ImageFacts {
    /// A label, else the manifest annotation of the same key (builders set one or the other).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels
            .get(key)
            .or_else(|| self.annotations.get(key))
            .map(String::as_str)
    }
}

/// The server's side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    /// PostgreSQL major (`18`).
    pub pg_major: String,
    /// OCI architecture name of the server (`amd64`, `arm64`, …).
    pub architecture: String,
    /// `/etc/os-release`: `ID`, `VERSION_ID`, `VERSION_CODENAME` (when present).
    pub os_id: Option<String>,
    /// See [`ServerFacts::os_id`].
    pub os_version_id: Option<String>,
    /// See [`ServerFacts::os_id`].
    pub os_codename: Option<String>,
}

impl ServerFacts {
    /// The facts of the machine this runs on, for a server of major `pg_major`.
    pub fn this_machine(pg_major: &str) -> ServerFacts {
        let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        Self::from_os_release(pg_major, oci_architecture(std::env::consts::ARCH), &os)
    }

    /// The facts from an os-release text.
    pub fn from_os_release(pg_major: &str, architecture: &str, os_release: &str) -> ServerFacts {
        let field = |k: &str| crate::target::os_release_field(os_release, k).filter(|v| !v.is_empty());
        ServerFacts {
            pg_major: pg_major.to_owned(),
            architecture: architecture.to_owned(),
            os_id: field("ID"),
            os_version_id: field("VERSION_ID"),
            os_codename: field("VERSION_CODENAME"),
        }
    }

    /// The names an OS label may use for this server: the codename (`bookworm`), `ID-VERSION_ID`
    /// and `IDVERSION_ID` (`debian-12`, `debian12`), `VERSION_ID`.
    pub fn os_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        names.extend(self.os_codename.clone());
        if let (Some(id), Some(v)) = (&self.os_id, &self.os_version_id) {
            names.push(format!("{id}-{v}"));
            names.push(format!("{id}{v}"));
        }
        names.extend(self.os_version_id.clone());
        names
    }
}

/// The OCI name of a Rust/ELF architecture name (`x86_64` → `amd64`).
pub fn oci_architecture(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "arm" => "arm",
        "riscv64" | "riscv64gc" => "riscv64",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// One judged fact: what the image says, what the server is, whether they agree (`None`: the
/// image says nothing, or the server's side is unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// `pg_major`, `os`, `platform`.
    pub what: &'static str,
    /// The image's value.
    pub image: Option<String>,
    /// The server's value.
    pub server: Option<String>,
    /// Agreement.
    pub agrees: Option<bool>,
}

/// Judges the image's facts against the server: the judged facts, and a problem per mismatch —
/// `image_pg_major_mismatch` and `image_platform_mismatch` are errors (such an image cannot
/// load), `image_os_mismatch` a warning (glibc and library versions decide; the ELF analysis
/// judges those).
pub fn judge(image: &ImageFacts, server: &ServerFacts) -> (Vec<Judged>, Vec<Problem>) {
    let mut judged = Vec::new();
    let mut problems = Vec::new();

    let major = image.get(PG_MAJOR_LABEL).map(str::trim).map(str::to_owned);
    let agrees = major.as_ref().map(|m| *m == server.pg_major);
    if agrees == Some(false) {
        problems.push(Problem::error(
            Code::ImagePgMajorMismatch,
            format!(
                "the image is built for PostgreSQL {} ({PG_MAJOR_LABEL}), the server is PostgreSQL {}",
                major.as_deref().unwrap_or_default(),
                server.pg_major
            ),
        ));
    }
    judged.push(Judged {
        what: "pg_major",
        image: major,
        server: Some(server.pg_major.clone()),
        agrees,
    });

    let os = image.get(OS_LABEL).map(str::trim).map(str::to_owned);
    let names = server.os_names();
    let agrees = match (&os, names.is_empty()) {
        (Some(o), false) => Some(names.iter().any(|n| n.eq_ignore_ascii_case(o))),
        _ => None,
    };
    if agrees == Some(false) {
        problems.push(Problem::warning(
            Code::ImageOsMismatch,
            format!(
                "the image is built on {} ({OS_LABEL}), the server runs {}",
                os.as_deref().unwrap_or_default(),
                names.first().map(String::as_str).unwrap_or_default()
            ),
        ));
    }
    judged.push(Judged {
        what: "os",
        image: os,
        server: names.into_iter().next(),
        agrees,
    });

    let want = format!("linux/{}", server.architecture);
    // A variant (arm64/v8) does not change what loads; os and architecture do.
    let agrees = image.platform.as_ref().map(|p| {
        let mut parts = p.split('/');
        parts.next() == Some("linux") && parts.next() == Some(server.architecture.as_str())
    });
    if agrees == Some(false) {
        problems.push(Problem::error(
            Code::ImagePlatformMismatch,
            format!(
                "the image is for {}, the server is {want}",
                image.platform.as_deref().unwrap_or_default()
            ),
        ));
    }
    judged.push(Judged {
        what: "platform",
        image: image.platform.clone(),
        server: Some(want),
        agrees,
    });
    (judged, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerFacts {
        ServerFacts::from_os_release(
            "18",
            "amd64",
            "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n",
        )
    }

    fn image(platform: Option<&str>, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> ImageFacts {
        let map = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ImageFacts {
            platform: platform.map(str::to_owned),
            labels: map(labels),
            annotations: map(annotations),
        }
    }

    /// An image, the expected agreement of pg_major, os and platform, the expected problem codes.
    type Case = (ImageFacts, [Option<bool>; 3], Vec<&'static str>);

    #[test]
    fn facts_against_the_server() {
        let cases: Vec<Case> = vec![
            (
                image(
                    Some("linux/amd64"),
                    &[(PG_MAJOR_LABEL, "18"), (OS_LABEL, "trixie")],
                    &[],
                ),
                [Some(true), Some(true), Some(true)],
                vec![],
            ),
            (
                image(
                    Some("linux/amd64"),
                    &[(PG_MAJOR_LABEL, "17"), (OS_LABEL, "bookworm")],
                    &[],
                ),
                [Some(false), Some(false), Some(true)],
                vec!["image_pg_major_mismatch", "image_os_mismatch"],
            ),
            (
                image(Some("linux/arm64/v8"), &[], &[(PG_MAJOR_LABEL, "18")]),
                [Some(true), None, Some(false)],
                vec!["image_platform_mismatch"],
            ),
            (image(None, &[], &[]), [None, None, None], vec![]),
            (
                image(Some("windows/amd64"), &[(OS_LABEL, "debian-13")], &[]),
                [None, Some(true), Some(false)],
                vec!["image_platform_mismatch"],
            ),
            (
                image(Some("linux/amd64"), &[(OS_LABEL, "Debian13")], &[]),
                [None, Some(true), Some(true)],
                vec![],
            ),
        ];
        for (i, (img, agree, codes)) in cases.into_iter().enumerate() {
            let (judged, problems) = judge(&img, &server());
            let got: Vec<Option<bool>> = judged.iter().map(|j| j.agrees).collect();
            assert_eq!(got, agree.to_vec(), "case {i}: {judged:?}");
            let got: Vec<&str> = problems.iter().map(|p| p.code.as_str()).collect();
            assert_eq!(got, codes, "case {i}");
        }
    }

    #[test]
    fn os_unknown_on_the_server_is_not_judged() {
        let s = ServerFacts::from_os_release("18", "amd64", "");
        let (judged, problems) = judge(&image(None, &[(OS_LABEL, "trixie")], &[]), &s);
        assert_eq!(judged[1].agrees, None);
        assert!(problems.is_empty());
    }

    #[test]
    fn architecture_names() {
        for (rust, oci) in [("x86_64", "amd64"), ("aarch64", "arm64"), ("s390x", "s390x")] {
            assert_eq!(oci_architecture(rust), oci);
        }
    }
}
