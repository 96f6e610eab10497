//! API requests spent from a share of the allowance taken in advance (ADR 0076).
//!
//! With the limiter's state in Redis, every API request cost a round trip and a Lua script
//! there, for a decision that is nearly always "go ahead". A gateway now takes several
//! requests of a user's allowance at once and spends them locally: a user who keeps
//! asking gets a share that doubles each time one is spent within `share_for` (up to an
//! eighth of the burst), and one that lasted longer is followed by one the size of what was
//! spent of it; what a share did not spend is given back to the allowance with the next
//! share taken for that user. Every request spent was taken from the shared allowance
//! first, so all replicas together never allow more than the limit; what a share holds
//! unspent is unavailable to the other replicas meanwhile (at most an eighth of the
//! burst each, refilled by the rate within `cap × interval`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Decision, LimiterStore, Quota};

/// Shares kept before the ones that ended are swept.
const SWEEP_AT_ENTRIES: usize = 100_000;

/// Requests taken for one key and not spent yet, or a refusal to repeat.
#[derive(Debug, Clone, Copy)]
struct Share {
    /// Requests left to spend.
    left: u32,
    /// Requests the share held when taken.
    size: u32,
    /// When it was taken.
    taken_at: Instant,
    /// Refused by the store until then: refused here too, without asking.
    refused_until: Option<Instant>,
}

impl Share {
    /// Whether it is still the key's share at `now`.
    fn current(&self, now: Instant, share_for: Duration) -> bool {
        match self.refused_until {
            Some(until) => now < until,
            None => now - self.taken_at < share_for,
        }
    }
}

/// The local shares of one bucket's allowances, by key.
#[derive(Debug)]
pub struct LocalShares {
    share_for: Duration,
    /// Shares kept before the ended ones are swept ([`SWEEP_AT_ENTRIES`]).
    sweep_at: usize,
    shares: Mutex<HashMap<String, Share>>,
}

impl LocalShares {
    /// Shares sized to last about `share_for`.
    pub fn new(share_for: Duration) -> Self {
        Self {
            share_for,
            sweep_at: SWEEP_AT_ENTRIES,
            shares: Mutex::new(HashMap::new()),
        }
    }

    /// The largest share of `quota`: an eighth of the burst (at least 1).
    fn cap(quota: Quota) -> u32 {
        (quota.burst / 8).max(1)
    }

    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, HashMap<String, Share>>> {
        self.shares
            .lock()
            .map_err(|_| anyhow::anyhow!("local shares lock poisoned"))
    }

