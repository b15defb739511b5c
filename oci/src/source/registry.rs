//! Registry access through oci-client: exact manifest bytes, streamed blobs.

use futures_util::StreamExt as _;
use oci_client::client::{BlobResponse, ClientConfig, ClientProtocol};
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::BlobSink;
use crate::digest::{Algorithm, Digest};
use crate::error::{ErrorCode, OciError};
use crate::interrupt::Interrupt;
use crate::manifest::{ACCEPTED_MANIFESTS, Platform};
use crate::reference::RegistryReference;

/// User-Agent sent to registries.
const USER_AGENT: &str = concat!("pgext-oci/", env!("CARGO_PKG_VERSION"));

/// Connection settings for a registry.
pub(crate) struct RegistrySettings<'a> {
    pub insecure: &'a [String],
    pub connect_timeout: Option<std::time::Duration>,
    pub read_timeout: Option<std::time::Duration>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub platform: &'a Platform,
}

/// A registry repository plus a client configured for it.
pub(crate) struct RegistrySource {
    client: Client,
    auth: RegistryAuth,
    registry: String,
    api_host: String,
    repository: String,
}

impl RegistrySource {
    /// A client for `reference`'s registry. TLS is always verified; plain HTTP is used only for
    /// registries listed in `settings.insecure` (host:port, exactly as in the reference).
    pub(crate) fn new(
        reference: &RegistryReference,
        auth: RegistryAuth,
        settings: &RegistrySettings<'_>,
    ) -> Result<Self, OciError> {
        let want = settings.platform.clone();
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(settings.insecure.to_vec()),
            connect_timeout: settings.connect_timeout,
            read_timeout: settings.read_timeout,
            user_agent: USER_AGENT,
            https_proxy: settings.https_proxy.clone(),
            no_proxy: settings.no_proxy.clone(),
            // Only used by oci-client's own pull helpers; verification selects platforms itself
            // (from the exact index bytes), with the same rule.
            platform_resolver: Some(Box::new(move |entries: &[ImageIndexEntry]| {
                resolve_platform(entries, &want)
            })),
            ..ClientConfig::default()
        };
        let api_host = reference.api_host().to_owned();
        let client =
            Client::try_from(config).map_err(|e| OciError::registry(&api_host, "configuring the HTTP client", e))?;
        Ok(RegistrySource {
            client,
            auth,
            registry: reference.registry().to_owned(),
            api_host,
            repository: reference.repository().to_owned(),
        })
    }

    pub(crate) fn describe(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    fn by_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(self.registry.clone(), self.repository.clone(), tag.to_owned())
    }

    fn by_digest(&self, digest: &Digest) -> Reference {
        Reference::with_digest(self.registry.clone(), self.repository.clone(), digest.to_string())
    }

    /// What `tag` points at now (computed from the bytes: a Docker-Content-Digest header alone
    /// proves nothing), with the manifest's bytes; `None` if the tag does not exist.
    pub(crate) async fn resolve_tag(
        &self,
        tag: &str,
        algorithm: Algorithm,
        intr: &Interrupt<'_>,
    ) -> Result<Option<(Digest, Vec<u8>)>, OciError> {
        intr.set_phase(format!("resolving tag {tag:?} of {}", self.describe()));
        let reference = self.by_tag(tag);
        let res = intr
            .run(async {
                self.client
                    .pull_manifest_raw(&reference, &self.auth, ACCEPTED_MANIFESTS)
                    .await
                    .map_err(|e| OciError::registry(&self.api_host, format!("resolving tag {tag:?}"), e))
            })
            .await;
        match res {
            Ok((bytes, _)) => Ok(Some((Digest::of(algorithm, &bytes), bytes.to_vec()))),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn manifest(&self, digest: &Digest, intr: &Interrupt<'_>) -> Result<Vec<u8>, OciError> {
        intr.set_phase(format!("fetching manifest {digest} of {}", self.describe()));
        let reference = self.by_digest(digest);
        let (bytes, _) = intr
            .run(async {
                self.client
                    .pull_manifest_raw(&reference, &self.auth, ACCEPTED_MANIFESTS)
                    .await
                    .map_err(|e| OciError::registry(&self.api_host, format!("fetching manifest {digest}"), e))
            })
            .await?;
        Ok(bytes.to_vec())
    }

    pub(crate) async fn blob(&self, sink: &mut BlobSink<'_, '_>, intr: &Interrupt<'_>) -> Result<(), OciError> {
        let digest = sink.digest().clone();
        intr.set_phase(format!(
            "downloading blob {digest} ({} bytes) of {}",
            sink.size(),
            self.describe()
        ));
        let reference = self.by_digest(&digest);
        let during = format!("downloading blob {digest}");
        intr.run(async {
            // A bare digest as descriptor: alternative `urls` from a manifest are never followed.
            // Asked as the range "from byte 0": a registry that honours it answers 206, which
            // oci-client passes through without hashing it a second time (the sink's digest is
            // the one that counts either way; a plain 200 answer is hashed by both).
            let response = self
                .client
                .pull_blob_stream_partial(&reference, digest.to_string().as_str(), 0, None)
                .await
                .map_err(|e| OciError::registry(&self.api_host, during.as_str(), e))?;
            let (BlobResponse::Full(mut stream) | BlobResponse::Partial(mut stream)) = response;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| io_to_registry(&self.api_host, &during, e))?;
                sink.write(&chunk)?;
            }
            Ok(())
        })
        .await
    }
}

/// Stream errors arrive as `io::Error`; keep the cause and classify what it wraps.
fn io_to_registry(api_host: &str, during: &str, e: std::io::Error) -> OciError {
    let code = crate::error::classify_io(&e);
    OciError::Registry {
        code,
        registry: api_host.to_owned(),
        during: during.to_owned(),
        source: oci_client::errors::OciDistributionError::IoError(e),
    }
}

/// oci-client's platform resolver with [`Platform::matches`] semantics.
fn resolve_platform(entries: &[ImageIndexEntry], want: &Platform) -> Option<String> {
    let of = |e: &ImageIndexEntry| {
        e.platform.as_ref().map(|p| Platform {
            os: p.os.to_string(),
            architecture: p.architecture.to_string(),
            variant: p.variant.clone(),
        })
    };
    let candidates: Vec<(&ImageIndexEntry, Platform)> = entries
        .iter()
        .filter_map(|e| of(e).filter(|p| want.matches(p)).map(|p| (e, p)))
        .collect();
    candidates
        .iter()
        .find(|(_, p)| p.variant == want.variant)
        .or_else(|| candidates.first())
        .map(|(e, _)| e.digest.clone())
}
