//! Operators' view of the accounts.

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    CachedStatements, OptionalExtension, Result, Row, SqliteStore, Uuid, async_trait, map_error,
    micros, optional_time_at, params, user_from_row,
};
use crate::admin::{
    ActivityCounts, ActivityDelta, ActivitySummary, MAX_USERS_PAGE, SubjectOverview,
    UserAdminStore, UserCursor, UserOverview,
};

/// A count as SQLite's integer (saturating).
fn count_in(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A stored count (a negative one, which no write makes, reads as 0).
fn count_out(row: &Row<'_>, column: &str) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    Ok(u64::try_from(value).unwrap_or(0))
}

/// A day as stored: `YYYY-MM-DD`, which sorts as the days do.
fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The account with its counts; `?1`: the condition's parameters follow.
const OVERVIEW: &str = "SELECT users.*,
        (SELECT COUNT(*) FROM telegram_sessions t WHERE t.user_id = users.id) AS linked_accounts,
        (SELECT COUNT(*) FROM auth_sessions s
          WHERE s.user_id = users.id AND s.revoked_at IS NULL) AS open_sign_ins
     FROM users";

fn overview_from_row(row: &Row<'_>) -> rusqlite::Result<UserOverview> {
    let linked: i64 = row.get("linked_accounts")?;
    let open: i64 = row.get("open_sign_ins")?;
    Ok(UserOverview {
        user: user_from_row(row)?,
        disabled_at: optional_time_at(row, "disabled_at")?,
        linked_accounts: u32::try_from(linked).unwrap_or(u32::MAX),
        open_sign_ins: u32::try_from(open).unwrap_or(u32::MAX),
    })
}

/// The columns of a subject's overview, read from `s.subject_id` (every subject the
/// query names: seen, disabled, owning linked accounts).
const SUBJECT_COLUMNS: &str = "SELECT s.subject_id, seen.last_seen_at, d.disabled_at,
        (SELECT COUNT(*) FROM telegram_sessions t
          WHERE t.user_id = s.subject_id) AS linked_accounts";

fn subject_from_row(row: &Row<'_>) -> rusqlite::Result<SubjectOverview> {
    Ok(SubjectOverview {
        subject_id: super::uuid_at(row, "subject_id")?,
        last_seen_at: optional_time_at(row, "last_seen_at")?,
        disabled_at: optional_time_at(row, "disabled_at")?,
        linked_accounts: u32::try_from(row.get::<_, i64>("linked_accounts")?).unwrap_or(u32::MAX),
    })
}

#[async_trait]
impl UserAdminStore for SqliteStore {
    async fn activity_summary(&self, now: DateTime<Utc>) -> Result<ActivitySummary> {
        let day = micros(now - chrono::TimeDelta::days(1));
        let week = micros(now - chrono::TimeDelta::days(7));
        self.read(move |connection| {
            let count = |sql: &str, parameter: Option<i64>| -> Result<u64> {
                let value: i64 = match parameter {
                    Some(parameter) => connection.query_row_cached(sql, [parameter], |row| row.get(0)),
                    None => connection.query_row_cached(sql, [], |row| row.get(0)),
                }
                .map_err(map_error)?;
                Ok(u64::try_from(value).unwrap_or_default())
            };
            let active = "SELECT COUNT(*) FROM (
                    SELECT user_id FROM auth_sessions WHERE last_seen_at >= ?1
                    UNION SELECT subject_id FROM subjects_seen WHERE last_seen_at >= ?1)";
            let mut statement = connection
                .prepare_cached(
                    "SELECT status, COUNT(*) FROM telegram_sessions GROUP BY status ORDER BY status",
                )
                .map_err(map_error)?;
            let linked_accounts = statement
                .query_map([], |row| {
                    let count: i64 = row.get(1)?;
                    Ok((row.get::<_, String>(0)?, u64::try_from(count).unwrap_or_default()))
                })
                .map_err(map_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            let oldest: Option<i64> = connection
                .query_row_cached(
                    "SELECT MIN(created_at) FROM send_jobs WHERE status IN ('queued', 'sending')",
                    [],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            Ok(ActivitySummary {
                users: count("SELECT COUNT(*) FROM users", None)?,
                active_1d: count(active, Some(day))?,
                active_7d: count(active, Some(week))?,
                linked_accounts,
                waiting_jobs: count(
                    "SELECT COUNT(*) FROM send_jobs WHERE status IN ('queued', 'sending')",
                    None,
                )?,
                oldest_waiting_at: oldest.and_then(chrono::DateTime::from_timestamp_micros),
            })
        })
        .await
    }

    async fn list_users(&self, after: Option<UserCursor>, limit: u32) -> Result<Vec<UserOverview>> {
        let (after_at, after_id) = match after {
            Some(cursor) => (micros(cursor.created_at), cursor.id.to_string()),
            None => (i64::MIN, String::new()),
        };
        let limit = i64::from(limit.min(MAX_USERS_PAGE));
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "{OVERVIEW} WHERE (created_at, id) > (?1, ?2)
                     ORDER BY created_at, id LIMIT ?3"
                ))
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![after_at, after_id, limit], overview_from_row)
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn user_overview(&self, user_id: Uuid) -> Result<Option<UserOverview>> {
        self.read(move |connection| {
            connection
                .query_row_cached(
                    &format!("{OVERVIEW} WHERE id = ?1"),
                    [user_id.to_string()],
                    overview_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn set_user_disabled(&self, user_id: Uuid, at: Option<DateTime<Utc>>) -> Result<bool> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE users SET disabled_at = CASE
                         WHEN ?2 IS NULL THEN NULL ELSE COALESCE(disabled_at, ?2) END
                     WHERE id = ?1",
                    params![user_id.to_string(), at.map(micros)],
                )
                .map(|changed| changed > 0)
                .map_err(map_error)
        })
        .await
    }

    async fn user_disabled_at(&self, user_id: Uuid) -> Result<Option<DateTime<Utc>>> {
        self.read(move |connection| {
            connection
                .query_row_cached(
                    "SELECT disabled_at FROM users WHERE id = ?1",
                    [user_id.to_string()],
                    |row| optional_time_at(row, "disabled_at"),
                )
                .optional()
                .map(Option::flatten)
                .map_err(map_error)
        })
        .await
    }

    async fn linked_accounts(&self, user_id: Uuid) -> Result<u32> {
        self.read(move |connection| {
            connection
                .query_row_cached(
                    "SELECT COUNT(*) FROM telegram_sessions WHERE user_id = ?1",
                    [user_id.to_string()],
                    |row| row.get::<_, i64>(0),
                )
                .map(|linked| u32::try_from(linked).unwrap_or(u32::MAX))
                .map_err(map_error)
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Uuid>> {
        let reason = reason.to_owned();
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "UPDATE auth_sessions SET revoked_at = ?2, revoked_reason = ?3
                     WHERE user_id = ?1 AND revoked_at IS NULL
                     RETURNING id",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![user_id.to_string(), micros(at), reason], |row| {
                    super::uuid_at(row, "id")
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn set_subject_disabled(
        &self,
        subject_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>> {
        self.call(move |connection| {
            let id = subject_id.to_string();
            match at {
                Some(at) => connection
                    .query_row_cached(
                        "INSERT INTO disabled_subjects (subject_id, disabled_at) VALUES (?1, ?2)
                         ON CONFLICT (subject_id) DO UPDATE SET disabled_at = disabled_at
                         RETURNING disabled_at",
                        params![id, micros(at)],
                        |row| optional_time_at(row, "disabled_at"),
                    )
                    .map_err(map_error),
                None => connection
                    .execute_cached("DELETE FROM disabled_subjects WHERE subject_id = ?1", [id])
                    .map(|_| None)
                    .map_err(map_error),
            }
        })
        .await
    }

    async fn disabled_subjects(&self) -> Result<Vec<(Uuid, DateTime<Utc>)>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached("SELECT subject_id, disabled_at FROM disabled_subjects")
                .map_err(map_error)?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        super::uuid_at(row, "subject_id")?,
                        optional_time_at(row, "disabled_at")?.unwrap_or_default(),
                    ))
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn list_subjects(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<SubjectOverview>> {
        let limit = i64::from(limit.min(MAX_USERS_PAGE));
        // Ids are stored hyphenated and lowercase, which sorts as the ids do.
        let after = after.map(|id| id.to_string());
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "{SUBJECT_COLUMNS}
                     FROM (SELECT subject_id FROM subjects_seen
                           UNION SELECT subject_id FROM disabled_subjects
                           UNION SELECT user_id FROM telegram_sessions) s
                     LEFT JOIN subjects_seen seen ON seen.subject_id = s.subject_id
                     LEFT JOIN disabled_subjects d ON d.subject_id = s.subject_id
                     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.subject_id)
                       AND (?1 IS NULL OR s.subject_id > ?1)
                     ORDER BY s.subject_id LIMIT ?2"
                ))
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![after, limit], subject_from_row)
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn subject_overview(&self, subject_id: Uuid) -> Result<Option<SubjectOverview>> {
        self.read(move |connection| {
            // The same three sources as `list_subjects`, each read by its key.
            connection
                .query_row_cached(
                    &format!(
                        "{SUBJECT_COLUMNS}
                         FROM (SELECT ?1 AS subject_id) s
                         LEFT JOIN subjects_seen seen ON seen.subject_id = s.subject_id
                         LEFT JOIN disabled_subjects d ON d.subject_id = s.subject_id
                         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.subject_id)
                           AND (seen.subject_id IS NOT NULL OR d.subject_id IS NOT NULL
                                OR EXISTS (SELECT 1 FROM telegram_sessions t
                                            WHERE t.user_id = s.subject_id))"
                    ),
                    [subject_id.to_string()],
                    subject_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn note_subject_seen(&self, subject_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "INSERT INTO subjects_seen (subject_id, last_seen_at) VALUES (?1, ?2)
                     ON CONFLICT (subject_id) DO UPDATE
                     SET last_seen_at = MAX(last_seen_at, excluded.last_seen_at)",
                    params![subject_id.to_string(), micros(at)],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn add_user_activity(&self, deltas: &[ActivityDelta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let deltas = deltas.to_vec();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            for delta in &deltas {
                let counts = &delta.counts;
                transaction
                    .execute_cached(
                        "INSERT INTO user_activity (user_id, day, requests, client_errors,
                             server_errors, sends, sockets)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (user_id, day) DO UPDATE SET
                             requests = requests + excluded.requests,
                             client_errors = client_errors + excluded.client_errors,
                             server_errors = server_errors + excluded.server_errors,
                             sends = sends + excluded.sends,
                             sockets = sockets + excluded.sockets",
                        params![
                            delta.user_id.to_string(),
                            day_text(delta.day),
                            count_in(counts.requests),
                            count_in(counts.client_errors),
                            count_in(counts.server_errors),
                            count_in(counts.sends),
                            count_in(counts.sockets),
                        ],
                    )
                    .map_err(map_error)?;
            }
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn user_activity(
        &self,
        user_id: Uuid,
        since: NaiveDate,
    ) -> Result<Vec<(NaiveDate, ActivityCounts)>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT * FROM user_activity WHERE user_id = ?1 AND day >= ?2
                     ORDER BY day DESC",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![user_id.to_string(), day_text(since)], |row| {
                    let day: String = row.get("day")?;
                    let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                        .map_err(|_| super::invalid("day"))?;
                    Ok((
                        day,
                        ActivityCounts {
                            requests: count_out(row, "requests")?,
                            client_errors: count_out(row, "client_errors")?,
                            server_errors: count_out(row, "server_errors")?,
                            sends: count_out(row, "sends")?,
                            sockets: count_out(row, "sockets")?,
                        },
                    ))
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn delete_activity_before(&self, day: NaiveDate) -> Result<u64> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "DELETE FROM user_activity WHERE day < ?1",
                    params![day_text(day)],
                )
                .map(|deleted| deleted as u64)
                .map_err(map_error)
        })
        .await
    }
}
