-- SQLite form of migrations/postgres/0001_accounts.sql: ids as TEXT, times as INTEGER
-- microseconds since the Unix epoch (UTC), hashes as BLOB.
-- Built-in TalkApp accounts, sign-in sessions with their refresh-token families, and the
-- Telegram accounts users link.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    last_sign_in_at  INTEGER
);

CREATE TABLE auth_sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason text
);
CREATE INDEX auth_sessions_user_id ON auth_sessions (user_id);

-- Only SHA-256 hashes of refresh tokens are kept.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    spent_at   INTEGER
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- user_id has no foreign key: users of an external identity provider (Supabase) have no
-- row in `users`.
CREATE TABLE telegram_sessions (
    user_id          TEXT NOT NULL,
    session_index    integer NOT NULL CHECK (session_index > 0),
    telegram_user_id INTEGER NOT NULL,
    first_name       TEXT NOT NULL,
    last_name        TEXT NOT NULL,
    username         TEXT NOT NULL,
    phone            TEXT NOT NULL,
    status           TEXT NOT NULL,
    linked_at        INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_index)
);

-- The highest session_index ever given to a user, so that a freed index is never reused.
CREATE TABLE session_index_counters (
    user_id    TEXT PRIMARY KEY,
    last_index integer NOT NULL
);
