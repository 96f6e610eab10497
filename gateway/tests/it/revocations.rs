//! Revocations reach the other gateways through Redis, one made while Redis is away
//! reaches them once it is back (an operator disabling a user then must still close that
//! user's sockets on every gateway), and a gateway whose own subscription comes back late
//! reads back what it missed: it closes the sockets opened before, not those opened after
//! the user was enabled again.

use std::sync::Arc;
use std::time::Duration;

use talkapp_gateway::revocations::{CLOCK_SLACK, Revocations, Revoked, Told, unix_millis};
use talkapp_testkit::StallingProxy;
use talkapp_testkit::redis::PrivateRedis;
use tokio::sync::broadcast::Receiver;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn gateway(redis: &PrivateRedis, prefix: &str) -> Arc<Revocations> {
    gateway_at(&redis.url(), prefix)
}

fn gateway_at(url: &str, prefix: &str) -> Arc<Revocations> {
    let client = redis::Client::open(url).expect("redis url");
    Revocations::redis(
        client.clone(),
        redis::aio::ConnectionManager::new_lazy_with_config(
            client,
            redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2))),
        )
        .expect("connection manager"),
        prefix,
    )
}

/// The next revocation `receiver` hears, or `None` within `within`.
async fn heard(receiver: &mut Receiver<Told>, within: Duration) -> Option<Revoked> {
    tokio::time::timeout(within, receiver.recv())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|told| told.revoked)
}

