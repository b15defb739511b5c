//! pgext-oci: proves a mounted tree is byte-for-byte the content of a pinned OCI image.
//!
//! [`expected_image`] resolves an [`ImageReference`] (registry, `oci:` layout directory or
//! `oci-archive:` tarball), verifies the manifest against the pinned digest, picks the platform's
//! manifest from an index, downloads each layer to an unnamed spool file while hashing it, and —
//! only after the digest is confirmed — applies the layers in order into the tree a container
//! runtime would produce ([`TreeEntry`]s with SHA-256 of every file). [`verify`] then
//! [`compare`]s that tree with a scan of the mount and reports every [`Difference`]; equal trees
//! have equal [`tree_digest`]s. [`verify_with`] does the same but takes the scan as a closure and
//! runs it while the layers are being applied.
//!
//! Built to run inside a PostgreSQL backend: one current-thread runtime per call on the caller's
//! thread, which alone calls the `cancel` closure — every 100 ms while waiting and every 1 MiB
//! while working, so query cancel and `statement_timeout` take effect within a second. Worker
//! threads do the heavy lifting — one hashes each blob as it downloads, two decompress and hash
//! the verified layers while the next one downloads; they never call `cancel` and are stopped and
//! joined before the call returns, whatever happens. They start with every signal blocked, so the
//! server's signal handlers only ever run on its main thread. Memory is bounded (a few MiB of chunks in flight and one small record per tree entry; layers
//! stream through temporary files that have no name and so vanish whatever happens), TLS is
//! always verified, no credentials appear in any message.

// The benchmark reuses the integration tests' helpers, which name this crate `pgext_oci`.
#[cfg(test)]
extern crate self as pgext_oci;

mod apply;
pub mod attest;
mod auth;
#[cfg(test)]
mod bench;
pub mod blobcache;
pub mod bundle;
pub mod catalog;
mod compare;
mod confine;
pub mod cosign;
mod digest;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod interrupt;
#[cfg(feature = "isal")]
mod isal;
pub mod keyless;
mod layer;
mod local;
mod manifest;
pub mod profiles;
mod reference;
mod source;
mod threads;
mod unpack;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use auth::RegistryCredentials;
pub use compare::{Difference, DifferenceKind, compare};
pub use confine::confine_layout_path;
pub use digest::{Algorithm, Digest, DigestParseError};
pub use error::{ErrorCode, OciError, RegistryFailure};
pub use layer::{IMPLICIT_DIR_MODE, Limits, SYMLINK_MODE};
pub use local::{ImageArg, ImageSpec, ImageSpecError, mount_name};
pub use manifest::{Compression, Platform, layer_compression};
pub use pgext_core::tree::{EntryKind, TreeEntry, tree_digest};
pub use reference::{ImageReference, LayoutReference, RegistryReference};
pub use source::{Lookup, MAX_ERROR_BYTES, MAX_MANIFEST_BYTES, MAX_REDIRECTS, MAX_TOKEN_BYTES};
pub use unpack::Selection;

use apply::{Applier, Job};
use interrupt::Interrupt;
use manifest::{Document, parse_document, select_platform};
use source::{BlobSink, LayoutSource, RegistrySource, Source};

/// Largest docker `config.json` read.
const MAX_DOCKER_CONFIG: u64 = 1 << 20;

/// How to authenticate to a registry.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    Anonymous,
    /// These credentials, whatever the registry.
    Credentials(RegistryCredentials),
    /// The entry for the image's registry in this docker `config.json` file (anonymous if none).
    DockerConfigFile(PathBuf),
    /// The entry for the image's registry in this docker `config.json` content.
    DockerConfigJson(Vec<u8>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Credentials(c) => f.debug_tuple("Credentials").field(c).finish(),
            Auth::DockerConfigFile(p) => f.debug_tuple("DockerConfigFile").field(p).finish(),
            Auth::DockerConfigJson(_) => f.write_str("DockerConfigJson(<redacted>)"),
        }
    }
}

