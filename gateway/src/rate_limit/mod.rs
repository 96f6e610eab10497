//! Rate limits: who may make how many requests, per bucket.
//!
//! Each [`Bucket`] has a rate and a burst, enforced with GCRA (the generic cell rate
//! algorithm: one timestamp per key, no counters to reset). The state lives in Redis when
//! it is configured, so every gateway replica shares it, and in process memory otherwise
//! (the embedded default). Both implementations pass one conformance suite.
//!
//! # Layout
//! - [`Bucket`], [`Quota`]: what is limited and how much.
//! - [`memory::MemoryLimiter`], [`redis::RedisLimiter`]: the two stores.
//! - [`RateLimiter`]: the facade handlers use; it turns a refusal into `429 rate_limited`.

pub mod memory;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use talkapp_common::ErrorCode;
use talkapp_common::config::RateLimitConfig;

use crate::problem::ApiError;

/// What a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Sign-in, registration and refresh, per client address: slows password guessing.
    Auth,
    /// Authenticated API calls, per user.
    Api,
    /// Telegram login steps (start, code, 2FA password), per user, phone and address:
    /// codes and passwords cannot be guessed in bulk.
    TelegramLogin,
}

impl Bucket {
    /// Key prefix of the bucket.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Api => "api",
            Self::TelegramLogin => "tglogin",
        }
    }
}

/// A rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Time between two requests at the sustained rate.
    pub interval: Duration,
    /// Requests that may come at once after a quiet period.
    pub burst: u32,
}

impl Quota {
    /// `per_hour` requests an hour, `burst` at once.
    pub fn per_hour(per_hour: u32, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs(3600) / per_hour.max(1),
            burst: burst.max(1),
        }
    }

    /// `per_minute` requests a minute, `burst` at once.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / per_minute.max(1),
            burst: burst.max(1),
        }
    }
}

/// The answer of a limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// Not now; try again after this long.
    Limited {
        /// Wait at least this long.
        retry_after: Duration,
    },
}

/// Where GCRA state is kept.
#[async_trait]
pub trait LimiterStore: Send + Sync {
    /// Takes one request from `key`'s allowance under `quota`.
    async fn acquire(&self, key: &str, quota: Quota) -> anyhow::Result<Decision>;

    /// Opens this thread's own connection to the store, if it has one (ADR 0055); called
    /// on each HTTP worker's thread as it starts.
    fn open_on_this_thread(&self) {}
}

/// Rate limits as handlers use them.
#[derive(Clone)]
pub struct RateLimiter {
    store: Option<Arc<dyn LimiterStore>>,
    auth: Quota,
    api: Quota,
    telegram_login: Quota,
}

impl RateLimiter {
    /// Limits per `config`, kept in `store` (`None` disables limiting).
    pub fn new(config: &RateLimitConfig, store: Option<Arc<dyn LimiterStore>>) -> Self {
        Self {
            store: store.filter(|_| config.enabled),
            auth: Quota::per_minute(config.auth_per_minute, config.auth_burst),
            api: Quota::per_minute(config.api_per_minute, config.api_burst),
            telegram_login: Quota::per_hour(
                config.telegram_login_per_hour,
                config.telegram_login_burst,
            ),
        }
    }

    /// Opens this thread's own connection to the store (each HTTP worker's, ADR 0055).
    pub fn open_on_this_thread(&self) {
        if let Some(store) = &self.store {
            store.open_on_this_thread();
        }
    }

    /// Takes one Telegram login step of `user_id` from `address`, for `phone` when the
    /// step names it: each of the three has its own allowance, and any refusal is
    /// `429 rate_limited` with `Retry-After`.
    pub async fn check_telegram_login(
        &self,
        user_id: uuid::Uuid,
        phone: Option<&str>,
        address: &str,
    ) -> Result<(), ApiError> {
        self.check(Bucket::TelegramLogin, &format!("user:{user_id}"))
            .await?;
        if let Some(phone) = phone {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            self.check(Bucket::TelegramLogin, &format!("phone:{digits}"))
                .await?;
        }
        self.check(Bucket::TelegramLogin, &format!("addr:{address}"))
            .await
    }

    /// Takes one request of `bucket` for `subject` (an address or a user id); a refusal is
    /// `429 rate_limited` with `Retry-After`. When the store fails (Redis down) the request
    /// is let through and the failure logged and counted: an outage of the limiter must
    /// not become an outage of the API; `/readyz` reports Redis down meanwhile.
    pub async fn check(&self, bucket: Bucket, subject: &str) -> Result<(), ApiError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let quota = match bucket {
            Bucket::Auth => self.auth,
            Bucket::Api => self.api,
            Bucket::TelegramLogin => self.telegram_login,
        };
        let key = format!("{}:{subject}", bucket.as_str());
        match store.acquire(&key, quota).await {
            Ok(Decision::Allowed) => Ok(()),
            Ok(Decision::Limited { retry_after }) => {
                metrics::counter!("talkapp_rate_limited_total", "bucket" => bucket.as_str())
                    .increment(1);
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                let mut error = ApiError::new(
                    ErrorCode::RateLimited,
                    format!("too many requests; retry in {seconds} s"),
                );
                error.retry_after_secs = Some(seconds);
                Err(error)
            }
            Err(error) => {
                metrics::counter!("talkapp_rate_limiter_errors_total").increment(1);
                tracing::warn!(
                    error = format!("{error:#}"),
                    "rate limiter unavailable, letting the request through"
                );
                Ok(())
            }
        }
    }
}

/// GCRA on one key. `tat` is the theoretical arrival time of the next request (in any
/// monotonic unit, here microseconds); returns the new `tat` when allowed.
pub(crate) fn gcra(now: u64, stored_tat: Option<u64>, quota: Quota) -> Result<u64, Duration> {
    let interval = u64::try_from(quota.interval.as_micros()).unwrap_or(u64::MAX / 4);
    let tolerance = interval.saturating_mul(u64::from(quota.burst));
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(interval);
    let allow_at = new_tat.saturating_sub(tolerance);
    if now < allow_at {
        return Err(Duration::from_micros(allow_at - now));
    }
    Ok(new_tat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let quota = Quota {
            interval: Duration::from_secs(1),
            burst: 3,
        };
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(gcra(0, tat, quota).expect("within burst"));
        }
        let wait = gcra(0, tat, quota).expect_err("burst spent");
        assert_eq!(wait, Duration::from_secs(1));
        assert!(gcra(1_000_000, tat, quota).is_ok());
    }
}
