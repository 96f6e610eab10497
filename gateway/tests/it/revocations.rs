//! Revocations reach the other gateways through Redis, and one made while Redis is away
//! reaches them once it is back (an operator disabling a user then must still close that
//! user's sockets on every gateway).

use std::sync::Arc;
use std::time::Duration;

use talkapp_gateway::revocations::{Revocations, Revoked};
use talkapp_testkit::redis::PrivateRedis;
use tokio::sync::broadcast::Receiver;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn gateway(redis: &PrivateRedis, prefix: &str) -> Arc<Revocations> {
    let client = redis::Client::open(redis.url()).expect("redis url");
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
async fn heard(receiver: &mut Receiver<Revoked>, within: Duration) -> Option<Revoked> {
    tokio::time::timeout(within, receiver.recv())
        .await
        .ok()
        .and_then(Result::ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_while_redis_is_away_reaches_the_other_gateways_once_it_is_back() {
    let mut redis = PrivateRedis::start().await;
    let prefix = format!("talkapp-test-{}", Uuid::new_v4().simple());
    let (a, b) = (gateway(&redis, &prefix), gateway(&redis, &prefix));
    let stop = CancellationToken::new();
    // a's listener (which also tells again what Redis could not take) starts only once b
    // is subscribed again after the outage: a user's revocation is published, not kept,
    // so a gateway not subscribed when it is told misses it (see the module's docs).
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
    let channel = format!("{prefix}:revoked");
    let mut probe = redis::Client::open(redis.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis is back");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut probe)
            .await
            .expect("numsub");
        if subscribers >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b did not subscribe again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::spawn(Arc::clone(&a).listen(stop.clone()));
    let mut heard_at_b = Vec::new();
    while heard_at_b.len() < 2 {
        match heard(&mut at_b, Duration::from_secs(20)).await {
            Some(revoked) => heard_at_b.push(revoked),
            None => panic!("b heard only {heard_at_b:?} within 20 s of redis coming back"),
        }
    }
    assert!(heard_at_b.contains(&Revoked::User(user)), "{heard_at_b:?}");
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
