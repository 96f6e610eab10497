//! What each linked account sent to Telegram already (see [`SentFileStore`]).

use super::{OptionalExtension, Result, SqliteStore, async_trait, map_error, params};
use crate::{AccountKey, SentFileStore};

#[async_trait]
impl SentFileStore for SqliteStore {
    async fn recall_sent_file(
        &self,
        key: AccountKey,
        sha256: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>> {
        let (sha256, kind) = (sha256.to_owned(), kind.to_owned());
        self.call(move |connection| {
            connection
                .query_row(
                    "SELECT media FROM sent_files
                     WHERE user_id = ?1 AND session_index = ?2 AND sha256 = ?3 AND kind = ?4",
                    params![key.user_id.to_string(), key.session_index, sha256, kind],
                    |row| row.get(0),
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn remember_sent_file(
        &self,
        key: AccountKey,
        sha256: &str,
        kind: &str,
        media: &[u8],
        keep: u32,
    ) -> Result<()> {
        let (sha256, kind, media) = (sha256.to_owned(), kind.to_owned(), media.to_vec());
        self.call(move |connection| {
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let user_id = key.user_id.to_string();
            // Only for a linked account: unlinking forgets the account's files.
            transaction
                .execute(
                    "INSERT INTO sent_files (user_id, session_index, sha256, kind, media, seq)
                     SELECT ?1, ?2, ?3, ?4, ?5,
                            COALESCE((SELECT MAX(seq) FROM sent_files
                                      WHERE user_id = ?1 AND session_index = ?2), 0) + 1
                     WHERE EXISTS (SELECT 1 FROM telegram_sessions
                                   WHERE user_id = ?1 AND session_index = ?2)
                     ON CONFLICT (user_id, session_index, sha256, kind)
                     DO UPDATE SET media = excluded.media, seq = excluded.seq",
                    params![user_id, key.session_index, sha256, kind, media],
                )
                .map_err(map_error)?;
            // The newest `keep` stay.
            transaction
                .execute(
                    "DELETE FROM sent_files
                     WHERE user_id = ?1 AND session_index = ?2
                       AND seq < (SELECT seq FROM sent_files
                                  WHERE user_id = ?1 AND session_index = ?2
                                  ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
                    params![user_id, key.session_index, keep.max(1) - 1],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)
        })
        .await
    }

    async fn forget_sent_file(&self, key: AccountKey, sha256: &str, kind: &str) -> Result<()> {
        let (sha256, kind) = (sha256.to_owned(), kind.to_owned());
        self.call(move |connection| {
            connection
                .execute(
                    "DELETE FROM sent_files
                     WHERE user_id = ?1 AND session_index = ?2 AND sha256 = ?3 AND kind = ?4",
                    params![key.user_id.to_string(), key.session_index, sha256, kind],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }
}
