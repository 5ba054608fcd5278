-- Reports: the admin statistics (a merchant's daily summary is `store_daily_summary`, stores.sql).

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
