//! [`EventLog`] on Redis.
//!
//! # Keys
//!
//! Per account, under `<prefix>:ev:{<user_id>:<session_index>}` (the braces keep an
//! account's keys in one cluster slot, as a script touching several keys needs):
//!
//! * `…` — a sorted set of the events, every score 0 so members sort by their bytes:
//!   each member is the id in 8 order-preserving bytes followed by the payload. Members
//!   are unique because ids are; `ZRANGEBYLEX` finds "every id above the cursor" exactly,
//!   for the whole `i64` range (scores, being doubles, would not be exact past 2^53).
//! * `…:at` — a sorted set of the same ids (8 bytes), scored by append time (clock
//!   milliseconds, never below the previous event's), so it sorts exactly like the
//!   events: trimming by age counts its old scores and removes that many from both sets
//!   by rank.
//! * `…:meta` — a hash: `floor` (8 bytes: the log vouches for every event above it) and
//!   `trimmed` (present once anything was trimmed since the account's first event).
//! * `…:seen` — a sorted set of the repeat keys of events appended with one
//!   ([`EventLog::append_unless_repeat`]), scored by their event's id (as a double: ids
//!   past 2^53 that round alike tie, and ties trim in key order), the newest
//!   `max_events` kept.
//!
//! All four get a TTL of `max_age` on each append. Every call is one Lua script, so it
//! is atomic, and each starts by applying retention as of the caller's clock: an account
//! whose newest event is older than `max_age` is deleted outright (the same as the TTL
//! does, but by the clock the caller uses, which tests drive).
//!
//! # Wake-ups
//!
//! The append script `PUBLISH`es `<user_id>:<session_index>:<event_id>` on one channel,
//! `<prefix>:ev:wake`. Each [`RedisEventLog`] keeps one subscriber connection to it,
//! opened by the first `watch` (and again by the first after it was lost), and hands
//! announcements to its local watchers. A lost subscriber connection (stream ended, or
//! no answer to a periodic `PING`) ends every watch of it with an error: their owners
//! watch again (opening a new connection) and re-read from their cursors.
//!
//! # Failures
//!
//! Commands go through a [`ConnectionManager`], which reconnects by itself; while Redis
//! is unreachable every call fails with [`LogError::Unavailable`] after its short
//! timeouts, and works again once Redis is back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use tokio::sync::Mutex;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::clock::{Clock, SystemClock, unix_millis};
use crate::watch::{Watch, Watchers};
use crate::{
    AccountKey, Appended, EventLog, LogError, LoggedEvent, Replay, Retention,
    id_from_ordered_bytes, ordered_bytes,
};

/// Where and how the logs live.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prefix of every key and channel name (separates deployments sharing a server).
    pub prefix: String,
    /// How much each account keeps.
    pub retention: Retention,
}

/// Shared by every script: retention, applied before anything else.
/// KEYS: events, at, meta, seen. `trim(cutoff, max_events)` returns whether the account
/// is still there.
const PRELUDE: &str = r"
local function forget()
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end

local function trim(cutoff, max_events)
  local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  local floor = redis.call('HGET', KEYS[3], 'floor')
  if #newest == 0 or not floor or tonumber(newest[2]) < tonumber(cutoff) then
    forget()
    return false
  end
  local aged = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. cutoff)
  local over = redis.call('ZCARD', KEYS[2]) - tonumber(max_events)
  local drop = math.max(aged, over)
  if drop > 0 then
    local last_dropped = redis.call('ZRANGE', KEYS[2], drop - 1, drop - 1)[1]
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, drop - 1)
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, drop - 1)
    redis.call('HSET', KEYS[3], 'floor', last_dropped, 'trimmed', '1')
  end
  return true
end
";

