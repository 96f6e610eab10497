//! The audit log.

use chrono::{DateTime, Utc};

use super::{PostgresStore, Prepared as _, Result, Row, async_trait, map_error};
use crate::StoreError;
use crate::audit::{
    AuditActor, AuditEntry, AuditOutcome, AuditQuery, AuditStore, MAX_AUDIT_PAGE, NewAuditEntry,
    like_prefix,
};

fn entry_from_row(row: &Row) -> Result<AuditEntry> {
    let invalid = |column: &str| StoreError::Internal(format!("audit_log.{column} out of range"));
    let actor: String = row.get("actor");
    let outcome: String = row.get("outcome");
    let status: i32 = row.get("status");
    Ok(AuditEntry {
        id: row.get("id"),
        entry: NewAuditEntry {
            at: row.get("at"),
            user_id: row.get("user_id"),
            actor: AuditActor::parse(&actor).ok_or_else(|| invalid("actor"))?,
            action: row.get("action"),
            target: row.get("target"),
            outcome: AuditOutcome::parse(&outcome).ok_or_else(|| invalid("outcome"))?,
            status: u16::try_from(status).map_err(|_| invalid("status"))?,
            error_code: row.get("error_code"),
            client_address: row.get("client_address"),
            user_agent: row.get("user_agent"),
            request_id: row.get("request_id"),
            trace_id: row.get("trace_id"),
        },
    })
}

const INSERT_AUDIT: &str = "INSERT INTO audit_log (at, user_id, actor, action, target, outcome,
         status, error_code, client_address, user_agent, request_id, trace_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The parameters of [`INSERT_AUDIT`] for `entry` (`stored`: its actor, outcome and
/// status as stored).
fn audit_params<'a>(
    entry: &'a NewAuditEntry,
    stored: &'a (&'static str, &'static str, i32),
) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 12] {
    [
        &entry.at,
        &entry.user_id,
        &stored.0,
        &entry.action,
        &entry.target,
        &stored.1,
        &stored.2,
        &entry.error_code,
        &entry.client_address,
        &entry.user_agent,
        &entry.request_id,
        &entry.trace_id,
    ]
}

/// An entry's actor, outcome and status as stored.
fn stored(entry: &NewAuditEntry) -> (&'static str, &'static str, i32) {
    (
        entry.actor.as_str(),
        entry.outcome.as_str(),
        i32::from(entry.status),
    )
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<()> {
        let mut client = self.client().await?;
        // A batch of one (the writer takes what is queued, often a single record at a
        // low rate) is one statement, not a transaction of three round trips.
        if let [entry] = entries {
            let stored = stored(entry);
            client
                .prepared_execute(INSERT_AUDIT, &audit_params(entry, &stored))
                .await
                .map_err(map_error)?;
            return Ok(());
        }
        if entries.is_empty() {
            return Ok(());
        }
        let transaction = client.transaction().await.map_err(map_error)?;
        let statement = transaction
            .prepare_cached(INSERT_AUDIT)
            .await
            .map_err(map_error)?;
        for entry in entries {
            let stored = stored(entry);
            transaction
                .execute(&statement, &audit_params(entry, &stored))
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let client = self.client().await?;
        let action = query.action_prefix.as_deref().map(like_prefix);
        let before = query.before_id.unwrap_or(i64::MAX);
        let limit = i64::from(query.limit.min(MAX_AUDIT_PAGE));
        let rows = client
            .prepared_query(
                "SELECT * FROM audit_log
                 WHERE id < $1
                   AND ($2::uuid IS NULL OR user_id = $2)
                   AND ($3::text IS NULL OR action LIKE $3 ESCAPE '\\')
                 ORDER BY id DESC
                 LIMIT $4",
                &[&before, &query.user_id, &action, &limit],
            )
            .await
            .map_err(map_error)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        let client = self.client().await?;
        client
            .prepared_execute("DELETE FROM audit_log WHERE at < $1", &[&before])
            .await
            .map_err(map_error)
    }
}
