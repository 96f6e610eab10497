//! Bearer tokens whose signature and claims were checked recently (ADR 0048).
//!
//! A client sends the same access token with every request until it refreshes it (an
//! hour for Supabase's and the built-in ones). Checking it costs four or five base64
//! decodings, five or six JSON parses (the header two or three times, the claims three)
//! and an HMAC (or a signature check against the provider's key); this
//! keeps what a check established, by the token's exact text, for [`VERIFIED_TOKEN_TTL`]:
//! the same text carries the same signature, so a hit proves what the check proved.
//!
//! Only the token's own checks are skipped. What can change while a token is valid is
//! checked on every request as before, by the verifier: a built-in sign-in session ended
//! or idle, an external subject disabled. The expiry is checked on every hit (with the
//! same [`CLOCK_LEEWAY_SECS`] as the full check); a token past it is checked in full
//! again, which refuses it with `token_expired`. A key the provider removed from its
//! JWKS stops its tokens within [`VERIFIED_TOKEN_TTL`] (the full check every minute).
//!
//! Bounds: at most [`CAPACITY`] tokens (a few hundred bytes each); when full, all are
//! forgotten (each costs a full check again).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::verifier::Identity;

/// How long a check of a token is relied on before the token is checked in full again.
pub const VERIFIED_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Tokens kept at most.
pub const CAPACITY: usize = 32_768;
/// Seconds past its `exp` a token is still accepted (clocks of issuers and gateways
/// differ a little); the full checks use the same.
pub const CLOCK_LEEWAY_SECS: u64 = 5;

/// What checking a token established, before any session or account check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The caller the token names.
    pub identity: Identity,
    /// Its `exp` (seconds since the epoch).
    pub expires_at: u64,
}

struct Entry {
    checked_at: Instant,
    token: VerifiedToken,
}

/// Recently checked tokens, by their text.
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Entry>>,
    ttl: Duration,
    capacity: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::new(VERIFIED_TOKEN_TTL, CAPACITY)
    }
}

impl VerifiedTokens {
    /// Keeps up to `capacity` tokens, each relied on for `ttl`.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    /// The caller `token` names, when it was checked within the TTL and is not expired
    /// at `now` (seconds since the epoch).
    pub fn get(&self, token: &str, now: u64) -> Option<Identity> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(token)?;
        let fresh = entry.checked_at.elapsed() < self.ttl
            && entry.token.expires_at.saturating_add(CLOCK_LEEWAY_SECS) >= now;
        fresh.then(|| entry.token.identity.clone())
    }

    /// Keeps what checking `token` established.
    pub fn put(&self, token: &str, verified: VerifiedToken) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(
            token.into(),
            Entry {
                checked_at: Instant::now(),
                token: verified,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::auth::verifier::TokenSource;

    const NOW: u64 = 1_800_000_000;

    fn verified(expires_at: u64) -> VerifiedToken {
        VerifiedToken {
            identity: Identity {
                user_id: Uuid::new_v4(),
                email: Some("a@example.com".to_owned()),
                source: TokenSource::External,
            },
            expires_at,
        }
    }

    #[test]
    fn a_checked_token_is_known_by_its_exact_text_only() {
        let tokens = VerifiedTokens::default();
        let token = verified(NOW + 3600);
        let user_id = token.identity.user_id;
        tokens.put("header.claims.signature", token);

        let hit = tokens.get("header.claims.signature", NOW).expect("kept");
        assert_eq!(hit.user_id, user_id);
        assert_eq!(hit.email.as_deref(), Some("a@example.com"));
        assert!(tokens.get("header.claims.signaturf", NOW).is_none());
        assert!(tokens.get("header.claims.signature ", NOW).is_none());
    }

    #[test]
    fn an_expired_token_is_not_served_past_the_leeway() {
        let tokens = VerifiedTokens::default();
        tokens.put("t", verified(NOW));
        assert!(
            tokens.get("t", NOW + CLOCK_LEEWAY_SECS).is_some(),
            "within the leeway"
        );
        assert!(
            tokens.get("t", NOW + CLOCK_LEEWAY_SECS + 1).is_none(),
            "past it"
        );
    }

    #[test]
    fn a_check_is_relied_on_for_the_ttl_only() {
        let tokens = VerifiedTokens::new(Duration::from_millis(30), CAPACITY);
        tokens.put("t", verified(NOW + 3600));
        assert!(tokens.get("t", NOW).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(tokens.get("t", NOW).is_none());
    }

    #[test]
    fn a_full_cache_forgets_everything_before_keeping_more() {
        let tokens = VerifiedTokens::new(VERIFIED_TOKEN_TTL, 2);
        tokens.put("a", verified(NOW + 3600));
        tokens.put("b", verified(NOW + 3600));
        tokens.put("c", verified(NOW + 3600));
        assert!(tokens.get("a", NOW).is_none());
        assert!(tokens.get("b", NOW).is_none());
        assert!(tokens.get("c", NOW).is_some());
    }
}
