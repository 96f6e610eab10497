//! What only the in-process log has to show: its memory stays bounded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use talkapp_eventlog::memory::{Held, MemoryEventLog};
use talkapp_eventlog::{AccountKey, EventLog, ManualClock, Replay};

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

#[tokio::test]
async fn what_the_log_holds_grows_with_its_events_up_to_the_retention_and_no_further() {
    // Arrange: one account, retention 10 events, events of 100 bytes.
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let log = MemoryEventLog::new(retention(10)).with_clock(clock.clone());
    let account = AccountKey::new(uuid::Uuid::new_v4(), 1);
    let payload = [7_u8; 100];
    let held = |accounts, events, bytes| Held {
        accounts,
        events,
        bytes,
    };
    assert_eq!(log.held(), held(0, 0, 0));

    // Act and assert: each event adds its payload, until the retention trims the oldest.
    for id in 1..=4 {
        log.append(account, id, &payload).await.expect("append");
    }
    assert_eq!(log.held(), held(1, 4, 400));
    for id in 5..=34 {
        log.append(account, id, &payload).await.expect("append");
    }
    assert_eq!(log.held(), held(1, 10, 1000));

    // A repeat key (8 bytes) is kept twice, in order and for the lookup; a repeat of it
    // adds nothing; the keys too are trimmed to the retention's count.
    assert!(
        log.append_unless_repeat(account, 35, &payload, "new:1:35")
            .await
            .expect("append")
    );
    assert_eq!(log.held(), held(1, 10, 1000 + 16));
    assert!(
        !log.append_unless_repeat(account, 36, &payload, "new:1:35")
            .await
            .expect("append")
    );
    assert_eq!(log.held(), held(1, 10, 1000 + 16));
    for id in 37..=56 {
        let key = format!("new:1:{id}");
        log.append_unless_repeat(account, id, &payload, &key)
            .await
            .expect("append");
    }
    assert_eq!(log.held(), held(1, 10, 1000 + 10 * 16));

    // An account idle past the age limit is dropped with everything it held.
    clock.advance(Duration::from_secs(2 * 60 * 60));
    let active = AccountKey::new(uuid::Uuid::new_v4(), 0);
    log.append(active, 1, b"event").await.expect("append");
    assert_eq!(log.held(), held(1, 1, 5));
}

#[tokio::test]
async fn an_accounts_bytes_are_bounded_and_a_client_behind_them_is_told_to_resync() {
    // Arrange: a retention of 1,000 events, and at most 1,000 bytes per account.
    let log = MemoryEventLog::new(retention(1000)).with_max_bytes_per_account(1000);
    let account = AccountKey::new(uuid::Uuid::new_v4(), 1);

    // Act: ten events of 300 bytes.
    for id in 1..=10 {
        log.append(account, id, &[7_u8; 300]).await.expect("append");
    }

    // Assert: the newest three fit (900 bytes), the oldest went first; a cursor before
    // them is told to resync from what is kept.
    let held = log.held();
    assert_eq!((held.events, held.bytes), (3, 900));
    let Replay::TooOld {
        retained_after,
        oldest_retained,
    } = log.read_since(account, Some(2), 100).await.expect("read")
    else {
        panic!("a cursor before what is kept must be told to resync");
    };
    assert_eq!((retained_after, oldest_retained), (7, 8));

    // Act: one event larger than the whole bound.
    log.append(account, 11, &[8_u8; 5000])
        .await
        .expect("append");

    // Assert: it stays, alone; a cursor at the new floor replays it.
    let held = log.held();
    assert_eq!((held.events, held.bytes), (1, 5000));
    let Replay::Events(events) = log.read_since(account, Some(10), 100).await.expect("read") else {
        panic!("a cursor at the floor replays what follows");
    };
    assert_eq!(
        events
            .iter()
            .map(|event| event.event_id)
            .collect::<Vec<_>>(),
        vec![11]
    );
}
