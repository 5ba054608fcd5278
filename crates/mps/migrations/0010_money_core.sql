-- The money core: every operation that moves money or points, as one SQL function each.
--
-- Conventions:
-- * The acting principal is an explicit argument (never a session variable: pooled connections
--   would leak it between requests); every function pins its search_path.
-- * Business errors are raised with SQLSTATE P0001, MESSAGE = the API error code, DETAIL = a
--   message for people, HINT = JSON details (see `raise_business_error`).
-- * Idempotent operations record their outcome — success or business error alike — in
--   `idempotency_keys` in the same transaction as the effect: a concurrent duplicate blocks on the
--   key's primary key until the first commits, then replays its outcome.
-- * Amounts are numeric(12,2); `round()` on numeric rounds half away from zero.

CREATE FUNCTION raise_business_error(p_code text, p_message text, p_details jsonb DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = p_code, DETAIL = p_message,
                          HINT = coalesce(p_details::text, '');
END $$;

-- The level a point total maps to: the highest active level whose range contains it.
CREATE FUNCTION level_for_points(p_points bigint, OUT level int, OUT discount numeric)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT coalesce(max(l.level), 0),
           coalesce((array_agg(l.discount ORDER BY l.level DESC))[1], 1.000)
    FROM membership_levels l
    WHERE l.active AND l.min_points <= p_points AND (l.max_points IS NULL OR l.max_points >= p_points)
$$;

-- Transactions as clients see them (amounts as decimal strings).
CREATE VIEW transaction_views AS
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

CREATE FUNCTION transaction_json(p_tx_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
RETURN (SELECT to_jsonb(v) - 'merchant_id' FROM transaction_views v WHERE v.id = p_tx_id);

-- Members whose cached card lists a change of this card makes stale.
CREATE FUNCTION card_member_ids(p_card_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
RETURN (SELECT coalesce(jsonb_agg(b.member_id), '[]') FROM card_bindings b WHERE b.card_id = p_card_id AND b.active);

-- Idempotency: claims (actor, operation, key) for this transaction, or returns the stored outcome
-- of an earlier execution (raising IDEMPOTENCY_KEY_REUSED when the request differs).
CREATE FUNCTION idempotency_begin(p_actor_id uuid, p_operation text, p_key text, p_fingerprint bytea) RETURNS jsonb
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

CREATE FUNCTION idempotency_finish(p_actor_id uuid, p_operation text, p_key text, p_outcome jsonb) RETURNS jsonb
LANGUAGE sql
SET search_path = public, pg_temp
BEGIN ATOMIC
    UPDATE idempotency_keys SET outcome = p_outcome
    WHERE actor_id = p_actor_id AND operation = p_operation AND key = p_key;
    SELECT p_outcome || '{"replayed": false}';
END;

-- The outcome of a business error caught inside an idempotent operation.
CREATE FUNCTION error_outcome(p_code text, p_message text, p_hint text, p_request_id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object(
    'ok', false,
    'error', jsonb_build_object('code', p_code, 'message', p_message,
                                'details', CASE WHEN coalesce(p_hint, '') = '' THEN NULL ELSE p_hint::jsonb END),
    'request_id', p_request_id);

CREATE FUNCTION ok_outcome(p_body jsonb, p_request_id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object('ok', true, 'body', p_body, 'request_id', p_request_id);

---------------------------------------------------------------------------------------------------
-- QR tokens
---------------------------------------------------------------------------------------------------

-- Locks and returns a card the member owns, or raises CARD_NOT_FOUND.
CREATE FUNCTION owned_card_for_update(p_member_id uuid, p_card_id uuid) RETURNS cards
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
END $$;

CREATE FUNCTION require_member_active(p_member_id uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = p_member_id AND status = 'active') THEN
        PERFORM raise_business_error('MEMBER_NOT_ACTIVE', 'The card holder''s account is not active.');
    END IF;
END $$;

CREATE FUNCTION require_merchant_active(p_merchant_id uuid) RETURNS merchants
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

-- Raises the right error when a card cannot be used now (closed, expired, frozen or lost).
CREATE FUNCTION require_card_usable(p_card cards) RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_card.status = 'closed' THEN
        PERFORM raise_business_error('CARD_CLOSED', 'The card is closed.');
    ELSIF effective_card_status(p_card.status, p_card.expires_at) = 'expired' THEN
        PERFORM raise_business_error('CARD_EXPIRED', 'The card has expired.');
    ELSIF p_card.status <> 'active' THEN
        PERFORM raise_business_error('CARD_NOT_ACTIVE', 'The card is ' ||
            CASE p_card.status WHEN 'inactive' THEN 'frozen' ELSE p_card.status::text END || '.');
    END IF;
END $$;

-- Issues a QR token for a card the member owns; the previous live token of the card dies.
CREATE FUNCTION issue_qr_token(p_member_id uuid, p_card_id uuid, p_token_hash bytea, p_ttl_seconds int,
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
    v_card := owned_card_for_update(p_member_id, p_card_id);
    IF v_card.card_type = 'corporate' THEN
        PERFORM raise_business_error('CORPORATE_CARD_CANNOT_PAY', 'Corporate cards cannot pay; use your own card.');
    END IF;
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
CREATE FUNCTION revoke_qr_token(p_member_id uuid, p_card_id uuid, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_issue bigint;
BEGIN
    v_card := owned_card_for_update(p_member_id, p_card_id);
    DELETE FROM qr_tokens WHERE card_id = p_card_id RETURNING issue_id INTO v_issue;
    IF v_issue IS NOT NULL THEN
        UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked' WHERE id = v_issue AND ended_at IS NULL;
    END IF;
    PERFORM audit(p_member_id, 'member', 'QR_REVOKE', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'had_live_token', v_issue IS NOT NULL), p_request_id);
    RETURN jsonb_build_object('card_no', v_card.card_no, 'revoked', v_issue IS NOT NULL);
END $$;

-- Revokes every live token (after a suspected leak); returns how many.
CREATE FUNCTION revoke_all_qr_tokens(p_admin_id uuid, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
END $$;

-- What a merchant may see of a token's card before charging: never the balance.
CREATE FUNCTION validate_qr_token(p_merchant_id uuid, p_token_hash bytea) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
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
END $$;
