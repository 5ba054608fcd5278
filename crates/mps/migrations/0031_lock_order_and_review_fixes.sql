-- Fixes from the outside review (issue 13): one lock order for cards and their QR tokens, the QR of
-- a visible corporate card, admin credits of a suspended member's card, the audit of a recharge
-- confirmed after its member was suspended, and a level table whose top level is capped.
--
-- LOCK ORDER — the rule for every function that touches a card and its QR token:
--
--     1. the card row (`SELECT … FROM cards … FOR UPDATE`),
--     2. then its `qr_tokens` row (claim, delete or insert),
--     3. then the `qr_issues` rows of that card.
--
-- A function that needs a card's token locks the card first, even when it only knows the token
-- (the charge looks the token's card up without a lock, locks the card, then claims the token
-- with one conditional DELETE). Every function holds at most one card's token. The one function
-- that locks tokens without their cards, `revoke_all_qr_tokens`, locks tokens and then their
-- issues only, and no function waits for a second token while holding one, so it cannot close a
-- cycle either. Taking a token before its card (as the charge did until this migration) deadlocks
-- against QR issue, QR revoke and card status changes, which lock the card and then the token.
-- Should a deadlock or serialization failure still happen, the server retries the whole call a
-- bounded number of times and then answers 503 UNAVAILABLE (src/db/mod.rs), never 500.

-- The charge, with the card locked before its token is claimed (see the lock order above).
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

-- Locks a card for its QR code: 404 CARD_NOT_FOUND unless the member sees it (any live binding),
-- 422 CORPORATE_CARD_CANNOT_PAY for a corporate card they see, 404 unless they own it.
CREATE OR REPLACE FUNCTION qr_card_for_update(p_member_id uuid, p_card_id uuid) RETURNS cards
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
BEGIN
    SELECT c.* INTO v_card FROM cards c
    WHERE c.id = p_card_id
      AND EXISTS (SELECT 1 FROM card_bindings b WHERE b.card_id = c.id AND b.member_id = p_member_id AND b.active)
    FOR UPDATE OF c;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'You have no card with this id.');
    END IF;
    IF v_card.card_type = 'corporate' THEN
        PERFORM raise_business_error('CORPORATE_CARD_CANNOT_PAY', 'Corporate cards cannot pay; use your own card.');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM card_bindings b
                   WHERE b.card_id = p_card_id AND b.member_id = p_member_id AND b.active AND b.role = 'owner') THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'You own no card with this id.');
    END IF;
    RETURN v_card;
END $$;

-- Issues a QR token for a card the member owns; the previous live token of the card dies.
CREATE OR REPLACE FUNCTION issue_qr_token(p_member_id uuid, p_card_id uuid, p_token_hash bytea, p_ttl_seconds int,
                                          p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_old_issue bigint;
    v_issue bigint;
    v_expires timestamptz := now() + make_interval(secs => p_ttl_seconds);
BEGIN
    PERFORM require_member_active(p_member_id);
    v_card := qr_card_for_update(p_member_id, p_card_id);
    PERFORM require_card_usable(v_card);

    DELETE FROM qr_tokens WHERE card_id = p_card_id RETURNING issue_id INTO v_old_issue;
    IF v_old_issue IS NOT NULL THEN
        UPDATE qr_issues SET ended_at = now(), end_reason = 'superseded' WHERE id = v_old_issue AND ended_at IS NULL;
    END IF;
    INSERT INTO qr_issues (card_id, member_id, expires_at) VALUES (p_card_id, p_member_id, v_expires)
    RETURNING id INTO v_issue;
    INSERT INTO qr_tokens (card_id, token_hash, member_id, issue_id, expires_at)
    VALUES (p_card_id, p_token_hash, p_member_id, v_issue, v_expires);
    PERFORM audit(p_member_id, 'member', 'QR_ISSUE', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'ttl_seconds', p_ttl_seconds,
                                     'superseded', v_old_issue IS NOT NULL), p_request_id);
    RETURN jsonb_build_object(
        'expires_at', v_expires,
        'ttl_seconds', p_ttl_seconds,
        'card', jsonb_build_object('card_no', v_card.card_no, 'card_type', v_card.card_type));
END $$;

-- Revokes the live token of a card the member owns.
CREATE OR REPLACE FUNCTION revoke_qr_token(p_member_id uuid, p_card_id uuid, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_issue bigint;
BEGIN
    v_card := qr_card_for_update(p_member_id, p_card_id);
    DELETE FROM qr_tokens WHERE card_id = p_card_id RETURNING issue_id INTO v_issue;
    IF v_issue IS NOT NULL THEN
        UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked' WHERE id = v_issue AND ended_at IS NULL;
    END IF;
    PERFORM audit(p_member_id, 'member', 'QR_REVOKE', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'had_live_token', v_issue IS NOT NULL), p_request_id);
    RETURN jsonb_build_object('card_no', v_card.card_no, 'revoked', v_issue IS NOT NULL);
END $$;

