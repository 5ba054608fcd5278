-- The helpers every money operation calls, rewritten from LANGUAGE sql to plpgsql with the same
-- signatures, volatility and results.
--
-- Why: PostgreSQL 15 cannot inline a SQL function that has a SET clause, writes, or is not a
-- single expression, and a SQL function that is not inlined is parsed and planned again in every
-- transaction that calls it (its cache lives for one transaction). On the charge path that was
-- nine helpers re-planned per payment; `perf` showed pg_strtok, nodeRead, base_yyparse and the
-- planner near the top of the database's CPU. plpgsql keeps its plans for the life of the
-- connection, and the server's connections are pooled. Figures: docs/benchmarks.md.

CREATE OR REPLACE FUNCTION business_number(prefix text, n bigint, min_width int) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN prefix || CASE WHEN length(n::text) >= min_width THEN n::text ELSE lpad(n::text, min_width, '0') END;
END $$;

CREATE OR REPLACE FUNCTION audit(p_actor_id uuid, p_actor_role actor_role, p_action text, p_object_type text,
                                 p_object_id text, p_context jsonb, p_request_id text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO audit_events (actor_id, actor_role, action, object_type, object_id, context, request_id)
    VALUES (p_actor_id, p_actor_role, p_action, p_object_type, p_object_id, coalesce(p_context, '{}'), p_request_id);
END $$;

CREATE OR REPLACE FUNCTION member_corporate_discount(p_member_id uuid) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = public, pg_temp
AS $$
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
END $$;

CREATE OR REPLACE FUNCTION effective_discount(p_card_type card_type, p_level_discount numeric,
                                              p_fixed_discount numeric, p_member_id uuid) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN round(CASE p_card_type
        WHEN 'standard' THEN least(p_level_discount, coalesce(member_corporate_discount(p_member_id), 1))
        WHEN 'voucher' THEN 1
        ELSE coalesce(p_fixed_discount, 1)
    END, 3);
END $$;

CREATE OR REPLACE FUNCTION level_for_points(p_points bigint, OUT level int, OUT discount numeric)
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    SELECT coalesce(max(l.level), 0), coalesce((array_agg(l.discount ORDER BY l.level DESC))[1], 1.000)
    INTO level, discount
    FROM membership_levels l
    WHERE l.active AND l.min_points <= p_points AND (l.max_points IS NULL OR l.max_points >= p_points);
END $$;

CREATE OR REPLACE FUNCTION transaction_json(p_tx_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT to_jsonb(v) - 'merchant_id' FROM transaction_views v WHERE v.id = p_tx_id);
END $$;

CREATE OR REPLACE FUNCTION card_member_ids(p_card_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(b.member_id), '[]') FROM card_bindings b WHERE b.card_id = p_card_id AND b.active);
END $$;

CREATE OR REPLACE FUNCTION card_owner_id(p_card_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT member_id FROM card_bindings WHERE card_id = p_card_id AND active AND role = 'owner'
            ORDER BY created_at LIMIT 1);
END $$;

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

CREATE OR REPLACE FUNCTION ok_outcome(p_body jsonb, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    RETURN jsonb_build_object('ok', true, 'body', p_body, 'request_id', p_request_id);
END $$;
