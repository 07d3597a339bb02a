//! Tenant secrets at rest: XChaCha20-Poly1305 with a 32-byte key.
//!
//! The key comes from `KRI_ENCRYPTION_KEY` (64 hex characters) or, when that is not
//! set, from `<data-dir>/secret.key`, created with mode 0600 only while the store
//! holds no sealed secrets (a lost key file is never silently replaced). Each sealed
//! secret records the id of the key that sealed it (a short hash of the key), so a
//! wrong key is named as such. The tenant id is the AEAD's associated data, so a
//! sealed secret cannot be moved to another tenant's row. Plaintext tokens live only
//! in [`Token`], which never prints itself.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::SecretError;

/// Environment variable holding the encryption key as hex.
pub const KEY_ENV: &str = "KRI_ENCRYPTION_KEY";
const KEY_FILE: &str = "secret.key";

/// A token in memory. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Checks a token given by an operator (no control characters, not empty).
    pub fn new(raw: &str) -> Result<Token, SecretError> {
        let t = raw.trim();
        if t.is_empty() || t.chars().any(|c| c.is_control()) {
            return Err(SecretError::BadToken);
        }
        Ok(Token(t.to_string()))
    }

    /// The secret itself, for the one place that needs it: the auth header.
    pub fn expose(&self) -> &str {
        &self.0
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
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: token.expose().as_bytes(),
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

    pub fn open(&self, tenant_id: &str, sealed: &SealedSecret) -> Result<Token, SecretError> {
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
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: tenant_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt(tenant_id.to_string()))?;
        let text =
            String::from_utf8(plain).map_err(|_| SecretError::Decrypt(tenant_id.to_string()))?;
        Ok(Token(text))
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
