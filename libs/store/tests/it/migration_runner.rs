//! The migration runner on PostgreSQL with a set of its own (as search-service uses it):
//! replicas starting together apply each migration once, and a failing set leaves
//! nothing behind.

use talkapp_store::migrations::{Migration, apply_postgres};
use tokio_postgres::NoTls;

use crate::helpers::{Backend, StoreOpener, run};

const LOCK_KEY: i64 = 0x7465_7374_0000_0001;
const SET: &[Migration] = &[
    (1, "one", "CREATE TABLE runner_one (id bigint PRIMARY KEY)"),
    (2, "two", "CREATE TABLE runner_two (id bigint PRIMARY KEY)"),
];

async fn client(opener: &StoreOpener) -> tokio_postgres::Client {
    let StoreOpener::Postgres { url } = opener else {
        panic!("a PostgreSQL test database");
    };
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client
}

async fn recorded(client: &tokio_postgres::Client) -> Vec<(i64, String)> {
    client
        .query(
            "SELECT version, name FROM runner_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("the runner's table")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_apply_each_migration_once() {
    run(Backend::Postgres, |_store, opener| async move {
        let mut runs = Vec::new();
        for _ in 0..4 {
            let mut client = client(&opener).await;
            runs.push(tokio::spawn(async move {
                apply_postgres(&mut client, LOCK_KEY, "runner_migrations", SET).await
            }));
        }
        // Without the lock, two of them would create the same table and one would fail.
        for run in runs {
            run.await
                .expect("the run's task")
                .expect("every replica's run succeeds");
        }
        assert_eq!(
            recorded(&client(&opener).await).await,
            [(1, "one".to_owned()), (2, "two".to_owned())]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_leaves_the_set_as_it_was() {
    run(Backend::Postgres, |_store, opener| async move {
        let mut client = client(&opener).await;
        apply_postgres(&mut client, LOCK_KEY, "runner_migrations", &SET[..1])
            .await
            .expect("the first migration");
        let broken: &[Migration] = &[SET[0], SET[1], (3, "broken", "CREATE TABLE")];

        apply_postgres(&mut client, LOCK_KEY, "runner_migrations", broken)
            .await
            .expect_err("a migration that fails");

        assert_eq!(recorded(&client).await, [(1, "one".to_owned())]);
        let two_exists: bool = client
            .query_one("SELECT to_regclass('runner_two') IS NOT NULL", &[])
            .await
            .expect("query")
            .get(0);
        assert!(
            !two_exists,
            "the second migration was rolled back with the third"
        );
    })
    .await;
}
