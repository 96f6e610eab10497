//! RFC 8291 message encryption: the application server's side.
//!
//! Every message gets a fresh ephemeral P-256 key pair and a fresh 16-byte salt, so the
//! same payload never encrypts to the same bytes twice and nothing links two messages.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use p256::{PublicKey, SecretKey};

use crate::ece::{
    self, AUTH_SECRET_LEN, HEADER_LEN, LAST_RECORD_DELIMITER, MAX_PAYLOAD_LEN, PUBLIC_KEY_LEN,
    RECORD_SIZE, SALT_LEN, TAG_LEN,
};
use crate::error::{Result, WebPushError};
use crate::random::{random_bytes, random_secret_key};

/// Encrypts `payload` for the subscription whose keys are `p256dh` and `auth` (both
/// base64url, as the browser's `PushSubscription.toJSON()` gives them).
///
/// The result is the whole `aes128gcm` body to POST (header and one record): 86 + 17 +
/// `payload.len()` bytes.
///
/// # Errors
/// [`WebPushError::PayloadTooLarge`] beyond [`MAX_PAYLOAD_LEN`] (3993) bytes, and
/// [`WebPushError::InvalidBase64`] / [`WebPushError::InvalidKey`] for unusable keys.
pub fn encrypt(payload: &[u8], p256dh: &str, auth: &str) -> Result<Vec<u8>> {
    ensure_fits_one_record(payload)?;
    let ua_public = ece::parse_subscription_public_key(p256dh)?;
    let auth_secret = ece::parse_auth_secret(auth)?;
    let ephemeral_secret = random_secret_key();
    let salt = random_bytes::<SALT_LEN>();
    encrypt_with(payload, &ua_public, &auth_secret, &ephemeral_secret, &salt)
}

fn ensure_fits_one_record(payload: &[u8]) -> Result<()> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(WebPushError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD_LEN,
        });
    }
    Ok(())
}

