-- Uploaded files (issue 11): content-addressed blobs, users' references to them, per-user
-- usage for the quota, and pins that keep a blob for a queued send.

CREATE TABLE media_blobs (
    sha256       text PRIMARY KEY,
    size         bigint NOT NULL,
    mime         text NOT NULL,
    kind         text NOT NULL,
    width        integer,
    height       integer,
    duration_ms  bigint,
    waveform     bytea,
    preview_size bigint,
    -- 'live', or 'deleting' while its object is being removed.
    state        text NOT NULL DEFAULT 'live',
    created_at   timestamptz NOT NULL
);

CREATE TABLE media_files (
    file_id    uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    sha256     text NOT NULL REFERENCES media_blobs (sha256),
    file_name  text NOT NULL,
    -- 'pending' until its bytes are in place, then 'ready'.
    state      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX media_files_by_blob ON media_files (sha256);
CREATE INDEX media_files_pending ON media_files (created_at) WHERE state = 'pending';

CREATE TABLE media_usage (
    user_id uuid PRIMARY KEY,
    bytes   bigint NOT NULL
);

CREATE TABLE media_pins (
    job_id  uuid NOT NULL,
    file_id uuid NOT NULL,
    sha256  text NOT NULL REFERENCES media_blobs (sha256),
    PRIMARY KEY (job_id, file_id)
);
CREATE INDEX media_pins_by_blob ON media_pins (sha256);
