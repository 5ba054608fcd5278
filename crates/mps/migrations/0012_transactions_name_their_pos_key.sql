-- Issue 18, the gap: `transactions.pos_key_id` (since 0006) was never written, so the books could
-- not say which terminal moved the money. `charge_by_qr`, `refund_payment`, `merchant_topup` and
-- `credit_card` take the POS key as a last argument (`DEFAULT NULL`): new arguments are a new
-- signature, so the old ones go (sql/functions/payments.sql and recharges.sql create the new ones).
-- No foreign key: the payment path keeps no FK locks (0010); the invariants query checks that every
-- `pos_key_id` names a key of the transaction's merchant.
DROP FUNCTION IF EXISTS charge_by_qr(uuid, text, text, bytea, bytea, numeric, text, jsonb, text, uuid, uuid);
DROP FUNCTION IF EXISTS refund_payment(uuid, text, text, bytea, text, numeric, text, jsonb, text, uuid);
DROP FUNCTION IF EXISTS merchant_topup(uuid, text, text, bytea, text, numeric, text, uuid, uuid);
DROP FUNCTION IF EXISTS credit_card(cards, numeric, payment_method, uuid, text, text, text, uuid, actor_role, text,
                                    boolean, uuid, uuid);
