-- Per-user activity per day (UTC), counted in each gateway's memory and added here in
-- batches (ADR 0037); rows older than the retention are deleted.
CREATE TABLE user_activity (
    user_id       UUID   NOT NULL,
    day           DATE   NOT NULL,
    requests      BIGINT NOT NULL DEFAULT 0,
    client_errors BIGINT NOT NULL DEFAULT 0,
    server_errors BIGINT NOT NULL DEFAULT 0,
    sends         BIGINT NOT NULL DEFAULT 0,
    sockets       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
CREATE INDEX user_activity_by_day ON user_activity (day);
