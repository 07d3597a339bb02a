//! Signing keys and compact JWS (RFC 7515) for the OAuth client: RS256 and ES256
//! private keys read from PEM (PKCS#8, PKCS#1 for RSA, SEC1 for P-256), the public
//! JWK of a P-256 key and its RFC 7638 thumbprint (for DPoP proofs).
//!
//! The signatures come from the RustCrypto crates (`rsa`, `p256`); only the JWS
//! framing (`base64url(header).base64url(claims).base64url(signature)`) is written
//! here, because it is three lines. The keys zeroize themselves when dropped, and
//! `Debug` names the algorithm only.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// The smallest RSA key accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// Why a PEM private key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is encrypted; give it unencrypted (e.g. `openssl pkcs8 -topk8 -nocrypt -in KEY.pem -out plain.pem`)")]
    Encrypted,
    #[error("no PEM private key found: expected `BEGIN PRIVATE KEY` (PKCS#8), `BEGIN RSA PRIVATE KEY` (PKCS#1) or `BEGIN EC PRIVATE KEY` (P-256)")]
    NotPem,
    #[error("the private key cannot be read: {0}")]
    Unreadable(String),
    #[error("the RSA key has {0} bits; use at least 2048")]
    RsaTooSmall(usize),
}

/// A private key that signs JWS: RS256 (RSA PKCS#1 v1.5 with SHA-256) or ES256
/// (ECDSA P-256 with SHA-256).
pub enum PrivateKey {
    Rs256(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
    Es256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, [REDACTED])", self.alg())
    }
}

impl PrivateKey {
    /// Reads a PEM private key.
    pub fn from_pem(pem: &str) -> Result<PrivateKey, KeyError> {
        let pem = pem.trim();
        let bad = |e: &dyn fmt::Display| KeyError::Unreadable(e.to_string());
        if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            Err(KeyError::Encrypted)
        } else if pem.contains("BEGIN RSA PRIVATE KEY") {
            let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| bad(&e))?;
            Self::rsa(key)
        } else if pem.contains("BEGIN EC PRIVATE KEY") {
            let key = p256::SecretKey::from_sec1_pem(pem).map_err(|e| bad(&e))?;
            Ok(PrivateKey::Es256(key.into()))
        } else if pem.contains("BEGIN PRIVATE KEY") {
            if let Ok(key) = rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
                return Self::rsa(key);
            }
            p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                .map(PrivateKey::Es256)
                .map_err(|e| KeyError::Unreadable(format!("neither an RSA nor a P-256 key ({e})")))
        } else {
            Err(KeyError::NotPem)
        }
    }

    fn rsa(key: rsa::RsaPrivateKey) -> Result<PrivateKey, KeyError> {
        let bits = key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(KeyError::RsaTooSmall(bits));
        }
        Ok(PrivateKey::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(
            key,
        ))))
    }

    /// A fresh P-256 key, for DPoP proofs.
    pub fn generate_es256() -> PrivateKey {
        PrivateKey::Es256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// The JWS `alg` value.
    pub fn alg(&self) -> &'static str {
        match self {
            PrivateKey::Rs256(_) => "RS256",
            PrivateKey::Es256(_) => "ES256",
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            PrivateKey::Rs256(k) => k.sign(message).to_vec(),
            PrivateKey::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
        }
    }

    /// The public key as a JWK (only what RFC 7638 hashes: members in
    /// lexicographic order, so the serialisation is also the thumbprint input).
    pub fn public_jwk(&self) -> serde_json::Value {
        match self {
            PrivateKey::Rs256(k) => {
                let signing: &rsa::pkcs1v15::SigningKey<Sha256> = k;
                let private: &rsa::RsaPrivateKey = signing.as_ref();
                let public = private.to_public_key();
                serde_json::json!({
                    "e": b64(&public.e().to_bytes_be()),
                    "kty": "RSA",
                    "n": b64(&public.n().to_bytes_be()),
                })
            }
            PrivateKey::Es256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                serde_json::json!({
                    "crv": "P-256",
                    "kty": "EC",
                    "x": b64(point.x().map(|x| x.as_slice()).unwrap_or_default()),
                    "y": b64(point.y().map(|y| y.as_slice()).unwrap_or_default()),
                })
            }
        }
    }

    /// The RFC 7638 thumbprint of the public key, base64url.
    pub fn thumbprint(&self) -> String {
        // serde_json keeps object members sorted (no `preserve_order`), and the JWK
        // above holds exactly the required members: this is the canonical form.
        b64(&Sha256::digest(self.public_jwk().to_string().as_bytes()))
    }
}

