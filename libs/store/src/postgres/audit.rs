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

/// A batch of records in one statement: each column as an array, zipped back into rows
/// by `unnest`, which yields them in the arrays' order, so the ids (given as rows are
/// inserted) follow the order of the batch. One round trip, one implicit commit, for any
/// batch size; a batch used to be a transaction of one `INSERT` per record (N + 2 round
/// trips).
const INSERT_AUDIT_BATCH: &str = "INSERT INTO audit_log (at, user_id, actor, action, target,
         outcome, status, error_code, client_address, user_agent, request_id, trace_id)
     SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[],
         $6::text[], $7::int4[], $8::text[], $9::text[], $10::text[], $11::text[],
         $12::text[])";

/// The columns of a batch, one array each, as [`INSERT_AUDIT_BATCH`] takes them.
struct AuditColumns<'a> {
    at: Vec<DateTime<Utc>>,
    user_id: Vec<Option<uuid::Uuid>>,
    actor: Vec<&'static str>,
    action: Vec<&'a str>,
    target: Vec<Option<&'a str>>,
    outcome: Vec<&'static str>,
    status: Vec<i32>,
    error_code: Vec<Option<&'a str>>,
    client_address: Vec<Option<&'a str>>,
    user_agent: Vec<Option<&'a str>>,
    request_id: Vec<Option<&'a str>>,
    trace_id: Vec<Option<&'a str>>,
}

impl<'a> AuditColumns<'a> {
    fn of(entries: &'a [NewAuditEntry]) -> Self {
        Self {
            at: entries.iter().map(|entry| entry.at).collect(),
            user_id: entries.iter().map(|entry| entry.user_id).collect(),
            actor: entries.iter().map(|entry| entry.actor.as_str()).collect(),
            action: entries.iter().map(|entry| entry.action.as_str()).collect(),
            target: entries
                .iter()
                .map(|entry| entry.target.as_deref())
                .collect(),
            outcome: entries.iter().map(|entry| entry.outcome.as_str()).collect(),
            status: entries
                .iter()
                .map(|entry| i32::from(entry.status))
                .collect(),
            error_code: entries
                .iter()
                .map(|entry| entry.error_code.as_deref())
                .collect(),
            client_address: entries
                .iter()
                .map(|entry| entry.client_address.as_deref())
                .collect(),
            user_agent: entries
                .iter()
                .map(|entry| entry.user_agent.as_deref())
                .collect(),
            request_id: entries
                .iter()
                .map(|entry| entry.request_id.as_deref())
                .collect(),
            trace_id: entries
                .iter()
                .map(|entry| entry.trace_id.as_deref())
                .collect(),
        }
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 12] {
        [
            &self.at,
            &self.user_id,
            &self.actor,
            &self.action,
            &self.target,
            &self.outcome,
            &self.status,
            &self.error_code,
            &self.client_address,
            &self.user_agent,
            &self.request_id,
            &self.trace_id,
        ]
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        let columns = AuditColumns::of(entries);
        client
            .prepared_execute(INSERT_AUDIT_BATCH, &columns.params())
            .await
            .map_err(map_error)?;
        Ok(())
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
