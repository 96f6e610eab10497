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
//! - [`share::LocalShares`]: API requests spent from a share of the allowance taken from a
//!   shared store in advance, so most requests ask no one (ADR 0076).
//! - [`RateLimiter`]: the facade handlers use; it turns a refusal into `429 rate_limited`.

pub mod memory;
pub mod redis;
pub mod share;

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

impl Quota {
    /// The interval and the burst's tolerance (`burst` intervals) in microseconds, the
    /// units of GCRA's arithmetic here and in Redis's script; the interval at least 1.
    pub(crate) fn micros(self) -> (u64, u64) {
        let interval = u64::try_from(self.interval.as_micros())
            .unwrap_or(u64::MAX / 4)
            .max(1);
        (interval, interval.saturating_mul(u64::from(self.burst)))
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

/// What a store granted of a share asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Requests taken from the allowance, at most the number asked for; 0 when limited.
    pub granted: u32,
    /// When nothing was granted: wait at least this long for one request.
    pub retry_after: Duration,
}

/// Where GCRA state is kept.
#[async_trait]
pub trait LimiterStore: Send + Sync {
    /// Takes up to `want` requests at once from `key`'s allowance under `quota`, as many
    /// as it holds now, after giving back `unused`: requests an earlier grant took and
    /// nobody made (their time is returned to the allowance, never past the present).
    /// One request is the same decision as GCRA's.
    async fn acquire_share(
        &self,
        key: &str,
        quota: Quota,
        want: u32,
        unused: u32,
    ) -> anyhow::Result<Grant>;

    /// Takes one request from `key`'s allowance under `quota`.
    async fn acquire(&self, key: &str, quota: Quota) -> anyhow::Result<Decision> {
        let grant = self.acquire_share(key, quota, 1, 0).await?;
        Ok(if grant.granted > 0 {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: grant.retry_after,
            }
        })
    }

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
    /// API requests spent from shares taken in advance (a shared store only, ADR 0076).
    api_shares: Option<Arc<share::LocalShares>>,
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
            api_shares: None,
        }
    }

    /// Spends API requests from local shares of each user's allowance, each meant to last
    /// about `share_for` (ADR 0076): for a store shared by replicas (Redis), where asking
    /// costs a round trip. Sign-ins and Telegram login steps are still asked one by one.
    /// A zero `share_for` keeps asking the store for every request.
    #[must_use]
    pub fn with_local_shares(mut self, share_for: Duration) -> Self {
        self.api_shares =
            (!share_for.is_zero()).then(|| Arc::new(share::LocalShares::new(share_for)));
        self
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
        let decision = match (&self.api_shares, bucket) {
            (Some(shares), Bucket::Api) => shares.spend(store.as_ref(), &key, quota).await,
            _ => store.acquire(&key, quota).await,
        };
        match decision {
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

/// GCRA on one key for up to `want` requests at once, after `unused` given back. `tat` is
/// the theoretical arrival time of the next request (in any monotonic unit, here
/// microseconds): a request is allowed when `tat + interval - tolerance <= now`, so `n` are
/// when `tat + n * interval - tolerance <= now`. Answers the new `tat` (to store when it
/// differs from the stored one) and the grant. `redis.rs`'s script is the same arithmetic.
pub(crate) fn gcra_share(
    now: u64,
    stored_tat: Option<u64>,
    quota: Quota,
    want: u32,
    unused: u32,
) -> (u64, Grant) {
    let (interval, tolerance) = quota.micros();
    let tat = stored_tat
        .unwrap_or(now)
        .saturating_sub(interval.saturating_mul(u64::from(unused)))
        .max(now);
    let fits = now.saturating_add(tolerance).saturating_sub(tat) / interval;
    let granted = u32::try_from(fits.min(u64::from(want))).unwrap_or(want);
    if granted == 0 {
        let allow_at = tat.saturating_add(interval).saturating_sub(tolerance);
        return (
            tat,
            Grant {
                granted: 0,
                retry_after: Duration::from_micros(allow_at.saturating_sub(now)),
            },
        );
    }
    (
        tat.saturating_add(interval.saturating_mul(u64::from(granted))),
        Grant {
            granted,
            retry_after: Duration::ZERO,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request at a time through the share arithmetic.
    fn one(now: u64, tat: Option<u64>, quota: Quota) -> Result<u64, Duration> {
        let (new_tat, grant) = gcra_share(now, tat, quota, 1, 0);
        if grant.granted == 1 {
            Ok(new_tat)
        } else {
            Err(grant.retry_after)
        }
    }

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let quota = Quota {
            interval: Duration::from_secs(1),
            burst: 3,
        };
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(one(0, tat, quota).expect("within burst"));
        }
        let wait = one(0, tat, quota).expect_err("burst spent");
        assert_eq!(wait, Duration::from_secs(1));
        assert!(one(1_000_000, tat, quota).is_ok());
    }

    #[test]
    fn a_share_takes_what_fits_and_lies_cost_no_overflow() {
        let quota = Quota {
            interval: Duration::from_secs(1),
            burst: 3,
        };
        let (tat, grant) = gcra_share(10_000_000, None, quota, 5, 0);
        assert_eq!(grant.granted, 3);
        assert_eq!(tat, 13_000_000);
        // Half an interval later, nothing; the wait is the other half.
        let (_, grant) = gcra_share(10_500_000, Some(tat), quota, 5, 0);
        assert_eq!(
            (grant.granted, grant.retry_after),
            (0, Duration::from_millis(500))
        );
        // A stored time far ahead (another quota, a clock that jumped), huge counts.
        let (_, grant) = gcra_share(0, Some(u64::MAX), quota, u32::MAX, u32::MAX);
        assert_eq!(grant.granted, 0);
        let (_, grant) = gcra_share(u64::MAX / 2, None, quota, u32::MAX, u32::MAX);
        assert_eq!(grant.granted, 3);
    }
}