/// ARGV: cutoff, max_events, id (8 bytes), id - 1 (8 bytes), member, now, ttl in
/// milliseconds, wake-up channel, wake-up message, repeat key (empty: none), id as a
/// number. Returns the id the appended event follows (8 bytes; empty when the account
/// held nothing) when appended, nil when the account already holds an id at or above it
/// or took the repeat key.
const APPEND: &str = r"
local score = ARGV[6]
local repeat_key = ARGV[10]
local follows = ''
if trim(ARGV[1], ARGV[2]) then
  local not_older = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[3], '+', 'LIMIT', 0, 1)
  if #not_older > 0 then
    return false
  end
  if repeat_key ~= '' and redis.call('ZSCORE', KEYS[4], repeat_key) then
    return false
  end
  local previous = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  follows = previous[1]
  if tonumber(previous[2]) > tonumber(score) then
    score = previous[2]
  end
else
  redis.call('HSET', KEYS[3], 'floor', ARGV[4])
end
redis.call('ZADD', KEYS[1], 0, ARGV[5])
redis.call('ZADD', KEYS[2], score, ARGV[3])
if repeat_key ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[11], repeat_key)
end
trim(ARGV[1], ARGV[2])
local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[2])
if over > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, over - 1)
end
for i = 1, 4 do
  redis.call('PEXPIRE', KEYS[i], ARGV[7])
end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return follows
";

/// ARGV: cutoff, max_events, lower bound (`-` or `[` and the first id wanted), limit.
/// Returns nothing when the account is unknown, else floor, trimmed (`1` or empty), the
/// oldest id, then up to `limit` members from the lower bound.
const READ: &str = r"
if not trim(ARGV[1], ARGV[2]) then
  return {}
