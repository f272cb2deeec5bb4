-- Idempotency records: a claim while the request runs (stored_at NULL),
-- then the stored response. expires_at is the claim's lock deadline, then
-- the end of the response's retention; a record past it counts as absent.
CREATE TABLE idempotency_keys (
    account_id  uuid NOT NULL,
    key         text COLLATE "C" NOT NULL, -- compared byte for byte
    request_id  text NOT NULL,
    fingerprint text NOT NULL,
    expires_at  timestamptz NOT NULL,
    stored_at   timestamptz,
    status      integer,
    headers     jsonb, -- object of strings
    body        bytea,
    PRIMARY KEY (account_id, key)
);

CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
