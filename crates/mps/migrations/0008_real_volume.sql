-- Issue 15 — real volume: an index for every list's order and filter, so that a page (first or
-- deep, by cursor) reads one index range of about a page whatever the table holds. Each list
-- orders by a unique key (timestamp, tiebreaker) (crates/mps/src/db/paging.rs); the indexes end
-- in the tiebreaker so `(ts, id) < (cursor)` is a range of them.
--
-- Indexes on the payment path are *replaced*, not added to: a charge still writes the same number
-- of index entries (transactions: card, merchant; point_ledger: card; audit_events: four).

-- Transactions: a card's (member lists, merged per card) and a merchant's, newest first.
DROP INDEX transactions_card_created_idx;
CREATE INDEX transactions_card_page_idx ON transactions (card_id, created_at, id);
DROP INDEX transactions_merchant_created_idx;
CREATE INDEX transactions_merchant_page_idx ON transactions (merchant_id, created_at, id)
    WHERE merchant_id IS NOT NULL;
-- Lists filtered to refunds or recharges: payments are most rows, so a refund list over the
-- indexes above would walk past them. Payments never write these.
CREATE INDEX transactions_card_other_idx ON transactions (card_id, created_at, id)
    WHERE tx_type <> 'payment';
CREATE INDEX transactions_merchant_other_idx ON transactions (merchant_id, created_at, id)
    WHERE tx_type <> 'payment' AND merchant_id IS NOT NULL;

-- A card's points ledger.
DROP INDEX point_ledger_card_idx;
CREATE INDEX point_ledger_card_page_idx ON point_ledger (card_id, created_at, id);

-- The audit log and each of its filters.
DROP INDEX audit_events_time_idx;
CREATE INDEX audit_events_page_idx ON audit_events (occurred_at, id);
DROP INDEX audit_events_actor_idx;
CREATE INDEX audit_events_actor_page_idx ON audit_events (actor_id, occurred_at, id);
DROP INDEX audit_events_action_idx;
CREATE INDEX audit_events_action_page_idx ON audit_events (action, occurred_at, id);
DROP INDEX audit_events_object_idx;
CREATE INDEX audit_events_object_page_idx ON audit_events (object_type, object_id, occurred_at, id);

-- Admin searches: members, merchants and cards newest first, alone or by status / type.
DROP INDEX members_created_at_idx;
CREATE INDEX members_page_idx ON members (created_at, id);
DROP INDEX members_status_idx;
CREATE INDEX members_status_page_idx ON members (status, created_at, id);
DROP INDEX merchants_created_at_idx;
CREATE INDEX merchants_page_idx ON merchants (created_at, id);
CREATE INDEX merchants_status_page_idx ON merchants (status, created_at, id);
DROP INDEX cards_created_at_idx;
CREATE INDEX cards_page_idx ON cards (created_at, id);
CREATE INDEX cards_type_page_idx ON cards (card_type, created_at, id);

-- Settlements, latest period first: a merchant's, and every merchant's.
DROP INDEX settlements_merchant_created_idx;
CREATE INDEX settlements_merchant_page_idx ON settlements (merchant_id, period_start, id);
CREATE INDEX settlements_page_idx ON settlements (period_start, id);

-- A card's live bindings, oldest first.
CREATE INDEX card_bindings_card_page_idx ON card_bindings (card_id, created_at, member_id) WHERE active;

-- Reports at volume: a merchant's payments, refunds and counter top-ups counted per store and
-- 15-minute bucket (UTC; every business time zone's hours and days start on a quarter hour), kept
-- by triggers in the transaction that writes the movement, so daily summaries (per store or the
-- whole merchant), settlements and statistics read at most a few thousand of these rows instead
-- of a merchant's whole history (sql/functions/aggregates.sql). Every merchant transaction names
-- its store (0006), so `store_id` is never NULL here. `shard` spreads one store's concurrent
-- payments over several rows (one per backend, modulo 8): a single row per store and bucket would
-- make every payment of a busy till wait for the one before it to commit. Updates of a row touch
-- no indexed column (HOT), so only a bucket's first movement writes index entries.
CREATE TABLE merchant_activity (
    merchant_id uuid NOT NULL,
    store_id    uuid NOT NULL,
    bucket      timestamptz NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('payment', 'refund', 'topup')),
    shard       smallint NOT NULL,
    count       bigint NOT NULL,
    amount      numeric(16, 2) NOT NULL,
    PRIMARY KEY (merchant_id, store_id, bucket, kind, shard)
);
-- The whole merchant's buckets of a period (the primary key serves one store's).
CREATE INDEX merchant_activity_merchant_idx ON merchant_activity (merchant_id, bucket);
CREATE INDEX merchant_activity_bucket_idx ON merchant_activity (bucket);