/// Waits until `subscribers` gateways listen on the revocations channel under `prefix`.
async fn wait_for_subscribers(redis: &PrivateRedis, prefix: &str, subscribers: i64) {
    let channel = format!("{prefix}:revoked");
    let mut probe = redis::Client::open(redis.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis is up");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, listening): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut probe)
            .await
            .expect("numsub");
        if listening == subscribers {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{listening} gateways listen, not {subscribers}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_while_redis_is_away_reaches_the_other_gateways_once_it_is_back() {
    let mut redis = PrivateRedis::start().await;
    let prefix = format!("talkapp-test-{}", Uuid::new_v4().simple());
    let (a, b) = (gateway(&redis, &prefix), gateway(&redis, &prefix));
    let stop = CancellationToken::new();
    // a's listener (which also tells again what Redis could not take) starts only once b
    // is subscribed again after the outage, so b hears the retelling live (reading back
    // what it missed is the next test's).
    tokio::spawn(Arc::clone(&b).listen(stop.clone()));
    let mut at_b = b.subscribe();

    // Both listening: a revocation on one gateway reaches the other at once.
    let first = Revoked::User(Uuid::new_v4());
    let mut told = false;
    for _ in 0..50 {
        a.revoke(first).await;
        if heard(&mut at_b, Duration::from_millis(200)).await == Some(first) {
            told = true;
            break;
        }
    }
    assert!(told, "b never heard a's revocation while redis was up");
    while heard(&mut at_b, Duration::from_millis(300)).await.is_some() {}

    // Redis away: an operator disables a user (its sign-in session and the user end).
    redis.stop().await;
    let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
    let revoking = tokio::time::Instant::now();
    a.revoke(Revoked::Session(session)).await;
    a.revoke(Revoked::User(user)).await;
    assert!(
        revoking.elapsed() < Duration::from_secs(10),
        "revoking waited {:?} for a redis that is away",
        revoking.elapsed()
    );
    assert!(
        a.is_session_ended(session),
        "ended at once where it was made"
    );
    assert_eq!(
        heard(&mut at_b, Duration::from_secs(2)).await,
        None,
        "nothing can reach b while redis is away"
    );

    // Back: once b listens again, a's listener tells both, without anyone revoking again.
    redis.start_again().await;
    wait_for_subscribers(&redis, &prefix, 1).await;
    tokio::spawn(Arc::clone(&a).listen(stop.clone()));
    let mut heard_at_b = Vec::new();
    while !heard_at_b.contains(&Revoked::User(user)) {
        match heard(&mut at_b, Duration::from_secs(20)).await {
            Some(revoked) => heard_at_b.push(revoked),
            None => panic!("b heard only {heard_at_b:?} within 20 s of redis coming back"),
        }
    }
    assert!(b.is_session_ended(session));

    // A gateway that starts now finds the ended session in the set kept in redis.
    let c = gateway(&redis, &prefix);
    tokio::spawn(Arc::clone(&c).listen(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !c.is_session_ended(session) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a new gateway did not learn of the session ended while redis was away"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_subscription_comes_back_late_closes_the_sockets_opened_before_only() {
    let redis = PrivateRedis::start().await;
    // b reaches Redis through a proxy: its link alone can be taken away.
    let proxy = StallingProxy::start(&redis.address()).await;
    let prefix = format!("talkapp-test-{}", Uuid::new_v4().simple());
    let a = gateway(&redis, &prefix);
    let b = gateway_at(&format!("redis://{}", proxy.address()), &prefix);
    let stop = CancellationToken::new();
    tokio::spawn(Arc::clone(&a).listen(stop.clone()));
    tokio::spawn(Arc::clone(&b).listen(stop.clone()));
    wait_for_subscribers(&redis, &prefix, 2).await;

    let (user, unlinked_user) = (Uuid::new_v4(), Uuid::new_v4());
    let (subject, subject_enabled_again) = (Uuid::new_v4(), Uuid::new_v4());
    // Heard live by b: disabled before b's link goes. b's sockets listen from before it,
    // and the test waits until they are told: b marks the subject disabled and then tells
    // its sockets, so a receiver taken once the mark is seen could still be told of it
    // (heard below as if b listened while its link was cut).
    let mut at_b = b.subscribe();
    a.revoke(Revoked::Subject(subject_enabled_again)).await;
    assert_eq!(
        heard(&mut at_b, Duration::from_secs(10)).await,
        Some(Revoked::Subject(subject_enabled_again)),
        "b never heard of the subject"
    );
    assert!(b.is_subject_disabled(subject_enabled_again));
    // Sockets open on b: the user's, and another user's account.
    let opened_before = unix_millis();

    // b's link to Redis goes; a disables the user, unlinks the account, disables a subject
    // and enables the other one again.
    proxy.cut();
    wait_for_subscribers(&redis, &prefix, 1).await;
    let account = Revoked::Account {
        user_id: unlinked_user,
        session_index: 3,
    };
    for revoked in [
        Revoked::User(user),
        account,
        Revoked::Subject(subject),
        Revoked::SubjectEnabled(subject_enabled_again),
    ] {
        a.revoke(revoked).await;
    }
    assert!(!b.is_subject_disabled(subject), "b is not listening");
    // Nothing told during the cut reaches b's sockets. (b may tell them once more of the
    // subject disabled before the cut: a revocation published while b's first read-back
    // of the missed ones runs is heard both ways; telling a socket twice ends nothing more.)
    let during_cut = [
        Revoked::User(user),
        account,
        Revoked::Subject(subject),
        Revoked::SubjectEnabled(subject_enabled_again),
    ];
    while let Some(revoked) = heard(&mut at_b, Duration::from_millis(500)).await {
        assert!(
            !during_cut.contains(&revoked),
            "b is not listening, yet heard {revoked:?}"
        );
    }
    // The user is enabled again and opens a socket on b (after the clocks' slack).
    tokio::time::sleep(CLOCK_SLACK + Duration::from_millis(200)).await;
    let opened_after = unix_millis();

    // b's link comes back: b reads back what it missed and tells its sockets.
    proxy.restore().await;
    let mut heard_at_b = Vec::new();
    let missed = [
        Revoked::User(user),
        account,
        Revoked::Subject(subject),
        Revoked::SubjectEnabled(subject_enabled_again),
    ];
    while !missed.iter().all(|revoked| heard_at_b.contains(revoked)) {
        match tokio::time::timeout(Duration::from_secs(20), at_b.recv()).await {
            Ok(Ok(told)) => {
                if told.revoked == Revoked::User(user) {
                    assert!(
                        told.ends(user, 1, None, opened_before),
                        "the socket opened before the user was disabled closes"
                    );
                    assert!(
                        !told.ends(user, 1, None, opened_after),
                        "the socket opened after the user was enabled again stays"
                    );
                }
                heard_at_b.push(told.revoked);
            }
            other => panic!("b heard only {heard_at_b:?} ({other:?}) after its link came back"),
        }
    }
    assert_eq!(
        b.ended_connection(user, 1, None, opened_before),
        Some(Revoked::User(user))
    );
    assert_eq!(b.ended_connection(user, 1, None, opened_after), None);
    assert_eq!(
        b.ended_connection(unlinked_user, 3, None, opened_before),
        Some(account)
    );
    assert_eq!(
        b.ended_connection(unlinked_user, 4, None, opened_before),
        None
    );
    assert!(b.is_subject_disabled(subject), "missed disabling read back");
    assert!(
        !b.is_subject_disabled(subject_enabled_again),
        "missed enabling read back"
    );
    stop.cancel();
}

#[tokio::test]
async fn disabled_subjects_are_loaded_from_the_store_at_start_and_follow_what_is_heard() {
    let dir = talkapp_testkit::temp_dir("talkapp-gateway-subjects");
    let store: Arc<dyn talkapp_store::Store> = Arc::new(
        talkapp_store::sqlite::SqliteStore::open(&dir.join("talkapp.db"))
            .await
            .expect("store"),
    );
    let (kept, enabled_meanwhile, never) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let disabled_at = talkapp_store::now() - chrono::TimeDelta::minutes(5);
    for subject in [kept, enabled_meanwhile] {
        store
            .set_subject_disabled(subject, Some(disabled_at))
            .await
            .expect("disable");
    }
    let gateway = Revocations::local();
    // Heard enabled again: its disabling in a store read made before (older) does not
    // bring it back.
    gateway
        .revoke(Revoked::SubjectEnabled(enabled_meanwhile))
        .await;
    Arc::clone(&gateway)
        .load_disabled_subjects(store, CancellationToken::new())
        .await;
    assert!(gateway.is_subject_disabled(kept));
    assert!(!gateway.is_subject_disabled(enabled_meanwhile));
    assert!(!gateway.is_subject_disabled(never));
    gateway.revoke(Revoked::Subject(never)).await;
    assert!(gateway.is_subject_disabled(never));
    gateway.revoke(Revoked::SubjectEnabled(kept)).await;
    assert!(!gateway.is_subject_disabled(kept));
    let _ = std::fs::remove_dir_all(dir);
}
