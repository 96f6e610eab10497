//! Built-in access tokens and refresh tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Claims of a TalkApp access token. The shape follows Supabase's, so clients that read
/// Supabase tokens read ours too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The sign-in session (refresh-token family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Always `authenticated`, as Supabase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// Issues and checks built-in access tokens (HS256).
#[derive(Clone)]
pub struct AccessTokens {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: u64,
}

impl AccessTokens {
    /// Tokens signed with `secret`, issued by `issuer` for `audience`, valid `ttl_secs`.
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        // Clocks of gateways differ a little; no more than this is forgiven.
        validation.leeway = super::verified_tokens::CLOCK_LEEWAY_SECS;
        Self {
            encoding_key: EncodingKey::from_secret(secret),
            decoding_key: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_secs,
        }
    }

    /// The issuer that marks our own tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// A signed access token for `user_id` in sign-in session `session_id`.
    pub fn issue(
        &self,
        user_id: Uuid,
        email: &str,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: Some(session_id.to_string()),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now.timestamp() + i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 2),
            iat: now.timestamp(),
            email: Some(email.to_owned()),
            role: Some("authenticated".to_owned()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding_key)
    }

    /// Checks signature, issuer, audience and expiry.
    pub fn decode(&self, token: &str) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding_key, &self.validation)
            .map(|data| data.claims)
    }

    /// The refresh token that replaces `presented` on the Supabase-compatible refresh,
    /// and its hash: HMAC-SHA256 of `presented` under the signing key, so presenting the
    /// same spent token again within the reuse interval yields the same successor without
    /// anyone keeping it in plain text. The domain prefix contains `:`, which no JWT
    /// signing input (base64url `.` base64url) does, so the two uses of the key never sign
    /// the same message.
    pub fn successor_refresh_token(
        &self,
        presented: &str,
    ) -> Result<(String, Vec<u8>), jsonwebtoken::errors::Error> {
        let message = format!("{SUCCESSOR_DOMAIN}{presented}");
        let token =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding_key, Algorithm::HS256)?;
        let hash = hash_refresh_token(&token);
        Ok((token, hash))
    }
}

/// Domain separation of [`AccessTokens::successor_refresh_token`].
const SUCCESSOR_DOMAIN: &str = "talkapp:refresh-successor:v1:";

/// A fresh refresh token (shown to the client once) and its hash (kept).
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// SHA-256 of a refresh token: enough for a 256-bit random secret, and fast to look up.
pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The built-in signing secret: configured, or generated once and kept in the data dir.
pub fn signing_secret(config: &talkapp_common::config::Config) -> anyhow::Result<Vec<u8>> {
    use secrecy::ExposeSecret;
    let configured = config.auth.signing_secret.expose_secret();
    talkapp_common::secrets::configured_or_generated(
        (!configured.is_empty()).then(|| configured.as_bytes().to_vec()),
        &config.data.dir,
        "token-signing.key",
        64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_decodes_and_a_tampered_one_does_not() {
        let tokens = AccessTokens::new(&[7; 32], "talkapp", "authenticated", 60);
        let user_id = Uuid::new_v4();
        let token = tokens
            .issue(user_id, "a@b.c", Uuid::new_v4(), Utc::now())
            .expect("issue");
        assert_eq!(
            tokens.decode(&token).expect("decode").sub,
            user_id.to_string()
        );
        let other = AccessTokens::new(&[8; 32], "talkapp", "authenticated", 60);
        assert!(other.decode(&token).is_err());
    }

    #[test]
    fn a_successor_is_the_same_for_the_same_token_and_unguessable_without_the_key() {
        let tokens = AccessTokens::new(&[7; 32], "talkapp", "authenticated", 60);
        let (presented, _) = new_refresh_token();
        let (first, first_hash) = tokens.successor_refresh_token(&presented).expect("derive");
        let (again, _) = tokens.successor_refresh_token(&presented).expect("derive");
        assert_eq!(first, again);
        assert_eq!(first.len(), presented.len());
        assert_eq!(hash_refresh_token(&first), first_hash);
        let other_key = AccessTokens::new(&[8; 32], "talkapp", "authenticated", 60);
        let (other, _) = other_key
            .successor_refresh_token(&presented)
            .expect("derive");
        assert_ne!(first, other);
        let (next, _) = tokens.successor_refresh_token(&first).expect("derive");
        assert_ne!(first, next);
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (first, first_hash) = new_refresh_token();
        let (second, _) = new_refresh_token();
        assert_ne!(first, second);
        assert_eq!(hash_refresh_token(&first), first_hash);
        assert_eq!(first_hash.len(), 32);
    }
}
