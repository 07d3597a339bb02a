//! Plugin integrity: which component files the operator trusts.
//!
//! A component is trusted when its SHA-256 was recorded by `kri plugin trust FILE`
//! (in `<data-dir>/trusted-plugins.json`), or when it carries a detached ed25519
//! signature by a configured public key:
//!
//! - Public keys: files `<data-dir>/trusted-keys/*.pub`, each holding one 32-byte
//!   ed25519 public key in standard base64 (one line; `#` lines are comments).
//! - Signature: the file `<component>.wasm.sig` beside the component, holding the
//!   64-byte ed25519 signature of the component's exact bytes in standard base64
//!   (one line). `openssl pkeyutl -sign -rawin` or any ed25519 tool makes one.
//!
//! With `--require-trusted` (`KRI_REQUIRE_TRUSTED`) a component that is neither is
//! refused with a one-line reason before it is compiled, and the others still load.
//! A trusted file whose bytes changed is refused until trusted again. Without it,
//! every component loads and `kri connectors` shows each one's trust.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The trust list's file in the data directory.
pub const TRUST_FILE: &str = "trusted-plugins.json";
/// The directory of trusted signing keys in the data directory.
pub const KEYS_DIR: &str = "trusted-keys";
/// What a detached signature's file name adds to the component's.
pub const SIGNATURE_SUFFIX: &str = ".sig";

/// Why the trust list or keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{path} is not a trusted public key: {reason} (expected one line of base64, the 32-byte ed25519 public key)")]
    BadKey { path: PathBuf, reason: String },
}

/// One trusted component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedComponent {
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// The file name it had when trusted (a later change under that name is
    /// reported as such).
    pub file: String,
    /// When it was trusted (RFC 3339).
    pub trusted_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TrustFile {
    components: Vec<TrustedComponent>,
}

/// A component's trust, as `kri connectors` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Trust {
    /// Its SHA-256 is on the trust list.
    Trusted { sha256: String },
    /// Signed by a configured key (named by its base64).
    Signed { sha256: String, key: String },
    /// A file of this name was trusted with other bytes.
    Changed {
        sha256: String,
        trusted_sha256: String,
    },
    /// Neither on the list nor signed.
    Untrusted { sha256: String },
}

impl Trust {
    pub fn is_trusted(&self) -> bool {
        matches!(self, Trust::Trusted { .. } | Trust::Signed { .. })
    }

    /// Why a component is refused under `--require-trusted` (one line).
    pub fn refusal(&self, path: &Path) -> Option<String> {
        let name = path.display();
        match self {
            Trust::Trusted { .. } | Trust::Signed { .. } => None,
            Trust::Changed { sha256, trusted_sha256 } => Some(format!(
                "changed since it was trusted (sha256 {sha256}, trusted {trusted_sha256}); check it, then `kri plugin trust {name}`"
            )),
            Trust::Untrusted { sha256 } => Some(format!(
                "not trusted (sha256 {sha256}) and not signed by a trusted key; check it, then `kri plugin trust {name}`, or sign it"
            )),
        }
    }
}

