//! The behaviour every `EventLog` must have.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use talkapp_eventlog::{AccountKey, EventLog, LogError, Replay, Watch};

use crate::{TestLogs, retention};

/// Long enough for a Redis round trip on a loaded machine.
const WAIT: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(400);
/// More than any limit the tests read with.
const ALL: usize = 10_000;

fn new_account() -> AccountKey {
    AccountKey::new(uuid::Uuid::new_v4(), 0)
}

/// The events a complete replay answers, as (id, payload text).
async fn read(
    log: &dyn EventLog,
    account: AccountKey,
    since: Option<i64>,
    limit: usize,
) -> Vec<(i64, String)> {
    match log
        .read_since(account, since, limit)
        .await
        .expect("read_since")
    {
        Replay::Events(events) => events
            .into_iter()
            .map(|event| {
                (
                    event.event_id,
                    String::from_utf8_lossy(&event.payload).into_owned(),
                )
            })
            .collect(),
        other => panic!("expected events after {since:?}, got {other:?}"),
    }
}

async fn ids(log: &dyn EventLog, account: AccountKey, since: Option<i64>) -> Vec<i64> {
    read(log, account, since, ALL)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

async fn append(log: &dyn EventLog, account: AccountKey, event_id: i64) -> bool {
    log.append(account, event_id, format!("event {event_id}").as_bytes())
        .await
        .expect("append")
}

async fn replay(log: &dyn EventLog, account: AccountKey, since: Option<i64>) -> Replay {
    log.read_since(account, since, ALL)
        .await
        .expect("read_since")
}

async fn wake_up(watch: &mut Watch) -> i64 {
    tokio::time::timeout(WAIT, watch.changed())
        .await
        .expect("a wake-up within the wait")
        .expect("the watch is alive")
}

async fn no_wake_up(watch: &mut Watch) {
    if let Ok(woken) = tokio::time::timeout(QUIET, watch.changed()).await {
        panic!("unexpected wake-up {woken:?}");
    }
}

pub(crate) async fn appended_events_are_read_back_in_order_after_the_cursor(logs: &TestLogs) {
    // Arrange
    let log = logs.open(retention(100));
    let account = new_account();
    let binary = [0_u8, 255, 0, 1, b':', 0];

    // Act: ids with gaps, payloads of any bytes (empty too).
    assert!(log.append(account, 10, b"ten").await.expect("append"));
    assert!(log.append(account, 20, &binary).await.expect("append"));
    assert!(log.append(account, 35, b"").await.expect("append"));

    // Assert
    let Replay::Events(everything) = replay(log.as_ref(), account, None).await else {
        panic!("expected events");
    };
    let everything: Vec<(i64, Vec<u8>)> = everything
        .into_iter()
        .map(|event| (event.event_id, event.payload))
        .collect();
    assert_eq!(
        everything,
        vec![
            (10, b"ten".to_vec()),
            (20, binary.to_vec()),
            (35, Vec::new())
        ]
    );
    assert_eq!(ids(log.as_ref(), account, Some(9)).await, vec![10, 20, 35]);
    assert_eq!(ids(log.as_ref(), account, Some(10)).await, vec![20, 35]);
    assert_eq!(ids(log.as_ref(), account, Some(15)).await, vec![20, 35]);
    assert_eq!(
        ids(log.as_ref(), account, Some(35)).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(log.as_ref(), account, Some(1000)).await,
        Vec::<i64>::new(),
        "a cursor ahead of the log is caught up"
    );
    assert_eq!(log.newest(account).await.expect("newest"), Some(35));
}

pub(crate) async fn a_cursor_below_the_first_event_is_too_old(logs: &TestLogs) {
    // The log cannot know what came before the first event it was given.
    let log = logs.open(retention(100));
    let account = new_account();
    append(log.as_ref(), account, 10).await;

    assert_eq!(
        replay(log.as_ref(), account, Some(8)).await,
        Replay::TooOld {
            retained_after: 9,
            oldest_retained: 10
        }
    );
    assert_eq!(ids(log.as_ref(), account, Some(9)).await, vec![10]);
}

pub(crate) async fn appending_an_id_already_logged_or_an_older_one_does_nothing(logs: &TestLogs) {
    let log = logs.open(retention(100));
    let account = new_account();
    assert!(log.append(account, 1, b"one").await.expect("append"));
    assert!(log.append(account, 3, b"three").await.expect("append"));

    assert!(
        !log.append(account, 3, b"three again")
            .await
            .expect("append")
    );
    assert!(!log.append(account, 2, b"late two").await.expect("append"));
    assert!(!log.append(account, 1, b"one again").await.expect("append"));
    assert!(log.append(account, 4, b"four").await.expect("append"));

    assert_eq!(
        read(log.as_ref(), account, None, ALL).await,
        vec![
            (1, "one".to_owned()),
            (3, "three".to_owned()),
            (4, "four".to_owned())
        ]
    );
    assert_eq!(log.newest(account).await.expect("newest"), Some(4));
}

pub(crate) async fn ids_span_the_whole_i64_range_but_its_minimum(logs: &TestLogs) {
    let log = logs.open(retention(100));
    let account = new_account();
    // Past 2^53 a double cannot tell neighbours apart: the log must.
    let big = (1_i64 << 53) + 1;
    let ids_in_order = [i64::MIN + 1, -(1 << 60), -1, 0, big, big + 1, i64::MAX];

    let refused = log.append(account, i64::MIN, b"min").await;
    for id in ids_in_order {
        assert!(append(log.as_ref(), account, id).await, "append {id}");
    }

    assert!(
        matches!(refused, Err(LogError::InvalidEventId(i64::MIN))),
        "{refused:?}"
    );
    assert_eq!(
        ids(log.as_ref(), account, Some(i64::MIN)).await,
        ids_in_order.to_vec()
    );
    assert_eq!(
        ids(log.as_ref(), account, Some(big)).await,
        vec![big + 1, i64::MAX]
    );
    assert_eq!(
        ids(log.as_ref(), account, Some(i64::MAX)).await,
        Vec::<i64>::new()
    );
    assert!(!append(log.as_ref(), account, big + 1).await);
    assert_eq!(log.newest(account).await.expect("newest"), Some(i64::MAX));
}

pub(crate) async fn reading_page_by_page_from_the_last_id_read_returns_every_event_once(
    logs: &TestLogs,
) {
    let log = logs.open(retention(100));
    let account = new_account();
    let appended: Vec<i64> = (1..=10).map(|n| n * 2).collect();
    for &id in &appended {
        append(log.as_ref(), account, id).await;
    }

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = read(log.as_ref(), account, cursor, 3).await;
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|(id, _)| *id));
        match page.last() {
            Some((last, _)) if page.len() == 3 => cursor = Some(*last),
            _ => break,
        }
    }

    assert_eq!(seen, appended);
    assert_eq!(
        read(log.as_ref(), account, Some(4), 0).await,
        Vec::new(),
        "a limit of 0 reads nothing"
    );
}

