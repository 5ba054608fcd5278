-- Self sign-up (issue 17): phone verification codes, WeChat link tokens, member identities.
-- These functions decide whether a code is good and move its state (tries, single use) in the
-- same statement, so two requests racing on one code cannot both pass. Tables: migration 0004.

-- Issues a code: refuses (answering how many seconds to wait) when the phone had a code less
-- than `p_resend_seconds` ago or `p_daily_limit` codes in the last 24 hours, whatever their
-- purpose; otherwise ends the live code of this phone and purpose and stores the new one.
-- Calls for one phone are serialised by an advisory lock, so two racing sends cannot both pass.
CREATE OR REPLACE FUNCTION issue_phone_code(
    p_phone text, p_purpose text, p_code_hash text, p_ttl_seconds int,
    p_resend_seconds int, p_daily_limit int, p_client_ip inet,
    OUT expires_at timestamptz, OUT retry_after_seconds int)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_last timestamptz;
    v_sent_today int;
    v_oldest_today timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('phone_code:' || p_phone, 0));
    SELECT max(c.created_at), count(*), min(c.created_at)
      INTO v_last, v_sent_today, v_oldest_today
      FROM phone_codes c
     WHERE c.phone = p_phone AND c.created_at > now() - interval '24 hours';
    IF v_last IS NOT NULL AND v_last > now() - make_interval(secs => p_resend_seconds) THEN
        retry_after_seconds := greatest(1, ceil(extract(epoch FROM
            v_last + make_interval(secs => p_resend_seconds) - now()))::int);
        RETURN;
    END IF;
    IF v_sent_today >= p_daily_limit THEN
        retry_after_seconds := greatest(1, ceil(extract(epoch FROM
            v_oldest_today + interval '24 hours' - now()))::int);
        RETURN;
    END IF;
    UPDATE phone_codes c SET ended_at = now(), end_reason = 'superseded'
     WHERE c.phone = p_phone AND c.purpose = p_purpose AND c.ended_at IS NULL;
    INSERT INTO phone_codes (phone, purpose, code_hash, expires_at, client_ip)
    VALUES (p_phone, p_purpose, p_code_hash, now() + make_interval(secs => p_ttl_seconds), p_client_ip)
    RETURNING phone_codes.expires_at INTO expires_at;
END $$;

-- Checks a code against the live code of a phone and purpose, and moves its state:
-- `ok` uses it up (single use); a wrong code counts a try; a code with `p_max_attempts` wrong
-- tries is `locked` (even the right code is refused from then on); `expired` past its life;
-- `invalid` for a wrong code or when no live code exists (never sent, used, or replaced).
-- The caller commits a refusal, so the tries it counted stick, and rolls an `ok` back with its
-- own work if that fails, which leaves the code usable.
CREATE OR REPLACE FUNCTION verify_phone_code(p_phone text, p_purpose text, p_code_hash text, p_max_attempts int)
RETURNS text
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_code phone_codes%ROWTYPE;
BEGIN
    SELECT * INTO v_code FROM phone_codes c
     WHERE c.phone = p_phone AND c.purpose = p_purpose AND c.ended_at IS NULL
     FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'invalid';
    END IF;
    IF v_code.attempts >= p_max_attempts THEN
        RETURN 'locked';
    END IF;
    IF v_code.expires_at <= now() THEN
        RETURN 'expired';
    END IF;
    IF v_code.code_hash <> p_code_hash THEN
        UPDATE phone_codes SET attempts = attempts + 1 WHERE id = v_code.id;
        RETURN 'invalid';
    END IF;
    UPDATE phone_codes SET ended_at = now(), end_reason = 'used' WHERE id = v_code.id;
    RETURN 'ok';
END $$;

-- Uses up a link token (single use, unexpired) and answers the identity it carries; no row when
-- the token is unknown, used or expired.
CREATE OR REPLACE FUNCTION consume_identity_link_token(p_token_hash text)
RETURNS TABLE (provider text, external_id text, union_id text)
LANGUAGE sql
SET search_path = public, pg_temp
AS $$
    UPDATE identity_link_tokens t SET used_at = now()
     WHERE t.token_hash = p_token_hash AND t.used_at IS NULL AND t.expires_at > now()
    RETURNING t.provider, t.external_id, t.union_id;
$$;

-- Unlinks an external identity from a member, unless it is the member's last way to sign in
-- (no password, no phone for sign-in codes, no other identity). The member row is locked first,
-- so two racing unlinks of a member's last two identities cannot both pass.
CREATE OR REPLACE FUNCTION unlink_member_identity(p_member_id uuid, p_identity_id uuid, p_request_id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_member members%ROWTYPE;
    v_identity member_identities%ROWTYPE;
    v_others int;
BEGIN
    SELECT * INTO v_member FROM members m WHERE m.id = p_member_id FOR UPDATE;
    SELECT * INTO v_identity FROM member_identities i
     WHERE i.id = p_identity_id AND i.member_id = p_member_id;
    IF v_member.id IS NULL OR v_identity.id IS NULL THEN
        PERFORM raise_business_error('NOT_FOUND', 'No such identity of yours.');
    END IF;
    SELECT count(*) INTO v_others FROM member_identities i
     WHERE i.member_id = p_member_id AND i.id <> p_identity_id;
    IF v_member.password_hash IS NULL AND v_member.phone IS NULL AND v_others = 0 THEN
        PERFORM raise_business_error('LAST_SIGN_IN_METHOD',
            'This is your only way to sign in: set a password or a phone number first.');
    END IF;
    DELETE FROM member_identities WHERE id = p_identity_id;
    PERFORM audit(p_member_id, 'member', 'IDENTITY_UNLINK', 'member_identity', p_identity_id::text,
                  jsonb_build_object('provider', v_identity.provider), p_request_id);
END $$;
