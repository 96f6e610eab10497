//! The refresh-token reuse interval of the Supabase-compatible refresh
//! (`POST /auth/v1/token?grant_type=refresh_token`), as GoTrue's
//! `refresh_token_reuse_interval` (ADR 0008).
//!
//! Several supabase-js clients (tabs, or instances in one page) share one refresh token,
//! so the same token can arrive twice within moments. Strict rotation would end the
//! session on the second arrival; here it gets the answer the first one got instead:
//!
//! 1. The first exchange of a token *claims* it in a [`ReuseLedger`] before it goes to the
//!    store. A second arrival meanwhile waits for that exchange to finish.
//! 2. When the exchange succeeds the claim becomes "spent into session S" for
//!    `auth.refresh_reuse_interval_secs`. An arrival within that time is answered by the
//!    caller with the same successor (derived from the token, see
//!    [`crate::auth::tokens::AccessTokens::successor_refresh_token`]) and a fresh access
//!    token for S; the store never sees it, so the family is not revoked.
//! 3. When the exchange fails the claim is dropped; after the interval the record expires
//!    and a spent token is a reuse again (the store revokes the family).
//!
//! Ledger entries hold no secret: the key is the token's SHA-256, the value a session id.
//! The ledger is Redis when `redis.url` is set (every gateway replica sees the same
//! claims), process memory otherwise. If Redis fails, rotation is simply strict again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;
use uuid::Uuid;

/// The state of a presented refresh token in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had it: the caller now owns the exchange.
    Won,
    /// Another request is exchanging it right now.
    Pending,
    /// It was exchanged successfully within the interval, in this sign-in session.
    Spent(Uuid),
}

/// Where claims are kept.
#[async_trait]
pub trait ReuseLedger: Send + Sync {
    /// Claims `token_hash` for `pending_for` unless it is claimed or spent already.
    async fn claim(&self, token_hash: &[u8], pending_for: Duration) -> anyhow::Result<Claim>;
    /// Turns the claim into "spent into `session_id`" for `interval`.
    async fn record_spent(
        &self,
        token_hash: &[u8],
        session_id: Uuid,
        interval: Duration,
    ) -> anyhow::Result<()>;
    /// Drops the claim (the exchange failed).
    async fn release(&self, token_hash: &[u8]) -> anyhow::Result<()>;
}

/// What the caller should do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Exchange it in the store, then [`RefreshReuse::finish`].
    Exchange {
        /// Whether a claim was taken (and must be finished).
        claimed: bool,
    },
    /// It was spent into this session moments ago: answer with its successor again.
    Replay(Uuid),
}

/// Another request holds the token longer than a waiter may wait.
#[derive(Debug, thiserror::Error)]
#[error("the refresh token is being exchanged by another request")]
pub struct StillPending;

/// Longest a claim lives without being finished (a gateway that dies mid-exchange).
const PENDING_TTL: Duration = Duration::from_secs(5);
/// Longest a second arrival waits for the first exchange (one store transaction).
const PENDING_WAIT: Duration = Duration::from_secs(3);
/// How often a waiter looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// The reuse interval as handlers use it.
#[derive(Clone)]
pub struct RefreshReuse {
    ledger: Option<Arc<dyn ReuseLedger>>,
    interval: Duration,
}

impl RefreshReuse {
    /// Per `auth.refresh_reuse_interval_secs` (0: off), in Redis when `redis.url` is set.
    pub fn from_config(config: &talkapp_common::config::Config) -> anyhow::Result<Self> {
        let interval = Duration::from_secs(config.auth.refresh_reuse_interval_secs);
        if interval.is_zero() {
            return Ok(Self::new(None, interval));
        }
        let redis_url = config.redis.url.expose_secret();
        let ledger: Arc<dyn ReuseLedger> = if redis_url.is_empty() {
            Arc::new(MemoryLedger::default())
        } else {
            Arc::new(RedisLedger::new(
                redis::Client::open(redis_url)?,
                &config.rate_limit.redis_key_prefix,
            )?)
        };
        Ok(Self::new(Some(ledger), interval))
    }

