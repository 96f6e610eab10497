//! The service figures with the store away: a PostgreSQL of the test's own is stopped
//! under the exporter, which goes on (warning), keeps the last figures, and sets them
//! anew once the database is back.

use std::sync::Arc;
use std::time::Duration;

use talkapp_gateway::stats::export_every;
use talkapp_store::{NewUser, Store};
use talkapp_testkit::postgres::PrivatePostgres;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// `talkapp_users` as the gateway's `/metrics` would show it.
fn users_gauge() -> Option<f64> {
    talkapp_common::telemetry::prometheus()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix("talkapp_users "))
        .and_then(|value| value.trim().parse().ok())
}

async fn add_user(store: &dyn Store) {
    let id = Uuid::new_v4();
    let email = format!("{}@example.com", id.simple());
    store
        .create_user(&NewUser {
            id,
            email_normalized: email.clone(),
            email,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash".into(),
            created_at: talkapp_store::now(),
        })
        .await
        .expect("user");
}

async fn wait_for_users(count: f64, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while users_gauge() != Some(count) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "talkapp_users is {:?}, not {count}",
            users_gauge()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_survive_a_store_that_is_away_and_are_read_again_once_it_is_back() {
    let postgres = PrivatePostgres::start().await;
    let store = crate::private_store(&postgres).await;
    add_user(&*store).await;
    let stop = CancellationToken::new();
    let exporter = tokio::spawn(export_every(
        Arc::clone(&store) as _,
        Duration::from_millis(200),
        stop.clone(),
    ));
    wait_for_users(1.0, Duration::from_secs(10)).await;

    // Away for several rounds: the exporter goes on and the last figures stay.
    postgres.stop().await;
    assert!(
        store.activity_summary(talkapp_store::now()).await.is_err(),
        "the store is away"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !exporter.is_finished(),
        "the exporter ended with the store away"
    );
    assert_eq!(users_gauge(), Some(1.0), "the last figures stay");

    // Back, with a user more: the next rounds read it.
    postgres.start_again().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if store.ping().await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    add_user(&*store).await;
    wait_for_users(2.0, Duration::from_secs(20)).await;
    stop.cancel();
    exporter.await.expect("the exporter ends when told");
}
