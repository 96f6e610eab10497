//! Telegram sessions hold auth keys: whoever has one *is* that Telegram account. They are
//! stored only sealed with AES-256-GCM under a key from the configuration.
//!
//! Format: `version (1 byte) || nonce (12 bytes) || ciphertext+tag`. The associated data
//! binds a blob to its owner (TalkApp user and session index), so a blob copied into
//! another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Why a sealed blob did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Too short, or of an unknown format version.
    #[error("sealed session is malformed")]
    Malformed,
    /// Wrong key, wrong owner, or altered bytes.
    #[error("sealed session does not open with this key for this owner")]
    Rejected,
    /// Encryption itself failed (never expected).
    #[error("sealing failed")]
    Sealing,
}

/// Seals and opens session snapshots.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl Sealer {
    /// A sealer with a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Encrypts `plaintext` for the owner named by `associated_data`.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| SealError::Sealing)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Decrypts what [`Sealer::seal`] made for the same owner.
    pub fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Malformed)?;
        if version != FORMAT_VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map_err(|_| SealError::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_blob_opens_for_its_owner_and_reveals_nothing() {
        let sealer = Sealer::new(&[9; 32]);
        let secret = b"auth key bytes auth key bytes";
        let sealed = sealer.seal(secret, b"user-1/1").expect("seals");
        assert!(!sealed.windows(secret.len()).any(|window| window == secret));
        assert_eq!(sealer.open(&sealed, b"user-1/1").expect("opens"), secret);
    }

    #[test]
    fn a_blob_does_not_open_for_another_owner_another_key_or_after_tampering() {
        let sealer = Sealer::new(&[9; 32]);
        let sealed = sealer.seal(b"secret", b"user-1/1").expect("seals");
        assert_eq!(sealer.open(&sealed, b"user-2/1"), Err(SealError::Rejected));
        assert_eq!(
            Sealer::new(&[8; 32]).open(&sealed, b"user-1/1"),
            Err(SealError::Rejected)
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            sealer.open(&tampered, b"user-1/1"),
            Err(SealError::Rejected)
        );
        assert_eq!(
            sealer.open(&sealed[..5], b"user-1/1"),
            Err(SealError::Malformed)
        );
    }

    #[test]
    fn sealing_twice_gives_different_blobs() {
        let sealer = Sealer::new(&[1; 32]);
        assert_ne!(
            sealer.seal(b"same", b"owner").expect("seals"),
            sealer.seal(b"same", b"owner").expect("seals")
        );
    }
}
