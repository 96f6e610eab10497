//! The audit writer's batches (ADR 0062): records that arrive within the gathering
//! window of a batch's first are stored together, in one store call, in their order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use talkapp_gateway::audit::AuditLog;
use talkapp_store::{
    AuditActor, AuditEntry, AuditOutcome, AuditQuery, AuditStore, NewAuditEntry, StoreError,
};
use uuid::Uuid;

/// A real store, counting the calls that append records.
struct CountingAudit {
    inner: Arc<dyn AuditStore>,
    appends: AtomicUsize,
}

#[async_trait]
impl AuditStore for CountingAudit {
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.inner.append_audit(entries).await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_entries(query).await
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_audit(before).await
    }
}

fn send_record(user_id: Uuid, index: usize) -> NewAuditEntry {
    NewAuditEntry {
        at: talkapp_store::now(),
        user_id: Some(user_id),
        actor: AuditActor::User,
        action: "telegram.message.send".to_owned(),
        target: Some(format!(r#"{{"client_message_id":"m{index}"}}"#)),
        outcome: AuditOutcome::Success,
        status: 202,
        error_code: None,
        client_address: Some("127.0.0.1".to_owned()),
        user_agent: None,
        request_id: Some(format!("r-{index}")),
        trace_id: None,
    }
}

/// Starts a writer gathering for `window` over a fresh SQLite store; records `count`
/// records 5 ms apart (each finding the writer idle), flushes, and answers how many store
/// calls they took and the records' request ids as stored, oldest first.
async fn records_spread_over_time(window: Duration, count: usize) -> (usize, Vec<String>) {
    let directory = std::env::temp_dir().join(format!("talkapp-audit-{}", Uuid::new_v4()));
    let sqlite = talkapp_store::sqlite::SqliteStore::open(&directory.join("talkapp.db"))
        .await
        .expect("store");
    let store = Arc::new(CountingAudit {
        inner: Arc::new(sqlite),
        appends: AtomicUsize::new(0),
    });
    let (audit, writer) = AuditLog::start(Arc::clone(&store) as _, 0, window);
    let user_id = Uuid::new_v4();
    for index in 0..count {
        audit.record(send_record(user_id, index)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    audit.flush().await;
    drop(audit);
    writer.finish(Duration::from_secs(10)).await;
    let mut stored = store
        .audit_entries(&AuditQuery {
            user_id: Some(user_id),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("read back");
    stored.reverse();
    let _ = std::fs::remove_dir_all(&directory);
    (
        store.appends.load(Ordering::SeqCst),
        stored
            .into_iter()
            .filter_map(|entry| entry.entry.request_id)
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_within_the_window_of_a_batchs_first_are_stored_in_one_call_in_order() {
    let (appends, stored) = records_spread_over_time(Duration::from_millis(500), 6).await;
    assert_eq!(
        stored,
        (0..6).map(|index| format!("r-{index}")).collect::<Vec<_>>(),
        "every record, in the order recorded"
    );
    assert_eq!(appends, 1, "six records 5 ms apart make one batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_window_each_record_that_finds_the_writer_idle_is_a_call_of_its_own() {
    let (appends, stored) = records_spread_over_time(Duration::ZERO, 6).await;
    assert_eq!(stored.len(), 6);
    assert!(appends >= 3, "{appends} calls for six records 5 ms apart");
}
