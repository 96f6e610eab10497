//! Streams of events: order, replay, repeats, retention, presence.

use std::time::{Duration, Instant};

use talkapp_proto::realtime::v1 as proto;

use crate::support::{Account, Backing, RealtimeApp, next_events};

fn ids(events: &[proto::Event]) -> Vec<i64> {
    events.iter().map(|event| event.event_id).collect()
}

async fn events_reach_a_live_stream_once_each_and_in_order(backing: Backing) {
    let app = RealtimeApp::start(backing, 1000).await;
    let account = Account::new();
    let mut stream = app.subscribe(&account, None, "tab-1").await;

    for event_id in 1..=20 {
        app.publish(&account, event_id).await;
    }
    // The host publishes an event again after a lost confirmation: the log takes it as
    // the repeat it is.
    app.publish(&account, 20).await;
    app.publish(&account, 21).await;

    let events = next_events(&mut stream, 21).await;
    assert_eq!(ids(&events), (1..=21).collect::<Vec<i64>>());
    assert!(
        events
            .iter()
            .all(|event| event.user_id == account.user_id && event.r#type == "typing")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_events_reach_a_live_stream_once_each_and_in_order() {
    events_reach_a_live_stream_once_each_and_in_order(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_events_reach_a_live_stream_once_each_and_in_order() {
    events_reach_a_live_stream_once_each_and_in_order(Backing::Servers).await;
}

async fn a_client_back_with_its_cursor_gets_what_it_missed_then_the_tail(backing: Backing) {
    let app = RealtimeApp::start(backing, 1000).await;
    let account = Account::new();
    let other = Account::new();
    let mut first = app.subscribe(&account, None, "tab-1").await;
    for event_id in 1..=5 {
        app.publish(&account, event_id).await;
        app.publish(&other, event_id).await;
    }
    let seen = next_events(&mut first, 3).await;
    drop(first);
    for event_id in 6..=8 {
        app.publish(&account, event_id).await;
    }

    let mut again = app
        .subscribe(&account, seen.last().map(|event| event.event_id), "tab-1")
        .await;
    let missed = next_events(&mut again, 5).await;
    app.publish(&account, 9).await;
    let tail = next_events(&mut again, 1).await;

    assert_eq!(ids(&missed), vec![4, 5, 6, 7, 8]);
    assert_eq!(ids(&tail), vec![9]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_client_back_with_its_cursor_gets_what_it_missed_then_the_tail() {
    a_client_back_with_its_cursor_gets_what_it_missed_then_the_tail(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_a_client_back_with_its_cursor_gets_what_it_missed_then_the_tail() {
    a_client_back_with_its_cursor_gets_what_it_missed_then_the_tail(Backing::Servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_older_than_the_log_keeps_is_told_to_resync() {
    let app = RealtimeApp::start(Backing::Embedded, 5).await;
    let account = Account::new();
    for event_id in 1..=12 {
        app.publish(&account, event_id).await;
    }
    // The log has taken everything once a reader after 11 is given 12 (before that, 11
    // is beyond what the log knows, and the reader is told to resync).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut probe = app.subscribe(&account, Some(11), "probe").await;
        if ids(&next_events(&mut probe, 1).await) == vec![12] {
            break;
        }
        assert!(Instant::now() < deadline, "the log never took event 12");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut late = app.subscribe(&account, Some(2), "tab-2").await;
    let first = next_events(&mut late, 1).await;

    assert_eq!(first[0].r#type, "resync_required");
    let Some(proto::event::Payload::Resync(resync)) = &first[0].payload else {
        panic!("a resync payload: {:?}", first[0]);
    };
    assert!(resync.oldest_retained > 3, "{resync:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_a_users_live_streams() {
    let app = RealtimeApp::start(Backing::Servers, 1000).await;
    let account = Account::new();
    let presence = |app: &RealtimeApp| {
        let mut client = app.client.clone();
        let user_id = account.user_id.clone();
        async move {
            client
                .presence(proto::PresenceRequest { user_id })
                .await
                .expect("presence")
                .into_inner()
                .connections
        }
    };
    let wait_for = |expected: u32| {
        let presence = &presence;
        let app = &app;
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let connections = presence(app).await;
                if connections == expected {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "presence stayed at {connections}, not {expected}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    let one = app.subscribe(&account, None, "tab-1").await;
    let two = app.subscribe(&account, None, "tab-2").await;
    wait_for(2).await;
    drop(one);
    wait_for(1).await;
    drop(two);
    wait_for(0).await;
    app.stop().await;
}