/// base64url without padding, as JOSE uses it.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS of `claims` under `header` (whose `alg` is set from the key).
pub fn sign_compact(
    key: &PrivateKey,
    mut header: serde_json::Value,
    claims: &serde_json::Value,
) -> String {
    if let Some(h) = header.as_object_mut() {
        h.insert("alg".into(), key.alg().into());
    }
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

/// A fresh random id for `jti` claims: 16 random bytes, base64url.
pub fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    b64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::signature::Verifier;

    fn parts(jws: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
        let mut it = jws.split('.');
        let (h, c, s) = (
            it.next().expect("h"),
            it.next().expect("c"),
            it.next().expect("s"),
        );
        assert!(it.next().is_none());
        let dec = |x: &str| URL_SAFE_NO_PAD.decode(x).expect("b64");
        (
            serde_json::from_slice(&dec(h)).expect("header"),
            serde_json::from_slice(&dec(c)).expect("claims"),
            dec(s),
            format!("{h}.{c}"),
        )
    }

    #[test]
    fn es256_signatures_verify_with_the_public_key() {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let pem = sk.to_pkcs8_pem(LineEnding::LF).expect("pem");
        let key = PrivateKey::from_pem(&pem).expect("key");
        assert_eq!(key.alg(), "ES256");
        let jws = sign_compact(
            &key,
            serde_json::json!({"typ": "JWT", "kid": "k1"}),
            &serde_json::json!({"iss": "me"}),
        );
        let (header, claims, sig, input) = parts(&jws);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "k1");
        assert_eq!(claims["iss"], "me");
        let sig = p256::ecdsa::Signature::from_slice(&sig).expect("64-byte signature");
        sk.verifying_key()
            .verify(input.as_bytes(), &sig)
            .expect("verifies");
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(key.thumbprint().len(), 43);
        assert!(!format!("{key:?}").contains("BEGIN"));
    }

    #[test]
    fn rs256_keys_read_from_pkcs1_and_pkcs8() {
        let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa");
        let pkcs1 = rsa.to_pkcs1_pem(LineEnding::LF).expect("pkcs1");
        let pkcs8 = rsa.to_pkcs8_pem(LineEnding::LF).expect("pkcs8");
        for pem in [pkcs1.as_str(), pkcs8.as_str()] {
            let key = PrivateKey::from_pem(pem).expect("key");
            assert_eq!(key.alg(), "RS256");
            let jws = sign_compact(&key, serde_json::json!({}), &serde_json::json!({}));
            let (_, _, sig, input) = parts(&jws);
            let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(rsa.to_public_key());
            let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).expect("sig");
            vk.verify(input.as_bytes(), &sig).expect("verifies");
        }
    }

    #[test]
    fn unusable_keys_say_why() {
        assert_eq!(PrivateKey::from_pem("hello").unwrap_err(), KeyError::NotPem);
        assert_eq!(
            PrivateKey::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
            )
            .unwrap_err(),
            KeyError::Encrypted
        );
        assert!(matches!(
            PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(KeyError::Unreadable(_))
        ));
        let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).expect("rsa");
        let pem = small.to_pkcs1_pem(LineEnding::LF).expect("pem");
        assert_eq!(
            PrivateKey::from_pem(&pem).unwrap_err(),
            KeyError::RsaTooSmall(1024)
        );
    }
}
