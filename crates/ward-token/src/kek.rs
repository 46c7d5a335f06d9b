//! The key-encryption key: AES-256-GCM over signing keys at rest, the key id bound as
//! associated data so that a ciphertext cannot be moved to another key's row.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ward_core::Entropy;

const FORMAT_V1: u8 = 1;

pub struct KeyEncryptionKey(LessSafeKey);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KekError {
    #[error("key_encryption_key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("a signing key could not be decrypted: wrong key_encryption_key, or the stored key was altered")]
    Decrypt,
}

impl KeyEncryptionKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KekError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KekError::BadKey)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    pub fn from_base64(text: &str) -> Result<Self, KekError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KekError::BadKey)?;
        if bytes.len() != 32 {
            return Err(KekError::BadKey);
        }
        Self::from_bytes(&bytes)
    }

    /// A fresh key, as the base64 text to store.
    pub fn generate_base64(entropy: &dyn Entropy) -> String {
        let mut bytes = [0u8; 32];
        entropy.fill(&mut bytes);
        STANDARD.encode(bytes)
    }

    /// `version || nonce || ciphertext || tag`.
    pub fn seal(&self, entropy: &dyn Entropy, associated: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        entropy.fill(&mut nonce);
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        // Sealing only fails for inputs beyond GCM's 64 GiB limit; key material is tiny.
        #[allow(clippy::expect_used)]
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(associated), &mut body)
            .expect("AES-GCM seal of a small buffer");
        out.extend_from_slice(&body);
        out
    }

    pub fn open(&self, associated: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        let [FORMAT_V1, rest @ ..] = sealed else {
            return Err(KekError::Decrypt);
        };
        if rest.len() < NONCE_LEN {
            return Err(KekError::Decrypt);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::Decrypt)?;
        let mut body = body.to_vec();
        let plain = self.0.open_in_place(nonce, Aad::from(associated), &mut body).map_err(|_| KekError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn round_trip_and_tamper_detection() {
        let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64(&OsEntropy)).unwrap();
        let sealed = kek.seal(&OsEntropy, b"kid-1", b"private key");
        assert_eq!(kek.open(b"kid-1", &sealed).unwrap(), b"private key");
        assert_eq!(kek.open(b"kid-2", &sealed), Err(KekError::Decrypt));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(kek.open(b"kid-1", &flipped), Err(KekError::Decrypt));
        let other = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64(&OsEntropy)).unwrap();
        assert_eq!(other.open(b"kid-1", &sealed), Err(KekError::Decrypt));
        assert!(kek.open(b"kid-1", &[]).is_err());
    }

    #[test]
    fn refuses_short_keys() {
        assert!(KeyEncryptionKey::from_base64("c2hvcnQ=").is_err());
        assert!(KeyEncryptionKey::from_base64("not base64!").is_err());
    }
}
