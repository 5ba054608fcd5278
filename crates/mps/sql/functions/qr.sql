-- QR tokens: issuing, revoking and validating the short-lived codes a member shows at the till.
--
-- One table (migration 0015): a row of `qr_issues` is an issue of a QR token and, while it is
-- live (`ended_at IS NULL`), the token itself — its SHA-256 in `token_hash`, found through the
-- partial unique index of live tokens. Ending an issue (used, revoked, superseded, revoked_all)
-- sets `ended_at`, `end_reason` and clears the hash in one UPDATE; the row stays as the history.
--
-- LOCK ORDER — the rule for every function that touches a card and its QR token:
--
--     1. the card row (`SELECT … FROM cards … FOR UPDATE`),
--     2. then its live `qr_issues` row (claim, end or insert).
--
-- A function that needs a card's token locks the card first, even when it only knows the token
-- (the charge looks the token's card up without a lock, locks the card, then claims the token
-- with one conditional UPDATE). Every function holds at most one card's token. The one function
-- that locks tokens without their cards, `revoke_all_qr_tokens`, locks live issues only, and no
-- function waits for a second token while holding one, so it cannot close a cycle either. Taking
-- a token before its card deadlocks against QR issue, QR revoke and card status changes, which
-- lock the card and then the token. Should a deadlock or serialization failure still happen, the
-- server retries the whole call a bounded number of times and then answers 503 UNAVAILABLE
-- (crates/mps/src/db/mod.rs), never 500.

-- Issues a QR token for a card the member owns; the previous live token of the card dies; the
-- card locked before its token (the lock order: head of this file). Its audit row written directly.
CREATE OR REPLACE FUNCTION issue_qr_token(p_member_id uuid, p_card_id uuid, p_token_hash bytea, p_ttl_seconds int,
                                          p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_card cards;
    v_old_issue bigint;
    v_expires timestamptz := now() + make_interval(secs => p_ttl_seconds);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM members WHERE id = p_member_id AND status = 'active') THEN
        PERFORM raise_business_error('MEMBER_NOT_ACTIVE', 'The card holder''s account is not active.');
    END IF;
    v_card := qr_card_for_update(p_member_id, p_card_id);
    PERFORM require_card_usable(v_card);

    UPDATE qr_issues SET ended_at = now(), end_reason = 'superseded', token_hash = NULL
    WHERE card_id = p_card_id AND ended_at IS NULL
    RETURNING id INTO v_old_issue;
    INSERT INTO qr_issues (card_id, member_id, expires_at, token_hash)
    VALUES (p_card_id, p_member_id, v_expires, p_token_hash);
    INSERT INTO audit_events (actor_id, actor_role, action, object_type, object_id, context, request_id)
    VALUES (p_member_id, 'member', 'QR_ISSUE', 'card', p_card_id::text,
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
    UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked', token_hash = NULL
    WHERE card_id = p_card_id AND ended_at IS NULL
    RETURNING id INTO v_issue;
    PERFORM audit(p_member_id, 'member', 'QR_REVOKE', 'card', p_card_id::text,
                  jsonb_build_object('card_no', v_card.card_no, 'had_live_token', v_issue IS NOT NULL), p_request_id);
    RETURN jsonb_build_object('card_no', v_card.card_no, 'revoked', v_issue IS NOT NULL);
END $$;

-- Revokes every live token (after a suspected leak); returns how many.
CREATE OR REPLACE FUNCTION revoke_all_qr_tokens(p_admin_id uuid, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_count int;
BEGIN
    UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked_all', token_hash = NULL WHERE ended_at IS NULL;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM audit(p_admin_id, 'admin', 'QR_REVOKE_ALL', 'qr_token', NULL,
                  jsonb_build_object('revoked', v_count), p_request_id);
    RETURN jsonb_build_object('revoked', v_count);
END $$;

-- What a merchant may see of a token's card before charging: never the balance.
CREATE OR REPLACE FUNCTION validate_qr_token(p_merchant_id uuid, p_token_hash bytea) RETURNS jsonb
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
    FROM qr_issues q JOIN cards c ON c.id = q.card_id
    WHERE q.token_hash = p_token_hash AND q.ended_at IS NULL AND q.expires_at > now();
    IF v_result IS NULL THEN
        PERFORM raise_business_error('QR_EXPIRED_OR_INVALID', 'This QR code is expired, used or unknown; ask for a new one.');
    END IF;
    RETURN v_result;
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
