-- The payment path as it was before issue 16 (migrations 0010–0031), for the benchmark's A/B:
-- every function of that schema, copied as it was (pg_get_functiondef of a database migrated to
-- 0031) into the schema `bench_before`, each resolving names in bench_before first, then public.
-- mps-bench installs it in its own database; the server never sees it. Tables are shared: the
-- old bodies run on today's tables and indexes, so the A/B isolates what the function bodies do.
DROP SCHEMA IF EXISTS bench_before CASCADE;
CREATE SCHEMA IF NOT EXISTS bench_before;
CREATE OR REPLACE FUNCTION bench_before.adjust_points(p_admin_id uuid, p_card_id uuid, p_delta bigint, p_reason text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.admin_credit_card(p_admin_id uuid, p_idempotency_key text, p_fingerprint bytea, p_card_id uuid, p_amount numeric, p_reason text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_outcome jsonb;
    v_hint text;
    v_detail text;
BEGIN
    v_outcome := idempotency_begin(p_admin_id, 'admin_recharge', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;
    BEGIN
        v_outcome := ok_outcome(admin_credit_card_effect(p_admin_id, p_idempotency_key, p_card_id, p_amount,
                                                         p_reason, p_request_id),
                                p_request_id);
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_outcome := error_outcome(SQLERRM, v_detail, v_hint, p_request_id);
    END;
    RETURN idempotency_finish(p_admin_id, 'admin_recharge', p_idempotency_key, v_outcome);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.admin_credit_card_effect(p_admin_id uuid, p_idempotency_key text, p_card_id uuid, p_amount numeric, p_reason text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.admin_statistics(p_day_start timestamp with time zone, p_day_end timestamp with time zone)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
    SELECT jsonb_build_object(
        'members', (SELECT jsonb_build_object('total', count(*),
                                              'active', count(*) FILTER (WHERE status = 'active'),
                                              'suspended', count(*) FILTER (WHERE status = 'suspended'))
                    FROM members WHERE status <> 'deleted'),
        'cards', (SELECT jsonb_build_object(
                      'total', count(*),
                      'active', count(*) FILTER (WHERE s = 'active'),
                      'inactive', count(*) FILTER (WHERE s = 'inactive'),
                      'lost', count(*) FILTER (WHERE s = 'lost'),
                      'expired', count(*) FILTER (WHERE s = 'expired'),
                      'closed', count(*) FILTER (WHERE s = 'closed'),
                      'by_type', jsonb_build_object(
                          'standard', count(*) FILTER (WHERE card_type = 'standard'),
                          'voucher', count(*) FILTER (WHERE card_type = 'voucher'),
                          'corporate', count(*) FILTER (WHERE card_type = 'corporate')))
                  FROM (SELECT card_type, effective_card_status(status, expires_at) AS s FROM cards) c),
        'merchants', (SELECT jsonb_build_object('total', count(*),
                                                'active', count(*) FILTER (WHERE status = 'active'),
                                                'suspended', count(*) FILTER (WHERE status = 'suspended'))
                      FROM merchants),
        'today', (SELECT jsonb_build_object(
                      'payments', jsonb_build_object(
                          'count', count(*) FILTER (WHERE tx_type = 'payment' AND status IN ('completed', 'refunded')),
                          'amount', coalesce(sum(final_amount) FILTER (
                              WHERE tx_type = 'payment' AND status IN ('completed', 'refunded')), 0)::text),
                      'refunds', jsonb_build_object(
                          'count', count(*) FILTER (WHERE tx_type = 'refund' AND status = 'completed'),
                          'amount', coalesce(sum(final_amount) FILTER (
                              WHERE tx_type = 'refund' AND status = 'completed'), 0)::text),
                      'recharges', jsonb_build_object(
                          'count', count(*) FILTER (WHERE tx_type = 'recharge' AND status = 'completed'),
                          'amount', coalesce(sum(final_amount) FILTER (
                              WHERE tx_type = 'recharge' AND status = 'completed'), 0)::text),
                      'qr_issued', (SELECT count(*) FROM qr_issues
                                    WHERE issued_at >= p_day_start AND issued_at < p_day_end),
                      'new_members', (SELECT count(*) FROM members
                                      WHERE created_at >= p_day_start AND created_at < p_day_end))
                  FROM transactions WHERE created_at >= p_day_start AND created_at < p_day_end))
$function$
;

CREATE OR REPLACE FUNCTION bench_before.audit(p_actor_id uuid, p_actor_role actor_role, p_action text, p_object_type text, p_object_id text, p_context jsonb, p_request_id text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO audit_events (actor_id, actor_role, action, object_type, object_id, context, request_id)
    VALUES (p_actor_id, p_actor_role, p_action, p_object_type, p_object_id, coalesce(p_context, '{}'), p_request_id);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.bind_card(p_actor_id uuid, p_actor_role actor_role, p_card_id uuid, p_member_id uuid, p_role binding_role, p_password_ok boolean, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards := card_for_update(p_card_id);
    v_existing binding_role;
BEGIN
    IF v_card.card_type <> 'corporate' THEN
        PERFORM raise_business_error('CARD_TYPE_NOT_SHAREABLE',
            'Only corporate cards can be shared; a ' || v_card.card_type || ' card cannot.');
    END IF;
    IF p_actor_role = 'member' THEN
        IF p_member_id <> p_actor_id OR p_role NOT IN ('member', 'viewer') THEN
            PERFORM raise_business_error('VALIDATION_FAILED', 'Members bind only themselves, as member or viewer.',
                jsonb_build_object('fields', jsonb_build_object('role', 'must be member or viewer')));
        END IF;
        IF v_card.binding_password_hash IS NULL OR NOT p_password_ok THEN
            PERFORM raise_business_error('INVALID_BINDING_PASSWORD',
                'The binding password is wrong, or this card cannot be joined.');
        END IF;
        PERFORM require_member_active(p_member_id);
        PERFORM require_card_usable(v_card);
    ELSE
        PERFORM require_member_exists(p_member_id);
        IF v_card.status = 'closed' THEN
            PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
        END IF;
    END IF;
    SELECT role INTO v_existing FROM card_bindings WHERE card_id = p_card_id AND member_id = p_member_id AND active;
    IF FOUND THEN
        PERFORM raise_business_error('ALREADY_BOUND', 'The member is already bound to this card as ' || v_existing || '.',
            jsonb_build_object('role', v_existing));
    END IF;
    INSERT INTO card_bindings (card_id, member_id, role) VALUES (p_card_id, p_member_id, p_role);
    PERFORM audit(p_actor_id, p_actor_role, 'BIND_CARD', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'member_id', p_member_id, 'role', p_role),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'card_no', v_card.card_no, 'member_id', p_member_id,
                              'role', p_role, 'affected_members', card_member_ids(p_card_id));
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.business_number(prefix text, n bigint, min_width integer)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE STRICT
AS $function$
BEGIN
    RETURN prefix || CASE WHEN length(n::text) >= min_width THEN n::text ELSE lpad(n::text, min_width, '0') END;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.card_for_update(p_card_id uuid)
 RETURNS cards
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards;
BEGIN
    SELECT * INTO v_card FROM cards WHERE id = p_card_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'No card has this id or number.');
    END IF;
    RETURN v_card;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.card_member_ids(p_card_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(b.member_id), '[]') FROM card_bindings b WHERE b.card_id = p_card_id AND b.active);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.card_owner_id(p_card_id uuid)
 RETURNS uuid
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    RETURN (SELECT member_id FROM card_bindings WHERE card_id = p_card_id AND active AND role = 'owner'
            ORDER BY created_at LIMIT 1);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.card_status_move_allowed(p_from card_status, p_to card_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE p_to WHEN 'inactive'::card_status THEN (p_from = 'active'::card_status) WHEN 'active'::card_status THEN (p_from = ANY (ARRAY['inactive'::card_status, 'lost'::card_status])) WHEN 'lost'::card_status THEN (p_from = ANY (ARRAY['active'::card_status, 'inactive'::card_status])) WHEN 'closed'::card_status THEN (p_from <> 'closed'::card_status) ELSE false END
;

CREATE OR REPLACE FUNCTION bench_before.change_binding_role(p_admin_id uuid, p_card_id uuid, p_member_id uuid, p_role binding_role, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards := card_for_update(p_card_id);
    v_binding card_bindings := live_binding('admin', p_card_id, p_member_id);
BEGIN
    IF v_binding.role = 'owner' AND p_role <> 'owner' THEN
        PERFORM require_another_owner(p_card_id, p_member_id);
    END IF;
    IF p_role <> 'owner' AND v_card.card_type <> 'corporate' THEN
        PERFORM raise_business_error('CARD_TYPE_NOT_SHAREABLE', 'Only corporate cards have roles besides owner.');
    END IF;
    UPDATE card_bindings SET role = p_role WHERE id = v_binding.id;
    PERFORM audit(p_admin_id, 'admin', 'BINDING_ROLE_CHANGE', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'member_id', p_member_id,
                                     'from', v_binding.role, 'to', p_role),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'card_no', v_card.card_no, 'member_id', p_member_id,
                              'role', p_role, 'affected_members', card_member_ids(p_card_id));
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.charge_by_qr(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_fingerprint bytea, p_token_hash bytea, p_amount numeric, p_external_order_id text, p_tag jsonb, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.charge_by_qr_effect(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_token_hash bytea, p_amount numeric, p_external_order_id text, p_tag jsonb, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.confirm_recharge(p_tx_no text, p_succeeded boolean, p_amount numeric, p_channel_ref text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.create_card(p_admin_id uuid, p_card_type card_type, p_owner_member_id uuid, p_name text, p_fixed_discount numeric, p_binding_password_hash text, p_initial_balance numeric, p_expires_at timestamp with time zone, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards;
    v_credit jsonb;
BEGIN
    IF p_card_type = 'standard' THEN
        PERFORM raise_business_error('VALIDATION_FAILED', 'Standard cards are created with their member.',
            jsonb_build_object('fields', jsonb_build_object('card_type', 'must be corporate or voucher')));
    END IF;
    PERFORM require_member_exists(p_owner_member_id);
    INSERT INTO cards (card_no, card_type, name, fixed_discount, binding_password_hash, expires_at)
    VALUES (next_card_no(p_card_type), p_card_type,
            coalesce(p_name, CASE p_card_type WHEN 'voucher' THEN 'Voucher' ELSE 'Corporate card' END),
            p_fixed_discount, p_binding_password_hash, p_expires_at)
    RETURNING * INTO v_card;
    INSERT INTO card_bindings (card_id, member_id, role) VALUES (v_card.id, p_owner_member_id, 'owner');
    IF p_initial_balance IS NOT NULL THEN
        -- One mutation, one audit event: CREATE_CARD below names the initial recharge.
        v_credit := credit_card(v_card, p_initial_balance, 'manual', NULL, NULL, NULL, 'voucher issue',
                                p_admin_id, 'admin', p_request_id, false);
    END IF;
    PERFORM audit(p_admin_id, 'admin', 'CREATE_CARD', 'card', v_card.id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'card_type', v_card.card_type,
                                     'owner_member_id', p_owner_member_id,
                                     'fixed_discount', p_fixed_discount::text,
                                     'binding_password_set', p_binding_password_hash IS NOT NULL,
                                     'initial_balance', p_initial_balance::text,
                                     'initial_tx_no', v_credit -> 'transaction' ->> 'tx_no',
                                     'expires_at', p_expires_at),
                  p_request_id);
    RETURN jsonb_build_object('card_id', v_card.id,
                              'initial_transaction', v_credit -> 'transaction',
                              'affected_members', card_member_ids(v_card.id));
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.create_recharge_order(p_member_id uuid, p_idempotency_key text, p_fingerprint bytea, p_card_id uuid, p_amount numeric, p_method payment_method, p_external_order_id text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.create_recharge_order_effect(p_member_id uuid, p_idempotency_key text, p_card_id uuid, p_amount numeric, p_method payment_method, p_external_order_id text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.credit_card(p_card cards, p_amount numeric, p_method payment_method, p_merchant_id uuid, p_operator text, p_idempotency_key text, p_reason text, p_actor_id uuid, p_actor_role actor_role, p_request_id text, p_audit boolean DEFAULT true)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_tx_id uuid;
BEGIN
    INSERT INTO transactions (tx_no, tx_type, card_id, merchant_id, operator, raw_amount, final_amount, status,
                              payment_method, idempotency_key, reason, tag, actor_id, actor_role)
    VALUES (next_tx_no('recharge'), 'recharge', p_card.id, p_merchant_id, p_operator, p_amount, p_amount,
            'completed', p_method, p_idempotency_key, p_reason,
            CASE WHEN p_operator IS NULL THEN NULL ELSE jsonb_build_object('operator', p_operator) END,
            p_actor_id, p_actor_role)
    RETURNING id INTO v_tx_id;
    UPDATE cards SET balance = balance + p_amount, updated_at = now() WHERE id = p_card.id;
    IF p_audit THEN
        PERFORM audit(p_actor_id, p_actor_role, 'RECHARGE', 'transaction', v_tx_id::text,
                      jsonb_build_object('card_no', p_card.card_no, 'amount', p_amount::text,
                                         'payment_method', p_method, 'reason', p_reason), p_request_id);
    END IF;
    RETURN jsonb_build_object('transaction', transaction_json(v_tx_id),
                              'affected_members', card_member_ids(p_card.id));
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.effective_card_status(p_status card_status, p_expires_at timestamp with time zone)
 RETURNS card_status
 LANGUAGE sql
 STABLE PARALLEL SAFE
RETURN CASE WHEN ((p_status = ANY (ARRAY['active'::card_status, 'inactive'::card_status])) AND (p_expires_at IS NOT NULL) AND (p_expires_at <= now())) THEN 'expired'::card_status ELSE p_status END
;

CREATE OR REPLACE FUNCTION bench_before.effective_discount(p_card_type card_type, p_level_discount numeric, p_fixed_discount numeric, p_member_id uuid)
 RETURNS numeric
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    RETURN round(CASE p_card_type
        WHEN 'standard' THEN least(p_level_discount, coalesce(member_corporate_discount(p_member_id), 1))
        WHEN 'voucher' THEN 1
        ELSE coalesce(p_fixed_discount, 1)
    END, 3);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.error_outcome(p_code text, p_message text, p_hint text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
BEGIN
    RETURN jsonb_build_object(
        'ok', false,
        'error', jsonb_build_object('code', p_code, 'message', p_message,
                                    'details', CASE WHEN coalesce(p_hint, '') = '' THEN NULL ELSE p_hint::jsonb END),
        'request_id', p_request_id);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.generate_settlement(p_merchant_id uuid, p_mode settlement_mode, p_start timestamp with time zone, p_end timestamp with time zone, p_margin_seconds integer, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_totals record;
    v_id uuid;
    v_other text;
BEGIN
    IF p_end > now() - make_interval(secs => p_margin_seconds) THEN
        PERFORM raise_business_error('PERIOD_NOT_CLOSED',
            'This period has not closed yet; it can be settled from ' ||
            to_char((p_end + make_interval(secs => p_margin_seconds)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '.',
            jsonb_build_object('period_end', p_end, 'settleable_from', p_end + make_interval(secs => p_margin_seconds)));
    END IF;
    SELECT * INTO v_totals FROM merchant_period_totals(p_merchant_id, p_start, p_end);
    BEGIN
        INSERT INTO settlements (merchant_id, mode, period_start, period_end, payment_count, payment_amount,
                                 refund_count, refund_amount, topup_count, topup_amount, net_amount)
        VALUES (p_merchant_id, p_mode, p_start, p_end, v_totals.payment_count, v_totals.payment_amount,
                v_totals.refund_count, v_totals.refund_amount, v_totals.topup_count, v_totals.topup_amount,
                v_totals.payment_amount - v_totals.refund_amount - v_totals.topup_amount)
        RETURNING id INTO v_id;
    EXCEPTION WHEN exclusion_violation THEN
        SELECT settlement_no INTO v_other FROM settlements
        WHERE merchant_id = p_merchant_id AND tstzrange(period_start, period_end) && tstzrange(p_start, p_end)
        ORDER BY period_start LIMIT 1;
        PERFORM raise_business_error('SETTLEMENT_ALREADY_EXISTS',
            'Settlement ' || coalesce(v_other, '') || ' already covers part of this period.',
            jsonb_build_object('settlement_no', v_other));
    END;
    PERFORM audit(p_merchant_id, 'merchant', 'SETTLEMENT_GENERATE', 'settlement', v_id::text,
                  jsonb_build_object('mode', p_mode, 'period_start', p_start, 'period_end', p_end,
                                     'net_amount', (v_totals.payment_amount - v_totals.refund_amount
                                                    - v_totals.topup_amount)::text),
                  p_request_id);
    RETURN settlement_json(v_id);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.idempotency_begin(p_actor_id uuid, p_operation text, p_key text, p_fingerprint bytea)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_row idempotency_keys;
BEGIN
    INSERT INTO idempotency_keys (actor_id, operation, key, fingerprint, outcome)
    VALUES (p_actor_id, p_operation, p_key, p_fingerprint, '{"pending": true}')
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_row FROM idempotency_keys
    WHERE actor_id = p_actor_id AND operation = p_operation AND key = p_key;
    IF v_row.fingerprint <> p_fingerprint THEN
        PERFORM raise_business_error('IDEMPOTENCY_KEY_REUSED',
            'This Idempotency-Key was already used with a different request; use a new key.');
    END IF;
    RETURN v_row.outcome || '{"replayed": true}';
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.idempotency_finish(p_actor_id uuid, p_operation text, p_key text, p_outcome jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    UPDATE idempotency_keys SET outcome = p_outcome
    WHERE actor_id = p_actor_id AND operation = p_operation AND key = p_key;
    RETURN p_outcome || '{"replayed": false}';
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.issue_qr_token(p_member_id uuid, p_card_id uuid, p_token_hash bytea, p_ttl_seconds integer, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.level_for_points(p_points bigint, OUT level integer, OUT discount numeric)
 RETURNS record
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    SELECT coalesce(max(l.level), 0), coalesce((array_agg(l.discount ORDER BY l.level DESC))[1], 1.000)
    INTO level, discount
    FROM membership_levels l
    WHERE l.active AND l.min_points <= p_points AND (l.max_points IS NULL OR l.max_points >= p_points);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.level_table_json()
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
RETURN (SELECT COALESCE(jsonb_agg(jsonb_build_object('level', l.level, 'name', l.name, 'min_points', l.min_points, 'max_points', l.max_points, 'discount', (l.discount)::text) ORDER BY l.min_points), '[]'::jsonb) AS "coalesce" FROM membership_levels l WHERE l.active)
;

CREATE OR REPLACE FUNCTION bench_before.level_table_problem(p_levels jsonb)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.live_binding(p_actor_role actor_role, p_card_id uuid, p_member_id uuid)
 RETURNS card_bindings
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_binding card_bindings;
BEGIN
    SELECT * INTO v_binding FROM card_bindings WHERE card_id = p_card_id AND member_id = p_member_id AND active;
    IF NOT FOUND THEN
        IF p_actor_role = 'member' THEN
            PERFORM raise_business_error('CARD_NOT_FOUND', 'You hold no card with this id.');
        END IF;
        PERFORM raise_business_error('NOT_FOUND', 'This member is not bound to this card.');
    END IF;
    RETURN v_binding;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.member_corporate_discount(p_member_id uuid)
 RETURNS numeric
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    RETURN (
        SELECT min(c.fixed_discount)
        FROM card_bindings b
        JOIN cards c ON c.id = b.card_id
        WHERE b.member_id = p_member_id
          AND b.active
          AND b.role IN ('owner', 'admin', 'member')
          AND c.card_type = 'corporate'
          AND c.status = 'active'
          AND (c.expires_at IS NULL OR c.expires_at > now())
    );
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.merchant_daily_summary(p_merchant_id uuid, p_start timestamp with time zone, p_end timestamp with time zone)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
    SELECT jsonb_build_object(
        'payment_count', t.payment_count, 'payment_amount', t.payment_amount::text,
        'refund_count', t.refund_count, 'refund_amount', t.refund_amount::text,
        'net_amount', (t.payment_amount - t.refund_amount)::text,
        'hourly', (
            SELECT jsonb_agg(jsonb_build_object('start', b.start, 'count', b.count, 'amount', b.amount::text)
                             ORDER BY b.start)
            FROM (SELECT s.start, count(p.id) AS count, coalesce(sum(p.final_amount), 0) AS amount
                  FROM generate_series(p_start, p_end - interval '1 microsecond', interval '1 hour') AS s(start)
                  LEFT JOIN transactions p
                         ON p.merchant_id = p_merchant_id AND p.tx_type = 'payment'
                        AND p.status IN ('completed', 'refunded')
                        AND p.created_at >= s.start AND p.created_at < least(s.start + interval '1 hour', p_end)
                  GROUP BY s.start) b))
    FROM merchant_period_totals(p_merchant_id, p_start, p_end) t
$function$
;

CREATE OR REPLACE FUNCTION bench_before.merchant_period_totals(p_merchant_id uuid, p_start timestamp with time zone, p_end timestamp with time zone, OUT payment_count bigint, OUT payment_amount numeric, OUT refund_count bigint, OUT refund_amount numeric, OUT topup_count bigint, OUT topup_amount numeric)
 RETURNS record
 LANGUAGE sql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
    SELECT count(*) FILTER (WHERE t.tx_type = 'payment' AND t.status IN ('completed', 'refunded')),
           coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type = 'payment' AND t.status IN ('completed', 'refunded')), 0),
           count(*) FILTER (WHERE t.tx_type = 'refund' AND t.status = 'completed'),
           coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type = 'refund' AND t.status = 'completed'), 0),
           count(*) FILTER (WHERE t.tx_type = 'recharge' AND t.payment_method = 'cash' AND t.status = 'completed'),
           coalesce(sum(t.final_amount) FILTER (WHERE t.tx_type = 'recharge' AND t.payment_method = 'cash'
                                                  AND t.status = 'completed'), 0)
    FROM transactions t
    WHERE t.merchant_id = p_merchant_id AND t.created_at >= p_start AND t.created_at < p_end
$function$
;

CREATE OR REPLACE FUNCTION bench_before.merchant_topup(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_fingerprint bytea, p_card_no text, p_amount numeric, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_outcome jsonb;
    v_hint text;
    v_detail text;
BEGIN
    v_outcome := idempotency_begin(p_merchant_id, 'merchant_recharge', p_idempotency_key, p_fingerprint);
    IF v_outcome IS NOT NULL THEN
        RETURN v_outcome;
    END IF;
    BEGIN
        v_outcome := ok_outcome(merchant_topup_effect(p_merchant_id, p_operator, p_idempotency_key, p_card_no,
                                                      p_amount, p_request_id),
                                p_request_id);
    EXCEPTION WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        v_outcome := error_outcome(SQLERRM, v_detail, v_hint, p_request_id);
    END;
    RETURN idempotency_finish(p_merchant_id, 'merchant_recharge', p_idempotency_key, v_outcome);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.merchant_topup_effect(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_card_no text, p_amount numeric, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards;
BEGIN
    PERFORM require_merchant_active(p_merchant_id);
    SELECT * INTO v_card FROM cards WHERE card_no = upper(p_card_no) FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'No card has this number.');
    END IF;
    PERFORM require_rechargeable(v_card, false);
    PERFORM require_member_active(card_owner_id(v_card.id));
    RETURN credit_card(v_card, p_amount, 'cash', p_merchant_id, p_operator, p_idempotency_key, NULL,
                       p_merchant_id, 'merchant', p_request_id);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.next_card_no(kind card_type)
 RETURNS text
 LANGUAGE sql
RETURN business_number(CASE kind WHEN 'standard'::card_type THEN 'STD'::text WHEN 'voucher'::card_type THEN 'VCH'::text ELSE 'COR'::text END, nextval('card_no_seq'::regclass), 8)
;

CREATE OR REPLACE FUNCTION bench_before.next_tx_no(kind tx_type)
 RETURNS text
 LANGUAGE sql
RETURN business_number(CASE kind WHEN 'payment'::tx_type THEN 'PAY'::text WHEN 'refund'::tx_type THEN 'REF'::text ELSE 'RCG'::text END, nextval('tx_no_seq'::regclass), 10)
;

CREATE OR REPLACE FUNCTION bench_before.ok_outcome(p_body jsonb, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
BEGIN
    RETURN jsonb_build_object('ok', true, 'body', p_body, 'request_id', p_request_id);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.owned_card_for_update(p_member_id uuid, p_card_id uuid)
 RETURNS cards
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards;
BEGIN
    SELECT c.* INTO v_card FROM cards c
    WHERE c.id = p_card_id
      AND EXISTS (SELECT 1 FROM card_bindings b
                  WHERE b.card_id = c.id AND b.member_id = p_member_id AND b.active AND b.role = 'owner')
    FOR UPDATE OF c;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND', 'You own no card with this id.');
    END IF;
    RETURN v_card;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.qr_card_for_update(p_member_id uuid, p_card_id uuid)
 RETURNS cards
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.raise_business_error(p_code text, p_message text, p_details jsonb DEFAULT NULL::jsonb)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = p_code, DETAIL = p_message,
                          HINT = coalesce(p_details::text, '');
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.refund_payment(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_fingerprint bytea, p_original_tx_no text, p_amount numeric, p_reason text, p_tag jsonb, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.refund_payment_effect(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_original_tx_no text, p_amount numeric, p_reason text, p_tag jsonb, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.replace_levels(p_admin_id uuid, p_levels jsonb, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_problem text := level_table_problem(p_levels);
    v_before jsonb;
BEGIN
    IF v_problem IS NOT NULL THEN
        PERFORM raise_business_error('INVALID_LEVEL_TABLE', 'The level table is invalid: ' || v_problem || '.',
                                     jsonb_build_object('problem', v_problem));
    END IF;
    -- Concurrent replacements queue here (readers are not blocked: they see the old table or the new).
    LOCK TABLE membership_levels IN EXCLUSIVE MODE;
    v_before := level_table_json();
    DELETE FROM membership_levels;
    INSERT INTO membership_levels (level, name, min_points, max_points, discount)
    SELECT (e ->> 'level')::int, btrim(e ->> 'name'), (e ->> 'min_points')::bigint, (e ->> 'max_points')::bigint,
           (e ->> 'discount')::numeric
    FROM jsonb_array_elements(p_levels) e;
    PERFORM audit(p_admin_id, 'admin', 'LEVELS_UPDATE', 'levels', NULL,
                  jsonb_build_object('before', v_before, 'after', level_table_json()), p_request_id);
    RETURN level_table_json();
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.require_another_owner(p_card_id uuid, p_member_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM card_bindings
                   WHERE card_id = p_card_id AND member_id <> p_member_id AND active AND role = 'owner') THEN
        PERFORM raise_business_error('CANNOT_REMOVE_LAST_OWNER',
            'This is the card''s last owner; add another owner first.');
    END IF;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.require_card_usable(p_card cards)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    IF p_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
    ELSIF effective_card_status(p_card.status, p_card.expires_at) = 'expired' THEN
        PERFORM raise_business_error('CARD_EXPIRED', 'The card has expired.');
    ELSIF p_card.status <> 'active' THEN
        PERFORM raise_business_error('CARD_NOT_ACTIVE', 'The card is ' ||
            CASE p_card.status WHEN 'inactive' THEN 'frozen' ELSE p_card.status::text END || '.');
    END IF;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.require_member_active(p_member_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = p_member_id AND status = 'active') THEN
        PERFORM raise_business_error('MEMBER_NOT_ACTIVE', 'The card holder''s account is not active.');
    END IF;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.require_member_exists(p_member_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = p_member_id AND status <> 'deleted') THEN
        PERFORM raise_business_error('MEMBER_NOT_FOUND', 'No member has this id.');
    END IF;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.require_merchant_active(p_merchant_id uuid)
 RETURNS merchants
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_merchant merchants;
BEGIN
    SELECT * INTO v_merchant FROM merchants WHERE id = p_merchant_id;
    IF NOT FOUND THEN
        PERFORM raise_business_error('MERCHANT_NOT_FOUND', 'The merchant does not exist.');
    ELSIF v_merchant.status <> 'active' THEN
        PERFORM raise_business_error('MERCHANT_NOT_ACTIVE', 'The merchant is suspended.');
    END IF;
    RETURN v_merchant;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.require_rechargeable(p_card cards, p_allow_frozen boolean)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.revoke_all_qr_tokens(p_admin_id uuid, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_count int;
BEGIN
    WITH gone AS (DELETE FROM qr_tokens RETURNING issue_id)
    UPDATE qr_issues i SET ended_at = now(), end_reason = 'revoked_all'
    FROM gone WHERE i.id = gone.issue_id AND i.ended_at IS NULL;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM audit(p_admin_id, 'admin', 'QR_REVOKE_ALL', 'qr_token', NULL,
                  jsonb_build_object('revoked', v_count), p_request_id);
    RETURN jsonb_build_object('revoked', v_count);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.revoke_qr_token(p_member_id uuid, p_card_id uuid, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
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
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.set_binding_password(p_admin_id uuid, p_card_id uuid, p_hash text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards := card_for_update(p_card_id);
BEGIN
    IF v_card.card_type <> 'corporate' THEN
        PERFORM raise_business_error('CARD_TYPE_NOT_SHAREABLE',
            'Only corporate cards are shared; a ' || v_card.card_type || ' card has no binding password.');
    END IF;
    IF v_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
    END IF;
    UPDATE cards SET binding_password_hash = p_hash, updated_at = now() WHERE id = p_card_id;
    PERFORM audit(p_admin_id, 'admin', 'SET_BINDING_PASSWORD', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'cleared', p_hash IS NULL), p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'affected_members', card_member_ids(p_card_id));
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.set_card_points(p_card_id uuid, p_points bigint)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_level int;
    v_discount numeric;
BEGIN
    SELECT l.level, l.discount INTO v_level, v_discount FROM level_for_points(p_points) l;
    UPDATE cards SET points = p_points, level = v_level, level_discount = v_discount, updated_at = now()
    WHERE id = p_card_id;
    RETURN v_level;
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.set_card_status(p_admin_id uuid, p_card_id uuid, p_status card_status, p_only_from card_status, p_action text, p_reason text, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards := card_for_update(p_card_id);
    v_issue bigint;
BEGIN
    IF NOT card_status_move_allowed(v_card.status, p_status)
       OR (p_only_from IS NOT NULL AND v_card.status <> p_only_from) THEN
        PERFORM raise_business_error('INVALID_STATUS_TRANSITION',
            'A ' || v_card.status || ' card cannot become ' || p_status || '.',
            jsonb_build_object('from', v_card.status, 'to', p_status));
    END IF;
    IF p_status = 'closed' AND v_card.balance <> 0 THEN
        PERFORM raise_business_error('CARD_HAS_BALANCE',
            'The card still holds ' || v_card.balance::text || '; it can only be closed once empty.',
            jsonb_build_object('balance', v_card.balance::text));
    END IF;
    UPDATE cards SET status = p_status, updated_at = now() WHERE id = p_card_id;
    IF p_status <> 'active' THEN
        DELETE FROM qr_tokens WHERE card_id = p_card_id RETURNING issue_id INTO v_issue;
        UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked' WHERE id = v_issue AND ended_at IS NULL;
    END IF;
    PERFORM audit(p_admin_id, 'admin', p_action, 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'from', v_card.status, 'to', p_status,
                                     'reason', p_reason, 'qr_revoked', v_issue IS NOT NULL),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'previous_status', v_card.status,
                              'affected_members', card_member_ids(p_card_id));
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.settlement_json(p_settlement_id uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
RETURN (SELECT to_jsonb(v.*) AS to_jsonb FROM settlement_views v WHERE (v.id = settlement_json.p_settlement_id))
;

CREATE OR REPLACE FUNCTION bench_before.settlement_move_allowed(p_from settlement_status, p_to settlement_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
RETURN CASE p_from WHEN 'pending'::settlement_status THEN (p_to = ANY (ARRAY['settled'::settlement_status, 'failed'::settlement_status])) WHEN 'settled'::settlement_status THEN (p_to = 'paid'::settlement_status) WHEN 'failed'::settlement_status THEN (p_to = 'pending'::settlement_status) ELSE false END
;

CREATE OR REPLACE FUNCTION bench_before.transaction_json(p_tx_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
BEGIN
    RETURN (SELECT to_jsonb(v) - 'merchant_id' FROM transaction_views v WHERE v.id = p_tx_id);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.unbind_card(p_actor_id uuid, p_actor_role actor_role, p_card_id uuid, p_member_id uuid, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_card cards;
    v_binding card_bindings;
    v_affected jsonb;
BEGIN
    SELECT * INTO v_card FROM cards WHERE id = p_card_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('CARD_NOT_FOUND',
            CASE WHEN p_actor_role = 'member' THEN 'You hold no card with this id.' ELSE 'No card has this id or number.' END);
    END IF;
    v_binding := live_binding(p_actor_role, p_card_id, p_member_id);
    IF v_binding.role = 'owner' THEN
        PERFORM require_another_owner(p_card_id, p_member_id);
    END IF;
    v_affected := card_member_ids(p_card_id);
    UPDATE card_bindings SET active = false, ended_at = now() WHERE id = v_binding.id;
    PERFORM audit(p_actor_id, p_actor_role, 'UNBIND_CARD', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'member_id', p_member_id, 'role', v_binding.role),
                  p_request_id);
    RETURN jsonb_build_object('card_id', p_card_id, 'card_no', v_card.card_no, 'member_id', p_member_id,
                              'role', v_binding.role, 'affected_members', v_affected);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.update_settlement_status(p_admin_id uuid, p_settlement_id uuid, p_status settlement_status, p_request_id text)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_settlement settlements;
BEGIN
    SELECT * INTO v_settlement FROM settlements WHERE id = p_settlement_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_business_error('SETTLEMENT_NOT_FOUND', 'No settlement has this id.');
    END IF;
    IF NOT settlement_move_allowed(v_settlement.status, p_status) THEN
        PERFORM raise_business_error('INVALID_STATUS_TRANSITION',
            'A ' || v_settlement.status || ' settlement cannot become ' || p_status || '.',
            jsonb_build_object('from', v_settlement.status, 'to', p_status));
    END IF;
    UPDATE settlements SET status = p_status, updated_at = now() WHERE id = p_settlement_id;
    PERFORM audit(p_admin_id, 'admin', 'SETTLEMENT_STATUS_UPDATE', 'settlement', p_settlement_id::text,
                  jsonb_build_object('settlement_no', v_settlement.settlement_no,
                                     'from', v_settlement.status, 'to', p_status),
                  p_request_id);
    RETURN settlement_json(p_settlement_id);
END $function$
;

CREATE OR REPLACE FUNCTION bench_before.validate_qr_token(p_merchant_id uuid, p_token_hash bytea)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'bench_before', 'public', 'pg_temp'
AS $function$
DECLARE
    v_result jsonb;
BEGIN
    PERFORM require_merchant_active(p_merchant_id);
    SELECT jsonb_build_object(
               'card_no', c.card_no, 'card_type', c.card_type, 'level', c.level,
               'status', effective_card_status(c.status, c.expires_at), 'expires_at', q.expires_at)
    INTO v_result
    FROM qr_tokens q JOIN cards c ON c.id = q.card_id
    WHERE q.token_hash = p_token_hash AND q.expires_at > now();
    IF v_result IS NULL THEN
        PERFORM raise_business_error('QR_EXPIRED_OR_INVALID', 'This QR code is expired, used or unknown; ask for a new one.');
    END IF;
    RETURN v_result;
END $function$
;

