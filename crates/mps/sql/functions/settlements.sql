-- Settlements: a merchant's totals over a period, and the settlement's life cycle.

CREATE OR REPLACE VIEW settlement_views AS
SELECT s.id,
       s.settlement_no,
       s.merchant_id,
       m.code AS merchant_code,
       s.mode,
       s.period_start,
       s.period_end,
       s.payment_count,
       s.payment_amount::text AS payment_amount,
       s.refund_count,
       s.refund_amount::text AS refund_amount,
       s.topup_count,
       s.topup_amount::text AS topup_amount,
       s.net_amount::text AS net_amount,
       s.status,
       s.created_at,
       s.updated_at
FROM settlements s
JOIN merchants m ON m.id = s.merchant_id;

-- A merchant's books over [p_start, p_end): the whole merchant's `store_period_totals` (stores.sql).
CREATE OR REPLACE FUNCTION merchant_period_totals(p_merchant_id uuid, p_start timestamptz, p_end timestamptz,
                                                  OUT payment_count bigint, OUT payment_amount numeric,
                                                  OUT refund_count bigint, OUT refund_amount numeric,
                                                  OUT topup_count bigint, OUT topup_amount numeric)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT * FROM store_period_totals(p_merchant_id, NULL, p_start, p_end)
$$;

CREATE OR REPLACE FUNCTION settlement_json(p_settlement_id uuid) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
RETURN (SELECT to_jsonb(v) FROM settlement_views v WHERE v.id = p_settlement_id);

-- Settles a merchant's closed period [p_start, p_end). Every transaction is settled at most
-- once: the exclusion constraint `settlements_no_overlap` refuses any overlapping period of the
-- same merchant, also when two requests race (the second waits for the first, then fails).
CREATE OR REPLACE FUNCTION generate_settlement(p_merchant_id uuid, p_mode settlement_mode, p_start timestamptz,
                                               p_end timestamptz, p_margin_seconds int, p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
    PERFORM emit_settlement_event('settlement.created', v_id);
    PERFORM audit(p_merchant_id, 'merchant', 'SETTLEMENT_GENERATE', 'settlement', v_id::text,
                  jsonb_build_object('mode', p_mode, 'period_start', p_start, 'period_end', p_end,
                                     'net_amount', (v_totals.payment_amount - v_totals.refund_amount
                                                    - v_totals.topup_amount)::text),
                  p_request_id);
    RETURN settlement_json(v_id);
END $$;

-- pending → settled → paid, pending → failed → pending.
CREATE OR REPLACE FUNCTION settlement_move_allowed(p_from settlement_status, p_to settlement_status) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE p_from
    WHEN 'pending' THEN p_to IN ('settled', 'failed')
    WHEN 'settled' THEN p_to = 'paid'
    WHEN 'failed' THEN p_to = 'pending'
    ELSE false
END;

CREATE OR REPLACE FUNCTION update_settlement_status(p_admin_id uuid, p_settlement_id uuid, p_status settlement_status,
                                                    p_request_id text) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
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
    PERFORM emit_settlement_event('settlement.status_changed', p_settlement_id, v_settlement.status);
    PERFORM audit(p_admin_id, 'admin', 'SETTLEMENT_STATUS_UPDATE', 'settlement', p_settlement_id::text,
                  jsonb_build_object('settlement_no', v_settlement.settlement_no,
                                     'from', v_settlement.status, 'to', p_status),
                  p_request_id);
    RETURN settlement_json(p_settlement_id);
END $$;
