-- Built-in TalkApp accounts, sign-in sessions with their refresh-token families, and the
-- Telegram accounts users link.

CREATE TABLE users (
    id               uuid PRIMARY KEY,
    email            text NOT NULL,
    email_normalized text NOT NULL UNIQUE,
    password_hash    text NOT NULL,
    created_at       timestamptz NOT NULL,
    last_sign_in_at  timestamptz
);

CREATE TABLE auth_sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX auth_sessions_user_id ON auth_sessions (user_id);

-- Only SHA-256 hashes of refresh tokens are kept.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- user_id has no foreign key: users of an external identity provider (Supabase) have no
-- row in `users`.
CREATE TABLE telegram_sessions (
    user_id          uuid NOT NULL,
    session_index    integer NOT NULL CHECK (session_index > 0),
    telegram_user_id bigint NOT NULL,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    username         text NOT NULL,
    phone            text NOT NULL,
    status           text NOT NULL,
    linked_at        timestamptz NOT NULL,
    PRIMARY KEY (user_id, session_index)
);

-- The highest session_index ever given to a user, so that a freed index is never reused.
CREATE TABLE session_index_counters (
    user_id    uuid PRIMARY KEY,
    last_index integer NOT NULL
);