pub(crate) async fn a_cursor_before_events_trimmed_for_count_is_too_old(logs: &TestLogs) {
    let log = logs.open(retention(5));
    let account = new_account();
    for id in 1..=8 {
        append(log.as_ref(), account, id).await;
    }

    // 1, 2 and 3 were trimmed: a client that saw 3 has everything it needs, one that saw
    // only 2 missed 3.
    let too_old = Replay::TooOld {
        retained_after: 3,
        oldest_retained: 4,
    };
    assert_eq!(replay(log.as_ref(), account, Some(2)).await, too_old);
    assert_eq!(replay(log.as_ref(), account, Some(0)).await, too_old);
    assert_eq!(
        ids(log.as_ref(), account, Some(3)).await,
        vec![4, 5, 6, 7, 8]
    );
    assert_eq!(ids(log.as_ref(), account, Some(6)).await, vec![7, 8]);
    assert_eq!(log.newest(account).await.expect("newest"), Some(8));
    // Trimmed ids stay below the floor: appending them again does nothing.
    assert!(!append(log.as_ref(), account, 2).await);
}

pub(crate) async fn a_cursor_past_the_trimmed_events_is_complete_even_below_the_oldest_retained(
    logs: &TestLogs,
) {
    // Ids have gaps: 4 to 9 never existed, so a client that saw 5 missed nothing even
    // though the oldest event held is 10.
    let log = logs.open(retention(3));
    let account = new_account();
    for id in [1, 2, 3, 10, 11, 12] {
        append(log.as_ref(), account, id).await;
    }

    assert_eq!(ids(log.as_ref(), account, Some(5)).await, vec![10, 11, 12]);
    assert_eq!(ids(log.as_ref(), account, Some(3)).await, vec![10, 11, 12]);
    assert_eq!(
        replay(log.as_ref(), account, Some(2)).await,
        Replay::TooOld {
            retained_after: 3,
            oldest_retained: 10
        }
    );
}

