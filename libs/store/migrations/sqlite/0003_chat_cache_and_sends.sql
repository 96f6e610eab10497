-- The chat cache of each linked account (chats, messages, users) and the send jobs.
-- Times are microseconds since the epoch; Telegram dates are Unix seconds.

CREATE TABLE tg_chats (
    user_id            TEXT NOT NULL,
    session_index      INTEGER NOT NULL,
    chat_id            INTEGER NOT NULL,
    kind               TEXT NOT NULL,
    title              TEXT NOT NULL,
    username           TEXT NOT NULL,
    photo              TEXT,
    members_count      INTEGER,
    is_creator         INTEGER NOT NULL DEFAULT 0,
    is_admin           INTEGER NOT NULL DEFAULT 0,
    has_left           INTEGER NOT NULL DEFAULT 0,
    in_dialogs         INTEGER NOT NULL DEFAULT 0,
    unread_count       INTEGER NOT NULL DEFAULT 0,
    read_inbox_max_id  INTEGER NOT NULL DEFAULT 0,
    read_outbox_max_id INTEGER NOT NULL DEFAULT 0,
    top_message_id     INTEGER NOT NULL DEFAULT 0,
    top_date           INTEGER NOT NULL DEFAULT 0,
    pinned             INTEGER NOT NULL DEFAULT 0,
    archived           INTEGER NOT NULL DEFAULT 0,
    muted_until        INTEGER NOT NULL DEFAULT 0,
    history_floor      INTEGER,
    history_complete   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, session_index, chat_id)
);
CREATE INDEX tg_chats_list ON tg_chats (user_id, session_index, top_date DESC, chat_id DESC)
    WHERE in_dialogs;

CREATE TABLE tg_messages (
    user_id       TEXT NOT NULL,
    session_index INTEGER NOT NULL,
    chat_id       INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    date          INTEGER NOT NULL,
    edit_date     INTEGER,
    sender_id     INTEGER,
    outgoing      INTEGER NOT NULL,
    text          TEXT NOT NULL,
    reply_to      INTEGER,
    views         INTEGER,
    service       TEXT,
    details       TEXT NOT NULL,
    PRIMARY KEY (user_id, session_index, chat_id, message_id)
);
CREATE INDEX tg_messages_date ON tg_messages (user_id, session_index, chat_id, date);
CREATE INDEX tg_messages_id ON tg_messages (user_id, session_index, message_id);

CREATE TABLE tg_users (
    user_id       TEXT NOT NULL,
    session_index INTEGER NOT NULL,
    tg_user_id    INTEGER NOT NULL,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    username      TEXT NOT NULL,
    phone         TEXT NOT NULL,
    details       TEXT NOT NULL,
    PRIMARY KEY (user_id, session_index, tg_user_id)
);

CREATE TABLE send_jobs (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id            TEXT NOT NULL UNIQUE,
    user_id           TEXT NOT NULL,
    session_index     INTEGER NOT NULL,
    shard             INTEGER NOT NULL,
    client_message_id TEXT,
    chat_id           INTEGER NOT NULL,
    text              TEXT NOT NULL,
    reply_to          INTEGER,
    silent            INTEGER NOT NULL,
    random_id         INTEGER NOT NULL,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    message_id        INTEGER,
    sent_date         INTEGER,
    failure           TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    published_at      INTEGER
);
CREATE UNIQUE INDEX send_jobs_idempotency ON send_jobs (user_id, session_index, client_message_id)
    WHERE client_message_id IS NOT NULL;
CREATE INDEX send_jobs_pending ON send_jobs (user_id, session_index, seq)
    WHERE status IN ('queued', 'sending');
CREATE INDEX send_jobs_unpublished ON send_jobs (shard, created_at) WHERE published_at IS NULL;
CREATE INDEX send_jobs_by_message ON send_jobs (user_id, session_index, chat_id, message_id)
    WHERE status = 'sent';
