-- Chat-service replicas and the shards each hosts. Ownership itself is a PostgreSQL
-- session advisory lock per shard (released by the server the moment the holder's
-- connection ends); these tables only say who is alive and where to reach a shard's host.

CREATE TABLE chat_replicas (
    replica_id   uuid PRIMARY KEY,
    address      text NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

CREATE TABLE shard_owners (
    shard      smallint PRIMARY KEY,
    replica_id uuid NOT NULL,
    address    text NOT NULL,
    since      timestamptz NOT NULL
);