/// Everything [`expected_image`] and [`verify`] can be told.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Platform to pick from an image index (default: this machine's, linux/amd64 here).
    pub platform: Platform,
    /// Registry authentication.
    pub auth: Auth,
    /// Registries (`host:port` exactly as in references) reached over plain HTTP. All others use
    /// HTTPS with certificate verification.
    pub insecure_registries: Vec<String>,
    /// TCP+TLS connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Longest wait for any single read from the registry.
    pub read_timeout: Option<Duration>,
    /// Limit for the whole call (`timeout` error); the caller's cancel closure works regardless.
    pub total_timeout: Option<Duration>,
    /// HTTPS proxy URL, if registries must be reached through one.
    pub https_proxy: Option<String>,
    /// Hosts not to proxy (comma-separated, as in `NO_PROXY`).
    pub no_proxy: Option<String>,
    /// Directory for the (unnamed) layer spool files; the system temporary directory if `None`.
    /// Needs room for the two largest compressed layers: one is applied while the next downloads.
    pub spool_dir: Option<PathBuf>,
    /// Most bytes the spool may hold at once (`None`: only [`Limits::max_blob_bytes`] per layer).
    /// Two layers are spooled together (one applied while the next downloads), so an image whose
    /// two consecutive layers exceed it is refused (`too_large`) before anything is downloaded.
    pub spool_max_bytes: Option<u64>,
    /// Size and count limits.
    pub limits: Limits,
    /// Directories local layouts (`oci:`, `oci-archive:`) must lie in (see
    /// [`confine_layout_path`]); `None`: anywhere. An empty list refuses every local layout.
    pub layout_directories: Option<Vec<PathBuf>>,
    /// Host name lookup; `None`: the system's (`getaddrinfo`). Either way it runs on a detached
    /// thread, so a cancel never waits for it. Tests use a slow one.
    pub resolver: Option<Lookup>,
    /// Where configs, signature payloads, bundles and attestations downloaded from a registry
    /// are kept by digest for later verifications (each checked against its digest when read
    /// back); `None`: every verification downloads them.
    pub blob_cache: Option<blobcache::BlobCache>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            platform: Platform::host(),
            auth: Auth::Anonymous,
            insecure_registries: Vec::new(),
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(30)),
            total_timeout: None,
            https_proxy: None,
            no_proxy: None,
            spool_dir: None,
            spool_max_bytes: None,
            limits: Limits::default(),
            layout_directories: None,
            resolver: None,
            blob_cache: None,
        }
    }
}

/// One layer of the verified image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// Digest of the (compressed) blob.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The content an image reference stands for, with how it was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedImage {
    /// The reference, canonical form.
    pub reference: String,
    /// What the reference resolved to: the pinned digest, else the tag's current digest. May be
    /// an index.
    pub resolved_digest: Digest,
    /// The image manifest whose layers were applied (the platform's entry if `resolved_digest`
    /// is an index, else `resolved_digest`).
    pub manifest_digest: Digest,
    /// For references with both tag and digest: what the tag points at now (`None` if the tag
    /// no longer exists). `None` otherwise.
    pub tag_digest: Option<Digest>,
    /// Tag and digest were both given and the tag no longer points at the digest. Verification
    /// is still against the pinned digest.
    pub tag_moved: bool,
    /// The image's platform (from its config, else from the index entry).
    pub platform: Option<Platform>,
    /// Labels, annotations and attestations.
    pub metadata: ImageMetadata,
    /// Layers, lowest first.
    pub layers: Vec<LayerInfo>,
    /// The tree the layers produce, sorted by path; the root itself is not an entry.
    pub entries: Vec<TreeEntry>,
    /// [`tree_digest`] of `entries`.
    pub tree_digest: [u8; 32],
    /// `entries` came from a [`RecordedTree`] of `manifest_digest`: no layer was downloaded.
    pub from_record: bool,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The image side.
    pub image: ExpectedImage,
    /// [`tree_digest`] of the scanned mount; `None` if it has none (a file could not be read).
    pub actual_tree_digest: Option<[u8; 32]>,
    /// Every difference, sorted by path; empty iff the mount is the image's content.
    pub differences: Vec<Difference>,
}

