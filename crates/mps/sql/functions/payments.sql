-- Payments: the charge by QR code and its refunds, and the transaction view they answer with.

-- Transactions as clients see them (amounts as decimal strings).
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
       t.merchant_id
FROM transactions t
JOIN cards c ON c.id = t.card_id
LEFT JOIN merchants m ON m.id = t.merchant_id
LEFT JOIN transactions o ON o.id = t.original_tx_id;

-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION transaction_json(p_tx_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT to_jsonb(v) - 'merchant_id' FROM transaction_views v WHERE v.id = p_tx_id);
END $$;

-- The effect of a charge; raises business errors, which `charge_by_qr` records.
-- The card is locked before its token is claimed (the lock order: sql/functions/qr.sql).
CREATE OR REPLACE FUNCTION charge_by_qr_effect(p_merchant_id uuid, p_operator text, p_idempotency_key text,
                                               p_token_hash bytea, p_amount numeric, p_external_order_id text,
                                               p_tag jsonb, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card_id uuid;
    v_member_id uuid;
    v_issue bigint;
    v_card cards;
    v_original_tx text;
    v_discount numeric;
    v_final numeric(12, 2);
    v_points bigint := 0;
    v_level int;
    v_tx_id uuid;
    v_tag jsonb := p_tag;
BEGIN
    PERFORM require_merchant_active(p_merchant_id);
    IF p_external_order_id IS NOT NULL THEN
        SELECT t.tx_no INTO v_original_tx FROM merchant_orders o JOIN transactions t ON t.id = o.tx_id
        WHERE o.merchant_id = p_merchant_id AND o.external_order_id = p_external_order_id;
        IF FOUND THEN
            PERFORM raise_business_error('DUPLICATE_EXTERNAL_ORDER',
                'This order was already charged as ' || v_original_tx || '.',
                jsonb_build_object('original_tx_no', v_original_tx));
        END IF;
    END IF;

    -- The token's card, read without a lock, then locked: card before token.
    SELECT q.card_id INTO v_card_id FROM qr_tokens q WHERE q.token_hash = p_token_hash AND q.expires_at > now();
    IF NOT FOUND THEN
        PERFORM raise_business_error('QR_EXPIRED_OR_INVALID',
            'This QR code is expired, used or unknown; ask the member for a new one.');
    END IF;
    SELECT * INTO v_card FROM cards WHERE id = v_card_id FOR UPDATE;

    -- Claim the token in one conditional statement: of two racing charges only one can delete
    -- the row (a token superseded, revoked or used meanwhile is gone). A rollback (e.g.
    -- insufficient balance) puts it back.
    DELETE FROM qr_tokens WHERE token_hash = p_token_hash AND card_id = v_card_id AND expires_at > now()
    RETURNING member_id, issue_id INTO v_member_id, v_issue;
    IF NOT FOUND THEN
        PERFORM raise_business_error('QR_EXPIRED_OR_INVALID',
            'This QR code is expired, used or unknown; ask the member for a new one.');
    END IF;

    PERFORM require_card_usable(v_card);
    PERFORM require_member_active(v_member_id);
    IF NOT EXISTS (SELECT 1 FROM card_bindings
                   WHERE card_id = v_card_id AND member_id = v_member_id AND active AND role = 'owner') THEN
        PERFORM raise_business_error('QR_EXPIRED_OR_INVALID', 'This QR code is no longer valid for its card.');
    END IF;

    v_discount := effective_discount(v_card.card_type, v_card.level_discount, v_card.fixed_discount, v_member_id);
    v_final := round(p_amount * v_discount, 2);
    IF v_final <= 0 THEN
        PERFORM raise_business_error('INVALID_AMOUNT', 'After the discount this payment would be 0.00.',
            jsonb_build_object('fields', jsonb_build_object('amount', 'rounds to 0.00 after the discount')));
    END IF;
    IF v_card.balance < v_final THEN
        PERFORM raise_business_error('INSUFFICIENT_BALANCE', 'The card balance does not cover this payment.',
            jsonb_build_object('required', v_final::text));
    END IF;
    IF v_card.card_type = 'standard' THEN
        v_points := floor(p_amount)::bigint;
    END IF;

    IF p_operator IS NOT NULL THEN
        v_tag := coalesce(v_tag, '{}') || jsonb_build_object('operator', p_operator);
    END IF;
    INSERT INTO transactions (tx_no, tx_type, card_id, merchant_id, operator, raw_amount, discount_applied,
                              final_amount, points_earned, status, payment_method, idempotency_key,
                              external_order_id, tag, actor_id, actor_role)
    VALUES (next_tx_no('payment'), 'payment', v_card_id, p_merchant_id, p_operator, p_amount, v_discount,
            v_final, v_points, 'completed', 'balance', p_idempotency_key, p_external_order_id, v_tag,
            p_merchant_id, 'merchant')
    RETURNING id INTO v_tx_id;

    UPDATE cards SET balance = balance - v_final, updated_at = now() WHERE id = v_card_id;
    v_level := v_card.level;
    IF v_points > 0 THEN
        -- Priced at the level before this payment; the points count from the next one.
        v_level := set_card_points(v_card_id, v_card.points + v_points);
        INSERT INTO point_ledger (card_id, tx_id, delta, points_after, reason, actor_id, actor_role)
        VALUES (v_card_id, v_tx_id, v_points, v_card.points + v_points, 'payment', p_merchant_id, 'merchant');
    END IF;
    UPDATE qr_issues SET ended_at = now(), end_reason = 'used', tx_id = v_tx_id WHERE id = v_issue;
    IF p_external_order_id IS NOT NULL THEN
        INSERT INTO merchant_orders (merchant_id, external_order_id, tx_id)
        VALUES (p_merchant_id, p_external_order_id, v_tx_id)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            -- A concurrent charge of the same order committed first.
            SELECT t.tx_no INTO v_original_tx FROM merchant_orders o JOIN transactions t ON t.id = o.tx_id
            WHERE o.merchant_id = p_merchant_id AND o.external_order_id = p_external_order_id;
            PERFORM raise_business_error('DUPLICATE_EXTERNAL_ORDER',
                'This order was already charged as ' || v_original_tx || '.',
                jsonb_build_object('original_tx_no', v_original_tx));
        END IF;
    END IF;
    PERFORM audit(p_merchant_id, 'merchant', 'PAYMENT', 'transaction', v_tx_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'final_amount', v_final::text,
                                     'operator', p_operator), p_request_id);
    RETURN jsonb_build_object(
        'transaction', transaction_json(v_tx_id),
        'card', jsonb_build_object('card_no', v_card.card_no, 'card_type', v_card.card_type, 'level', v_level),
        'affected_members', card_member_ids(v_card_id));
