//! TalkApp's replay buffer of real-time events.
//!
//! Every linked Telegram account ([`AccountKey`]) produces events with a
//! strictly increasing `event_id` (assigned by the producer; ids may have gaps). The
//! realtime service appends each event to an [`EventLog`] as it consumes it from the bus,
//! and serves from it both the replay a reconnecting client asks for (`?since=<id>`:
//! every event after it, exactly once, in order) and the live tail.
//!
//! # Guarantees
//!
//! * **Order and uniqueness.** An account's log only grows at its end: an append whose id
//!   is not above the account's newest id does nothing (so duplicates and late, older
//!   events are dropped, and concurrent appenders cannot interleave out of order).
//! * **Retention.** At most [`Retention::max_events_per_account`] events per account, none
//!   older than [`Retention::max_age`] (by the log's [`Clock`], at append time). An account
//!   without an append for `max_age` is forgotten entirely.
//! * **Exact "too old".** Each account keeps a *floor*: the id at and below which the
//!   log cannot vouch for having every event. It starts just below the account's first
//!   event and rises to the newest id ever trimmed. [`EventLog::read_since`] with a cursor
//!   at or above the floor returns everything after the cursor; below it, it answers
//!   [`Replay::TooOld`] and the client must resync.
//! * **Live tail.** [`EventLog::watch`] wakes when an account gets events, from any
//!   process for Redis. Wake-ups carry no events and may be coalesced or missed: the
//!   caller watches first, then reads from its cursor, and reads again on every wake-up.
//! * **What an append follows.** [`EventLog::append_after`] answers the id the appended
//!   event follows (atomically with the append), so the appender can hand the event to
//!   live readers in memory: a reader whose cursor is that id takes it as its next event
//!   without reading the log; any other reader reads the log (ADR 0053).
//!
//! Two implementations pass the same conformance suite (`tests/it`):
//! [`redis::RedisEventLog`] (one Lua script per call, notifications through Redis
//! pub/sub) and [`memory::MemoryEventLog`] in process for the embedded default.
//!
//! # Layout
//! - `lib.rs`: the contract: [`EventLog`], [`AccountKey`], [`Replay`], [`LoggedEvent`],
//!   [`Retention`], [`LogError`], [`Appended`].
//! - [`clock`]: what "now" is ([`SystemClock`], and [`ManualClock`] for tests).
//! - [`watch`]: [`Watch`], the live-tail subscription, and its per-process registry.
//! - [`memory`]: in process.
//! - [`redis`]: on Redis, with reconnection.

pub mod clock;
pub mod memory;
pub mod redis;
pub mod watch;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

pub use clock::{Clock, ManualClock, SystemClock};
pub use watch::Watch;

/// Why an event log call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// The backend is not reachable (or the connection dropped); try again later. An
    /// append that failed so may or may not have been applied: appending again is safe.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// `i64::MIN` is reserved: the floor of an account starting with it would be below
    /// every cursor.
    #[error("event id {0} is out of range")]
    InvalidEventId(i64),
    /// The backend answered something unexpected (a bug, or an incompatible server).
    #[error("event log backend error: {0}")]
    Backend(String),
}

/// One linked Telegram account: a TalkApp user and the index of the account among theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    /// The TalkApp user.
    pub user_id: uuid::Uuid,
    /// Which of the user's linked accounts.
    pub session_index: u32,
}

impl AccountKey {
    /// The account `session_index` of `user_id`.
    pub fn new(user_id: uuid::Uuid, session_index: u32) -> Self {
        Self {
            user_id,
            session_index,
        }
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.user_id, self.session_index)
    }
}

/// One event as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// The producer's id, strictly increasing within the account.
    pub event_id: i64,
    /// The event, as the producer encoded it (opaque to the log).
    pub payload: Vec<u8>,
}

/// The answer to [`EventLog::read_since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The events after the cursor, oldest first, at most the limit asked for, and the
    /// log vouches that no event after the cursor is missing from them. Fewer than the
    /// limit: caught up (as of the read); otherwise read again after the last one.
    Events(Vec<LoggedEvent>),
    /// Events after the cursor may have been dropped (by retention, or before the log
    /// knew the account): the client must resync. Reading after `retained_after` is
    /// complete again.
    TooOld {
        /// The account's floor: the log has every event it was given above this id.
        retained_after: i64,
        /// The oldest event the log still holds.
        oldest_retained: i64,
    },
    /// The log holds nothing for the account: it never had an event, or none for
    /// [`Retention::max_age`]. Without a cursor there is simply nothing yet; with one the
    /// log cannot vouch for what happened after it (events may have come and aged out),
    /// so the client should resync.
    NoHistory,
}

