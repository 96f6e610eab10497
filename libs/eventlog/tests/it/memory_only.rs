//! What only the in-process log has to show: its memory stays bounded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use talkapp_eventlog::memory::MemoryEventLog;
use talkapp_eventlog::{AccountKey, EventLog, ManualClock};

use crate::retention;

#[tokio::test]
async fn idle_sessions_are_dropped_from_memory_even_if_never_read_again() {
    // Arrange: three accounts with events, then two idle hours (retention keeps one).
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let log = MemoryEventLog::new(retention(10)).with_clock(clock.clone());
    for index in 0..3 {
        let account = AccountKey::new(uuid::Uuid::new_v4(), index);
        log.append(account, 1, b"event").await.expect("append");
    }
    assert_eq!(log.account_count(), 3);
    clock.advance(Duration::from_secs(2 * 60 * 60));

    // Act: any append sweeps.
    let active = AccountKey::new(uuid::Uuid::new_v4(), 0);
    log.append(active, 1, b"event").await.expect("append");

    // Assert
    assert_eq!(log.account_count(), 1);
}
