//! Uploaded files, blobs, quotas and pins (see [`crate::media`] for the protocol). One
//! connection serialises every call, so each method's transaction is the whole story.

use rusqlite::{OptionalExtension as _, Transaction};

use super::{
    CachedStatements, DateTime, Result, Row, SqliteStore, StoreError, Utc, Uuid, async_trait,
    map_error, micros, params, time_at, uuid_at,
};
use crate::{MediaBlob, MediaFile, MediaKind, MediaStore, PreviewEnd, PreviewFinish, Reservation};

const FILE_COLUMNS: &str = "f.file_id, f.user_id, f.file_name, f.created_at AS file_created_at,
     b.sha256, b.size, b.mime, b.kind, b.width, b.height, b.duration_ms, b.waveform,
     b.preview_size, b.preview_pending, b.preview_skipped, b.created_at";

fn to_i64(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Internal(format!("{what} {value} out of range")))
}

fn blob_from_row(row: &Row<'_>) -> rusqlite::Result<MediaBlob> {
    let kind: String = row.get("kind")?;
    let size: i64 = row.get("size")?;
    let width: Option<i64> = row.get("width")?;
    let height: Option<i64> = row.get("height")?;
    let duration_ms: Option<i64> = row.get("duration_ms")?;
    let preview_size: Option<i64> = row.get("preview_size")?;
    Ok(MediaBlob {
        sha256: row.get("sha256")?,
        size: u64::try_from(size).map_err(|_| super::invalid("size"))?,
        mime: row.get("mime")?,
        kind: MediaKind::parse(&kind).ok_or_else(|| super::invalid("kind"))?,
        width: width.and_then(|value| u32::try_from(value).ok()),
        height: height.and_then(|value| u32::try_from(value).ok()),
        duration_ms: duration_ms.and_then(|value| u64::try_from(value).ok()),
        waveform: row.get("waveform")?,
        preview_size: preview_size.and_then(|value| u64::try_from(value).ok()),
        preview_pending: row.get("preview_pending")?,
        preview_skipped: row.get("preview_skipped")?,
        created_at: time_at(row, "created_at")?,
    })
}

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<MediaFile> {
    Ok(MediaFile {
        file_id: uuid_at(row, "file_id")?,
        user_id: uuid_at(row, "user_id")?,
        file_name: row.get("file_name")?,
        created_at: time_at(row, "file_created_at")?,
        blob: blob_from_row(row)?,
    })
}

fn usage(transaction: &Transaction<'_>, user_id: Uuid) -> Result<u64> {
    let used: Option<i64> = transaction
        .query_row_cached(
            "SELECT bytes FROM media_usage WHERE user_id = ?1",
            [user_id.to_string()],
            |row| row.get(0),
        )
        .optional()
        .map_err(map_error)?;
    Ok(used.and_then(|used| u64::try_from(used).ok()).unwrap_or(0))
}

