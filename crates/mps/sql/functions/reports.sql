-- Reports: a merchant's daily summary and the admin statistics.

-- A merchant's day [p_start, p_end): the period totals, and payments per hour-long bucket from
-- p_start (23, 24 or 25 buckets on a local day; the caller labels them with local hours).
CREATE OR REPLACE FUNCTION merchant_daily_summary(p_merchant_id uuid, p_start timestamptz, p_end timestamptz) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'payment_count', t.payment_count, 'payment_amount', t.payment_amount::text,
        'refund_count', t.refund_count, 'refund_amount', t.refund_amount::text,
        'net_amount', (t.payment_amount - t.refund_amount)::text,
        'hourly', (
            SELECT jsonb_agg(jsonb_build_object('start', b.start, 'count', b.count, 'amount', b.amount::text)
                             ORDER BY b.start)
            FROM (SELECT s.start, h.payment_count AS count, h.payment_amount AS amount
                  FROM generate_series(p_start, p_end - interval '1 microsecond', interval '1 hour') AS s(start)
                  CROSS JOIN LATERAL merchant_period_totals(p_merchant_id, s.start,
                                                            least(s.start + interval '1 hour', p_end)) h) b))
    FROM merchant_period_totals(p_merchant_id, p_start, p_end) t
$$;

-- The back office's figures; "today" is [p_day_start, p_day_end) in the business time zone.
CREATE OR REPLACE FUNCTION admin_statistics(p_day_start timestamptz, p_day_end timestamptz) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
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
        -- Payments and refunds from the quarter-hour aggregates, recharges from their own index
        -- (issue 15): no scan of the day's transactions.
        'today', (SELECT jsonb_build_object(
                      'payments', jsonb_build_object(
                          'count', coalesce(sum(a.count) FILTER (WHERE a.kind = 'payment'), 0),
                          'amount', coalesce(sum(a.amount) FILTER (WHERE a.kind = 'payment'), 0)::text),
                      'refunds', jsonb_build_object(
                          'count', coalesce(sum(a.count) FILTER (WHERE a.kind = 'refund'), 0),
                          'amount', coalesce(sum(a.amount) FILTER (WHERE a.kind = 'refund'), 0)::text),
                      'recharges', (SELECT jsonb_build_object('count', count(*),
                                                              'amount', coalesce(sum(r.final_amount), 0)::text)
                                    FROM transactions r
                                    WHERE r.tx_type = 'recharge' AND r.status = 'completed'
                                      AND r.created_at >= p_day_start AND r.created_at < p_day_end),
                      'qr_issued', (SELECT count(*) FROM qr_issues
                                    WHERE issued_at >= p_day_start AND issued_at < p_day_end),
                      'new_members', (SELECT count(*) FROM members
                                      WHERE created_at >= p_day_start AND created_at < p_day_end))
                  FROM all_merchants_activity(p_day_start, p_day_end) a))
$$;
