-- What each linked account sent to Telegram already: per SHA-256 of a file's bytes and
-- the kind it was sent as, the serialized `InputMedia` Telegram gave back, so the file goes
-- again by reference after a restart or a move to another replica. Not secret (a file id,
-- access hash and file reference, no keys). At most a bound of rows per account (the
-- oldest `seq` are dropped); gone with the account.
CREATE TABLE sent_files (
    user_id       TEXT NOT NULL,
    session_index INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    media         BLOB NOT NULL,
    seq           INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_index, sha256, kind),
    FOREIGN KEY (user_id, session_index)
        REFERENCES telegram_sessions (user_id, session_index) ON DELETE CASCADE
);
CREATE INDEX sent_files_seq ON sent_files (user_id, session_index, seq);
