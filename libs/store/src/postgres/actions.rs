//! Idempotency keys of non-send actions.

use super::{PostgresStore, Prepared as _, Result, async_trait, index, map_error};
use crate::{AccountKey, ActionClaim, ActionClaimed, ActionStore};

#[async_trait]
impl ActionStore for PostgresStore {
    async fn claim_action(&self, claim: &ActionClaim) -> Result<ActionClaimed> {
        let client = self.client().await?;
        let session_index = index(claim.key)?;
        let inserted = client
            .prepared_execute(
                "INSERT INTO chat_actions (user_id, session_index, idempotency_key, action,
                     request_hash, result, claimed_at)
                 VALUES ($1, $2, $3, $4, $5, NULL, $6)
                 ON CONFLICT DO NOTHING",
                &[
                    &claim.key.user_id,
                    &session_index,
                    &claim.idempotency_key,
                    &claim.action,
                    &claim.request_hash,
                    &claim.at,
                ],
            )
            .await
            .map_err(map_error)?;
        if inserted > 0 {
            return Ok(ActionClaimed::Claimed);
        }
        // A claim whose process died midway is taken over once it is stale (one winner:
        // the row is updated only while it is still stale).
        let stale_before = claim.at - claim.stale_after;
        let taken_over = client
            .prepared_execute(
                "UPDATE chat_actions SET claimed_at = $6
                 WHERE user_id = $1 AND session_index = $2 AND idempotency_key = $3
                   AND action = $4 AND request_hash = $5 AND result IS NULL
                   AND claimed_at < $7",
                &[
                    &claim.key.user_id,
                    &session_index,
                    &claim.idempotency_key,
                    &claim.action,
                    &claim.request_hash,
                    &claim.at,
                    &stale_before,
                ],
            )
            .await
            .map_err(map_error)?;
        if taken_over > 0 {
            return Ok(ActionClaimed::Claimed);
        }
        let existing = client
            .prepared_query_opt(
                "SELECT action, request_hash, result FROM chat_actions
                 WHERE user_id = $1 AND session_index = $2 AND idempotency_key = $3",
                &[&claim.key.user_id, &session_index, &claim.idempotency_key],
            )
            .await
            .map_err(map_error)?;
        let Some(row) = existing else {
            // Released between the statements: ask again later.
            return Ok(ActionClaimed::InProgress);
        };
        let action: String = row.get("action");
        let request_hash: String = row.get("request_hash");
        if action != claim.action || request_hash != claim.request_hash {
            return Ok(ActionClaimed::Mismatch);
        }
        Ok(match row.get::<_, Option<String>>("result") {
            Some(result) => ActionClaimed::Done(result),
            None => ActionClaimed::InProgress,
        })
    }

    async fn finish_action(
        &self,
        key: AccountKey,
        idempotency_key: &str,
        result: &str,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE chat_actions SET result = $4
                 WHERE user_id = $1 AND session_index = $2 AND idempotency_key = $3",
                &[&key.user_id, &index(key)?, &idempotency_key, &result],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn release_action(&self, key: AccountKey, idempotency_key: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "DELETE FROM chat_actions
                 WHERE user_id = $1 AND session_index = $2 AND idempotency_key = $3
                   AND result IS NULL",
                &[&key.user_id, &index(key)?, &idempotency_key],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
