//! What encryption and decryption share: the `aes128gcm` header layout (RFC 8188 §2.1)
//! and the Web Push key schedule (RFC 8291 §3.3–3.4).
//!
//! ```text
//! header = salt (16) || rs (4, big endian) || idlen (1) = 65 || keyid = as_public (65)
//! body   = header || AES-128-GCM(CEK, NONCE, payload || 0x02)
//! ```

use hkdf::Hkdf;
use p256::PublicKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Sha256;

use crate::base64url;
use crate::error::{Result, WebPushError};

/// Length of the random salt that starts every message.
pub(crate) const SALT_LEN: usize = 16;
/// Length of a subscription's `auth` secret.
pub(crate) const AUTH_SECRET_LEN: usize = 16;
/// Length of an uncompressed P-256 point (0x04 || x || y), the only form Web Push uses.
pub(crate) const PUBLIC_KEY_LEN: usize = 65;
/// salt || rs || idlen || keyid.
pub(crate) const HEADER_LEN: usize = SALT_LEN + 4 + 1 + PUBLIC_KEY_LEN;
/// The AES-GCM authentication tag that ends every record.
pub(crate) const TAG_LEN: usize = 16;
/// Ends the plaintext of the last (here: the only) record; padding zeros may follow it.
pub(crate) const LAST_RECORD_DELIMITER: u8 = 0x02;

/// The record size written in every message header.
///
/// 4096 is what RFC 8291's example and the common tools use; as the payload is capped so
/// that the whole body fits in [`MAX_BODY_LEN`], one record always holds it.
pub const RECORD_SIZE: u32 = 4096;
/// The largest encrypted body push services must accept (RFC 8030 §7.2, RFC 8291 §4).
pub const MAX_BODY_LEN: usize = 4096;
/// The largest payload that fits: 4096 − 86 (header) − 1 (delimiter) − 16 (tag) = 3993.
pub const MAX_PAYLOAD_LEN: usize = MAX_BODY_LEN - HEADER_LEN - 1 - TAG_LEN;

const KEY_INFO_PREFIX: &[u8] = b"WebPush: info\0";
const CEK_INFO: &[u8] = b"Content-Encoding: aes128gcm\0";
const NONCE_INFO: &[u8] = b"Content-Encoding: nonce\0";

/// The content-encryption key and nonce of a message (its only record uses the nonce as
/// is: the record sequence number 0 leaves it unchanged).
pub(crate) struct ContentKeys {
    pub(crate) cek: [u8; 16],
    pub(crate) nonce: [u8; 12],
}

/// RFC 8291 §3.4: IKM = HKDF(salt = auth_secret, ikm = ecdh_secret,
/// info = "WebPush: info\0" || ua_public || as_public, L = 32).
pub(crate) fn input_keying_material(
    ecdh_secret: &[u8],
    auth_secret: &[u8; AUTH_SECRET_LEN],
    ua_public: &[u8; PUBLIC_KEY_LEN],
    as_public: &[u8; PUBLIC_KEY_LEN],
) -> [u8; 32] {
    let mut key_info = Vec::with_capacity(KEY_INFO_PREFIX.len() + 2 * PUBLIC_KEY_LEN);
    key_info.extend_from_slice(KEY_INFO_PREFIX);
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth_secret), ecdh_secret)
        .expand(&key_info, &mut ikm)
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    ikm
}

/// RFC 8188 §2.2–2.3: PRK = HKDF-Extract(salt, IKM), then CEK (16 bytes) and NONCE
/// (12 bytes) expanded from it.
pub(crate) fn content_keys(ikm: &[u8; 32], salt: &[u8; SALT_LEN]) -> ContentKeys {
    let prk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(CEK_INFO, &mut cek)
        .expect("16 bytes is a valid HKDF-SHA-256 output length");
    prk.expand(NONCE_INFO, &mut nonce)
        .expect("12 bytes is a valid HKDF-SHA-256 output length");
    ContentKeys { cek, nonce }
}

/// The uncompressed SEC1 encoding of a public key.
pub(crate) fn public_key_bytes(key: &PublicKey) -> [u8; PUBLIC_KEY_LEN] {
    let point = key.to_encoded_point(false);
    let mut bytes = [0u8; PUBLIC_KEY_LEN];
    // A public key is never the identity, so its uncompressed form is always 65 bytes.
    bytes.copy_from_slice(point.as_bytes());
    bytes
}

/// Parses an uncompressed P-256 point; `what` names it in errors.
pub(crate) fn parse_public_key(bytes: &[u8], what: &'static str) -> Result<PublicKey> {
    let uncompressed = bytes.len() == PUBLIC_KEY_LEN && bytes.first() == Some(&0x04);
    if !uncompressed {
        return Err(WebPushError::InvalidKey {
            what,
            reason: "expected an uncompressed P-256 point (65 bytes starting with 0x04)",
        });
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| WebPushError::InvalidKey {
        what,
        reason: "not a point on the P-256 curve",
    })
}

/// Parses a subscription's `p256dh` (base64url of the user agent's public key).
pub(crate) fn parse_subscription_public_key(p256dh: &str) -> Result<PublicKey> {
    let what = "subscription p256dh";
    parse_public_key(&base64url::decode(p256dh, what)?, what)
}

/// Parses a subscription's `auth` (base64url of the 16-byte authentication secret).
pub(crate) fn parse_auth_secret(auth: &str) -> Result<[u8; AUTH_SECRET_LEN]> {
    base64url::decode_exact(auth, "subscription auth", "expected 16 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_limit_is_the_rfc_8291_figure() {
        assert_eq!(HEADER_LEN, 86);
        assert_eq!(MAX_PAYLOAD_LEN, 3993);
    }

    #[test]
    fn compressed_points_are_refused() {
        let compressed = [0x02; 33];
        assert!(matches!(
            parse_public_key(&compressed, "k"),
            Err(WebPushError::InvalidKey { what: "k", .. })
        ));
    }

    #[test]
    fn points_off_the_curve_are_refused() {
        let mut off_curve = [0x01; PUBLIC_KEY_LEN];
        off_curve[0] = 0x04;
        assert!(matches!(
            parse_public_key(&off_curve, "k"),
            Err(WebPushError::InvalidKey {
                reason: "not a point on the P-256 curve",
                ..
            })
        ));
    }

    #[test]
    fn an_auth_secret_must_be_16_bytes() {
        assert!(parse_auth_secret("BTBZMqHH6r4Tts7J_aSIgg").is_ok());
        assert!(matches!(
            parse_auth_secret("BTBZMqHH6r4Tts7J_aSI"),
            Err(WebPushError::InvalidKey { .. })
        ));
    }
}
