//! The in-process [`EventLog`] of the embedded default: the same rules as on Redis
//! (order, idempotence, retention, floors, wake-ups), none of its durability (a restart
//! forgets every account, and clients resync).
//!
//! Memory is bounded by the retention: at most `max_events_per_account` events per
//! account, and at most [`MemoryEventLog::with_max_bytes_per_account`] bytes of them (a
//! bound of this log alone: on Redis the server's `maxmemory` is the bound; the newest
//! event is always kept), and an account without an append for `max_age` is dropped — when it is next
//! touched, or by a sweep of every account that runs at most every `max_age / 8` (at
//! least a second apart) on an append. Within that bound it grows with every event until
//! each active account holds `max_events_per_account` of them: [`MemoryEventLog::held`]
//! says how much it holds (the realtime service reports it as `talkapp_realtime_log_*`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock, unix_millis};
use crate::watch::{Watch, Watchers};
use crate::{AccountKey, Appended, EventLog, LogError, LoggedEvent, Replay, Retention};

struct Stored {
    event_id: i64,
    /// When it was appended, in clock milliseconds; never below its predecessor's.
    appended_at: i64,
    payload: Vec<u8>,
}

struct AccountLog {
    /// Oldest first, ids strictly increasing; never empty.
    events: VecDeque<Stored>,
    /// The log vouches for every event above this id.
    floor: i64,
    /// Whether anything was trimmed since the account's first event.
    trimmed: bool,
    /// The repeat keys of appended events, oldest first.
    repeat_keys: VecDeque<String>,
    /// The same keys, for the lookup.
    repeat_set: HashSet<String>,
    /// The payloads' bytes and the repeat keys' (each key is kept twice) held now.
    bytes: usize,
}

impl AccountLog {
    fn newest(&self) -> Option<&Stored> {
        self.events.back()
    }

    /// Drops what retention says to drop: events older than `cutoff`, beyond
    /// `max_events`, and the oldest while the account holds more than `max_bytes` (its
    /// newest event stays). `false`: the whole account aged out.
    fn trim(&mut self, cutoff: i64, max_events: usize, max_bytes: usize) -> bool {
        if self
            .newest()
            .is_none_or(|newest| newest.appended_at < cutoff)
        {
            return false;
        }
        let aged = self
            .events
            .iter()
            .take_while(|event| event.appended_at < cutoff)
            .count();
        let over = self.events.len().saturating_sub(max_events);
        for _ in 0..aged.max(over) {
            self.drop_oldest();
        }
        while self.bytes > max_bytes && self.events.len() > 1 {
            self.drop_oldest();
        }
        true
    }

    fn drop_oldest(&mut self) {
        if let Some(dropped) = self.events.pop_front() {
            self.floor = dropped.event_id;
            self.trimmed = true;
            self.bytes -= dropped.payload.len();
        }
    }

    /// Keeps the newest `max_events` repeat keys.
    fn trim_repeat_keys(&mut self, max_events: usize) {
        while self.repeat_keys.len() > max_events {
            if let Some(key) = self.repeat_keys.pop_front() {
                self.repeat_set.remove(&key);
                self.bytes -= 2 * key.len();
            }
        }
    }
}

/// What the in-process logs hold at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Accounts with a log (idle ones not yet swept included).
    pub accounts: usize,
    /// Events kept for replay, over all accounts.
    pub events: usize,
    /// Bytes of those events' payloads and of the repeat keys kept (each key twice: in
    /// order and for the lookup). The heap holds more: about 40 bytes per event and
    /// the containers' and allocator's rounding on top.
    pub bytes: usize,
}

#[derive(Default)]
struct State {
    accounts: HashMap<AccountKey, AccountLog>,
    /// Clock milliseconds at which idle accounts are next swept.
    next_sweep: i64,
}

/// Event logs in this process. Clones share the same logs.
#[derive(Clone)]
pub struct MemoryEventLog {
    state: Arc<Mutex<State>>,
    watchers: Arc<Watchers>,
    retention: Retention,
    max_bytes_per_account: usize,
    clock: Arc<dyn Clock>,
}

