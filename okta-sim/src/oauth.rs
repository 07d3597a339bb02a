//! The org authorization server for one OAuth 2.0 service app: the
//! client-credentials grant at `POST /oauth2/v1/token` with `private_key_jwt`
//! client authentication, optional DPoP, and the checks an API request's access
//! token must pass.
//!
//! Shapes follow Okta's (see the OAuth section of
//! `shared/reviews/okta-graph-oauth-syslog-research.md`): errors are
//! `{"error": ..., "error_description": ...}`; an unknown or inactive client is 401
//! `invalid_client` "Invalid value for 'client_id' parameter." (Okta does not say
//! which); an unknown `kid` is 401 `invalid_client` "The client_assertion JWT kid is
//! invalid."; an ungranted scope is 400 `invalid_scope`. With DPoP required, a token
//! request without a proof is 400 `invalid_dpop_proof`, and one without the current
//! nonce is 400 `use_dpop_nonce` with a `DPoP-Nonce` header. The assertion's `jti`
//! is spent as soon as its signature checks out, even when the request is refused
//! afterwards, as Okta does. Tokens are random strings (Okta's are JWTs; clients
//! must not read them), limited to their scopes and, for DPoP, bound to the proof
//! key's thumbprint. Signatures are checked with the RustCrypto crates.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use signature::Verifier;

use crate::time::wall_clock_ms;

/// The token endpoint's path on the org.
pub const TOKEN_PATH: &str = "/oauth2/v1/token";
/// How far a proof's or assertion's `iat` may be from the server's clock.
const CLOCK_SKEW_S: i64 = 300;
/// The longest a client assertion may live (`exp` - now), as Okta allows.
const MAX_ASSERTION_LIFE_S: i64 = 3_600;

/// One service app as registered in the admin console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthApp {
    pub client_id: String,
    /// Registered public keys (`kid`, SPKI PEM), RSA or P-256.
    pub public_keys: Vec<(String, String)>,
    /// The Okta API scopes granted to the app.
    pub granted_scopes: BTreeSet<String>,
    /// "Require Demonstrating Proof of Possession (DPoP) header in token requests".
    pub require_dpop: bool,
    /// False: the app is deactivated.
    pub active: bool,
    /// Access-token lifetime (Okta: one hour); `expires_in` is rounded up to seconds.
    pub token_ttl_ms: u64,
}

impl OAuthApp {
    /// An active app with these keys and scopes, no DPoP, one-hour tokens.
    pub fn new(client_id: &str, public_keys: Vec<(String, String)>, scopes: &[&str]) -> OAuthApp {
        OAuthApp {
            client_id: client_id.to_string(),
            public_keys,
            granted_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            require_dpop: false,
            active: true,
            token_ttl_ms: 3_600_000,
        }
    }
}

/// An answer of the token endpoint.
pub struct TokenAnswer {
    pub status: u16,
    pub body: Value,
    pub dpop_nonce: Option<String>,
}

/// Why an API request's access token was refused.
pub enum TokenRefusal {
    /// 401 `E0000011`, with the `WWW-Authenticate` value.
    Invalid(String),
    /// 403 `E0000006`: the token lacks the scope, with the `WWW-Authenticate` value.
    InsufficientScope(String),
}

struct Issued {
    scopes: BTreeSet<String>,
    expires_ms: i64,
    /// The DPoP key thumbprint the token is bound to.
    jkt: Option<String>,
}

/// The authorization server's state.
pub struct AuthServer {
    app: OAuthApp,
    token_url: String,
    nonce: String,
    spent_jtis: Mutex<HashSet<String>>,
    issued: Mutex<HashMap<String, Issued>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn refusal(status: u16, error: &str, description: &str) -> TokenAnswer {
    TokenAnswer {
        status,
        body: json!({"error": error, "error_description": description}),
        dpop_nonce: None,
    }
}

fn random_b64(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A compact JWS split into its header, claims, signing input and signature.
struct Jws {
    header: Value,
    claims: Value,
    input: String,
    signature: Vec<u8>,
}

fn parse_jws(text: &str) -> Option<Jws> {
    let mut it = text.split('.');
    let (h, c, s) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let dec = |x: &str| URL_SAFE_NO_PAD.decode(x).ok();
    Some(Jws {
        header: serde_json::from_slice(&dec(h)?).ok()?,
        claims: serde_json::from_slice(&dec(c)?).ok()?,
        input: format!("{h}.{c}"),
        signature: dec(s)?,
    })
}

/// Checks a JWS signature with an SPKI PEM public key.
fn verify_pem(jws: &Jws, pem: &str) -> bool {
    match jws.header["alg"].as_str() {
        Some("RS256") => rsa::RsaPublicKey::from_public_key_pem(pem).is_ok_and(|k| {
            let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k);
            rsa::pkcs1v15::Signature::try_from(jws.signature.as_slice())
                .is_ok_and(|sig| vk.verify(jws.input.as_bytes(), &sig).is_ok())
        }),
        Some("ES256") => p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .is_ok_and(|vk| verify_es256(jws, &vk)),
        _ => false,
    }
}

fn verify_es256(jws: &Jws, vk: &p256::ecdsa::VerifyingKey) -> bool {
    p256::ecdsa::Signature::from_slice(&jws.signature)
        .is_ok_and(|sig| vk.verify(jws.input.as_bytes(), &sig).is_ok())
}

/// The P-256 key of a DPoP proof's `jwk` header and its RFC 7638 thumbprint.
fn proof_key(jwk: &Value) -> Option<(p256::ecdsa::VerifyingKey, String)> {
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return None;
    }
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str()?).ok()?;
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str()?).ok()?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let point = p256::EncodedPoint::from_affine_coordinates(
        p256::FieldBytes::from_slice(&x),
        p256::FieldBytes::from_slice(&y),
        false,
    );
    let vk = p256::ecdsa::VerifyingKey::from_encoded_point(&point).ok()?;
    let canonical = json!({"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]});
    let jkt = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string().as_bytes()));
    Some((vk, jkt))
}

