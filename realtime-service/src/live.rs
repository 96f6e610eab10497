//! Events handed from the ingest to this process's live streams in memory (ADR 0053).
//!
//! When a lane of the ingest appends an event to the log, the log answers which event the
//! appended one follows ([`talkapp_eventlog::Appended::After`]); the lane hands the event
//! with that id here, once, to every stream of the account in this process. A stream
//! whose cursor is that id takes the event as its next one without reading the log (the
//! log's answer is atomic with the append, so nothing can be between them, whichever
//! process appended it). Any other stream (behind, ahead of a gap, or lagging more than
//! the channel holds) reads the log from its cursor, which stays the source of truth: so
//! no event is lost or doubled, and order is the log's.
//!
//! One `tokio::sync::broadcast` channel per account with a stream here, made by the first
//! stream and removed with the last, so an account nobody streams costs one map lookup
//! per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use talkapp_eventlog::AccountKey;
use talkapp_proto::realtime::v1 as proto;
use tokio::sync::broadcast;

/// Events a stream may be behind in its channel before it lags (and reads the log).
/// Memory per account for as long as it has a stream (the channel's slots are allocated
/// at once), so small: a stream is normally less than one event behind.
pub const CHANNEL: usize = 64;

/// One appended event, as handed to the live streams.
#[derive(Debug)]
pub struct Pushed {
    /// The id the event follows in the log (`None`: the account's log was empty).
    pub previous: Option<i64>,
    /// The event, decoded once.
    pub event: proto::Event,
}

/// The live streams of this process, per account.
#[derive(Debug, Default)]
pub struct Live {
    channels: Mutex<HashMap<AccountKey, broadcast::Sender<Arc<Pushed>>>>,
}

impl Live {
    /// Nothing streamed yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<AccountKey, broadcast::Sender<Arc<Pushed>>>> {
        // Every critical section is one or two map operations; a panic cannot tear them.
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The events of `account` appended from now on. Subscribe before reading the log,
    /// so an event appended in between is in one or the other (or both: the stream drops
    /// ids at or below its cursor).
    pub fn subscribe(self: &Arc<Self>, account: AccountKey) -> LiveEvents {
        let receiver = self
            .lock()
            .entry(account)
            .or_insert_with(|| broadcast::Sender::new(CHANNEL))
            .subscribe();
        LiveEvents {
            receiver,
            _registration: Registration {
                live: Arc::clone(self),
                account,
            },
        }
    }

    /// Hands an event the log appended to the account's streams here (nothing when it
    /// has none). The caller hands one account's events in the log's order.
    pub fn publish(&self, account: AccountKey, pushed: Pushed) {
        let channels = self.lock();
        if let Some(channel) = channels.get(&account) {
            // An error only means no receiver left (its registration removes the entry).
            let _none_left = channel.send(Arc::new(pushed));
        }
    }

    /// How many accounts have a live stream here.
    pub fn accounts(&self) -> usize {
        self.lock().len()
    }
}

/// One stream's view of its account's appended events.
#[derive(Debug)]
pub struct LiveEvents {
    // Declared before `registration`: dropped first, so the registration sees whether
    // other receivers remain.
    receiver: broadcast::Receiver<Arc<Pushed>>,
    _registration: Registration,
}

impl LiveEvents {
    /// The next event handed over, or `Err` when this stream fell more than
    /// [`CHANNEL`] events behind (those are gone from the channel: read the log).
    pub async fn next(&mut self) -> Result<Arc<Pushed>, Lagged> {
        match self.receiver.recv().await {
            Ok(pushed) => Ok(pushed),
            Err(broadcast::error::RecvError::Lagged(_)) => Err(Lagged),
            // The sender lives in the map as long as this receiver does.
            Err(broadcast::error::RecvError::Closed) => {
                std::future::pending::<Result<Arc<Pushed>, Lagged>>().await
            }
        }
    }
}

/// A stream missed events of the channel: read the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged;

/// Removes the account's channel when its last stream goes.
#[derive(Debug)]
struct Registration {
    live: Arc<Live>,
    account: AccountKey,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut channels = self.live.lock();
        if channels
            .get(&self.account)
            .is_some_and(|channel| channel.receiver_count() == 0)
        {
            channels.remove(&self.account);
        }
    }
}
