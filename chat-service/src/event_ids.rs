//! Event ids taken from the store in blocks (ADR 0071).
//!
//! Each linked account's events carry ids that increase strictly across restarts and
//! replicas: the store's counter row per account ([`EventIdStore`]) is the only source.
//! Taking them one batch at a time made every batch of events a committed write, waiting
//! for its flush (three per text send in split mode) and for the previous batch's lock on
//! the same row. So the host reserves [`BLOCK`] ids at once and hands them out in memory.
//!
//! What keeps the order: a reservation is above every id reserved before it, by any
//! process; so a process that starts hosting an account, or a new process after a crash,
//! takes ids above everything handed out before. The ids left in a block are dropped when
//! the account stops being hosted here ([`EventIds::forget`]), so a later hosting here
//! never goes back to them after another replica's. Unused ids are gaps, which every
//! reader allows (the realtime log orders by id and keeps its own floor; the search index
//! compares ids).
//!
//! Calls for one account must not overlap (the publisher's per-account lock orders them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use talkapp_store::{AccountKey, EventIdStore, StoreError};

/// Ids reserved at once per account. A host's restart or an account's move skips what
/// is left of its block: at most this many ids, in an `i64`.
pub const BLOCK: u32 = 64;

/// The ids reserved for an account and not handed out yet: `next..end`.
#[derive(Debug, Clone, Copy)]
struct Held {
    next: i64,
    end: i64,
}

/// Event ids of the accounts hosted here, reserved in blocks.
pub struct EventIds {
    store: Arc<dyn EventIdStore>,
    block: u32,
    held: Mutex<HashMap<AccountKey, Held>>,
    /// Counts [`EventIds::forget`] calls: a reservation made across one is not kept.
    forgets: AtomicU64,
}

impl EventIds {
    /// Ids from `store`, [`BLOCK`] at a time.
    pub fn new(store: Arc<dyn EventIdStore>) -> Self {
        Self::with_block(store, BLOCK)
    }