-- An admin's direct credit: suspension blocks a member's recharges, this one included.
CREATE OR REPLACE FUNCTION admin_credit_card_effect(p_admin_id uuid, p_idempotency_key text, p_card_id uuid,
                                                    p_amount numeric, p_reason text, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
BEGIN
    SELECT * INTO v_card FROM cards WHERE id = p_card_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'No card has this id.');
    END IF;
    -- Admins may credit a frozen or lost card (e.g. a goodwill credit); never a closed one.
    PERFORM require_rechargeable(v_card, true);
    PERFORM require_member_active(card_owner_id(v_card.id));
    RETURN credit_card(v_card, p_amount, 'manual', NULL, NULL, p_idempotency_key, p_reason,
                       p_admin_id, 'admin', p_request_id);
END $$;

-- The payment channel's confirmation of a recharge order. Idempotent per order: once it is
-- completed or failed, later deliveries change nothing. Amount mismatches and closed cards fail
-- the order (the channel gets 200 and stops retrying); a frozen card is still credited, and so is
-- the card of a member suspended after ordering (the money was received): its RECHARGE event says
-- `member_status`, so the audit shows the credit went to a suspended member.
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
    UPDATE transactions SET status = 'completed', channel_ref = p_channel_ref, updated_at = now() WHERE id = v_order.id;
    UPDATE cards SET balance = balance + v_order.raw_amount, updated_at = now() WHERE id = v_card.id;
    PERFORM audit(NULL, 'system', 'RECHARGE', 'transaction', v_order.id::text,
                  jsonb_build_object('tx_no', p_tx_no, 'amount', v_order.raw_amount::text, 'channel_ref', p_channel_ref,
                                     'member_id', v_order.actor_id, 'member_status', v_member_status),
                  p_request_id);
    RETURN jsonb_build_object('tx_no', p_tx_no, 'status', 'completed', 'changed', true,
                              'affected_members', card_member_ids(v_card.id));
END $$;

-- What is wrong with a proposed level table, or NULL: ranges start at 0 and follow each other
-- without gaps or overlaps, the last (and only the last) is open-ended, level numbers are unique
-- and rise with the ranges, names are 1–50 characters, discounts lie in (0, 1] with at most 3
-- decimals. A capped top level would leave every card above it at level 0, without its discount.
CREATE OR REPLACE FUNCTION level_table_problem(p_levels jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_row record;
    v_first boolean := true;
    v_prev_level int;
    v_prev_max bigint;
BEGIN
    IF jsonb_typeof(p_levels) <> 'array' OR jsonb_array_length(p_levels) = 0 THEN
        RETURN 'the table needs at least one level';
    END IF;
    IF jsonb_array_length(p_levels) > 100 THEN
        RETURN 'the table has at most 100 levels';
    END IF;
    FOR v_row IN
        SELECT (e ->> 'level')::int AS level, btrim(e ->> 'name') AS name, (e ->> 'min_points')::bigint AS min_points,
               (e ->> 'max_points')::bigint AS max_points, (e ->> 'discount')::numeric AS discount
        FROM jsonb_array_elements(p_levels) e
        ORDER BY (e ->> 'min_points')::bigint, (e ->> 'level')::int
    LOOP
        IF v_row.level IS NULL OR v_row.level < 0 THEN
            RETURN 'level numbers are integers from 0';
        ELSIF v_row.name IS NULL OR length(v_row.name) NOT BETWEEN 1 AND 50 THEN
            RETURN 'level ' || v_row.level || ': the name must be 1 to 50 characters';
        ELSIF v_row.discount IS NULL OR v_row.discount <= 0 OR v_row.discount > 1
              OR v_row.discount <> round(v_row.discount, 3) THEN
            RETURN 'level ' || v_row.level || ': the discount must lie in (0, 1] with at most 3 decimals';
        ELSIF v_row.min_points IS NULL OR (v_row.max_points IS NOT NULL AND v_row.max_points < v_row.min_points) THEN
            RETURN 'level ' || v_row.level || ': max_points must not be below min_points';
        ELSIF v_first THEN
            IF v_row.min_points <> 0 THEN
                RETURN 'the lowest range must start at 0 points';
            END IF;
        ELSIF v_prev_max IS NULL THEN
            RETURN 'only the last level may be open-ended (level ' || v_prev_level || ' is not last)';
        ELSIF v_row.min_points <= v_prev_max THEN
            RETURN 'levels ' || v_prev_level || ' and ' || v_row.level || ' overlap';
        ELSIF v_row.min_points > v_prev_max + 1 THEN
            RETURN 'there is a gap between levels ' || v_prev_level || ' and ' || v_row.level;
        ELSIF v_row.level <= v_prev_level THEN
            RETURN 'level numbers must be unique and rise with the point ranges';
        END IF;
        v_first := false;
        v_prev_level := v_row.level;
        v_prev_max := v_row.max_points;
    END LOOP;
    IF v_prev_max IS NOT NULL THEN
        RETURN 'the last level must be open-ended (level ' || v_prev_level || ' ends at ' || v_prev_max
               || ' points; leave out its max_points)';
    END IF;
    RETURN NULL;
END $$;
