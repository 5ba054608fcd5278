-- Issues 18 and 19, the gaps: counter top-ups record their store and staff member like charges,
-- and the programme (its operators, through admins) registers webhook endpoints of its own for
-- the events that belong to no merchant (card.frozen, …). Schema only: the functions are in
-- sql/functions/recharges.sql and sql/functions/events.sql.

-- `credit_card` and `merchant_topup` take the store and the staff member: new arguments are a new
-- signature, so the old ones go (sql/functions/recharges.sql creates the new ones).
DROP FUNCTION IF EXISTS credit_card(cards, numeric, payment_method, uuid, text, text, text, uuid, actor_role, text,
                                    boolean);
DROP FUNCTION IF EXISTS merchant_topup(uuid, text, text, bytea, text, numeric, text);

-- A programme endpoint has no merchant: it receives the programme's events (merchant_id NULL).
ALTER TABLE webhook_endpoints ALTER COLUMN merchant_id DROP NOT NULL;
