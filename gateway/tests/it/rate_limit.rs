//! Every limiter store behaves the same (GCRA): the burst passes, the next request waits
//! about one interval, keys are independent, and the allowance refills with time.

use std::sync::Arc;
use std::time::Duration;

use talkapp_gateway::rate_limit::memory::MemoryLimiter;
use talkapp_gateway::rate_limit::redis::RedisLimiter;
use talkapp_gateway::rate_limit::{Decision, LimiterStore, Quota};

fn redis_url() -> String {
    std::env::var("TALKAPP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique_key(name: &str) -> String {
    format!("{name}:{}", uuid::Uuid::new_v4().simple())
}

fn redis_store() -> Arc<dyn LimiterStore> {
    let prefix = format!("talkapp-test-{}", uuid::Uuid::new_v4().simple());
    Arc::new(
        RedisLimiter::new(
            redis::Client::open(redis_url()).expect("redis url"),
            &prefix,
        )
        .expect("limiter"),
    )
}

fn memory_store() -> Arc<dyn LimiterStore> {
    Arc::new(MemoryLimiter::default())
}

async fn the_burst_passes_and_the_next_request_waits_about_one_interval(
    store: Arc<dyn LimiterStore>,
) {
    let quota = Quota {
        interval: Duration::from_secs(10),
        burst: 3,
    };
    let key = unique_key("burst");
    for attempt in 0..3 {
        assert_eq!(
            store.acquire(&key, quota).await.expect("store answers"),
            Decision::Allowed,
            "attempt {attempt}"
        );
    }
    match store.acquire(&key, quota).await.expect("store answers") {
        Decision::Limited { retry_after } => {
            assert!(retry_after > Duration::from_secs(9), "{retry_after:?}");
            assert!(retry_after <= Duration::from_secs(10), "{retry_after:?}");
        }
        Decision::Allowed => panic!("the fourth request passed a burst of three"),
    }
}

async fn keys_are_limited_independently(store: Arc<dyn LimiterStore>) {
    let quota = Quota {
        interval: Duration::from_secs(10),
        burst: 1,
    };
    let first = unique_key("first");
    let second = unique_key("second");
    assert_eq!(
        store.acquire(&first, quota).await.expect("answers"),
        Decision::Allowed
    );
    assert!(matches!(
        store.acquire(&first, quota).await.expect("answers"),
        Decision::Limited { .. }
    ));
    assert_eq!(
        store.acquire(&second, quota).await.expect("answers"),
        Decision::Allowed
    );
}

async fn the_allowance_refills_after_an_interval(store: Arc<dyn LimiterStore>) {
    let quota = Quota {
        interval: Duration::from_millis(100),
        burst: 1,
    };
    let key = unique_key("refill");
    assert_eq!(
        store.acquire(&key, quota).await.expect("answers"),
        Decision::Allowed
    );
    assert!(matches!(
        store.acquire(&key, quota).await.expect("answers"),
        Decision::Limited { .. }
    ));
    tokio::time::sleep(Duration::from_millis(130)).await;
    assert_eq!(
        store.acquire(&key, quota).await.expect("answers"),
        Decision::Allowed
    );
}

async fn a_share_is_what_the_allowance_holds_and_what_was_not_spent_comes_back(
    store: Arc<dyn LimiterStore>,
) {
    let quota = Quota {
        interval: Duration::from_secs(10),
        burst: 5,
    };
    let key = unique_key("share");
    let share = |want, unused| {
        let store = Arc::clone(&store);
        let key = key.clone();
        async move {
            store
                .acquire_share(&key, quota, want, unused)
                .await
                .expect("store answers")
        }
    };
    assert_eq!(share(3, 0).await.granted, 3);
    // Two are left of the five.
    assert_eq!(share(3, 0).await.granted, 2);
    let refused = share(1, 0).await;
    assert_eq!(refused.granted, 0);
    assert!(refused.retry_after > Duration::from_secs(9), "{refused:?}");
    // Two given back, one taken: one more is left, then none.
    assert_eq!(share(1, 2).await.granted, 1);
    assert_eq!(
        store.acquire(&key, quota).await.expect("answers"),
        Decision::Allowed
    );
    assert!(matches!(
        store.acquire(&key, quota).await.expect("answers"),
        Decision::Limited { .. }
    ));
    // Given back while refused: kept.
    assert_eq!(share(1, 1).await.granted, 1);
    assert_eq!(share(1, 0).await.granted, 0);
    // What is given back never reaches past the present: a fresh key's allowance is the
    // burst, however much is given back.
    let fresh = unique_key("fresh");
    let grant = store
        .acquire_share(&fresh, quota, 100, 100)
        .await
        .expect("answers");
    assert_eq!(grant.granted, 5);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::memory_store()).await; })*
        }
        mod redis_store {
            $(#[tokio::test] async fn $name() { super::$name(super::redis_store()).await; })*
        }
    };
}

