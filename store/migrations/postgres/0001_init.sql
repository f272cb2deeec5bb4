-- Accounts: organizations (organization_id NULL) and their profiles.
CREATE TABLE accounts (
    id              uuid PRIMARY KEY,
    organization_id uuid REFERENCES accounts (id),
    name            text NOT NULL
);

-- API keys, stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    key_hash   bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id)
);

-- Timestamps are microsecond precision, like sentstub.Timestamp.
CREATE TABLE webhooks (
    id                          uuid PRIMARY KEY,
    owner_id                    uuid NOT NULL REFERENCES accounts (id),
    display_name                text NOT NULL,
    endpoint_url                text NOT NULL,
    is_active                   boolean NOT NULL,
    event_types                 text[] NOT NULL,
    event_filters               jsonb, -- object of string arrays, or NULL
    retry_count                 integer NOT NULL,
    timeout_seconds             integer NOT NULL,
    consecutive_failures        integer NOT NULL,
    last_delivery_attempt_at    timestamptz,
    last_successful_delivery_at timestamptz,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz
);

CREATE INDEX webhooks_owner ON webhooks (owner_id);
