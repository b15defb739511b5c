//! Registry credentials, read from a docker `config.json` (the format of a Kubernetes
//! `kubernetes.io/dockerconfigjson` secret).
//!
//! Secrets never reach a message: [`RegistryCredentials`]' `Debug` redacts the password, it has no
//! `Display`, and parse errors report only line and column, never the offending text.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

use crate::error::OciError;
use crate::reference::{DOCKER_HUB, DOCKER_HUB_API};

/// User name and password for HTTP basic authentication to a registry (also how token-based
/// registries take a token: as the password).
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    username: String,
    password: String,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl RegistryCredentials {
    /// Credentials from parts.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        RegistryCredentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name (not secret; shown in `Debug`).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password, for the HTTP client only.
    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    /// Finds the credentials for `registry_host` (as in [`crate::RegistryReference::api_host`]) in a
    /// docker `config.json`. Keys may be bare hosts or URLs (`https://index.docker.io/v1/`); an
    /// entry has `auth` (base64 of `user:password`) or `username` + `password`. `Ok(None)` when no
    /// entry matches or the entry has neither (credential helpers and identity tokens cannot be
    /// used from inside a database server).
    pub fn from_docker_config(json: &[u8], registry_host: &str) -> Result<Option<Self>, OciError> {
        let config: DockerConfig = serde_json::from_slice(json).map_err(|e| {
            // serde_json messages may quote the offending value — which may be a secret.
            OciError::malformed(
                "docker config.json",
                format!(
                    "{} error at line {} column {}",
                    json_category(e.classify()),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        let want = normalize_host(registry_host);
        let entry = config
            .auths
            .iter()
            .filter(|(key, _)| normalize_host(key) == want)
            // A bare host key wins over a URL key when both exist: it is the more specific spelling.
            .min_by_key(|(key, _)| key.contains("://"))
            .map(|(_, entry)| entry);
        let Some(entry) = entry else { return Ok(None) };
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| {
                    OciError::malformed(
                        "docker config.json",
                        format!("auths.{registry_host}.auth is not base64"),
                    )
                })?;
            let decoded = String::from_utf8(decoded).map_err(|_| {
                OciError::malformed("docker config.json", format!("auths.{registry_host}.auth is not UTF-8"))
            })?;
            let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                OciError::malformed(
                    "docker config.json",
                    format!("auths.{registry_host}.auth is not user:password"),
                )
            })?;
            return Ok(Some(RegistryCredentials::new(user, pass)));
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(RegistryCredentials::new(u.clone(), p.clone()))),
            _ => Ok(None),
        }
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// serde_json's error class in words (its Debug form is Rust text, not a message).
fn json_category(c: serde_json::error::Category) -> &'static str {
    use serde_json::error::Category;
    match c {
        Category::Io => "I/O",
        Category::Syntax => "syntax",
        Category::Data => "data",
        Category::Eof => "end-of-input",
    }
}

/// `https://index.docker.io/v1/` → `index.docker.io`; every Docker Hub spelling → one name.
fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let key = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        DOCKER_HUB | DOCKER_HUB_API | "registry-1.docker.io" => DOCKER_HUB_API.to_owned(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn finds_credentials() {
        let config = format!(
            r#"{{"auths": {{
                "127.0.0.1:5000": {{"auth": "{}"}},
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "ghcr.io": {{"username": "bob", "password": "tok:en"}},
                "quay.io": {{"identitytoken": "x"}}
            }}, "credsStore": "desktop"}}"#,
            b64("alice:s3cr:et"),
            b64("hub:pw")
        );
        let cases = [
            ("127.0.0.1:5000", Some(("alice", "s3cr:et"))),
            ("index.docker.io", Some(("hub", "pw"))),
            ("docker.io", Some(("hub", "pw"))),
            ("ghcr.io", Some(("bob", "tok:en"))),
            ("GHCR.io", Some(("bob", "tok:en"))),
            ("quay.io", None),
            ("127.0.0.1:5001", None),
        ];
        for (host, want) in cases {
            let got = RegistryCredentials::from_docker_config(config.as_bytes(), host).unwrap();
            let want = want.map(|(u, p)| RegistryCredentials::new(u, p));
            assert_eq!(got, want, "{host}");
        }
    }

    #[test]
    fn never_shows_secrets() {
        let c = RegistryCredentials::new("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let bad = br#"{"auths": {"r": {"auth": 12345678}}}"#;
        let err = RegistryCredentials::from_docker_config(bad, "r")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("12345678"), "{err}");
        let bad = format!(r#"{{"auths": {{"r": {{"auth": "{}"}}}}}}"#, b64("no-colon-hunter2"));
        let err = RegistryCredentials::from_docker_config(bad.as_bytes(), "r").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(err.code(), crate::ErrorCode::Malformed);
    }
}
