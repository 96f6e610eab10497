//! Uploaded files, blobs, quotas and pins (see [`crate::media`] for the protocol).

use super::{
    DateTime, PostgresStore, Prepared as _, Result, Row, StoreError, Utc, Uuid, async_trait,
    map_error,
};
use crate::{MediaBlob, MediaFile, MediaKind, MediaStore, PreviewEnd, PreviewFinish, Reservation};

const FILE_COLUMNS: &str = "f.file_id, f.user_id, f.file_name, f.created_at AS file_created_at,
     b.sha256, b.size, b.mime, b.kind, b.width, b.height, b.duration_ms, b.waveform,
     b.preview_size, b.preview_pending, b.preview_skipped, b.created_at";

fn to_i64(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Internal(format!("{what} {value} out of range")))
}

fn blob_from_row(row: &Row) -> Result<MediaBlob> {
    let kind: String = row.get("kind");
    let size: i64 = row.get("size");
    let width: Option<i32> = row.get("width");
    let height: Option<i32> = row.get("height");
    let duration_ms: Option<i64> = row.get("duration_ms");
    let preview_size: Option<i64> = row.get("preview_size");
    Ok(MediaBlob {
        sha256: row.get("sha256"),
        size: u64::try_from(size).map_err(|_| StoreError::Internal(format!("size {size}")))?,
        mime: row.get("mime"),
        kind: MediaKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown media kind {kind}")))?,
        width: width.and_then(|value| u32::try_from(value).ok()),
        height: height.and_then(|value| u32::try_from(value).ok()),
        duration_ms: duration_ms.and_then(|value| u64::try_from(value).ok()),
        waveform: row.get("waveform"),
        preview_size: preview_size.and_then(|value| u64::try_from(value).ok()),
        preview_pending: row.get("preview_pending"),
        preview_skipped: row.get("preview_skipped"),
        created_at: row.get("created_at"),
    })
}

fn file_from_row(row: &Row) -> Result<MediaFile> {
    Ok(MediaFile {
        file_id: row.get("file_id"),
        user_id: row.get("user_id"),
        file_name: row.get("file_name"),
        created_at: row.get("file_created_at"),
        blob: blob_from_row(row)?,
    })
}

#[async_trait]
impl MediaStore for PostgresStore {
    async fn ping_media(&self) -> Result<()> {
        // The same database as the rest of the store.
        crate::StoreHealth::ping(self).await
    }

    async fn reserve_media_file(&self, file: &MediaFile, quota_bytes: u64) -> Result<Reservation> {
        let blob = &file.blob;
        let size = to_i64(blob.size, "size")?;
        let quota = to_i64(quota_bytes, "quota")?;
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        if size > quota {
            let used: Option<i64> = transaction
                .prepared_query_opt(
                    "SELECT bytes FROM media_usage WHERE user_id = $1",
                    &[&file.user_id],
                )
                .await
                .map_err(map_error)?
                .map(|row| row.get(0));
            return Ok(Reservation::QuotaExceeded {
                used: used.and_then(|used| u64::try_from(used).ok()).unwrap_or(0),
            });
        }
        // One statement adds the size only while the total stays within the quota (the
        // row lock serialises a user's concurrent uploads).
        let counted = transaction
            .prepared_query_opt(
                "INSERT INTO media_usage (user_id, bytes) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET bytes = media_usage.bytes + EXCLUDED.bytes
                 WHERE media_usage.bytes + EXCLUDED.bytes <= $3
                 RETURNING bytes",
                &[&file.user_id, &size, &quota],
            )
            .await
            .map_err(map_error)?;
        if counted.is_none() {
            let used: i64 = transaction
                .prepared_query_one(
                    "SELECT bytes FROM media_usage WHERE user_id = $1",
                    &[&file.user_id],
                )
                .await
                .map_err(map_error)?
                .get(0);
            return Ok(Reservation::QuotaExceeded {
                used: u64::try_from(used).unwrap_or(0),
            });
        }
        // Insert the blob, or lock the existing row while it is live: a collection that
        // marked it `deleting` first wins, and this upload tries again.
        let width = blob
            .width
            .map(|value| i32::try_from(value).unwrap_or(i32::MAX));
        let height = blob
            .height
            .map(|value| i32::try_from(value).unwrap_or(i32::MAX));
        let duration_ms = blob
            .duration_ms
            .map(|value| to_i64(value, "duration_ms"))
            .transpose()?;
        let preview_size = blob
            .preview_size
            .map(|value| to_i64(value, "preview_size"))
            .transpose()?;
        let live = transaction
            .prepared_query_opt(
                "INSERT INTO media_blobs (sha256, size, mime, kind, width, height, duration_ms,
                                          waveform, preview_size, preview_pending, state,
                                          created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, 'live', $10)
                 ON CONFLICT (sha256) DO UPDATE SET state = media_blobs.state
                 WHERE media_blobs.state = 'live'
                 RETURNING sha256",
                &[
                    &blob.sha256,
                    &size,
                    &blob.mime,
                    &blob.kind.as_str(),
                    &width,
                    &height,
                    &duration_ms,
                    &blob.waveform,
                    &preview_size,
                    &blob.created_at,
                    &blob.preview_pending,
                ],
            )
            .await
            .map_err(map_error)?;
        if live.is_none() {
            transaction.rollback().await.map_err(map_error)?;
            return Ok(Reservation::BlobBusy);
        }
        transaction
            .prepared_execute(
                "INSERT INTO media_files (file_id, user_id, sha256, file_name, state, created_at)
                 VALUES ($1, $2, $3, $4, 'pending', $5)",
                &[
                    &file.file_id,
                    &file.user_id,
                    &blob.sha256,
                    &file.file_name,
                    &file.created_at,
                ],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        Ok(Reservation::Reserved)
    }

