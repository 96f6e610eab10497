//! Authentication: who is calling, and may they touch this path.
//!
//! # Layout
//! - [`password`]: Argon2id hashing on the blocking pool.
//! - [`tokens`]: built-in access tokens (short-lived HS256 JWTs) and refresh tokens
//!   (random, stored only as SHA-256 hashes, rotated on every use).
//! - [`jwks`]: the external provider's public keys, fetched and cached.
//! - [`refresh_reuse`]: the reuse interval of the Supabase-compatible refresh.
//! - [`verifier`]: one verifier for both token sources (built-in and Supabase).
//! - [`verified_tokens`]: tokens checked within the last minute, by their text.
//! - [`extract`]: actix extractors [`extract::Caller`] (any valid token) and
//!   [`extract::PathOwner`] (the token's user is the `{user_id}` of the path).

pub mod extract;
pub mod jwks;
pub mod operator;
pub mod password;
pub mod refresh_reuse;
pub mod tokens;
pub mod verified_tokens;
pub mod verifier;