impl Verification {
    /// Whether the mount is exactly the image's content.
    pub fn intact(&self) -> bool {
        self.differences.is_empty() && self.actual_tree_digest == Some(self.image.tree_digest)
    }
}

/// Version of the rules that turn layers into an expected tree (whiteouts, hard links, modes,
/// what an entry records). A tree recorded under another version is never reused: it is rebuilt
/// from the layers. Raise it whenever a change to `layer`/`apply` could change a tree.
pub const TREE_FORMAT: i32 = 1;

/// The expected tree an earlier verification built, as the caller recorded it. An image manifest
/// is content-addressed: its layers, and so the tree they produce, can never change. A
/// verification given the record of the manifest it resolves to therefore downloads no layer;
/// it still reads the manifests (has the tag moved? is it still the pinned digest?), the config
/// and the attestation manifests, and still scans the mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTree {
    /// The image manifest whose layers built the tree (the platform's entry of an index).
    pub manifest_digest: Digest,
    /// [`TREE_FORMAT`] when the tree was built.
    pub format: i32,
    /// [`tree_digest`] of `entries` when it was built: a record that no longer hashes to it
    /// (altered in the table) is ignored.
    pub tree_digest: [u8; 32],
    /// The tree.
    pub entries: Vec<TreeEntry>,
}

impl RecordedTree {
    /// Whether this record stands for the tree of `manifest` under the current rules and limits.
    fn serves(&self, manifest: &Digest, limits: &Limits) -> bool {
        self.manifest_digest == *manifest
            && self.format == TREE_FORMAT
            && self.entries.len() <= limits.max_entries
            && tree_digest(&self.entries).ok() == Some(self.tree_digest)
    }
}

/// Resolves, fetches and applies `reference` (blocking; see [`expected_image_async`]).
/// Creates a current-thread runtime for the call.
pub fn expected_image(
    reference: &ImageReference,
    options: &VerifyOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<ExpectedImage, OciError> {
    runtime()?.block_on(expected_image_async(reference, options, cancel))
}

/// Computes the expected tree of `reference` and compares it with `actual` (a scan of the
/// mounted directory, e.g. by `pgext_core::tree`).
pub fn verify(
    reference: &ImageReference,
    options: &VerifyOptions,
    actual: &[TreeEntry],
    cancel: &dyn Fn() -> bool,
) -> Result<Verification, OciError> {
    let image = expected_image(reference, options, cancel)?;
    Ok(Verification::new(image, actual))
}

/// Like [`verify`], but runs `scan` (the scan of the mount) itself, on the calling thread, once
/// every layer is downloaded and while the worker threads still apply them: the scan's hashing
/// overlaps the decompression instead of following it. `scan` runs at most once, and not at all
/// if the image cannot be fetched. It may poll the same cancel closure: it runs on the caller's
/// thread, and unwinding out of it (a server error) stops and joins the workers.
pub fn verify_with(
    reference: &ImageReference,
    options: &VerifyOptions,
    scan: impl FnOnce() -> Vec<TreeEntry>,
    cancel: &dyn Fn() -> bool,
) -> Result<Verification, OciError> {
    verify_with_record(reference, options, None, scan, cancel)
}

/// [`verify_with`], reusing `record` when it is the tree of the manifest the reference resolves
/// to now (see [`RecordedTree`]): then no layer is downloaded and `scan` runs once the manifests
/// and the config are read. Otherwise the tree is built from the layers, as without a record.
pub fn verify_with_record(
    reference: &ImageReference,
    options: &VerifyOptions,
    record: Option<RecordedTree>,
    scan: impl FnOnce() -> Vec<TreeEntry>,
    cancel: &dyn Fn() -> bool,
) -> Result<Verification, OciError> {
    let rt = runtime()?;
    let (image, actual) = rt.block_on(build(reference, options, cancel, None, record, scan))?;
    Ok(Verification::new(image, &actual))
}

impl Verification {
    fn new(image: ExpectedImage, actual: &[TreeEntry]) -> Verification {
        Verification {
            actual_tree_digest: tree_digest(actual).ok(),
            differences: compare(&image.entries, actual),
            image,
        }
    }
}

/// The per-call runtime. Dropping a tokio runtime waits for its blocking tasks; this one is
/// shut down without waiting, so that nothing left behind by an abandoned call can hold up the
/// cancel that abandoned it (host name lookups run on detached threads of their own anyway, see
/// `source::dns`; this covers anything else a library might put on the blocking pool).
pub(crate) struct CallRuntime(Option<tokio::runtime::Runtime>);

impl CallRuntime {
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.0.as_ref().expect("runtime present until dropped").block_on(fut)
    }
}

