//! Send jobs.

use super::{
    DateTime, PostgresStore, Prepared as _, Result, Row, StoreError, Utc, Uuid, async_trait, index,
    map_error, shard_params,
};
use crate::{
    AccountKey, JobCreated, JobMedia, JobStatus, NewSendJob, SendJob, SendJobStore, shard_of,
};

fn job_from_row(row: &Row) -> Result<SendJob> {
    let status: String = row.get("status");
    let session_index: i32 = row.get("session_index");
    let attempts: i32 = row.get("attempts");
    Ok(SendJob {
        job: NewSendJob {
            job_id: row.get("job_id"),
            key: AccountKey {
                user_id: row.get("user_id"),
                session_index: u32::try_from(session_index)
                    .map_err(|_| StoreError::Internal(format!("session_index {session_index}")))?,
            },
            client_message_id: row.get("client_message_id"),
            chat_id: row.get("chat_id"),
            text: row.get("text"),
            reply_to: row.get("reply_to"),
            silent: row.get("silent"),
            random_id: row.get("random_id"),
            created_at: row.get("created_at"),
            media: row
                .get::<_, Option<String>>("media")
                .as_deref()
                .map(|json| {
                    JobMedia::from_json(json)
                        .ok_or_else(|| StoreError::Internal("unreadable send_jobs.media".into()))
                })
                .transpose()?,
        },
        seq: row.get("seq"),
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("unknown job status {status}")))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        message_id: row.get("message_id"),
        sent_date: row.get("sent_date"),
        failure: row.get("failure"),
        updated_at: row.get("updated_at"),
        published_at: row.get("published_at"),
    })
}

fn jobs_from_rows(rows: &[Row]) -> Result<Vec<SendJob>> {
    rows.iter().map(job_from_row).collect()
}

/// A job's insert; its values as they are.
const INSERT_JOB: &str = "INSERT INTO send_jobs (job_id, user_id, session_index, shard,
         client_message_id, chat_id, text, reply_to, silent, random_id, status, created_at,
         updated_at, media)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, $11, $12)
     ON CONFLICT DO NOTHING
     RETURNING *";

/// A job's insert only when its chat is in the account's cache. The parameters of an
/// INSERT .. SELECT are not typed by the columns: each is cast.
const INSERT_JOB_IN_KNOWN_CHAT: &str = "INSERT INTO send_jobs (job_id, user_id, session_index,
         shard, client_message_id, chat_id, text, reply_to, silent, random_id, status,
         created_at, updated_at, media)
     SELECT $1::uuid, $2::uuid, $3::integer, $4::smallint, $5::text, $6::bigint,
            $7::text, $8::integer, $9::boolean, $10::bigint, 'queued',
            $11::timestamptz, $11::timestamptz, $12::text
     WHERE EXISTS (SELECT 1 FROM tg_chats
                   WHERE user_id = $2 AND session_index = $3 AND chat_id = $6)
     ON CONFLICT DO NOTHING
     RETURNING *";

impl PostgresStore {
    /// Writes `job` (only into a chat the account's cache knows, when `check_chat`); a
    /// repeated key answers the first job. `None`: nothing written and no first job (with
    /// `check_chat`, the chat is unknown).
    async fn create_job(&self, job: &NewSendJob, check_chat: bool) -> Result<Option<JobCreated>> {
        let client = self.client().await?;
        let shard = i16::try_from(shard_of(job.key.user_id, job.key.session_index)).unwrap_or(0);
        let created = client
            .prepared_query_opt(
                if check_chat {
                    INSERT_JOB_IN_KNOWN_CHAT
                } else {
                    INSERT_JOB
                },
                &[
                    &job.job_id,
                    &job.key.user_id,
                    &index(job.key)?,
                    &shard,
                    &job.client_message_id,
                    &job.chat_id,
                    &job.text,
                    &job.reply_to,
                    &job.silent,
                    &job.random_id,
                    &job.created_at,
                    &job.media.as_ref().map(JobMedia::to_json),
                ],
            )
            .await
            .map_err(map_error)?;
        if let Some(row) = created {
            return Ok(Some(JobCreated::New(job_from_row(&row)?)));
        }
        // A repeated key (or, with `check_chat`, the chat unknown): the first job, if any.
        let existing = client
            .prepared_query_opt(
                "SELECT * FROM send_jobs
                 WHERE job_id = $1
                    OR (user_id = $2 AND session_index = $3 AND client_message_id = $4)",
                &[
                    &job.job_id,
                    &job.key.user_id,
                    &index(job.key)?,
                    &job.client_message_id,
                ],
            )
            .await
            .map_err(map_error)?;
        existing
            .as_ref()
            .map(|row| job_from_row(row).map(JobCreated::Existing))
            .transpose()
    }
}

