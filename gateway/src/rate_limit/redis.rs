//! GCRA state in Redis, shared by every gateway replica. The whole decision is one Lua
//! script (atomic), timed by the Redis server's clock so replicas' clocks do not matter.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use super::{Grant, LimiterStore, Quota};
use crate::per_thread::PerThread;

/// KEYS[1]: the key. ARGV: interval and burst tolerance in microseconds, the requests
/// wanted, the requests given back. Returns {granted, 0}, or {0, wait_micros} when limited:
/// [`super::gcra_share`]'s arithmetic (microseconds since 1970 are exact in Lua's doubles).
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local unused = tonumber(ARGV[4])
local stored = redis.call('GET', KEYS[1])
local tat = tonumber(stored or now) - unused * interval
if tat < now then tat = now end
local fits = math.floor((now + tolerance - tat) / interval)
if fits < 0 then fits = 0 end
local granted = math.min(fits, want)
if granted == 0 then
  if stored and unused > 0 then
    redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000) + 1)
  end
  return {0, tat + interval - tolerance - now}
end
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {granted, 0}
";

/// Redis-backed limiter state.
pub struct RedisLimiter {
    client: redis::Client,
    /// For threads without their own.
    connection: ConnectionManager,
    /// Each HTTP worker's own connection, driven on its thread (ADR 0055): a decision
    /// does not leave the worker's thread for the runtime the shared one was made on.
    worker_connection: PerThread<ConnectionManager>,
    script: redis::Script,
    key_prefix: String,
}

impl RedisLimiter {
    /// A limiter on the Redis of `client`, its keys under `key_prefix`. It connects on first
    /// use and reconnects by itself, so a gateway starts and serves while Redis is down.
    pub fn new(client: redis::Client, key_prefix: &str) -> anyhow::Result<Self> {
        // Every request waits on the limiter: an outage costs a request at most about a
        // second before it fails open.
        Ok(Self {
            connection: crate::redis_connections::on_request_path(client.clone())?,
            client,
            worker_connection: PerThread::new(),
            script: redis::Script::new(GCRA_SCRIPT),
            key_prefix: format!("{key_prefix}:ratelimit:"),
        })
    }
}

#[async_trait]
impl LimiterStore for RedisLimiter {
    async fn acquire_share(
        &self,
        key: &str,
        quota: Quota,
        want: u32,
        unused: u32,
    ) -> anyhow::Result<Grant> {
        let (interval, tolerance) = quota.micros();
        let mut connection = self
            .worker_connection
            .get()
            .unwrap_or_else(|| self.connection.clone());
        let (granted, wait_micros): (i64, i64) = self
            .script
            .key(format!("{}{key}", self.key_prefix))
            .arg(interval)
            .arg(tolerance)
            .arg(want)
            .arg(unused)
            .invoke_async(&mut connection)
            .await?;
        Ok(Grant {
            granted: u32::try_from(granted).unwrap_or(0).min(want),
            retry_after: Duration::from_micros(u64::try_from(wait_micros).unwrap_or(0)),
        })
    }

    fn open_on_this_thread(&self) {
        // The connection's tasks are spawned on the runtime it is made on.
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        match crate::redis_connections::on_request_path(self.client.clone()) {
            Ok(connection) => self.worker_connection.set(connection),
            Err(error) => tracing::warn!(%error, "no rate limiter connection of this worker's own"),
        }
    }
}
