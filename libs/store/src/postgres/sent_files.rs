//! What each linked account sent to Telegram already (see [`SentFileStore`]).

use super::index;
use super::{PostgresStore, Prepared as _, Result, async_trait, map_error};
use crate::{AccountKey, SentFileStore};

#[async_trait]
impl SentFileStore for PostgresStore {
    async fn recall_sent_file(
        &self,
        key: AccountKey,
        sha256: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT media FROM sent_files
                 WHERE user_id = $1 AND session_index = $2 AND sha256 = $3 AND kind = $4",
                &[&key.user_id, &index(key)?, &sha256, &kind],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    async fn remember_sent_file(
        &self,
        key: AccountKey,
        sha256: &str,
        kind: &str,
        media: &[u8],
        keep: u32,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let session_index = index(key)?;
        // A cache of what Telegram already has (a lost row costs one upload again, a
        // stale reference is refused by Telegram and replaced): not worth a WAL flush
        // per send.
        let transaction = super::cache::cache_transaction(&mut client).await?;
        // One writer per account at a time: each remembered file gets the next seq.
        transaction
            .prepared_execute(
                "SELECT 1 FROM telegram_sessions
                 WHERE user_id = $1 AND session_index = $2 FOR UPDATE",
                &[&key.user_id, &session_index],
            )
            .await
            .map_err(map_error)?;
        // Only for a linked account: unlinking forgets the account's files.
        transaction
            .prepared_execute(
                "INSERT INTO sent_files (user_id, session_index, sha256, kind, media, seq)
                 SELECT $1::uuid, $2::int4, $3::text, $4::text, $5::bytea,
                        COALESCE((SELECT MAX(seq) FROM sent_files
                                  WHERE user_id = $1 AND session_index = $2), 0) + 1
                 WHERE EXISTS (SELECT 1 FROM telegram_sessions
                               WHERE user_id = $1 AND session_index = $2)
                 ON CONFLICT (user_id, session_index, sha256, kind)
                 DO UPDATE SET media = EXCLUDED.media, seq = EXCLUDED.seq",
                &[&key.user_id, &session_index, &sha256, &kind, &media],
            )
            .await
            .map_err(map_error)?;
        // The newest `keep` stay.
        transaction
            .prepared_execute(
                "DELETE FROM sent_files
                 WHERE user_id = $1 AND session_index = $2
                   AND seq < (SELECT seq FROM sent_files
                              WHERE user_id = $1 AND session_index = $2
                              ORDER BY seq DESC LIMIT 1 OFFSET $3)",
                &[&key.user_id, &session_index, &i64::from(keep.max(1) - 1)],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)
    }

    async fn forget_sent_file(&self, key: AccountKey, sha256: &str, kind: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "DELETE FROM sent_files
                 WHERE user_id = $1 AND session_index = $2 AND sha256 = $3 AND kind = $4",
                &[&key.user_id, &index(key)?, &sha256, &kind],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
