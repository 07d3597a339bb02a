//! Tenant secrets at rest: XChaCha20-Poly1305 with a 32-byte key.
//!
//! The key comes from `KRI_ENCRYPTION_KEY` (64 hex characters) or, when that is not
//! set, from `<data-dir>/secret.key`, created with mode 0600 only while the store
//! holds no sealed secrets (a lost key file is never silently replaced). Each sealed
//! secret records the id of the key that sealed it (a short hash of the key), so a
//! wrong key is named as such.
//!
//! Rotation (`kri secrets rotate`) writes the new key to `secret.key.next`, re-seals
//! every secret under it in one store transaction, then renames it over
//! `secret.key`. A crash before the commit leaves the old key and old secrets (the
//! stray next file is removed on the next start); a crash after it leaves secrets
//! sealed with the next key's id, and the next start finishes the rename. Either
//! way every secret stays readable. The tenant id is the AEAD's associated data, so a
//! sealed secret cannot be moved to another tenant's row.
//!
//! A sealed secret is a [`Credential`]: a static token (sealed as its text, as it
//! always was) or an OAuth client's credentials (sealed as [`OAUTH_MARKER`] and a
//! JSON object; a token never starts with a NUL, so the two cannot be confused).
//! Plaintext secrets live only in [`Token`] and [`OAuthClientSecret`], which are
//! zeroized when dropped and never print themselves; decrypted bytes are zeroized
//! as soon as they are parsed.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::SecretError;

/// Environment variable holding the encryption key as hex.
pub const KEY_ENV: &str = "KRI_ENCRYPTION_KEY";
const KEY_FILE: &str = "secret.key";
/// The key a rotation is moving to, beside the current key file until the
/// rotation's transaction has committed.
const NEXT_KEY_FILE: &str = "secret.key.next";

/// The first bytes of a sealed OAuth client credential.
const OAUTH_MARKER: &[u8] = b"\0kri-oauth-client-v1\0";

/// A token in memory, zeroized when dropped. `Debug` never shows it.
#[derive(Clone)]
pub struct Token(SecretString);

impl Token {
    /// Checks a token given by an operator (no control characters, not empty).
    pub fn new(raw: &str) -> Result<Token, SecretError> {
        let t = raw.trim();
        if t.is_empty() || t.chars().any(|c| c.is_control()) {
            return Err(SecretError::BadToken);
        }
        Ok(Token(SecretString::from(t)))
    }

    /// The secret itself, for the one place that needs it: the auth header.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// An OAuth client's credentials, as kept (sealed) for a tenant. `Debug` shows the
/// client id and key id, never the private key.
#[derive(Clone)]
pub struct OAuthClientSecret {
    pub client_id: String,
    /// The `kid` of the registered public key.
    pub key_id: Option<String>,
    /// The private key, PEM.
    pub private_key_pem: SecretString,
    /// The scopes to ask for; empty asks for the connector's declared scopes.
    pub scopes: Vec<String>,
    /// Send DPoP proofs from the first request (else learned from the answers).
    pub dpop: bool,
}

impl fmt::Debug for OAuthClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClientSecret")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("private_key_pem", &"[REDACTED]")
            .field("scopes", &self.scopes)
            .field("dpop", &self.dpop)
            .finish()
    }
}

/// The sealed JSON form of [`OAuthClientSecret`] (borrowed where the JSON has no
/// escapes; a PEM's newlines are escaped, so the key is copied once and moved into
/// a `SecretString`).
#[derive(Serialize, Deserialize)]
struct OAuthClientRecord<'a> {
    #[serde(borrow)]
    client_id: Cow<'a, str>,
    #[serde(borrow)]
    key_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    private_key_pem: Cow<'a, str>,
    #[serde(borrow)]
    scopes: Vec<Cow<'a, str>>,
    dpop: bool,
}

/// What a tenant's sealed secret holds.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A static API token, put into the connector's `Authorization` template.
    Token(Token),
    /// An OAuth client; the host gets access tokens with it.
    OAuthClient(OAuthClientSecret),
}

