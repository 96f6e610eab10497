//! One verifier for both token sources.
//!
//! The unverified `iss` claim picks the source; that source then checks the token fully
//! with its own key, so peeking grants nothing:
//! - TalkApp's own issuer: HS256 with the built-in signing key, then the sign-in session
//!   must be live (not revoked, not expired, not idle longer than `auth.idle_timeout_secs`);
//! - the external provider's issuer (Supabase): HS256 with the project's JWT secret, or the
//!   provider's JWKS key named by `kid`; `exp`, `aud` and `iss` checked; `sub` is the user.
//!
//! What checking a token's text established is kept for a minute
//! ([`VerifiedTokens`], ADR 0048): a client's next requests with the same token skip
//! the signature and claim checks, never the session and account checks below.
//!
//! An external subject an operator disabled is refused (403 `account_disabled`) from the
//! gateway's memory ([`Revocations::is_subject_disabled`]), and the first token of each
//! external subject each day (UTC) records that it was seen (`talkapp_active_users`).
//!
//! A live built-in session is read from the store once per [`LIVE_SESSION_TTL`] and kept
//! in memory meanwhile: an ended one is known at once from the revocations every gateway
//! hears (sign-out, a reused refresh token, a deleted user: ADR 0017), and expiry and
//! idleness are checked against the copy on every request. A built-in user's row, for
//! `/auth/me`, is likewise read once per [`USER_TTL`] (ADR 0074).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use talkapp_common::ErrorCode;
use talkapp_common::config::AuthConfig;
use talkapp_store::{AccountStore, AuthSession, GatewayStore, User};
use uuid::Uuid;

use super::jwks::{JwksCache, JwksError};
use super::tokens::{AccessClaims, AccessTokens};
use super::verified_tokens::{CLOCK_LEEWAY_SECS, VerifiedToken, VerifiedTokens};
use crate::problem::ApiError;
use crate::revocations::Revocations;

/// How long a live sign-in session read from the store is trusted without reading it
/// again (revocations reach the verifier sooner, through [`Revocations`]).
pub const LIVE_SESSION_TTL: Duration = Duration::from_secs(30);
/// Live sessions kept at most (all forgotten when full: each costs a store read again).
const LIVE_SESSIONS_CAPACITY: usize = 100_000;

/// How long a built-in user's row read from the store is relied on (ADR 0074). Only its
/// `last_sign_in_at` ever changes, by a sign-in, which this gateway writes into its copy
/// at once; another replica's copy may show the previous sign-in for this long.
pub const USER_TTL: Duration = Duration::from_secs(30);
/// Users kept at most (all forgotten when full).
const USERS_CAPACITY: usize = 100_000;

/// Values read from the store recently, by id, each relied on for `ttl`; all forgotten
/// at once when `capacity` is reached (each then costs a store read again).
struct Recent<V> {
    entries: Mutex<HashMap<Uuid, (Instant, V)>>,
    ttl: Duration,
    capacity: usize,
}

impl<V: Clone> Recent<V> {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    fn get(&self, id: Uuid) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&id)
            .filter(|(read_at, _)| read_at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    fn put(&self, id: Uuid, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(id, (Instant::now(), value));
    }

    fn forget(&self, id: Uuid) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

/// External subjects remembered as seen today at most (all forgotten when full: each
/// costs a store write again).
const SEEN_TODAY_CAPACITY: usize = 200_000;

/// The external subjects whose sighting today is written already: at most one store
/// write per subject per day (UTC) per gateway.
#[derive(Default)]
struct SeenToday {
    seen: Mutex<(chrono::NaiveDate, std::collections::HashSet<Uuid>)>,
}

impl SeenToday {
    /// Whether `subject` is seen for the first time today (its sighting to be written).
    fn first_today(&self, subject: Uuid, now: chrono::DateTime<chrono::Utc>) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let today = now.date_naive();
        if seen.0 != today || seen.1.len() >= SEEN_TODAY_CAPACITY {
            *seen = (today, std::collections::HashSet::new());
        }
        seen.1.insert(subject)
    }
}

/// The refusal of an external subject an operator disabled.
pub fn subject_disabled() -> ApiError {
    ApiError::new(
        ErrorCode::AccountDisabled,
        "an operator disabled this user; ask the operator",
    )
}

/// Where a caller's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// TalkApp's built-in accounts; carries the sign-in session.
    Builtin {
        /// The sign-in session.
        session_id: Uuid,
    },
    /// The external identity provider.
    External,
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user id (`sub`).
    pub user_id: Uuid,
    /// Email, when the token carries one.
    pub email: Option<String>,
    /// Which source vouched for it.
    pub source: TokenSource,
}