end
local meta = redis.call('HMGET', KEYS[3], 'floor', 'trimmed')
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
local reply = { meta[1], meta[2] or '', string.sub(oldest, 1, 8) }
if tonumber(ARGV[4]) > 0 then
  local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[3], '+', 'LIMIT', 0, ARGV[4])
  for i = 1, #members do
    reply[#reply + 1] = members[i]
  end
end
return reply
";

/// ARGV: cutoff, max_events. Returns the newest id (8 bytes), or nil.
const NEWEST: &str = r"
if not trim(ARGV[1], ARGV[2]) then
  return false
end
return string.sub(redis.call('ZRANGE', KEYS[1], -1, -1)[1], 1, 8)
";

/// Connecting (commands or subscriber) is given up after this long: callers are request
/// paths, better told "unavailable" soon than kept waiting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A command is given up after this long (every script is a handful of O(log n) steps).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The subscriber connection is pinged this often, so a silently dead one (no FIN, e.g. a
/// network partition) is noticed and its watchers told.
const SUBSCRIBER_PING_EVERY: Duration = Duration::from_secs(15);

fn unavailable(error: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(error.to_string())
}

fn log_error(error: &redis::RedisError) -> LogError {
    // `RetryMethod` is non-exhaustive: sort on the one answer that means "a retry will not
    // help" (a script or reply the server or client rejects), the rest is the connection.
    if matches!(error.retry_method(), redis::RetryMethod::NoRetry) {
        LogError::Backend(error.to_string())
    } else {
        unavailable(error)
    }
}

struct Scripts {
    append: redis::Script,
    read: redis::Script,
    newest: redis::Script,
}

/// Event logs on Redis. Make one per process and share it: its calls share one
/// multiplexed connection, its watches one subscriber connection.
pub struct RedisEventLog {
    client: redis::Client,
    connection: ConnectionManager,
    scripts: Scripts,
    prefix: String,
    wake_channel: String,
    retention: Retention,
    clock: Arc<dyn Clock>,
    /// The watchers of the current subscriber connection; `None` before the first watch.
    subscriber: Mutex<Option<Arc<Watchers>>>,
    /// Stops the subscriber task when the log goes.
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl RedisEventLog {
    /// Logs as `options` say, timed by the system clock. Nothing is connected until first
    /// used, so a process starts while Redis is down. Fails only on a malformed URL.
    pub fn new(options: RedisOptions) -> Result<Self, LogError> {
        let client = redis::Client::open(options.url.as_str())
            .map_err(|error| LogError::Backend(format!("redis url: {error}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            // One quick retry covers a connection that just dropped; beyond that the caller
            // is told, and the manager keeps reconnecting in the background.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|error| log_error(&error))?;
        let script = |body: &str| redis::Script::new(&format!("{PRELUDE}{body}"));
        let stop = CancellationToken::new();
        Ok(Self {
            client,
            connection,
            scripts: Scripts {
                append: script(APPEND),
                read: script(READ),
                newest: script(NEWEST),
            },
            wake_channel: format!("{}:ev:wake", options.prefix),
            prefix: options.prefix,
            retention: options.retention,
            clock: Arc::new(SystemClock),
            subscriber: Mutex::new(None),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        })
    }

    /// The same, timed by `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Appends, unless the id or `repeat_key` (empty: none) says it is a repeat.
    async fn append_keyed(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
        repeat_key: &str,
    ) -> Result<Appended, LogError> {
        let Some(previous_id) = event_id.checked_sub(1) else {
            return Err(LogError::InvalidEventId(event_id));
        };
        let now = unix_millis(self.clock.as_ref());
        let id_bytes = ordered_bytes(event_id);
        let mut member = Vec::with_capacity(8 + payload.len());
        member.extend_from_slice(&id_bytes);
        member.extend_from_slice(payload);
        let mut invocation = self.invocation(&self.scripts.append, account, now);
        invocation
            .arg(&id_bytes[..])
            .arg(&ordered_bytes(previous_id)[..])
            .arg(member)
            .arg(now)
            .arg(self.retention.max_age_millis())
            .arg(&self.wake_channel)
            .arg(wake_up_message(account, event_id))
            .arg(repeat_key)
            .arg(event_id);
        let follows: Option<Vec<u8>> = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| log_error(&error))?;
        Ok(match follows {
            None => Appended::Repeat,
            Some(previous) if previous.is_empty() => Appended::After { previous: None },
            Some(previous) => Appended::After {
                previous: Some(decode_id(&previous)?),
            },
        })
    }

    /// The account's keys: events, append times, meta, repeat keys.
    fn keys(&self, account: AccountKey) -> [String; 4] {
        let events = format!(
            "{}:ev:{{{}:{}}}",
            self.prefix, account.user_id, account.session_index
        );
        let append_times = format!("{events}:at");
        let meta = format!("{events}:meta");
        let seen = format!("{events}:seen");
        [events, append_times, meta, seen]
    }

    /// A script call on the account's keys, retention's arguments first.
    fn invocation<'a>(
        &self,
        script: &'a redis::Script,
        account: AccountKey,
        now: i64,
    ) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        for key in self.keys(account) {
            invocation.key(key);
        }
        let cutoff = now.saturating_sub(self.retention.max_age_millis());
        invocation.arg(cutoff).arg(self.retention.max_events());
        invocation
    }

    /// A subscriber connection on the wake-up channel, and the task that hands its
    /// announcements to the returned watchers.
    async fn subscribe(&self) -> Result<Arc<Watchers>, LogError> {
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.wake_channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| unavailable("subscribing to redis timed out"))?
            .map_err(|error| log_error(&error))?;
        let (sink, stream) = pubsub.split();
        let watchers = Arc::new(Watchers::default());
        tokio::spawn(relay_wake_ups(
            sink,
            stream,
            Arc::clone(&watchers),
            self.stop.clone(),
        ));
        Ok(watchers)
    }
}

/// Hands announcements to `watchers` until the connection is lost or the log dropped,
/// then closes them (ending every watch).
async fn relay_wake_ups(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    watchers: Arc<Watchers>,
    stop: CancellationToken,
) {
    let mut ping = tokio::time::interval(SUBSCRIBER_PING_EVERY);
    // The first tick is immediate; the connection was just checked by SUBSCRIBE.
    ping.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            message = stream.next() => {
                let Some(message) = message else {
                    tracing::warn!("redis subscriber connection lost");
                    break;
                };
                match parse_wake_up(message.get_payload_bytes()) {
                    Some((account, newest)) => watchers.announce(account, newest),
                    None => tracing::warn!(
                        message = %String::from_utf8_lossy(message.get_payload_bytes()),
                        "malformed event log wake-up"
                    ),
                }
            }
            _ = ping.tick() => {
                let pong = tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    tracing::warn!("redis subscriber connection stopped answering");
                    break;
                }
            }
        }
    }
    watchers.close();
}

