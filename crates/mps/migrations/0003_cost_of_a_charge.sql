-- Issue 16 — the cost of a charge: the schema side of the payment path rewritten to do the
-- database work a payment needs and nothing more (docs/benchmarks.md, "The cost of a charge").
-- The new function bodies, and `transaction_views` with its `balance_after` column, live in
-- sql/functions/ (payments.sql, recharges.sql, qr.sql, common.sql), applied after this migration.

-- The card's balance right after a movement, written by the statement that records the movement
-- (NULL on a recharge order until it is confirmed, and on rows written before this migration).
ALTER TABLE transactions ADD COLUMN balance_after numeric(12, 2) CHECK (balance_after >= 0);

-- Indexes on the payment path that only serve range scans of time (today's statistics, the
-- idempotency clean-up) become BRIN: these tables are appended in time order, so a block range
-- summary answers those scans, and an append costs no B-tree leaf insert (and no contention on
-- the right-most leaf every concurrent payment used to insert into). No query orders by them.
DROP INDEX transactions_created_idx;
CREATE INDEX transactions_created_brin ON transactions USING brin (created_at);
DROP INDEX qr_issues_issued_at_idx;
CREATE INDEX qr_issues_issued_at_brin ON qr_issues USING brin (issued_at);
DROP INDEX idempotency_keys_created_idx;
CREATE INDEX idempotency_keys_created_brin ON idempotency_keys USING brin (created_at);
-- No query looks live tokens up by expiry (expired ones are found by hash and ignored).
DROP INDEX qr_tokens_expires_idx;

-- The `*_effect` halves of the money functions are gone: a refusal is decided by reads before the
-- first write and recorded without a subtransaction, so the charge, refund, top-up and admin
-- credit are one function each. Dropping a function is a migration (migrations/README.md); on a
-- new database these do not exist yet, hence IF EXISTS. The function files applied right after
-- this replace their callers.
DROP FUNCTION IF EXISTS charge_by_qr_effect(uuid, text, text, bytea, numeric, text, jsonb, text);
DROP FUNCTION IF EXISTS refund_payment_effect(uuid, text, text, text, numeric, text, jsonb, text);
DROP FUNCTION IF EXISTS merchant_topup_effect(uuid, text, text, text, numeric, text);
DROP FUNCTION IF EXISTS admin_credit_card_effect(uuid, text, uuid, numeric, text, text);