impl Identity {
    /// The built-in sign-in session the token belongs to (none for an external token).
    pub fn sign_in_session(&self) -> Option<Uuid> {
        match self.source {
            TokenSource::Builtin { session_id } => Some(session_id),
            TokenSource::External => None,
        }
    }
}

struct ExternalProvider {
    /// The project's JWT secret and the checks of its tokens, made once.
    hs256: Option<(DecodingKey, Validation)>,
    jwks: Option<JwksCache>,
    issuer: String,
    audience: String,
}

impl ExternalProvider {
    /// What a token of `algorithm` from this provider must satisfy: issuer, audience,
    /// `exp`, `sub`, a few seconds of clock difference forgiven.
    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation
    }
}

/// Verifies bearer tokens from either source.
pub struct TokenVerifier {
    builtin: Option<AccessTokens>,
    external: Option<ExternalProvider>,
    store: Arc<dyn GatewayStore>,
    idle_timeout: chrono::TimeDelta,
    revocations: Arc<Revocations>,
    live: Recent<AuthSession>,
    users: Recent<User>,
    seen_today: SeenToday,
    verified: VerifiedTokens,
}

/// How often a live session's `last_seen_at` is written at most.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

impl TokenVerifier {
    /// A verifier per `config`; `builtin` is `None` when built-in accounts are off;
    /// `revocations` tells which sign-in sessions ended.
    pub fn new(
        config: &AuthConfig,
        builtin: Option<AccessTokens>,
        store: Arc<dyn GatewayStore>,
        revocations: Arc<Revocations>,
    ) -> anyhow::Result<Self> {
        let external_config = &config.external;
        let external = if external_config.is_enabled() {
            let secret = external_config.hs256_secret.expose_secret();
            let mut external = ExternalProvider {
                hs256: None,
                jwks: if external_config.jwks_url.is_empty() {
                    None
                } else {
                    Some(JwksCache::new(
                        external_config.jwks_url.clone(),
                        Duration::from_secs(external_config.jwks_refresh_secs.max(1)),
                    )?)
                },
                issuer: external_config.issuer.clone(),
                audience: external_config.audience.clone(),
            };
            if !secret.is_empty() {
                external.hs256 = Some((
                    DecodingKey::from_secret(secret.as_bytes()),
                    external.validation(Algorithm::HS256),
                ));
            }
            Some(external)
        } else {
            None
        };
        Ok(Self {
            builtin,
            external,
            store,
            idle_timeout: chrono::TimeDelta::seconds(
                i64::try_from(config.idle_timeout_secs).unwrap_or(i64::MAX / 1_000_000),
            ),
            revocations,
            live: Recent::new(LIVE_SESSION_TTL, LIVE_SESSIONS_CAPACITY),
            users: Recent::new(USER_TTL, USERS_CAPACITY),
            seen_today: SeenToday::default(),
            verified: VerifiedTokens::default(),
        })
    }

