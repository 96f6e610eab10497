//! Who has a live connection: the gateways' event streams, counted per TalkApp user.
//!
//! Each stream the realtime service serves is a connection of its user. With Redis the
//! count is shared by every replica (a hash per user: connection id to expiry, refreshed
//! while the stream lives, so a replica that dies leaves nothing behind for long); without
//! it (one process) it is counted here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands as _;
use uuid::Uuid;

/// How long a connection counts without being refreshed.
pub const PRESENCE_TTL: Duration = Duration::from_secs(45);
/// How often a live stream refreshes its presence.
pub const PRESENCE_REFRESH: Duration = Duration::from_secs(15);

enum Backend {
    Local(Mutex<HashMap<Uuid, HashSet<String>>>),
    Redis {
        connection: redis::aio::ConnectionManager,
        prefix: String,
    },
}

/// Live connections per user.
pub struct Presence {
    backend: Backend,
}

fn now_millis() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis())
            .unwrap_or(0),
    )
    .unwrap_or(i64::MAX)
}

impl Presence {
    /// Counted in this process.
    pub fn local() -> Arc<Self> {
        Arc::new(Self {
            backend: Backend::Local(Mutex::new(HashMap::new())),
        })
    }

    /// Counted in Redis, shared by every replica.
    pub fn redis(connection: redis::aio::ConnectionManager, prefix: &str) -> Arc<Self> {
        Arc::new(Self {
            backend: Backend::Redis {
                connection,
                prefix: prefix.to_owned(),
            },
        })
    }

    fn key(prefix: &str, user: Uuid) -> String {
        format!("{prefix}:presence:{user}")
    }

    /// Counts (or refreshes) a live connection of `user`.
    pub async fn connected(&self, user: Uuid, connection_id: &str) {
        match &self.backend {
            Backend::Local(users) => {
                if let Ok(mut users) = users.lock() {
                    users
                        .entry(user)
                        .or_default()
                        .insert(connection_id.to_owned());
                }
            }
            Backend::Redis { connection, prefix } => {
                let key = Self::key(prefix, user);
                let expiry =
                    now_millis() + i64::try_from(PRESENCE_TTL.as_millis()).unwrap_or(i64::MAX);
                let mut connection = connection.clone();
                let written: redis::RedisResult<()> = redis::pipe()
                    .hset(&key, connection_id, expiry)
                    .ignore()
                    .pexpire(
                        &key,
                        i64::try_from(PRESENCE_TTL.as_millis()).unwrap_or(45_000),
                    )
                    .ignore()
                    .query_async(&mut connection)
                    .await;
                if let Err(error) = written {
                    tracing::debug!(%error, "presence not recorded");
                }
            }
        }
    }

    /// A connection of `user` ended.
    pub async fn disconnected(&self, user: Uuid, connection_id: &str) {
        match &self.backend {
            Backend::Local(users) => {
                if let Ok(mut users) = users.lock()
                    && let Some(connections) = users.get_mut(&user)
                {
                    connections.remove(connection_id);
                    if connections.is_empty() {
                        users.remove(&user);
                    }
                }
            }
            Backend::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let removed: redis::RedisResult<i64> = connection
                    .hdel(Self::key(prefix, user), connection_id)
                    .await;
                if let Err(error) = removed {
                    tracing::debug!(%error, "presence not removed");
                }
            }
        }
    }

    /// How many live connections `user` has. Unknown (Redis away) counts as none, so a
    /// notification is sent rather than lost.
    pub async fn connections(&self, user: Uuid) -> u32 {
        match &self.backend {
            Backend::Local(users) => users
                .lock()
                .ok()
                .and_then(|users| users.get(&user).map(HashSet::len))
                .map_or(0, |count| u32::try_from(count).unwrap_or(u32::MAX)),
            Backend::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let entries: redis::RedisResult<HashMap<String, i64>> =
                    connection.hgetall(Self::key(prefix, user)).await;
                let now = now_millis();
                entries.map_or(0, |entries| {
                    u32::try_from(entries.values().filter(|expiry| **expiry > now).count())
                        .unwrap_or(u32::MAX)
                })
            }
        }
    }
}
