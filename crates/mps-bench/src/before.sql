-- The payment path as it was before issue 16 (migrations 0010–0031), for the benchmark's A/B:
-- the functions the A/B calls (charge — then charge_by_qr —, issue_qr_token) and those they call whose text has
-- changed since, copied as they were (pg_get_functiondef of a database migrated to 0031) into
-- the schema `bench_before`, each resolving names in bench_before first, then public — so a
-- helper whose text did not change (raise_business_error, idempotency_begin, …) is today's.
-- mps-bench installs it in its own database; the server never sees it. Tables are shared — the
-- old bodies run on today's tables and indexes, so the A/B isolates what the function bodies do —
-- but for the two QR tables, which issue 16's third pass merged into one (migration 0015): the
-- old bodies get their own copies of `qr_tokens` and `qr_issues` here, shaped as they were
-- just before that migration (0010: no member foreign key, BRIN on `issued_at`, fillfactor 85).
DROP SCHEMA IF EXISTS bench_before CASCADE;
CREATE SCHEMA IF NOT EXISTS bench_before;
CREATE TABLE bench_before.qr_issues (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    card_id    uuid NOT NULL REFERENCES public.cards (id),
    member_id  uuid NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    ended_at   timestamptz,
    end_reason public.qr_end_reason,
    tx_id      uuid,
    CONSTRAINT qr_issues_end CHECK ((ended_at IS NULL) = (end_reason IS NULL))
) WITH (fillfactor = 85);
CREATE INDEX qr_issues_issued_at_brin ON bench_before.qr_issues USING brin (issued_at);
CREATE TABLE bench_before.qr_tokens (
    card_id    uuid PRIMARY KEY REFERENCES public.cards (id),
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    member_id  uuid NOT NULL,
    issue_id   bigint NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL CHECK (expires_at > issued_at)
);
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

CREATE OR REPLACE FUNCTION bench_before.business_number(prefix text, n bigint, min_width integer)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE PARALLEL SAFE STRICT
AS $function$
BEGIN
    RETURN prefix || CASE WHEN length(n::text) >= min_width THEN n::text ELSE lpad(n::text, min_width, '0') END;
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

-- Named as the server calls it today (`charge`, issue 14 §3; it was `charge_by_qr` then). The
-- three trailing parameters (issues 18: the store, the staff member and the POS key) are taken and
-- ignored, so that the server's 12-argument call resolves here when `bench_before` leads its
-- search_path (the HTTP pair `payment_before`); without them it silently ran today's charge (as it
-- did from migration 0012, which added the POS key, to issue 16's third pass). The row's store is
-- the merchant's default one, filled by the schema's trigger.
CREATE OR REPLACE FUNCTION bench_before.charge(p_merchant_id uuid, p_operator text, p_idempotency_key text, p_fingerprint bytea, p_token_hash bytea, p_amount numeric, p_external_order_id text, p_tag jsonb, p_request_id text, p_store_id uuid DEFAULT NULL, p_staff_id uuid DEFAULT NULL, p_pos_key_id uuid DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION bench_before.effective_card_status(p_status card_status, p_expires_at timestamp with time zone)
 RETURNS card_status
 LANGUAGE sql
 STABLE PARALLEL SAFE
RETURN CASE WHEN ((p_status = ANY (ARRAY['active'::card_status, 'inactive'::card_status])) AND (p_expires_at IS NOT NULL) AND (p_expires_at <= now())) THEN 'expired'::card_status ELSE p_status END
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

CREATE OR REPLACE FUNCTION bench_before.next_tx_no(kind tx_type)
 RETURNS text
 LANGUAGE sql
RETURN business_number(CASE kind WHEN 'payment'::tx_type THEN 'PAY'::text WHEN 'refund'::tx_type THEN 'REF'::text ELSE 'RCG'::text END, nextval('tx_no_seq'::regclass), 10)
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

