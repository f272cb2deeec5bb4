-- Stored answers to idempotent requests, kept until expires_at. (Claims of
-- requests in flight live in the process's memory: see sqlite_idempotency.go.)
CREATE TABLE idempotency_keys (
    account_id  TEXT NOT NULL,
    key         TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    stored_at   INTEGER,
    status      INTEGER,
    headers     TEXT,
    body        BLOB,
    PRIMARY KEY (account_id, key)
) STRICT;

CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
