-- Idempotency records: a claim while the request runs (stored_at NULL),
-- then the stored response. expires_at is the claim's lock deadline, then
-- the end of the response's retention; a record past it counts as absent.
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
