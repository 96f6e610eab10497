-- Per-account event ids (strictly increasing across restarts) and the Web Push
-- subscriptions of TalkApp users.

ALTER TABLE telegram_sessions ADD COLUMN last_event_id INTEGER NOT NULL DEFAULT 0;

CREATE TABLE push_subscriptions (
    user_id    TEXT NOT NULL,
    endpoint   TEXT NOT NULL,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, endpoint)
);
