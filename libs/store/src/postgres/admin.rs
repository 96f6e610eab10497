//! Operators' view of the accounts.

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    PostgresStore, Prepared as _, Result, Row, Uuid, async_trait, map_error, user_from_row,
};
use crate::admin::{
    ActivityCounts, ActivityDelta, ActivitySummary, MAX_USERS_PAGE, SubjectOverview,
    UserAdminStore, UserCursor, UserOverview,
};

/// A count as PostgreSQL's bigint (saturating).
fn count_in(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A stored count (a negative one, which no write makes, reads as 0).
fn count_out(row: &Row, column: &str) -> u64 {
    u64::try_from(row.get::<_, i64>(column)).unwrap_or(0)
}

/// The account with its counts.
const OVERVIEW: &str = "SELECT users.*,
        (SELECT COUNT(*) FROM telegram_sessions t WHERE t.user_id = users.id) AS linked_accounts,
        (SELECT COUNT(*) FROM auth_sessions s
          WHERE s.user_id = users.id AND s.revoked_at IS NULL) AS open_sign_ins
     FROM users";

fn overview_from_row(row: &Row) -> UserOverview {
    let linked: i64 = row.get("linked_accounts");
    let open: i64 = row.get("open_sign_ins");
    UserOverview {
        user: user_from_row(row),
        disabled_at: row.get("disabled_at"),
        linked_accounts: u32::try_from(linked).unwrap_or(u32::MAX),
        open_sign_ins: u32::try_from(open).unwrap_or(u32::MAX),
    }
}

/// The columns of a subject's overview, read from `s.subject_id` (every subject the
/// query names: seen, disabled, owning linked accounts).
const SUBJECT_COLUMNS: &str = "SELECT s.subject_id, seen.last_seen_at, d.disabled_at,
        (SELECT COUNT(*) FROM telegram_sessions t
          WHERE t.user_id = s.subject_id) AS linked_accounts";

fn subject_from_row(row: &Row) -> SubjectOverview {
    SubjectOverview {
        subject_id: row.get("subject_id"),
        last_seen_at: row.get("last_seen_at"),
        disabled_at: row.get("disabled_at"),
        linked_accounts: u32::try_from(row.get::<_, i64>("linked_accounts")).unwrap_or(u32::MAX),
    }
}

#[async_trait]
impl UserAdminStore for PostgresStore {
    async fn activity_summary(&self, now: DateTime<Utc>) -> Result<ActivitySummary> {
        let client = self.client().await?;
        let day = now - chrono::TimeDelta::days(1);
        let week = now - chrono::TimeDelta::days(7);
        let totals = client
            .prepared_query_one(
                "SELECT
                    (SELECT COUNT(*) FROM users) AS users,
                    (SELECT COUNT(*) FROM (
                        SELECT user_id FROM auth_sessions WHERE last_seen_at >= $1
                        UNION SELECT subject_id FROM subjects_seen WHERE last_seen_at >= $1
                     ) AS seen) AS active_1d,
                    (SELECT COUNT(*) FROM (
                        SELECT user_id FROM auth_sessions WHERE last_seen_at >= $2
                        UNION SELECT subject_id FROM subjects_seen WHERE last_seen_at >= $2
                     ) AS seen) AS active_7d,
                    (SELECT COUNT(*) FROM send_jobs
                      WHERE status IN ('queued', 'sending')) AS waiting_jobs,
                    (SELECT MIN(created_at) FROM send_jobs
                      WHERE status IN ('queued', 'sending')) AS oldest_waiting_at",
                &[&day, &week],
            )
            .await
            .map_err(map_error)?;
        let by_status = client
            .prepared_query(
                "SELECT status, COUNT(*) AS count FROM telegram_sessions
                 GROUP BY status ORDER BY status",
                &[],
            )
            .await
            .map_err(map_error)?;
        let unsigned = |value: i64| u64::try_from(value).unwrap_or_default();
        Ok(ActivitySummary {
            users: unsigned(totals.get("users")),
            active_1d: unsigned(totals.get("active_1d")),
            active_7d: unsigned(totals.get("active_7d")),
            linked_accounts: by_status
                .iter()
                .map(|row| (row.get("status"), unsigned(row.get("count"))))
                .collect(),
            waiting_jobs: unsigned(totals.get("waiting_jobs")),
            oldest_waiting_at: totals.get("oldest_waiting_at"),
        })
    }

    async fn list_users(&self, after: Option<UserCursor>, limit: u32) -> Result<Vec<UserOverview>> {
        let client = self.client().await?;
        let limit = i64::from(limit.min(MAX_USERS_PAGE));
        let rows = match after {
            Some(cursor) => {
                client
                    .prepared_query(
                        &format!(
                            "{OVERVIEW} WHERE (created_at, id) > ($1, $2)
                             ORDER BY created_at, id LIMIT $3"
                        ),
                        &[&cursor.created_at, &cursor.id, &limit],
                    )
                    .await
            }
            None => {
                client
                    .prepared_query(
                        &format!("{OVERVIEW} ORDER BY created_at, id LIMIT $1"),
                        &[&limit],
                    )
                    .await
            }
        }
        .map_err(map_error)?;
        Ok(rows.iter().map(overview_from_row).collect())
    }

    async fn user_overview(&self, user_id: Uuid) -> Result<Option<UserOverview>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(&format!("{OVERVIEW} WHERE id = $1"), &[&user_id])
            .await
            .map_err(map_error)?;
        Ok(row.as_ref().map(overview_from_row))
    }

    async fn set_user_disabled(&self, user_id: Uuid, at: Option<DateTime<Utc>>) -> Result<bool> {
        let client = self.client().await?;
        let changed = client
            .prepared_execute(
                "UPDATE users SET disabled_at = CASE
                     WHEN $2::timestamptz IS NULL THEN NULL ELSE COALESCE(disabled_at, $2) END
                 WHERE id = $1",
                &[&user_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(changed > 0)
    }

    async fn user_disabled_at(&self, user_id: Uuid) -> Result<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt("SELECT disabled_at FROM users WHERE id = $1", &[&user_id])
            .await
            .map_err(map_error)?;
        Ok(row.and_then(|row| row.get("disabled_at")))
    }

    async fn linked_accounts(&self, user_id: Uuid) -> Result<u32> {
        let client = self.client().await?;
        let row = client
            .prepared_query_one(
                "SELECT COUNT(*) AS linked FROM telegram_sessions WHERE user_id = $1",
                &[&user_id],
            )
            .await
            .map_err(map_error)?;
        Ok(u32::try_from(row.get::<_, i64>("linked")).unwrap_or(u32::MAX))
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<Vec<Uuid>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3
                 WHERE user_id = $1 AND revoked_at IS NULL
                 RETURNING id",
                &[&user_id, &at, &reason],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(|row| row.get("id")).collect())
    }

    async fn set_subject_disabled(
        &self,
        subject_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        match at {
            Some(at) => {
                let row = client
                    .prepared_query_one(
                        "INSERT INTO disabled_subjects (subject_id, disabled_at) VALUES ($1, $2)
                         ON CONFLICT (subject_id)
                         DO UPDATE SET disabled_at = disabled_subjects.disabled_at
                         RETURNING disabled_at",
                        &[&subject_id, &at],
                    )
                    .await
                    .map_err(map_error)?;
                Ok(Some(row.get("disabled_at")))
            }
            None => {
                client
                    .prepared_execute(
                        "DELETE FROM disabled_subjects WHERE subject_id = $1",
                        &[&subject_id],
                    )
                    .await
                    .map_err(map_error)?;
                Ok(None)
            }
        }
    }

    async fn disabled_subjects(&self) -> Result<Vec<(Uuid, DateTime<Utc>)>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query("SELECT subject_id, disabled_at FROM disabled_subjects", &[])
            .await
            .map_err(map_error)?;
        Ok(rows
            .iter()
            .map(|row| (row.get("subject_id"), row.get("disabled_at")))
            .collect())
    }

    async fn list_subjects(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<SubjectOverview>> {
        let client = self.client().await?;
        let limit = i64::from(limit.min(MAX_USERS_PAGE));
        let rows = client
            .prepared_query(
                &format!(
                    "{SUBJECT_COLUMNS}
                     FROM (SELECT subject_id FROM subjects_seen
                           UNION SELECT subject_id FROM disabled_subjects
                           UNION SELECT user_id FROM telegram_sessions) s
                     LEFT JOIN subjects_seen seen ON seen.subject_id = s.subject_id
                     LEFT JOIN disabled_subjects d ON d.subject_id = s.subject_id
                     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.subject_id)
                       AND ($1::uuid IS NULL OR s.subject_id > $1)
                     ORDER BY s.subject_id LIMIT $2"
                ),
                &[&after, &limit],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(subject_from_row).collect())
    }

    async fn subject_overview(&self, subject_id: Uuid) -> Result<Option<SubjectOverview>> {
        let client = self.client().await?;
        // The same three sources as `list_subjects`, each read by its key.
        let row = client
            .prepared_query_opt(
                &format!(
                    "{SUBJECT_COLUMNS}
                     FROM (SELECT $1::uuid AS subject_id) s
                     LEFT JOIN subjects_seen seen ON seen.subject_id = s.subject_id
                     LEFT JOIN disabled_subjects d ON d.subject_id = s.subject_id
                     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.subject_id)
                       AND (seen.subject_id IS NOT NULL OR d.subject_id IS NOT NULL
                            OR EXISTS (SELECT 1 FROM telegram_sessions t
                                        WHERE t.user_id = s.subject_id))"
                ),
                &[&subject_id],
            )
            .await
            .map_err(map_error)?;
        Ok(row.as_ref().map(subject_from_row))
    }

    async fn note_subject_seen(&self, subject_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "INSERT INTO subjects_seen (subject_id, last_seen_at) VALUES ($1, $2)
                 ON CONFLICT (subject_id) DO UPDATE
                 SET last_seen_at = GREATEST(subjects_seen.last_seen_at, excluded.last_seen_at)",
                &[&subject_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn add_user_activity(&self, deltas: &[ActivityDelta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        let statement = transaction
            .prepare_cached(
                "INSERT INTO user_activity (user_id, day, requests, client_errors,
                     server_errors, sends, sockets)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_id, day) DO UPDATE SET
                     requests = user_activity.requests + excluded.requests,
                     client_errors = user_activity.client_errors + excluded.client_errors,
                     server_errors = user_activity.server_errors + excluded.server_errors,
                     sends = user_activity.sends + excluded.sends,
                     sockets = user_activity.sockets + excluded.sockets",
            )
            .await
            .map_err(map_error)?;
        for delta in deltas {
            let counts = &delta.counts;
            transaction
                .execute(
                    &statement,
                    &[
                        &delta.user_id,
                        &delta.day,
                        &count_in(counts.requests),
                        &count_in(counts.client_errors),
                        &count_in(counts.server_errors),
                        &count_in(counts.sends),
                        &count_in(counts.sockets),
                    ],
                )
                .await
                .map_err(map_error)?;
        }
        transaction.commit().await.map_err(map_error)
    }

    async fn user_activity(
        &self,
        user_id: Uuid,
        since: NaiveDate,
    ) -> Result<Vec<(NaiveDate, ActivityCounts)>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT * FROM user_activity WHERE user_id = $1 AND day >= $2
                 ORDER BY day DESC",
                &[&user_id, &since],
            )
            .await
            .map_err(map_error)?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get("day"),
                    ActivityCounts {
                        requests: count_out(row, "requests"),
                        client_errors: count_out(row, "client_errors"),
                        server_errors: count_out(row, "server_errors"),
                        sends: count_out(row, "sends"),
                        sockets: count_out(row, "sockets"),
                    },
                )
            })
            .collect())
    }

    async fn delete_activity_before(&self, day: NaiveDate) -> Result<u64> {
        let client = self.client().await?;
        client
            .prepared_execute("DELETE FROM user_activity WHERE day < $1", &[&day])
            .await
            .map_err(map_error)
    }
}
