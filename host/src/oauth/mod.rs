//! The host's OAuth 2.0 client-credentials client (RFC 6749 section 4.4), with
//! `private_key_jwt` client authentication (RFC 7523) and DPoP (RFC 9449).
//!
//! Vendor-neutral: the token endpoint and the scopes come from the connector's
//! manifest, the client id and key from the tenant. For each token it signs a fresh
//! client assertion (`iss` = `sub` = client id, `aud` = the token URL, a five-minute
//! `exp`, a unique `jti`: a server may spend the `jti` even when it refuses the
//! request). It keeps the token until shortly before it expires and hands the
//! gateway the headers of each API request: `Bearer <token>`, or `DPoP <token>`
//! with a proof of its own (`htm`, `htu` without query or fragment, `iat`, a fresh
//! `jti`, `ath`).
//!
//! Whether the server wants DPoP is learned from its answers (a refusal for a
//! missing proof, `use_dpop_nonce` with a `DPoP-Nonce` header, or a token of type
//! DPoP), or forced by the tenant. DPoP proofs are signed with a P-256 key made for
//! this client, held in memory only. The guest never sees the key, the assertion or
//! the token: they live here and in the gateway's outgoing headers.

pub mod jws;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use jws::{b64, random_id, sign_compact, PrivateKey};

/// How long a client assertion is valid.
const ASSERTION_LIFETIME_S: i64 = 300;
/// Token requests per token: the first, one after a DPoP refusal, one with a nonce,
/// one with a rotated nonce.
const MAX_TOKEN_ATTEMPTS: usize = 4;
/// The lifetime assumed when the server does not say.
const DEFAULT_EXPIRES_IN_S: u64 = 300;
/// Tokens kept for redaction (a long run may see a few).
const REDACT_KEEP: usize = 16;
const DPOP: HeaderName = HeaderName::from_static("dpop");
const DPOP_NONCE: &str = "dpop-nonce";

/// What the client needs to get tokens for one tenant.
pub struct OAuthGrant {
    /// The token endpoint (the tenant's base URL and the manifest's token path).
    pub token_url: url::Url,
    pub client_id: String,
    /// The `kid` of the registered public key, when the server needs it.
    pub key_id: Option<String>,
    pub key: PrivateKey,
    pub scopes: Vec<String>,
    /// Send DPoP proofs from the first request on.
    pub dpop: bool,
}

/// How an access token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Bearer,
    DPoP,
}

/// An access token and when to get the next one.
pub struct AccessToken {
    value: SecretString,
    kind: TokenKind,
    refresh_at: Instant,
    /// Which fetch produced it (1 = the first).
    serial: u64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AccessToken({:?} #{}, [REDACTED])",
            self.kind, self.serial
        )
    }
}