    /// Spends one request of `key` from the share held here, or takes a new share from
    /// `store` (giving back what the ended one did not spend) and spends one of it. A
    /// refusal is repeated here, without asking, until the time the store gave.
    pub async fn spend(
        &self,
        store: &dyn LimiterStore,
        key: &str,
        quota: Quota,
    ) -> anyhow::Result<Decision> {
        let now = Instant::now();
        let (want, unused) = {
            let mut shares = self.lock()?;
            match shares.get_mut(key) {
                Some(share) if share.current(now, self.share_for) => {
                    if let Some(until) = share.refused_until {
                        return Ok(Decision::Limited {
                            retry_after: until - now,
                        });
                    }
                    if share.left > 0 {
                        share.left -= 1;
                        return Ok(Decision::Allowed);
                    }
                    // Spent within its time: the next one is twice as large.
                    let want = share.size.saturating_mul(2);
                    shares.remove(key);
                    (want.clamp(1, Self::cap(quota)), 0)
                }
                Some(_) => {
                    let ended = shares.remove(key).expect("looked up above");
                    // Outlasted its time: the next one is what it spent.
                    let spent = ended.size - ended.left;
                    (spent.clamp(1, Self::cap(quota)), ended.left)
                }
                None => (1, 0),
            }
        };
        let grant = store.acquire_share(key, quota, want, unused).await?;
        let mut shares = self.lock()?;
        if shares.len() >= self.sweep_at {
            // An ended share's requests are lost to the allowance for at most
            // `cap × interval`: the rate refills them. Still full of current shares, all are
            // forgotten, so that a sweep is not made again on every request.
            shares.retain(|_, share| share.current(now, self.share_for));
            if shares.len() >= self.sweep_at / 2 {
                shares.clear();
            }
        }
        let share = shares.entry(key.to_owned()).or_insert(Share {
            left: 0,
            size: 0,
            taken_at: now,
            refused_until: None,
        });
        if grant.granted == 0 {
            // A share taken meanwhile for the same key (two requests at once) is kept.
            if share.size == 0 {
                share.refused_until = Some(now + grant.retry_after);
            }
            return Ok(Decision::Limited {
                retry_after: grant.retry_after,
            });
        }
        // A share taken meanwhile for the same key is added to.
        share.left += grant.granted - 1;
        share.size += grant.granted;
        share.taken_at = now;
        share.refused_until = None;
        Ok(Decision::Allowed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::rate_limit::Grant;
    use crate::rate_limit::memory::MemoryLimiter;

    /// The memory store, counting what it is asked.
    #[derive(Default)]
    struct Counted {
        inner: MemoryLimiter,
        calls: AtomicU32,
        wanted: std::sync::Mutex<Vec<u32>>,
        given_back: AtomicU32,
    }

    #[async_trait]
    impl LimiterStore for Counted {
        async fn acquire_share(
            &self,
            key: &str,
            quota: Quota,
            want: u32,
            unused: u32,
        ) -> anyhow::Result<Grant> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.wanted.lock().expect("lock").push(want);
            self.given_back.fetch_add(unused, Ordering::Relaxed);
            self.inner.acquire_share(key, quota, want, unused).await
        }
    }

    fn quota() -> Quota {
        Quota {
            interval: Duration::from_secs(60),
            burst: 80,
        }
    }

    #[tokio::test]
    async fn a_busy_keys_shares_double_up_to_an_eighth_of_the_burst() {
        let store = Counted::default();
        let shares = LocalShares::new(Duration::from_secs(60));
        for _ in 0..40 {
            assert_eq!(
                shares.spend(&store, "k", quota()).await.expect("answers"),
                Decision::Allowed
            );
        }
        // Doubling to 10 (80 / 8): 45 taken for the 40 made, in 7 calls.
        assert_eq!(
            *store.wanted.lock().expect("lock"),
            vec![1, 2, 4, 8, 10, 10, 10]
        );
        let rest = store
            .inner
            .acquire_share("k", quota(), 1_000, 0)
            .await
            .expect("answers");
        assert_eq!(rest.granted, 80 - 45);
    }

    #[tokio::test]
    async fn a_share_that_outlasts_its_time_gives_back_what_it_did_not_spend() {
        let store = Counted::default();
        let shares = LocalShares::new(Duration::from_millis(50));
        for _ in 0..4 {
            shares.spend(&store, "k", quota()).await.expect("answers");
        }
        // Shares of 1, 2, then 4 with one spent: three left when it ends.
        tokio::time::sleep(Duration::from_millis(80)).await;
        shares.spend(&store, "k", quota()).await.expect("answers");
        assert_eq!(store.given_back.load(Ordering::Relaxed), 3);
        // The next share is what the last one spent: one.
        assert_eq!(*store.wanted.lock().expect("lock"), vec![1, 2, 4, 1]);
        // The allowance holds the 80 of the burst less the 5 made.
        let rest = store
            .inner
            .acquire_share("k", quota(), 1_000, 0)
            .await
            .expect("answers");
        assert_eq!(rest.granted, 75);
    }

    #[tokio::test]
    async fn a_full_map_drops_its_ended_shares_and_when_still_half_full_all() {
        let store = Counted::default();
        let mut shares = LocalShares::new(Duration::from_millis(100));
        shares.sweep_at = 6;
        let spend = async |shares: &LocalShares, key: &str| {
            assert_eq!(
                shares.spend(&store, key, quota()).await.expect("answers"),
                Decision::Allowed
            );
        };
        // Four shares that will have ended, then two current ones: full at six.
        for key in ["old-1", "old-2", "old-3", "old-4"] {
            spend(&shares, key).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        for key in ["new-1", "new-2", "new-3"] {
            spend(&shares, key).await;
        }
        // The ended ones were dropped, the current ones kept.
        let mut kept: Vec<String> = shares.lock().expect("lock").keys().cloned().collect();
        kept.sort();
        assert_eq!(kept, ["new-1", "new-2", "new-3"]);
        for key in ["new-4", "new-5", "new-6", "new-7"] {
            spend(&shares, key).await;
        }
        // Full again of current shares: all forgotten but the one just taken.
        let kept: Vec<String> = shares.lock().expect("lock").keys().cloned().collect();
        assert_eq!(kept, vec!["new-7".to_owned()]);
    }

    #[tokio::test]
    async fn a_refusal_is_repeated_without_asking_until_its_time() {
        let store = Counted::default();
        let shares = LocalShares::new(Duration::from_secs(60));
        let small = Quota {
            interval: Duration::from_millis(200),
            burst: 3,
        };
        let mut decisions = Vec::new();
        for _ in 0..6 {
            decisions.push(shares.spend(&store, "k", small).await.expect("answers"));
        }
        assert_eq!(decisions[..3], [Decision::Allowed; 3]);
        for decision in &decisions[3..] {
            let Decision::Limited { retry_after } = decision else {
                panic!("{decisions:?}");
            };
            assert!(
                *retry_after <= Duration::from_millis(200),
                "{retry_after:?}"
            );
        }
        // Three taken one by one (an eighth of 3 is less than one), one refusal asked.
        assert_eq!(store.calls.load(Ordering::Relaxed), 4);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            shares.spend(&store, "k", small).await.expect("answers"),
            Decision::Allowed
        );
        assert_eq!(store.calls.load(Ordering::Relaxed), 5);
    }
}