    /// Over `ledger` (`None`: strict rotation) with `interval`.
    pub fn new(ledger: Option<Arc<dyn ReuseLedger>>, interval: Duration) -> Self {
        Self { ledger, interval }
    }

    /// Decides what to do with the token whose SHA-256 is `token_hash`, waiting for a
    /// concurrent exchange of the same token to finish first.
    pub async fn begin(&self, token_hash: &[u8]) -> Result<Turn, StillPending> {
        let Some(ledger) = &self.ledger else {
            return Ok(Turn::Exchange { claimed: false });
        };
        let started = Instant::now();
        loop {
            match ledger.claim(token_hash, PENDING_TTL).await {
                Ok(Claim::Won) => return Ok(Turn::Exchange { claimed: true }),
                Ok(Claim::Spent(session_id)) => return Ok(Turn::Replay(session_id)),
                Ok(Claim::Pending) if started.elapsed() < PENDING_WAIT => {
                    tokio::time::sleep(POLL_EVERY).await;
                }
                Ok(Claim::Pending) => return Err(StillPending),
                Err(error) => {
                    metrics::counter!("talkapp_refresh_reuse_ledger_errors_total").increment(1);
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "refresh reuse ledger unavailable, rotating strictly"
                    );
                    return Ok(Turn::Exchange { claimed: false });
                }
            }
        }
    }

    /// Records how the exchange that [`Turn::Exchange`] `{ claimed: true }` allowed ended:
    /// `Some(session)` when the token was spent into that session.
    pub async fn finish(&self, token_hash: &[u8], spent_into: Option<Uuid>) {
        let Some(ledger) = &self.ledger else {
            return;
        };
        let outcome = match spent_into {
            Some(session_id) => {
                ledger
                    .record_spent(token_hash, session_id, self.interval)
                    .await
            }
            None => ledger.release(token_hash).await,
        };
        if let Err(error) = outcome {
            metrics::counter!("talkapp_refresh_reuse_ledger_errors_total").increment(1);
            tracing::warn!(
                error = format!("{error:#}"),
                "refresh reuse ledger unavailable, claim left to expire"
            );
        }
    }
}

enum Entry {
    Pending,
    Spent(Uuid),
}

/// The ledger in process memory (one gateway).
#[derive(Default)]
pub struct MemoryLedger {
    entries: Mutex<HashMap<Vec<u8>, (Entry, Instant)>>,
}

impl MemoryLedger {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (Entry, Instant)>> {
        // A panic while holding the lock cannot leave an entry half-written.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ReuseLedger for MemoryLedger {
    async fn claim(&self, token_hash: &[u8], pending_for: Duration) -> anyhow::Result<Claim> {
        let now = Instant::now();
        let mut entries = self.entries();
        // Entries live seconds; dropping the expired ones on every claim keeps the map to
        // the refreshes of the last interval.
        entries.retain(|_, (_, expires)| *expires > now);
        if let Some((entry, _)) = entries.get(token_hash) {
            return Ok(match entry {
                Entry::Pending => Claim::Pending,
                Entry::Spent(session_id) => Claim::Spent(*session_id),
            });
        }
        entries.insert(token_hash.to_vec(), (Entry::Pending, now + pending_for));
        Ok(Claim::Won)
    }

    async fn record_spent(
        &self,
        token_hash: &[u8],
        session_id: Uuid,
        interval: Duration,
    ) -> anyhow::Result<()> {
        self.entries().insert(
            token_hash.to_vec(),
            (Entry::Spent(session_id), Instant::now() + interval),
        );
        Ok(())
    }

    async fn release(&self, token_hash: &[u8]) -> anyhow::Result<()> {
        self.entries().remove(token_hash);
        Ok(())
    }
}

/// The ledger in Redis, shared by every gateway replica.
pub struct RedisLedger {
    connection: ConnectionManager,
    key_prefix: String,
}

const PENDING_VALUE: &str = "pending";

impl RedisLedger {
    /// A ledger on the Redis of `client`, its keys under `<key_prefix>:refresh-reuse:`.
    pub fn new(client: redis::Client, key_prefix: &str) -> anyhow::Result<Self> {
        // A refresh waits on the ledger: an outage costs a refresh at most about a second
        // before it rotates strictly.
        Ok(Self {
            connection: crate::redis_connections::on_request_path(client)?,
            key_prefix: format!("{key_prefix}:refresh-reuse:"),
        })
    }