    /// Verifies `token` and returns the caller: the token itself (its signature and
    /// claims, or a check of the same text within [`VERIFIED_TOKEN_TTL`]), then on every
    /// request what may have changed since (the sign-in session, a disabled subject).
    ///
    /// [`VERIFIED_TOKEN_TTL`]: super::verified_tokens::VERIFIED_TOKEN_TTL
    pub async fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let identity = match self
            .verified
            .get(token, jsonwebtoken::get_current_timestamp())
        {
            Some(identity) => identity,
            None => {
                let verified = self.check_token(token).await?;
                let identity = verified.identity.clone();
                self.verified.put(token, verified);
                identity
            }
        };
        match identity.source {
            TokenSource::Builtin { session_id } => {
                self.check_builtin_session(identity.user_id, session_id)
                    .await?;
            }
            TokenSource::External => {
                if self.revocations.is_subject_disabled(identity.user_id) {
                    return Err(subject_disabled());
                }
                self.note_seen(identity.user_id);
            }
        }
        Ok(identity)
    }

    /// Checks the token itself: the source its issuer names, its signature, its claims.
    async fn check_token(&self, token: &str) -> Result<VerifiedToken, ApiError> {
        let issuer = unverified_issuer(token)
            .ok_or_else(|| invalid("the token is not a well-formed JWT"))?;
        if let Some(builtin) = &self.builtin
            && issuer == builtin.issuer()
        {
            let claims = builtin.decode(token).map_err(map_jwt_error)?;
            return builtin_identity(claims);
        }
        if let Some(external) = &self.external
            && issuer == external.issuer
        {
            return verify_external(external, token).await;
        }
        Err(invalid("the token's issuer is not accepted"))
    }

    /// Writes that external subject `subject` was seen, the first time each day (in the
    /// background: the request does not wait for the store, nor fails with it).
    fn note_seen(&self, subject: Uuid) {
        let now = talkapp_store::now();
        if !self.seen_today.first_today(subject, now) {
            return;
        }
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            if let Err(error) = store.note_subject_seen(subject, now).await {
                tracing::warn!(%error, "an external subject's sighting not written; its day may go uncounted");
            }
        });
    }

    /// Fails with `session_expired` unless `user_id`'s sign-in session `session_id` is
    /// live (for credentials issued in a session, like WebSocket tickets).
    pub async fn ensure_session(&self, user_id: Uuid, session_id: Uuid) -> Result<(), ApiError> {
        let session = self
            .store
            .auth_session(session_id)
            .await?
            .filter(|session| session.user_id == user_id)
            .ok_or_else(|| ApiError::new(ErrorCode::SessionExpired, "the session has ended"))?;
        ensure_session_live(
            &*self.store,
            &session,
            talkapp_store::now(),
            self.idle_timeout,
        )
        .await
    }

    /// The built-in user `user_id` (whose token was verified), read from the store at most
    /// once per [`USER_TTL`] (ADR 0074); `None` when the row is gone. A deleted user's
    /// tokens are refused before this, by their ended sessions.
    pub async fn builtin_user(&self, user_id: Uuid) -> Result<Option<User>, ApiError> {
        if let Some(user) = self.users.get(user_id) {
            return Ok(Some(user));
        }
        let user = self.store.user_by_id(user_id).await?;
        if let Some(user) = &user {
            self.users.put(user_id, user.clone());
        }
        Ok(user)
    }

    /// Keeps `user` as just written by a sign-in (its new `last_sign_in_at`), so this
    /// gateway's next [`builtin_user`](Self::builtin_user) shows it at once.
    pub fn signed_in(&self, user: &User) {
        self.users.put(user.id, user.clone());
    }

    /// Fails unless `user_id`'s built-in sign-in session `session_id` is live (see the
    /// module docs), writing when it was last seen at most every [`TOUCH_EVERY`].
    async fn check_builtin_session(&self, user_id: Uuid, session_id: Uuid) -> Result<(), ApiError> {
        let ended = || ApiError::new(ErrorCode::SessionExpired, "the session has ended");
        if self.revocations.is_session_ended(session_id) {
            self.live.forget(session_id);
            return Err(ended());
        }
        let mut session = match self.live.get(session_id) {
            Some(session) => session,
            None => {
                let session = self
                    .store
                    .auth_session(session_id)
                    .await?
                    .ok_or_else(ended)?;
                self.live.put(session.id, session.clone());
                session
            }
        };
        if session.user_id != user_id {
            return Err(ended());
        }
        let now = talkapp_store::now();
        if let Err(error) =
            ensure_session_live(&*self.store, &session, now, self.idle_timeout).await
        {
            self.live.forget(session_id);
            return Err(error);
        }
        if now - session.last_seen_at > TOUCH_EVERY {
            self.store.touch_auth_session(session_id, now).await?;
            session.last_seen_at = now;
            self.live.put(session_id, session);
        }
        Ok(())
    }
}

/// Fails with `session_expired` (revoking the session where it timed out) unless the
/// sign-in session is live at `now`.
pub async fn ensure_session_live(
    store: &dyn AccountStore,
    session: &talkapp_store::AuthSession,
    now: chrono::DateTime<chrono::Utc>,
    idle_timeout: chrono::TimeDelta,
) -> Result<(), ApiError> {
    if session.revoked_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::SessionExpired,
            "the session has ended",
        ));
    }
    let reason = if now >= session.expires_at {
        "expired"
    } else if now - session.last_seen_at > idle_timeout {
        "idle_timeout"
    } else {
        return Ok(());
    };
    store.revoke_auth_session(session.id, now, reason).await?;
    Err(ApiError::new(
        ErrorCode::SessionExpired,
        format!("the session has ended ({reason}); sign in again"),
    ))
}

/// What a built-in token's checked claims say: its user and sign-in session.
fn builtin_identity(claims: AccessClaims) -> Result<VerifiedToken, ApiError> {
    let user_id = parse_subject(&claims.sub)?;
    let session_id = claims
        .sid
        .as_deref()
        .and_then(|sid| Uuid::parse_str(sid).ok())
        .ok_or_else(|| invalid("the token has no session"))?;
    Ok(VerifiedToken {
        identity: Identity {
            user_id,
            email: claims.email,
            source: TokenSource::Builtin { session_id },
        },
        expires_at: u64::try_from(claims.exp).unwrap_or(0),
    })
}

