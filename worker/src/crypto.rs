//! Secrets: encryption at rest (XChaCha20-Poly1305) for API keys and webhook tokens, random bearer tokens that are
//! stored only as SHA-256 hashes, and Argon2id password hashes.

use anyhow::{Context, anyhow};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// A secret string that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Encrypts and decrypts secrets at rest. The stored form is `v1:<base64(nonce || ciphertext)>`.
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(***)")
    }
}

impl Cipher {
    /// Builds a cipher from a base64-encoded 32-byte key.
    pub fn from_base64_key(key: &Secret) -> anyhow::Result<Self> {
        let bytes =
            STANDARD.decode(key.expose().trim()).map_err(|_| anyhow!("the encryption key is not valid base64"))?;
        if bytes.len() != 32 {
            return Err(anyhow!(
                "the encryption key must be 32 bytes (base64 of 32 random bytes), got {}",
                bytes.len()
            ));
        }
        let aead = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| anyhow!("bad encryption key length"))?;
        Ok(Self { aead })
    }

    /// A fresh random key, base64-encoded.
    pub fn generate_key() -> Secret {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Secret(STANDARD.encode(key))
    }

    pub fn encrypt(&self, plain: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|_| anyhow!("encryption failed"))?;
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(format!("v1:{}", STANDARD.encode(out)))
    }

    pub fn decrypt(&self, stored: &str) -> anyhow::Result<Secret> {
        let b64 = stored.strip_prefix("v1:").context("unknown secret format")?;
        let raw = STANDARD.decode(b64).context("secret is not base64")?;
        if raw.len() < 24 {
            return Err(anyhow!("secret too short"));
        }
        let (nonce, ct) = raw.split_at(24);
        let plain = self
            .aead
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| anyhow!("secret cannot be decrypted with this key"))?;
        Ok(Secret(String::from_utf8(plain).context("secret is not UTF-8")?))
    }
}

/// A new random token (256 bits, URL-safe) with the given prefix.
pub fn random_token(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Hex SHA-256: how high-entropy tokens are stored and looked up.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow!("password hashing failed: {e}"))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_round_trip_and_never_plain() {
        let c = Cipher::from_base64_key(&Cipher::generate_key()).unwrap();
        let stored = c.encrypt("sk_live_abcdef").unwrap();
        assert!(!stored.contains("sk_live_abcdef"));
        assert_eq!(c.decrypt(&stored).unwrap().expose(), "sk_live_abcdef");
        let other = Cipher::from_base64_key(&Cipher::generate_key()).unwrap();
        assert!(other.decrypt(&stored).is_err());
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Cipher::from_base64_key(&Secret::new("not base64!")).is_err());
        assert!(Cipher::from_base64_key(&Secret::new("AAAA")).is_err());
    }
}