    fn key(&self, token_hash: &[u8]) -> String {
        format!("{}{}", self.key_prefix, URL_SAFE_NO_PAD.encode(token_hash))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[async_trait]
impl ReuseLedger for RedisLedger {
    async fn claim(&self, token_hash: &[u8], pending_for: Duration) -> anyhow::Result<Claim> {
        let key = self.key(token_hash);
        let mut connection = self.connection.clone();
        // SET NX makes the claim atomic across replicas; a value that vanishes between
        // the SET and the GET (expired) is claimed again on the next round.
        for _ in 0..2 {
            let claimed: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(PENDING_VALUE)
                .arg("NX")
                .arg("PX")
                .arg(millis(pending_for))
                .query_async(&mut connection)
                .await?;
            if claimed.is_some() {
                return Ok(Claim::Won);
            }
            let current: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut connection)
                .await?;
            match current.as_deref() {
                None => continue,
                Some(PENDING_VALUE) => return Ok(Claim::Pending),
                Some(session) => return Ok(Claim::Spent(Uuid::parse_str(session)?)),
            }
        }
        Ok(Claim::Pending)
    }

    async fn record_spent(
        &self,
        token_hash: &[u8],
        session_id: Uuid,
        interval: Duration,
    ) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        let () = redis::cmd("SET")
            .arg(self.key(token_hash))
            .arg(session_id.to_string())
            .arg("PX")
            .arg(millis(interval))
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    async fn release(&self, token_hash: &[u8]) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        let _removed: i64 = redis::cmd("DEL")
            .arg(self.key(token_hash))
            .query_async(&mut connection)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reuse(interval: Duration) -> RefreshReuse {
        RefreshReuse::new(Some(Arc::new(MemoryLedger::default())), interval)
    }

    #[tokio::test]
    async fn a_token_spent_moments_ago_is_replayed_into_its_session() {
        let reuse = reuse(Duration::from_secs(10));
        let session_id = Uuid::new_v4();
        assert_eq!(
            reuse.begin(b"token").await.expect("turn"),
            Turn::Exchange { claimed: true }
        );
        reuse.finish(b"token", Some(session_id)).await;
        assert_eq!(
            reuse.begin(b"token").await.expect("turn"),
            Turn::Replay(session_id)
        );
        assert_eq!(
            reuse.begin(b"other").await.expect("turn"),
            Turn::Exchange { claimed: true }
        );
    }

    #[tokio::test]
    async fn after_the_interval_or_a_failed_exchange_the_store_decides_again() {
        let reuse = reuse(Duration::from_millis(30));
        reuse.begin(b"token").await.expect("turn");
        reuse.finish(b"token", Some(Uuid::new_v4())).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            reuse.begin(b"token").await.expect("turn"),
            Turn::Exchange { claimed: true }
        );
        reuse.finish(b"token", None).await;
        assert_eq!(
            reuse.begin(b"token").await.expect("turn"),
            Turn::Exchange { claimed: true }
        );
    }

    #[tokio::test]
    async fn a_second_arrival_waits_for_the_first_exchange() {
        let reuse = reuse(Duration::from_secs(10));
        let session_id = Uuid::new_v4();
        reuse.begin(b"token").await.expect("turn");
        let waiter = {
            let reuse = reuse.clone();
            tokio::spawn(async move { reuse.begin(b"token").await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        reuse.finish(b"token", Some(session_id)).await;
        let turn = waiter.await.expect("joined").expect("turn");
        assert_eq!(turn, Turn::Replay(session_id));
    }

    #[tokio::test]
    async fn with_no_ledger_every_token_goes_to_the_store() {
        let reuse = RefreshReuse::new(None, Duration::ZERO);
        assert_eq!(
            reuse.begin(b"token").await.expect("turn"),
            Turn::Exchange { claimed: false }
        );
    }
}
