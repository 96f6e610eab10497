//! A thread given PostgreSQL connections of its own reads through them; every other
//! thread through the shared pool (ADR 0075: the gateway's HTTP workers).

use std::time::Duration;

use talkapp_store::postgres::PostgresStore;
use talkapp_store::{AccountStore as _, StoreHealth as _};
use uuid::Uuid;

use crate::helpers::{Backend, StoreOpener, run};

#[tokio::test]
async fn a_thread_given_connections_of_its_own_reads_through_them_and_others_through_the_shared_pool()
 {
    run(Backend::Postgres, |_, opener| async move {
        let StoreOpener::Postgres { url } = opener else {
            panic!("a PostgreSQL test's opener")
        };
        let store = PostgresStore::connect(&url, 4, Duration::from_secs(5))
            .await
            .expect("store");
        let (shared, own) = store.open_connections();
        assert_eq!(own, None, "no thread has connections of its own yet");

        let worker = store.clone();
        // A thread with a runtime of its own, as each of actix's HTTP workers has.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                worker.open_on_this_thread(2);
                assert_eq!(worker.open_connections(), (shared, Some(0)));
                assert_eq!(worker.user_by_id(Uuid::new_v4()).await.expect("read"), None);
                worker.ping().await.expect("ping");
                assert_eq!(
                    worker.open_connections(),
                    (shared, Some(1)),
                    "both calls through one connection of the thread's own"
                );
            });
        })
        .join()
        .expect("the worker thread");

        store.ping().await.expect("ping");
        assert_eq!(
            store.open_connections(),
            (shared.max(1), None),
            "this thread reads through the shared pool, untouched by the worker"
        );
    })
    .await;
}
