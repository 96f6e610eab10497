//! Which chat-service replica hosts which accounts.
//!
//! Accounts are spread over [`SHARD_COUNT`] shards; each shard is held by exactly one
//! replica, which connects its accounts and consumes its send queue. With PostgreSQL
//! (several replicas) a shard is held through a session advisory lock on a connection
//! of its own: the server releases it the moment that connection ends (the replica died
//! or was cut off), so the others can take the shard over (see
//! `docs/adr/0005-session-ownership-by-advisory-locks.md`). Replicas announce themselves
//! with a heartbeat; each aims at an equal share of the shards and hands back what is
//! above its share, so a new replica gets work and a dead one's shards move within a few
//! seconds. With SQLite (the embedded default, one process) this process holds every
//! shard.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use talkapp_store::SHARD_COUNT;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Advisory-lock namespace (the first key) of shard locks.
const LOCK_NAMESPACE: i32 = 0x7461_6c6b; // "talk"

/// Told when shards come and go.
#[async_trait]
pub trait ShardListener: Send + Sync + 'static {
    /// These shards are now held here: connect their accounts.
    async fn acquired(&self, shards: &[u16]);
    /// These shards are no longer held here: disconnect their accounts (returns once
    /// they are).
    async fn released(&self, shards: &[u16]);
}

/// Where a shard is hosted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardHost {
    /// Here.
    Local,
    /// At another replica (its gRPC address).
    Remote(String),
    /// Nobody right now (moving).
    Unknown,
}

/// How leases are held.
#[derive(Debug, Clone)]
pub enum LeaseBackend {
    /// Every shard, in this process.
    Local,
    /// PostgreSQL advisory locks.
    Postgres {
        /// Connection string.
        url: String,
    },
}

/// Timings of the lease rounds.
#[derive(Debug, Clone)]
pub struct LeaseTimings {
    /// Between two rounds.
    pub interval: Duration,
    /// A replica whose heartbeat is older than this counts as gone.
    pub replica_timeout: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            replica_timeout: Duration::from_secs(5),
        }
    }
}

/// This replica's shards, and the map of who hosts the others.
pub struct Ownership {
    replica_id: Uuid,
    address: String,
    backend: LeaseBackend,
    timings: LeaseTimings,
    held: RwLock<BTreeSet<u16>>,
    owners: RwLock<HashMap<u16, (Uuid, String)>>,
}

impl Ownership {
    /// Ownership for a replica reachable at `address` (its gRPC URL).
    pub fn new(address: String, backend: LeaseBackend, timings: LeaseTimings) -> Arc<Self> {
        Arc::new(Self {
            replica_id: Uuid::new_v4(),
            address,
            backend,
            timings,
            held: RwLock::new(BTreeSet::new()),
            owners: RwLock::new(HashMap::new()),
        })
    }

    /// This replica's id.
    pub fn replica_id(&self) -> Uuid {
        self.replica_id
    }