pub(crate) async fn a_cursor_before_events_trimmed_for_age_is_too_old(logs: &TestLogs) {
    // Retention keeps an hour.
    let log = logs.open(retention(100));
    let account = new_account();
    append(log.as_ref(), account, 1).await;
    append(log.as_ref(), account, 2).await;
    logs.clock.advance(Duration::from_secs(40 * 60));
    append(log.as_ref(), account, 3).await;
    assert_eq!(ids(log.as_ref(), account, Some(0)).await, vec![1, 2, 3]);

    // 1 and 2 are 70 minutes old, 3 is 30.
    logs.clock.advance(Duration::from_secs(30 * 60));

    let too_old = Replay::TooOld {
        retained_after: 2,
        oldest_retained: 3,
    };
    assert_eq!(replay(log.as_ref(), account, Some(0)).await, too_old);
    assert_eq!(replay(log.as_ref(), account, Some(1)).await, too_old);
    assert_eq!(ids(log.as_ref(), account, Some(2)).await, vec![3]);
    assert_eq!(log.newest(account).await.expect("newest"), Some(3));
}

pub(crate) async fn reading_from_the_start_is_complete_until_something_is_trimmed(logs: &TestLogs) {
    let log = logs.open(retention(3));
    let account = new_account();
    for id in 1..=3 {
        append(log.as_ref(), account, id).await;
    }
    assert_eq!(ids(log.as_ref(), account, None).await, vec![1, 2, 3]);

    append(log.as_ref(), account, 4).await;

    assert_eq!(
        replay(log.as_ref(), account, None).await,
        Replay::TooOld {
            retained_after: 1,
            oldest_retained: 2
        }
    );
}

pub(crate) async fn a_session_idle_longer_than_max_age_is_forgotten_and_starts_afresh(
    logs: &TestLogs,
) {
    let log = logs.open(retention(100));
    let account = new_account();
    for id in 1..=3 {
        append(log.as_ref(), account, id).await;
    }

    logs.clock.advance(Duration::from_secs(61 * 60));

    assert_eq!(log.newest(account).await.expect("newest"), None);
    assert_eq!(
        replay(log.as_ref(), account, Some(3)).await,
        Replay::NoHistory
    );
    assert_eq!(replay(log.as_ref(), account, None).await, Replay::NoHistory);

    // The next event starts a new history; nothing before it is vouched for.
    assert!(append(log.as_ref(), account, 10).await);
    assert_eq!(
        replay(log.as_ref(), account, Some(3)).await,
        Replay::TooOld {
            retained_after: 9,
            oldest_retained: 10
        }
    );
    assert_eq!(ids(log.as_ref(), account, Some(9)).await, vec![10]);
    assert_eq!(ids(log.as_ref(), account, None).await, vec![10]);
}

pub(crate) async fn a_session_without_events_has_no_history(logs: &TestLogs) {
    let log = logs.open(retention(100));
    let account = new_account();

    assert_eq!(log.newest(account).await.expect("newest"), None);
    assert_eq!(replay(log.as_ref(), account, None).await, Replay::NoHistory);
    assert_eq!(
        replay(log.as_ref(), account, Some(5)).await,
        Replay::NoHistory
    );
}

pub(crate) async fn sessions_are_isolated_from_each_other(logs: &TestLogs) {
    let log = logs.open(retention(2));
    let user = uuid::Uuid::new_v4();
    let first = AccountKey::new(user, 0);
    let second = AccountKey::new(user, 1);
    let other_user = AccountKey::new(uuid::Uuid::new_v4(), 0);
    let mut second_watch = log.watch(second).await.expect("watch");

    for id in 1..=3 {
        append(log.as_ref(), first, id).await;
    }
    assert!(
        append(log.as_ref(), second, 1).await,
        "another session's ids do not count"
    );
    append(log.as_ref(), other_user, 7).await;

    assert_eq!(
        replay(log.as_ref(), first, Some(0)).await,
        Replay::TooOld {
            retained_after: 1,
            oldest_retained: 2
        }
    );
    assert_eq!(
        ids(log.as_ref(), second, Some(0)).await,
        vec![1],
        "another session's trimming does not count"
    );
    assert_eq!(ids(log.as_ref(), other_user, Some(6)).await, vec![7]);
    assert_eq!(log.newest(first).await.expect("newest"), Some(3));
    assert_eq!(log.newest(second).await.expect("newest"), Some(1));
    assert_eq!(log.newest(other_user).await.expect("newest"), Some(7));
    assert_eq!(wake_up(&mut second_watch).await, 1);
    append(log.as_ref(), first, 4).await;
    no_wake_up(&mut second_watch).await;
}

