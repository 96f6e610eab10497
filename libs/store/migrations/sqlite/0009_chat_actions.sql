-- Idempotency keys of the actions that change Telegram state other than sends (creating
-- a group, adding a member): the first result of each key, given to retries.

CREATE TABLE chat_actions (
    user_id         TEXT NOT NULL,
    session_index   INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    action          TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    -- NULL while the action is being carried out.
    result          TEXT,
    claimed_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_index, idempotency_key)
);