END $$;

-- Charge a card by its QR token, idempotently per (merchant, key).
CREATE OR REPLACE FUNCTION charge_by_qr(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_fingerprint bytea,
                                        p_token_hash bytea, p_amount numeric, p_external_order_id text, p_tag jsonb,
                                        p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_outcome jsonb;
    v_hint text;
    v_detail text;
BEGIN
    v_outcome := idempotency_begin(p_merchant_id, 'charge', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;
    BEGIN
        v_outcome := ok_outcome(charge_by_qr_effect(p_merchant_id, p_operator, p_idempotency_key, p_token_hash,
                                                    p_amount, p_external_order_id, p_tag, p_request_id),
                                p_request_id);
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_outcome := error_outcome(SQLERRM, v_detail, v_hint, p_request_id);
    END;
    RETURN idempotency_finish(p_merchant_id, 'charge', p_idempotency_key, v_outcome);
END $$;

-- The effect of a refund; raises business errors, which `refund_payment` records.
CREATE OR REPLACE FUNCTION refund_payment_effect(p_merchant_id uuid, p_operator text, p_idempotency_key text,
                                                 p_original_tx_no text, p_amount numeric, p_reason text, p_tag jsonb,
                                                 p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_original transactions;
    v_card cards;
    v_refunded numeric(12, 2);
    v_target_reversed bigint;
    v_reverse bigint;
    v_tx_id uuid;
    v_tag jsonb := p_tag;
BEGIN
    PERFORM require_merchant_active(p_merchant_id);
    -- Lock the original payment first, then the card: concurrent refunds of one payment queue here.
    SELECT * INTO v_original FROM transactions
    WHERE tx_no = p_original_tx_no AND tx_type = 'payment' AND merchant_id = p_merchant_id
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('TX_NOT_FOUND', 'You have no payment with this tx_no.');
    END IF;
    IF v_original.status <> 'completed' THEN
        PERFORM raise_business_error('NOT_REFUNDABLE', 'This payment is ' || v_original.status || ' and cannot be refunded.',
            jsonb_build_object('status', v_original.status, 'remaining_refundable',
                               (v_original.final_amount - v_original.refunded_total)::text));
    END IF;
    IF p_amount > v_original.final_amount - v_original.refunded_total THEN
        PERFORM raise_business_error('REFUND_EXCEEDS_REMAINING',
            'At most ' || (v_original.final_amount - v_original.refunded_total)::text || ' can still be refunded.',
            jsonb_build_object('remaining_refundable', (v_original.final_amount - v_original.refunded_total)::text));
    END IF;

    SELECT * INTO v_card FROM cards WHERE id = v_original.card_id FOR UPDATE;
    IF v_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed; refund the customer another way.');
    END IF;

    v_refunded := v_original.refunded_total + p_amount;
    -- Points reversed so far for this payment are floor(earned × refunded / final): the partial
    -- refunds of one payment add up to exactly its points.
    v_target_reversed := floor(v_original.points_earned * v_refunded / v_original.final_amount)::bigint;
    v_reverse := least(v_target_reversed - v_original.points_reversed, v_card.points);

    UPDATE transactions
    SET refunded_total = v_refunded,
        points_reversed = v_target_reversed,
        status = CASE WHEN v_refunded = final_amount THEN 'refunded'::tx_status ELSE status END,
        updated_at = now()
    WHERE id = v_original.id;

    IF p_operator IS NOT NULL THEN
        v_tag := coalesce(v_tag, '{}') || jsonb_build_object('operator', p_operator);
    END IF;
    INSERT INTO transactions (tx_no, tx_type, card_id, merchant_id, operator, raw_amount, discount_applied,
                              final_amount, status, payment_method, original_tx_id, idempotency_key, reason,
                              tag, actor_id, actor_role)
    VALUES (next_tx_no('refund'), 'refund', v_card.id, p_merchant_id, p_operator, p_amount, 1, p_amount,
            'completed', 'balance', v_original.id, p_idempotency_key, p_reason, v_tag, p_merchant_id, 'merchant')
    RETURNING id INTO v_tx_id;

    UPDATE cards SET balance = balance + p_amount, updated_at = now() WHERE id = v_card.id;
    IF v_reverse > 0 THEN
        PERFORM set_card_points(v_card.id, v_card.points - v_reverse);
        INSERT INTO point_ledger (card_id, tx_id, delta, points_after, reason, actor_id, actor_role)
        VALUES (v_card.id, v_tx_id, -v_reverse, v_card.points - v_reverse, 'refund_reverse', p_merchant_id, 'merchant');
    END IF;
    PERFORM audit(p_merchant_id, 'merchant', 'REFUND', 'transaction', v_tx_id::text,
                  jsonb_build_object('original_tx_no', p_original_tx_no, 'amount', p_amount::text,
                                     'points_reversed', v_reverse, 'reason', p_reason, 'operator', p_operator),
                  p_request_id);
    RETURN jsonb_build_object(
        'refund', transaction_json(v_tx_id),
        'original', jsonb_build_object(
            'tx_no', v_original.tx_no,
            'status', CASE WHEN v_refunded = v_original.final_amount THEN 'refunded' ELSE 'completed' END,
            'refunded_total', v_refunded::text,
            'remaining_refundable', (v_original.final_amount - v_refunded)::text),
        'affected_members', card_member_ids(v_card.id));
END $$;

-- Refund (part of) a payment, idempotently per (merchant, key).
CREATE OR REPLACE FUNCTION refund_payment(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_fingerprint bytea,
                                          p_original_tx_no text, p_amount numeric, p_reason text, p_tag jsonb,
                                          p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_outcome jsonb;
    v_hint text;
    v_detail text;
BEGIN
    v_outcome := idempotency_begin(p_merchant_id, 'refund', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;
    BEGIN
        v_outcome := ok_outcome(refund_payment_effect(p_merchant_id, p_operator, p_idempotency_key,
                                                      p_original_tx_no, p_amount, p_reason, p_tag, p_request_id),
                                p_request_id);
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_outcome := error_outcome(SQLERRM, v_detail, v_hint, p_request_id);
    END;
    RETURN idempotency_finish(p_merchant_id, 'refund', p_idempotency_key, v_outcome);
END $$;
