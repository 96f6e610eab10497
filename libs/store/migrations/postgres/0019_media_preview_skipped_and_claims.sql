-- A preview turned away by load (a full queue, no turn, storage unreachable) is
-- `preview_skipped`: made again when the file's preview is asked for (ADR 0049). A preview
-- whose tool failed on the bytes has neither flag set and no size: final.
ALTER TABLE media_blobs ADD COLUMN preview_skipped boolean NOT NULL DEFAULT false;
-- The media-service replica making a pending preview holds it until `preview_claim_until`
-- (a lease, by this database's clock): no other replica makes it meanwhile, and a dead
-- replica's claim is taken again once it has expired.
ALTER TABLE media_blobs ADD COLUMN preview_claim uuid;
ALTER TABLE media_blobs ADD COLUMN preview_claim_until timestamptz;