fn refund(transaction: &Transaction<'_>, user_id: &str, size: i64) -> Result<()> {
    transaction
        .execute_cached(
            "UPDATE media_usage SET bytes = MAX(bytes - ?2, 0) WHERE user_id = ?1",
            params![user_id, size],
        )
        .map(drop)
        .map_err(map_error)
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn ping_media(&self) -> Result<()> {
        // The same database as the rest of the store.
        crate::StoreHealth::ping(self).await
    }

    async fn reserve_media_file(&self, file: &MediaFile, quota_bytes: u64) -> Result<Reservation> {
        let file = file.clone();
        self.call(move |connection| {
            let blob = &file.blob;
            let size = to_i64(blob.size, "size")?;
            let transaction = connection.transaction().map_err(map_error)?;
            let used = usage(&transaction, file.user_id)?;
            if used.saturating_add(blob.size) > quota_bytes {
                return Ok(Reservation::QuotaExceeded { used });
            }
            let state: Option<String> = transaction
                .query_row_cached(
                    "SELECT state FROM media_blobs WHERE sha256 = ?1",
                    [&blob.sha256],
                    |row| row.get(0),
                )
                .optional()
                .map_err(map_error)?;
            match state.as_deref() {
                Some("live") => {}
                Some(_) => return Ok(Reservation::BlobBusy),
                None => {
                    transaction
                        .execute_cached(
                            "INSERT INTO media_blobs (sha256, size, mime, kind, width, height,
                                 duration_ms, waveform, preview_size, preview_pending, state,
                                 created_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, 'live', ?10)",
                            params![
                                blob.sha256,
                                size,
                                blob.mime,
                                blob.kind.as_str(),
                                blob.width,
                                blob.height,
                                blob.duration_ms.map(|value| to_i64(value, "duration_ms")).transpose()?,
                                blob.waveform,
                                blob.preview_size.map(|value| to_i64(value, "preview_size")).transpose()?,
                                micros(blob.created_at),
                                blob.preview_pending,
                            ],
                        )
                        .map_err(map_error)?;
                }
            }
            transaction
                .execute_cached(
                    "INSERT INTO media_usage (user_id, bytes) VALUES (?1, ?2)
                     ON CONFLICT (user_id) DO UPDATE SET bytes = bytes + excluded.bytes",
                    params![file.user_id.to_string(), size],
                )
                .map_err(map_error)?;
            transaction
                .execute_cached(
                    "INSERT INTO media_files (file_id, user_id, sha256, file_name, state, created_at)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
                    params![
                        file.file_id.to_string(),
                        file.user_id.to_string(),
                        blob.sha256,
                        file.file_name,
                        micros(file.created_at),
                    ],
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)?;
            Ok(Reservation::Reserved)
        })
        .await
    }

    async fn complete_media_file(&self, file_id: Uuid) -> Result<Option<MediaFile>> {
        self.call(move |connection| {
            let updated = connection
                .execute_cached(
                    "UPDATE media_files SET state = 'ready' WHERE file_id = ?1 AND state = 'pending'",
                    [file_id.to_string()],
                )
                .map_err(map_error)?;
            if updated == 0 {
                return Ok(None);
            }
            connection
                .query_row_cached(
                    &format!(
                        "SELECT {FILE_COLUMNS} FROM media_files f JOIN media_blobs b USING (sha256)
                         WHERE f.file_id = ?1"
                    ),
                    [file_id.to_string()],
                    file_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn abort_media_file(&self, file_id: Uuid) -> Result<bool> {
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            let found: Option<(String, i64)> = transaction
                .query_row_cached(
                    "SELECT f.user_id, b.size FROM media_files f JOIN media_blobs b USING (sha256)
                     WHERE f.file_id = ?1 AND f.state = 'pending'",
                    [file_id.to_string()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(map_error)?;
            let Some((user_id, size)) = found else {
                return Ok(false);
            };
            transaction
                .execute_cached(
                    "DELETE FROM media_files WHERE file_id = ?1",
                    [file_id.to_string()],
                )
                .map_err(map_error)?;
            refund(&transaction, &user_id, size)?;
            transaction.commit().map_err(map_error)?;
            Ok(true)
        })
        .await
    }

    async fn media_file(&self, user_id: Uuid, file_id: Uuid) -> Result<Option<MediaFile>> {
        self.read(move |connection| {
            connection
                .query_row_cached(
                    &format!(
                        "SELECT {FILE_COLUMNS} FROM media_files f JOIN media_blobs b USING (sha256)
                         WHERE f.file_id = ?1 AND f.user_id = ?2 AND f.state = 'ready'"
                    ),
                    [file_id.to_string(), user_id.to_string()],
                    file_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn delete_media_file(&self, user_id: Uuid, file_id: Uuid) -> Result<Option<String>> {
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            let found: Option<(String, i64)> = transaction
                .query_row_cached(
                    "SELECT b.sha256, b.size FROM media_files f JOIN media_blobs b USING (sha256)
                     WHERE f.file_id = ?1 AND f.user_id = ?2 AND f.state = 'ready'",
                    [file_id.to_string(), user_id.to_string()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(map_error)?;
            let Some((sha256, size)) = found else {
                return Ok(None);
            };
            transaction
                .execute_cached(
                    "DELETE FROM media_files WHERE file_id = ?1",
                    [file_id.to_string()],
                )
                .map_err(map_error)?;
            refund(&transaction, &user_id.to_string(), size)?;
            transaction.commit().map_err(map_error)?;
            Ok(Some(sha256))
        })
        .await
    }

    async fn media_usage(&self, user_id: Uuid) -> Result<u64> {
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            usage(&transaction, user_id)
        })
        .await
    }

    async fn pin_media_file(
        &self,
        user_id: Uuid,
        file_id: Uuid,
        job_id: Uuid,
    ) -> Result<Option<MediaFile>> {
        self.call(move |connection| {
            // One transaction: a delete cannot come between the pin and the read.
            let transaction = connection.transaction().map_err(map_error)?;
            let pinned = transaction
                .execute_cached(
                    "INSERT INTO media_pins (job_id, file_id, sha256)
                     SELECT ?3, file_id, sha256 FROM media_files
                     WHERE file_id = ?1 AND user_id = ?2 AND state = 'ready'
                     ON CONFLICT (job_id, file_id) DO UPDATE SET sha256 = excluded.sha256",
                    params![file_id.to_string(), user_id.to_string(), job_id.to_string()],
                )
                .map_err(map_error)?;
            if pinned == 0 {
                return Ok(None);
            }
            let file = transaction
                .query_row_cached(
                    &format!(
                        "SELECT {FILE_COLUMNS} FROM media_files f JOIN media_blobs b USING (sha256)
                         WHERE f.file_id = ?1 AND f.user_id = ?2"
                    ),
                    params![file_id.to_string(), user_id.to_string()],
                    file_from_row,
                )
                .map_err(map_error)?;
            transaction.commit().map_err(map_error)?;
            Ok(Some(file))
        })
        .await
    }

    async fn pinned_media_blob(&self, job_id: Uuid, file_id: Uuid) -> Result<Option<MediaBlob>> {
        self.call(move |connection| {
            connection
                .query_row_cached(
                    "SELECT b.* FROM media_pins p JOIN media_blobs b ON b.sha256 = p.sha256
                     WHERE p.job_id = ?1 AND p.file_id = ?2",
                    params![job_id.to_string(), file_id.to_string()],
                    blob_from_row,
                )
                .optional()
                .map_err(map_error)
        })
        .await
    }

    async fn release_media_pins(&self, job_id: Uuid) -> Result<Vec<String>> {
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached("DELETE FROM media_pins WHERE job_id = ?1 RETURNING sha256")
                .map_err(map_error)?;
            let rows = statement
                .query_map([job_id.to_string()], |row| row.get::<_, String>(0))
                .map_err(map_error)?;
            let mut released = rows
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)?;
            released.sort();
            released.dedup();
            Ok(released)
        })
        .await
    }

    async fn claim_unreferenced_blob(&self, sha256: &str) -> Result<Option<MediaBlob>> {
        let sha256 = sha256.to_owned();
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(map_error)?;
            let blob = transaction
                .query_row_cached(
                    "SELECT * FROM media_blobs b WHERE sha256 = ?1
                       AND NOT EXISTS (SELECT 1 FROM media_files f WHERE f.sha256 = b.sha256)
                       AND NOT EXISTS (SELECT 1 FROM media_pins p WHERE p.sha256 = b.sha256)",
                    [&sha256],
                    blob_from_row,
                )
                .optional()
                .map_err(map_error)?;
            if blob.is_some() {
                transaction
                    .execute_cached(
                        "UPDATE media_blobs SET state = 'deleting' WHERE sha256 = ?1",
                        [&sha256],
                    )
                    .map_err(map_error)?;
                transaction.commit().map_err(map_error)?;
            }
            Ok(blob)
        })
        .await
    }

    async fn forget_blob(&self, sha256: &str) -> Result<()> {
        let sha256 = sha256.to_owned();
        self.call(move |connection| {
            connection
                .execute_cached(
                    "DELETE FROM media_blobs WHERE sha256 = ?1 AND state = 'deleting'",
                    [&sha256],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn unreferenced_blobs(&self, limit: u32) -> Result<Vec<String>> {
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT b.sha256 FROM media_blobs b
                     WHERE b.state = 'deleting'
                        OR (NOT EXISTS (SELECT 1 FROM media_files f WHERE f.sha256 = b.sha256)
                            AND NOT EXISTS (SELECT 1 FROM media_pins p WHERE p.sha256 = b.sha256))
                     ORDER BY b.sha256 LIMIT ?1",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map([i64::from(limit)], |row| row.get::<_, String>(0))
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn claim_blob_preview(
        &self,
        sha256: &str,
        claim: Uuid,
        lease: std::time::Duration,
    ) -> Result<bool> {
        let sha256 = sha256.to_owned();
        let now = micros(crate::now());
        let until = now.saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE media_blobs SET preview_claim = ?2, preview_claim_until = ?4
                     WHERE sha256 = ?1 AND state = 'live' AND preview_pending = 1
                       AND (preview_claim_until IS NULL OR preview_claim_until < ?3)",
                    params![sha256, claim.to_string(), now, until],
                )
                .map(|updated| updated == 1)
                .map_err(map_error)
        })
        .await
    }

    async fn release_blob_preview(&self, sha256: &str, claim: Uuid) -> Result<()> {
        let sha256 = sha256.to_owned();
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE media_blobs SET preview_claim = NULL, preview_claim_until = NULL
                     WHERE sha256 = ?1 AND preview_claim = ?2",
                    params![sha256, claim.to_string()],
                )
                .map(drop)
                .map_err(map_error)
        })
        .await
    }

    async fn finish_blob_preview(
        &self,
        sha256: &str,
        claim: Option<Uuid>,
        end: PreviewEnd,
    ) -> Result<PreviewFinish> {
        let sha256 = sha256.to_owned();
        let (preview_size, skipped) = match end {
            PreviewEnd::Made(size) => (Some(to_i64(size, "preview_size")?), false),
            PreviewEnd::None => (None, false),
            PreviewEnd::Skipped => (None, true),
        };
        let claim = claim.map(|claim| claim.to_string());
        let now = micros(crate::now());
        self.call(move |connection| {
            let updated = connection
                .execute_cached(
                    "UPDATE media_blobs
                     SET preview_size = ?2, preview_pending = 0, preview_skipped = ?4,
                         preview_claim = NULL, preview_claim_until = NULL
                     WHERE sha256 = ?1 AND state = 'live' AND preview_pending = 1
                       AND CASE WHEN ?3 IS NULL
                                THEN preview_claim_until IS NULL OR preview_claim_until < ?5
                                ELSE preview_claim IS ?3 END",
                    params![sha256, preview_size, claim, skipped, now],
                )
                .map_err(map_error)?;
            if updated == 1 {
                return Ok(PreviewFinish::Recorded);
            }
            let live = connection
                .query_row_cached(
                    "SELECT 1 FROM media_blobs WHERE sha256 = ?1 AND state = 'live'",
                    [&sha256],
                    |_| Ok(()),
                )
                .optional()
                .map_err(map_error)?;
            Ok(if live.is_some() {
                PreviewFinish::NotClaimed
            } else {
                PreviewFinish::Gone
            })
        })
        .await
    }

    async fn requeue_skipped_preview(&self, sha256: &str) -> Result<bool> {
        let sha256 = sha256.to_owned();
        self.call(move |connection| {
            connection
                .execute_cached(
                    "UPDATE media_blobs
                     SET preview_pending = 1, preview_skipped = 0,
                         preview_claim = NULL, preview_claim_until = NULL
                     WHERE sha256 = ?1 AND state = 'live' AND preview_skipped = 1",
                    [&sha256],
                )
                .map(|updated| updated == 1)
                .map_err(map_error)
        })
        .await
    }

    async fn blobs_awaiting_preview(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<MediaBlob>> {
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT * FROM media_blobs
                     WHERE preview_pending = 1 AND state = 'live'
                       AND ((preview_claim_until IS NULL AND created_at < ?1)
                            OR preview_claim_until < ?3)
                     ORDER BY created_at LIMIT ?2",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map(
                    params![micros(before), i64::from(limit), micros(crate::now())],
                    blob_from_row,
                )
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }

    async fn stale_pending_files(&self, before: DateTime<Utc>, limit: u32) -> Result<Vec<Uuid>> {
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT file_id FROM media_files WHERE state = 'pending' AND created_at < ?1
                     ORDER BY created_at LIMIT ?2",
                )
                .map_err(map_error)?;
            let rows = statement
                .query_map(params![micros(before), i64::from(limit)], |row| {
                    uuid_at(row, "file_id")
                })
                .map_err(map_error)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_error)
        })
        .await
    }
}
