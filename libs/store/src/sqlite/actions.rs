//! Idempotency keys of non-send actions.

use super::{OptionalExtension, Result, SqliteStore, async_trait, map_error, micros, params};
use crate::{AccountKey, ActionClaim, ActionClaimed, ActionStore};

#[async_trait]
impl ActionStore for SqliteStore {
    async fn claim_action(&self, claim: &ActionClaim) -> Result<ActionClaimed> {
        let claim = claim.clone();
        self.call(move |connection| {
            let user_id = claim.key.user_id.to_string();
            let inserted = connection
                .execute(
                    "INSERT INTO chat_actions (user_id, session_index, idempotency_key, action,
                         request_hash, result, claimed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)
                     ON CONFLICT DO NOTHING",
                    params![
                        user_id,
                        claim.key.session_index,
                        claim.idempotency_key,
                        claim.action,
                        claim.request_hash,
                        micros(claim.at),
                    ],
                )
                .map_err(map_error)?;
            if inserted > 0 {
                return Ok(ActionClaimed::Claimed);
            }
            // A claim whose process died midway is taken over once it is stale.
            let taken_over = connection
                .execute(
                    "UPDATE chat_actions SET claimed_at = ?6
                     WHERE user_id = ?1 AND session_index = ?2 AND idempotency_key = ?3
                       AND action = ?4 AND request_hash = ?5 AND result IS NULL
                       AND claimed_at < ?7",
                    params![
                        user_id,
                        claim.key.session_index,
                        claim.idempotency_key,
                        claim.action,
                        claim.request_hash,
                        micros(claim.at),
                        micros(claim.at - claim.stale_after),
                    ],
                )
                .map_err(map_error)?;
            if taken_over > 0 {
                return Ok(ActionClaimed::Claimed);
            }
            let existing: Option<(String, String, Option<String>)> = connection
                .query_row(
                    "SELECT action, request_hash, result FROM chat_actions
                     WHERE user_id = ?1 AND session_index = ?2 AND idempotency_key = ?3",
                    params![user_id, claim.key.session_index, claim.idempotency_key],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(map_error)?;
            Ok(match existing {
                Some((action, hash, _)) if action != claim.action || hash != claim.request_hash => {
                    ActionClaimed::Mismatch
                }
                Some((_, _, Some(result))) => ActionClaimed::Done(result),
                // Unfinished, or released between the statements: ask again later.
                Some((_, _, None)) | None => ActionClaimed::InProgress,
            })
        })
        .await
    }

    async fn finish_action(
        &self,
        key: AccountKey,
        idempotency_key: &str,
        result: &str,
    ) -> Result<()> {
        let (idempotency_key, result) = (idempotency_key.to_owned(), result.to_owned());
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE chat_actions SET result = ?4
                     WHERE user_id = ?1 AND session_index = ?2 AND idempotency_key = ?3",
                    params![
                        key.user_id.to_string(),
                        key.session_index,
                        idempotency_key,
                        result
                    ],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn release_action(&self, key: AccountKey, idempotency_key: &str) -> Result<()> {
        let idempotency_key = idempotency_key.to_owned();
        self.call(move |connection| {
            connection
                .execute(
                    "DELETE FROM chat_actions
                     WHERE user_id = ?1 AND session_index = ?2 AND idempotency_key = ?3
                       AND result IS NULL",
                    params![key.user_id.to_string(), key.session_index, idempotency_key],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }
}
