-- The commit guard: a transaction whose BEGIN set sentstub.commit_deadline
-- (seconds since the epoch, on this server's clock: see PostgresStore.begin)
-- cannot commit after it. The store begins every transaction of a call that
-- has a deadline that way, so that a COMMIT the server reads only once the
-- caller has given up on it (the server hung, then resumed) fails instead of
-- taking effect: a request whose client was told it failed leaves nothing.
--
-- The check runs at commit time because the triggers are deferred; it is
-- made once for each row the transaction wrote, on every table an API
-- request writes (a table added later needs its own trigger). A statement run on its own (the claim of an
-- Idempotency-Key, the sweeper) has no such setting and is not checked:
-- current_setting is NULL in a session that never set it, and '' in one
-- that set it in an earlier transaction.
CREATE FUNCTION sentstub_commit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF extract(epoch FROM clock_timestamp()) > nullif(current_setting('sentstub.commit_deadline', true), '')::float8 THEN
        RAISE EXCEPTION 'sentstub: commit refused: past the deadline of its call' USING ERRCODE = 'query_canceled';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER webhooks_commit_guard
    AFTER INSERT OR UPDATE OR DELETE ON webhooks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION sentstub_commit_guard();

CREATE CONSTRAINT TRIGGER idempotency_keys_commit_guard
    AFTER INSERT OR UPDATE OR DELETE ON idempotency_keys
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION sentstub_commit_guard();

CREATE CONSTRAINT TRIGGER deliveries_commit_guard
    AFTER INSERT OR UPDATE OR DELETE ON deliveries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION sentstub_commit_guard();
