//! Operators' view of the accounts.

use chrono::{DateTime, Utc};

use super::{
    CachedStatements, OptionalExtension, Result, Row, SqliteStore, Uuid, async_trait, map_error,
    micros, optional_time_at, params, user_from_row,
};
use crate::admin::{MAX_USERS_PAGE, UserAdminStore, UserCursor, UserOverview};

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

#[async_trait]
impl UserAdminStore for SqliteStore {
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
}
