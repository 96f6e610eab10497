//! The external provider's signing keys (JWKS), fetched over HTTP and cached.
//!
//! Keys are fetched at most every `jwks_refresh_secs`, and again (at most once per
//! [`MIN_FORCED_REFRESH`]) when a token names a `kid` we do not have, so a key rotation
//! at the provider is picked up without a restart and a flood of made-up `kid`s cannot
//! make us hammer the provider.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::RwLock;

/// Shortest time between two fetches triggered by unknown `kid`s.
const MIN_FORCED_REFRESH: Duration = Duration::from_secs(30);

/// Why no key could be found.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The JWKS could not be fetched or parsed.
    #[error("the identity provider's keys are not available: {0}")]
    Unavailable(String),
    /// No key with this `kid`.
    #[error("no key with this kid")]
    UnknownKey,
}

struct CachedKeys {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
}

/// A cached JWKS.
pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    refresh_every: Duration,
    cached: RwLock<CachedKeys>,
}

impl JwksCache {
    /// A cache for the JWKS at `url`, refreshed every `refresh_every`.
    pub fn new(url: String, refresh_every: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url,
            client,
            refresh_every,
            cached: RwLock::new(CachedKeys {
                keys: HashMap::new(),
                fetched_at: None,
            }),
        })
    }

    /// The key named `kid` and the algorithm it is for.
    pub async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), JwksError> {
        {
            let cached = self.cached.read().await;
            let fresh = cached
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.refresh_every);
            if let Some(found) = cached.keys.get(kid)
                && fresh
            {
                return Ok(found.clone());
            }
            let may_refetch = cached
                .fetched_at
                .is_none_or(|at| at.elapsed() >= MIN_FORCED_REFRESH);
            if !may_refetch {
                return cached.keys.get(kid).cloned().ok_or(JwksError::UnknownKey);
            }
        }
        let mut cached = self.cached.write().await;
        // Another request may have fetched while we waited for the lock.
        let fetched_recently = cached
            .fetched_at
            .is_some_and(|at| at.elapsed() < MIN_FORCED_REFRESH);
        if !fetched_recently {
            match self.fetch().await {
                Ok(keys) => {
                    cached.keys = keys;
                    cached.fetched_at = Some(Instant::now());
                }
                Err(error) if cached.keys.is_empty() => return Err(error),
                Err(error) => {
                    // Keep serving the keys we have; the provider may be briefly down.
                    tracing::warn!(%error, "jwks refresh failed, keeping cached keys");
                    cached.fetched_at = Some(Instant::now());
                }
            }
        }
        cached.keys.get(kid).cloned().ok_or(JwksError::UnknownKey)
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, JwksError> {
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| JwksError::Unavailable(error.to_string()))?
            .json()
            .await
            .map_err(|error| JwksError::Unavailable(error.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match jwk.common.key_algorithm.map(|alg| alg.to_string()) {
                Some(name) => match name.parse::<Algorithm>() {
                    Ok(algorithm) => algorithm,
                    Err(_) => continue,
                },
                None => match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_) => continue,
                },
            };
            // Symmetric keys never come from a public JWKS; refuse them.
            if matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                continue;
            }
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (key, algorithm));
                }
                Err(error) => tracing::warn!(%error, kid, "unusable key in jwks"),
            }
        }
        Ok(keys)
    }
}
