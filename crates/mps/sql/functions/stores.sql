-- Stores, staff and POS keys (issue 18): a merchant's books per store, and the refund rules of
-- cashiers and POS keys.

-- A store's code, for the transactions that record it.
CREATE OR REPLACE FUNCTION store_code(p_store_id uuid) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
BEGIN
    RETURN (SELECT code FROM stores WHERE id = p_store_id);
END $$;

-- A merchant's books over [p_start, p_end) by `created_at`, for one store or (p_store_id NULL)
-- the whole merchant: payments (completed or since refunded: what members paid), completed
-- refunds, and counter top-ups (cash collected for the platform). Settlements, their per-store
-- views and the daily summary all count with this one definition, kept per store and quarter
-- hour as the money moves (`merchant_activity_totals`, aggregates.sql, issue 15).
CREATE OR REPLACE FUNCTION store_period_totals(p_merchant_id uuid, p_store_id uuid, p_start timestamptz,
                                               p_end timestamptz,
                                               OUT payment_count bigint, OUT payment_amount numeric,
                                               OUT refund_count bigint, OUT refund_amount numeric,
                                               OUT topup_count bigint, OUT topup_amount numeric)
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT * FROM merchant_activity_totals(p_merchant_id, p_store_id, p_start, p_end)
$$;

-- A merchant's (or one store's) day [p_start, p_end): the period totals, and payments per
-- hour-long bucket from p_start (23, 24 or 25 buckets on a local day; the caller labels them),
-- each from the aggregates. A local day starts and ends on a quarter hour (every time zone in
-- use does), so its hours are whole buckets: one grouped read of the day's bucket rows gives
-- every hour and the totals (issue 15). Another period falls back to the period totals per hour.
CREATE OR REPLACE FUNCTION store_daily_summary(p_merchant_id uuid, p_store_id uuid, p_start timestamptz,
                                               p_end timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_result jsonb;
BEGIN
    IF activity_bucket(p_start) = p_start AND activity_bucket(p_end) = p_end THEN
        WITH per_hour AS (
            SELECT floor(extract(epoch FROM a.bucket - p_start) / 3600)::int AS h,
                   coalesce(sum(a.count) FILTER (WHERE a.kind = 'payment'), 0) AS payment_count,
                   coalesce(sum(a.amount) FILTER (WHERE a.kind = 'payment'), 0) AS payment_amount,
                   coalesce(sum(a.count) FILTER (WHERE a.kind = 'refund'), 0) AS refund_count,
                   coalesce(sum(a.amount) FILTER (WHERE a.kind = 'refund'), 0) AS refund_amount
            FROM merchant_activity a
            WHERE a.merchant_id = p_merchant_id AND a.bucket >= p_start AND a.bucket < p_end
              AND (p_store_id IS NULL OR a.store_id = p_store_id)
            GROUP BY 1),
        hours AS (
            SELECT s.start, floor(extract(epoch FROM s.start - p_start) / 3600)::int AS h
            FROM generate_series(p_start, p_end - interval '1 microsecond', interval '1 hour') AS s(start)),
        totals AS (
            SELECT coalesce(sum(payment_count), 0) AS payment_count,
                   coalesce(sum(payment_amount), 0) AS payment_amount,
                   coalesce(sum(refund_count), 0) AS refund_count,
                   coalesce(sum(refund_amount), 0) AS refund_amount
            FROM per_hour)
        SELECT jsonb_build_object(
            'payment_count', t.payment_count, 'payment_amount', t.payment_amount::text,
            'refund_count', t.refund_count, 'refund_amount', t.refund_amount::text,
            'net_amount', (t.payment_amount - t.refund_amount)::text,
            'hourly', (
                SELECT jsonb_agg(jsonb_build_object('start', hr.start,
                                                    'count', coalesce(p.payment_count, 0),
                                                    'amount', coalesce(p.payment_amount, 0)::text)
                                 ORDER BY hr.start)
                FROM hours hr LEFT JOIN per_hour p ON p.h = hr.h))
        INTO v_result
        FROM totals t;
        RETURN v_result;
    END IF;
    SELECT jsonb_build_object(
        'payment_count', t.payment_count, 'payment_amount', t.payment_amount::text,
        'refund_count', t.refund_count, 'refund_amount', t.refund_amount::text,
        'net_amount', (t.payment_amount - t.refund_amount)::text,
        'hourly', (
            SELECT jsonb_agg(jsonb_build_object('start', b.start, 'count', b.count, 'amount', b.amount::text)
                             ORDER BY b.start)
            FROM (SELECT s.start, h.payment_count AS count, h.payment_amount AS amount
                  FROM generate_series(p_start, p_end - interval '1 microsecond', interval '1 hour') AS s(start)
                  CROSS JOIN LATERAL store_period_totals(p_merchant_id, p_store_id, s.start,
                                                         least(s.start + interval '1 hour', p_end)) h) b))
    INTO v_result
    FROM store_period_totals(p_merchant_id, p_store_id, p_start, p_end) t;
    RETURN v_result;
END $$;

-- Whether a refund is within what a restricted caller may do, before the refund runs: a caller
-- restricted to a store (p_store_id) sees only that store's payments (TX_NOT_FOUND otherwise);
-- a limited caller (cashier, POS key: p_limited) refunds at most the merchant's
-- `cashier_refund_limit` at once (REFUND_LIMIT_EXCEEDED) and only payments of the same local
-- day — the store's time zone, else p_default_tz (REFUND_NOT_SAME_DAY). An unknown payment is
-- left to `refund` to refuse.
CREATE OR REPLACE FUNCTION check_restricted_refund(p_merchant_id uuid, p_original_tx_no text, p_amount numeric,
                                                   p_store_id uuid, p_limited boolean, p_default_tz text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp
AS $$
DECLARE
    v_payment transactions;
    v_limit numeric(12, 2);
    v_zone text;
BEGIN
    SELECT * INTO v_payment FROM transactions
    WHERE tx_no = p_original_tx_no AND tx_type = 'payment' AND merchant_id = p_merchant_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_store_id IS NOT NULL AND v_payment.store_id IS DISTINCT FROM p_store_id THEN
        PERFORM raise_business_error('TX_NOT_FOUND', 'You have no payment with this tx_no.');
    END IF;
    IF NOT p_limited THEN
        RETURN;
    END IF;
    SELECT cashier_refund_limit INTO v_limit FROM merchants WHERE id = p_merchant_id;
    IF p_amount > v_limit THEN
        PERFORM raise_business_error('REFUND_LIMIT_EXCEEDED',
            'You may refund at most ' || v_limit::text || ' at once; ask a manager.',
            jsonb_build_object('refund_limit', v_limit::text));
    END IF;
    SELECT coalesce(time_zone, p_default_tz) INTO v_zone FROM stores WHERE id = v_payment.store_id;
    v_zone := coalesce(v_zone, p_default_tz);
    IF (v_payment.created_at AT TIME ZONE v_zone)::date <> (now() AT TIME ZONE v_zone)::date THEN
        PERFORM raise_business_error('REFUND_NOT_SAME_DAY',
            'You may only refund payments made today; ask a manager.',
            jsonb_build_object('payment_date', (v_payment.created_at AT TIME ZONE v_zone)::date));
    END IF;
END $$;
