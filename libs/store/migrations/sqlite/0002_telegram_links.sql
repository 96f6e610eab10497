-- Linking Telegram accounts: the sealed session (auth key and state) of each linked
-- account, the shard that decides which chat-service replica hosts it, and the logins in
-- progress. Sealed blobs are AES-256-GCM under the configured session key, bound to
-- their owner; nothing here opens without that key. Times are microseconds since the epoch.

ALTER TABLE telegram_sessions ADD COLUMN sealed_session BLOB;
ALTER TABLE telegram_sessions ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
ALTER TABLE telegram_sessions ADD COLUMN status_changed_at INTEGER;
-- A user links a phone once (another TalkApp user may link the same account).
CREATE UNIQUE INDEX telegram_sessions_user_phone ON telegram_sessions (user_id, phone);
CREATE INDEX telegram_sessions_shard ON telegram_sessions (shard);

CREATE TABLE telegram_logins (
    login_id        TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    phone           TEXT NOT NULL,
    phone_code_hash TEXT NOT NULL,
    sealed_session  BLOB NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX telegram_logins_expires_at ON telegram_logins (expires_at);