    /// The shards held here now.
    pub fn held(&self) -> Vec<u16> {
        self.held
            .read()
            .map(|held| held.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether `shard` is held here.
    pub fn holds(&self, shard: u16) -> bool {
        self.held
            .read()
            .map(|held| held.contains(&shard))
            .unwrap_or(false)
    }

    /// Where `shard` is hosted, as last seen.
    pub fn host_of(&self, shard: u16) -> ShardHost {
        if self.holds(shard) {
            return ShardHost::Local;
        }
        match self
            .owners
            .read()
            .ok()
            .and_then(|owners| owners.get(&shard).cloned())
        {
            Some((replica, _)) if replica == self.replica_id => ShardHost::Unknown,
            Some((_, address)) => ShardHost::Remote(address),
            None => ShardHost::Unknown,
        }
    }

    fn set_held(&self, held: &BTreeSet<u16>) {
        if let Ok(mut current) = self.held.write() {
            current.clone_from(held);
        }
    }

    /// Holds shards until `stop` fires, telling `listener` as they come and go; every
    /// shard held is released (and `listener` told) before it returns.
    pub async fn run(self: Arc<Self>, listener: Arc<dyn ShardListener>, stop: CancellationToken) {
        match self.backend.clone() {
            LeaseBackend::Local => {
                let all: BTreeSet<u16> = (0..SHARD_COUNT).collect();
                self.set_held(&all);
                let shards: Vec<u16> = all.iter().copied().collect();
                listener.acquired(&shards).await;
                stop.cancelled().await;
                listener.released(&shards).await;
                self.set_held(&BTreeSet::new());
            }
            LeaseBackend::Postgres { url } => self.run_postgres(&url, listener, stop).await,
        }
    }

    async fn run_postgres(
        self: &Arc<Self>,
        url: &str,
        listener: Arc<dyn ShardListener>,
        stop: CancellationToken,
    ) {
        let mut failures: u32 = 0;
        while !stop.is_cancelled() {
            match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    failures = 0;
                    let lost = CancellationToken::new();
                    let lost_signal = lost.clone();
                    // The connection ends when the server or the network goes away: every
                    // advisory lock ends with it.
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::warn!(%error, "lease connection ended");
                        }
                        lost_signal.cancel();
                    });
                    self.lease_rounds(&client, &lost, listener.as_ref(), &stop)
                        .await;
                    let held = self.held();
                    if !held.is_empty() {
                        listener.released(&held).await;
                        self.set_held(&BTreeSet::new());
                    }
                    if !lost.is_cancelled() {
                        // Stopping: say goodbye so the others take over at once.
                        let _ = client
                            .execute(
                                "DELETE FROM shard_owners WHERE replica_id = $1",
                                &[&self.replica_id],
                            )
                            .await;
                        let _ = client
                            .execute(
                                "DELETE FROM chat_replicas WHERE replica_id = $1",
                                &[&self.replica_id],
                            )
                            .await;
                    }
                }
                Err(error) => {
                    if failures == 0 {
                        tracing::warn!(%error, "cannot open the lease connection; retrying");
                    }
                    failures += 1;
                }
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(self.timings.interval) => {}
            }
        }
    }

    /// Lease rounds on one connection, until it is lost or `stop` fires.
    async fn lease_rounds(
        &self,
        client: &tokio_postgres::Client,
        lost: &CancellationToken,
        listener: &dyn ShardListener,
        stop: &CancellationToken,
    ) {
        let mut interval = tokio::time::interval(self.timings.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = lost.cancelled() => return,
                _ = interval.tick() => {}
            }
            if let Err(error) = self.lease_round(client, listener).await {
                tracing::warn!(%error, "lease round failed");
                if client.is_closed() {
                    return;
                }
            }
        }
    }

    async fn lease_round(
        &self,
        client: &tokio_postgres::Client,
        listener: &dyn ShardListener,
    ) -> Result<(), tokio_postgres::Error> {
        let timeout_secs = self.timings.replica_timeout.as_secs_f64();
        client
            .execute(
                "INSERT INTO chat_replicas (replica_id, address, heartbeat_at)
                 VALUES ($1, $2, now())
                 ON CONFLICT (replica_id) DO UPDATE SET address = $2, heartbeat_at = now()",
                &[&self.replica_id, &self.address],
            )
            .await?;
        let live: i64 = client
            .query_one(
                "SELECT count(*) FROM chat_replicas
                 WHERE heartbeat_at > now() - make_interval(secs => $1)",
                &[&timeout_secs],
            )
            .await?
            .get(0);
        let live = u16::try_from(live.max(1)).unwrap_or(u16::MAX);
        let share = SHARD_COUNT.div_ceil(live);
        let mut held: BTreeSet<u16> = self.held().into_iter().collect();

        if held.len() > usize::from(share) {
            let extra: Vec<u16> = held
                .iter()
                .rev()
                .take(held.len() - usize::from(share))
                .copied()
                .collect();
            // Disconnect first, then let go: the next host never overlaps with this one.
            listener.released(&extra).await;
            for shard in &extra {
                held.remove(shard);
                self.set_held(&held);
                client
                    .execute(
                        "SELECT pg_advisory_unlock($1, $2)",
                        &[&LOCK_NAMESPACE, &i32::from(*shard)],
                    )
                    .await?;
                client
                    .execute(
                        "DELETE FROM shard_owners WHERE shard = $1 AND replica_id = $2",
                        &[&i16::try_from(*shard).unwrap_or(0), &self.replica_id],
                    )
                    .await?;
            }
            tracing::info!(released = ?extra, share, live, "shards handed back");
        }

        if held.len() < usize::from(share) {
            // Start at a place of this replica's own, so replicas starting together do
            // not all race for the same shards.
            let offset =
                u16::try_from(self.replica_id.as_u128() % u128::from(SHARD_COUNT)).unwrap_or(0);
            let mut acquired = Vec::new();
            for step in 0..SHARD_COUNT {
                if held.len() >= usize::from(share) {
                    break;
                }
                let shard = (offset + step) % SHARD_COUNT;
                if held.contains(&shard) {
                    continue;
                }
                let locked: bool = client
                    .query_one(
                        "SELECT pg_try_advisory_lock($1, $2)",
                        &[&LOCK_NAMESPACE, &i32::from(shard)],
                    )
                    .await?
                    .get(0);
                if !locked {
                    continue;
                }
                client
                    .execute(
                        "INSERT INTO shard_owners (shard, replica_id, address, since)
                         VALUES ($1, $2, $3, now())
                         ON CONFLICT (shard) DO UPDATE
                         SET replica_id = $2, address = $3, since = now()",
                        &[
                            &i16::try_from(shard).unwrap_or(0),
                            &self.replica_id,
                            &self.address,
                        ],
                    )
                    .await?;
                held.insert(shard);
                acquired.push(shard);
            }
            if !acquired.is_empty() {
                self.set_held(&held);
                tracing::info!(?acquired, share, live, "shards taken");
                listener.acquired(&acquired).await;
            }
        }

        let owners: HashMap<u16, (Uuid, String)> = client
            .query("SELECT shard, replica_id, address FROM shard_owners", &[])
            .await?
            .iter()
            .filter_map(|row| {
                let shard: i16 = row.get(0);
                Some((u16::try_from(shard).ok()?, (row.get(1), row.get(2))))
            })
            .collect();
        if let Ok(mut current) = self.owners.write() {
            *current = owners;
        }
        Ok(())
    }
}