impl Credential {
    /// The plaintext that is sealed (zeroized when dropped).
    fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        match self {
            Credential::Token(t) => Zeroizing::new(t.expose().as_bytes().to_vec()),
            Credential::OAuthClient(c) => {
                let record = OAuthClientRecord {
                    client_id: Cow::Borrowed(&c.client_id),
                    key_id: c.key_id.as_deref().map(Cow::Borrowed),
                    private_key_pem: Cow::Borrowed(c.private_key_pem.expose_secret()),
                    scopes: c.scopes.iter().map(|s| Cow::Borrowed(s.as_str())).collect(),
                    dpop: c.dpop,
                };
                let json = Zeroizing::new(serde_json::to_vec(&record).unwrap_or_default());
                let mut out = Zeroizing::new(Vec::with_capacity(OAUTH_MARKER.len() + json.len()));
                out.extend_from_slice(OAUTH_MARKER);
                out.extend_from_slice(&json);
                out
            }
        }
    }

    fn from_plaintext(tenant_id: &str, plain: &[u8]) -> Result<Credential, SecretError> {
        let undecodable = || SecretError::Decrypt(tenant_id.to_string());
        if let Some(json) = plain.strip_prefix(OAUTH_MARKER) {
            let r: OAuthClientRecord<'_> =
                serde_json::from_slice(json).map_err(|_| undecodable())?;
            return Ok(Credential::OAuthClient(OAuthClientSecret {
                client_id: r.client_id.into_owned(),
                key_id: r.key_id.map(Cow::into_owned),
                private_key_pem: SecretString::from(r.private_key_pem.into_owned()),
                scopes: r.scopes.into_iter().map(Cow::into_owned).collect(),
                dpop: r.dpop,
            }));
        }
        let text = std::str::from_utf8(plain).map_err(|_| undecodable())?;
        Ok(Credential::Token(Token(SecretString::from(text))))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([REDACTED])")
    }
}

/// A sealed secret as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedSecret {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    /// The id of the key that sealed it; `None` for secrets sealed before key ids
    /// were recorded.
    pub key_id: Option<String>,
}

/// The key that seals and opens tenant secrets.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    /// A short hash of the key that names it in messages and sealed secrets.
    id: String,
    /// Where the key came from, for messages (never the key itself).
    pub source: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} from {})", self.id, self.source)
    }
}

/// The id of a key: the first 6 bytes of a domain-separated SHA-256, as hex. It
/// names the key without revealing it.
fn key_id(key: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(b"kri secret key id\0")
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..6])
}

impl SecretKey {
    /// Loads the key from the environment or the data directory's key file. A
    /// missing key file is created (0600) only when `create` is set and
    /// `sealed_tenants` (the tenants whose secrets the store holds sealed) is empty:
    /// otherwise a new key would silently orphan those secrets.
    pub fn load(
        data_dir: &Path,
        create: bool,
        sealed_tenants: &[String],
    ) -> Result<SecretKey, SecretError> {
        if let Ok(hexkey) = std::env::var(KEY_ENV) {
            let bytes = hex::decode(hexkey.trim()).map_err(|_| SecretError::BadEnvKey)?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadEnvKey)?;
            return Ok(Self::from_bytes(&key, KEY_ENV.to_string()));
        }
        let path = data_dir.join(KEY_FILE);
        let key = if path.exists() {
            read_key_file(&path)?
        } else if !sealed_tenants.is_empty() {
            return Err(SecretError::KeyLost {
                path,
                tenants: sealed_tenants.join(", "),
            });
        } else if create {
            create_key_file(&path)?
        } else {
            return Err(SecretError::KeyFile {
                path,
                reason: format!("missing; set {KEY_ENV} or restore the key file that sealed the tenants' tokens"),
            });
        };
        Ok(Self::from_bytes(&key, path.display().to_string()))
    }

    /// A key given as 64 hex characters in environment variable `var`.
    pub fn from_env(var: &str) -> Result<SecretKey, SecretError> {
        let bad = || SecretError::BadKeyVar(var.to_string());
        let hexkey = std::env::var(var).map_err(|_| bad())?;
        let bytes = hex::decode(hexkey.trim()).map_err(|_| bad())?;
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(bytes.try_into().map_err(|_| bad())?);
        Ok(Self::from_bytes(&key, var.to_string()))
    }

    /// Whether the key came from `KRI_ENCRYPTION_KEY` (else from the key file).
    pub fn from_environment(&self) -> bool {
        self.source == KEY_ENV
    }

    pub fn from_bytes(key: &[u8; 32], source: String) -> SecretKey {
        SecretKey {
            cipher: XChaCha20Poly1305::new(key.into()),
            id: key_id(key),
            source,
        }
    }

    /// The key's id, recorded with every secret it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn seal(&self, tenant_id: &str, token: &Token) -> Result<SealedSecret, SecretError> {
        self.seal_credential(tenant_id, &Credential::Token(token.clone()))
    }

    /// Seals any credential, bound to its tenant.
    pub fn seal_credential(
        &self,
        tenant_id: &str,
        credential: &Credential,
    ) -> Result<SealedSecret, SecretError> {
        let plain = credential.to_plaintext();
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: tenant_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt(tenant_id.to_string()))?;
        Ok(SealedSecret {
            nonce: nonce.to_vec(),
            ciphertext,
            key_id: Some(self.id.clone()),
        })
    }

    /// Opens a sealed static token; a sealed OAuth client is an error here.
    pub fn open(&self, tenant_id: &str, sealed: &SealedSecret) -> Result<Token, SecretError> {
        match self.open_credential(tenant_id, sealed)? {
            Credential::Token(t) => Ok(t),
            Credential::OAuthClient(_) => Err(SecretError::Decrypt(tenant_id.to_string())),
        }
    }

    /// Opens a sealed credential of any kind.
    pub fn open_credential(
        &self,
        tenant_id: &str,
        sealed: &SealedSecret,
    ) -> Result<Credential, SecretError> {
        if let Some(sealed_with) = sealed.key_id.as_ref().filter(|id| **id != self.id) {
            return Err(SecretError::WrongKey {
                tenant: tenant_id.to_string(),
                sealed_with: sealed_with.clone(),
                key_id: self.id.clone(),
                key_source: self.source.clone(),
            });
        }
        if sealed.nonce.len() != 24 {
            return Err(SecretError::Decrypt(tenant_id.to_string()));
        }
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: tenant_id.as_bytes(),
                    },
                )
                .map_err(|_| SecretError::Decrypt(tenant_id.to_string()))?,
        );
        Credential::from_plaintext(tenant_id, &plain)
    }
}