/// The answer to [`EventLog::append_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Nothing changed: the account holds an id at or above it, or took its repeat key.
    Repeat,
    /// Appended right after `previous`, the account's newest id until then; `None` when
    /// the log held nothing for the account (its first event, or its first after it was
    /// forgotten), so a reader with no cursor reads exactly this event next.
    After {
        /// The id the appended event follows in the log.
        previous: Option<i64>,
    },
}

impl Appended {
    /// Whether the event was appended.
    pub fn is_appended(self) -> bool {
        matches!(self, Self::After { .. })
    }
}

/// How much each account keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Older events are trimmed beyond this many per account (at least 1).
    pub max_events_per_account: usize,
    /// Events appended longer ago than this are trimmed; an account with no event this
    /// recent is forgotten (at least a millisecond).
    pub max_age: Duration,
}

impl Default for Retention {
    /// 1000 events, 24 hours: a client offline for a day, or behind by a thousand events,
    /// resyncs rather than replays.
    fn default() -> Self {
        Self {
            max_events_per_account: 1000,
            max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl Retention {
    /// `max_events_per_account`, at least 1 (an account always keeps its newest event,
    /// which is what makes later appends idempotent).
    pub(crate) fn max_events(&self) -> usize {
        self.max_events_per_account.max(1)
    }

    /// `max_age` in whole milliseconds, at least 1.
    pub(crate) fn max_age_millis(&self) -> i64 {
        i64::try_from(self.max_age.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }
}

/// The replay buffer of real-time events, per account.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// `redis` or `memory`.
    fn backend(&self) -> &'static str;

    /// Appends an event at the end of the account's log. Idempotent: when the account
    /// already holds an id at or above `event_id` (a duplicate, or an older event arriving
    /// late) nothing changes and the answer is `false`. Wakes the account's watchers.
    /// `i64::MIN` is refused ([`LogError::InvalidEventId`]).
    async fn append(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
    ) -> Result<bool, LogError> {
        Ok(self
            .append_after(account, event_id, payload, None)
            .await?
            .is_appended())
    }

    /// [`append`](Self::append), unless the account's log took an event with the same
    /// `repeat_key` (the same content under another id, e.g. a message told again after
    /// its producer restarted) within its retention: then nothing changes and the answer
    /// is `false`. The newest `max_events_per_account` repeat keys are remembered, while
    /// the account lives (until it is idle for `max_age`). A repeat key names content
    /// that never legitimately comes again (a message's chat and id), so remembering it
    /// longer than its event is harmless.
    async fn append_unless_repeat(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
        repeat_key: &str,
    ) -> Result<bool, LogError> {
        Ok(self
            .append_after(account, event_id, payload, Some(repeat_key))
            .await?
            .is_appended())
    }

    /// [`append`](Self::append) (`repeat_key: None`) or
    /// [`append_unless_repeat`](Self::append_unless_repeat), answering also which event
    /// the appended one follows in the log ([`Appended::After`]), atomically with the
    /// append. A reader whose cursor is that event can take the appended event as the
    /// next one without reading the log (ADR 0053).
    async fn append_after(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
        repeat_key: Option<&str>,
    ) -> Result<Appended, LogError>;

    /// The account's events after `since`, oldest first, at most `limit` of them;
    /// `since: None` reads from the start of what the log knows of the account, which is
    /// complete unless something was trimmed since the account's first event. See
    /// [`Replay`] for when the log cannot vouch for completeness.
    async fn read_since(
        &self,
        account: AccountKey,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Replay, LogError>;

    /// The account's newest id; `None` when the log holds nothing for it. A cursor for
    /// "only events from now on" (with `None`, read with `since: None`).
    async fn newest(&self, account: AccountKey) -> Result<Option<i64>, LogError>;

    /// Wakes on the account's appends from now on (from any handle, or any process for
    /// Redis). Watch before the first read, so nothing appended in between is missed.
    async fn watch(&self, account: AccountKey) -> Result<Watch, LogError>;
}

/// `id` as 8 bytes whose byte order is the numeric order (big endian, sign bit flipped),
/// so stores that compare bytes order events by id.
pub(crate) fn ordered_bytes(id: i64) -> [u8; 8] {
    (id.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// The id [`ordered_bytes`] encoded, from the first 8 bytes of `bytes`.
pub(crate) fn id_from_ordered_bytes(bytes: &[u8]) -> Option<i64> {
    let head: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(head) ^ (1 << 63)).cast_signed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_bytes_sort_like_the_ids_they_encode() {
        let ids = [
            i64::MIN,
            -5,
            -1,
            0,
            1,
            2,
            255,
            256,
            1 << 53,
            i64::MAX - 1,
            i64::MAX,
        ];
        for pair in ids.windows(2) {
            assert!(ordered_bytes(pair[0]) < ordered_bytes(pair[1]), "{pair:?}");
        }
        for id in ids {
            assert_eq!(id_from_ordered_bytes(&ordered_bytes(id)), Some(id));
        }
        assert_eq!(id_from_ordered_bytes(&[1, 2, 3]), None);
    }
}