    async fn complete_media_file(&self, file_id: Uuid) -> Result<Option<MediaFile>> {
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE media_files SET state = 'ready' WHERE file_id = $1 AND state = 'pending'",
                &[&file_id],
            )
            .await
            .map_err(map_error)?;
        if updated == 0 {
            return Ok(None);
        }
        let row = client
            .prepared_query_opt(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM media_files f JOIN media_blobs b USING (sha256)
                     WHERE f.file_id = $1"
                ),
                &[&file_id],
            )
            .await
            .map_err(map_error)?;
        row.as_ref().map(file_from_row).transpose()
    }

    async fn abort_media_file(&self, file_id: Uuid) -> Result<bool> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        let removed = transaction
            .prepared_query_opt(
                "DELETE FROM media_files f USING media_blobs b
                 WHERE f.file_id = $1 AND f.state = 'pending' AND b.sha256 = f.sha256
                 RETURNING f.user_id, b.size",
                &[&file_id],
            )
            .await
            .map_err(map_error)?;
        let Some(removed) = removed else {
            return Ok(false);
        };
        let user_id: Uuid = removed.get("user_id");
        let size: i64 = removed.get("size");
        transaction
            .prepared_execute(
                "UPDATE media_usage SET bytes = GREATEST(bytes - $2, 0) WHERE user_id = $1",
                &[&user_id, &size],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        Ok(true)
    }

    async fn media_file(&self, user_id: Uuid, file_id: Uuid) -> Result<Option<MediaFile>> {
        let client = self.client().await?;
        let row = client
            .prepared_query_opt(
                &format!(
                    "SELECT {FILE_COLUMNS} FROM media_files f JOIN media_blobs b USING (sha256)
                     WHERE f.file_id = $1 AND f.user_id = $2 AND f.state = 'ready'"
                ),
                &[&file_id, &user_id],
            )
            .await
            .map_err(map_error)?;
        row.as_ref().map(file_from_row).transpose()
    }

    async fn delete_media_file(&self, user_id: Uuid, file_id: Uuid) -> Result<Option<String>> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        let removed = transaction
            .prepared_query_opt(
                "DELETE FROM media_files f USING media_blobs b
                 WHERE f.file_id = $1 AND f.user_id = $2 AND f.state = 'ready'
                   AND b.sha256 = f.sha256
                 RETURNING b.sha256, b.size",
                &[&file_id, &user_id],
            )
            .await
            .map_err(map_error)?;
        let Some(removed) = removed else {
            return Ok(None);
        };
        let size: i64 = removed.get("size");
        transaction
            .prepared_execute(
                "UPDATE media_usage SET bytes = GREATEST(bytes - $2, 0) WHERE user_id = $1",
                &[&user_id, &size],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        Ok(Some(removed.get("sha256")))
    }

    async fn media_usage(&self, user_id: Uuid) -> Result<u64> {
        let client = self.client().await?;
        let used: Option<i64> = client
            .prepared_query_opt(
                "SELECT bytes FROM media_usage WHERE user_id = $1",
                &[&user_id],
            )
            .await
            .map_err(map_error)?
            .map(|row| row.get(0));
        Ok(used.and_then(|used| u64::try_from(used).ok()).unwrap_or(0))
    }

    async fn pin_media_file(
        &self,
        user_id: Uuid,
        file_id: Uuid,
        job_id: Uuid,
    ) -> Result<Option<MediaFile>> {
        let client = self.client().await?;
        // The file row is locked while the pin is added, so a concurrent delete comes
        // either before (no pin) or after (the pin holds the blob); the file and its blob
        // are answered from the same statement.
        let row = client
            .prepared_query_opt(
                &format!(
                    "WITH file AS (
                         SELECT file_id, user_id, file_name, created_at, sha256 FROM media_files
                         WHERE file_id = $1 AND user_id = $2 AND state = 'ready' FOR SHARE
                     ), pin AS (
                         INSERT INTO media_pins (job_id, file_id, sha256)
                         SELECT $3, file_id, sha256 FROM file
                         ON CONFLICT (job_id, file_id) DO UPDATE SET sha256 = EXCLUDED.sha256
                         RETURNING sha256
                     )
                     SELECT {FILE_COLUMNS} FROM file f JOIN pin p ON p.sha256 = f.sha256
                     JOIN media_blobs b ON b.sha256 = p.sha256"
                ),
                &[&file_id, &user_id, &job_id],
            )
            .await
            .map_err(map_error)?;
        row.as_ref().map(file_from_row).transpose()
    }

    async fn pinned_media_blob(&self, job_id: Uuid, file_id: Uuid) -> Result<Option<MediaBlob>> {
        let client = self.client().await?;
        client
            .prepared_query_opt(
                "SELECT b.* FROM media_pins p JOIN media_blobs b ON b.sha256 = p.sha256
                 WHERE p.job_id = $1 AND p.file_id = $2",
                &[&job_id, &file_id],
            )
            .await
            .map_err(map_error)?
            .as_ref()
            .map(blob_from_row)
            .transpose()
    }

    async fn release_media_pins(&self, job_id: Uuid) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "DELETE FROM media_pins WHERE job_id = $1 RETURNING sha256",
                &[&job_id],
            )
            .await
            .map_err(map_error)?;
        let mut released: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        released.sort();
        released.dedup();
        Ok(released)
    }

    async fn claim_unreferenced_blob(&self, sha256: &str) -> Result<Option<MediaBlob>> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(map_error)?;
        // Lock first, check after, in separate statements: under READ COMMITTED the check
        // then sees every reference committed before the lock was granted.
        let locked = transaction
            .prepared_query_opt(
                "SELECT * FROM media_blobs WHERE sha256 = $1 FOR UPDATE",
                &[&sha256],
            )
            .await
            .map_err(map_error)?;
        let Some(locked) = locked else {
            return Ok(None);
        };
        let referenced: bool = transaction
            .prepared_query_one(
                "SELECT EXISTS (SELECT 1 FROM media_files WHERE sha256 = $1)
                     OR EXISTS (SELECT 1 FROM media_pins WHERE sha256 = $1)",
                &[&sha256],
            )
            .await
            .map_err(map_error)?
            .get(0);
        if referenced {
            return Ok(None);
        }
        transaction
            .prepared_execute(
                "UPDATE media_blobs SET state = 'deleting' WHERE sha256 = $1",
                &[&sha256],
            )
            .await
            .map_err(map_error)?;
        transaction.commit().await.map_err(map_error)?;
        blob_from_row(&locked).map(Some)
    }

    async fn forget_blob(&self, sha256: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "DELETE FROM media_blobs WHERE sha256 = $1 AND state = 'deleting'",
                &[&sha256],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn unreferenced_blobs(&self, limit: u32) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT b.sha256 FROM media_blobs b
                 WHERE b.state = 'deleting'
                    OR (NOT EXISTS (SELECT 1 FROM media_files f WHERE f.sha256 = b.sha256)
                        AND NOT EXISTS (SELECT 1 FROM media_pins p WHERE p.sha256 = b.sha256))
                 ORDER BY b.sha256 LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn claim_blob_preview(
        &self,
        sha256: &str,
        claim: Uuid,
        lease: std::time::Duration,
    ) -> Result<bool> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE media_blobs
                 SET preview_claim = $2,
                     preview_claim_until = now() + $3::bigint * interval '1 millisecond'
                 WHERE sha256 = $1 AND state = 'live' AND preview_pending
                   AND (preview_claim_until IS NULL OR preview_claim_until < now())",
                &[&sha256, &claim, &lease_ms],
            )
            .await
            .map_err(map_error)?;
        Ok(updated == 1)
    }

    async fn release_blob_preview(&self, sha256: &str, claim: Uuid) -> Result<()> {
        let client = self.client().await?;
        client
            .prepared_execute(
                "UPDATE media_blobs SET preview_claim = NULL, preview_claim_until = NULL
                 WHERE sha256 = $1 AND preview_claim = $2",
                &[&sha256, &claim],
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn finish_blob_preview(
        &self,
        sha256: &str,
        claim: Option<Uuid>,
        end: PreviewEnd,
    ) -> Result<PreviewFinish> {
        let (preview_size, skipped) = match end {
            PreviewEnd::Made(size) => (Some(to_i64(size, "preview_size")?), false),
            PreviewEnd::None => (None, false),
            PreviewEnd::Skipped => (None, true),
        };
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE media_blobs
                 SET preview_size = $2, preview_pending = false, preview_skipped = $4,
                     preview_claim = NULL, preview_claim_until = NULL
                 WHERE sha256 = $1 AND state = 'live' AND preview_pending
                   AND CASE WHEN $3::uuid IS NULL
                            THEN preview_claim_until IS NULL OR preview_claim_until < now()
                            ELSE preview_claim IS NOT DISTINCT FROM $3::uuid END",
                &[&sha256, &preview_size, &claim, &skipped],
            )
            .await
            .map_err(map_error)?;
        if updated == 1 {
            return Ok(PreviewFinish::Recorded);
        }
        let live = client
            .prepared_query_opt(
                "SELECT 1 FROM media_blobs WHERE sha256 = $1 AND state = 'live'",
                &[&sha256],
            )
            .await
            .map_err(map_error)?;
        Ok(if live.is_some() {
            PreviewFinish::NotClaimed
        } else {
            PreviewFinish::Gone
        })
    }

    async fn requeue_skipped_preview(&self, sha256: &str) -> Result<bool> {
        let client = self.client().await?;
        let updated = client
            .prepared_execute(
                "UPDATE media_blobs
                 SET preview_pending = true, preview_skipped = false,
                     preview_claim = NULL, preview_claim_until = NULL
                 WHERE sha256 = $1 AND state = 'live' AND preview_skipped",
                &[&sha256],
            )
            .await
            .map_err(map_error)?;
        Ok(updated == 1)
    }

    async fn blobs_awaiting_preview(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<MediaBlob>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT * FROM media_blobs
                 WHERE preview_pending AND state = 'live'
                   AND ((preview_claim_until IS NULL AND created_at < $1)
                        OR preview_claim_until < now())
                 ORDER BY created_at LIMIT $2",
                &[&before, &i64::from(limit)],
            )
            .await
            .map_err(map_error)?;
        rows.iter().map(blob_from_row).collect()
    }

    async fn stale_pending_files(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<Uuid>> {
        let client = self.client().await?;
        let rows = client
            .prepared_query(
                "SELECT file_id FROM media_files WHERE state = 'pending' AND created_at < $1
                 ORDER BY created_at LIMIT $2",
                &[&before, &i64::from(limit)],
            )
            .await
            .map_err(map_error)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}