fn wake_up_message(account: AccountKey, event_id: i64) -> String {
    format!("{}:{}:{event_id}", account.user_id, account.session_index)
}

fn parse_wake_up(payload: &[u8]) -> Option<(AccountKey, i64)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(3, ':');
    let user_id = parts.next()?.parse().ok()?;
    let session_index = parts.next()?.parse().ok()?;
    let event_id = parts.next()?.parse().ok()?;
    Some((AccountKey::new(user_id, session_index), event_id))
}

fn decode_id(bytes: &[u8]) -> Result<i64, LogError> {
    id_from_ordered_bytes(bytes)
        .ok_or_else(|| LogError::Backend(format!("malformed event id of {} bytes", bytes.len())))
}

#[async_trait]
impl EventLog for RedisEventLog {
    fn backend(&self) -> &'static str {
        "redis"
    }

    #[tracing::instrument(level = "debug", skip_all, fields(%account, event_id))]
    async fn append_after(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
        repeat_key: Option<&str>,
    ) -> Result<Appended, LogError> {
        self.append_keyed(account, event_id, payload, repeat_key.unwrap_or_default())
            .await
    }
    #[tracing::instrument(level = "debug", skip_all, fields(%account, since, limit))]
    async fn read_since(
        &self,
        account: AccountKey,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Replay, LogError> {
        let now = unix_millis(self.clock.as_ref());
        let (lower_bound, limit) = match since {
            None => (b"-".to_vec(), limit),
            Some(cursor) => match cursor.checked_add(1) {
                Some(first_wanted) => {
                    let mut bound = b"[".to_vec();
                    bound.extend_from_slice(&ordered_bytes(first_wanted));
                    (bound, limit)
                }
                // Nothing can come after the largest id.
                None => (b"-".to_vec(), 0),
            },
        };
        let mut invocation = self.invocation(&self.scripts.read, account, now);
        invocation.arg(lower_bound).arg(limit);
        let reply: Vec<Vec<u8>> = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| log_error(&error))?;
        let mut reply = reply.into_iter();
        let (Some(floor), Some(trimmed), Some(oldest)) = (reply.next(), reply.next(), reply.next())
        else {
            return Ok(Replay::NoHistory);
        };
        let floor = decode_id(&floor)?;
        let complete = match since {
            Some(cursor) => cursor >= floor,
            None => trimmed.is_empty(),
        };
        if !complete {
            return Ok(Replay::TooOld {
                retained_after: floor,
                oldest_retained: decode_id(&oldest)?,
            });
        }
        let events = reply
            .map(|member| {
                Ok(LoggedEvent {
                    event_id: decode_id(&member)?,
                    payload: member.get(8..).unwrap_or_default().to_vec(),
                })
            })
            .collect::<Result<Vec<_>, LogError>>()?;
        Ok(Replay::Events(events))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(%account))]
    async fn newest(&self, account: AccountKey) -> Result<Option<i64>, LogError> {
        let now = unix_millis(self.clock.as_ref());
        let newest: Option<Vec<u8>> = self
            .invocation(&self.scripts.newest, account, now)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| log_error(&error))?;
        newest.as_deref().map(decode_id).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(%account))]
    async fn watch(&self, account: AccountKey) -> Result<Watch, LogError> {
        let mut subscriber = self.subscriber.lock().await;
        if let Some(watch) = subscriber
            .as_ref()
            .and_then(|watchers| watchers.register(account))
        {
            return Ok(watch);
        }
        // None yet, or the last one was lost: a new connection.
        let watchers = self.subscribe().await?;
        let watch = watchers
            .register(account)
            .ok_or_else(|| unavailable("the redis subscriber connection was lost"))?;
        *subscriber = Some(watchers);
        Ok(watch)
    }
}
