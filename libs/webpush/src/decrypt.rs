//! The user agent's side of RFC 8291: what a browser does with a push message.
//!
//! TalkApp never needs this in production; it exists so that tests can stand in for a
//! browser and a push service, subscribe with [`UserAgentKeys`] and check, byte for byte,
//! what the sender delivered.
//!
//! Decryption is deliberately strict about the Web Push profile of `aes128gcm`: one record,
//! a 65-byte P-256 key id, the 0x02 last-record delimiter. A message any browser would
//! refuse must not pass a test.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use p256::SecretKey;

use crate::base64url;
use crate::ece::{
    self, AUTH_SECRET_LEN, HEADER_LEN, LAST_RECORD_DELIMITER, PUBLIC_KEY_LEN, SALT_LEN, TAG_LEN,
};
use crate::error::{Result, WebPushError};
use crate::random::{random_bytes, random_secret_key};
use crate::subscription::Subscription;

/// RFC 8188 §2: a record size below 18 cannot hold a tag and a delimiter.
const MIN_RECORD_SIZE: u32 = 18;

/// Decrypts a Web Push message body with the user agent's private key and auth secret.
///
/// # Errors
/// [`WebPushError::Decryption`] when the header is malformed, the message has more than
/// one record, authentication fails (wrong keys, or the body was altered) or the padding
/// is not RFC 8188's.
pub fn decrypt(body: &[u8], ua_private_key: &SecretKey, auth_secret: &[u8; 16]) -> Result<Vec<u8>> {
    let failure = |reason| WebPushError::Decryption { reason };
    let Some((header, record)) = body.split_at_checked(HEADER_LEN) else {
        return Err(failure("shorter than the 86-byte aes128gcm header"));
    };
    let (salt, rest) = header.split_at(SALT_LEN);
    let (record_size, rest) = rest.split_at(4);
    let (key_id_len, as_public_bytes) = rest.split_at(1);
    let salt: [u8; SALT_LEN] = salt.try_into().map_err(|_| failure("bad salt length"))?;
    let record_size = u32::from_be_bytes(
        record_size
            .try_into()
            .map_err(|_| failure("bad record size length"))?,
    );

    if usize::from(key_id_len[0]) != PUBLIC_KEY_LEN {
        return Err(failure(
            "the key id is not a 65-byte P-256 public key (idlen must be 65)",
        ));
    }
    if record_size < MIN_RECORD_SIZE {
        return Err(failure("record size below RFC 8188's minimum of 18"));
    }
    if record.len() > record_size as usize {
        return Err(failure(
            "more than one record: Web Push messages are a single record",
        ));
    }
    if record.len() < TAG_LEN + 1 {
        return Err(failure(
            "the record is too short to hold a delimiter and a tag",
        ));
    }
    let as_public = ece::parse_public_key(as_public_bytes, "key id")
        .map_err(|_| failure("the key id is not a valid P-256 public key"))?;
    let as_public_bytes: [u8; PUBLIC_KEY_LEN] = as_public_bytes
        .try_into()
        .map_err(|_| failure("bad key id length"))?;

    let ua_public_bytes = ece::public_key_bytes(&ua_private_key.public_key());
    let shared_secret =
        p256::ecdh::diffie_hellman(ua_private_key.to_nonzero_scalar(), as_public.as_affine());
    let ikm = ece::input_keying_material(
        shared_secret.raw_secret_bytes(),
        auth_secret,
        &ua_public_bytes,
        &as_public_bytes,
    );
    let keys = ece::content_keys(&ikm, &salt);

    let mut plaintext = record.to_vec();
    Aes128Gcm::new(&keys.cek.into())
        .decrypt_in_place(&Nonce::from(keys.nonce), b"", &mut plaintext)
        .map_err(|_| {
            failure("authentication failed: the keys do not match or the message was altered")
        })?;

    // RFC 8188 §2: the plaintext is data || delimiter || zero or more 0x00 of padding.
    let Some(delimiter_at) = plaintext.iter().rposition(|&byte| byte != 0) else {
        return Err(failure("the record has no padding delimiter"));
    };
    if plaintext[delimiter_at] != LAST_RECORD_DELIMITER {
        return Err(failure(
            "the only record must end with the 0x02 last-record delimiter",
        ));
    }
    plaintext.truncate(delimiter_at);
    Ok(plaintext)
}

/// A user agent's push subscription keys: the P-256 key pair behind `p256dh` and the
/// 16-byte `auth` secret. For tests that play the browser.
#[derive(Clone)]
pub struct UserAgentKeys {
    private_key: SecretKey,
    auth_secret: [u8; AUTH_SECRET_LEN],
}

