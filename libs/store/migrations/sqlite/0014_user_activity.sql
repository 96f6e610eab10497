-- Per-user activity per day (UTC), counted in each gateway's memory and added here in
-- batches (ADR 0037). `day` is YYYY-MM-DD; rows older than the retention are deleted.
CREATE TABLE user_activity (
    user_id       TEXT    NOT NULL,
    day           TEXT    NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    client_errors INTEGER NOT NULL DEFAULT 0,
    server_errors INTEGER NOT NULL DEFAULT 0,
    sends         INTEGER NOT NULL DEFAULT 0,
    sockets       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
CREATE INDEX user_activity_by_day ON user_activity (day);