/// Why no access token was obtained. The messages say what to change in the
/// authorization server's admin console (for the service app) or in the tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("the authorization server refused client id `{client_id}` (invalid_client: {description}): check the Client ID on the service app's General tab in the admin console, and that the app is Active; then `kri tenant remove` and add the tenant again with the right --oauth-client-id")]
    InvalidClient {
        client_id: String,
        description: String,
    },
    #[error("the authorization server does not accept the key that signed the client assertion (invalid_client: {description}): add the public key of --private-key-file to the service app's Public Keys in the admin console{kid_advice}, or add the tenant again with the key that is registered")]
    UnknownKey {
        description: String,
        kid_advice: String,
    },
    #[error("the service app is not granted the scopes `{scopes}` (invalid_scope: {description}): grant them on the app's API Scopes tab in the admin console, or ask for fewer with --scopes")]
    InvalidScope { scopes: String, description: String },
    #[error("the authorization server refused the token request with HTTP {status} ({error}: {description})")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    #[error("the token endpoint's answer is not usable: {0}")]
    Malformed(String),
    #[error("cannot reach the token endpoint: {0}")]
    Transport(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Gets, caches and presents a tenant's access tokens. One per tenant and
/// credential, shared by the tenant's runs.
pub struct OAuthClient {
    grant: OAuthGrant,
    http: reqwest::Client,
    dpop_key: PrivateKey,
    dpop: AtomicBool,
    nonce: Mutex<Option<String>>,
    current: tokio::sync::Mutex<Option<Arc<AccessToken>>>,
    issued: Mutex<Vec<SecretString>>,
    fetched: AtomicU64,
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// `url` without query and fragment, as DPoP's `htu` wants it.
fn htu(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// When to fetch the next token: before expiry by a quarter of the lifetime, at
/// most a minute.
fn refresh_after(expires_in_s: u64) -> Duration {
    let life = Duration::from_secs(expires_in_s);
    life.saturating_sub((life / 4).min(Duration::from_secs(60)))
}

impl OAuthClient {
    /// `http` must apply the tenant's egress policy (the gateway builds it).
    pub fn new(grant: OAuthGrant, http: reqwest::Client) -> OAuthClient {
        OAuthClient {
            dpop: AtomicBool::new(grant.dpop),
            grant,
            http,
            dpop_key: PrivateKey::generate_es256(),
            nonce: Mutex::new(None),
            current: tokio::sync::Mutex::new(None),
            issued: Mutex::new(Vec::new()),
            fetched: AtomicU64::new(0),
        }
    }

    /// How many tokens this client has fetched.
    pub fn tokens_fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Whether requests carry DPoP proofs (forced, or learned from the server).
    pub fn uses_dpop(&self) -> bool {
        self.dpop.load(Ordering::Relaxed)
    }

    /// `text` with every token this client was issued replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        let secrets: Vec<&str> = issued.iter().map(|s| s.expose_secret()).collect();
        kri_policy::redact::redact(text, &secrets)
    }

    /// `body` with every issued token redacted.
    pub fn redact_bytes(&self, body: &[u8]) -> Vec<u8> {
        let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        let secrets: Vec<&str> = issued.iter().map(|s| s.expose_secret()).collect();
        kri_policy::redact::redact_bytes(body, &secrets)
    }

    /// The current token, fetched when there is none or it is due for renewal.
    pub async fn token(&self) -> Result<Arc<AccessToken>, OAuthError> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.clone());
        }
        let fresh = Arc::new(self.fetch().await?);
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops `used` (the server refused it) so that the next request gets a new one.
    pub async fn invalidate(&self, used: &AccessToken) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.serial == used.serial) {
            *current = None;
        }
    }

    /// The headers that authorize `method url` with `token`.
    pub fn headers(
        &self,
        token: &AccessToken,
        method: &str,
        url: &url::Url,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, OAuthError> {
        let value = |s: String| {
            let mut v = HeaderValue::from_str(&s).map_err(|_| {
                OAuthError::Malformed("the access token is not a header value".into())
            })?;
            v.set_sensitive(true);
            Ok::<_, OAuthError>(v)
        };
        let secret = token.value.expose_secret();
        Ok(match token.kind {
            TokenKind::Bearer => vec![(AUTHORIZATION, value(format!("Bearer {secret}"))?)],
            TokenKind::DPoP => {
                let ath = b64(&Sha256::digest(secret.as_bytes()));
                vec![
                    (AUTHORIZATION, value(format!("DPoP {secret}"))?),
                    (DPOP, value(self.proof(method, url, None, Some(&ath)))?),
                ]
            }
        })
    }

    /// A DPoP proof for one request.
    fn proof(
        &self,
        method: &str,
        url: &url::Url,
        nonce: Option<&str>,
        ath: Option<&str>,
    ) -> String {
        let mut claims = serde_json::json!({
            "htm": method,
            "htu": htu(url),
            "iat": now_s(),
            "jti": random_id(),
        });
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
        }
        if let Some(a) = ath {
            claims["ath"] = a.into();
        }
        let header = serde_json::json!({"typ": "dpop+jwt", "jwk": self.dpop_key.public_jwk()});
        sign_compact(&self.dpop_key, header, &claims)
    }

    /// A freshly signed client assertion.
    fn assertion(&self) -> String {
        let now = now_s();
        let g = &self.grant;
        let claims = serde_json::json!({
            "iss": g.client_id,
            "sub": g.client_id,
            "aud": g.token_url.as_str(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": random_id(),
        });
        let mut header = serde_json::json!({"typ": "JWT"});
        if let Some(kid) = &g.key_id {
            header["kid"] = kid.as_str().into();
        }
        sign_compact(&g.key, header, &claims)
    }

    /// One token from the token endpoint, through the DPoP exchanges.
    async fn fetch(&self) -> Result<AccessToken, OAuthError> {
        let g = &self.grant;
        let scope = g.scopes.join(" ");
        let mut last = OAuthError::Malformed("no answer".into());
        for _ in 0..MAX_TOKEN_ATTEMPTS {
            let dpop = self.uses_dpop();
            let mut req = self
                .http
                .post(g.token_url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", scope.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", self.assertion().as_str()),
                ]);
            if dpop {
                let nonce = self.nonce.lock().unwrap_or_else(|p| p.into_inner()).clone();
                req = req.header(
                    DPOP,
                    self.proof("POST", &g.token_url, nonce.as_deref(), None),
                );
            }
            let resp = req
                .send()
                .await
                .map_err(|e| OAuthError::Transport(format!("{e:#}")))?;
            let status = resp.status().as_u16();
            let new_nonce = resp
                .headers()
                .get(DPOP_NONCE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp
                .bytes()
                .await
                .map_err(|e| OAuthError::Transport(format!("{e:#}")))?;
            if status == 200 {
                return self.accept(&body);
            }
            let err: ErrorAnswer = serde_json::from_slice(&body).unwrap_or_default();
            if let Some(n) = &new_nonce {
                *self.nonce.lock().unwrap_or_else(|p| p.into_inner()) = Some(n.clone());
            }
            match err.error.as_str() {
                "use_dpop_nonce" if new_nonce.is_some() => {
                    self.dpop.store(true, Ordering::Relaxed);
                    last = self.refused(status, err);
                }
                "invalid_dpop_proof" if !dpop => {
                    self.dpop.store(true, Ordering::Relaxed);
                    last = self.refused(status, err);
                }
                _ => return Err(self.refused(status, err)),
            }
        }
        Err(last)
    }

    /// A token answer, kept.
    fn accept(&self, body: &[u8]) -> Result<AccessToken, OAuthError> {
        let answer: TokenAnswer = serde_json::from_slice(body)
            .map_err(|e| OAuthError::Malformed(format!("not a token answer ({e})")))?;
        let value = SecretString::from(answer.access_token);
        let kind = match answer.token_type.to_ascii_lowercase().as_str() {
            "bearer" => TokenKind::Bearer,
            "dpop" => {
                self.dpop.store(true, Ordering::Relaxed);
                TokenKind::DPoP
            }
            other => {
                return Err(OAuthError::Malformed(format!(
                    "token_type `{other}` is neither Bearer nor DPoP"
                )))
            }
        };
        if value.expose_secret().is_empty() {
            return Err(OAuthError::Malformed("the access token is empty".into()));
        }
        {
            let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            if issued.len() >= REDACT_KEEP {
                issued.remove(0);
            }
            issued.push(value.clone());
        }
        let serial = self.fetched.fetch_add(1, Ordering::Relaxed) + 1;
        let expires_in = answer.expires_in.unwrap_or(DEFAULT_EXPIRES_IN_S);
        tracing::debug!(serial, ?kind, expires_in, "access token fetched");
        Ok(AccessToken {
            value,
            kind,
            refresh_at: Instant::now() + refresh_after(expires_in),
            serial,
        })
    }

    /// The error for a refused token request.
    fn refused(&self, status: u16, err: ErrorAnswer) -> OAuthError {
        let g = &self.grant;
        let description = err.error_description;
        match err.error.as_str() {
            "invalid_client" => {
                let d = description.to_ascii_lowercase();
                if d.contains("kid") || d.contains("signature") || d.contains("key") {
                    OAuthError::UnknownKey {
                        kid_advice: match &g.key_id {
                            Some(kid) => format!(" with key id `{kid}` (--key-id)"),
                            None => {
                                " (and give its key id with --key-id when the app has several keys)"
                                    .into()
                            }
                        },
                        description,
                    }
                } else {
                    OAuthError::InvalidClient {
                        client_id: g.client_id.clone(),
                        description,
                    }
                }
            }
            "invalid_scope" => OAuthError::InvalidScope {
                scopes: g.scopes.join(" "),
                description,
            },
            "" => OAuthError::Refused {
                status,
                error: "no OAuth error code".into(),
                description: "the answer is not an OAuth error".into(),
            },
            _ => OAuthError::Refused {
                status,
                error: err.error,
                description,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(refresh_after(3600), Duration::from_secs(3540));
        assert_eq!(refresh_after(100), Duration::from_secs(75));
        assert_eq!(refresh_after(2), Duration::from_millis(1500));
        assert_eq!(refresh_after(0), Duration::ZERO);
    }

    #[test]
    fn htu_drops_query_and_fragment() {
        let u = url::Url::parse("https://a.example:8443/api/v1/users?limit=2#x").expect("url");
        assert_eq!(htu(&u), "https://a.example:8443/api/v1/users");
    }

    fn client(key_id: Option<&str>) -> OAuthClient {
        OAuthClient::new(
            OAuthGrant {
                token_url: url::Url::parse("https://a.example/oauth2/v1/token").expect("url"),
                client_id: "0oa1".into(),
                key_id: key_id.map(str::to_string),
                key: PrivateKey::generate_es256(),
                scopes: vec!["a.read".into(), "b.read".into()],
                dpop: false,
            },
            reqwest::Client::new(),
        )
    }

    #[test]
    fn refusals_become_errors_that_say_what_to_fix() {
        let c = client(Some("k9"));
        let refusal = |error: &str, description: &str| ErrorAnswer {
            error: error.into(),
            error_description: description.into(),
        };
        let e = c.refused(
            401,
            refusal("invalid_client", "Invalid value for 'client_id' parameter."),
        );
        assert!(matches!(e, OAuthError::InvalidClient { .. }), "{e}");
        assert!(
            e.to_string().contains("`0oa1`") && e.to_string().contains("Active"),
            "{e}"
        );
        let e = c.refused(
            401,
            refusal("invalid_client", "The client_assertion JWT kid is invalid."),
        );
        assert!(matches!(e, OAuthError::UnknownKey { .. }), "{e}");
        assert!(
            e.to_string().contains("`k9`") && e.to_string().contains("Public Keys"),
            "{e}"
        );
        let e = c.refused(400, refusal("invalid_scope", "nope"));
        assert!(
            e.to_string().contains("`a.read b.read`") && e.to_string().contains("API Scopes"),
            "{e}"
        );
        let e = c.refused(500, ErrorAnswer::default());
        assert!(matches!(e, OAuthError::Refused { status: 500, .. }), "{e}");
    }

    #[test]
    fn a_token_answer_is_kept_and_redacted() {
        let c = client(None);
        let t = c
            .accept(br#"{"token_type":"DPoP","expires_in":3600,"access_token":"eyJ-secret-token-value"}"#)
            .expect("token");
        assert_eq!(t.kind, TokenKind::DPoP);
        assert!(c.uses_dpop(), "learned from the token type");
        assert_eq!(c.tokens_fetched(), 1);
        assert!(!format!("{t:?}").contains("secret-token"));
        assert_eq!(c.redact("x eyJ-secret-token-value y"), "x [REDACTED] y");
        let url = url::Url::parse("https://a.example/api/v1/users?limit=1").expect("url");
        let headers = c.headers(&t, "GET", &url).expect("headers");
        assert_eq!(headers[0].1, "DPoP eyJ-secret-token-value");
        assert_eq!(headers[1].0, "dpop");
        assert!(c
            .accept(br#"{"token_type":"mac","access_token":"x"}"#)
            .is_err());
        assert!(c.accept(b"<html>").is_err());
    }
}
