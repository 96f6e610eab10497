//! Operators: who may read every user's audit log and activity, and disable users.
//!
//! An operator token is not a user token: it is a random secret (`tko_` and 43 base64url
//! characters, [`new_operator_token`]) of which only the SHA-256 is configured
//! (`operator.token_sha256`). No user token can pass as one, and an operator token is no
//! user's. With no hash configured the `/admin` routes answer 404, as if absent.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::LocalBoxFuture;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use talkapp_common::ErrorCode;

use super::verifier::bearer_token;
use crate::problem::ApiError;
use crate::rate_limit::Bucket;
use crate::state::AppState;

/// The prefix of operator tokens (so one is recognised in a secret scanner's output).
pub const OPERATOR_TOKEN_PREFIX: &str = "tko_";

/// A new operator token and the hex SHA-256 to configure for it.
pub fn new_operator_token() -> (String, String) {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{OPERATOR_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = operator_token_hash(&token);
    (token, hash)
}

/// The hex SHA-256 of `token`.
pub fn operator_token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `token` is one of the configured operators' (compared in constant time).
fn is_operator(token: &str, configured: &[String]) -> bool {
    if !token.starts_with(OPERATOR_TOKEN_PREFIX) {
        return false;
    }
    let presented = operator_token_hash(token);
    configured.iter().fold(false, |found, hash| {
        let equal = hash.len() == presented.len()
            && hash
                .bytes()
                .zip(presented.bytes())
                .fold(0_u8, |difference, (a, b)| {
                    difference | (a.to_ascii_lowercase() ^ b)
                })
                == 0;
        found | equal
    })
}

/// A request made with an operator token.
#[derive(Debug, Clone)]
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(request).map(str::to_owned);
        let address = state
            .as_ref()
            .map(|state| state.client_address(request))
            .unwrap_or_default();
        crate::audit::note_path(request);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let configured = &state.config.operator.token_sha256;
            if configured.is_empty() {
                return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
            }
            let token = token?;
            if !is_operator(&token, configured) {
                // Guessing is limited like signing in.
                state.rate_limiter.check(Bucket::Auth, &address).await?;
                return Err(ApiError::new(
                    ErrorCode::TokenInvalid,
                    "not an operator token",
                ));
            }
            crate::audit::note(|note| note.operator = true);
            Ok(Operator)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_matches_its_hash_and_nothing_else_does() {
        let (token, hash) = new_operator_token();
        assert!(token.starts_with(OPERATOR_TOKEN_PREFIX));
        assert_eq!(token.len(), 4 + 43);
        assert_eq!(hash.len(), 64);
        let configured = vec!["0".repeat(64), hash.to_uppercase()];
        assert!(is_operator(&token, &configured));
        let (other, _) = new_operator_token();
        assert!(!is_operator(&other, &configured));
        // The hash itself, or the token without its prefix, is not a token.
        assert!(!is_operator(&hash, &configured));
        assert!(!is_operator(&token[4..], &configured));
        assert!(!is_operator(&token, &[]));
    }
}