impl UserAgentKeys {
    /// Fresh random keys, as a browser makes for each subscription.
    pub fn generate() -> Self {
        Self {
            private_key: random_secret_key(),
            auth_secret: random_bytes(),
        }
    }

    /// Keys from the base64url private scalar (32 bytes) and auth secret (16 bytes).
    ///
    /// # Errors
    /// [`WebPushError::InvalidBase64`] / [`WebPushError::InvalidKey`].
    pub fn from_base64url(private_key: &str, auth_secret: &str) -> Result<Self> {
        let what = "user agent private key";
        let scalar = base64url::decode_exact::<32>(private_key, what, "expected 32 bytes")?;
        let private_key =
            SecretKey::from_bytes(&scalar.into()).map_err(|_| WebPushError::InvalidKey {
                what,
                reason: "not a valid P-256 scalar",
            })?;
        Ok(Self {
            private_key,
            auth_secret: ece::parse_auth_secret(auth_secret)?,
        })
    }

    /// The subscription's `p256dh`: the uncompressed public key, base64url.
    pub fn p256dh(&self) -> String {
        base64url::encode(ece::public_key_bytes(&self.private_key.public_key()))
    }

    /// The subscription's `auth`: the authentication secret, base64url.
    pub fn auth(&self) -> String {
        base64url::encode(self.auth_secret)
    }

    /// The private key, for [`decrypt()`].
    pub fn private_key(&self) -> &SecretKey {
        &self.private_key
    }

    /// The authentication secret, for [`decrypt()`].
    pub fn auth_secret(&self) -> &[u8; 16] {
        &self.auth_secret
    }

    /// The [`Subscription`] a browser holding these keys would hand over for `endpoint`.
    pub fn subscription(&self, endpoint: impl Into<String>) -> Subscription {
        Subscription {
            endpoint: endpoint.into(),
            p256dh: self.p256dh(),
            auth: self.auth(),
        }
    }

    /// Decrypts a message sent to this subscription; see [`decrypt()`].
    ///
    /// # Errors
    /// As [`decrypt()`].
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>> {
        decrypt(body, &self.private_key, &self.auth_secret)
    }
}

impl fmt::Debug for UserAgentKeys {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UserAgentKeys")
            .field("p256dh", &self.p256dh())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encrypt::encrypt;
    use crate::encrypt::tests::{bytes, rfc8291};

    fn keys_and_body(payload: &[u8]) -> (UserAgentKeys, Vec<u8>) {
        let keys = UserAgentKeys::generate();
        let body = encrypt(payload, &keys.p256dh(), &keys.auth()).expect("fits");
        (keys, body)
    }

    fn assert_fails(keys: &UserAgentKeys, body: &[u8], reason_part: &str) {
        match keys.decrypt(body) {
            Err(WebPushError::Decryption { reason }) => {
                assert!(reason.contains(reason_part), "reason {reason:?}")
            }
            other => panic!("expected a decryption failure, got {other:?}"),
        }
    }

    #[test]
    fn flipping_any_byte_of_the_record_fails_authentication() {
        let (keys, body) = keys_and_body(b"hello, tamper me");
        for index in HEADER_LEN..body.len() {
            let mut tampered = body.clone();
            tampered[index] ^= 0x01;
            assert_fails(&keys, &tampered, "authentication failed");
        }
    }

    #[test]
    fn a_changed_salt_fails_authentication() {
        let (keys, mut body) = keys_and_body(b"hello");
        body[3] ^= 0x80;
        assert_fails(&keys, &body, "authentication failed");
    }

    #[test]
    fn a_swapped_sender_key_fails() {
        let (keys, mut body) = keys_and_body(b"hello");
        let other_sender = ece::public_key_bytes(&random_secret_key().public_key());
        body[21..HEADER_LEN].copy_from_slice(&other_sender);
        assert_fails(&keys, &body, "authentication failed");
    }

    #[test]
    fn a_corrupted_sender_key_is_not_a_point() {
        let (keys, mut body) = keys_and_body(b"hello");
        body[40] ^= 0x01;
        assert_fails(&keys, &body, "key id");
    }

    #[test]
    fn another_subscriptions_keys_cannot_decrypt() {
        let (_, body) = keys_and_body(b"for someone else");
        assert_fails(&UserAgentKeys::generate(), &body, "authentication failed");
    }

    #[test]
    fn a_wrong_auth_secret_cannot_decrypt() {
        let (keys, body) = keys_and_body(b"hello");
        let wrong_auth = [0u8; AUTH_SECRET_LEN];
        match decrypt(&body, keys.private_key(), &wrong_auth) {
            Err(WebPushError::Decryption { reason }) => {
                assert!(reason.contains("authentication failed"))
            }
            other => panic!("expected a decryption failure, got {other:?}"),
        }
    }

