-- Uploaded files (issue 11): content-addressed blobs, users' references to them, per-user
-- usage for the quota, and pins that keep a blob for a queued send. (Version 5 exists only
-- in the PostgreSQL set: replicas.)

CREATE TABLE media_blobs (
    sha256       TEXT PRIMARY KEY,
    size         INTEGER NOT NULL,
    mime         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    width        INTEGER,
    height       INTEGER,
    duration_ms  INTEGER,
    waveform     BLOB,
    preview_size INTEGER,
    state        TEXT NOT NULL DEFAULT 'live',
    created_at   INTEGER NOT NULL
);

CREATE TABLE media_files (
    file_id    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES media_blobs (sha256),
    file_name  TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX media_files_by_blob ON media_files (sha256);
CREATE INDEX media_files_pending ON media_files (created_at) WHERE state = 'pending';

CREATE TABLE media_usage (
    user_id TEXT PRIMARY KEY,
    bytes   INTEGER NOT NULL
);

CREATE TABLE media_pins (
    job_id  TEXT NOT NULL,
    file_id TEXT NOT NULL,
    sha256  TEXT NOT NULL REFERENCES media_blobs (sha256),
    PRIMARY KEY (job_id, file_id)
);
CREATE INDEX media_pins_by_blob ON media_pins (sha256);
