//! The remote tier: Turborepo's remote-cache HTTP API, so the open-source
//! `turborepo-remote-cache` server (npm) or any compatible service holds
//! the artifacts run-parallel's runners share.
//!
//! - `GET /v8/artifacts/{hash}?slug={team}`: 200 with the artifact, 404
//!   when there is none; `PUT` the same URL with the artifact as the body.
//!   `Authorization: Bearer {token}`.
//! - Signing (when a key is set): `x-artifact-tag` = base64 of
//!   HMAC-SHA256(key, `{"hash":…,"teamId":…}` followed by the artifact),
//!   Turborepo's scheme. A fetched artifact whose tag is missing or does
//!   not verify is a miss: a writer without the key (a fork's pull
//!   request with a read-only token) cannot plant what main restores.
//! - Any transport failure marks the remote down for the rest of the run
//!   (one warning); the local tier goes on alone. Nothing is lost: an
//!   artifact that could not be uploaded is still in the local cache.
//!
//! The token is only ever read from the environment and sent in the
//! header; it is never logged, shown in an error or written to a receipt.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Largest artifact fetched (a bigger answer is refused, not read).
const MAX_ARTIFACT: u64 = 1 << 30;

/// A remote cache endpoint.
pub struct Remote {
    /// Base URL, e.g. `http://127.0.0.1:3000` (no trailing slash).
    base: String,
    team: String,
    token: Option<String>,
    key: Option<Vec<u8>>,
    agent: ureq::Agent,
    down: AtomicBool,
}

impl std::fmt::Debug for Remote {
    // the token stays out of every Debug print
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("base", &self.base)
            .field("team", &self.team)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("signed", &self.key.is_some())
            .finish()
    }
}

/// A fetch's outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    Hit(Vec<u8>),
    Miss,
    /// The artifact's signature is missing or wrong: a miss, and a warning.
    BadSignature,
}

impl Remote {
    pub fn new(base: &str, team: &str, token: Option<String>, key: Option<Vec<u8>>) -> Remote {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(3)))
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Remote {
            base: base.trim_end_matches('/').to_string(),
            team: team.to_string(),
            token,
            key,
            agent,
            down: AtomicBool::new(false),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn team(&self) -> &str {
        &self.team
    }

    pub fn signed(&self) -> bool {
        self.key.is_some()
    }

    /// Whether a transport failure took the remote out of this run.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn url(&self, hash: &str) -> String {
        format!("{}/v8/artifacts/{hash}?slug={}", self.base, self.team)
    }

    /// Turborepo's artifact tag for `body` under `hash`.
    pub fn tag(&self, hash: &str, body: &[u8]) -> Option<String> {
        let key = self.key.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        let meta = serde_json::json!({"hash": hash, "teamId": self.team}).to_string();
        mac.update(meta.as_bytes());
        mac.update(body);
        Some(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> String {
        self.down.store(true, Ordering::Relaxed);
        format!(
            "remote cache {} unreachable ({what}: {e}); going on with the local cache",
            self.base
        )
    }

    /// Fetches artifact `hash`. `Err`: the remote failed (now down).
    pub fn get(&self, hash: &str) -> Result<Fetched, String> {
        if self.is_down() {
            return Ok(Fetched::Miss);
        }
        let mut req = self.agent.get(&self.url(hash));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().map_err(|e| self.failed("GET", e))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(Fetched::Miss),
            401 | 403 => {
                return Err(self.failed("GET", format!("HTTP {}: check the token", resp.status())))
            }
            s => return Err(self.failed("GET", format!("HTTP {s}"))),
        }
        let tag = resp
            .headers()
            .get("x-artifact-tag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_ARTIFACT)
            .read_to_end(&mut body)
            .map_err(|e| self.failed("GET body", e))?;
        if self.key.is_some() && !self.verify(hash, &body, tag.as_deref()) {
            return Ok(Fetched::BadSignature);
        }
        Ok(Fetched::Hit(body))
    }

    /// Whether the remote holds artifact `hash` (`HEAD`), for the dry run.
    /// `Err`: the remote failed (now down).
    pub fn exists(&self, hash: &str) -> Result<bool, String> {
        if self.is_down() {
            return Ok(false);
        }
        let mut req = self.agent.head(&self.url(hash));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let resp = req.call().map_err(|e| self.failed("HEAD", e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            s => Err(self.failed("HEAD", format!("HTTP {s}"))),
        }
    }

    /// Whether `tag` is `body`'s tag (constant time).
    fn verify(&self, hash: &str, body: &[u8], tag: Option<&str>) -> bool {
        let (Some(key), Some(tag)) = (&self.key, tag) else {
            return false;
        };
        let Ok(want) = base64::engine::general_purpose::STANDARD.decode(tag) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        let meta = serde_json::json!({"hash": hash, "teamId": self.team}).to_string();
        mac.update(meta.as_bytes());
        mac.update(body);
        mac.verify_slice(&want).is_ok()
    }

    /// Uploads artifact `hash`. `Err`: the remote failed or refused.
    pub fn put(&self, hash: &str, body: &[u8]) -> Result<(), String> {
        if self.is_down() {
            return Ok(());
        }
        let mut req = self
            .agent
            .put(&self.url(hash))
            .header("Content-Type", "application/octet-stream");
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        if let Some(tag) = self.tag(hash, body) {
            req = req.header("x-artifact-tag", &tag);
        }
        let resp = req.send(body).map_err(|e| self.failed("PUT", e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            // a read-only token or server: not an outage
            401 | 403 => Err(format!(
                "remote cache {} refused the upload (HTTP {}): a read-only token?",
                self.base,
                resp.status().as_u16()
            )),
            s => Err(self.failed("PUT", format!("HTTP {s}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_and_any_change_breaks_them() {
        let r = Remote::new("http://127.0.0.1:9", "team", None, Some(b"k3y".to_vec()));
        let tag = r.tag("abc", b"body").unwrap();
        assert!(r.verify("abc", b"body", Some(&tag)));
        assert!(!r.verify("abc", b"bodY", Some(&tag)));
        assert!(!r.verify("abd", b"body", Some(&tag)));
        assert!(!r.verify("abc", b"body", None));
        let other = Remote::new("http://127.0.0.1:9", "team", None, Some(b"other".to_vec()));
        assert!(!other.verify("abc", b"body", Some(&tag)));
        // the token never shows in a Debug print
        let t = Remote::new("http://x", "t", Some("s3cr3t".into()), None);
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_closed_port_takes_the_remote_down_without_failing() {
        // port 9 (discard) is closed on loopback here
        let r = Remote::new("http://127.0.0.1:9", "team", None, None);
        let e = r.get("abc").unwrap_err();
        assert!(
            e.contains("unreachable") && e.contains("local cache"),
            "{e}"
        );
        assert!(r.is_down());
        assert_eq!(r.get("abc").unwrap(), Fetched::Miss);
        assert!(r.put("abc", b"x").is_ok());
    }
}
