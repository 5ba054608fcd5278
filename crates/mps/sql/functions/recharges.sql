-- Recharges: online orders and their confirmation, merchant top-ups, admin credits, point adjustments.

-- Raises unless the card takes recharges: standard cards only, not closed.
CREATE OR REPLACE FUNCTION require_rechargeable(p_card cards, p_allow_frozen boolean) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_card.card_type <> 'standard' THEN
        PERFORM raise_business_error('CARD_TYPE_NOT_RECHARGEABLE',
            'Only standard cards can be recharged; a ' || p_card.card_type || ' card cannot.');
    END IF;
    IF p_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
    END IF;
    IF NOT p_allow_frozen THEN
        PERFORM require_card_usable(p_card);
    END IF;
END $$;

-- Credits a card at once with a completed recharge transaction: one UPDATE of the card, whose
-- resulting balance the transaction row records. `p_audit` is false only when the credit is part
-- of a larger mutation that writes its own single audit event (a voucher's issue).
CREATE OR REPLACE FUNCTION credit_card(p_card cards, p_amount numeric, p_method payment_method, p_merchant_id uuid,
                                       p_operator text, p_idempotency_key text, p_reason text, p_actor_id uuid,
                                       p_actor_role actor_role, p_request_id text, p_audit boolean DEFAULT true,
                                       p_store_id uuid DEFAULT NULL, p_staff_id uuid DEFAULT NULL,
                                       p_pos_key_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_balance numeric(12, 2);
    v_tx transactions;
BEGIN
    UPDATE cards SET balance = balance + p_amount, updated_at = now() WHERE id = p_card.id
    RETURNING balance INTO v_balance;
    INSERT INTO transactions (tx_no, tx_type, card_id, merchant_id, operator, raw_amount, final_amount, status,
                              payment_method, idempotency_key, reason, tag, actor_id, actor_role, balance_after,
                              store_id, staff_id, pos_key_id)
    VALUES (next_tx_no('recharge'), 'recharge', p_card.id, p_merchant_id, p_operator, p_amount, p_amount,
            'completed', p_method, p_idempotency_key, p_reason,
            CASE WHEN p_operator IS NULL THEN NULL ELSE jsonb_build_object('operator', p_operator) END,
            p_actor_id, p_actor_role, v_balance, p_store_id, p_staff_id, p_pos_key_id)
    RETURNING * INTO v_tx;
    PERFORM emit_tx_event(v_tx);
    IF p_audit THEN
        INSERT INTO audit_events (actor_id, actor_role, action, object_type, object_id, context, request_id)
        VALUES (p_actor_id, p_actor_role, 'RECHARGE', 'transaction', v_tx.id::text,
                jsonb_build_object('card_no', p_card.card_no, 'amount', p_amount::text,
                                   'payment_method', p_method, 'reason', p_reason), p_request_id);
    END IF;
    RETURN jsonb_build_object(
        'transaction', tx_json(v_tx, p_card.card_no,
                               (SELECT code FROM merchants WHERE id = p_merchant_id), NULL),
        'affected_members', card_member_ids(p_card.id));
END $$;

CREATE OR REPLACE FUNCTION create_recharge_order_effect(p_member_id uuid, p_idempotency_key text, p_card_id uuid,
                                                        p_amount numeric, p_method payment_method, p_external_order_id text,
                                                        p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_tx_id uuid;
BEGIN
    PERFORM require_member_active(p_member_id);
    v_card := owned_card_for_update(p_member_id, p_card_id);
    PERFORM require_rechargeable(v_card, false);
    INSERT INTO transactions (tx_no, tx_type, card_id, raw_amount, final_amount, status, payment_method,
                              idempotency_key, external_order_id, actor_id, actor_role)
    VALUES (next_tx_no('recharge'), 'recharge', p_card_id, p_amount, p_amount, 'processing', p_method,
            p_idempotency_key, p_external_order_id, p_member_id, 'member')
    RETURNING id INTO v_tx_id;
    PERFORM audit(p_member_id, 'member', 'RECHARGE_ORDER', 'transaction', v_tx_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'amount', p_amount::text, 'payment_method', p_method),
                  p_request_id);
    RETURN jsonb_build_object('transaction', transaction_json(v_tx_id));
END $$;

-- A member's recharge order: pending until the payment channel confirms it.
CREATE OR REPLACE FUNCTION member_recharge(p_member_id uuid, p_idempotency_key text, p_fingerprint bytea, p_card_id uuid,
                                           p_amount numeric, p_method payment_method, p_external_order_id text,
                                           p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_outcome jsonb;
    v_hint text;
    v_detail text;
BEGIN
    v_outcome := idempotency_begin(p_member_id, 'member_recharge', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;
    BEGIN
        v_outcome := ok_outcome(create_recharge_order_effect(p_member_id, p_idempotency_key, p_card_id, p_amount,
                                                             p_method, p_external_order_id, p_request_id),
                                p_request_id);
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_outcome := error_outcome(SQLERRM, v_detail, v_hint, p_request_id);
    END;
    RETURN idempotency_finish(p_member_id, 'member_recharge', p_idempotency_key, v_outcome);
END $$;

-- The payment channel's confirmation of a recharge order (SPEC §2 "Recharge webhook"); the credited
-- card's resulting balance is written into the order by the statement that completes it.
CREATE OR REPLACE FUNCTION confirm_recharge(p_tx_no text, p_succeeded boolean, p_amount numeric, p_channel_ref text,
                                            p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_order transactions;
    v_card cards;
    v_reject text;
    v_member_status member_status;
    v_balance numeric(12, 2);
BEGIN
    SELECT * INTO v_order FROM transactions
    WHERE tx_no = p_tx_no AND tx_type = 'recharge' AND payment_method IN ('wechat', 'alipay', 'bank')
    FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('TX_NOT_FOUND', 'No recharge order has this tx_no.');
    END IF;
    IF v_order.status <> 'processing' THEN
        RETURN jsonb_build_object('tx_no', p_tx_no, 'status', v_order.status, 'changed', false);
    END IF;
    SELECT * INTO v_card FROM cards WHERE id = v_order.card_id FOR UPDATE;
    v_reject := CASE
        WHEN NOT p_succeeded THEN NULL
        WHEN p_amount IS DISTINCT FROM v_order.raw_amount THEN 'amount_mismatch'
        WHEN v_card.status = 'closed' THEN 'card_closed'
    END;
    IF NOT p_succeeded OR v_reject IS NOT NULL THEN
        UPDATE transactions SET status = 'failed', channel_ref = p_channel_ref, updated_at = now() WHERE id = v_order.id;
        PERFORM audit(NULL, 'system', CASE WHEN v_reject IS NULL THEN 'RECHARGE_FAILED' ELSE 'WEBHOOK_REJECTED' END,
                      'transaction', v_order.id::text,
                      jsonb_build_object('tx_no', p_tx_no, 'reason', coalesce(v_reject, 'channel_failed'),
                                         'amount', p_amount::text, 'channel_ref', p_channel_ref), p_request_id);
        RETURN jsonb_build_object('tx_no', p_tx_no, 'status', 'failed', 'changed', true,
                                  'affected_members', card_member_ids(v_card.id));
    END IF;
    SELECT status INTO v_member_status FROM members WHERE id = v_order.actor_id;
    UPDATE cards SET balance = balance + v_order.raw_amount, updated_at = now() WHERE id = v_card.id
    RETURNING balance INTO v_balance;
    UPDATE transactions SET status = 'completed', channel_ref = p_channel_ref, balance_after = v_balance,
                            updated_at = now()
    WHERE id = v_order.id;
    PERFORM emit_tx_event(t) FROM transactions t WHERE t.id = v_order.id;
    PERFORM audit(NULL, 'system', 'RECHARGE', 'transaction', v_order.id::text,
                  jsonb_build_object('tx_no', p_tx_no, 'amount', v_order.raw_amount::text, 'channel_ref', p_channel_ref,
                                     'member_id', v_order.actor_id, 'member_status', v_member_status),
                  p_request_id);
    RETURN jsonb_build_object('tx_no', p_tx_no, 'status', 'completed', 'changed', true,
                              'affected_members', card_member_ids(v_card.id));
END $$;

-- Why a card takes no recharge now, as an error outcome, or NULL (require_rechargeable's rules).
CREATE OR REPLACE FUNCTION card_not_rechargeable_error(p_card cards, p_allow_frozen boolean, p_request_id text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_card.card_type <> 'standard' THEN
        RETURN error_outcome('CARD_TYPE_NOT_RECHARGEABLE',
            'Only standard cards can be recharged; a ' || p_card.card_type || ' card cannot.', NULL, p_request_id);
    ELSIF p_card.status = 'closed' THEN
        RETURN error_outcome('CARD_CLOSED', 'The card is closed.', NULL, p_request_id);
    ELSIF NOT p_allow_frozen THEN
        RETURN card_unusable_error(p_card, p_request_id);
    END IF;
    RETURN NULL;
END $$;

-- MEMBER_NOT_ACTIVE as an error outcome when the card's owner is not active, or NULL.
CREATE OR REPLACE FUNCTION owner_not_active_error(p_card_id uuid, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = card_owner_id(p_card_id) AND status = 'active') THEN
        RETURN error_outcome('MEMBER_NOT_ACTIVE', 'The card holder''s account is not active.', NULL, p_request_id);
    END IF;
    RETURN NULL;
END $$;

-- A cash top-up at a merchant's counter, credited at once, idempotently per (merchant, key); it
-- records the store (p_store_id, chosen by the caller as for charges; NULL: the default store) and
-- the staff member (NULL: the merchant's own credentials) and the POS key (issue 18; no key scope
-- grants top-ups today, so NULL, but the books would name one).
CREATE OR REPLACE FUNCTION merchant_recharge(p_merchant_id uuid, p_operator text, p_idempotency_key text,
                                             p_fingerprint bytea, p_card_no text, p_amount numeric, p_request_id text,
                                             p_store_id uuid DEFAULT NULL, p_staff_id uuid DEFAULT NULL,
                                             p_pos_key_id uuid DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_outcome jsonb;
    v_status merchant_status;
    v_card cards;
    v_result jsonb;
BEGIN
    v_outcome := idempotency_lock(p_merchant_id, 'merchant_recharge', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;
    <<decide>>
    BEGIN
        SELECT status INTO v_status FROM merchants WHERE id = p_merchant_id;
        IF NOT FOUND THEN
            v_outcome := error_outcome('MERCHANT_NOT_FOUND', 'The merchant does not exist.', NULL, p_request_id);
            EXIT decide;
        ELSIF v_status <> 'active' THEN
            v_outcome := error_outcome('MERCHANT_NOT_ACTIVE', 'The merchant is suspended.', NULL, p_request_id);
            EXIT decide;
        END IF;
        SELECT * INTO v_card FROM cards WHERE card_no = upper(p_card_no) FOR UPDATE;
        IF NOT FOUND THEN
            v_outcome := error_outcome('CARD_NOT_FOUND', 'No card has this number.', NULL, p_request_id);
            EXIT decide;
        END IF;
        v_outcome := coalesce(card_not_rechargeable_error(v_card, false, p_request_id),
                              owner_not_active_error(v_card.id, p_request_id));
    END;
    IF v_outcome IS NOT NULL THEN
        RETURN idempotency_store(p_merchant_id, 'merchant_recharge', p_idempotency_key, p_fingerprint, v_outcome);
    END IF;
    v_result := credit_card(v_card, p_amount, 'cash', p_merchant_id, p_operator, p_idempotency_key, NULL,
                            p_merchant_id, 'merchant', p_request_id, true, p_store_id, p_staff_id, p_pos_key_id);
    RETURN idempotency_store_compact(p_merchant_id, 'merchant_recharge', p_idempotency_key, p_fingerprint,
        jsonb_build_object('ok', true, 'request_id', p_request_id, 'tx', v_result #> '{transaction,id}',
                           'members', v_result -> 'affected_members'),
        ok_outcome(v_result, p_request_id));
END $$;

-- An admin's direct credit (payment method `manual`), idempotently per (admin, key). Admins may
-- credit a frozen or lost card (e.g. a goodwill credit), never a closed one; suspension blocks a
-- member's recharges, this one included.
CREATE OR REPLACE FUNCTION admin_recharge(p_admin_id uuid, p_idempotency_key text, p_fingerprint bytea,
                                          p_card_id uuid, p_amount numeric, p_reason text, p_request_id text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_outcome jsonb;
    v_card cards;
    v_result jsonb;
BEGIN
    v_outcome := idempotency_lock(p_admin_id, 'admin_recharge', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;
    SELECT * INTO v_card FROM cards WHERE id = p_card_id FOR UPDATE;
    IF NOT FOUND THEN
        v_outcome := error_outcome('CARD_NOT_FOUND', 'No card has this id.', NULL, p_request_id);
    ELSE
        v_outcome := coalesce(card_not_rechargeable_error(v_card, true, p_request_id),
                              owner_not_active_error(v_card.id, p_request_id));
    END IF;
    IF v_outcome IS NOT NULL THEN
        RETURN idempotency_store(p_admin_id, 'admin_recharge', p_idempotency_key, p_fingerprint, v_outcome);
    END IF;
    v_result := credit_card(v_card, p_amount, 'manual', NULL, NULL, p_idempotency_key, p_reason, p_admin_id, 'admin',
                            p_request_id);
    RETURN idempotency_store_compact(p_admin_id, 'admin_recharge', p_idempotency_key, p_fingerprint,
        jsonb_build_object('ok', true, 'request_id', p_request_id, 'tx', v_result #> '{transaction,id}',
                           'members', v_result -> 'affected_members'),
        ok_outcome(v_result, p_request_id));
END $$;

-- An admin's points adjustment, with a ledger row and the level recomputed.
CREATE OR REPLACE FUNCTION adjust_points(p_admin_id uuid, p_card_id uuid, p_delta bigint, p_reason text, p_request_id text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_level int;
BEGIN
    SELECT * INTO v_card FROM cards WHERE id = p_card_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'No card has this id.');
    END IF;
    IF v_card.card_type <> 'standard' THEN
        PERFORM raise_business_error('VALIDATION_FAILED', 'Only standard cards have points.',
            jsonb_build_object('fields', jsonb_build_object('card_id', 'is not a standard card')));
    END IF;
    IF v_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
    END IF;
    IF v_card.points + p_delta < 0 THEN
        PERFORM raise_business_error('VALIDATION_FAILED',
            'The card holds ' || v_card.points || ' points; it cannot lose ' || -p_delta || '.',
            jsonb_build_object('fields', jsonb_build_object('delta_points', 'would make the points negative')));
    END IF;
    v_level := set_card_points(p_card_id, v_card.points + p_delta);
    INSERT INTO point_ledger (card_id, delta, points_after, reason, note, actor_id, actor_role)
    VALUES (p_card_id, p_delta, v_card.points + p_delta, 'admin_adjust', p_reason, p_admin_id, 'admin');
    PERFORM audit(p_admin_id, 'admin', 'POINTS_ADJUST', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'delta', p_delta, 'reason', p_reason), p_request_id);
    RETURN jsonb_build_object(
        'card_id', p_card_id, 'card_no', v_card.card_no,
        'points_before', v_card.points, 'points_after', v_card.points + p_delta,
        'level_before', v_card.level, 'level_after', v_level,
        'affected_members', card_member_ids(p_card_id));
END $$;