/// [`encrypt`] with the ephemeral key and the salt given: the RFC 8291 test vector fixes
/// both, production never does.
pub(crate) fn encrypt_with(
    payload: &[u8],
    ua_public: &PublicKey,
    auth_secret: &[u8; AUTH_SECRET_LEN],
    ephemeral_secret: &SecretKey,
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>> {
    ensure_fits_one_record(payload)?;
    let as_public = ece::public_key_bytes(&ephemeral_secret.public_key());
    let ua_public_bytes = ece::public_key_bytes(ua_public);
    let shared_secret =
        p256::ecdh::diffie_hellman(ephemeral_secret.to_nonzero_scalar(), ua_public.as_affine());
    let ikm = ece::input_keying_material(
        shared_secret.raw_secret_bytes(),
        auth_secret,
        &ua_public_bytes,
        &as_public,
    );
    let keys = ece::content_keys(&ikm, salt);

    let mut record = Vec::with_capacity(payload.len() + 1 + TAG_LEN);
    record.extend_from_slice(payload);
    record.push(LAST_RECORD_DELIMITER);
    Aes128Gcm::new(&keys.cek.into())
        .encrypt_in_place(&Nonce::from(keys.nonce), b"", &mut record)
        .expect("AES-GCM accepts any plaintext below 64 GiB; this one is at most 3994 bytes");

    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PUBLIC_KEY_LEN as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::base64url;
    use crate::decrypt::{UserAgentKeys, decrypt};

    /// RFC 8291 Appendix A, verbatim (base64url).
    pub(crate) mod rfc8291 {
        pub(crate) const PLAINTEXT: &str =
            "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24";
        pub(crate) const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
        pub(crate) const AS_PUBLIC: &str = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
        pub(crate) const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
        pub(crate) const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        pub(crate) const AUTH_SECRET: &str = "BTBZMqHH6r4Tts7J_aSIgg";
        pub(crate) const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
        pub(crate) const ECDH_SECRET: &str = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
        pub(crate) const IKM: &str = "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg";
        pub(crate) const CEK: &str = "oIhVW04MRdy2XN9CiKLxTg";
        pub(crate) const NONCE: &str = "4h_95klXJ5E_qnoN";
        pub(crate) const MESSAGE: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";
    }

    pub(crate) fn bytes(text: &str) -> Vec<u8> {
        base64url::decode(text, "test vector").expect("test vectors are valid base64url")
    }

    fn array<const N: usize>(text: &str) -> [u8; N] {
        bytes(text)
            .try_into()
            .expect("test vector has the expected length")
    }

    fn secret_key(text: &str) -> SecretKey {
        SecretKey::from_slice(&bytes(text)).expect("test vector is a valid scalar")
    }

    #[test]
    fn the_rfc_8291_example_key_schedule_is_reproduced() {
        let as_secret = secret_key(rfc8291::AS_PRIVATE);
        let ua_public =
            ece::parse_public_key(&bytes(rfc8291::UA_PUBLIC), "ua").expect("valid UA key");

        let as_public = ece::public_key_bytes(&as_secret.public_key());
        let shared =
            p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_public.as_affine());
        let ikm = ece::input_keying_material(
            shared.raw_secret_bytes(),
            &array(rfc8291::AUTH_SECRET),
            &array(rfc8291::UA_PUBLIC),
            &as_public,
        );
        let keys = ece::content_keys(&ikm, &array(rfc8291::SALT));

        assert_eq!(base64url::encode(as_public), rfc8291::AS_PUBLIC);
        assert_eq!(
            base64url::encode(shared.raw_secret_bytes()),
            rfc8291::ECDH_SECRET
        );
        assert_eq!(base64url::encode(ikm), rfc8291::IKM);
        assert_eq!(base64url::encode(keys.cek), rfc8291::CEK);
        assert_eq!(base64url::encode(keys.nonce), rfc8291::NONCE);
    }

    #[test]
    fn the_rfc_8291_example_message_is_reproduced_byte_for_byte() {
        let ua_public =
            ece::parse_public_key(&bytes(rfc8291::UA_PUBLIC), "ua").expect("valid UA key");

        let body = encrypt_with(
            &bytes(rfc8291::PLAINTEXT),
            &ua_public,
            &array(rfc8291::AUTH_SECRET),
            &secret_key(rfc8291::AS_PRIVATE),
            &array(rfc8291::SALT),
        )
        .expect("the example payload fits");

        assert_eq!(base64url::encode(&body), rfc8291::MESSAGE);
        assert_eq!(
            bytes(rfc8291::PLAINTEXT),
            b"When I grow up, I want to be a watermelon"
        );
    }

    #[test]
    fn the_rfc_8291_example_message_decrypts_with_the_user_agent_key() {
        let keys = UserAgentKeys::from_base64url(rfc8291::UA_PRIVATE, rfc8291::AUTH_SECRET)
            .expect("valid RFC keys");

        let plaintext = keys
            .decrypt(&bytes(rfc8291::MESSAGE))
            .expect("the RFC message decrypts");

        assert_eq!(keys.p256dh(), rfc8291::UA_PUBLIC);
        assert_eq!(plaintext, bytes(rfc8291::PLAINTEXT));
    }

    #[test]
    fn random_keys_round_trip_payloads_of_every_interesting_size() {
        for len in [
            0,
            1,
            15,
            16,
            17,
            100,
            1000,
            MAX_PAYLOAD_LEN - 1,
            MAX_PAYLOAD_LEN,
        ] {
            let keys = UserAgentKeys::generate();
            let payload: Vec<u8> = (0..len).map(|index| (index % 251) as u8).collect();

            let body = encrypt(&payload, &keys.p256dh(), &keys.auth()).expect("fits");
            let decrypted = decrypt(&body, keys.private_key(), keys.auth_secret())
                .expect("round trip decrypts");

            assert_eq!(decrypted, payload, "payload of {len} bytes");
            assert_eq!(body.len(), HEADER_LEN + len + 1 + TAG_LEN);
        }
    }

    #[test]
    fn a_payload_of_exactly_the_limit_makes_a_4096_byte_body() {
        let keys = UserAgentKeys::generate();
        let body = encrypt(&[7; MAX_PAYLOAD_LEN], &keys.p256dh(), &keys.auth()).expect("fits");
        assert_eq!(body.len(), crate::MAX_BODY_LEN);
    }

    #[test]
    fn every_message_uses_a_fresh_salt_and_ephemeral_key() {
        let keys = UserAgentKeys::generate();
        let first = encrypt(b"same", &keys.p256dh(), &keys.auth()).expect("fits");
        let second = encrypt(b"same", &keys.p256dh(), &keys.auth()).expect("fits");
        assert_ne!(first[..SALT_LEN], second[..SALT_LEN]);
        assert_ne!(first[21..HEADER_LEN], second[21..HEADER_LEN]);
    }

    #[test]
    fn the_header_carries_salt_record_size_and_the_ephemeral_public_key() {
        let keys = UserAgentKeys::generate();
        let body = encrypt(b"hello", &keys.p256dh(), &keys.auth()).expect("fits");
        assert_eq!(body[16..20], 4096u32.to_be_bytes());
        assert_eq!(body[20], 65);
        assert_eq!(body[21], 0x04);
        assert!(ece::parse_public_key(&body[21..HEADER_LEN], "keyid").is_ok());
    }

    #[test]
    fn a_payload_over_the_limit_is_refused_and_the_error_names_the_4096_byte_cap() {
        let keys = UserAgentKeys::generate();

        let error = encrypt(&[0; MAX_PAYLOAD_LEN + 1], &keys.p256dh(), &keys.auth())
            .expect_err("one byte too many");

        assert!(matches!(
            error,
            WebPushError::PayloadTooLarge {
                len: 3994,
                max: 3993
            }
        ));
        assert!(error.to_string().contains("4096 bytes of encrypted body"));
    }

    #[test]
    fn malformed_subscription_keys_are_refused() {
        let keys = UserAgentKeys::generate();
        assert!(matches!(
            encrypt(b"x", "not base64!", &keys.auth()),
            Err(WebPushError::InvalidBase64 { .. })
        ));
        assert!(matches!(
            encrypt(b"x", &keys.auth(), &keys.auth()),
            Err(WebPushError::InvalidKey { .. })
        ));
        assert!(matches!(
            encrypt(b"x", &keys.p256dh(), &keys.p256dh()),
            Err(WebPushError::InvalidKey { .. })
        ));
    }
}
