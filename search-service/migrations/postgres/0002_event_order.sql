-- An account's events applied in event-id order (ADR 0047): each message and chat row
-- keeps the id of the event that last wrote it (NULL: written by a build from the cache
-- or by Telegram's search), and an event changes a row only with a newer id. A deletion
-- leaves a tombstone, so an older upsert told again later (a publisher's replay, ADR
-- 0045) does not bring the message back. Adding a nullable column without a default
-- rewrites nothing.

ALTER TABLE search_messages ADD COLUMN event_id BIGINT;
ALTER TABLE search_chats ADD COLUMN event_id BIGINT;

-- Deleted messages, kept for a while after their deletion (the sweep removes them).
-- chat_id 0 (no chat is 0 in Telegram): a deletion told without its chat, which covers
-- the account's private chats and basic groups (ids above -1000000000000).
CREATE TABLE search_deleted (
    user_id       UUID NOT NULL,
    session_index INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    chat_id       BIGINT NOT NULL,
    event_id      BIGINT NOT NULL,
    deleted_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, session_index, message_id, chat_id)
);
CREATE INDEX search_deleted_at ON search_deleted (deleted_at);
