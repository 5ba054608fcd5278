-- Issue 16, second pass — the cost of a charge: the schema side (docs/benchmarks.md, "The cost of
-- a charge"; docs/decisions.md, "Issue 16").

-- Foreign keys whose check took a row lock on a shared parent on every payment. A payment's
-- `transactions` row checked its merchant and its store (`FOR KEY SHARE` of the merchant's row and
-- of its store's row: every concurrent payment of one merchant locked the same two rows, a WAL
-- record each and a multixact as soon as two overlapped), its `events` row the merchant again, and
-- each QR issue its member twice (`qr_tokens`, `qr_issues`); a ledger row locked the transaction
-- row just written. These parents are never deleted (the triggers below refuse it) and the keys
-- a payment writes come from rows the same transaction has just read (the caller's merchant and
-- store, the token's member, the transaction it inserted), so the checks only cost. The books'
-- invariants (crates/test-support/invariants.sql) check that every such reference resolves.
ALTER TABLE transactions DROP CONSTRAINT transactions_merchant_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT transactions_store_fkey;
ALTER TABLE events DROP CONSTRAINT events_merchant_id_fkey;
ALTER TABLE qr_tokens DROP CONSTRAINT qr_tokens_member_id_fkey;
ALTER TABLE qr_issues DROP CONSTRAINT qr_issues_member_id_fkey;
ALTER TABLE point_ledger DROP CONSTRAINT point_ledger_tx_id_fkey;

-- The guard that replaces them: merchants, stores, members and transactions are never deleted
-- (accounts are suspended or marked deleted, stores closed, movements refunded), and a store never
-- changes merchant. The trigger function lives here with its triggers (migrations/README.md).
CREATE FUNCTION rows_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted or moved (references to them are not foreign keys)', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER merchants_never_deleted BEFORE DELETE OR TRUNCATE ON merchants
    FOR EACH STATEMENT EXECUTE FUNCTION rows_never_deleted();
CREATE TRIGGER stores_never_deleted BEFORE DELETE OR TRUNCATE ON stores
    FOR EACH STATEMENT EXECUTE FUNCTION rows_never_deleted();
CREATE TRIGGER members_never_deleted BEFORE DELETE OR TRUNCATE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION rows_never_deleted();
CREATE TRIGGER transactions_never_deleted BEFORE DELETE OR TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION rows_never_deleted();
CREATE TRIGGER stores_never_moved BEFORE UPDATE OF id, merchant_id ON stores
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.merchant_id IS DISTINCT FROM NEW.merchant_id)
    EXECUTE FUNCTION rows_never_deleted();
CREATE TRIGGER merchants_never_moved BEFORE UPDATE OF id ON merchants
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION rows_never_deleted();
CREATE TRIGGER members_never_moved BEFORE UPDATE OF id ON members
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION rows_never_deleted();

-- Room on every page for the next version of a row, so that the one UPDATE of a card per movement
-- and the one UPDATE that ends a QR issue stay HOT (no index entry; pruned in the page) as the
-- tables grow. Applies to pages written from now on.
ALTER TABLE cards SET (fillfactor = 85);
ALTER TABLE qr_issues SET (fillfactor = 85);

-- Time-ordered ids for the rows every payment appends (UUID version 7: 48 bits of Unix time in
-- milliseconds, then random bits, RFC 9562). A random (version 4) id sends each insert to a random
-- leaf of the primary key — and of the audit index on the transaction's id as object — so after
-- every checkpoint each of those leaves is first written as a full-page image; time-ordered ids
-- append to the right edge instead, as the other indexes of these tables already do. The ids stay
-- unguessable (74 random bits) and say no more than the `created_at` they travel with.
-- PostgreSQL 15 has no built-in for it; the column defaults need it, so it lives here.
CREATE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
RETURN encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                                      PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                                                        FROM 3)
                                      FROM 1 FOR 6),
                              52, 1),
                      53, 1),
              'hex')::uuid;
ALTER TABLE transactions ALTER COLUMN id SET DEFAULT uuid_v7();
ALTER TABLE events ALTER COLUMN id SET DEFAULT uuid_v7();

-- Indexes written by every payment that no query reads: every access to `events` is by id (a
-- delivery's event, a redelivery), and `qr_issues` is read by id (ending an issue) and by time
-- (the day's statistics, BRIN) — the history has no per-card reader. Each was one more B-tree
-- leaf per payment, on a random leaf for the card's (a full-page image after each checkpoint).
DROP INDEX events_merchant_created_idx;
DROP INDEX qr_issues_card_idx;

-- Issue 15's quarter-hour aggregates (0008) count a payment from `charge_by_qr` itself, as the
-- last write before its commit, instead of from a row trigger in the middle of it: the trigger
-- chain (an AFTER trigger event, `merchant_activity_track`, then `merchant_activity_add`) was
-- about a tenth of a charge's time in the profile, and the shard row it updates stayed locked from
-- the transaction insert to the commit, through the ledger, event, QR, audit and idempotency
-- writes — one backend's whole charge for every other backend of the same merchant, store and
-- shard (`Lock:transactionid` in 7% of the samples at 64 clients). `charge_by_qr` is the only
-- writer of payments; every other movement (refunds, top-ups, credits, recharges) is still counted
-- by the trigger, and status or time changes of any row by the update trigger.
DROP TRIGGER transactions_activity_insert ON transactions;
CREATE TRIGGER transactions_activity_insert AFTER INSERT ON transactions
    FOR EACH ROW WHEN (NEW.merchant_id IS NOT NULL AND NEW.status IN ('completed', 'refunded')
                       AND NEW.tx_type <> 'payment')
    EXECUTE FUNCTION merchant_activity_track();
