-- The delivery log is also the outbox of deliveries to make. A pending
-- delivery is due at next_attempt_at (NULL once it is over, and for rows
-- from before this migration, which are never due). A dispatcher that
-- claims it sets lease, a random token (TEXT, like every id here), and
-- leased_until: until then nobody else claims it. Timestamps are integer
-- microseconds since the Unix epoch, UTC.
ALTER TABLE deliveries ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE deliveries ADD COLUMN lease TEXT;
ALTER TABLE deliveries ADD COLUMN leased_until INTEGER;

-- The claim reads the pending deliveries in the order they are due; the
-- index holds those alone, so it stays as small as the outbox while the
-- log grows. Dropping a webhook's pending deliveries uses
-- deliveries_webhook_created.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