/// What the plugin loader checks components against.
#[derive(Debug, Default, Clone)]
pub struct TrustPolicy {
    /// Refuse components that are not trusted.
    pub require: bool,
    /// Trusted hashes, by hex SHA-256.
    trusted: BTreeMap<String, TrustedComponent>,
    /// Trusted hashes, by file name.
    by_file: BTreeMap<String, String>,
    keys: Vec<VerifyingKey>,
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_trust_file(path: &Path) -> Result<TrustFile, TrustError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TrustError::Read {
            path: path.to_path_buf(),
            reason: format!("not a kri trust list ({e})"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustFile::default()),
        Err(e) => Err(TrustError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn read_keys(dir: &Path) -> Result<Vec<VerifyingKey>, TrustError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(TrustError::Read {
                path: dir.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    let mut keys = Vec::new();
    for path in paths {
        let bad = |reason: String| TrustError::BadKey {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| bad("empty".into()))?;
        let bytes = STANDARD.decode(line).map_err(|e| bad(e.to_string()))?;
        let raw: [u8; 32] = bytes.try_into().map_err(|_| bad("not 32 bytes".into()))?;
        keys.push(VerifyingKey::from_bytes(&raw).map_err(|e| bad(e.to_string()))?);
    }
    Ok(keys)
}

impl TrustPolicy {
    /// The trust list and keys of a data directory (none when absent).
    pub fn load(data_dir: &Path, require: bool) -> Result<TrustPolicy, TrustError> {
        let list = read_trust_file(&data_dir.join(TRUST_FILE))?;
        let mut policy = TrustPolicy {
            require,
            keys: read_keys(&data_dir.join(KEYS_DIR))?,
            ..TrustPolicy::default()
        };
        for c in list.components {
            policy.by_file.insert(c.file.clone(), c.sha256.clone());
            policy.trusted.insert(c.sha256.clone(), c);
        }
        Ok(policy)
    }

    /// The trust of the component at `path` whose bytes are `bytes`.
    pub fn check(&self, path: &Path, bytes: &[u8]) -> Trust {
        let sha256 = sha256_hex(bytes);
        if self.trusted.contains_key(&sha256) {
            return Trust::Trusted { sha256 };
        }
        if let Some(key) = self.signer(path, bytes) {
            return Trust::Signed {
                sha256,
                key: STANDARD.encode(key.as_bytes()),
            };
        }
        match self.by_file.get(&file_name(path)) {
            Some(trusted) => Trust::Changed {
                sha256,
                trusted_sha256: trusted.clone(),
            },
            None => Trust::Untrusted { sha256 },
        }
    }

    /// The configured key whose signature `<path>.sig` verifies, if any.
    fn signer(&self, path: &Path, bytes: &[u8]) -> Option<&VerifyingKey> {
        if self.keys.is_empty() {
            return None;
        }
        let mut sig_path = path.as_os_str().to_owned();
        sig_path.push(SIGNATURE_SUFFIX);
        let text = std::fs::read_to_string(PathBuf::from(sig_path)).ok()?;
        let raw = STANDARD.decode(text.trim()).ok()?;
        let sig = Signature::from_slice(&raw).ok()?;
        self.keys.iter().find(|k| k.verify(bytes, &sig).is_ok())
    }
}

/// Records the component at `path` as trusted in `data_dir`'s trust list
/// (replacing an earlier record of the same file name). The list is replaced
/// atomically (written beside it, then renamed).
pub fn trust_file(
    data_dir: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<TrustedComponent, TrustError> {
    let list_path = data_dir.join(TRUST_FILE);
    let mut list = read_trust_file(&list_path)?;
    let record = TrustedComponent {
        sha256: sha256_hex(bytes),
        file: file_name(path),
        trusted_at: jiff::Timestamp::now().to_string(),
    };
    list.components
        .retain(|c| c.file != record.file && c.sha256 != record.sha256);
    list.components.push(record.clone());
    let write_err = |e: std::io::Error| TrustError::Write {
        path: list_path.clone(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(data_dir).map_err(write_err)?;
    let tmp = data_dir.join(format!("{TRUST_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(&list).unwrap_or_default();
    std::fs::write(&tmp, json)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &list_path))
        .map_err(write_err)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn trusted_signed_changed_and_untrusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let comp = dir.path().join("c.wasm");
        std::fs::write(&comp, b"v1").expect("write");
        let policy = TrustPolicy::load(&data, true).expect("empty policy");
        let t = policy.check(&comp, b"v1");
        assert!(matches!(t, Trust::Untrusted { .. }), "{t:?}");
        assert!(t
            .refusal(&comp)
            .expect("refused")
            .contains("kri plugin trust"));

        trust_file(&data, &comp, b"v1").expect("trust");
        let policy = TrustPolicy::load(&data, true).expect("policy");
        assert!(policy.check(&comp, b"v1").is_trusted());
        let t = policy.check(&comp, b"v2");
        assert!(matches!(t, Trust::Changed { .. }), "{t:?}");
        assert!(t.refusal(&comp).expect("refused").contains("changed"));

        // Signed by a configured key.
        let key = SigningKey::from_bytes(&[9u8; 32]);
        std::fs::create_dir_all(data.join(KEYS_DIR)).expect("keys dir");
        std::fs::write(
            data.join(KEYS_DIR).join("release.pub"),
            format!(
                "# release key\n{}\n",
                STANDARD.encode(key.verifying_key().as_bytes())
            ),
        )
        .expect("key");
        std::fs::write(
            dir.path().join("c.wasm.sig"),
            STANDARD.encode(key.sign(b"v3").to_bytes()),
        )
        .expect("sig");
        let policy = TrustPolicy::load(&data, true).expect("policy");
        assert!(matches!(policy.check(&comp, b"v3"), Trust::Signed { .. }));
        // The signature covers the bytes: other bytes are not signed.
        assert!(matches!(policy.check(&comp, b"v4"), Trust::Changed { .. }));
        // Re-trusting replaces the record of the same file.
        trust_file(&data, &comp, b"v4").expect("trust again");
        let policy = TrustPolicy::load(&data, true).expect("policy");
        assert!(policy.check(&comp, b"v4").is_trusted());
        assert!(!policy.check(&comp, b"v1").is_trusted());
    }

    #[test]
    fn a_bad_key_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(KEYS_DIR)).expect("dir");
        std::fs::write(dir.path().join(KEYS_DIR).join("x.pub"), "not base64!").expect("w");
        let err = TrustPolicy::load(dir.path(), false).expect_err("bad key");
        assert!(err.to_string().contains("x.pub"), "{err}");
    }
}
