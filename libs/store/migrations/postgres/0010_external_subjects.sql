-- An external identity provider's users (subjects: no row in users) as TalkApp knows them:
-- those an operator disabled, and when each was last seen (at most one write a day).
CREATE TABLE disabled_subjects (
    subject_id  UUID PRIMARY KEY,
    disabled_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE subjects_seen (
    subject_id   UUID PRIMARY KEY,
    last_seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX subjects_seen_by_time ON subjects_seen (last_seen_at);
