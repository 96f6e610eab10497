-- A video's or PDF's preview is made after the upload answers (ADR 0049): 1 while its
-- blob waits for it (queued or being made); 0 once it is made (preview_size) or none
-- will be (skipped, failed, no tool).
ALTER TABLE media_blobs ADD COLUMN preview_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX media_blobs_preview_pending ON media_blobs (created_at) WHERE preview_pending = 1;
