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
       t.merchant_id,
       t.balance_after::text AS balance_after,
       st.code AS store_code,
       t.staff_id,
       t.store_id,
       t.pos_key_id,
       k.terminal_id
FROM transactions t
JOIN cards c ON c.id = t.card_id
LEFT JOIN merchants m ON m.id = t.merchant_id
LEFT JOIN stores st ON st.id = t.store_id
LEFT JOIN pos_keys k ON k.id = t.pos_key_id
LEFT JOIN transactions o ON o.id = t.original_tx_id;

-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION transaction_json(p_tx_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT to_jsonb(v) - 'merchant_id' - 'store_id' FROM transaction_views v WHERE v.id = p_tx_id);
END $$;

-- Why a card cannot be used now (closed, expired, frozen or lost), as an error outcome, or NULL.
CREATE OR REPLACE FUNCTION card_unusable_error(p_card cards, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_card.status = 'closed' THEN
        RETURN error_outcome('CARD_CLOSED', 'The card is closed.', NULL, p_request_id);
    ELSIF effective_card_status(p_card.status, p_card.expires_at) = 'expired' THEN
        RETURN error_outcome('CARD_EXPIRED', 'The card has expired.', NULL, p_request_id);
    ELSIF p_card.status <> 'active' THEN
        RETURN error_outcome('CARD_NOT_ACTIVE', 'The card is ' ||
            CASE p_card.status WHEN 'inactive' THEN 'frozen' ELSE p_card.status::text END || '.', NULL, p_request_id);
    END IF;
    RETURN NULL;
END $$;

-- A transaction as clients see it (the shape of `transaction_json`), from values at hand.
CREATE OR REPLACE FUNCTION tx_json(p_tx transactions, p_card_no text, p_merchant_code text, p_original_tx_no text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', p_tx.id, 'tx_no', p_tx.tx_no, 'tx_type', p_tx.tx_type, 'card_id', p_tx.card_id,
        'card_no', p_card_no, 'merchant_code', p_merchant_code,
        'raw_amount', p_tx.raw_amount::text, 'discount_applied', p_tx.discount_applied::text,
        'final_amount', p_tx.final_amount::text, 'points_earned', p_tx.points_earned, 'status', p_tx.status,
        'payment_method', p_tx.payment_method, 'original_tx_no', p_original_tx_no,
        'external_order_id', p_tx.external_order_id, 'tag', p_tx.tag, 'operator', p_tx.operator,
        'refunded_total', CASE WHEN p_tx.tx_type = 'payment' THEN p_tx.refunded_total::text END,
        'created_at', p_tx.created_at, 'balance_after', p_tx.balance_after::text,
        'store_code', store_code(p_tx.store_id), 'staff_id', p_tx.staff_id,
        'pos_key_id', p_tx.pos_key_id,
        'terminal_id', CASE WHEN p_tx.pos_key_id IS NOT NULL
                            THEN (SELECT terminal_id FROM pos_keys WHERE id = p_tx.pos_key_id) END);
END $$;

-- Issue 16 — the cost of a charge. The payment path rewritten to do the database work a payment
-- needs and nothing more; every rule of SPEC §2 kept. What changed and why, with the profile
-- behind each change: docs/benchmarks.md ("The cost of a charge").
--
-- * No subtransaction per call. Business refusals are decided by reads before the first write
--   and recorded as the idempotent outcome without an EXCEPTION block: a payment is one top-level
--   transaction, not two.
-- * The idempotency record is written once, with its outcome, at the end. A concurrent duplicate
--   is held off by a transaction-scoped advisory lock on the hash of (actor, operation, key),
--   taken before anything else: the second waits until the first commits (or rolls back), then
--   reads its committed record and replays it, exactly as it used to wait on the record's
--   primary key.
-- * One `UPDATE cards` per movement (balance, points, level together), with `balance_after`
--   taken from its RETURNING clause and written into the transaction row by the INSERT itself.
-- * The answer is built from values at hand instead of re-reading the rows just written.
--
-- Charge a card by its QR token, idempotently per (merchant, key). SPEC §2 "Charge": the
-- idempotency check first; the merchant active and the caller; the token claimed by one
-- conditional statement that only one of two racing charges can pass; card usable, owner
-- active; card locked (before its token: the lock order: sql/functions/qr.sql); priced; a
-- refusal (INSUFFICIENT_BALANCE among them) leaves everything as it was, the token included;
-- debit, points and level, ledger row, QR history, order id, audit.
CREATE OR REPLACE FUNCTION charge(p_merchant_id uuid, p_operator text, p_idempotency_key text,
                                  p_fingerprint bytea, p_token_hash bytea, p_amount numeric,
                                  p_external_order_id text, p_tag jsonb, p_request_id text,
                                  p_store_id uuid DEFAULT NULL, p_staff_id uuid DEFAULT NULL,
                                  p_pos_key_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_outcome jsonb;
    v_merchant merchants;
    v_original_tx text;
    v_card_id uuid;
    v_card cards;
    v_member_id uuid;
    v_issue bigint;
    v_tx_id uuid;
    v_member_status member_status;
    v_discount numeric;
    v_final numeric(12, 2);
    v_points bigint := 0;
    v_level int;
    v_level_discount numeric;
    v_balance numeric(12, 2);
    v_tag jsonb := p_tag;
    v_tx transactions;
    v_members jsonb;
BEGIN
    v_outcome := idempotency_lock(p_merchant_id, 'charge', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;

    <<decide>>
    BEGIN
        SELECT * INTO v_merchant FROM merchants WHERE id = p_merchant_id;
        IF NOT FOUND THEN
            v_outcome := error_outcome('MERCHANT_NOT_FOUND', 'The merchant does not exist.', NULL, p_request_id);
            EXIT decide;
        ELSIF v_merchant.status <> 'active' THEN
            v_outcome := error_outcome('MERCHANT_NOT_ACTIVE', 'The merchant is suspended.', NULL, p_request_id);
            EXIT decide;
        END IF;
        IF p_external_order_id IS NOT NULL THEN
            -- Charges of one order id queue here, so the check below is final.
            PERFORM pg_advisory_xact_lock(2, hashtext(p_merchant_id::text || '/' || p_external_order_id));
            SELECT t.tx_no INTO v_original_tx FROM merchant_orders o JOIN transactions t ON t.id = o.tx_id
            WHERE o.merchant_id = p_merchant_id AND o.external_order_id = p_external_order_id;
            IF FOUND THEN
                v_outcome := error_outcome('DUPLICATE_EXTERNAL_ORDER',
                    'This order was already charged as ' || v_original_tx || '.',
                    jsonb_build_object('original_tx_no', v_original_tx)::text, p_request_id);
                EXIT decide;
            END IF;
        END IF;

        -- The token's card, read without a lock, then locked: card before token.
        SELECT q.card_id INTO v_card_id FROM qr_issues q
        WHERE q.token_hash = p_token_hash AND q.ended_at IS NULL AND q.expires_at > now();
        IF NOT FOUND THEN
            v_outcome := error_outcome('QR_EXPIRED_OR_INVALID',
                'This QR code is expired, used or unknown; ask the member for a new one.', NULL, p_request_id);
            EXIT decide;
        END IF;
        SELECT * INTO v_card FROM cards WHERE id = v_card_id FOR UPDATE;
        -- Under the card's lock its token can only be changed by an admin's revoke-all, which the
        -- claim below notices.
        SELECT q.member_id, q.id INTO v_member_id, v_issue FROM qr_issues q
        WHERE q.card_id = v_card_id AND q.token_hash = p_token_hash AND q.ended_at IS NULL AND q.expires_at > now();
        IF NOT FOUND THEN
            v_outcome := error_outcome('QR_EXPIRED_OR_INVALID',
                'This QR code is expired, used or unknown; ask the member for a new one.', NULL, p_request_id);
            EXIT decide;
        END IF;

        v_outcome := card_unusable_error(v_card, p_request_id);
        EXIT decide WHEN v_outcome IS NOT NULL;
        SELECT status INTO v_member_status FROM members WHERE id = v_member_id;
        IF v_member_status IS DISTINCT FROM 'active' THEN
            v_outcome := error_outcome('MEMBER_NOT_ACTIVE', 'The card holder''s account is not active.', NULL,
                                       p_request_id);
            EXIT decide;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM card_bindings
                       WHERE card_id = v_card_id AND member_id = v_member_id AND active AND role = 'owner') THEN
            v_outcome := error_outcome('QR_EXPIRED_OR_INVALID', 'This QR code is no longer valid for its card.', NULL,
                                       p_request_id);
            EXIT decide;
        END IF;

        v_discount := effective_discount(v_card.card_type, v_card.level_discount, v_card.fixed_discount, v_member_id);
        v_final := round(p_amount * v_discount, 2);
        IF v_final <= 0 THEN
            v_outcome := error_outcome('INVALID_AMOUNT', 'After the discount this payment would be 0.00.',
                jsonb_build_object('fields', jsonb_build_object('amount', 'rounds to 0.00 after the discount'))::text,
                p_request_id);
            EXIT decide;
        END IF;
        IF v_card.balance < v_final THEN
            v_outcome := error_outcome('INSUFFICIENT_BALANCE', 'The card balance does not cover this payment.',
                jsonb_build_object('required', v_final::text)::text, p_request_id);
            EXIT decide;
        END IF;

        -- Claim the token: one conditional statement, of two racing charges only one ends the
        -- live issue (the other waits on the card's lock and then finds it ended above). The
        -- same UPDATE records the issue's end and the payment it made (migration 0015: the issue
        -- row is the token), so the payment's id is drawn here.
        v_tx_id := uuid_v7();
        UPDATE qr_issues SET ended_at = now(), end_reason = 'used', tx_id = v_tx_id, token_hash = NULL
        WHERE id = v_issue AND token_hash = p_token_hash AND ended_at IS NULL AND expires_at > now();
        IF NOT FOUND THEN
            v_outcome := error_outcome('QR_EXPIRED_OR_INVALID',
                'This QR code is expired, used or unknown; ask the member for a new one.', NULL, p_request_id);
            EXIT decide;
        END IF;
    END;
    IF v_outcome IS NOT NULL THEN
        -- A refusal: nothing was written; only the outcome is kept for replays.
        RETURN idempotency_store(p_merchant_id, 'charge', p_idempotency_key, p_fingerprint, v_outcome);
    END IF;

    -- Priced at the level before this payment; the points count from the next one.
    v_level := v_card.level;
    v_level_discount := v_card.level_discount;
    IF v_card.card_type = 'standard' THEN
        v_points := floor(p_amount)::bigint;
        IF v_points > 0 THEN
            SELECT l.level, l.discount INTO v_level, v_level_discount FROM level_for_points(v_card.points + v_points) l;
        END IF;
    END IF;
    UPDATE cards
    SET balance = balance - v_final, points = points + v_points, level = v_level, level_discount = v_level_discount,
        updated_at = now()
    WHERE id = v_card_id
    RETURNING balance INTO v_balance;

    IF p_operator IS NOT NULL THEN
        v_tag := coalesce(v_tag, '{}') || jsonb_build_object('operator', p_operator);
    END IF;
    INSERT INTO transactions (id, tx_no, tx_type, card_id, merchant_id, operator, raw_amount, discount_applied,
                              final_amount, points_earned, status, payment_method, idempotency_key,
                              external_order_id, tag, actor_id, actor_role, balance_after, store_id, staff_id,
                              pos_key_id)
    VALUES (v_tx_id, next_tx_no('payment'), 'payment', v_card_id, p_merchant_id, p_operator, p_amount, v_discount,
            v_final, v_points, 'completed', 'balance', p_idempotency_key, p_external_order_id, v_tag,
            p_merchant_id, 'merchant', v_balance, p_store_id, p_staff_id, p_pos_key_id)
    RETURNING * INTO v_tx;
    PERFORM emit_tx_event(v_tx);

    IF v_points > 0 THEN
        INSERT INTO point_ledger (card_id, tx_id, delta, points_after, reason, actor_id, actor_role)
        VALUES (v_card_id, v_tx.id, v_points, v_card.points + v_points, 'payment', p_merchant_id, 'merchant');
    END IF;
    IF p_external_order_id IS NOT NULL THEN
        INSERT INTO merchant_orders (merchant_id, external_order_id, tx_id)
        VALUES (p_merchant_id, p_external_order_id, v_tx.id);
    END IF;
    INSERT INTO audit_events (actor_id, actor_role, action, object_type, object_id, context, request_id)
    VALUES (p_merchant_id, 'merchant', 'PAYMENT', 'transaction', v_tx.id::text,
            jsonb_build_object('card_no', v_card.card_no, 'final_amount', v_final::text, 'operator', p_operator),
            p_request_id);
    -- Issue 15's quarter-hour aggregate, counted here rather than by a trigger (migration 0010),
    -- after every other write but the idempotency record, so its shard row is locked only for the
    -- commit.
    PERFORM merchant_activity_add(v_tx, 1);
    v_members := card_member_ids(v_card_id);
    v_outcome := ok_outcome(jsonb_build_object(
        'transaction', tx_json(v_tx, v_card.card_no, v_merchant.code, NULL),
        'card', jsonb_build_object('card_no', v_card.card_no, 'card_type', v_card.card_type, 'level', v_level),
        'affected_members', v_members), p_request_id);
    RETURN idempotency_store_compact(p_merchant_id, 'charge', p_idempotency_key, p_fingerprint,
        jsonb_build_object('ok', true, 'request_id', p_request_id, 'tx', v_tx.id, 'level', v_level,
                           'members', v_members),
        v_outcome);
END $$;

-- Refund (part of) a payment, idempotently per (merchant, key). SPEC §2 "Refund": the original
-- payment locked first, then the card; refusals decided before any write and recorded without a
-- subtransaction; one UPDATE of the card for balance, points and level.
CREATE OR REPLACE FUNCTION refund(p_merchant_id uuid, p_operator text, p_idempotency_key text,
                                  p_fingerprint bytea, p_original_tx_no text, p_amount numeric,
                                  p_reason text, p_tag jsonb, p_request_id text,
                                  p_staff_id uuid DEFAULT NULL, p_pos_key_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_outcome jsonb;
    v_merchant merchants;
    v_original transactions;
    v_card cards;
    v_refunded numeric(12, 2);
    v_target_reversed bigint;
    v_reverse bigint;
    v_level int;
    v_level_discount numeric;
    v_balance numeric(12, 2);
    v_tag jsonb := p_tag;
    v_tx transactions;
    v_original_json jsonb;
    v_members jsonb;
BEGIN
    v_outcome := idempotency_lock(p_merchant_id, 'refund', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;

    <<decide>>
    BEGIN
        SELECT * INTO v_merchant FROM merchants WHERE id = p_merchant_id;
        IF NOT FOUND THEN
            v_outcome := error_outcome('MERCHANT_NOT_FOUND', 'The merchant does not exist.', NULL, p_request_id);
            EXIT decide;
        ELSIF v_merchant.status <> 'active' THEN
            v_outcome := error_outcome('MERCHANT_NOT_ACTIVE', 'The merchant is suspended.', NULL, p_request_id);
            EXIT decide;
        END IF;
        -- Lock the original payment first, then the card: concurrent refunds of one payment queue here.
        SELECT * INTO v_original FROM transactions
        WHERE tx_no = p_original_tx_no AND tx_type = 'payment' AND merchant_id = p_merchant_id
        FOR UPDATE;
        IF NOT FOUND THEN
            v_outcome := error_outcome('TX_NOT_FOUND', 'You have no payment with this tx_no.', NULL, p_request_id);
            EXIT decide;
        END IF;
        IF v_original.status <> 'completed' THEN
            v_outcome := error_outcome('NOT_REFUNDABLE',
                'This payment is ' || v_original.status || ' and cannot be refunded.',
                jsonb_build_object('status', v_original.status, 'remaining_refundable',
                                   (v_original.final_amount - v_original.refunded_total)::text)::text, p_request_id);
            EXIT decide;
        END IF;
        IF p_amount > v_original.final_amount - v_original.refunded_total THEN
            v_outcome := error_outcome('REFUND_EXCEEDS_REMAINING',
                'At most ' || (v_original.final_amount - v_original.refunded_total)::text || ' can still be refunded.',
                jsonb_build_object('remaining_refundable',
                                   (v_original.final_amount - v_original.refunded_total)::text)::text, p_request_id);
            EXIT decide;
        END IF;
        SELECT * INTO v_card FROM cards WHERE id = v_original.card_id FOR UPDATE;
        IF v_card.status = 'closed' THEN
            v_outcome := error_outcome('CARD_CLOSED', 'The card is closed; refund the customer another way.', NULL,
                                       p_request_id);
            EXIT decide;
        END IF;
    END;
    IF v_outcome IS NOT NULL THEN
        RETURN idempotency_store(p_merchant_id, 'refund', p_idempotency_key, p_fingerprint, v_outcome);
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

    v_level := v_card.level;
    v_level_discount := v_card.level_discount;
    IF v_reverse > 0 THEN
        SELECT l.level, l.discount INTO v_level, v_level_discount FROM level_for_points(v_card.points - v_reverse) l;
    ELSE
        v_reverse := 0;
    END IF;
    UPDATE cards
    SET balance = balance + p_amount, points = points - v_reverse, level = v_level, level_discount = v_level_discount,
        updated_at = now()
    WHERE id = v_card.id
    RETURNING balance INTO v_balance;

    IF p_operator IS NOT NULL THEN
        v_tag := coalesce(v_tag, '{}') || jsonb_build_object('operator', p_operator);
    END IF;
    INSERT INTO transactions (tx_no, tx_type, card_id, merchant_id, operator, raw_amount, discount_applied,
                              final_amount, status, payment_method, original_tx_id, idempotency_key, reason,
                              tag, actor_id, actor_role, balance_after, store_id, staff_id, pos_key_id)
    VALUES (next_tx_no('refund'), 'refund', v_card.id, p_merchant_id, p_operator, p_amount, 1, p_amount,
            'completed', 'balance', v_original.id, p_idempotency_key, p_reason, v_tag, p_merchant_id, 'merchant',
            v_balance, v_original.store_id, p_staff_id, p_pos_key_id)
    RETURNING * INTO v_tx;
    PERFORM emit_tx_event(v_tx);
    IF v_reverse > 0 THEN
        INSERT INTO point_ledger (card_id, tx_id, delta, points_after, reason, actor_id, actor_role)
        VALUES (v_card.id, v_tx.id, -v_reverse, v_card.points - v_reverse, 'refund_reverse', p_merchant_id,
                'merchant');
    END IF;
    INSERT INTO audit_events (actor_id, actor_role, action, object_type, object_id, context, request_id)
    VALUES (p_merchant_id, 'merchant', 'REFUND', 'transaction', v_tx.id::text,
            jsonb_build_object('original_tx_no', p_original_tx_no, 'amount', p_amount::text,
                               'points_reversed', v_reverse, 'reason', p_reason, 'operator', p_operator),
            p_request_id);
    v_original_json := jsonb_build_object(
        'tx_no', v_original.tx_no,
        'status', CASE WHEN v_refunded = v_original.final_amount THEN 'refunded' ELSE 'completed' END,
        'refunded_total', v_refunded::text,
        'remaining_refundable', (v_original.final_amount - v_refunded)::text);
    v_members := card_member_ids(v_card.id);
    v_outcome := ok_outcome(jsonb_build_object(
        'refund', tx_json(v_tx, v_card.card_no, v_merchant.code, v_original.tx_no),
        'original', v_original_json,
        'affected_members', v_members), p_request_id);
    RETURN idempotency_store_compact(p_merchant_id, 'refund', p_idempotency_key, p_fingerprint,
        jsonb_build_object('ok', true, 'request_id', p_request_id, 'tx', v_tx.id, 'original', v_original_json - 'tx_no',
                           'members', v_members),
        v_outcome);
END $$;

-- The answer of a charge, a refund, a counter top-up or an admin credit, rebuilt for a replay from
-- its compact idempotency record
-- (idempotency_store_compact, sql/functions/common.sql) exactly as it was first sent (SPEC §2: a
-- replay returns the original status and body, even after the payment was refunded). What the
-- rows keep unchanged is read from them (the transaction, its card's number and type, the
-- merchant's and the store's codes); what changes later was stored: the card's level and members
-- then, and for a refund its original's totals then. A payment's row changes only by refunds
-- (status, refunded_total), so it is shown as written: completed, nothing refunded.
CREATE OR REPLACE FUNCTION idempotency_expand(p_operation text, p_stored jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_tx transactions;
    v_card cards;
    v_merchant_code text;
    v_original_tx_no text;
BEGIN
    SELECT * INTO v_tx FROM transactions WHERE id = (p_stored ->> 'tx')::uuid;
    SELECT * INTO v_card FROM cards WHERE id = v_tx.card_id;
    SELECT code INTO v_merchant_code FROM merchants WHERE id = v_tx.merchant_id;
    IF p_operation IN ('merchant_recharge', 'admin_recharge') THEN
        -- A counter top-up's or an admin credit's row is completed when written and never changes.
        RETURN ok_outcome(jsonb_build_object(
            'transaction', tx_json(v_tx, v_card.card_no, v_merchant_code, NULL),
            'affected_members', p_stored -> 'members'), p_stored ->> 'request_id');
    END IF;
    IF p_operation = 'charge' THEN
        v_tx.status := 'completed';
        v_tx.refunded_total := 0;
        RETURN ok_outcome(jsonb_build_object(
            'transaction', tx_json(v_tx, v_card.card_no, v_merchant_code, NULL),
            'card', jsonb_build_object('card_no', v_card.card_no, 'card_type', v_card.card_type,
                                       'level', p_stored -> 'level'),
            'affected_members', p_stored -> 'members'), p_stored ->> 'request_id');
    END IF;
    SELECT tx_no INTO v_original_tx_no FROM transactions WHERE id = v_tx.original_tx_id;
    RETURN ok_outcome(jsonb_build_object(
        'refund', tx_json(v_tx, v_card.card_no, v_merchant_code, v_original_tx_no),
        'original', (p_stored -> 'original') || jsonb_build_object('tx_no', v_original_tx_no),
        'affected_members', p_stored -> 'members'), p_stored ->> 'request_id');
END $$;