async fn verify_external(
    external: &ExternalProvider,
    token: &str,
) -> Result<VerifiedToken, ApiError> {
    let header = jsonwebtoken::decode_header(token).map_err(map_jwt_error)?;
    let claims = match header.alg {
        Algorithm::HS256 => {
            let (key, validation) = external
                .hs256
                .as_ref()
                .ok_or_else(|| invalid("HS256 tokens are not accepted from this issuer"))?;
            decode_external(token, key, validation)?
        }
        _ => {
            let jwks = external
                .jwks
                .as_ref()
                .ok_or_else(|| invalid("asymmetric tokens are not accepted from this issuer"))?;
            let kid = header
                .kid
                .as_deref()
                .ok_or_else(|| invalid("the token names no key (kid)"))?;
            let (key, algorithm) = jwks.key(kid).await.map_err(|error| match error {
                JwksError::UnknownKey => invalid("the token's key is not known"),
                JwksError::Unavailable(cause) => {
                    tracing::warn!(%cause, "jwks unavailable");
                    let mut api_error = ApiError::new(
                        ErrorCode::ServiceUnavailable,
                        "the identity provider's keys cannot be fetched",
                    );
                    api_error.retry_after_secs = Some(5);
                    api_error
                }
            })?;
            if algorithm != header.alg {
                return Err(invalid("the token's algorithm does not match its key"));
            }
            decode_external(token, &key, &external.validation(algorithm))?
        }
    };
    Ok(VerifiedToken {
        identity: Identity {
            user_id: parse_subject(&claims.sub)?,
            email: claims.email.filter(|email| !email.is_empty()),
            source: TokenSource::External,
        },
        expires_at: claims.exp,
    })
}

fn decode_external(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<ExternalClaims, ApiError> {
    Ok(
        jsonwebtoken::decode::<ExternalClaims>(token, key, validation)
            .map_err(map_jwt_error)?
            .claims,
    )
}

#[derive(serde::Deserialize)]
struct ExternalClaims {
    sub: String,
    /// Required by the validation, so always there.
    exp: u64,
    #[serde(default)]
    email: Option<String>,
}

fn parse_subject(sub: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(sub).map_err(|_| invalid("the token's subject is not a user id"))
}

fn invalid(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::TokenInvalid, detail)
}

fn map_jwt_error(error: jsonwebtoken::errors::Error) -> ApiError {
    match error.kind() {
        ErrorKind::ExpiredSignature => {
            ApiError::new(ErrorCode::TokenExpired, "the access token has expired")
        }
        ErrorKind::InvalidSignature => invalid("the token's signature is not valid"),
        ErrorKind::InvalidIssuer => invalid("the token's issuer is not accepted"),
        ErrorKind::InvalidAudience => invalid("the token's audience is not accepted"),
        ErrorKind::ImmatureSignature => invalid("the token is not valid yet"),
        ErrorKind::InvalidAlgorithm => invalid("the token's algorithm is not accepted"),
        ErrorKind::MissingRequiredClaim(claim) => {
            invalid(&format!("the token has no {claim} claim"))
        }
        _ => invalid("the token cannot be read"),
    }
}

/// The `iss` claim, read without verification (only to pick the verifying source).
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    #[derive(serde::Deserialize)]
    struct IssuerOnly {
        iss: Option<String>,
    }
    serde_json::from_slice::<IssuerOnly>(&bytes).ok()?.iss
}

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Reads the bearer token of a request's `Authorization` header.
pub fn bearer_token(request: &actix_web::HttpRequest) -> Result<&str, ApiError> {
    let header = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "send Authorization: Bearer <token>",
            )
        })?;
    let value = header.to_str().map_err(|_| {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "the Authorization header is not text",
        )
    })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "the Authorization scheme must be Bearer",
            )
        })?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid("the token is too long"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_external_subject_is_written_once_a_day() {
        let seen = SeenToday::default();
        let (subject, other) = (Uuid::new_v4(), Uuid::new_v4());
        let morning = chrono::DateTime::parse_from_rfc3339("2026-12-05T08:00:00Z")
            .expect("time")
            .to_utc();
        assert!(seen.first_today(subject, morning));
        assert!(!seen.first_today(subject, morning + chrono::TimeDelta::hours(15)));
        assert!(seen.first_today(other, morning));
        assert!(
            seen.first_today(subject, morning + chrono::TimeDelta::hours(16)),
            "the next day (UTC) is written again"
        );
    }
}
