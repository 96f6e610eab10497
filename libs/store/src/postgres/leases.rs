//! Shard leases on PostgreSQL: a connection of its own (not from the pool), because
//! session advisory locks belong to the connection that took them and end with it, which
//! is what lets the other replicas take a dead replica's shards over at once (ADR 0005).
//! The tables `chat_replicas` (heartbeats) and `shard_owners` (who holds what, for
//! routing) come from migration 0004.

use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Result, StoreError};

/// Advisory-lock namespace (the first key) of shard locks.
const LOCK_NAMESPACE: i32 = 0x7461_6c6b; // "talk"

/// A connection that holds shard leases; every lock it took ends when it does.
pub struct LeaseConnection {
    client: tokio_postgres::Client,
    lost: CancellationToken,
}

fn unavailable(error: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn shard_column(shard: u16) -> i16 {
    i16::try_from(shard).unwrap_or(i16::MAX)
}

impl LeaseConnection {
    /// Opens a connection of its own to `url`.
    pub async fn open(url: &str) -> Result<Self> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(unavailable)?;
        let lost = CancellationToken::new();
        let lost_signal = lost.clone();
        // The connection ends when the server or the network goes away: every advisory
        // lock ends with it.
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "lease connection ended");
            }
            lost_signal.cancel();
        });
        Ok(Self { client, lost })
    }

    /// Cancelled once the connection is gone (and with it every lease it held).
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Says that `replica` (reached at `address`) is alive, now.
    pub async fn heartbeat(&self, replica: Uuid, address: &str) -> Result<()> {
        self.client
            .execute(
                "INSERT INTO chat_replicas (replica_id, address, heartbeat_at)
                 VALUES ($1, $2, now())
                 ON CONFLICT (replica_id) DO UPDATE SET address = $2, heartbeat_at = now()",
                &[&replica, &address],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// How many replicas sent a heartbeat within `timeout` (this one included).
    pub async fn live_replicas(&self, timeout: Duration) -> Result<u64> {
        let live: i64 = self
            .client
            .query_one(
                "SELECT count(*) FROM chat_replicas
                 WHERE heartbeat_at > now() - make_interval(secs => $1)",
                &[&timeout.as_secs_f64()],
            )
            .await
            .map_err(unavailable)?
            .get(0);
        Ok(u64::try_from(live).unwrap_or(0))
    }

    /// Takes `shard` for `replica` (at `address`) unless another connection holds it;
    /// records the new owner for routing. False when it is held elsewhere.
    pub async fn try_take(&self, shard: u16, replica: Uuid, address: &str) -> Result<bool> {
        let locked: bool = self
            .client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_NAMESPACE, &i32::from(shard)],
            )
            .await
            .map_err(unavailable)?
            .get(0);
        if !locked {
            return Ok(false);
        }
        self.client
            .execute(
                "INSERT INTO shard_owners (shard, replica_id, address, since)
                 VALUES ($1, $2, $3, now())
                 ON CONFLICT (shard) DO UPDATE
                 SET replica_id = $2, address = $3, since = now()",
                &[&shard_column(shard), &replica, &address],
            )
            .await
            .map_err(unavailable)?;
        Ok(true)
    }

    /// Lets go of `shard` (held by `replica` on this connection).
    pub async fn hand_back(&self, shard: u16, replica: Uuid) -> Result<()> {
        self.client
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&LOCK_NAMESPACE, &i32::from(shard)],
            )
            .await
            .map_err(unavailable)?;
        self.client
            .execute(
                "DELETE FROM shard_owners WHERE shard = $1 AND replica_id = $2",
                &[&shard_column(shard), &replica],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Who holds each shard, as recorded: `(shard, replica, address)`.
    pub async fn owners(&self) -> Result<Vec<(u16, Uuid, String)>> {
        Ok(self
            .client
            .query("SELECT shard, replica_id, address FROM shard_owners", &[])
            .await
            .map_err(unavailable)?
            .iter()
            .filter_map(|row| {
                let shard: i16 = row.get(0);
                Some((u16::try_from(shard).ok()?, row.get(1), row.get(2)))
            })
            .collect())
    }

    /// `replica` stops: its records go, so the others take its shards at once instead of
    /// waiting for its heartbeat to age (the locks end with the connection).
    pub async fn leave(&self, replica: Uuid) -> Result<()> {
        for statement in [
            "DELETE FROM shard_owners WHERE replica_id = $1",
            "DELETE FROM chat_replicas WHERE replica_id = $1",
        ] {
            self.client
                .execute(statement, &[&replica])
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}
