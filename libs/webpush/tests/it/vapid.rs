//! Our hand-rolled ES256 VAPID tokens, checked by jsonwebtoken's independent
//! implementation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use talkapp_webpush::{VapidKey, VapidSigner};

use crate::helpers::CONTACT;

fn token_of(authorization: &str) -> &str {
    authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .map(|(token, _)| token)
        .expect("vapid t=…, k=…")
}

fn decoding_key(key: &VapidKey) -> DecodingKey {
    let point = URL_SAFE_NO_PAD
        .decode(key.public_key_base64url())
        .expect("base64url public key");
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
    DecodingKey::from_ec_components(&x, &y).expect("a P-256 point")
}

fn validation(audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation
}

#[test]
fn vapid_tokens_verify_with_an_independent_es256_implementation() {
    let key = VapidKey::generate();
    let signer = VapidSigner::new(key.clone(), CONTACT).expect("valid contact");
    let authorization = signer
        .authorization_header("https://updates.push.example.net/wpush/v2/gAAAA")
        .expect("valid endpoint");

    let decoded = jsonwebtoken::decode::<serde_json::Value>(
        token_of(&authorization),
        &decoding_key(&key),
        &validation("https://updates.push.example.net"),
    )
    .expect("jsonwebtoken accepts the token");

    assert_eq!(decoded.header.alg, Algorithm::ES256);
    assert_eq!(decoded.header.typ.as_deref(), Some("JWT"));
    assert_eq!(decoded.claims["sub"], CONTACT);
    assert!(authorization.ends_with(&format!(", k={}", key.public_key_base64url())));
}

#[test]
fn the_independent_implementation_refuses_a_token_checked_against_another_key() {
    let signer = VapidSigner::new(VapidKey::generate(), CONTACT).expect("valid contact");
    let authorization = signer
        .authorization_header("https://updates.push.example.net/x")
        .expect("valid endpoint");

    let result = jsonwebtoken::decode::<serde_json::Value>(
        token_of(&authorization),
        &decoding_key(&VapidKey::generate()),
        &validation("https://updates.push.example.net"),
    );

    assert!(result.is_err());
}