impl Drop for CallRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

pub(crate) fn runtime() -> Result<CallRuntime, OciError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // The runtime itself runs on the caller's thread; only its blocking pool starts threads,
        // which must not take the server's signals.
        .on_thread_start(threads::block_signals_here)
        .build()
        .map(|rt| CallRuntime(Some(rt)))
        .map_err(|e| OciError::io("starting the I/O runtime", e))
}

/// The async core of [`expected_image`]. Must run on the thread `cancel` may be called from
/// (a current-thread runtime on the caller's thread), in a runtime with time and I/O enabled.
pub async fn expected_image_async(
    reference: &ImageReference,
    options: &VerifyOptions,
    cancel: &dyn Fn() -> bool,
) -> Result<ExpectedImage, OciError> {
    build(reference, options, cancel, None, None, || ())
        .await
        .map(|(image, ())| image)
}

/// An image written into a directory by [`unpack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// The image, as [`expected_image`] describes it: `entries` is the whole tree, including the
    /// files the selection left out.
    pub image: ExpectedImage,
    /// Regular files written, counting each write (a file a later layer replaced or removed
    /// counts too; hard links do not).
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Resolves, fetches and verifies `reference` like [`expected_image`] and writes its tree into
/// `dest` (an existing, empty directory nothing else writes in) — the files `selection` names,
/// every directory and symlink, symlinks rewritten to stay inside `dest` (see the `unpack`
/// module). At most `max_bytes` are written (`too_large`). For reading the image's files, never
/// for running them: modes are the image's permission bits, owners are ours. Whatever fails,
/// `dest` may hold part of the tree: the caller removes it.
pub fn unpack(
    reference: &ImageReference,
    options: &VerifyOptions,
    dest: &std::path::Path,
    selection: Selection,
    max_bytes: u64,
    cancel: &dyn Fn() -> bool,
) -> Result<Unpacked, OciError> {
    let disk = unpack::Disk::new(dest, selection, max_bytes)?;
    let rt = runtime()?;
    let mut written = (0, 0);
    let (image, ()) = rt.block_on(build(
        reference,
        options,
        cancel,
        Some((disk, &mut written)),
        None,
        || (),
    ))?;
    let (files, bytes) = written;
    Ok(Unpacked { image, files, bytes })
}

