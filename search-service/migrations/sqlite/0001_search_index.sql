-- The search index of the embedded default (its own file, search.sqlite, beside the
-- store's): the messages' searchable columns, their scoped terms in FTS5, the chats'
-- names, and which accounts were built from the cache.

CREATE TABLE search_messages (
    id            INTEGER PRIMARY KEY,
    user_id       TEXT NOT NULL,
    session_index INTEGER NOT NULL,
    chat_id       INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    date          INTEGER NOT NULL,
    sender_id     INTEGER,
    kinds         INTEGER NOT NULL,
    UNIQUE (user_id, session_index, chat_id, message_id)
);
CREATE INDEX search_messages_recent
    ON search_messages (user_id, session_index, date DESC, chat_id DESC, message_id DESC);
CREATE INDEX search_messages_chat
    ON search_messages (user_id, session_index, chat_id, date DESC, message_id DESC);
CREATE INDEX search_messages_id ON search_messages (user_id, session_index, message_id);

-- Contentless: the terms live only in the full-text index (rows are deleted by rowid).
CREATE VIRTUAL TABLE search_terms USING fts5(
    terms,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TABLE search_chats (
    user_id       TEXT NOT NULL,
    session_index INTEGER NOT NULL,
    chat_id       INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    username      TEXT NOT NULL,
    phone         TEXT NOT NULL,
    top_date      INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_index, chat_id)
);

CREATE TABLE search_accounts (
    user_id       TEXT NOT NULL,
    session_index INTEGER NOT NULL,
    built_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_index)
);
