//! GCRA state in process memory (one gateway: the embedded default).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use super::{Decision, LimiterStore, Quota, gcra};

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
    async fn acquire(&self, key: &str, quota: Quota) -> anyhow::Result<Decision> {
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX / 4);
        let mut state = self
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("limiter state lock poisoned"))?;
        if state.len() >= SWEEP_AT_ENTRIES {
            // A key whose tat has passed is as good as absent.
            state.retain(|_, tat| *tat > now);
        }
        match gcra(now, state.get(key).copied(), quota) {
            Ok(new_tat) => {
                // A known key is updated in place: no copy of it per request.
                match state.get_mut(key) {
                    Some(tat) => *tat = new_tat,
                    None => {
                        state.insert(key.to_owned(), new_tat);
                    }
                }
                Ok(Decision::Allowed)
            }
            Err(retry_after) => Ok(Decision::Limited { retry_after }),
        }
    }
}
