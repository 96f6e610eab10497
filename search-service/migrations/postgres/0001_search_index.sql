-- The search index in split mode: in the main database, under its own migration table
-- (search_schema_migrations), so search-service owns its tables. The messages' scoped
-- terms are a tsvector built from the terms as they are (array_to_tsvector: no parser,
-- no stemming), GIN-indexed for prefix queries.

CREATE TABLE search_messages (
    user_id       UUID NOT NULL,
    session_index INTEGER NOT NULL,
    chat_id       BIGINT NOT NULL,
    message_id    INTEGER NOT NULL,
    date          BIGINT NOT NULL,
    sender_id     BIGINT,
    kinds         INTEGER NOT NULL,
    terms         TSVECTOR NOT NULL,
    PRIMARY KEY (user_id, session_index, chat_id, message_id)
);
CREATE INDEX search_messages_terms ON search_messages USING GIN (terms);
CREATE INDEX search_messages_recent
    ON search_messages (user_id, session_index, date DESC, chat_id DESC, message_id DESC);
CREATE INDEX search_messages_id ON search_messages (user_id, session_index, message_id);

CREATE TABLE search_chats (
    user_id       UUID NOT NULL,
    session_index INTEGER NOT NULL,
    chat_id       BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    username      TEXT NOT NULL,
    phone         TEXT NOT NULL,
    top_date      BIGINT NOT NULL,
    PRIMARY KEY (user_id, session_index, chat_id)
);

CREATE TABLE search_accounts (
    user_id       UUID NOT NULL,
    session_index INTEGER NOT NULL,
    built_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, session_index)
);
