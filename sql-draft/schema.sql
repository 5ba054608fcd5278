-- Issue 16: schema changes of the payment path (a migration of their own).

-- The card's balance right after a movement, written by the statement that records the movement
-- (NULL on a recharge order until it is confirmed, and on rows written before this migration).
ALTER TABLE transactions ADD COLUMN balance_after numeric(12, 2) CHECK (balance_after >= 0);

CREATE OR REPLACE VIEW transaction_views AS
SELECT t.id,
       t.tx_no,
       t.tx_type,
       t.card_id,
       c.card_no,
       m.code AS merchant_code,
       t.raw_amount::text AS raw_amount,
       t.discount_applied::text AS discount_applied,
       t.final_amount::text AS final_amount,
       t.points_earned,
       t.status,
       t.payment_method,
       o.tx_no AS original_tx_no,
       t.external_order_id,
       t.tag,
       t.operator,
       CASE WHEN t.tx_type = 'payment' THEN t.refunded_total::text END AS refunded_total,
       t.created_at,
       t.merchant_id,
       t.balance_after::text AS balance_after
FROM transactions t
JOIN cards c ON c.id = t.card_id
LEFT JOIN merchants m ON m.id = t.merchant_id
LEFT JOIN transactions o ON o.id = t.original_tx_id;

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
