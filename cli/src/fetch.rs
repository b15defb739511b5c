//! The server and images named by reference: fetched with the digest discipline, limits and
//! timeouts of `pgext.verify_image`, unpacked into a private temporary directory that is removed
//! at exit. Ctrl-C and SIGTERM cancel a fetch within a tenth of a second and still clean up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgext_core::preflight::ImageDir;
use pgext_oci::cosign::{self, SignaturePolicy, SignatureStatus, SignatureVerdict};
use pgext_oci::keyless::{self, KeylessPolicy, TrustRoot};
use pgext_oci::{Auth, ImageArg, ImageReference, ImageSpec, Platform, Selection, VerifyOptions, unpack};

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
    /// Public keys whose cosign signatures are trusted: a PEM file or a directory of *.pub /
    /// *.pem files (as pgext.trusted_keys).
    #[arg(long, value_name = "PATH")]
    pub trusted_keys: Option<PathBuf>,
    /// A Sigstore trusted_root.json for keyless signatures (as pgext.trusted_root).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Whose keyless signatures count: `issuer=URL subject=EXACT` or `issuer=URL subject~REGEX`,
    /// optionally `images=PREFIX` (as pgext.trusted_identities). Repeat for each rule.
    #[arg(long = "identity", value_name = "RULE")]
    pub identities: Vec<String>,
    /// Built-in signer identities to trust as well (as pgext.trust_profile), e.g. `cloudnative-pg`
    /// or `cloudnative-pg images=mirror.example/cnpg/`. Repeat for each profile.
    #[arg(long = "trust-profile", value_name = "PROFILE")]
    pub trust_profiles: Vec<String>,
    /// Accept keyless signatures without a transparency-log entry (a site PKI without a log).
    #[arg(long)]
    pub no_require_tlog: bool,
    /// Judge the cosign signature of every image fetched by reference (the server's too) and
    /// exit 1 unless each is signed by a trusted key or identity. Signatures are judged whenever
    /// --trusted-keys or --trusted-root is given.
    #[arg(long)]
    pub require_signed: bool,
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
    /// The cosign verdict on what the reference resolved to, when signatures are judged.
    pub signature: Option<SignatureVerdict>,
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
            signature: None,
            files: 0,
            bytes: 0,
            seconds: 0.0,
        }
    }

    /// `REF (sha256:…; N files, M MiB unpacked in S s)[, signature: …]`.
    pub fn describe(&self) -> String {
        match (&self.reference, &self.digest) {
            (Some(r), Some(d)) => format!(
                "{r} ({d}; {} files, {:.1} MiB unpacked in {:.1} s){}",
                self.files,
                self.bytes as f64 / (1 << 20) as f64,
                self.seconds,
                match &self.signature {
                    Some(v) => format!(", signature {}: {}", v.status.as_str(), v.detail),
                    None => String::new(),
                }
            ),
            _ => self.dir.display().to_string(),
        }
    }

    /// Whether `--require-signed` is satisfied by this one (directories are not judged).
    pub fn signed_or_unjudged(&self) -> bool {
        self.reference.is_none()
            || self
                .signature
                .as_ref()
                .is_some_and(|v| v.status == SignatureStatus::Signed)
    }
}

/// Fetches into one private directory, removed when dropped.
pub struct Fetcher {
    work: tempfile::TempDir,
    options: VerifyOptions,
    max_bytes: u64,
    host_platform: Option<Platform>,
    /// The signature policy, when signatures are judged.
    policy: Option<SignaturePolicy>,
}

impl Fetcher {
    pub fn new(args: &FetchArgs) -> Result<Fetcher, String> {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
        }
        let base = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        // Absolute: the unpacked images become paths of the composed settings, which must be.
        let base = std::fs::canonicalize(&base).map_err(|e| format!("--work-dir {}: {e}", base.display()))?;
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
            policy: signature_policy(args)?,
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
        match ImageSpec::parse(arg).map_err(|e| format!("--image {arg}: {e}"))? {
            ImageSpec::Dir(dir) => Ok((dir, None)),
            ImageSpec::Fetch { name, reference } => {
                let f = self.fetch(
                    Some(name.clone()),
                    &reference,
                    &format!("images/{name}"),
                    Selection::Everything,
                    platform.clone(),
                )?;
                Ok((
                    ImageDir {
                        name,
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
        let signature = match &self.policy {
            None => None,
            Some(policy) => {
                // The signature of exactly what was unpacked: the reference pinned to what it resolved to.
                let pinned: ImageReference = match reference.digest() {
                    Some(_) => reference.clone(),
                    None => format!("{reference}@{}", got.image.resolved_digest)
                        .parse()
                        .map_err(|e| format!("image {reference}: {e}"))?,
                };
                let v = cosign::check(&pinned, &options, policy, &interrupted)
                    .map_err(|e| format!("image {reference} ({}): {e}", e.code()))?;
                Some(v)
            }
        };
        Ok(Fetched {
            name,
            dir: dest,
            reference: Some(reference.to_string()),
            digest: Some(got.image.manifest_digest.to_string()),
            signature,
            files: got.files,
            bytes: got.bytes,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The signature policy of the flags; `None` when signatures are not judged. A key file, trust
/// root or rule that cannot be used is an error (exit 2), never a weaker policy.
fn signature_policy(args: &FetchArgs) -> Result<Option<SignaturePolicy>, String> {
    if args.trusted_keys.is_none() && args.trusted_root.is_none() && !args.require_signed {
        return Ok(None);
    }
    let keys = match &args.trusted_keys {
        Some(p) => cosign::load_keys(p).map_err(|e| format!("--trusted-keys: {e}"))?,
        None => Vec::new(),
    };
    let keyless = match &args.trusted_root {
        None => None,
        Some(p) => {
            let root = TrustRoot::load(p).map_err(|e| format!("--trusted-root {e}"))?;
            let mut identities =
                keyless::parse_identities(&args.identities.join(";")).map_err(|e| format!("--identity: {e}"))?;
            identities.extend(
                pgext_oci::profiles::parse_profiles(&args.trust_profiles.join(","))
                    .map_err(|e| format!("--trust-profile: {e}"))?,
            );
            Some(KeylessPolicy {
                root,
                identities,
                require_tlog: !args.no_require_tlog,
            })
        }
    };
    Ok(Some(SignaturePolicy { keys, keyless }))
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