/// [`expected_image_async`], running `alongside` on this thread once every layer is downloaded,
/// while the workers apply them.
async fn build<T>(
    reference: &ImageReference,
    options: &VerifyOptions,
    cancel: &dyn Fn() -> bool,
    disk: Option<(unpack::Disk, &mut (u64, u64))>,
    record: Option<RecordedTree>,
    alongside: impl FnOnce() -> T,
) -> Result<(ExpectedImage, T), OciError> {
    let (disk, written) = match disk {
        Some((d, w)) => (Some(d), Some(w)),
        None => (None, None),
    };
    let intr = Interrupt::new(cancel, options.total_timeout);
    let limits = &options.limits;
    let mut source = open_source(reference, options, &intr)?;

    // 1. The top-level manifest: by pinned digest (its bytes must hash to it), else by tag.
    //    With both, the tag is resolved first: when it still names the pinned digest, the
    //    registry's answer hashes to the pin and is the manifest, which saves a second request.
    let pinned = reference.digest().cloned();
    let (tag_digest, tag_moved, tag_manifest) = match (&pinned, reference.tag()) {
        (Some(p), Some(tag)) => match source
            .resolve_tag(tag, p.algorithm(), limits.max_document_bytes, &intr)
            .await?
        {
            Some((now, bytes)) if now == *p => (Some(now), false, bytes),
            Some((now, _)) => (Some(now), true, None),
            None => (None, true, None),
        },
        _ => (None, false, None),
    };
    let resolved_digest = match &pinned {
        Some(d) => d.clone(),
        None => {
            source
                .resolve_default(reference.tag(), limits.max_document_bytes, &intr)
                .await?
        }
    };
    let top = match tag_manifest {
        Some(bytes) if bytes.len() as u64 <= limits.max_document_bytes => bytes,
        _ => {
            source
                .manifest(&resolved_digest, None, limits.max_document_bytes, &intr)
                .await?
        }
    };

    // 2. The platform's image manifest.
    let top_what = format!("manifest {resolved_digest} of {}", source.describe());
    let mut index_entries: Vec<manifest::Descriptor> = Vec::new();
    let (manifest_digest, config, layers, annotations, index_platform) = match parse_document(&top, &top_what)? {
        Document::Image {
            config,
            layers,
            annotations,
        } => (resolved_digest.clone(), config, layers, annotations, None),
        Document::Index { manifests } => {
            let entry = select_platform(&manifests, &options.platform).ok_or_else(|| OciError::NotFound {
                what: format!("a manifest for {}", options.platform),
                detail: format!(
                    "index {resolved_digest} lists: {}",
                    manifests
                        .iter()
                        .filter_map(|m| m.platform.as_ref().map(ToString::to_string))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
            let what = format!("manifest {} of {}", entry.digest, source.describe());
            let bytes = source
                .manifest(&entry.digest, Some(entry.size), limits.max_document_bytes, &intr)
                .await?;
            let chosen = match parse_document(&bytes, &what)? {
                Document::Image {
                    config,
                    layers,
                    annotations,
                } => (
                    entry.digest.clone(),
                    config,
                    layers,
                    annotations,
                    entry.platform.clone(),
                ),
                Document::Index { .. } => {
                    return Err(OciError::UnsupportedMediaType {
                        what,
                        media_type: "nested image index".into(),
                    });
                }
            };
            index_entries = manifests;
            chosen
        }
    };

    // 3. Check every layer before downloading any: fail fast on what cannot be applied.
    if layers.len() > limits.max_layers {
        return Err(OciError::TooLarge {
            what: format!("image {manifest_digest}"),
            limit: limits.max_layers as u64,
            unit: "layers",
        });
    }
    let mut plan = Vec::with_capacity(layers.len());
    for d in &layers {
        let compression = layer_compression(&d.media_type).ok_or_else(|| OciError::UnsupportedMediaType {
            what: format!("layer {}", d.digest),
            media_type: d.media_type.clone(),
        })?;
        if d.size > limits.max_blob_bytes {
            return Err(OciError::TooLarge {
                what: format!("layer {}", d.digest),
                limit: limits.max_blob_bytes,
                unit: "bytes",
            });
        }
        plan.push((d, compression));
    }
    if let Some(max) = options.spool_max_bytes
        && let Some((i, together)) = (0..layers.len())
            .map(|i| {
                (
                    i,
                    layers[i..].iter().take(2).fold(0u64, |n, d| n.saturating_add(d.size)),
                )
            })
            .find(|&(_, together)| together > max)
    {
        return Err(OciError::TooLarge {
            what: if i + 1 < layers.len() {
                format!(
                    "the spool for layers {}-{} of image {manifest_digest} ({together} bytes)",
                    i + 1,
                    i + 2
                )
            } else {
                format!(
                    "the spool for layer {} of image {manifest_digest} ({together} bytes)",
                    i + 1
                )
            },
            limit: max,
            unit: "bytes",
        });
    }

    // 4. The config: platform and labels.
    let image_config = if config.size <= limits.max_document_bytes {
        let bytes = fetch_small_blob(&mut source, &config, options, &intr).await?;
        manifest::parse_config(&bytes).unwrap_or_default()
    } else {
        manifest::ImageConfig::default()
    };
    let platform = image_config.platform.clone().or(index_platform);
    let attestations = attestations(&mut source, &index_entries, &manifest_digest, limits, &intr).await?;
    let metadata = ImageMetadata {
        labels: image_config.labels,
        annotations,
        attestations,
    };

    let layer_infos = || {
        layers
            .iter()
            .map(|d| LayerInfo {
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: d.size,
            })
            .collect()
    };

    // 5a. A recorded tree of this very manifest: the layers cannot have changed (their digests
    //     are in the manifest, whose digest is checked), so none is downloaded. Never when the
    //     files must be written (`unpack`).
    if disk.is_none()
        && let Some(record) = record.filter(|r| r.serves(&manifest_digest, limits))
    {
        let along = alongside();
        intr.check()?;
        let image = ExpectedImage {
            reference: reference.to_string(),
            tree_digest: record.tree_digest,
            resolved_digest,
            manifest_digest,
            tag_digest,
            tag_moved,
            platform,
            metadata,
            layers: layer_infos(),
            entries: record.entries,
            from_record: true,
        };
        return Ok((image, along));
    }

    // 5. Layers: spooled and hashed here, each handed to the workers once its digest is
    //    confirmed; they apply it while the next one downloads.
    let mut applier = Applier::start(limits, disk)?;
    let total = plan.len();
    for (i, (d, compression)) in plan.into_iter().enumerate() {
        let what = format!("layer {}/{total} {} of {}", i + 1, d.digest, source.describe());
        applier.reserve(&intr).await?;
        let spool = match fetch_blob(&mut source, d, what.clone(), options, &intr).await {
            Ok(spool) => spool,
            Err(e) => return Err(applier.first_error(e, &intr).await),
        };
        let job = Job {
            spool,
            compression,
            layer: d.digest.to_string(),
        };
        applier.submit(job, what, &intr).await?;
    }
    let along = alongside();
    let tree = applier.finish(&intr).await?;
    intr.check()?;
    if let Some(w) = written {
        *w = tree.written();
    }
    let entries = tree.into_entries();
    // Cannot fail for trees built here (canonical paths, every file hashed); kept as an error
    // rather than a panic all the same.
    let digest = tree_digest(&entries).map_err(|e| OciError::malformed("expected tree", e.to_string()))?;
    let image = ExpectedImage {
        reference: reference.to_string(),
        tree_digest: digest,
        resolved_digest,
        manifest_digest,
        tag_digest,
        tag_moved,
        platform,
        metadata,
        layers: layer_infos(),
        entries,
        from_record: false,
    };
    Ok((image, along))
}

/// Downloads a blob into a fresh spool file, hashing it; returns the file once verified.
async fn fetch_blob(
    source: &mut Source,
    d: &manifest::Descriptor,
    what: String,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<std::fs::File, OciError> {
    let mut sink = BlobSink::new(&d.digest, d.size, what, options.spool_dir.as_deref(), intr)?;
    source.blob(&mut sink, intr).await?;
    sink.finish()
}

/// What an image says about itself, beyond its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMetadata {
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
    /// The image manifest's annotations.
    pub annotations: BTreeMap<String, String>,
    /// Kinds of the attestations the index carries for this manifest (`provenance`, `sbom`, …),
    /// sorted, each once.
    pub attestations: Vec<String>,
}

/// Most attestation manifests read for one image (buildx writes one per platform).
const MAX_ATTESTATION_MANIFESTS: usize = 4;

/// The kinds of attestations buildx attached to `manifest` in its index: each attestation
/// manifest's layers name their in-toto predicate type. Only the small manifests are read, never
/// the statements. An attestation manifest that cannot be read is named `unreadable`; a cancel
/// is the only error.
async fn attestations(
    source: &mut Source,
    index: &[manifest::Descriptor],
    manifest: &Digest,
    limits: &Limits,
    intr: &Interrupt<'_>,
) -> Result<Vec<String>, OciError> {
    let mut kinds = std::collections::BTreeSet::new();
    for entry in manifest::attestation_manifests(index, manifest)
        .into_iter()
        .take(MAX_ATTESTATION_MANIFESTS)
    {
        let what = format!("attestation manifest {}", entry.digest);
        let layers = match source
            .manifest(&entry.digest, Some(entry.size), limits.max_document_bytes, intr)
            .await
        {
            Ok(bytes) => match parse_document(&bytes, &what) {
                Ok(Document::Image { layers, .. }) => layers,
                _ => Vec::new(),
            },
            Err(e @ OciError::Cancelled { .. }) => return Err(e),
            Err(_) => Vec::new(),
        };
        let before = kinds.len();
        for l in &layers {
            if let Some(t) = l.annotations.get(manifest::PREDICATE_TYPE) {
                kinds.insert(manifest::attestation_kind(t));
            }
        }
        if kinds.len() == before && layers.is_empty() {
            kinds.insert("unreadable".to_owned());
        }
    }
    Ok(kinds.into_iter().collect())
}

/// Fetches a small verified blob (the config) into memory, or takes it from the blob cache.
async fn fetch_small_blob(
    source: &mut Source,
    d: &manifest::Descriptor,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<Vec<u8>, OciError> {
    let what = format!("config {} of {}", d.digest, source.describe());
    let max = options.limits.max_document_bytes;
    cosign::bounded_blob(source, d, what, max, "reading the spooled config", options, intr).await
}

pub(crate) fn open_source(
    reference: &ImageReference,
    options: &VerifyOptions,
    intr: &Interrupt<'_>,
) -> Result<Source, OciError> {
    let limits = &options.limits;
    let confined = |path: &std::path::Path| match &options.layout_directories {
        Some(dirs) => confine_layout_path(path, dirs),
        None => Ok(path.to_owned()),
    };
    match reference {
        ImageReference::Layout(l) => Ok(Source::Layout(LayoutSource::open_dir(
            &confined(l.path())?,
            limits.max_document_bytes,
        )?)),
        ImageReference::Archive(l) => Ok(Source::Layout(LayoutSource::open_archive(
            &confined(l.path())?,
            limits.max_document_bytes,
            limits.max_entries,
            intr,
        )?)),
        ImageReference::Registry(r) => {
            let credentials = match &options.auth {
                Auth::Anonymous => None,
                Auth::Credentials(c) => Some(c.clone()),
                Auth::DockerConfigJson(json) => RegistryCredentials::from_docker_config(json, r.api_host())?,
                Auth::DockerConfigFile(path) => {
                    // Opened like every untrusted file: a FIFO or device there must not hang
                    // the backend, and an oversized file is refused rather than cut.
                    let json = pgext_core::fsinfo::read_untrusted(path, MAX_DOCKER_CONFIG).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::NotFound {
                            OciError::NotFound {
                                what: "docker config.json".into(),
                                detail: path.display().to_string(),
                            }
                        } else {
                            OciError::io(format!("reading {}", path.display()), e)
                        }
                    })?;
                    RegistryCredentials::from_docker_config(&json, r.api_host())?
                }
            };
            let settings = source::RegistrySettings {
                insecure: &options.insecure_registries,
                connect_timeout: options.connect_timeout,
                read_timeout: options.read_timeout,
                https_proxy: options.https_proxy.clone(),
                no_proxy: options.no_proxy.clone(),
                lookup: options.resolver.unwrap_or(source::system_lookup),
            };
            Ok(Source::Registry(RegistrySource::new(r, credentials, &settings)?))
        }
    }
}