-- Recharges of a day for the statistics (all of them, not only a merchant's): only recharges
-- write this index.
CREATE INDEX transactions_recharge_created_idx ON transactions (created_at) INCLUDE (final_amount)
    WHERE tx_type = 'recharge' AND status = 'completed';

-- The trigger's function lives here with its triggers (they cannot be created without it); what it
-- counts is `merchant_activity_add` in sql/functions/aggregates.sql, applied after migrations.
CREATE FUNCTION merchant_activity_track() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM merchant_activity_add(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM merchant_activity_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER transactions_activity_insert AFTER INSERT ON transactions
    FOR EACH ROW WHEN (NEW.merchant_id IS NOT NULL AND NEW.status IN ('completed', 'refunded'))
    EXECUTE FUNCTION merchant_activity_track();
CREATE TRIGGER transactions_activity_update AFTER UPDATE ON transactions
    FOR EACH ROW WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at
                       OR OLD.merchant_id IS DISTINCT FROM NEW.merchant_id
                       OR OLD.store_id IS DISTINCT FROM NEW.store_id
                       OR OLD.final_amount IS DISTINCT FROM NEW.final_amount
                       OR OLD.tx_type IS DISTINCT FROM NEW.tx_type
                       OR OLD.payment_method IS DISTINCT FROM NEW.payment_method
                       OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION merchant_activity_track();
CREATE TRIGGER transactions_activity_delete AFTER DELETE ON transactions
    FOR EACH ROW WHEN (OLD.merchant_id IS NOT NULL)
    EXECUTE FUNCTION merchant_activity_track();

-- What the triggers would have counted for the rows already there.
INSERT INTO merchant_activity (merchant_id, store_id, bucket, kind, shard, count, amount)
SELECT merchant_id, store_id, date_bin('15 minutes', created_at, '2000-01-01T00:00:00Z'), kind, 0, count(*),
       sum(final_amount)
FROM (SELECT merchant_id, store_id, created_at, final_amount,
             CASE WHEN tx_type = 'payment' AND status IN ('completed', 'refunded') THEN 'payment'
                  WHEN tx_type = 'refund' AND status = 'completed' THEN 'refund'
                  WHEN tx_type = 'recharge' AND payment_method = 'cash' AND status = 'completed' THEN 'topup'
             END AS kind
      FROM transactions WHERE merchant_id IS NOT NULL) t
WHERE kind IS NOT NULL
GROUP BY 1, 2, 3, 4;

-- Retention: the hourly sweep finds sessions long expired by this (sessions are created in time
-- order and live for a fixed time, so a block range summary answers it; no B-tree insert at login).
CREATE INDEX sessions_expires_brin ON sessions USING brin (expires_at);

-- Lists of issue 18 and 19 (stores, staff, POS keys, webhooks) by the same keyset recipe. Staff
-- are listed by `lower(username)`, which `staff_username_key` (0006) already serves.
DROP INDEX pos_keys_merchant_idx;
CREATE INDEX pos_keys_page_idx ON pos_keys (merchant_id, created_at, id);
DROP INDEX webhook_endpoints_merchant_idx;
CREATE INDEX webhook_endpoints_page_idx ON webhook_endpoints (merchant_id, created_at, id);
DROP INDEX webhook_deliveries_endpoint_idx;
CREATE INDEX webhook_deliveries_page_idx ON webhook_deliveries (endpoint_id, created_at, id);
-- A merchant's stores: the default first, then by code (`db::stores::list_stores`).
CREATE INDEX stores_page_idx ON stores (merchant_id, (CASE WHEN is_default THEN '' ELSE upper(code) END));