conformance!(
    the_burst_passes_and_the_next_request_waits_about_one_interval,
    keys_are_limited_independently,
    the_allowance_refills_after_an_interval,
    a_share_is_what_the_allowance_holds_and_what_was_not_spent_comes_back,
);

/// A store that counts the calls made to it.
struct Counted {
    inner: Arc<dyn LimiterStore>,
    calls: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl LimiterStore for Counted {
    async fn acquire_share(
        &self,
        key: &str,
        quota: Quota,
        want: u32,
        unused: u32,
    ) -> anyhow::Result<talkapp_gateway::rate_limit::Grant> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.acquire_share(key, quota, want, unused).await
    }
}

/// ADR 0076: two gateways sharing Redis spend a user's API requests from shares taken in
/// advance. Together they never allow more than the allowance, they refuse with the
/// allowance spent, and they ask Redis for far fewer requests than they decide.
#[tokio::test]
async fn two_gateways_spend_the_api_allowance_from_local_shares_and_never_beyond_it() {
    use talkapp_gateway::rate_limit::{Bucket, RateLimiter};
    let mut config = talkapp_common::config::Config::embedded_defaults().expect("defaults");
    // One request a minute sustained: nothing refills during the test.
    config.rate_limit.api_per_minute = 1;
    config.rate_limit.api_burst = 160;
    let store = Arc::new(Counted {
        inner: redis_store(),
        calls: std::sync::atomic::AtomicU32::new(0),
    });
    let gateway = || {
        RateLimiter::new(
            &config.rate_limit,
            Some(Arc::clone(&store) as Arc<dyn LimiterStore>),
        )
        .with_local_shares(Duration::from_secs(30))
    };
    let (first, second) = (gateway(), gateway());
    let user = uuid::Uuid::new_v4().to_string();
    let (mut allowed, mut refused) = (0_u32, 0_u32);
    for request in 0..400 {
        let gateway = if request % 3 == 0 { &first } else { &second };
        match gateway.check(Bucket::Api, &user).await {
            Ok(()) => allowed += 1,
            Err(error) => {
                assert_eq!(
                    error.code,
                    talkapp_common::ErrorCode::RateLimited,
                    "{error:?}"
                );
                assert!(error.retry_after_secs.is_some());
                refused += 1;
            }
        }
    }
    // Each gateway spends its last share before refusing: the allowance, exactly.
    assert_eq!(allowed, 160, "allowed of 160");
    assert_eq!(allowed + refused, 400);
    let calls = store.calls.load(std::sync::atomic::Ordering::Relaxed);
    // Up to the allowance, shares of up to 20: a few calls; then a refusal is repeated
    // by each gateway without asking.
    assert!(
        calls <= 30,
        "{calls} calls to Redis for {allowed} allowed, {refused} refused"
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_the_facade_turns_into_a_pass() {
    let store: Arc<dyn LimiterStore> = Arc::new(
        RedisLimiter::new(
            redis::Client::open("redis://127.0.0.1:1").expect("url"),
            "talkapp-test",
        )
        .expect("limiter"),
    );
    let quota = Quota::per_minute(1, 1);
    assert!(store.acquire("down", quota).await.is_err());

    let config = talkapp_common::config::Config::embedded_defaults().expect("defaults");
    let limiter = talkapp_gateway::rate_limit::RateLimiter::new(&config.rate_limit, Some(store));
    let started = std::time::Instant::now();
    for _ in 0..3 {
        limiter
            .check(talkapp_gateway::rate_limit::Bucket::Auth, "127.0.0.1")
            .await
            .expect("fails open while the store is down");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an outage must not hold requests: {:?}",
        started.elapsed()
    );
}

/// An HTTP worker's own Redis connection (made on its thread, ADR 0055) spends the same
/// allowance as the shared one: a key used up on a worker is used up everywhere.
#[tokio::test]
async fn a_workers_own_connection_spends_the_allowance_the_shared_one_sees() {
    let store = redis_store();
    let quota = Quota {
        interval: Duration::from_secs(10),
        burst: 2,
    };
    let key = unique_key("worker");
    let on_worker = {
        let store = Arc::clone(&store);
        let key = key.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async move {
                    store.open_on_this_thread();
                    let mut decisions = Vec::new();
                    for _ in 0..2 {
                        decisions.push(store.acquire(&key, quota).await.expect("answers"));
                    }
                    decisions
                })
        })
        .join()
        .expect("the thread ends")
    };
    assert_eq!(on_worker, vec![Decision::Allowed; 2]);
    assert!(matches!(
        store.acquire(&key, quota).await.expect("answers"),
        Decision::Limited { .. }
    ));
}

