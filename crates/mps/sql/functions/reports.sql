-- Reports: the admin statistics (a merchant's daily summary is `store_daily_summary`, stores.sql).

-- The back office's figures; "today" is [p_day_start, p_day_end) in the business time zone.
CREATE OR REPLACE FUNCTION admin_statistics(p_day_start timestamptz, p_day_end timestamptz) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        -- Members, cards and merchants from the counters their writers keep (migration 0016),
        -- a few hundred rows; the cards whose stored status is active or inactive but whose
        -- `expires_at` has passed show as expired (`effective_card_status`), counted from the
        -- partial index that holds only the cards that can expire.
        'members', (SELECT jsonb_build_object('total', coalesce(sum(n) FILTER (WHERE status <> 'deleted'), 0),
                                              'active', coalesce(sum(n) FILTER (WHERE status = 'active'), 0),
                                              'suspended', coalesce(sum(n) FILTER (WHERE status = 'suspended'), 0))
                    FROM status_counts WHERE subject = 'member'),
        'cards', (SELECT jsonb_build_object(
                      'total', k.total,
                      'active', k.active - x.active,
                      'inactive', k.inactive - x.inactive,
                      'lost', k.lost,
                      'expired', k.expired + x.active + x.inactive,
                      'closed', k.closed,
                      'by_type', jsonb_build_object('standard', k.standard, 'voucher', k.voucher,
                                                    'corporate', k.corporate))
                  FROM (SELECT coalesce(sum(n), 0) AS total,
                               coalesce(sum(n) FILTER (WHERE status = 'active'), 0) AS active,
                               coalesce(sum(n) FILTER (WHERE status = 'inactive'), 0) AS inactive,
                               coalesce(sum(n) FILTER (WHERE status = 'lost'), 0) AS lost,
                               coalesce(sum(n) FILTER (WHERE status = 'expired'), 0) AS expired,
                               coalesce(sum(n) FILTER (WHERE status = 'closed'), 0) AS closed,
                               coalesce(sum(n) FILTER (WHERE card_type = 'standard'), 0) AS standard,
                               coalesce(sum(n) FILTER (WHERE card_type = 'voucher'), 0) AS voucher,
                               coalesce(sum(n) FILTER (WHERE card_type = 'corporate'), 0) AS corporate
                        FROM status_counts WHERE subject = 'card') k,
                       (SELECT count(*) FILTER (WHERE status = 'active') AS active,
                               count(*) FILTER (WHERE status = 'inactive') AS inactive
                        FROM cards
                        WHERE status IN ('active', 'inactive') AND expires_at IS NOT NULL AND expires_at <= now()) x),
        'merchants', (SELECT jsonb_build_object('total', coalesce(sum(n), 0),
                                                'active', coalesce(sum(n) FILTER (WHERE status = 'active'), 0),
                                                'suspended', coalesce(sum(n) FILTER (WHERE status = 'suspended'), 0))
                      FROM status_counts WHERE subject = 'merchant'),
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
