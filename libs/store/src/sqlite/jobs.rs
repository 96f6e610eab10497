//! Send jobs. `seq` is the table's rowid, which only grows (AUTOINCREMENT).

use super::{
    CachedStatements, DateTime, OptionalExtension, Result, Row, SqliteStore, Utc, Uuid,
    async_trait, json_ids, map_error, micros, optional_time_at, params, time_at, uuid_at,
};
use crate::{
    AccountKey, JobCreated, JobMedia, JobStatus, NewSendJob, SendJob, SendJobStore, StoreError,
    shard_of,
};

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<SendJob> {
    let status: String = row.get("status")?;
    Ok(SendJob {
        job: NewSendJob {
            job_id: uuid_at(row, "job_id")?,
            key: AccountKey {
                user_id: uuid_at(row, "user_id")?,
                session_index: row.get("session_index")?,
            },
            client_message_id: row.get("client_message_id")?,
            chat_id: row.get("chat_id")?,
            text: row.get("text")?,
            reply_to: row.get("reply_to")?,
            silent: row.get("silent")?,
            random_id: row.get("random_id")?,
            created_at: time_at(row, "created_at")?,
            media: row
                .get::<_, Option<String>>("media")?
                .as_deref()
                .map(|json| JobMedia::from_json(json).ok_or_else(|| super::invalid("media")))
                .transpose()?,
        },
        seq: row.get("seq")?,
        status: JobStatus::parse(&status).ok_or_else(|| super::invalid("status"))?,
        attempts: row.get("attempts")?,
        message_id: row.get("message_id")?,
        sent_date: row.get("sent_date")?,
        failure: row.get("failure")?,
        updated_at: time_at(row, "updated_at")?,
        published_at: optional_time_at(row, "published_at")?,
    })
}

fn jobs(
    connection: &rusqlite::Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<SendJob>> {
    let mut statement = connection.prepare_cached(sql).map_err(map_error)?;
    let rows = statement
        .query_map(parameters, job_from_row)
        .map_err(map_error)?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(map_error)
}

impl SqliteStore {
    /// Records a job (only in a chat the cache knows, with `in_known_chat`: `None` when
    /// it does not); a repeated idempotency key answers the first job.
    async fn create_job(
        &self,
        job: &NewSendJob,
        in_known_chat: bool,
    ) -> Result<Option<JobCreated>> {
        let job = job.clone();
        self.call(move |connection| {
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let existing = transaction
                .query_row_cached(
                    "SELECT * FROM send_jobs WHERE job_id = ?1
                        OR (user_id = ?2 AND session_index = ?3 AND client_message_id = ?4)",
                    params![
                        job.job_id.to_string(),
                        job.key.user_id.to_string(),
                        job.key.session_index,
                        job.client_message_id,
                    ],
                    job_from_row,
                )
                .optional()
                .map_err(map_error)?;
            if let Some(existing) = existing {
                return Ok(Some(JobCreated::Existing(existing)));
            }
            if in_known_chat {
                let known: bool = transaction
                    .query_row_cached(
                        "SELECT EXISTS (SELECT 1 FROM tg_chats
                             WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3)",
                        params![
                            job.key.user_id.to_string(),
                            job.key.session_index,
                            job.chat_id
                        ],
                        |row| row.get(0),
                    )
                    .map_err(map_error)?;
                if !known {
                    return Ok(None);
                }
            }
            let created = transaction
                .query_row_cached(
                    "INSERT INTO send_jobs (job_id, user_id, session_index, shard,
                         client_message_id, chat_id, text, reply_to, silent, random_id, status,
                         created_at, updated_at, media)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'queued', ?11, ?11, ?12)
                     RETURNING *",
                    params![
                        job.job_id.to_string(),
                        job.key.user_id.to_string(),
                        job.key.session_index,
                        shard_of(job.key.user_id, job.key.session_index),
                        job.client_message_id,
                        job.chat_id,
                        job.text,
                        job.reply_to,
                        job.silent,
                        job.random_id,
                        micros(job.created_at),
                        job.media.as_ref().map(JobMedia::to_json),
                    ],
                    job_from_row,
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)?;
            Ok(Some(JobCreated::New(created)))
        })
        .await
    }
}

#[async_trait]
impl SendJobStore for SqliteStore {
    async fn create_send_job(&self, job: &NewSendJob) -> Result<JobCreated> {
        self.create_job(job, false)
            .await?
            .ok_or_else(|| StoreError::Internal("a job without a chat check was not made".into()))
    }

    async fn create_send_job_in_known_chat(&self, job: &NewSendJob) -> Result<Option<JobCreated>> {
        self.create_job(job, true).await
    }

