-- Linking Telegram accounts: the sealed session (auth key and state) of each linked
-- account, the shard that decides which chat-service replica hosts it, and the logins in
-- progress. Sealed blobs are AES-256-GCM under the configured session key, bound to
-- their owner; nothing here opens without that key.

ALTER TABLE telegram_sessions ADD COLUMN sealed_session bytea;
ALTER TABLE telegram_sessions ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE telegram_sessions ADD COLUMN status_changed_at timestamptz;
-- A user links a phone once (another TalkApp user may link the same account).
CREATE UNIQUE INDEX telegram_sessions_user_phone ON telegram_sessions (user_id, phone);
CREATE INDEX telegram_sessions_shard ON telegram_sessions (shard);

CREATE TABLE telegram_logins (
    login_id        uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    phone           text NOT NULL,
    phone_code_hash text NOT NULL,
    sealed_session  bytea NOT NULL,
    state           text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX telegram_logins_expires_at ON telegram_logins (expires_at);
