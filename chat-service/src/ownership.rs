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
use talkapp_store::postgres::leases::LeaseConnection;
use talkapp_store::{SHARD_COUNT, StoreError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

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
            match LeaseConnection::open(url).await {
                Ok(connection) => {
                    failures = 0;
                    self.lease_rounds(&connection, listener.as_ref(), &stop)
                        .await;
                    let held = self.held();
                    if !held.is_empty() {
                        listener.released(&held).await;
                        self.set_held(&BTreeSet::new());
                    }
                    if !connection.lost().is_cancelled()
                        && let Err(error) = connection.leave(self.replica_id).await
                    {
                        // The others take over once this heartbeat ages instead.
                        tracing::warn!(%error, "cannot announce this replica's leaving");
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
        connection: &LeaseConnection,
        listener: &dyn ShardListener,
        stop: &CancellationToken,
    ) {
        let lost = connection.lost();
        let mut interval = tokio::time::interval(self.timings.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = lost.cancelled() => return,
                _ = interval.tick() => {}
            }
            if let Err(error) = self.lease_round(connection, listener).await {
                tracing::warn!(%error, "lease round failed");
                if connection.is_closed() {
                    return;
                }
            }
        }
    }

    async fn lease_round(
        &self,
        connection: &LeaseConnection,
        listener: &dyn ShardListener,
    ) -> Result<(), StoreError> {
        connection.heartbeat(self.replica_id, &self.address).await?;
        let live = connection
            .live_replicas(self.timings.replica_timeout)
            .await?
            .max(1);
        let live = u16::try_from(live).unwrap_or(u16::MAX);
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
                connection.hand_back(*shard, self.replica_id).await?;
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
                if held.contains(&shard)
                    || !connection
                        .try_take(shard, self.replica_id, &self.address)
                        .await?
                {
                    continue;
                }
                held.insert(shard);
                acquired.push(shard);
            }
            if !acquired.is_empty() {
                self.set_held(&held);
                tracing::info!(?acquired, share, live, "shards taken");
                listener.acquired(&acquired).await;
            }
        }

        let owners: HashMap<u16, (Uuid, String)> = connection
            .owners()
            .await?
            .into_iter()
            .map(|(shard, replica, address)| (shard, (replica, address)))
            .collect();
        if let Ok(mut current) = self.owners.write() {
            *current = owners;
        }
        Ok(())
    }
}
