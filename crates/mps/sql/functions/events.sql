-- Events (issue 19): the outbox of money movements, settlement changes and card status moves.
-- Each money function calls one `emit_*_event` line in the transaction of its effect, so an event
-- exists exactly when its effect committed: a settlement's or a card's event is a row of `events`,
-- a money movement's is its own transaction row (issue 16, fourth pass), and `event_log` shows
-- both. Each emit also writes one pending webhook delivery per active endpoint of the event's
-- merchant subscribed to its type (a programme event, with no merchant: per active programme
-- endpoint subscribed to it); the delivery worker sends them (src/webhooks/). Payloads carry ids, numbers and amounts as strings and card_no, never
-- personal data of members. The list of types and their payloads: docs/webhooks.md.

-- One pending delivery of an event per active endpoint subscribed to its type: the merchant's
-- endpoints for a merchant's event, the programme's (registered by admins) for an event of no
-- merchant.
CREATE OR REPLACE FUNCTION queue_deliveries(p_event_id uuid, p_type text, p_merchant_id uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    -- `=` and `IS NULL` apart, so that each reads the endpoints' index on their merchant.
    IF p_merchant_id IS NOT NULL THEN
        INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT p_event_id, e.id FROM webhook_endpoints e
        WHERE e.merchant_id = p_merchant_id AND e.status = 'active' AND p_type = ANY (e.event_types);
    ELSE
        INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT p_event_id, e.id FROM webhook_endpoints e
        WHERE e.merchant_id IS NULL AND e.status = 'active' AND p_type = ANY (e.event_types);
    END IF;
END $$;

-- Writes an event row and its pending deliveries; returns the event id. For the events that are
-- not a money movement (settlements, card status moves); a movement's event is its row.
CREATE OR REPLACE FUNCTION emit_event(p_type text, p_merchant_id uuid, p_payload jsonb) RETURNS uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO events (type, merchant_id, payload) VALUES (p_type, p_merchant_id, p_payload) RETURNING id INTO v_id;
    PERFORM queue_deliveries(v_id, p_type, p_merchant_id);
    RETURN v_id;
END $$;

-- The event type of a movement: `payment.succeeded`, `refund.succeeded`, `recharge.succeeded`.
CREATE OR REPLACE FUNCTION tx_event_type(p_tx_type tx_type) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT p_tx_type::text || '.succeeded' $$;

-- A movement's event (issue 16, fourth pass; migration 0018): the movement's transaction row is
-- its outbox event — the event's id is the transaction's, written by the statement that writes the
-- movement, so it exists exactly when the movement committed. Only its pending deliveries are
-- written here (none when no endpoint subscribes). Called once the row is final: at its insert for
-- payments, refunds and direct credits, at the order's confirmation for an online recharge.
CREATE OR REPLACE FUNCTION emit_tx_event(p_tx transactions) RETURNS uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM queue_deliveries(p_tx.id, tx_event_type(p_tx.tx_type), p_tx.merchant_id);
    RETURN p_tx.id;
END $$;

-- A movement's event payload: the merchant's view of the transaction as it was when the movement
-- committed, whenever it is read (a first delivery, a retry, a redelivery after a refund). Every
-- field but the status is written once with the row (amounts, numbers, operator, store, staff, POS
-- key) or belongs to a row whose field never changes (the card's number, the merchant's and the
-- store's codes, the key's terminal, the original payment's number); the status changes only on a
-- payment, by its refunds, and every movement's event is sent once the movement is `completed`
-- (an online recharge's at its confirmation), so the status shown is `completed` — the same
-- argument as `idempotency_expand` (sql/functions/payments.sql).
CREATE OR REPLACE FUNCTION tx_event_json(p_tx transactions) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN jsonb_build_object(
        'transaction', jsonb_build_object(
            'id', p_tx.id, 'tx_no', p_tx.tx_no, 'tx_type', p_tx.tx_type,
            'card_no', (SELECT card_no FROM cards WHERE id = p_tx.card_id),
            'merchant_code', (SELECT code FROM merchants WHERE id = p_tx.merchant_id),
            'raw_amount', p_tx.raw_amount::text, 'discount_applied', p_tx.discount_applied::text,
            'final_amount', p_tx.final_amount::text, 'points_earned', p_tx.points_earned,
            'status', 'completed'::tx_status, 'payment_method', p_tx.payment_method,
            'original_tx_no', (SELECT tx_no FROM transactions WHERE id = p_tx.original_tx_id),
            'external_order_id', p_tx.external_order_id, 'operator', p_tx.operator,
            'store_code', store_code(p_tx.store_id), 'staff_id', p_tx.staff_id,
            'pos_key_id', p_tx.pos_key_id,
            'terminal_id', CASE WHEN p_tx.pos_key_id IS NOT NULL
                                THEN (SELECT terminal_id FROM pos_keys WHERE id = p_tx.pos_key_id) END,
            'created_at', p_tx.created_at));
END $$;

-- Every event: the rows of `events` (settlement changes, card status moves, and the movements'
-- events written before migration 0018) and every movement that has committed as one — a payment
-- or a refund at once, a recharge once completed — unless an older `events` row already is its
-- event (index `events_movement_idx`). Readers look events up by id (the delivery worker, the
-- delivery lists, a redelivery), which reaches each side through its primary key. The event time
-- is the movement's commit time: the row's `created_at`, an online recharge's confirmation
-- (`updated_at`, which nothing changes after it).
CREATE OR REPLACE VIEW event_log AS
SELECT e.id, e.type, e.merchant_id, e.payload, e.created_at
FROM events e
UNION ALL
SELECT t.id, tx_event_type(t.tx_type), t.merchant_id, tx_event_json(t),
       CASE WHEN t.payment_method IN ('wechat', 'alipay', 'bank') THEN t.updated_at ELSE t.created_at END
FROM transactions t
WHERE (t.tx_type <> 'recharge' OR t.status = 'completed')
  AND NOT EXISTS (SELECT 1 FROM events o
                  WHERE (o.payload #>> '{transaction,id}')::uuid = t.id
                    AND o.type IN ('payment.succeeded', 'refund.succeeded', 'recharge.succeeded'));

-- `settlement.created`, or `settlement.status_changed` with the status it left.
CREATE OR REPLACE FUNCTION emit_settlement_event(p_type text, p_settlement_id uuid,
                                                 p_previous_status settlement_status DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_settlement jsonb := settlement_json(p_settlement_id);
BEGIN
    RETURN emit_event(p_type, (v_settlement ->> 'merchant_id')::uuid,
                      jsonb_build_object('settlement', v_settlement, 'previous_status', p_previous_status));
END $$;

-- A card's status move: `card.frozen`, `card.unfrozen`, or `card.status_changed` for the others.
-- A programme event: it belongs to no merchant, and goes to the programme's endpoints.
CREATE OR REPLACE FUNCTION emit_card_event(p_card cards, p_to card_status) RETURNS uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN emit_event(
        CASE WHEN p_to = 'inactive' AND p_card.status = 'active' THEN 'card.frozen'
             WHEN p_to = 'active' AND p_card.status = 'inactive' THEN 'card.unfrozen'
             ELSE 'card.status_changed' END,
        NULL,
        jsonb_build_object('card', jsonb_build_object('id', p_card.id, 'card_no', p_card.card_no,
                                                      'card_type', p_card.card_type),
                           'from', p_card.status, 'to', p_to));
END $$;

-- One event by id, through both primary keys. Readers join deliveries to their events through
-- this rather than through the view: a join clause does not reach inside the view's second arm (it
-- is a join itself, with the legacy check), so the planner would scan every movement; a parameter
-- does, and plpgsql keeps the call from being inlined back into a join.
CREATE OR REPLACE FUNCTION event_by_id(p_id uuid) RETURNS SETOF event_log ROWS 1
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN QUERY SELECT * FROM event_log WHERE id = p_id;
END $$;
