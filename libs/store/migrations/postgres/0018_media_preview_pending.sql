-- A video's or PDF's preview is made after the upload answers (ADR 0049): true while its
-- blob waits for it (queued or being made); false once it is made (preview_size) or none
-- will be (skipped, failed, no tool).
ALTER TABLE media_blobs ADD COLUMN preview_pending boolean NOT NULL DEFAULT false;
CREATE INDEX media_blobs_preview_pending ON media_blobs (created_at) WHERE preview_pending;