    /// Ids from `store`, `block` (at least 1) at a time.
    pub fn with_block(store: Arc<dyn EventIdStore>, block: u32) -> Self {
        Self {
            store,
            block: block.max(1),
            held: Mutex::new(HashMap::new()),
            forgets: AtomicU64::new(0),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `count` (at least 1) consecutive ids of `key`'s account, above every id
    /// taken before; returns the first. `None`: the account is not linked (any more).
    pub async fn take(&self, key: AccountKey, count: u32) -> Result<Option<i64>, StoreError> {
        let count = i64::from(count.max(1));
        {
            let mut held = self.held();
            if let Some(ids) = held.get_mut(&key)
                && ids.end - ids.next >= count
            {
                let first = ids.next;
                ids.next += count;
                return Ok(Some(first));
            }
        }
        let forgets = self.forgets.load(Ordering::Acquire);
        let reserve = u32::try_from(count).unwrap_or(u32::MAX).max(self.block);
        let Some(first) = self.store.next_event_ids(key, reserve).await? else {
            self.held().remove(&key);
            return Ok(None);
        };
        let ids = Held {
            next: first + count,
            end: first + i64::from(reserve),
        };
        let mut held = self.held();
        // A forget meanwhile (the account let go here, perhaps hosted elsewhere since):
        // these ids were reserved before it, so the rest of them must not outlive it.
        if self.forgets.load(Ordering::Acquire) == forgets && ids.next < ids.end {
            held.insert(key, ids);
        } else {
            held.remove(&key);
        }
        Ok(Some(first))
    }

    /// Drops what is left of `key`'s block: the account is no longer hosted here, and the
    /// next id it takes here comes from a new reservation.
    pub fn forget(&self, key: AccountKey) {
        // Counted before the removal, so that a reservation in flight sees one or the other.
        self.forgets.fetch_add(1, Ordering::AcqRel);
        self.held().remove(&key);
    }

    /// Accounts holding ids here (for tests and gauges).
    pub fn held_accounts(&self) -> usize {
        self.held().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use async_trait::async_trait;
    use tokio::sync::Notify;

    use super::*;

    /// A counter per account, as the store keeps it, counting its calls; optionally held
    /// inside a call until released.
    #[derive(Default)]
    struct Counter {
        last: Mutex<HashMap<AccountKey, i64>>,
        calls: AtomicU32,
        unlinked: Mutex<Vec<AccountKey>>,
        pause: Mutex<Option<(Arc<Notify>, Arc<Notify>)>>,
    }

    #[async_trait]
    impl EventIdStore for Counter {
        async fn next_event_ids(
            &self,
            key: AccountKey,
            count: u32,
        ) -> Result<Option<i64>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let pause = self.pause.lock().expect("pause").take();
            if let Some((entered, release)) = pause {
                entered.notify_one();
                release.notified().await;
            }
            if self.unlinked.lock().expect("unlinked").contains(&key) {
                return Ok(None);
            }
            let mut last = self.last.lock().expect("last");
            let counter = last.entry(key).or_insert(0);
            *counter += i64::from(count.max(1));
            Ok(Some(*counter - i64::from(count.max(1)) + 1))
        }
    }

    fn key(session_index: u32) -> AccountKey {
        AccountKey {
            user_id: uuid::Uuid::from_u128(7),
            session_index,
        }
    }

    #[tokio::test]
    async fn ids_follow_each_other_and_a_block_is_one_store_call() {
        let store = Arc::new(Counter::default());
        let ids = EventIds::with_block(Arc::clone(&store) as Arc<dyn EventIdStore>, 64);
        let mut taken = Vec::new();
        for _ in 0..100 {
            taken.push(ids.take(key(1), 1).await.expect("ids").expect("linked"));
        }
        assert_eq!(taken, (1..=100).collect::<Vec<_>>());
        assert_eq!(store.calls.load(Ordering::SeqCst), 2, "64 + 64 reserved");
        // A batch takes consecutive ids; one that does not fit the rest of the block skips it.
        assert_eq!(ids.take(key(1), 20).await.expect("ids"), Some(101));
        assert_eq!(ids.take(key(1), 10).await.expect("ids"), Some(129));
        // A batch larger than a block reserves exactly it.
        assert_eq!(ids.take(key(1), 100).await.expect("ids"), Some(193));
        assert_eq!(ids.take(key(1), 1).await.expect("ids"), Some(293));
        // Accounts have their own counters.
        assert_eq!(ids.take(key(2), 1).await.expect("ids"), Some(1));
    }

    #[tokio::test]
    async fn an_account_hosted_here_again_after_another_replica_takes_ids_above_its() {
        let store = Arc::new(Counter::default());
        let here = EventIds::with_block(Arc::clone(&store) as Arc<dyn EventIdStore>, 64);
        let there = EventIds::with_block(Arc::clone(&store) as Arc<dyn EventIdStore>, 64);
        assert_eq!(here.take(key(1), 1).await.expect("ids"), Some(1));
        here.forget(key(1));
        assert_eq!(here.held_accounts(), 0);
        // The other replica hosts it now: above everything reserved here.
        assert_eq!(there.take(key(1), 1).await.expect("ids"), Some(65));
        there.forget(key(1));
        // Back here: above the other replica's, not the rest of the first block.
        assert_eq!(here.take(key(1), 1).await.expect("ids"), Some(129));
    }

    #[tokio::test]
    async fn a_reservation_across_a_forget_serves_its_batch_and_keeps_nothing() {
        let store = Arc::new(Counter::default());
        let ids = Arc::new(EventIds::with_block(
            Arc::clone(&store) as Arc<dyn EventIdStore>,
            64,
        ));
        let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *store.pause.lock().expect("pause") = Some((Arc::clone(&entered), Arc::clone(&release)));
        let taking = tokio::spawn({
            let ids = Arc::clone(&ids);
            async move { ids.take(key(1), 1).await }
        });
        entered.notified().await;
        ids.forget(key(1));
        release.notify_one();
        assert_eq!(taking.await.expect("task").expect("ids"), Some(1));
        assert_eq!(
            ids.held_accounts(),
            0,
            "the block reserved before the forget is not kept"
        );
        assert_eq!(ids.take(key(1), 1).await.expect("ids"), Some(65));
    }

    #[tokio::test]
    async fn an_unlinked_account_takes_no_ids_and_holds_none() {
        let store = Arc::new(Counter::default());
        let ids = EventIds::with_block(Arc::clone(&store) as Arc<dyn EventIdStore>, 64);
        assert_eq!(ids.take(key(1), 1).await.expect("ids"), Some(1));
        store.unlinked.lock().expect("unlinked").push(key(1));
        // What is held is handed out (the account was hosted when it was reserved) ...
        for expected in 2..=64 {
            assert_eq!(ids.take(key(1), 1).await.expect("ids"), Some(expected));
        }
        // ... and then the store says it is gone.
        assert_eq!(ids.take(key(1), 1).await.expect("ids"), None);
        assert_eq!(ids.held_accounts(), 0);
    }
}