/// Writes a fresh key to `secret.key.next` (0600) for a rotation, replacing a stale
/// one, and returns it.
pub fn create_next_key(data_dir: &Path) -> Result<SecretKey, SecretError> {
    let path = data_dir.join(NEXT_KEY_FILE);
    if path.exists() {
        std::fs::remove_file(&path).map_err(|e| SecretError::KeyFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    }
    let key = Zeroizing::new(create_key_file(&path)?);
    Ok(SecretKey::from_bytes(
        &key,
        data_dir.join(KEY_FILE).display().to_string(),
    ))
}

/// Makes `secret.key.next` the key file: the last step of a rotation.
pub fn promote_next_key(data_dir: &Path) -> Result<(), SecretError> {
    let (next, current) = (data_dir.join(NEXT_KEY_FILE), data_dir.join(KEY_FILE));
    std::fs::rename(&next, &current)
        .and_then(|_| std::fs::File::open(data_dir)?.sync_all())
        .map_err(|e| SecretError::KeyFile {
            path: current,
            reason: format!("cannot replace it with {}: {e}", next.display()),
        })
}

/// Finishes or abandons a rotation a crash interrupted: when `secret.key.next`
/// exists and some secret was sealed with it, the store's transaction committed and
/// it becomes the key file; otherwise it never sealed anything and is removed.
/// Returns whether a rotation was finished.
pub fn recover_rotation(
    data_dir: &Path,
    sealed: &[(String, Option<String>)],
) -> Result<bool, SecretError> {
    let next = data_dir.join(NEXT_KEY_FILE);
    if std::env::var_os(KEY_ENV).is_some() || !next.exists() {
        return Ok(false);
    }
    let key = Zeroizing::new(read_key_file(&next)?);
    let next_id = key_id(&key);
    if sealed
        .iter()
        .any(|(_, id)| id.as_deref() == Some(next_id.as_str()))
    {
        promote_next_key(data_dir)?;
        tracing::warn!(key_id = %next_id, "finished a key rotation that was interrupted after its secrets were re-sealed");
        Ok(true)
    } else {
        std::fs::remove_file(&next).map_err(|e| SecretError::KeyFile {
            path: next.clone(),
            reason: e.to_string(),
        })?;
        tracing::warn!(
            "removed the key of a rotation that was interrupted before it re-sealed anything"
        );
        Ok(false)
    }
}

fn read_key_file(path: &PathBuf) -> Result<[u8; 32], SecretError> {
    let err = |reason: String| SecretError::KeyFile {
        path: path.clone(),
        reason,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "permissions {:o} let other users read it; run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let bytes = hex::decode(text.trim()).map_err(|_| err("not 64 hex characters".into()))?;
    bytes
        .try_into()
        .map_err(|_| err("not 64 hex characters".into()))
}

fn create_key_file(path: &PathBuf) -> Result<[u8; 32], SecretError> {
    let err = |reason: String| SecretError::KeyFile {
        path: path.clone(),
        reason,
    };
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
    f.write_all(hex::encode(key).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| err(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_binds_tenant() {
        let key = SecretKey::from_bytes(&[7u8; 32], "test".into());
        let token = Token::new("00abcSECRETtoken").expect("token");
        let sealed = key.seal("acme", &token).expect("seal");
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"SECRET"));
        assert_eq!(
            key.open("acme", &sealed).expect("open").expose(),
            "00abcSECRETtoken"
        );
        assert!(matches!(
            key.open("other", &sealed),
            Err(SecretError::Decrypt(_))
        ));
        let wrong = SecretKey::from_bytes(&[8u8; 32], "test".into());
        assert!(matches!(
            wrong.open("acme", &sealed),
            Err(SecretError::WrongKey { .. })
        ));
        // Without a recorded key id, a wrong key fails to decrypt.
        let unnamed = SealedSecret {
            key_id: None,
            ..sealed
        };
        assert!(matches!(
            wrong.open("acme", &unnamed),
            Err(SecretError::Decrypt(_))
        ));
    }

    #[test]
    fn a_wrong_key_is_named_as_such() {
        let key = SecretKey::from_bytes(&[7u8; 32], "the old key file".into());
        let sealed = key
            .seal("acme", &Token::new("tok").expect("token"))
            .expect("seal");
        assert_eq!(sealed.key_id.as_deref(), Some(key.id()));
        assert_eq!(key.id().len(), 12);
        let wrong = SecretKey::from_bytes(&[8u8; 32], "KRI_ENCRYPTION_KEY".into());
        assert_ne!(wrong.id(), key.id());
        let err = wrong.open("acme", &sealed).expect_err("wrong key");
        assert!(matches!(err, SecretError::WrongKey { .. }));
        let text = err.to_string();
        assert!(
            text.contains(key.id()) && text.contains(wrong.id()),
            "{text}"
        );
        assert!(text.contains("KRI_ENCRYPTION_KEY"), "{text}");
        // Secrets sealed before key ids were kept still open with the right key.
        let legacy = SealedSecret {
            key_id: None,
            ..sealed
        };
        assert_eq!(key.open("acme", &legacy).expect("open").expose(), "tok");
    }

    #[test]
    fn a_lost_key_file_is_not_replaced_while_secrets_are_sealed() {
        if std::env::var_os(KEY_ENV).is_some() {
            return; // the environment's key would be used instead of any file
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let err = SecretKey::load(dir.path(), true, &["a".to_string()]).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(KEY_FILE) && text.contains(KEY_ENV), "{text}");
        assert!(text.contains("tenants a"), "{text}");
        assert!(
            !dir.path().join(KEY_FILE).exists(),
            "no new key was written"
        );
        let created = SecretKey::load(dir.path(), true, &[]).expect("create");
        let again = SecretKey::load(dir.path(), true, &["a".to_string()]).expect("reuse");
        assert_eq!(created.id(), again.id());
    }

    #[test]
    fn an_oauth_client_round_trips_and_never_prints_its_key() {
        let key = SecretKey::from_bytes(&[7u8; 32], "test".into());
        let cred = Credential::OAuthClient(OAuthClientSecret {
            client_id: "0oa1".into(),
            key_id: Some("kid1".into()),
            private_key_pem: SecretString::from("-----BEGIN PRIVATE KEY-----\nSECRETKEY\n"),
            scopes: vec!["a.read".into()],
            dpop: true,
        });
        assert!(!format!("{cred:?}").contains("SECRETKEY"));
        let sealed = key.seal_credential("acme", &cred).expect("seal");
        assert!(!sealed.ciphertext.windows(9).any(|w| w == b"SECRETKEY"));
        match key.open_credential("acme", &sealed).expect("open") {
            Credential::OAuthClient(c) => {
                assert_eq!(c.client_id, "0oa1");
                assert_eq!(c.key_id.as_deref(), Some("kid1"));
                assert!(c.private_key_pem.expose_secret().contains("SECRETKEY"));
                assert_eq!(c.scopes, vec!["a.read".to_string()]);
                assert!(c.dpop);
            }
            other => panic!("{other:?}"),
        }
        // A sealed OAuth client is not a token.
        assert!(key.open("acme", &sealed).is_err());
    }

    #[test]
    fn token_never_prints() {
        let token = Token::new("supersecret").expect("token");
        assert!(!format!("{token:?}").contains("supersecret"));
    }

    #[test]
    fn bad_tokens_are_refused() {
        for bad in ["", "   ", "a\nb", "a\0b"] {
            assert!(Token::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        let k1 = create_key_file(&path).expect("create");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(read_key_file(&path).expect("read"), k1);
    }
}
