//! The live tail: [`Watch`], and the registry a process keeps of its watchers.
//!
//! A registry holds one `tokio::sync::watch` channel per watched account, carrying the
//! newest id announced for it; every [`Watch`] of the account is a receiver of it. A
//! watch channel keeps only the latest value, so a burst of appends is one wake-up, and a
//! slow watcher never holds memory or blocks the announcer. The registry is removed from
//! when an account's last watcher goes, and closed as a whole when its source of
//! announcements is lost (Redis: the subscriber connection), which ends every watch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use crate::{AccountKey, LogError};

/// Wake-ups on one account's appends. Obtained from [`crate::EventLog::watch`]; dropping
/// it unsubscribes.
#[derive(Debug)]
pub struct Watch {
    // Declared before `registration`: dropped first, so the registration's drop sees
    // whether other receivers remain.
    newest: watch::Receiver<i64>,
    registration: Registration,
}

impl Watch {
    /// Waits for an append announced after the watch began (or after the previous call
    /// returned) and answers the newest id announced. Several appends may be one wake-up,
    /// and a wake-up may come late or (across processes) not at all while the connection
    /// is lost; so read from the cursor on each wake-up, not just the id announced.
    ///
    /// An error means the watch ended (Redis: the subscriber connection was lost, or the
    /// log was dropped): watch again, then read from the cursor, since appends made
    /// meanwhile were not announced.
    pub async fn changed(&mut self) -> Result<i64, LogError> {
        self.newest.changed().await.map_err(|_| {
            LogError::Unavailable(format!(
                "the watch of session {} ended: watch again",
                self.registration.account
            ))
        })?;
        Ok(*self.newest.borrow_and_update())
    }

    /// The account watched.
    pub fn account(&self) -> AccountKey {
        self.registration.account
    }
}

/// Removes the account's channel from its registry when its last watch goes.
#[derive(Debug)]
struct Registration {
    watchers: Arc<Watchers>,
    account: AccountKey,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut state = self.watchers.lock();
        if state
            .channels
            .get(&self.account)
            .is_some_and(|channel| channel.receiver_count() == 0)
        {
            state.channels.remove(&self.account);
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Once closed, nothing is announced or registered any more.
    closed: bool,
    channels: HashMap<AccountKey, watch::Sender<i64>>,
}

/// The watchers of one process (memory) or of one subscriber connection (Redis).
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    state: Mutex<State>,
}

impl Watchers {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section is a few map operations; a panic cannot leave them torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A watch of `account`; `None` once the registry is closed.
    pub(crate) fn register(self: &Arc<Self>, account: AccountKey) -> Option<Watch> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let newest = state
            .channels
            .entry(account)
            // The initial value is never reported: a receiver only reports later sends.
            .or_insert_with(|| watch::Sender::new(i64::MIN))
            .subscribe();
        Some(Watch {
            newest,
            registration: Registration {
                watchers: Arc::clone(self),
                account,
            },
        })
    }

    /// Wakes the watchers of `account`: it has events up to `newest`.
    pub(crate) fn announce(&self, account: AccountKey, newest: i64) {
        let state = self.lock();
        if let Some(channel) = state.channels.get(&account) {
            channel.send_if_modified(|announced| {
                // Announcements may cross (two appenders); the newest id only goes up.
                if newest > *announced {
                    *announced = newest;
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Ends every watch (their `changed` fails) and refuses new ones.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        // Dropping the senders is what ends the receivers.
        state.channels.clear();
    }
}
