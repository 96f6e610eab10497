//! MTProto 2.0 encryption as seen from the server's side.
//!
//! grammers-crypto ships the client's half (it encrypts with `x = 0` and decrypts with
//! `x = 8`); a server needs the mirror image: it decrypts what clients sent with `x = 0` and
//! encrypts its own messages with `x = 8`. Only AES-IGE itself is reused from grammers.
//! See <https://core.telegram.org/mtproto/description#defining-aes-key-and-initialization-vector>.

use grammers_crypto::aes;
use rand::RngCore;
use sha1::{Digest as _, Sha1};
use sha2::{Digest, Sha256};

/// Bytes of `auth_key_id` + `msg_key` in front of every encrypted message.
pub(crate) const ENCRYPTED_HEADER_LEN: usize = 8 + 16;

/// A permanent authorization key and its id.
#[derive(Clone)]
pub(crate) struct AuthKey {
    data: [u8; 256],
    id: u64,
}

impl AuthKey {
    pub(crate) fn new(data: [u8; 256]) -> Self {
        // auth_key_id: the 64 lower-order bits of SHA1(auth_key), i.e. bytes 12..20.
        let sha = Sha1::digest(data);
        let mut id = [0u8; 8];
        id.copy_from_slice(&sha[12..20]);
        Self {
            data,
            id: u64::from_le_bytes(id),
        }
    }

    pub(crate) fn random() -> Self {
        let mut data = [0u8; 256];
        rand::rng().fill_bytes(&mut data);
        Self::new(data)
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn bytes(&self) -> [u8; 256] {
        self.data
    }
}

// Never print the key material.
impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKey").field("id", &self.id).finish()
    }
}

/// Why an encrypted message was refused. Each is a reason to close the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CryptoError {
    #[error("encrypted message has a bad length ({0} bytes)")]
    BadLength(usize),
    #[error("msg_key does not match the decrypted plaintext")]
    MsgKeyMismatch,
}

/// Which way a message travels; selects `x` in the key derivation.
#[derive(Clone, Copy)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    fn x(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 8,
        }
    }
}

fn msg_key_for(key: &AuthKey, plaintext: &[u8], direction: Direction) -> [u8; 16] {
    let x = direction.x();
    // msg_key_large = SHA256(substr(auth_key, 88+x, 32) + plaintext + random_padding)
    let large = Sha256::new()
        .chain_update(&key.data[88 + x..88 + x + 32])
        .chain_update(plaintext)
        .finalize();
    let mut msg_key = [0u8; 16];
    msg_key.copy_from_slice(&large[8..24]);
    msg_key
}

fn aes_key_iv(key: &AuthKey, msg_key: &[u8; 16], direction: Direction) -> ([u8; 32], [u8; 32]) {
    let x = direction.x();
    let a = Sha256::new()
        .chain_update(msg_key)
        .chain_update(&key.data[x..x + 36])
        .finalize();
    let b = Sha256::new()
        .chain_update(&key.data[40 + x..40 + x + 36])
        .chain_update(msg_key)
        .finalize();

    let mut aes_key = [0u8; 32];
    aes_key[..8].copy_from_slice(&a[..8]);
    aes_key[8..24].copy_from_slice(&b[8..24]);
    aes_key[24..].copy_from_slice(&a[24..]);

    let mut aes_iv = [0u8; 32];
    aes_iv[..8].copy_from_slice(&b[..8]);
    aes_iv[8..24].copy_from_slice(&a[8..24]);
    aes_iv[24..].copy_from_slice(&b[24..]);
    (aes_key, aes_iv)
}

/// Reads the `auth_key_id` of an encrypted message, if it is long enough to have one.
pub(crate) fn peek_key_id(message: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = message.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Decrypts a client's message (`auth_key_id`, `msg_key`, ciphertext) in place and returns
/// the plaintext (salt, session id, message, padding). The caller has already picked `key`
/// by the message's `auth_key_id`.
pub(crate) fn decrypt_from_client<'a>(
    key: &AuthKey,
    message: &'a mut [u8],
) -> Result<&'a [u8], CryptoError> {
    let len = message.len();
    // At least one 16-byte block after the header, and whole blocks only.
    if len < ENCRYPTED_HEADER_LEN + 16 || !(len - ENCRYPTED_HEADER_LEN).is_multiple_of(16) {
        return Err(CryptoError::BadLength(len));
    }
    let mut msg_key = [0u8; 16];
    msg_key.copy_from_slice(&message[8..ENCRYPTED_HEADER_LEN]);

    let (aes_key, aes_iv) = aes_key_iv(key, &msg_key, Direction::ClientToServer);
    let ciphertext = &mut message[ENCRYPTED_HEADER_LEN..];
    aes::ige_decrypt(ciphertext, &aes_key, &aes_iv);

    // The security guidelines require the msg_key to be checked against the plaintext.
    if msg_key_for(key, ciphertext, Direction::ClientToServer) != msg_key {
        return Err(CryptoError::MsgKeyMismatch);
    }
    Ok(ciphertext)
}