    #[test]
    fn truncated_messages_fail() {
        let (keys, body) = keys_and_body(b"hello");
        assert_fails(&keys, &body[..body.len() - 1], "authentication failed");
        assert_fails(&keys, &body[..HEADER_LEN + TAG_LEN], "too short");
        assert_fails(&keys, &body[..HEADER_LEN - 1], "shorter than the 86-byte");
    }

    #[test]
    fn a_key_id_of_another_length_is_refused() {
        let (keys, mut body) = keys_and_body(b"hello");
        body[20] = 64;
        assert_fails(&keys, &body, "idlen must be 65");
    }

    #[test]
    fn a_body_longer_than_its_record_size_is_refused_as_several_records() {
        let (keys, mut body) = keys_and_body(b"hello");
        body[16..20].copy_from_slice(&18u32.to_be_bytes());
        assert_fails(&keys, &body, "more than one record");
    }

    #[test]
    fn a_record_size_below_18_is_refused() {
        let (keys, mut body) = keys_and_body(b"hello");
        body[16..20].copy_from_slice(&17u32.to_be_bytes());
        assert_fails(&keys, &body, "minimum of 18");
    }

    /// Seals `record_plaintext` as the sender would, so padding rules can be exercised
    /// with plaintexts the sender itself never produces.
    fn seal_raw(keys: &UserAgentKeys, record_plaintext: &[u8]) -> Vec<u8> {
        let as_secret = random_secret_key();
        let salt = [9u8; SALT_LEN];
        let as_public = ece::public_key_bytes(&as_secret.public_key());
        let ua_public = ece::public_key_bytes(&keys.private_key().public_key());
        let shared = p256::ecdh::diffie_hellman(
            as_secret.to_nonzero_scalar(),
            keys.private_key().public_key().as_affine(),
        );
        let ikm = ece::input_keying_material(
            shared.raw_secret_bytes(),
            keys.auth_secret(),
            &ua_public,
            &as_public,
        );
        let content_keys = ece::content_keys(&ikm, &salt);
        let mut record = record_plaintext.to_vec();
        Aes128Gcm::new(&content_keys.cek.into())
            .encrypt_in_place(&Nonce::from(content_keys.nonce), b"", &mut record)
            .expect("small plaintext");
        let mut body = salt.to_vec();
        body.extend_from_slice(&crate::RECORD_SIZE.to_be_bytes());
        body.push(65);
        body.extend_from_slice(&as_public);
        body.extend_from_slice(&record);
        body
    }

    #[test]
    fn padding_zeros_after_the_delimiter_are_stripped() {
        let keys = UserAgentKeys::generate();
        let body = seal_raw(&keys, b"data\x02\0\0\0\0");
        assert_eq!(keys.decrypt(&body).expect("valid padding"), b"data");
    }

    #[test]
    fn a_non_final_delimiter_in_the_only_record_is_refused() {
        let keys = UserAgentKeys::generate();
        let body = seal_raw(&keys, b"data\x01\0\0");
        assert_fails(&keys, &body, "0x02 last-record delimiter");
    }

    #[test]
    fn a_record_of_only_zeros_has_no_delimiter() {
        let keys = UserAgentKeys::generate();
        let body = seal_raw(&keys, b"\0\0\0");
        assert_fails(&keys, &body, "no padding delimiter");
    }

    #[test]
    fn keys_round_trip_through_base64url_and_keep_the_rfc_public_key() {
        let keys = UserAgentKeys::from_base64url(rfc8291::UA_PRIVATE, rfc8291::AUTH_SECRET)
            .expect("valid RFC keys");
        let subscription = keys.subscription("https://push.example.net/abc");
        assert_eq!(subscription.p256dh, rfc8291::UA_PUBLIC);
        assert_eq!(subscription.auth, rfc8291::AUTH_SECRET);
        assert_eq!(keys.auth_secret().as_slice(), bytes(rfc8291::AUTH_SECRET));
    }

    #[test]
    fn a_zero_private_key_is_refused() {
        let zero = base64url::encode([0u8; 32]);
        assert!(matches!(
            UserAgentKeys::from_base64url(&zero, rfc8291::AUTH_SECRET),
            Err(WebPushError::InvalidKey { .. })
        ));
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let keys = UserAgentKeys::generate();
        let printed = format!("{keys:?}");
        assert!(printed.contains(&keys.p256dh()));
        assert!(!printed.contains(&keys.auth()));
    }
}
