-- Per-account event ids (strictly increasing, across replicas and restarts) and the Web
-- Push subscriptions of TalkApp users.

ALTER TABLE telegram_sessions ADD COLUMN last_event_id bigint NOT NULL DEFAULT 0;

CREATE TABLE push_subscriptions (
    user_id    uuid NOT NULL,
    endpoint   text NOT NULL,
    p256dh     text NOT NULL,
    auth       text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, endpoint)
);
