-- Shared helpers of every operation: business errors, audit events, business numbers,
-- idempotency records and outcomes, and the checks that an account is active.

CREATE OR REPLACE FUNCTION next_card_no(kind card_type) RETURNS text
LANGUAGE sql VOLATILE
RETURN business_number(CASE kind WHEN 'standard' THEN 'STD' WHEN 'voucher' THEN 'VCH' ELSE 'COR' END,
                       nextval('card_no_seq'), 8);

CREATE OR REPLACE FUNCTION next_tx_no(kind tx_type) RETURNS text
LANGUAGE sql VOLATILE
RETURN business_number(CASE kind WHEN 'payment' THEN 'PAY' WHEN 'refund' THEN 'REF' ELSE 'RCG' END,
                       nextval('tx_no_seq'), 10);

-- One place that writes audit rows, so every SQL function records them alike.
-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION audit(p_actor_id uuid, p_actor_role actor_role, p_action text, p_object_type text,
                                 p_object_id text, p_context jsonb, p_request_id text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO audit_events (actor_id, actor_role, action, object_type, object_id, context, request_id)
    VALUES (p_actor_id, p_actor_role, p_action, p_object_type, p_object_id, coalesce(p_context, '{}'), p_request_id);
END $$;

-- Raises a business error: SQLSTATE P0001, MESSAGE = the API error code, DETAIL = a message
-- for people, HINT = JSON details. The server maps the code onto its HTTP status (crates/mps/src/error.rs).
CREATE OR REPLACE FUNCTION raise_business_error(p_code text, p_message text, p_details jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = p_code, DETAIL = p_message,
                          HINT = coalesce(p_details::text, '');
END $$;

-- Advisory lock classes (the first key of the two-key form), so callers never collide.
--   1: idempotency records (actor, operation, key)
--   2: a merchant's external order ids
CREATE OR REPLACE FUNCTION idempotency_lock(p_actor_id uuid, p_operation text, p_key text, p_fingerprint bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_fingerprint bytea;
    v_outcome jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(1, hashtext(p_actor_id::text || '/' || p_operation || '/' || p_key));
    SELECT fingerprint, outcome INTO v_fingerprint, v_outcome FROM idempotency_keys
    WHERE actor_id = p_actor_id AND operation = p_operation AND key = p_key;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_fingerprint <> p_fingerprint THEN
        PERFORM raise_business_error('IDEMPOTENCY_KEY_REUSED',
            'This Idempotency-Key was already used with a different request; use a new key.');
    END IF;
    IF v_outcome ? 'tx' THEN
        -- A compact record (idempotency_store_compact): the answer rebuilt as it was sent.
        v_outcome := idempotency_expand(p_operation, v_outcome);
    END IF;
    RETURN v_outcome || '{"replayed": true}';
END $$;

-- Stores the compact record of a successful charge, refund, counter top-up or admin credit — the
-- transaction's id and the few values of the answer that the rows do not keep as they were (issue 16:
-- the whole answer was the largest row a payment wrote) — and returns the full outcome. A replay
-- rebuilds the identical answer from it (idempotency_expand, sql/functions/payments.sql).
CREATE OR REPLACE FUNCTION idempotency_store_compact(p_actor_id uuid, p_operation text, p_key text,
                                                     p_fingerprint bytea, p_stored jsonb, p_outcome jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO idempotency_keys (actor_id, operation, key, fingerprint, outcome)
    VALUES (p_actor_id, p_operation, p_key, p_fingerprint, p_stored);
    RETURN p_outcome || '{"replayed": false}';
END $$;

CREATE OR REPLACE FUNCTION idempotency_store(p_actor_id uuid, p_operation text, p_key text, p_fingerprint bytea,
                                             p_outcome jsonb) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO idempotency_keys (actor_id, operation, key, fingerprint, outcome)
    VALUES (p_actor_id, p_operation, p_key, p_fingerprint, p_outcome);
    RETURN p_outcome || '{"replayed": false}';
END $$;

-- Idempotency: claims (actor, operation, key) for this transaction, or returns the stored outcome
-- of an earlier execution (raising IDEMPOTENCY_KEY_REUSED when the request differs).
CREATE OR REPLACE FUNCTION idempotency_begin(p_actor_id uuid, p_operation text, p_key text, p_fingerprint bytea) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
END $$;

-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION idempotency_finish(p_actor_id uuid, p_operation text, p_key text, p_outcome jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE idempotency_keys SET outcome = p_outcome
    WHERE actor_id = p_actor_id AND operation = p_operation AND key = p_key;
    RETURN p_outcome || '{"replayed": false}';
END $$;

-- The outcome of a business error caught inside an idempotent operation.
-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION error_outcome(p_code text, p_message text, p_hint text, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RETURN jsonb_build_object(
        'ok', false,
        'error', jsonb_build_object('code', p_code, 'message', p_message,
                                    'details', CASE WHEN coalesce(p_hint, '') = '' THEN NULL ELSE p_hint::jsonb END),
        'request_id', p_request_id);
END $$;

-- plpgsql rather than LANGUAGE sql so that its plan is cached per connection (sql/README.md).
CREATE OR REPLACE FUNCTION ok_outcome(p_body jsonb, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RETURN jsonb_build_object('ok', true, 'body', p_body, 'request_id', p_request_id);
END $$;

CREATE OR REPLACE FUNCTION require_member_active(p_member_id uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = p_member_id AND status = 'active') THEN
        PERFORM raise_business_error('MEMBER_NOT_ACTIVE', 'The card holder''s account is not active.');
    END IF;
END $$;

CREATE OR REPLACE FUNCTION require_merchant_active(p_merchant_id uuid) RETURNS merchants
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
END $$;

-- Raises MEMBER_NOT_FOUND unless the member exists and is not deleted.
CREATE OR REPLACE FUNCTION require_member_exists(p_member_id uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = p_member_id AND status <> 'deleted') THEN
        PERFORM raise_business_error('MEMBER_NOT_FOUND', 'No member has this id.');
    END IF;
END $$;