/// A store that can be taken away: its calls fail while `down` is set.
struct Flaky {
    inner: Arc<dyn LimiterStore>,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl LimiterStore for Flaky {
    async fn acquire_share(
        &self,
        key: &str,
        quota: Quota,
        want: u32,
        unused: u32,
    ) -> anyhow::Result<talkapp_gateway::rate_limit::Grant> {
        if self.down.load(std::sync::atomic::Ordering::Relaxed) {
            anyhow::bail!("the limiter's store is away");
        }
        self.inner.acquire_share(key, quota, want, unused).await
    }
}

/// ADR 0076 with Redis away: API requests spent from local shares pass (the limiter fails
/// open, as without shares), and once Redis is back the allowance is spent exactly: the
/// failed calls left no share and no refusal behind.
#[tokio::test]
async fn with_redis_away_api_requests_pass_and_once_back_the_allowance_is_spent_exactly() {
    use talkapp_gateway::rate_limit::{Bucket, RateLimiter};
    let mut config = talkapp_common::config::Config::embedded_defaults().expect("defaults");
    config.rate_limit.api_per_minute = 1;
    config.rate_limit.api_burst = 16;
    let store = Arc::new(Flaky {
        inner: redis_store(),
        down: std::sync::atomic::AtomicBool::new(true),
    });
    let gateway = RateLimiter::new(
        &config.rate_limit,
        Some(Arc::clone(&store) as Arc<dyn LimiterStore>),
    )
    .with_local_shares(Duration::from_secs(30));
    let user = uuid::Uuid::new_v4().to_string();
    for request in 0..40 {
        gateway
            .check(Bucket::Api, &user)
            .await
            .unwrap_or_else(|error| panic!("request {request} while away: {error:?}"));
    }
    store
        .down
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let mut allowed = 0;
    for _ in 0..40 {
        match gateway.check(Bucket::Api, &user).await {
            Ok(()) => allowed += 1,
            Err(error) => assert_eq!(error.code, talkapp_common::ErrorCode::RateLimited),
        }
    }
    assert_eq!(allowed, 16, "the burst, once the store is back");
}
