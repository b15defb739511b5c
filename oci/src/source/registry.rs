//! Registry access (OCI distribution API, pull only): exact manifest bytes, streamed blobs.
//!
//! Written on reqwest rather than oci-client because a registry is untrusted and oci-client reads
//! manifests, token replies and error bodies whole into memory before any size check, follows
//! reqwest's default redirect policy (HTTPS to plain HTTP included) and keeps error bodies in its
//! errors. Pull needs three requests (manifest, blob, token), so owning them is simpler than
//! wrapping a client that cannot be bounded. Here:
//! - every body is read with a cap enforced while it streams ([`MAX_MANIFEST_BYTES`],
//!   [`MAX_TOKEN_BYTES`], [`MAX_ERROR_BYTES`]; blobs by their descriptor's size in the sink);
//! - redirects and token realms never lead from HTTPS to plain HTTP (only hosts in the insecure
//!   list are spoken to in plain HTTP), at most [`MAX_REDIRECTS`] redirects are followed;
//! - an error answer is kept as its status and OCI error code only (see [`RegistryFailure`]);
//! - host names are resolved on detached threads ([`super::dns`]), so a cancel never waits for DNS.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode, Url};

use super::BlobSink;
use super::dns::{DetachedResolver, Lookup};
use crate::auth::RegistryCredentials;
use crate::digest::{Algorithm, Digest};
use crate::error::{ErrorCode, OciError, RegistryFailure, classify_status};
use crate::interrupt::Interrupt;
use crate::manifest::{ACCEPTED_MANIFESTS, OCI_INDEX};
use crate::reference::RegistryReference;

/// User-Agent sent to registries.
const USER_AGENT: &str = concat!("pgext-oci/", env!("CARGO_PKG_VERSION"));

/// Hard cap on a manifest or index, whatever the limits say: the size distribution itself
/// refuses to store beyond.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Hard cap on a token server's reply (real ones are a few KiB).
pub const MAX_TOKEN_BYTES: u64 = 256 << 10;
/// Hard cap on the part of an error answer that is read (to find its OCI error code).
pub const MAX_ERROR_BYTES: u64 = 64 << 10;
/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Connection settings for a registry.
pub(crate) struct RegistrySettings<'a> {
    pub insecure: &'a [String],
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub lookup: Lookup,
}

/// How requests are authorized, learnt from the registry's challenges.
enum Authorization {
    None,
    Basic,
    Bearer(HeaderValue),
}

/// A registry repository plus a client configured for it.
pub(crate) struct RegistrySource {
    http: reqwest::Client,
    credentials: Option<RegistryCredentials>,
    authorization: Mutex<Authorization>,
    insecure: Vec<String>,
    registry: String,
    api_host: String,
    /// `https://host[:port]/v2/repository` (`http://` for insecure registries).
    base: String,
    repository: String,
}

/// `host[:port]` of a URL as written in insecure-registry entries (port only if explicit).
fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// Whether `url` may be requested: HTTPS always, plain HTTP only to an insecure host.
fn scheme_allowed(url: &Url, insecure: &[String]) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if insecure.iter().any(|h| *h == host_port(url)) => Ok(()),
        "http" => Err(format!(
            "refusing plain HTTP to {} (not an insecure registry)",
            host_port(url)
        )),
        other => Err(format!("refusing URL scheme {other:?}")),
    }
}