impl MemoryEventLog {
    /// Empty logs kept as `retention` says, timed by the system clock.
    pub fn new(retention: Retention) -> Self {
        Self {
            state: Arc::default(),
            watchers: Arc::default(),
            retention,
            max_bytes_per_account: usize::MAX,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same, holding at most `bytes` of events and repeat keys per account (the oldest
    /// events go first, as the retention's count trims them; the newest event is always
    /// kept, whatever its size). Unbounded by default.
    #[must_use]
    pub fn with_max_bytes_per_account(mut self, bytes: usize) -> Self {
        self.max_bytes_per_account = bytes;
        self
    }

    /// The same, timed by `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many accounts are held (idle ones not yet swept included).
    pub fn account_count(&self) -> usize {
        self.lock().accounts.len()
    }

    /// How many accounts, events and bytes the logs hold now (one pass over the accounts,
    /// under the lock: for a gauge every few seconds, not per event).
    pub fn held(&self) -> Held {
        let state = self.lock();
        state
            .accounts
            .values()
            .fold(Held::default(), |held, log| Held {
                accounts: held.accounts + 1,
                events: held.events + log.events.len(),
                bytes: held.bytes + log.bytes,
            })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation is a few container operations; a panic cannot leave them torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The account, trimmed as of `now`; `None` (and forgotten) when it aged out.
    fn account<'a>(
        &self,
        state: &'a mut State,
        account: AccountKey,
        now: i64,
    ) -> Option<&'a mut AccountLog> {
        let cutoff = now.saturating_sub(self.retention.max_age_millis());
        let alive = state.accounts.get_mut(&account).is_some_and(|log| {
            log.trim(
                cutoff,
                self.retention.max_events(),
                self.max_bytes_per_account,
            )
        });
        if !alive {
            state.accounts.remove(&account);
            return None;
        }
        state.accounts.get_mut(&account)
    }

    /// Appends, unless the id or `repeat_key` says it is a repeat.
    fn append_keyed(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
        repeat_key: Option<&str>,
    ) -> Result<Appended, LogError> {
        if event_id == i64::MIN {
            return Err(LogError::InvalidEventId(event_id));
        }
        let now = unix_millis(self.clock.as_ref());
        let previous = {
            let mut state = self.lock();
            self.sweep(&mut state, now);
            let (appended_at, previous) = match self.account(&mut state, account, now) {
                Some(log) => match log.newest() {
                    Some(newest) if newest.event_id >= event_id => return Ok(Appended::Repeat),
                    _ if repeat_key.is_some_and(|key| log.repeat_set.contains(key)) => {
                        return Ok(Appended::Repeat);
                    }
                    Some(newest) => (now.max(newest.appended_at), Some(newest.event_id)),
                    None => (now, None),
                },
                None => (now, None),
            };
            let log = state.accounts.entry(account).or_insert_with(|| AccountLog {
                events: VecDeque::new(),
                // A new account vouches for nothing before its first event.
                floor: event_id - 1,
                trimmed: false,
                repeat_keys: VecDeque::new(),
                repeat_set: HashSet::new(),
                bytes: 0,
            });
            log.events.push_back(Stored {
                event_id,
                appended_at,
                payload: payload.to_vec(),
            });
            log.bytes += payload.len();
            if let Some(key) = repeat_key
                && log.repeat_set.insert(key.to_owned())
            {
                log.repeat_keys.push_back(key.to_owned());
                log.bytes += 2 * key.len();
            }
            let cutoff = now.saturating_sub(self.retention.max_age_millis());
            log.trim_repeat_keys(self.retention.max_events());
            log.trim(
                cutoff,
                self.retention.max_events(),
                self.max_bytes_per_account,
            );
            previous
        };
        self.watchers.announce(account, event_id);
        Ok(Appended::After { previous })
    }

    /// Drops every account idle for `max_age`, at most every `max_age / 8`.
    fn sweep(&self, state: &mut State, now: i64) {
        if now < state.next_sweep {
            return;
        }
        let max_age = self.retention.max_age_millis();
        let cutoff = now.saturating_sub(max_age);
        state.accounts.retain(|_, log| {
            log.newest()
                .is_some_and(|newest| newest.appended_at >= cutoff)
        });
        state.next_sweep = now.saturating_add((max_age / 8).max(1000));
    }
}

#[async_trait]
impl EventLog for MemoryEventLog {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn append_after(
        &self,
        account: AccountKey,
        event_id: i64,
        payload: &[u8],
        repeat_key: Option<&str>,
    ) -> Result<Appended, LogError> {
        self.append_keyed(account, event_id, payload, repeat_key)
    }

    async fn read_since(
        &self,
        account: AccountKey,
        since: Option<i64>,
        limit: usize,
    ) -> Result<Replay, LogError> {
        let now = unix_millis(self.clock.as_ref());
        let mut state = self.lock();
        let Some(log) = self.account(&mut state, account, now) else {
            return Ok(Replay::NoHistory);
        };
        let complete = match since {
            Some(cursor) => cursor >= log.floor,
            None => !log.trimmed,
        };
        if !complete {
            return Ok(Replay::TooOld {
                retained_after: log.floor,
                oldest_retained: log.events.front().map_or(log.floor, |e| e.event_id),
            });
        }
        let first = match since {
            Some(cursor) => log.events.partition_point(|event| event.event_id <= cursor),
            None => 0,
        };
        Ok(Replay::Events(
            log.events
                .iter()
                .skip(first)
                .take(limit)
                .map(|event| LoggedEvent {
                    event_id: event.event_id,
                    payload: event.payload.clone(),
                })
                .collect(),
        ))
    }

    async fn newest(&self, account: AccountKey) -> Result<Option<i64>, LogError> {
        let now = unix_millis(self.clock.as_ref());
        let mut state = self.lock();
        Ok(self
            .account(&mut state, account, now)
            .and_then(|log| log.newest().map(|event| event.event_id)))
    }

    async fn watch(&self, account: AccountKey) -> Result<Watch, LogError> {
        self.watchers
            .register(account)
            .ok_or_else(|| LogError::Unavailable("the in-process watchers are closed".into()))
    }
}
