//! The gateway against a real Redis: the rate limiter (one conformance suite for the
//! in-memory and Redis stores) and revocations told across gateways; its service
//! figures against a PostgreSQL that goes away; its service clients' connections of
//! each HTTP worker's own; and the audit writer's batches on a real store.

mod activity;
mod audit;
mod clients;
mod rate_limit;
mod revocations;
mod stats;

/// A store over a PostgreSQL of the test's own (which the test can stop and start).
pub(crate) async fn private_store(
    postgres: &talkapp_testkit::postgres::PrivatePostgres,
) -> std::sync::Arc<dyn talkapp_store::Store> {
    std::sync::Arc::new(
        talkapp_store::postgres::PostgresStore::connect(
            &postgres.url("postgres"),
            4,
            std::time::Duration::from_secs(2),
        )
        .await
        .expect("store"),
    )
}
