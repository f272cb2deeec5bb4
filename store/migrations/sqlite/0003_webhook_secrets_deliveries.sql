-- Each webhook's signing secret. Rows from before it get '' (the server
-- gives fixtures theirs before provisioning them).
ALTER TABLE webhooks ADD COLUMN signing_secret TEXT NOT NULL DEFAULT '';

-- Listing is by owner, newest first: this index serves it in order, and
-- every lookup by owner that webhooks_owner served.
CREATE INDEX webhooks_owner_created ON webhooks (owner_id, created_at DESC, id DESC);
DROP INDEX webhooks_owner;

-- The delivery log of each webhook, deleted with it. Timestamps are
-- integer microseconds since the Unix epoch, UTC. response_body is TEXT,
-- which keeps any bytes (a receiver's answer cut short may end in half a
-- character); a BLOB would read '' back as NULL.
CREATE TABLE deliveries (
    id                      TEXT PRIMARY KEY,
    webhook_id              TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id                TEXT NOT NULL,
    event_type              TEXT NOT NULL,
    event_data              BLOB NOT NULL, -- the JSON body, byte for byte
    status                  TEXT NOT NULL,
    attempts                INTEGER NOT NULL,
    http_status_code        INTEGER,
    response_body           TEXT,
    error_message           TEXT,
    processing_started_at   INTEGER,
    processing_completed_at INTEGER,
    created_at              INTEGER NOT NULL
) STRICT;

CREATE INDEX deliveries_webhook_created ON deliveries (webhook_id, created_at DESC, id DESC);