impl RegistrySource {
    /// A client for `reference`'s registry. TLS is always verified; plain HTTP is used only for
    /// registries listed in `settings.insecure` (host:port, exactly as in the reference).
    pub(crate) fn new(
        reference: &RegistryReference,
        credentials: Option<RegistryCredentials>,
        settings: &RegistrySettings<'_>,
    ) -> Result<Self, OciError> {
        let api_host = reference.api_host().to_owned();
        let insecure = settings.insecure.to_vec();
        let scheme = if insecure.contains(&api_host) { "http" } else { "https" };
        let configuring = |e: reqwest::Error| OciError::transport(&api_host, "configuring the HTTP client", e);
        let policy_insecure = insecure.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match scheme_allowed(attempt.url(), &policy_insecure) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(format!("redirect: {why}")),
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(policy)
            // A configured proxy replaces the environment's (HTTPS_PROXY, NO_PROXY), as before.
            .dns_resolver(DetachedResolver::new(settings.lookup));
        if let Some(t) = settings.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = settings.read_timeout {
            builder = builder.read_timeout(t);
        }
        if let Some(p) = settings.https_proxy.as_deref().filter(|p| !p.is_empty()) {
            let proxy = reqwest::Proxy::https(p)
                .map_err(configuring)?
                .no_proxy(settings.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string));
            builder = builder.proxy(proxy);
        }
        let http = builder.build().map_err(configuring)?;
        Ok(RegistrySource {
            http,
            credentials,
            authorization: Mutex::new(Authorization::None),
            insecure,
            registry: reference.registry().to_owned(),
            base: format!("{scheme}://{api_host}/v2/{}", reference.repository()),
            api_host,
            repository: reference.repository().to_owned(),
        })
    }

    pub(crate) fn describe(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What `tag` points at now (computed from the bytes: a Docker-Content-Digest header alone
    /// proves nothing), with the manifest's bytes; `None` if the tag does not exist.
    pub(crate) async fn resolve_tag(
        &self,
        tag: &str,
        algorithm: Algorithm,
        max: u64,
        intr: &Interrupt<'_>,
    ) -> Result<Option<(Digest, Vec<u8>)>, OciError> {
        intr.set_phase(format!("resolving tag {tag:?} of {}", self.describe()));
        let during = format!("resolving tag {tag:?}");
        let res = intr
            .run(self.get_manifest(&format!("{}/manifests/{tag}", self.base), max, &during))
            .await;
        match res {
            Ok(bytes) => Ok(Some((Digest::of(algorithm, &bytes), bytes))),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn manifest(&self, digest: &Digest, max: u64, intr: &Interrupt<'_>) -> Result<Vec<u8>, OciError> {
        intr.set_phase(format!("fetching manifest {digest} of {}", self.describe()));
        let during = format!("fetching manifest {digest}");
        intr.run(self.get_manifest(&format!("{}/manifests/{digest}", self.base), max, &during))
            .await
    }

    /// The OCI 1.1 referrers API's listing of the manifests whose subject is `digest` (an image
    /// index; not content-addressed, so each entry is fetched by digest and checked after).
    /// `None` where the registry does not answer it (no such API: 404, or any refusal) — the
    /// caller falls back to the referrers tag schema; only a cancel or a timeout is an error.
    pub(crate) async fn referrers(
        &self,
        digest: &Digest,
        max: u64,
        intr: &Interrupt<'_>,
    ) -> Result<Option<Vec<u8>>, OciError> {
        intr.set_phase(format!("listing the referrers of {digest} in {}", self.describe()));
        let during = format!("listing the referrers of {digest}");
        let res = intr
            .run(async {
                let response = self
                    .get(&format!("{}/referrers/{digest}", self.base), Some(OCI_INDEX), &during)
                    .await?;
                self.read_capped(response, max.min(MAX_MANIFEST_BYTES), "referrers index", &during)
                    .await
            })
            .await;
        match res {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if matches!(e.code(), ErrorCode::Cancelled | ErrorCode::Timeout) => Err(e),
            Err(_) => Ok(None),
        }
    }

    async fn get_manifest(&self, url: &str, max: u64, during: &str) -> Result<Vec<u8>, OciError> {
        let max = max.min(MAX_MANIFEST_BYTES);
        let response = self.get(url, Some(&ACCEPTED_MANIFESTS.join(", ")), during).await?;
        self.read_capped(response, max, "manifest", during).await
    }

    pub(crate) async fn blob(&self, sink: &mut BlobSink<'_, '_>, intr: &Interrupt<'_>) -> Result<(), OciError> {
        let digest = sink.digest().clone();
        intr.set_phase(format!(
            "downloading blob {digest} ({} bytes) of {}",
            sink.size(),
            self.describe()
        ));
        let during = format!("downloading blob {digest}");
        intr.run(async {
            // A bare digest: alternative `urls` from a manifest are never followed.
            let mut response = self
                .get(&format!("{}/blobs/{digest}", self.base), None, &during)
                .await?;
            // A length that differs from the descriptor's is a lie told up front.
            if let Some(len) = content_length(&response)
                && len != sink.size()
            {
                return Err(OciError::DigestMismatch {
                    what: format!("blob {digest} of {} (size)", self.describe()),
                    expected: format!("{} bytes", sink.size()),
                    actual: format!("{len} bytes (Content-Length)"),
                });
            }
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| OciError::transport(&self.api_host, during.as_str(), e))?
            {
                sink.write(&chunk)?;
            }
            Ok(())
        })
        .await
    }

    /// GET `url`, answering the registry's authentication challenge once if there is one. Errors
    /// on any status but 200 (with the status and OCI error code only).
    async fn get(&self, url: &str, accept: Option<&str>, during: &str) -> Result<Response, OciError> {
        let mut challenged = false;
        loop {
            let mut request = self.http.get(url);
            if let Some(a) = accept {
                request = request.header(ACCEPT, a);
            }
            request = self.authorize(request);
            let response = request
                .send()
                .await
                .map_err(|e| OciError::transport(&self.api_host, during, e))?;
            let status = response.status();
            if status == StatusCode::OK {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse);
                match challenge {
                    Some(Challenge::Bearer { realm, service, scope }) => {
                        drop(response);
                        let token = self.token(&realm, service.as_deref(), scope.as_deref(), during).await?;
                        *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Authorization::Bearer(token);
                        continue;
                    }
                    Some(Challenge::Basic) if self.credentials.is_some() => {
                        *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Authorization::Basic;
                        continue;
                    }
                    _ => {}
                }
            }
            return Err(self.status_error(response, during).await);
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &*self.authorization.lock().unwrap_or_else(|p| p.into_inner()) {
            Authorization::None => request,
            Authorization::Basic => match &self.credentials {
                Some(c) => request.basic_auth(c.username(), Some(c.password())),
                None => request,
            },
            Authorization::Bearer(token) => request.header(AUTHORIZATION, token.clone()),
        }
    }

    /// A bearer token from `realm` (the registry's choice: it must be HTTPS unless its host is an
    /// insecure registry), with the credentials if any.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        during: &str,
    ) -> Result<HeaderValue, OciError> {
        let during = format!("{during}: getting a token");
        let protocol = |code, why: String| {
            OciError::registry(code, &self.api_host, during.as_str(), RegistryFailure::Protocol(why))
        };
        let mut url =
            Url::parse(realm).map_err(|_| protocol(ErrorCode::Malformed, "the token realm is not a URL".into()))?;
        scheme_allowed(&url, &self.insecure)
            .map_err(|why| protocol(ErrorCode::Unreachable, format!("token realm: {why}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            let default_scope = format!("repository:{}:pull", self.repository);
            q.append_pair("scope", scope.unwrap_or(&default_scope));
        }
        let mut request = self.http.get(url);
        if let Some(c) = &self.credentials {
            request = request.basic_auth(c.username(), Some(c.password()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| OciError::transport(&self.api_host, during.as_str(), e))?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(response, &during).await);
        }
        let body = self
            .read_capped(response, MAX_TOKEN_BYTES, "token reply", &during)
            .await?;
        #[derive(serde::Deserialize)]
        struct Reply {
            token: Option<String>,
            access_token: Option<String>,
        }
        // serde_json's messages may quote the reply (a secret): only say that it is malformed.
        let reply: Reply = serde_json::from_slice(&body)
            .map_err(|_| protocol(ErrorCode::Malformed, "the token reply is not the expected JSON".into()))?;
        let token = reply
            .token
            .filter(|t| !t.is_empty())
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| protocol(ErrorCode::Malformed, "the token reply has no token".into()))?;
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            protocol(
                ErrorCode::Malformed,
                "the token has characters a header cannot carry".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The error for a non-200 answer: its status and, from at most [`MAX_ERROR_BYTES`] of its
    /// body, the first OCI error code if well-formed. Nothing else of the body is kept.
    async fn status_error(&self, response: Response, during: &str) -> OciError {
        let status = response.status().as_u16();
        let oci_code = match read_limited(response, MAX_ERROR_BYTES).await {
            Ok(body) => oci_error_code(&body),
            Err(_) => None,
        };
        let code = classify_status(status, oci_code.as_deref());
        OciError::registry(
            code,
            &self.api_host,
            during,
            RegistryFailure::Status { status, oci_code },
        )
    }

    /// The whole body, refused as soon as it is known to exceed `max` (from Content-Length, or
    /// while it streams).
    async fn read_capped(&self, response: Response, max: u64, what: &str, during: &str) -> Result<Vec<u8>, OciError> {
        let too_large = || OciError::TooLarge {
            what: format!("{what} from {} ({during})", self.api_host),
            limit: max,
            unit: "bytes",
        };
        if content_length(&response).is_some_and(|len| len > max) {
            return Err(too_large());
        }
        match read_limited(response, max).await {
            Ok(body) if body.len() as u64 > max => Err(too_large()),
            Ok(body) => Ok(body),
            Err(e) => Err(OciError::transport(&self.api_host, during, e)),
        }
    }
}

fn content_length(response: &Response) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads at most `max + 1` bytes of the body (one more than allowed tells "too large"); the rest
/// is never read (the connection is closed when the response is dropped).
async fn read_limited(mut response: Response, max: u64) -> Result<Vec<u8>, reqwest::Error> {
    let limit = usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

/// The first OCI error code of an error body (`{"errors":[{"code":"MANIFEST_UNKNOWN",…}]}`),
/// only if it is `[A-Z_]{1,64}`: anything else the registry wrote is dropped.
pub(crate) fn oci_error_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: serde_json::Value,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let code = envelope.errors.first()?.code.as_str()?;
    let ok = (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    ok.then(|| code.to_owned())
}

/// A `WWW-Authenticate` challenge pgext can answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses the first challenge of a `WWW-Authenticate` value (RFC 9110 §11.6.1: a scheme, then
    /// `name=value` parameters, values as tokens or quoted strings). `None` if it is neither
    /// Basic nor Bearer with a realm.
    pub(crate) fn parse(value: &str) -> Option<Challenge> {
        let value = value.trim_start();
        let (scheme, mut rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let (mut realm, mut service, mut scope) = (None, None, None);
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let (name, after) = rest.split_once('=')?;
            let name = name.trim();
            let after = after.trim_start();
            let (val, next) = if let Some(quoted) = after.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => out.push(chars.next()?.1),
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        c => out.push(c),
                    }
                }
                (out, &quoted[end?..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            match name.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(val),
                "service" => service = Some(val),
                "scope" => scope = Some(val),
                _ => {}
            }
            rest = next;
        }
        Some(Challenge::Bearer {
            realm: realm.filter(|r| !r.is_empty())?,
            service,
            scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let bearer = |realm: &str, service: Option<&str>, scope: Option<&str>| Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
        };
        let cases = [
            (r#"Basic realm="Registry Realm""#, Some(Challenge::Basic)),
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/postgres:pull""#,
                Some(bearer(
                    "https://auth.docker.io/token",
                    Some("registry.docker.io"),
                    Some("repository:library/postgres:pull"),
                )),
            ),
            (
                r#"bearer realm=https://t/x, scope="a,b\"c""#,
                Some(bearer("https://t/x", None, Some("a,b\"c"))),
            ),
            (r#"Bearer service="s""#, None),
            (r#"Bearer realm="unterminated"#, None),
            ("Negotiate", None),
            ("", None),
        ];
        for (value, want) in cases {
            assert_eq!(Challenge::parse(value), want, "{value}");
        }
    }

    #[test]
    fn only_well_formed_oci_codes_are_kept() {
        let cases: [(&[u8], Option<&str>); 6] = [
            (
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"<script>"}]}"#,
                Some("MANIFEST_UNKNOWN"),
            ),
            (br#"{"errors":[{"code":"manifest unknown"}]}"#, None),
            (
                br#"{"errors":[{"code":"A_VERY_LONG_CODE_THAT_GOES_ON_AND_ON_AND_ON_AND_ON_AND_ON_AND_ON_AND_ON"}]}"#,
                None,
            ),
            (br#"{"errors":[]}"#, None),
            (b"<html>502 Bad Gateway</html>", None),
            (br#"{"errors":[{"code":42}]}"#, None),
        ];
        for (body, want) in cases {
            assert_eq!(
                oci_error_code(body).as_deref(),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn plain_http_only_to_insecure_hosts() {
        let insecure = vec!["127.0.0.1:5000".to_owned(), "reg.local".to_owned()];
        let cases = [
            ("https://example.com/x", true),
            ("http://127.0.0.1:5000/v2/", true),
            ("http://127.0.0.1:5001/v2/", false),
            ("http://reg.local/token", true),
            ("http://reg.local:80/token", true),
            ("http://example.com/x", false),
            ("ftp://127.0.0.1:5000/x", false),
            ("file:///etc/passwd", false),
        ];
        for (url, ok) in cases {
            assert_eq!(
                scheme_allowed(&Url::parse(url).unwrap(), &insecure).is_ok(),
                ok,
                "{url}"
            );
        }
    }
}
