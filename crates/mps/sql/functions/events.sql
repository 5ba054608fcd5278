-- Events (issue 19): the outbox of money movements, settlement changes and card status moves.
-- Each money function calls one `emit_*_event` line in the transaction of its effect, so an event
-- exists exactly when its effect committed. `emit_event` also writes one pending webhook delivery
-- per active endpoint of the event's merchant subscribed to its type (a programme event, with no
-- merchant: per active programme endpoint subscribed to it); the delivery worker sends
-- them (src/webhooks/). Payloads carry ids, numbers and amounts as strings and card_no, never
-- personal data of members. The list of types and their payloads: docs/webhooks.md.

-- Writes an event and its pending deliveries; returns the event id.
CREATE OR REPLACE FUNCTION emit_event(p_type text, p_merchant_id uuid, p_payload jsonb) RETURNS uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO events (type, merchant_id, payload) VALUES (p_type, p_merchant_id, p_payload) RETURNING id INTO v_id;
    IF p_merchant_id IS NOT NULL THEN
        INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT v_id, e.id FROM webhook_endpoints e
        WHERE e.merchant_id = p_merchant_id AND e.status = 'active' AND p_type = ANY (e.event_types);
    ELSE
        -- A programme event goes to the programme's endpoints (registered by admins).
        INSERT INTO webhook_deliveries (event_id, endpoint_id)
        SELECT v_id, e.id FROM webhook_endpoints e
        WHERE e.merchant_id IS NULL AND e.status = 'active' AND p_type = ANY (e.event_types);
    END IF;
    RETURN v_id;
END $$;

-- A transaction's event (`payment.succeeded`, `refund.succeeded`, `recharge.succeeded`), from the
-- row just written; the merchant's when the transaction has one (payments, refunds, counter top-ups).
CREATE OR REPLACE FUNCTION emit_tx_event(p_type text, p_tx transactions, p_card_no text) RETURNS uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN emit_event(p_type, p_tx.merchant_id, jsonb_build_object(
        'transaction', jsonb_build_object(
            'id', p_tx.id, 'tx_no', p_tx.tx_no, 'tx_type', p_tx.tx_type, 'card_no', p_card_no,
            'merchant_code', (SELECT code FROM merchants WHERE id = p_tx.merchant_id),
            'raw_amount', p_tx.raw_amount::text, 'discount_applied', p_tx.discount_applied::text,
            'final_amount', p_tx.final_amount::text, 'points_earned', p_tx.points_earned,
            'status', p_tx.status, 'payment_method', p_tx.payment_method,
            'original_tx_no', (SELECT tx_no FROM transactions WHERE id = p_tx.original_tx_id),
            'external_order_id', p_tx.external_order_id, 'operator', p_tx.operator,
            'store_code', store_code(p_tx.store_id), 'staff_id', p_tx.staff_id,
            'pos_key_id', p_tx.pos_key_id,
            'terminal_id', CASE WHEN p_tx.pos_key_id IS NOT NULL
                                THEN (SELECT terminal_id FROM pos_keys WHERE id = p_tx.pos_key_id) END,
            'created_at', p_tx.created_at)));
END $$;

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