pub(crate) async fn a_watch_wakes_when_another_handle_appends(logs: &TestLogs) {
    // Arrange: two handles, as two processes would have.
    let writer = logs.open(retention(100));
    let reader = logs.open(retention(100));
    let account = new_account();
    let mut watch = reader.watch(account).await.expect("watch");
    assert_eq!(watch.account(), account);

    // Act
    assert!(append(writer.as_ref(), account, 1).await);

    // Assert
    assert_eq!(wake_up(&mut watch).await, 1);
    assert_eq!(ids(reader.as_ref(), account, Some(0)).await, vec![1]);
    no_wake_up(&mut watch).await;
    assert!(!append(writer.as_ref(), account, 1).await);
    no_wake_up(&mut watch).await;
    append(writer.as_ref(), new_account(), 2).await;
    no_wake_up(&mut watch).await;
    append(writer.as_ref(), account, 2).await;
    assert_eq!(wake_up(&mut watch).await, 2);
}

pub(crate) async fn a_missed_wake_up_is_covered_by_reading_from_the_cursor(logs: &TestLogs) {
    let writer = logs.open(retention(100));
    let reader = logs.open(retention(100));
    let account = new_account();

    // A burst: wake-ups may be coalesced, the read from the cursor has everything.
    let mut watch = reader.watch(account).await.expect("watch");
    for id in 1..=3 {
        append(writer.as_ref(), account, id).await;
    }
    let mut newest = wake_up(&mut watch).await;
    while newest < 3 {
        newest = wake_up(&mut watch).await;
    }
    assert_eq!(ids(reader.as_ref(), account, Some(0)).await, vec![1, 2, 3]);

    // Nobody watching: appends go unannounced. Watching again, then reading from the
    // cursor, finds them.
    drop(watch);
    for id in 4..=5 {
        append(writer.as_ref(), account, id).await;
    }
    let mut watch = reader.watch(account).await.expect("watch again");
    assert_eq!(ids(reader.as_ref(), account, Some(3)).await, vec![4, 5]);
    append(writer.as_ref(), account, 6).await;
    // An announcement of 4 or 5 still on its way may wake the new watch first: a late
    // wake-up is allowed, the read from the cursor sorts it out.
    let mut newest = wake_up(&mut watch).await;
    while newest < 6 {
        newest = wake_up(&mut watch).await;
    }
    assert_eq!(ids(reader.as_ref(), account, Some(5)).await, vec![6]);
}

/// Appends `ids` through `log` in order; the ones it accepted.
fn spawn_appender(
    log: Arc<dyn EventLog>,
    account: AccountKey,
    ids: Vec<i64>,
) -> tokio::task::JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let mut accepted = Vec::new();
        for id in ids {
            if append(log.as_ref(), account, id).await {
                accepted.push(id);
            }
        }
        accepted
    })
}

pub(crate) async fn concurrent_appends_from_two_handles_end_up_strictly_ordered(logs: &TestLogs) {
    let account = new_account();
    let evens = spawn_appender(
        logs.open(retention(1000)),
        account,
        (1..=100).map(|n| n * 2).collect(),
    );
    let odds = spawn_appender(
        logs.open(retention(1000)),
        account,
        (0..100).map(|n| n * 2 + 1).collect(),
    );
    let accepted: BTreeSet<i64> = evens
        .await
        .expect("evens")
        .into_iter()
        .chain(odds.await.expect("odds"))
        .collect();

    let logged = ids(logs.open(retention(1000)).as_ref(), account, None).await;

    assert!(
        logged.windows(2).all(|pair| pair[0] < pair[1]),
        "strictly increasing: {logged:?}"
    );
    assert_eq!(
        logged,
        accepted.into_iter().collect::<Vec<_>>(),
        "exactly the accepted appends"
    );
    assert_eq!(logged.last(), Some(&200), "the largest id is never late");
}

pub(crate) async fn two_handles_appending_the_same_events_log_each_exactly_once(logs: &TestLogs) {
    // Two consumers of the same events (a redelivery, two replicas briefly both on it).
    let account = new_account();
    let every_id: Vec<i64> = (1..=100).collect();
    let first = spawn_appender(logs.open(retention(1000)), account, every_id.clone());
    let second = spawn_appender(logs.open(retention(1000)), account, every_id.clone());
    let accepted = first.await.expect("first").len() + second.await.expect("second").len();

    let logged = read(logs.open(retention(1000)).as_ref(), account, None, ALL).await;

    assert_eq!(accepted, 100, "each id accepted once");
    assert_eq!(
        logged,
        every_id
            .iter()
            .map(|id| (*id, format!("event {id}")))
            .collect::<Vec<_>>()
    );
}

