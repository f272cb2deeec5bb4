-- Stored answers to idempotent requests, appended in the order they are
-- stored and kept until expires_at. (Claims of requests in flight live in
-- the process's memory: see sqlite_idempotency.go.)
--
-- There is no index on (account_id, key): the store keeps one in memory,
-- keyed by slot (a 64-bit hash of the two), rebuilt from this table at
-- start. Storing an answer is then an append to the table's last page
-- alone, instead of writes to pages all over a B-tree of random keys. The
-- oldest answers are first in id order, so sweeping needs no index either.
CREATE TABLE idempotency_answers (
    id          INTEGER PRIMARY KEY,
    slot        INTEGER NOT NULL,
    account_id  TEXT NOT NULL,
    key         TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    stored_at   INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL
) STRICT;
