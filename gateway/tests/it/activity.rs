//! Per-user activity with the store away: a flush that fails keeps its counts, and the
//! next one, once the database is back, adds them with those counted meanwhile.

use std::time::Duration;

use talkapp_gateway::activity::Activity;
use talkapp_store::ActivityCounts;
use talkapp_testkit::postgres::PrivatePostgres;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_lost_with_the_store_away_is_added_by_the_next_one() {
    let postgres = PrivatePostgres::start().await;
    let store = crate::private_store(&postgres).await;
    let activity = Activity::default();
    let user = Uuid::new_v4();
    let now = talkapp_store::now();
    activity.request(user, now, 200, false);
    activity.request(user, now, 202, true);
    activity.flush(&*store, 90, now).await.expect("first flush");

    postgres.stop().await;
    activity.request(user, now, 500, false);
    activity.socket_opened(user, now);
    assert!(
        activity.flush(&*store, 90, now).await.is_err(),
        "the store is away"
    );
    activity.request(user, now, 404, false);

    postgres.start_again().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.ping().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    activity
        .flush(&*store, 90, now)
        .await
        .expect("flush once back");
    assert_eq!(
        store
            .user_activity(user, now.date_naive())
            .await
            .expect("read"),
        [(
            now.date_naive(),
            ActivityCounts {
                requests: 4,
                client_errors: 1,
                server_errors: 1,
                sends: 1,
                sockets: 1,
            }
        )],
        "nothing lost, nothing added twice"
    );
}
