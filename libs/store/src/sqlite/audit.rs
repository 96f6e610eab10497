//! The audit log.

use super::{
    CachedStatements, Result, Row, SqliteStore, Uuid, async_trait, map_error, micros, params,
    time_at,
};
use crate::audit::{
    AuditActor, AuditEntry, AuditOutcome, AuditQuery, AuditStore, MAX_AUDIT_PAGE, NewAuditEntry,
    like_prefix,
};
use chrono::{DateTime, Utc};

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    let user_id: Option<String> = row.get("user_id")?;
    let actor: String = row.get("actor")?;
    let outcome: String = row.get("outcome")?;
    let status: i64 = row.get("status")?;
    Ok(AuditEntry {
        id: row.get("id")?,
        entry: NewAuditEntry {
            at: time_at(row, "at")?,
            user_id: user_id
                .map(|value| Uuid::parse_str(&value).map_err(|_| super::invalid("user_id")))
                .transpose()?,
            actor: AuditActor::parse(&actor).ok_or_else(|| super::invalid("actor"))?,
            action: row.get("action")?,
            target: row.get("target")?,
            outcome: AuditOutcome::parse(&outcome).ok_or_else(|| super::invalid("outcome"))?,
            status: u16::try_from(status).map_err(|_| super::invalid("status"))?,
            error_code: row.get("error_code")?,
            client_address: row.get("client_address")?,
            user_agent: row.get("user_agent")?,
            request_id: row.get("request_id")?,
            trace_id: row.get("trace_id")?,
        },
    })
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries = entries.to_vec();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            for entry in &entries {
                transaction
                    .execute_cached(
                        "INSERT INTO audit_log (at, user_id, actor, action, target, outcome,
                             status, error_code, client_address, user_agent, request_id, trace_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                        params![
                            micros(entry.at),
                            entry.user_id.map(|id| id.to_string()),
                            entry.actor.as_str(),
                            entry.action,
                            entry.target,
                            entry.outcome.as_str(),
                            i64::from(entry.status),
                            entry.error_code,
                            entry.client_address,
                            entry.user_agent,
                            entry.request_id,
                            entry.trace_id,
                        ],
                    )
                    .map_err(map_error)?;
            }
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let user_id = query.user_id.map(|id| id.to_string());
        let action = query.action_prefix.as_deref().map(like_prefix);
        let before = query.before_id.unwrap_or(i64::MAX);
        let limit = i64::from(query.limit.min(MAX_AUDIT_PAGE));
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT * FROM audit_log
                     WHERE id < ?1
                       AND (?2 IS NULL OR user_id = ?2)
                       AND (?3 IS NULL OR action LIKE ?3 ESCAPE '\\')
                     ORDER BY id DESC
                     LIMIT ?4",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![before, user_id, action, limit], entry_from_row)
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.call(move |connection| {
            connection
                .execute_cached("DELETE FROM audit_log WHERE at < ?1", [micros(before)])
                .map(|removed| removed as u64)
                .map_err(map_error)
        })
        .await
    }
}
