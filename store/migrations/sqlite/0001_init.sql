-- Accounts: organizations (organization_id NULL) and their profiles.
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    organization_id TEXT REFERENCES accounts (id),
    name            TEXT NOT NULL
) STRICT;

-- API keys, stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    key_hash   BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id)
) STRICT;

-- Timestamps are integer microseconds since the Unix epoch, UTC.
CREATE TABLE webhooks (
    id                          TEXT PRIMARY KEY,
    owner_id                    TEXT NOT NULL REFERENCES accounts (id),
    display_name                TEXT NOT NULL,
    endpoint_url                TEXT NOT NULL,
    is_active                   INTEGER NOT NULL,
    event_types                 TEXT NOT NULL, -- JSON array of strings
    event_filters               TEXT,          -- JSON object, or NULL
    retry_count                 INTEGER NOT NULL,
    timeout_seconds             INTEGER NOT NULL,
    consecutive_failures        INTEGER NOT NULL,
    last_delivery_attempt_at    INTEGER,
    last_successful_delivery_at INTEGER,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER
) STRICT;

CREATE INDEX webhooks_owner ON webhooks (owner_id);