#[async_trait]
impl SendJobStore for PostgresStore {
    #[tracing::instrument(skip_all)]
    async fn create_send_job(&self, job: &NewSendJob) -> Result<JobCreated> {
        self.create_job(job, false)
            .await?
            .ok_or(StoreError::Conflict("send_jobs.job_id"))
    }

    async fn create_send_job_in_known_chat(&self, job: &NewSendJob) -> Result<Option<JobCreated>> {
        self.create_job(job, true).await
    }

    async fn send_job(&self, key: AccountKey, job_id: Uuid) -> Result<Option<SendJob>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "SELECT * FROM send_jobs WHERE job_id = $1 AND user_id = $2 AND session_index = $3",
                &[&job_id, &key.user_id, &index(key)?],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn mark_job_published(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE send_jobs SET published_at = $2
                 WHERE job_id = $1 AND published_at IS NULL AND status IN ('queued', 'sending')",
                &[&job_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn pending_jobs(&self, key: AccountKey, limit: u32) -> Result<Vec<SendJob>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT * FROM send_jobs
                 WHERE user_id = $1 AND session_index = $2 AND status IN ('queued', 'sending')
                 ORDER BY seq LIMIT $3",
                &[&key.user_id, &index(key)?, &i64::from(limit.max(1))],
            )
            .await
            .map_err(map_error)?;
        jobs_from_rows(&rows)
    }

    async fn unpublished_jobs(
        &self,
        shards: &[u16],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SendJob>> {
        let shards = shard_params(shards);
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT * FROM send_jobs
                 WHERE shard = ANY($1) AND published_at IS NULL
                   AND status IN ('queued', 'sending') AND created_at < $2
                 ORDER BY seq LIMIT $3",
                &[&shards, &before, &i64::from(limit.max(1))],
            )
            .await
            .map_err(map_error)?;
        jobs_from_rows(&rows)
    }

    async fn accounts_with_waiting_jobs(
        &self,
        shards: &[u16],
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AccountKey>> {
        let shards = shard_params(shards);
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT DISTINCT user_id, session_index FROM send_jobs
                 WHERE shard = ANY($1) AND status IN ('queued', 'sending') AND created_at < $2
                 LIMIT $3",
                &[&shards, &before, &i64::from(limit.max(1))],
            )
            .await
            .map_err(map_error)?;
        rows.iter()
            .map(|row| {
                let session_index: i32 = row.get("session_index");
                Ok(AccountKey {
                    user_id: row.get("user_id"),
                    session_index: u32::try_from(session_index)
                        .map_err(|_| StoreError::Internal("negative session index".into()))?,
                })
            })
            .collect()
    }

    async fn claim_job(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<Option<SendJob>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "UPDATE send_jobs SET status = 'sending', attempts = attempts + 1, updated_at = $2
                 WHERE job_id = $1 AND status IN ('queued', 'sending')
                 RETURNING *",
                &[&job_id, &at],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn claim_job_in_order(
        &self,
        key: AccountKey,
        job_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "UPDATE send_jobs SET status = 'sending', attempts = attempts + 1, updated_at = $4
                 WHERE job_id = $1 AND user_id = $2 AND session_index = $3
                   AND status IN ('queued', 'sending')
                   AND NOT EXISTS (
                       SELECT 1 FROM send_jobs older
                       WHERE older.user_id = $2 AND older.session_index = $3
                         AND older.status IN ('queued', 'sending') AND older.seq < send_jobs.seq)
                 RETURNING *",
                &[&job_id, &key.user_id, &index(key)?, &at],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn requeue_job(&self, job_id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE send_jobs SET status = 'queued', updated_at = $2
                 WHERE job_id = $1 AND status = 'sending'",
                &[&job_id, &at],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn complete_job(
        &self,
        job_id: Uuid,
        message_id: i32,
        sent_date: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "UPDATE send_jobs SET status = 'sent', message_id = $2, sent_date = $3,
                     updated_at = $4
                 WHERE job_id = $1 AND status IN ('queued', 'sending')
                 RETURNING *",
                &[&job_id, &message_id, &sent_date, &at],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn fail_job(
        &self,
        job_id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<SendJob>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "UPDATE send_jobs SET status = 'failed', failure = $2, updated_at = $3
                 WHERE job_id = $1 AND status IN ('queued', 'sending')
                 RETURNING *",
                &[&job_id, &reason, &at],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn mark_jobs_read(
        &self,
        key: AccountKey,
        chat_id: i64,
        max_id: i32,
        at: DateTime<Utc>,
    ) -> Result<Vec<SendJob>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "UPDATE send_jobs SET status = 'read', updated_at = $5
                 WHERE user_id = $1 AND session_index = $2 AND chat_id = $3
                   AND status = 'sent' AND message_id <= $4
                 RETURNING *",
                &[&key.user_id, &index(key)?, &chat_id, &max_id, &at],
            )
            .await
            .map_err(map_error)?;
        let mut jobs = jobs_from_rows(&rows)?;
        jobs.sort_by_key(|job| job.seq);
        Ok(jobs)
    }
}
