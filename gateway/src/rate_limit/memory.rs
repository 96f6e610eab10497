//! GCRA state in process memory (one gateway: the embedded default).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use super::{Grant, LimiterStore, Quota, gcra_share};

/// Entries are swept when the map grows past this, dropping the ones already refilled.
const SWEEP_AT_ENTRIES: usize = 100_000;

/// In-memory limiter state.
pub struct MemoryLimiter {
    started: Instant,
    state: Mutex<HashMap<String, u64>>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            state: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl LimiterStore for MemoryLimiter {
    async fn acquire_share(
        &self,
        key: &str,
        quota: Quota,
        want: u32,
        unused: u32,
    ) -> anyhow::Result<Grant> {
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX / 4);
        let mut state = self
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("limiter state lock poisoned"))?;
        if state.len() >= SWEEP_AT_ENTRIES {
            // A key whose tat has passed is as good as absent.
            state.retain(|_, tat| *tat > now);
        }
        let stored = state.get(key).copied();
        let (new_tat, grant) = gcra_share(now, stored, quota, want, unused);
        if grant.granted > 0 || stored.is_some_and(|tat| tat != new_tat) {
            // A known key is updated in place: no copy of it per request.
            match state.get_mut(key) {
                Some(tat) => *tat = new_tat,
                None => {
                    state.insert(key.to_owned(), new_tat);
                }
            }
        }
        Ok(grant)
    }
}
