-- The audit log: append-only; only the retention sweep deletes (by age).
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    user_id        TEXT,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    target         TEXT,
    outcome        TEXT NOT NULL,
    status         INTEGER NOT NULL,
    error_code     TEXT,
    client_address TEXT,
    user_agent     TEXT,
    request_id     TEXT,
    trace_id       TEXT
);
CREATE INDEX audit_log_by_user ON audit_log (user_id, id);
CREATE INDEX audit_log_by_age ON audit_log (at);