    async fn send_job(&self, key: AccountKey, job_id: Uuid) -> Result<Option<SendJob>> {
        self.read(move |connection| {
            connection
                .query_row_cached(
                    "SELECT * FROM send_jobs
                     WHERE job_id = ?1 AND user_id = ?2 AND session_index = ?3",
                    params![
                        job_id.to_string(),
                        key.user_id.to_string(),
                        key.session_index
                    ],
                    job_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn mark_job_published(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE send_jobs SET published_at = ?2
                     WHERE job_id = ?1 AND published_at IS NULL
                       AND status IN ('queued', 'sending')",
                    params![job_id.to_string(), micros(at)],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn pending_jobs(&self, key: AccountKey, limit: u32) -> Result<Vec<SendJob>> {
        self.read(move |connection| {
            jobs(
                connection,
                "SELECT * FROM send_jobs
                 WHERE user_id = ?1 AND session_index = ?2 AND status IN ('queued', 'sending')
                 ORDER BY seq LIMIT ?3",
                params![key.user_id.to_string(), key.session_index, limit.max(1)],
            )
        })
        .await
    }

    async fn unpublished_jobs(
        &self,
        shards: &[u16],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SendJob>> {
        let shards = json_ids(shards);
        self.call(move |connection| {
            jobs(
                connection,
                "SELECT * FROM send_jobs
                 WHERE shard IN (SELECT value FROM json_each(?1)) AND published_at IS NULL
                   AND status IN ('queued', 'sending') AND created_at < ?2
                 ORDER BY seq LIMIT ?3",
                params![shards, micros(before), limit.max(1)],
            )
        })
        .await
    }

    async fn accounts_with_waiting_jobs(
        &self,
        shards: &[u16],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AccountKey>> {
        let shards = json_ids(shards);
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT DISTINCT user_id, session_index FROM send_jobs
                     WHERE shard IN (SELECT value FROM json_each(?1))
                       AND status IN ('queued', 'sending') AND created_at < ?2
                     LIMIT ?3",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![shards, micros(before), limit.max(1)], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(map_error)?;
            rows.map(|row| {
                let (user_id, session_index) = row.map_err(map_error)?;
                Ok(AccountKey {
                    user_id: Uuid::parse_str(&user_id)
                        .map_err(|error| StoreError::Internal(error.to_string()))?,
                    session_index: u32::try_from(session_index)
                        .map_err(|_| StoreError::Internal("bad session index".into()))?,
                })
            })
            .collect()
        })
        .await
    }

    async fn claim_job(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<Option<SendJob>> {
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "UPDATE send_jobs SET status = 'sending', attempts = attempts + 1,
                         updated_at = ?2
                     WHERE job_id = ?1 AND status IN ('queued', 'sending')
                     RETURNING *",
                    params![job_id.to_string(), micros(at)],
                    job_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn claim_job_in_order(
        &self,
        key: AccountKey,
        job_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>> {
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "UPDATE send_jobs SET status = 'sending', attempts = attempts + 1,
                         updated_at = ?4
                     WHERE job_id = ?1 AND user_id = ?2 AND session_index = ?3
                       AND status IN ('queued', 'sending')
                       AND NOT EXISTS (
                           SELECT 1 FROM send_jobs older
                           WHERE older.user_id = ?2 AND older.session_index = ?3
                             AND older.status IN ('queued', 'sending')
                             AND older.seq < send_jobs.seq)
                     RETURNING *",
                    params![
                        job_id.to_string(),
                        key.user_id.to_string(),
                        key.session_index,
                        micros(at)
                    ],
                    job_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn requeue_job(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE send_jobs SET status = 'queued', updated_at = ?2
                     WHERE job_id = ?1 AND status = 'sending'",
                    params![job_id.to_string(), micros(at)],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn complete_job(
        &self,
        job_id: Uuid,
        message_id: i32,
        sent_date: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>> {
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "UPDATE send_jobs SET status = 'sent', message_id = ?2, sent_date = ?3,
                         updated_at = ?4
                     WHERE job_id = ?1 AND status IN ('queued', 'sending')
                     RETURNING *",
                    params![job_id.to_string(), message_id, sent_date, micros(at)],
                    job_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn fail_job(
        &self,
        job_id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>> {
        let reason = reason.to_owned();
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "UPDATE send_jobs SET status = 'failed', failure = ?2, updated_at = ?3
                     WHERE job_id = ?1 AND status IN ('queued', 'sending')
                     RETURNING *",
                    params![job_id.to_string(), reason, micros(at)],
                    job_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn mark_jobs_read(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: i32,
        at: DateTime<Utc>,
    ) -> Result<Vec<SendJob>> {
        self.call(move |connection| {
            let mut read = jobs(
                connection,
                "UPDATE send_jobs SET status = 'read', updated_at = ?5
                 WHERE user_id = ?1 AND session_index = ?2 AND chat_id = ?3
                   AND status = 'sent' AND message_id <= ?4
                 RETURNING *",
                params![
                    key.user_id.to_string(),
                    key.session_index,
                    chat_id,
                    max_id,
                    micros(at)
                ],
            )?;
            read.sort_by_key(|job| job.seq);
            Ok(read)
        })
        .await
    }
}
