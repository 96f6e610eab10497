-- A preview turned away by load (a full queue, no turn, storage unreachable) is
-- `preview_skipped`: made again when the file's preview is asked for (ADR 0049). A preview
-- whose tool failed on the bytes has neither flag set and no size: final.
ALTER TABLE media_blobs ADD COLUMN preview_skipped INTEGER NOT NULL DEFAULT 0;
-- The media-service replica making a pending preview holds it until `preview_claim_until`
-- (a lease, microseconds since the epoch): no other worker makes it meanwhile, and a dead
-- one's claim is taken again once it has expired.
ALTER TABLE media_blobs ADD COLUMN preview_claim TEXT;
ALTER TABLE media_blobs ADD COLUMN preview_claim_until INTEGER;