/// Encrypts the server's plaintext (salt, session id, message) for the client, padding it
/// with 12 to 1024 random bytes to a multiple of 16, and prefixes `auth_key_id` + `msg_key`.
pub(crate) fn encrypt_for_client(key: &AuthKey, mut plaintext: Vec<u8>) -> Vec<u8> {
    let mut rng = rand::rng();
    // MTProto 2.0: 12..=1024 bytes of padding, total length divisible by 16.
    let to_block = (16 - (plaintext.len() + 12) % 16) % 16;
    let extra_blocks = (rng.next_u32() % 4) as usize * 16;
    let padding_len = 12 + to_block + extra_blocks;
    let start = plaintext.len();
    plaintext.resize(start + padding_len, 0);
    rng.fill_bytes(&mut plaintext[start..]);

    let msg_key = msg_key_for(key, &plaintext, Direction::ServerToClient);
    let (aes_key, aes_iv) = aes_key_iv(key, &msg_key, Direction::ServerToClient);
    aes::ige_encrypt(&mut plaintext, &aes_key, &aes_iv);

    let mut out = Vec::with_capacity(ENCRYPTED_HEADER_LEN + plaintext.len());
    out.extend_from_slice(&key.id.to_le_bytes());
    out.extend_from_slice(&msg_key);
    out.extend_from_slice(&plaintext);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key() -> AuthKey {
        let mut data = [0u8; 256];
        data.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        AuthKey::new(data)
    }

    #[test]
    fn key_id_is_the_low_64_bits_of_sha1() {
        // The same vector grammers-crypto checks for its client-side key id.
        assert_eq!(
            test_key().id().to_le_bytes(),
            [50, 209, 88, 110, 164, 87, 223, 200]
        );
    }

    #[test]
    fn grammers_client_can_read_what_the_server_encrypts() {
        let key = test_key();
        let plaintext = b"0123456789abcdef0123456789abcdef_tail!!!".to_vec();
        let mut encrypted = encrypt_for_client(&key, plaintext.clone());
        let client_key = grammers_crypto::AuthKey::from_bytes(key.bytes());
        let decrypted = grammers_crypto::decrypt_data_v2(&mut encrypted, &client_key)
            .expect("the client accepts the server's encryption");
        assert_eq!(&decrypted[..plaintext.len()], &plaintext[..]);
        let padding = decrypted.len() - plaintext.len();
        assert!((12..=1024).contains(&padding), "padding {padding}");
    }

    #[test]
    fn server_reads_what_the_grammers_client_encrypts() {
        let key = test_key();
        let client_key = grammers_crypto::AuthKey::from_bytes(key.bytes());
        let mut buffer = grammers_crypto::DequeBuffer::with_capacity(64, 32);
        buffer.extend(b"hello from the client, 32 bytes");
        grammers_crypto::encrypt_data_v2(&mut buffer, &client_key);
        let mut message = buffer[..].to_vec();
        assert_eq!(peek_key_id(&message), Some(key.id()));
        let plaintext = decrypt_from_client(&key, &mut message).expect("decrypts");
        assert!(plaintext.starts_with(b"hello from the client, 32 bytes"));
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let key = test_key();
        let client_key = grammers_crypto::AuthKey::from_bytes(key.bytes());
        let mut buffer = grammers_crypto::DequeBuffer::with_capacity(64, 32);
        buffer.extend([7u8; 48]);
        grammers_crypto::encrypt_data_v2(&mut buffer, &client_key);
        let mut message = buffer[..].to_vec();
        let last = message.len() - 1;
        message[last] ^= 1;
        assert_eq!(
            decrypt_from_client(&key, &mut message).err(),
            Some(CryptoError::MsgKeyMismatch)
        );
        assert_eq!(
            decrypt_from_client(&key, &mut [0u8; 30]).err(),
            Some(CryptoError::BadLength(30))
        );
    }
}