pub(crate) async fn an_event_whose_repeat_key_was_logged_is_a_repeat_while_the_key_is_kept(
    logs: &TestLogs,
) {
    let log = logs.open(retention(3));
    let account = new_account();
    let other = new_account();
    assert!(
        log.append_unless_repeat(account, 1, b"new 7", "new:c:7")
            .await
            .expect("append")
    );
    // The same content under a later id (its producer told it again): not logged.
    assert!(
        !log.append_unless_repeat(account, 2, b"new 7 again", "new:c:7")
            .await
            .expect("append")
    );
    // Another key, no key, and the same key in another account are no repeats.
    assert!(
        log.append_unless_repeat(account, 3, b"new 8", "new:c:8")
            .await
            .expect("append")
    );
    assert!(log.append(account, 4, b"plain").await.expect("append"));
    assert!(
        log.append_unless_repeat(other, 1, b"new 7", "new:c:7")
            .await
            .expect("append")
    );
    assert_eq!(
        read(log.as_ref(), account, None, ALL).await,
        vec![
            (1, "new 7".to_owned()),
            (3, "new 8".to_owned()),
            (4, "plain".to_owned())
        ]
    );
    // The id rule still holds for keyed appends.
    assert!(
        !log.append_unless_repeat(account, 4, b"four again", "new:c:9")
            .await
            .expect("append")
    );
    // The newest max_events keys are remembered (3 here)...
    for (id, key) in [(5, "a"), (6, "b"), (7, "c")] {
        assert!(
            log.append_unless_repeat(account, id, key.as_bytes(), key)
                .await
                .expect("append")
        );
    }
    assert!(
        log.append_unless_repeat(account, 8, b"new 7 much later", "new:c:7")
            .await
            .expect("append"),
        "a key older than the newest max_events keys is forgotten"
    );
    assert!(
        !log.append_unless_repeat(account, 9, b"c again", "c")
            .await
            .expect("append")
    );
    // ... while the account lives.
    logs.clock.advance(Duration::from_secs(61 * 60));
    assert!(
        log.append_unless_repeat(account, 10, b"c after an hour", "c")
            .await
            .expect("append"),
        "a session idle for max_age forgets its keys"
    );
}

/// `append_after` answers the id each appended event follows in the log, atomically with
/// the append (what lets a process hand it to a reader at that id without reading the
/// log, ADR 0053): nothing before an account's first event, the newest id before it
/// after that, whichever handle appended it; nothing for a repeat.
pub(crate) async fn an_append_answers_the_event_it_follows_in_the_log(logs: &TestLogs) {
    let log = logs.open(retention(100));
    let other_process = logs.open(retention(100));
    let account = new_account();
    let append_after = |log: &Arc<dyn EventLog>, id: i64, key: Option<&'static str>| {
        let log = Arc::clone(log);
        async move {
            log.append_after(account, id, format!("event {id}").as_bytes(), key)
                .await
                .expect("append_after")
        }
    };
    use talkapp_eventlog::Appended;

    assert_eq!(
        append_after(&log, 5, None).await,
        Appended::After { previous: None }
    );
    assert_eq!(
        append_after(&log, 7, Some("new:c:1")).await,
        Appended::After { previous: Some(5) }
    );
    // Appended by another process in between: the next append follows it, not 7.
    assert_eq!(
        append_after(&other_process, 9, None).await,
        Appended::After { previous: Some(7) }
    );
    assert_eq!(
        append_after(&log, 12, None).await,
        Appended::After { previous: Some(9) }
    );
    // Repeats, by id or by key, append nothing and follow nothing.
    assert_eq!(append_after(&log, 12, None).await, Appended::Repeat);
    assert_eq!(append_after(&log, 10, None).await, Appended::Repeat);
    assert_eq!(
        append_after(&other_process, 13, Some("new:c:1")).await,
        Appended::Repeat
    );
    assert_eq!(
        append_after(&log, 14, None).await,
        Appended::After { previous: Some(12) }
    );
    assert_eq!(
        ids(log.as_ref(), account, None).await,
        vec![5, 7, 9, 12, 14]
    );
    // An account forgotten after max_age starts afresh: its first event follows nothing.
    logs.clock.advance(Duration::from_secs(2 * 60 * 60));
    assert_eq!(
        append_after(&log, 20, None).await,
        Appended::After { previous: None }
    );
}