/// The scope the endpoints of a family need (Okta's per-endpoint `security`).
pub fn scope_for(family: crate::Family) -> &'static str {
    use crate::Family::*;
    match family {
        Users | UserFactors | UserAppLinks => "okta.users.read",
        Logs => "okta.logs.read",
        Apps => "okta.apps.read",
        Groups => "okta.groups.read",
        Policies => "okta.policies.read",
        ApiTokens => "okta.apiTokens.read",
        Iam => "okta.roles.read",
    }
}

impl AuthServer {
    pub fn new(app: OAuthApp, base_url: &str) -> AuthServer {
        AuthServer {
            app,
            token_url: format!("{base_url}{TOKEN_PATH}"),
            nonce: random_b64(24),
            spent_jtis: Mutex::new(HashSet::new()),
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Every access token issued so far (tests search for leaks with them).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.issued).keys().cloned().collect()
    }

    /// Checks a DPoP proof for `htm htu`; `Ok` is the key's thumbprint.
    fn check_proof(
        &self,
        proof: &str,
        htm: &str,
        htu: &str,
        now_s: i64,
    ) -> Result<(String, Value), &'static str> {
        let jws = parse_jws(proof).ok_or("The DPoP proof JWT is malformed.")?;
        if jws.header["typ"] != "dpop+jwt" || jws.header["alg"] != "ES256" {
            return Err("The DPoP proof JWT header is invalid.");
        }
        let (vk, jkt) = proof_key(&jws.header["jwk"]).ok_or("The DPoP proof JWK is invalid.")?;
        if !verify_es256(&jws, &vk) {
            return Err("The DPoP proof signature is invalid.");
        }
        let c = &jws.claims;
        if c["htm"] != htm || c["htu"] != htu {
            return Err("The DPoP proof htm or htu does not match the request.");
        }
        if c["iat"]
            .as_i64()
            .is_none_or(|iat| (iat - now_s).abs() > CLOCK_SKEW_S)
        {
            return Err("The DPoP proof iat is outside the allowed window.");
        }
        let jti = c["jti"].as_str().ok_or("The DPoP proof has no jti.")?;
        if !lock(&self.spent_jtis).insert(format!("dpop:{jti}")) {
            return Err("The DPoP proof jti has already been used.");
        }
        Ok((jkt, jws.claims))
    }

    /// Answers a token request (the form fields and the `DPoP` header).
    pub fn token(&self, form: &HashMap<String, String>, dpop: Option<&str>) -> TokenAnswer {
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if field("grant_type") != "client_credentials" {
            return refusal(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            );
        }
        if field("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            || field("client_assertion").is_empty()
        {
            return refusal(
                401,
                "invalid_client",
                "A client_id must be provided in the request.",
            );
        }
        let Some(assertion) = parse_jws(field("client_assertion")) else {
            return refusal(
                401,
                "invalid_client",
                "The parsing of the client_assertion failed.",
            );
        };
        let app = &self.app;
        let c = &assertion.claims;
        if c["iss"] != app.client_id.as_str() || !app.active {
            return refusal(
                401,
                "invalid_client",
                "Invalid value for 'client_id' parameter.",
            );
        }
        let keys: Vec<&(String, String)> = match assertion.header["kid"].as_str() {
            Some(kid) => app.public_keys.iter().filter(|(k, _)| k == kid).collect(),
            None if app.public_keys.len() == 1 => app.public_keys.iter().collect(),
            None => Vec::new(),
        };
        if keys.is_empty() {
            return refusal(
                401,
                "invalid_client",
                "The client_assertion JWT kid is invalid.",
            );
        }
        if !keys.iter().any(|(_, pem)| verify_pem(&assertion, pem)) {
            return refusal(
                401,
                "invalid_client",
                "The client_assertion signature is invalid.",
            );
        }
        let now_s = wall_clock_ms() / 1000;
        if c["sub"] != c["iss"] {
            return refusal(
                401,
                "invalid_client",
                "The client_assertion sub claim must equal its iss claim.",
            );
        }
        if c["aud"] != self.token_url.as_str() {
            return refusal(401, "invalid_client", "The audience claim for client_assertion must be the endpoint invoked for the request.");
        }
        match c["exp"].as_i64() {
            Some(exp) if exp > now_s && exp - now_s <= MAX_ASSERTION_LIFE_S => {}
            _ => {
                return refusal(
                    401,
                    "invalid_client",
                    "The client_assertion token is expired or its exp is too far in the future.",
                )
            }
        }
        if let Some(jti) = c["jti"].as_str() {
            if !lock(&self.spent_jtis).insert(format!("assertion:{jti}")) {
                return refusal(
                    401,
                    "invalid_client",
                    "The client_assertion token has already been used.",
                );
            }
        }
        let requested: BTreeSet<String> = field("scope")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if requested.is_empty() || !requested.is_subset(&app.granted_scopes) {
            return refusal(
                400,
                "invalid_scope",
                "One or more scopes are not configured for the authorization server resource.",
            );
        }
        let mut jkt = None;
        if app.require_dpop {
            let Some(proof) = dpop else {
                return refusal(
                    400,
                    "invalid_dpop_proof",
                    "The DPoP proof JWT header is missing.",
                );
            };
            let (thumbprint, claims) = match self.check_proof(proof, "POST", &self.token_url, now_s)
            {
                Ok(x) => x,
                Err(why) => return refusal(400, "invalid_dpop_proof", why),
            };
            if claims["nonce"] != self.nonce.as_str() {
                let mut answer = refusal(
                    400,
                    "use_dpop_nonce",
                    "Authorization server requires nonce in DPoP proof.",
                );
                answer.dpop_nonce = Some(self.nonce.clone());
                return answer;
            }
            jkt = Some(thumbprint);
        }
        let token = random_b64(48);
        let expires_in = self.app.token_ttl_ms.div_ceil(1000);
        let scope = requested.iter().cloned().collect::<Vec<_>>().join(" ");
        lock(&self.issued).insert(
            token.clone(),
            Issued {
                scopes: requested,
                expires_ms: wall_clock_ms() + self.app.token_ttl_ms as i64,
                jkt: jkt.clone(),
            },
        );
        TokenAnswer {
            status: 200,
            body: json!({
                "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
                "expires_in": expires_in,
                "access_token": token,
                "scope": scope,
            }),
            dpop_nonce: None,
        }
    }

    /// Checks an API request's `Authorization` (`Bearer` or `DPoP`) and `DPoP`
    /// headers for `method url`, which needs `scope`. `None`: not an OAuth token.
    pub fn check_api(
        &self,
        authorization: &str,
        dpop: Option<&str>,
        method: &str,
        url: &str,
        scope: &str,
    ) -> Option<Result<(), TokenRefusal>> {
        let (kind, token) = authorization.split_once(' ')?;
        if kind != "Bearer" && kind != "DPoP" {
            return None;
        }
        let invalid = |d: &str| {
            TokenRefusal::Invalid(format!(
                "{kind} realm=\"IdpMyAccountAPI\", error=\"invalid_token\", error_description=\"{d}\""
            ))
        };
        let issued = lock(&self.issued);
        let Some(t) = issued.get(token) else {
            return Some(Err(invalid("The access token is invalid.")));
        };
        if wall_clock_ms() >= t.expires_ms {
            return Some(Err(invalid("The access token is expired.")));
        }
        match (&t.jkt, kind) {
            (None, "Bearer") => {}
            (Some(jkt), "DPoP") => {
                let Some(proof) = dpop else {
                    return Some(Err(invalid("The DPoP proof is missing.")));
                };
                let now_s = wall_clock_ms() / 1000;
                match self.check_proof(proof, method, url, now_s) {
                    Ok((thumbprint, claims)) => {
                        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
                        if thumbprint != *jkt || claims["ath"] != ath.as_str() {
                            return Some(Err(invalid(
                                "The DPoP proof does not match the access token.",
                            )));
                        }
                    }
                    Err(why) => return Some(Err(invalid(why))),
                }
            }
            _ => {
                return Some(Err(invalid(
                    "The token type does not match the access token.",
                )))
            }
        }
        if !t.scopes.contains(scope) {
            return Some(Err(TokenRefusal::InsufficientScope(format!(
                "{kind} realm=\"IdpMyAccountAPI\", error=\"insufficient_scope\", error_description=\"The access token provided does not contain the required scopes.\", scope=\"{scope}\""
            ))));
        }
        Some(Ok(()))
    }
}
