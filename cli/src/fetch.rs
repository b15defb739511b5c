//! The server and images named by reference: fetched with the digest discipline, limits and
//! timeouts of `pgext.verify_image`, unpacked into a private temporary directory that is removed
//! at exit. Ctrl-C and SIGTERM cancel a fetch within a tenth of a second and still clean up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgext_core::preflight::ImageDir;
use pgext_oci::{Auth, ImageArg, ImageReference, Platform, Selection, VerifyOptions, mount_name, unpack};

/// How images are fetched.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Platform to pick from image indexes (default: the server's architecture; for a server
    /// image, this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,
    /// A registry (host[:port], as in references) reached over plain HTTP. Repeat as needed.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Registry credentials in a docker config.json (default: $REGISTRY_AUTH_FILE, else
    /// $DOCKER_CONFIG/config.json or ~/.docker/config.json when there is one).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Where fetched images are unpacked (default: $TMPDIR); a private directory in it is
    /// removed at exit.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Most seconds for fetching and unpacking one image.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub fetch_timeout: u64,
    /// Most bytes one unpacked image may write (a server image is unpacked for analysis only:
    /// its ELF files, extension files and loader configuration).
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 30)]
    pub max_unpacked_bytes: u64,
}

/// Set by SIGINT/SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Whether the user asked to stop: the cancel closure of fetches and of the verdict engine.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// A server or image as judged: where it is, and where it came from when fetched.
pub struct Fetched {
    /// The image's mount name; `None` for the server.
    pub name: Option<String>,
    /// The directory judged.
    pub dir: PathBuf,
    /// The reference given, canonical form (`None` for a directory).
    pub reference: Option<String>,
    /// The image manifest digest whose content was judged.
    pub digest: Option<String>,
    files: u64,
    bytes: u64,
    seconds: f64,
}

impl Fetched {
    fn dir(name: Option<String>, dir: &Path) -> Fetched {
        Fetched {
            name,
            dir: dir.to_owned(),
            reference: None,
            digest: None,
            files: 0,
            bytes: 0,
            seconds: 0.0,
        }
    }

    /// `REF (sha256:…; N files, M MiB unpacked in S s)`.
    pub fn describe(&self) -> String {
        match (&self.reference, &self.digest) {
            (Some(r), Some(d)) => format!(
                "{r} ({d}; {} files, {:.1} MiB unpacked in {:.1} s)",
                self.files,
                self.bytes as f64 / (1 << 20) as f64,
                self.seconds
            ),
            _ => self.dir.display().to_string(),
        }
    }
}

/// Fetches into one private directory, removed when dropped.
pub struct Fetcher {
    work: tempfile::TempDir,
    options: VerifyOptions,
    max_bytes: u64,
    host_platform: Option<Platform>,
}

impl Fetcher {
    pub fn new(args: &FetchArgs) -> Result<Fetcher, String> {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
        }
        let base = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        let work = tempfile::Builder::new()
            .prefix("pgext-check.")
            .tempdir_in(&base)
            .map_err(|e| format!("cannot create a work directory in {}: {e}", base.display()))?;
        let options = VerifyOptions {
            auth: auth(args.authfile.clone()),
            insecure_registries: args.insecure_registries.clone(),
            total_timeout: Some(Duration::from_secs(args.fetch_timeout)),
            spool_dir: Some(work.path().to_owned()),
            ..VerifyOptions::default()
        };
        Ok(Fetcher {
            work,
            options,
            max_bytes: args.max_unpacked_bytes,
            host_platform: args.platform.clone(),
        })
    }

    /// Whether a failure was the user's interrupt.
    pub fn cancelled(&self) -> bool {
        interrupted()
    }

    /// The server: a directory as it is, or a reference unpacked for analysis.
    pub fn server(&mut self, arg: &str) -> Result<Fetched, String> {
        match ImageArg::parse(arg).map_err(|e| format!("--server {arg}: {e}"))? {
            ImageArg::Dir(dir) => Ok(Fetched::dir(None, &dir)),
            ImageArg::Reference(r) => {
                let platform = self.host_platform.clone().unwrap_or_else(Platform::host);
                self.fetch(None, &r, "server", Selection::ForAnalysis, platform)
            }
        }
    }

    /// An extension image: `NAME=…` or a bare directory or reference.
    pub fn image(&mut self, arg: &str, platform: &Platform) -> Result<(ImageDir, Option<Fetched>), String> {
        let (name, source) = ImageArg::split_name(arg);
        match ImageArg::parse(source).map_err(|e| format!("--image {arg}: {e}"))? {
            ImageArg::Dir(_) => Ok((ImageDir::parse(arg).map_err(|e| format!("--image {arg}: {e}"))?, None)),
            ImageArg::Reference(r) => {
                let name = name.map_or_else(|| mount_name(&r), str::to_owned);
                // The name becomes a directory name and a path component of the settings.
                let dir = ImageDir::parse(&format!("{name}=/")).map_err(|e| format!("--image {arg}: {e}"))?;
                let f = self.fetch(
                    Some(dir.name.clone()),
                    &r,
                    &format!("images/{name}"),
                    Selection::Everything,
                    platform.clone(),
                )?;
                Ok((
                    ImageDir {
                        name: dir.name,
                        dir: f.dir.clone(),
                    },
                    Some(f),
                ))
            }
        }
    }

    fn fetch(
        &mut self,
        name: Option<String>,
        reference: &ImageReference,
        sub: &str,
        selection: Selection,
        platform: Platform,
    ) -> Result<Fetched, String> {
        let dest = self.work.path().join(sub);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::create_dir(&dest).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("image name \"{}\" given twice", name.clone().unwrap_or_default())
            }
            _ => format!("{}: {e}", dest.display()),
        })?;
        let options = VerifyOptions {
            platform,
            ..self.options.clone()
        };
        let started = Instant::now();
        let got = unpack(reference, &options, &dest, selection, self.max_bytes, &interrupted)
            .map_err(|e| format!("image {reference} ({}): {e}", e.code()))?;
        Ok(Fetched {
            name,
            dir: dest,
            reference: Some(reference.to_string()),
            digest: Some(got.image.manifest_digest.to_string()),
            files: got.files,
            bytes: got.bytes,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The credentials file: as given, else where skopeo and docker look.
fn auth(given: Option<PathBuf>) -> Auth {
    let found = given.or_else(|| {
        std::env::var_os("REGISTRY_AUTH_FILE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("DOCKER_CONFIG").map(|d| PathBuf::from(d).join("config.json")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")))
            .filter(|p| p.is_file())
    });
    found.map_or(Auth::Anonymous, Auth::DockerConfigFile)
}
