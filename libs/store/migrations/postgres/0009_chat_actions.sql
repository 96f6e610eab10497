-- Idempotency keys of the actions that change Telegram state other than sends (creating
-- a group, adding a member): the first result of each key, given to retries.

CREATE TABLE chat_actions (
    user_id         uuid NOT NULL,
    session_index   integer NOT NULL,
    idempotency_key text NOT NULL,
    action          text NOT NULL,
    request_hash    text NOT NULL,
    -- NULL while the action is being carried out.
    result          text,
    claimed_at      timestamptz NOT NULL,
    PRIMARY KEY (user_id, session_index, idempotency_key)
);
