//! Web Push subscriptions.

use super::{
    CachedStatements, Result, Row, SqliteStore, Uuid, async_trait, map_error, micros, params,
    time_at, uuid_at,
};
use crate::{PushStore, PushSubscription};

fn subscription_from_row(row: &Row<'_>) -> rusqlite::Result<PushSubscription> {
    Ok(PushSubscription {
        user_id: uuid_at(row, "user_id")?,
        endpoint: row.get("endpoint")?,
        p256dh: row.get("p256dh")?,
        auth: row.get("auth")?,
        created_at: time_at(row, "created_at")?,
    })
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn add_push_subscription(&self, subscription: &PushSubscription) -> Result<()> {
        let subscription = subscription.clone();
        self.call(move |connection| {
            connection
                .execute_cached(
                    "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (user_id, endpoint) DO UPDATE
                     SET p256dh = excluded.p256dh, auth = excluded.auth",
                    params![
                        subscription.user_id.to_string(),
                        subscription.endpoint,
                        subscription.p256dh,
                        subscription.auth,
                        micros(subscription.created_at),
                    ],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn remove_push_subscription(&self, user_id: Uuid, endpoint: &str) -> Result<bool> {
        let endpoint = endpoint.to_owned();
        self.call(move |connection| {
            connection
                .execute_cached(
                    "DELETE FROM push_subscriptions WHERE user_id = ?1 AND endpoint = ?2",
                    params![user_id.to_string(), endpoint],
                )
                .map(|removed| removed > 0)
                .map_err(map_error)
        })
        .await
    }

    async fn push_subscriptions(&self, user_id: Uuid) -> Result<Vec<PushSubscription>> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT * FROM push_subscriptions WHERE user_id = ?1
                     ORDER BY created_at, endpoint",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map([user_id.to_string()], subscription_from_row)
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }
}
