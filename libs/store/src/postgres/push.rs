//! Web Push subscriptions.

use super::{PostgresStore, Prepared as _, Result, Row, Uuid, async_trait, map_error};
use crate::{PushStore, PushSubscription};

fn subscription_from_row(row: &Row) -> PushSubscription {
    PushSubscription {
        user_id: row.get("user_id"),
        endpoint: row.get("endpoint"),
        p256dh: row.get("p256dh"),
        auth: row.get("auth"),
        created_at: row.get("created_at"),
    }
}

#[async_trait]
impl PushStore for PostgresStore {
    async fn add_push_subscription(&self, subscription: &PushSubscription) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, endpoint) DO UPDATE
                 SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth",
                &[
                    &subscription.user_id,
                    &subscription.endpoint,
                    &subscription.p256dh,
                    &subscription.auth,
                    &subscription.created_at,
                ],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn remove_push_subscription(&self, user_id: Uuid, endpoint: &str) -> Result<bool> {
        let client = self.client().await?;
        let removed = client
            .prepared_execute(
                "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2",
                &[&user_id, &endpoint],
            )
            .await
            .map_err(map_error)?;
        Ok(removed > 0)
    }

    async fn push_subscriptions(&self, user_id: Uuid) -> Result<Vec<PushSubscription>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT * FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, endpoint",
                &[&user_id],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(subscription_from_row).collect())
    }
}
