-- The chat cache of each linked account (chats, messages, users) and the send jobs.

CREATE TABLE tg_chats (
    user_id            uuid NOT NULL,
    session_index      integer NOT NULL,
    chat_id            bigint NOT NULL,
    kind               text NOT NULL,
    title              text NOT NULL,
    username           text NOT NULL,
    photo              text,
    members_count      integer,
    is_creator         boolean NOT NULL DEFAULT false,
    is_admin           boolean NOT NULL DEFAULT false,
    has_left           boolean NOT NULL DEFAULT false,
    -- Whether the chat is in the account's chat list (else only mentioned somewhere).
    in_dialogs         boolean NOT NULL DEFAULT false,
    unread_count       integer NOT NULL DEFAULT 0,
    read_inbox_max_id  integer NOT NULL DEFAULT 0,
    read_outbox_max_id integer NOT NULL DEFAULT 0,
    top_message_id     integer NOT NULL DEFAULT 0,
    top_date           bigint NOT NULL DEFAULT 0,
    pinned             boolean NOT NULL DEFAULT false,
    archived           boolean NOT NULL DEFAULT false,
    muted_until        bigint NOT NULL DEFAULT 0,
    -- Every message with an id at or above the floor is cached.
    history_floor      integer,
    history_complete   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, session_index, chat_id)
);
CREATE INDEX tg_chats_list ON tg_chats (user_id, session_index, top_date DESC, chat_id DESC)
    WHERE in_dialogs;

CREATE TABLE tg_messages (
    user_id       uuid NOT NULL,
    session_index integer NOT NULL,
    chat_id       bigint NOT NULL,
    message_id    integer NOT NULL,
    date          bigint NOT NULL,
    edit_date     bigint,
    sender_id     bigint,
    outgoing      boolean NOT NULL,
    text          text NOT NULL,
    reply_to      integer,
    views         integer,
    service       text,
    details       text NOT NULL,
    PRIMARY KEY (user_id, session_index, chat_id, message_id)
);
CREATE INDEX tg_messages_date ON tg_messages (user_id, session_index, chat_id, date);
-- Deletions in private chats and basic groups name ids only (unique per account).
CREATE INDEX tg_messages_id ON tg_messages (user_id, session_index, message_id);

CREATE TABLE tg_users (
    user_id       uuid NOT NULL,
    session_index integer NOT NULL,
    tg_user_id    bigint NOT NULL,
    first_name    text NOT NULL,
    last_name     text NOT NULL,
    username      text NOT NULL,
    phone         text NOT NULL,
    details       text NOT NULL,
    PRIMARY KEY (user_id, session_index, tg_user_id)
);

CREATE TABLE send_jobs (
    job_id            uuid PRIMARY KEY,
    seq               bigserial NOT NULL,
    user_id           uuid NOT NULL,
    session_index     integer NOT NULL,
    shard             smallint NOT NULL,
    client_message_id text,
    chat_id           bigint NOT NULL,
    text              text NOT NULL,
    reply_to          integer,
    silent            boolean NOT NULL,
    random_id         bigint NOT NULL,
    status            text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    message_id        integer,
    sent_date         bigint,
    failure           text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    published_at      timestamptz
);
CREATE UNIQUE INDEX send_jobs_idempotency ON send_jobs (user_id, session_index, client_message_id)
    WHERE client_message_id IS NOT NULL;
CREATE INDEX send_jobs_pending ON send_jobs (user_id, session_index, seq)
    WHERE status IN ('queued', 'sending');
CREATE INDEX send_jobs_unpublished ON send_jobs (shard, created_at) WHERE published_at IS NULL;
CREATE INDEX send_jobs_by_message ON send_jobs (user_id, session_index, chat_id, message_id)
    WHERE status = 'sent';
