//! The gateway's live WebSocket connections: a cap per user, their accounts' shared event
//! feeds ([`Feeds`]), and closing them all when the gateway stops (a socket would
//! otherwise hold the shutdown for its whole grace period, and its client would learn of
//! the stop only from a dropped TCP connection).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::feeds::Feeds;

/// Counts connections per user and tells them when the gateway stops.
#[derive(Debug)]
pub struct Connections {
    max_per_user: u32,
    per_user: Mutex<HashMap<Uuid, u32>>,
    feeds: Feeds,
    stopping: CancellationToken,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Admission {
    registry: Arc<Connections>,
    user_id: Uuid,
}

impl Connections {
    /// A registry allowing `max_per_user` connections to each user (at least one).
    pub fn new(max_per_user: u32) -> Arc<Self> {
        Arc::new(Self {
            max_per_user: max_per_user.max(1),
            per_user: Mutex::new(HashMap::new()),
            feeds: Feeds::default(),
            stopping: CancellationToken::new(),
        })
    }

    /// A place for one more connection of `user_id`, unless the user has them all.
    pub fn admit(self: &Arc<Self>, user_id: Uuid) -> Option<Admission> {
        let mut per_user = self.per_user.lock().unwrap_or_else(PoisonError::into_inner);
        let count = per_user.entry(user_id).or_insert(0);
        if *count >= self.max_per_user {
            return None;
        }
        *count += 1;
        Some(Admission {
            registry: Arc::clone(self),
            user_id,
        })
    }

    /// Live connections of `user_id`.
    pub fn count(&self, user_id: Uuid) -> u32 {
        self.per_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user_id)
            .copied()
            .unwrap_or(0)
    }

    /// One event feed per linked account with a connection here.
    pub fn feeds(&self) -> &Feeds {
        &self.feeds
    }

    /// Fires when the gateway stops: every connection closes with "going away".
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Tells every connection to close.
    pub fn stop_all(&self) {
        self.stopping.cancel();
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut per_user = self
            .registry
            .per_user
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_user.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_user.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_the_cap_and_a_closed_connection_frees_its_place() {
        let registry = Connections::new(2);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let first = registry.admit(alice).expect("first");
        let _second = registry.admit(alice).expect("second");
        assert!(registry.admit(alice).is_none(), "a third is refused");
        assert!(registry.admit(bob).is_some(), "others are not affected");
        drop(first);
        assert_eq!(registry.count(alice), 1);
        assert!(
            registry.admit(alice).is_some(),
            "the freed place is taken again"
        );
    }

    #[test]
    fn stopping_reaches_every_connection() {
        let registry = Connections::new(4);
        let token = registry.stopping();
        assert!(!token.is_cancelled());
        registry.stop_all();
        assert!(token.is_cancelled());
    }
}
