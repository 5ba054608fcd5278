-- Issue 15, statistics at volume: `admin_statistics` counted every member, card and merchant by
-- status on each call (1.5 s at 1M members and 1M cards). The counts are now kept by the writers,
-- in the transaction that inserts a row or changes its status, and the statistics sum a few
-- hundred counter rows instead.
--
-- `status_counts` holds, per subject ('member', 'card', 'merchant') and stored status (and card
-- type for cards; '' otherwise), a count spread over shards: one row per group would make every
-- concurrent sign-up or card creation wait for the one before it to commit (the row stays locked
-- until then). The shard is the writing backend's pid modulo 16 (measured, pgbench, 16 clients,
-- a sign-up-like transaction holding its counter rows ~2 ms: no trigger 1320–1397 tps; one row
-- per group 77–109; 8 shards 742–818; 16 shards 1061–1161; 64 shards 1162–1165). A shard's count
-- may go below zero (a row counted in one shard and moved in another); only the sum over the
-- shards means anything, and the statistics sum at most a few hundred rows. Time-based expiry (an active or inactive card past its
-- `expires_at` shows `expired`) is not a write: the statistics count those cards at read time
-- through `cards_expired_idx` below, which holds only the cards that can expire.
CREATE TABLE status_counts (
    subject   text NOT NULL CHECK (subject IN ('member', 'card', 'merchant')),
    status    text NOT NULL,
    card_type text NOT NULL DEFAULT '',
    shard     smallint NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (subject, status, card_type, shard)
);

-- The active or inactive cards with an expiry date: the statistics read the part already past.
CREATE INDEX cards_expired_idx ON cards (expires_at) INCLUDE (status)
    WHERE status IN ('active', 'inactive') AND expires_at IS NOT NULL;

-- The triggers' functions live here with their triggers (migrations/README.md). Inserts and
-- deletes are counted per statement from the transition table (a bulk insert writes one counter
-- row per group, not one per row); a status change per row, and only when the status did change:
-- `UPDATE OF status` means an UPDATE that does not name the column (a payment's
-- `UPDATE cards SET balance = …, points = …`) never fires it. Counter rows are written in key
-- order, so two statements on one shard lock them in the same order. `TG_ARGV[0]` names the
-- subject; a card's rows also carry their type (plpgsql parses a statement when it first runs it,
-- per table, so the card statements never meet a members row).
CREATE FUNCTION status_counts_track() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_subject text := TG_ARGV[0];
    v_shard smallint := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'UPDATE' AND v_subject = 'card' THEN
        INSERT INTO status_counts AS s (subject, status, card_type, shard, n)
        SELECT v_subject, d.status, d.card_type, v_shard, sum(d.n)
        FROM (VALUES (OLD.status::text, OLD.card_type::text, -1), (NEW.status::text, NEW.card_type::text, 1))
             AS d (status, card_type, n)
        GROUP BY 1, 2, 3, 4 ORDER BY 2, 3
        ON CONFLICT (subject, status, card_type, shard) DO UPDATE SET n = s.n + excluded.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO status_counts AS s (subject, status, card_type, shard, n)
        SELECT v_subject, d.status, '', v_shard, sum(d.n)
        FROM (VALUES (OLD.status::text, -1), (NEW.status::text, 1)) AS d (status, n)
        GROUP BY 1, 2, 3, 4 ORDER BY 2
        ON CONFLICT (subject, status, card_type, shard) DO UPDATE SET n = s.n + excluded.n;
    ELSIF TG_OP = 'INSERT' AND v_subject = 'card' THEN
        INSERT INTO status_counts AS s (subject, status, card_type, shard, n)
        SELECT v_subject, r.status::text, r.card_type::text, v_shard, count(*) FROM new_rows r
        GROUP BY 1, 2, 3, 4 ORDER BY 2, 3
        ON CONFLICT (subject, status, card_type, shard) DO UPDATE SET n = s.n + excluded.n;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO status_counts AS s (subject, status, card_type, shard, n)
        SELECT v_subject, r.status::text, '', v_shard, count(*) FROM new_rows r
        GROUP BY 1, 2, 3, 4 ORDER BY 2
        ON CONFLICT (subject, status, card_type, shard) DO UPDATE SET n = s.n + excluded.n;
    ELSIF v_subject = 'card' THEN
        INSERT INTO status_counts AS s (subject, status, card_type, shard, n)
        SELECT v_subject, r.status::text, r.card_type::text, v_shard, -count(*) FROM old_rows r
        GROUP BY 1, 2, 3, 4 ORDER BY 2, 3
        ON CONFLICT (subject, status, card_type, shard) DO UPDATE SET n = s.n + excluded.n;
    ELSE
        INSERT INTO status_counts AS s (subject, status, card_type, shard, n)
        SELECT v_subject, r.status::text, '', v_shard, -count(*) FROM old_rows r
        GROUP BY 1, 2, 3, 4 ORDER BY 2
        ON CONFLICT (subject, status, card_type, shard) DO UPDATE SET n = s.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER members_counts_insert AFTER INSERT ON members REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION status_counts_track('member');
CREATE TRIGGER members_counts_delete AFTER DELETE ON members REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION status_counts_track('member');
CREATE TRIGGER members_counts_update AFTER UPDATE OF status ON members
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION status_counts_track('member');
CREATE TRIGGER merchants_counts_insert AFTER INSERT ON merchants REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION status_counts_track('merchant');
CREATE TRIGGER merchants_counts_delete AFTER DELETE ON merchants REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION status_counts_track('merchant');
CREATE TRIGGER merchants_counts_update AFTER UPDATE OF status ON merchants
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION status_counts_track('merchant');
CREATE TRIGGER cards_counts_insert AFTER INSERT ON cards REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION status_counts_track('card');
CREATE TRIGGER cards_counts_delete AFTER DELETE ON cards REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION status_counts_track('card');
CREATE TRIGGER cards_counts_update AFTER UPDATE OF status, card_type ON cards
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.card_type IS DISTINCT FROM NEW.card_type)
    EXECUTE FUNCTION status_counts_track('card');

-- What the triggers would have counted for the rows already there (the triggers exist from here
-- and their lock on the three tables holds until this migration commits: no write is missed).
INSERT INTO status_counts (subject, status, card_type, shard, n)
SELECT 'member', status::text, '', 0, count(*) FROM members GROUP BY status
UNION ALL
SELECT 'merchant', status::text, '', 0, count(*) FROM merchants GROUP BY status
UNION ALL
SELECT 'card', status::text, card_type::text, 0, count(*) FROM cards GROUP BY status, card_type;
