-- Each webhook's signing secret. Rows from before it get '' (the server
-- gives fixtures theirs before provisioning them).
ALTER TABLE webhooks ADD COLUMN signing_secret text NOT NULL DEFAULT '';

-- Listing is by owner, newest first: this index serves it in order, and
-- every lookup by owner that webhooks_owner served.
CREATE INDEX webhooks_owner_created ON webhooks (owner_id, created_at DESC, id DESC);
DROP INDEX webhooks_owner;

-- The delivery log of each webhook, deleted with it. response_body is
-- bytea: a receiver's answer is any bytes, and one cut short may end in
-- half a character, which text refuses.
CREATE TABLE deliveries (
    id                      uuid PRIMARY KEY,
    webhook_id              uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id                uuid NOT NULL,
    event_type              text NOT NULL,
    event_data              bytea NOT NULL, -- the JSON body, byte for byte
    status                  text NOT NULL,
    attempts                integer NOT NULL,
    http_status_code        integer,
    response_body           bytea,
    error_message           text,
    processing_started_at   timestamptz,
    processing_completed_at timestamptz,
    created_at              timestamptz NOT NULL
);

CREATE INDEX deliveries_webhook_created ON deliveries (webhook_id, created_at DESC, id DESC);
